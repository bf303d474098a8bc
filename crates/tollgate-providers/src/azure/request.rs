//! Our request to Azure's HTTP request: the OpenAI body built by the inner adapter, Azure's
//! URL and credential, and the few body changes LiteLLM makes for Azure.

use tollgate_core::chat::{ContentPart, ToolChoice};
use tollgate_core::{ChatCompletionRequest, EmbeddingsRequest, GatewayError, MessageContent};

use super::{AzureAdapter, Route, insert_credential, version_date};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// The first dated `api-version` that accepts `stream_options` (older ones reject the whole
/// request with "Unrecognized request argument").
const STREAM_OPTIONS_SINCE: (u16, u8, u8) = (2024, 9, 1);

/// The first dated `api-version` that accepts `tool_choice`.
const TOOL_CHOICE_SINCE: (u16, u8, u8) = (2023, 12, 1);

impl AzureAdapter {
    /// `POST` to the deployment's chat URL.
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let drop = options.drop_params || self.drop_params;
        let prepared = match self.route {
            Route::Deployment => self.gate_tool_choice(req, drop)?,
            Route::V1 => None,
            Route::Foundry => flatten_text_parts(req),
        };
        let req = prepared.as_ref().unwrap_or(req);
        // Usage is only forced where the API version takes `stream_options`: an older
        // deployment would refuse the whole call, and a stream without usage beats no stream.
        let options = CallOptions {
            force_stream_usage: options.force_stream_usage && self.takes_stream_options(),
            ..options
        };
        let mut upstream = self.inner.chat_request(req, options)?;
        upstream.url.clone_from(&self.chat_url);
        insert_credential(&self.credential, &mut upstream.headers)?;
        Ok(upstream)
    }

    /// `POST` to the deployment's embeddings URL (the OpenAI body).
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut upstream = self.inner.embeddings_request(req)?;
        upstream.url.clone_from(&self.embeddings_url);
        insert_credential(&self.credential, &mut upstream.headers)?;
        Ok(upstream)
    }

    /// Whether the gateway may add `stream_options` on its own. Foundry's model inference API
    /// serves many vendors whose support is unknown, so there the client decides alone.
    fn takes_stream_options(&self) -> bool {
        match self.route {
            Route::V1 => true,
            Route::Deployment => self
                .api_version
                .as_deref()
                .and_then(version_date)
                .is_some_and(|d| d >= STREAM_OPTIONS_SINCE),
            Route::Foundry => false,
        }
    }

    /// LiteLLM's `tool_choice` rules for dated API versions: none before 2023-12-01,
    /// `required` not before 2024-06 (refused unless `drop_params`), and no `tool_choice`
    /// without tools (Azure rejects it; LiteLLM removes it). `Some` when the request changed.
    fn gate_tool_choice(
        &self,
        req: &ChatCompletionRequest,
        drop: bool,
    ) -> Result<Option<ChatCompletionRequest>, GatewayError> {
        let Some(choice) = &req.tool_choice else {
            return Ok(None);
        };
        let no_tools = req.tools.as_ref().is_none_or(Vec::is_empty)
            && req.functions.as_ref().is_none_or(Vec::is_empty);
        let unsupported = match self.api_version.as_deref().and_then(version_date) {
            Some(date) if date < TOOL_CHOICE_SINCE => true,
            Some((2024, month, _)) if month <= 5 => {
                matches!(choice, ToolChoice::Mode(m) if m == "required")
            }
            _ => false,
        };
        if unsupported && !drop {
            return Err(GatewayError::UnsupportedParams {
                provider: "azure".into(),
                model: self.upstream_model.clone(),
                param: "tool_choice".into(),
            });
        }
        if !(unsupported || no_tools) {
            return Ok(None);
        }
        let mut changed = req.clone();
        changed.tool_choice = None;
        Ok(Some(changed))
    }
}

/// Foundry's model inference API rejects content lists for many models: a message whose
/// content is only text parts is sent as one string, the parts concatenated as LiteLLM does.
/// Lists holding anything else (images, audio, files) are sent as they are, never stripped.
fn flatten_text_parts(req: &ChatCompletionRequest) -> Option<ChatCompletionRequest> {
    fn joined(content: Option<&MessageContent>) -> Option<String> {
        let Some(MessageContent::Parts(parts)) = content else {
            return None;
        };
        let mut text = String::new();
        for part in parts {
            match part {
                ContentPart::Text { text: t, .. } => text.push_str(t),
                _ => return None,
            }
        }
        (!text.is_empty()).then_some(text)
    }
    if !req
        .messages
        .iter()
        .any(|m| joined(m.content.as_ref()).is_some())
    {
        return None;
    }
    let mut changed = req.clone();
    for message in &mut changed.messages {
        if let Some(text) = joined(message.content.as_ref()) {
            message.content = Some(MessageContent::Text(text));
        }
    }
    Some(changed)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::{Value, json};
    use tollgate_core::{ChatMessage, Env, ModelRef};

    use super::*;
    use crate::params::ProviderParams;

    fn adapter(model: &str, base: &str, version: Option<&str>) -> AzureAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            api_base: Some(base.into()),
            api_key: Some("sekret".into()),
            api_version: version.map(str::to_owned),
            ..Default::default()
        };
        AzureAdapter::new(&m, &params, &Env::with_overlay(HashMap::new()))
            .unwrap()
            .unwrap()
    }

    fn body(r: &UpstreamRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn streaming() -> ChatCompletionRequest {
        let mut req = ChatCompletionRequest::new("alias", vec![ChatMessage::user("hi")]);
        req.stream = Some(true);
        req
    }

    const FORCE: CallOptions = CallOptions {
        force_stream_usage: true,
        drop_params: false,
    };

    #[test]
    fn body_is_openai_with_the_deployment_as_model_and_the_key_in_api_key() {
        let a = adapter("azure/my-gpt4o", "https://r.openai.azure.com", None);
        let req: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "alias", "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "future_param": 1
        }))
        .unwrap();
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version=2025-02-01-preview"
        );
        assert_eq!(r.headers["api-key"], "sekret");
        assert!(r.headers["api-key"].is_sensitive());
        assert!(r.headers.get("authorization").is_none());
        let b = body(&r);
        assert_eq!(b["model"], "my-gpt4o");
        assert_eq!(b["future_param"], 1);
        assert_eq!(b["temperature"], 0.2);
    }

    #[test]
    fn image_parts_reach_the_deployment_untouched() {
        let a = adapter("azure/my-gpt4o", "https://r.openai.azure.com", None);
        let parts = json!([{"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]);
        let req: ChatCompletionRequest = serde_json::from_value(
            json!({"model": "alias", "messages": [{"role": "user", "content": parts.clone()}]}),
        )
        .unwrap();
        let b = body(&a.chat_request(&req, CallOptions::default()).unwrap());
        assert_eq!(b["messages"][0]["content"], parts);
    }

    #[test]
    fn extra_headers_win_over_the_configured_key() {
        let m = ModelRef::parse("azure/d", None).unwrap();
        let params = ProviderParams {
            api_base: Some("https://r.openai.azure.com".into()),
            api_key: Some("k".into()),
            extra_headers: vec![("api-key".into(), "from-operator".into())],
            ..Default::default()
        };
        let a = AzureAdapter::new(&m, &params, &Env::with_overlay(HashMap::new()))
            .unwrap()
            .unwrap();
        let req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.headers["api-key"], "from-operator");
    }

    #[test]
    fn stream_usage_is_forced_only_where_the_version_takes_it() {
        let cases = [
            (None, true),
            (Some("2024-10-21"), true),
            (Some("2024-09-01-preview"), true),
            (Some("2024-06-01"), false),
            (Some("v1"), true),
            (Some("custom"), false),
        ];
        for (version, forced) in cases {
            let a = adapter("azure/d", "https://r.openai.azure.com", version);
            let b = body(&a.chat_request(&streaming(), FORCE).unwrap());
            assert_eq!(
                b.pointer("/stream_options/include_usage").is_some(),
                forced,
                "{version:?}"
            );
        }
        let f = adapter("azure_ai/m", "https://r.services.ai.azure.com", None);
        let b = body(&f.chat_request(&streaming(), FORCE).unwrap());
        assert!(b.get("stream_options").is_none());
        // A client that asks gets what it asked for.
        let mut req = streaming();
        req.stream_options = Some(tollgate_core::StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
        let b = body(&f.chat_request(&req, FORCE).unwrap());
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    #[test]
    fn tool_choice_follows_the_api_version() {
        let with_tools: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "tool_choice": "required"
        }))
        .unwrap();
        let ok = adapter("azure/d", "https://r.openai.azure.com", Some("2024-06-01"));
        let b = body(
            &ok.chat_request(&with_tools, CallOptions::default())
                .unwrap(),
        );
        assert_eq!(b["tool_choice"], "required");

        let old = adapter(
            "azure/d",
            "https://r.openai.azure.com",
            Some("2024-05-01-preview"),
        );
        let err = old
            .chat_request(&with_tools, CallOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("['tool_choice']"), "{err}");
        let dropping = CallOptions {
            drop_params: true,
            ..Default::default()
        };
        let b = body(&old.chat_request(&with_tools, dropping).unwrap());
        assert!(b.get("tool_choice").is_none());
        assert!(b.get("tools").is_some());
        let mut auto = with_tools.clone();
        auto.tool_choice = Some(ToolChoice::Mode("auto".into()));
        assert!(old.chat_request(&auto, CallOptions::default()).is_ok());

        let ancient = adapter(
            "azure/d",
            "https://r.openai.azure.com",
            Some("2023-07-01-preview"),
        );
        assert!(ancient.chat_request(&auto, CallOptions::default()).is_err());

        // No tools: the choice is removed, as LiteLLM does.
        let mut bare = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        bare.tool_choice = Some(ToolChoice::Mode("auto".into()));
        let b = body(&ok.chat_request(&bare, CallOptions::default()).unwrap());
        assert!(b.get("tool_choice").is_none());
    }

    #[test]
    fn foundry_flattens_text_only_content_lists() {
        let a = adapter(
            "azure_ai/Mistral-large",
            "https://r.services.ai.azure.com",
            None,
        );
        let req: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "x", "messages": [
                {"role": "system", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
                {"role": "user", "content": [{"type": "text", "text": "what is"},
                    {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]},
                {"role": "user", "content": "plain"}
            ]
        }))
        .unwrap();
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(
            r.url,
            "https://r.services.ai.azure.com/models/chat/completions"
        );
        assert_eq!(r.headers["api-key"], "sekret");
        let b = body(&r);
        assert_eq!(b["model"], "Mistral-large");
        assert_eq!(b["messages"][0]["content"], "be brief");
        assert!(b["messages"][1]["content"].is_array());
        assert_eq!(b["messages"][2]["content"], "plain");
    }

    #[test]
    fn foundry_elsewhere_sends_the_key_as_bearer() {
        let a = adapter(
            "azure_ai/m",
            "https://m.eastus2.inference.ai.azure.com/v1",
            None,
        );
        let req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.headers["authorization"], "Bearer sekret");
        assert!(r.headers.get("api-key").is_none());
    }

    #[test]
    fn embeddings_go_to_the_deployment() {
        let a = adapter(
            "azure/emb",
            "https://r.openai.azure.com",
            Some("2024-10-21"),
        );
        let req = EmbeddingsRequest::new("alias", vec!["a".into()]);
        let r = a.embeddings_request(&req).unwrap();
        assert_eq!(
            r.url,
            "https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21"
        );
        assert_eq!(r.headers["api-key"], "sekret");
        assert_eq!(body(&r)["model"], "emb");
    }
}
