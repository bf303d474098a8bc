//! Response bytes to our types: Azure answers in the OpenAI format, so the inner adapter reads
//! them. Azure OpenAI bodies are forwarded byte for byte (only `model` replaced), which keeps
//! `prompt_filter_results` and every choice's `content_filter_results` for clients that read
//! them; Foundry bodies are normalised like the rest of the OpenAI-compatible family.

use bytes::Bytes;
use tollgate_core::{ChatCompletionResponse, EmbeddingsResponse, GatewayError, Usage};

use super::AzureAdapter;

impl AzureAdapter {
    /// Parses a 2xx chat response.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        self.inner.parse_chat_response(body)
    }

    /// The client-facing chat body and its usage.
    pub fn forward_chat_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        self.inner.forward_chat_response(body, client_model)
    }

    /// The client-facing embeddings body and its usage.
    pub fn forward_embeddings_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        self.inner.forward_embeddings_response(body, client_model)
    }

    /// Parses a 2xx embeddings response.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        self.inner.parse_embeddings_response(body)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};
    use tollgate_core::{Env, FinishReason, ModelRef};

    use super::*;
    use crate::params::ProviderParams;

    fn adapter(model: &str, base: &str) -> AzureAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            api_base: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        };
        AzureAdapter::new(&m, &params, &Env::with_overlay(HashMap::new()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn filter_results_reach_the_client_and_usage_is_read() {
        let a = adapter("azure/d", "https://r.openai.azure.com");
        let body = json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-11-20",
            "choices": [{"index": 0, "finish_reason": "content_filter",
                "message": {"role": "assistant", "content": null},
                "content_filter_results": {"violence": {"filtered": true, "severity": "medium"}}}],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
        })
        .to_string();
        let (out, usage) = a.forward_chat_response(Bytes::from(body), "alias").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "alias");
        assert_eq!(
            v["choices"][0]["content_filter_results"]["violence"]["filtered"],
            true
        );
        assert_eq!(v["prompt_filter_results"][0]["prompt_index"], 0);
        assert_eq!(usage.unwrap().total_tokens, 3);
        let parsed = a.parse_chat_response(&out).unwrap();
        assert_eq!(
            parsed.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
    }

    #[test]
    fn foundry_reasoning_is_normalised() {
        let a = adapter("azure_ai/DeepSeek-R1", "https://r.services.ai.azure.com");
        let body = json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "DeepSeek-R1",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "<think>hmm</think>\n\nYes"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
        })
        .to_string();
        let (out, _) = a.forward_chat_response(Bytes::from(body), "alias").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["message"]["reasoning_content"], "hmm");
        assert_eq!(v["choices"][0]["message"]["content"], "Yes");
        assert_eq!(v["model"], "alias");
    }
}
