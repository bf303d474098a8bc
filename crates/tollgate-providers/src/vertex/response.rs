//! Response bytes to our types: chat responses through the Gemini or Anthropic module's
//! parser, and `:predict` embeddings (`predictions[].embeddings.values`, with token counts in
//! `statistics.token_count`), which are Vertex's own.

use bytes::Bytes;
use serde::Deserialize;
use tollgate_core::embeddings::{Embedding, EmbeddingVector, EmbeddingsUsage};
use tollgate_core::{ChatCompletionResponse, EmbeddingsResponse, Extra, GatewayError, Usage};

use super::error::renamed;
use super::{Format, PROVIDER_NAME, VertexAdapter};

#[derive(Debug, Deserialize)]
struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Debug, Deserialize)]
struct Prediction {
    embeddings: PredictEmbedding,
}

#[derive(Debug, Deserialize)]
struct PredictEmbedding {
    #[serde(default)]
    values: Vec<f32>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Debug, Deserialize)]
struct Statistics {
    #[serde(default)]
    token_count: Option<f64>,
}

impl VertexAdapter {
    /// Parses a 2xx chat body (Gemini's `GenerateContentResponse` or Anthropic's Message).
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        match &self.format {
            Format::Gemini(g) => g.parse_chat_response(body),
            Format::Anthropic(a) => a.parse_chat_response(body).map_err(renamed),
            Format::OpenAi(o, _) => o.parse_chat_response(body),
        }
    }

    /// Parses a 2xx `:predict` embeddings body; usage is the sum of the per-input token
    /// counts Vertex reports.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let r: PredictResponse =
            serde_json::from_slice(body).map_err(|e| GatewayError::InvalidUpstreamResponse {
                provider: PROVIDER_NAME.to_owned(),
                message: e.to_string(),
            })?;
        let mut tokens = 0u64;
        let data = r
            .predictions
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let count = p
                    .embeddings
                    .statistics
                    .and_then(|s| s.token_count)
                    .filter(|c| c.is_finite() && *c >= 0.0)
                    .unwrap_or(0.0);
                // Counts are whole numbers sent as JSON numbers (sometimes `4.0`).
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let count = count.round() as u64;
                tokens += count;
                Embedding {
                    object: "embedding".to_owned(),
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    embedding: EmbeddingVector::Float(p.embeddings.values),
                    extra: Extra::new(),
                }
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: self.upstream_model.clone(),
            usage: Some(EmbeddingsUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
                extra: Extra::new(),
            }),
            extra: Extra::new(),
        })
    }

    /// The client-facing embeddings body under the client's model name, and its usage.
    pub fn forward_embeddings_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        let mut response = self.parse_embeddings_response(&body)?;
        client_model.clone_into(&mut response.model);
        let usage = response
            .usage
            .as_ref()
            .map(|u| Usage::new(u.prompt_tokens, 0));
        let out =
            serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok((Bytes::from(out), usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    fn adapter(model: &str) -> VertexAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            vertex_project: Some("p".into()),
            api_key: Some("token".into()),
            ..ProviderParams::default()
        };
        VertexAdapter::new(&m, &params, &Env::default())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn predictions_become_vectors_with_summed_usage() {
        let a = adapter("vertex_ai/text-embedding-005");
        let body = json!({"predictions": [
            {"embeddings": {"values": [0.5, -1.0], "statistics": {"token_count": 4, "truncated": false}}},
            {"embeddings": {"values": [0.25], "statistics": {"token_count": 3.0}}}
        ]});
        let (out, usage) = a
            .forward_embeddings_response(Bytes::from(body.to_string()), "alias")
            .unwrap();
        let out: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["model"], "alias");
        assert_eq!(out["data"][1]["index"], 1);
        assert_eq!(out["data"][0]["embedding"], json!([0.5, -1.0]));
        assert_eq!(out["usage"], json!({"prompt_tokens": 7, "total_tokens": 7}));
        assert_eq!(usage.unwrap().prompt_tokens, 7);
        assert!(
            a.parse_embeddings_response(b"{\"predictions\": [{}]}")
                .is_err()
        );
    }

    #[test]
    fn claude_parse_failures_name_vertex() {
        let a = adapter("vertex_ai/claude-sonnet-4-5");
        let e = a.parse_chat_response(b"not json").unwrap_err();
        assert!(e.to_string().contains("VertexAIException"), "{e}");
        let e = a
            .parse_chat_response(
                br#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#,
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "litellm.InternalServerError: VertexAIException - boom"
        );
    }
}
