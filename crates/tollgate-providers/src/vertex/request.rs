//! Our request to a Vertex AI HTTP request. The body comes from the Gemini or Anthropic
//! translation; this file puts it at Vertex's URL, turns the Messages body into the
//! `rawPredict` body (no `model`, `anthropic_version: vertex-2023-10-16`), and builds the
//! `:predict` embeddings request, which has no counterpart elsewhere.

use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use tollgate_core::embeddings::EmbeddingInput;
use tollgate_core::{ChatCompletionRequest, EmbeddingsRequest, GatewayError, Provider};

use super::error::renamed;
use super::{Format, Partner, VERTEX_ANTHROPIC_VERSION, VertexAdapter};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

impl VertexAdapter {
    /// `POST {resource}:generateContent` / `:streamGenerateContent?alt=sse` for Gemini,
    /// `:rawPredict` / `:streamRawPredict` for Claude. The access token is added by
    /// [`VertexAdapter::authorize`].
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        match &self.format {
            Format::Gemini(g) => {
                let (body, stream) = g.chat_body(req, options)?;
                let method = if stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                Ok(UpstreamRequest {
                    method: Method::POST,
                    url: self.url(method),
                    headers: g.headers()?,
                    body,
                })
            }
            Format::Anthropic(a) => {
                let (mut body, headers) = a.messages_body(req, options).map_err(renamed)?;
                // The model is in the URL; Vertex rejects it in the body.
                body.shift_remove("model");
                body.insert(
                    "anthropic_version".into(),
                    Value::String(VERTEX_ANTHROPIC_VERSION.into()),
                );
                let method = if req.is_stream() {
                    "streamRawPredict"
                } else {
                    "rawPredict"
                };
                let body = serde_json::to_vec(&Value::Object(body)).map_err(encode_error)?;
                Ok(UpstreamRequest {
                    method: Method::POST,
                    url: self.url(method),
                    headers,
                    body: Bytes::from(body),
                })
            }
            Format::OpenAi(o, partner) => {
                // Usage is not forced into streams: whether these endpoints take
                // `stream_options` is not documented, and a refused call is worse than a
                // stream without usage. A client's own `stream_options` still goes through.
                let options = CallOptions {
                    force_stream_usage: false,
                    ..options
                };
                let mut upstream = o.chat_request(req, options)?;
                upstream.url = match partner {
                    Partner::Llama => format!("{}/chat/completions", self.resource_url),
                    Partner::Mistral => self.url(if req.is_stream() {
                        "streamRawPredict"
                    } else {
                        "rawPredict"
                    }),
                };
                Ok(upstream)
            }
        }
    }

    /// `POST {resource}:predict` with one instance per input text (text-embedding-00x,
    /// text-multilingual-embedding, gemini-embedding). `dimensions` becomes
    /// `parameters.outputDimensionality`; `task_type` (or LiteLLM's `input_type`) and `title`
    /// go on each instance, `auto_truncate` to `parameters.autoTruncate`. Anything else is
    /// refused unless `drop_params`.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let Format::Gemini(g) = &self.format else {
            return Err(GatewayError::UnsupportedOperation {
                provider: format!("{} ({})", Provider::VertexAi, self.upstream_model),
                operation: "embeddings".into(),
            });
        };
        let texts: Vec<&str> = match &req.input {
            EmbeddingInput::One(s) => vec![s.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
                return Err(GatewayError::invalid_request(
                    "Vertex AI embeddings take text input, not token ids",
                    Some("input".into()),
                ));
            }
        };
        let defaults = &self.params.default_params;
        let setting = |keys: &[&str]| -> Option<Value> {
            keys.iter()
                .find_map(|k| req.extra.get(*k).filter(|v| !v.is_null()))
                .or_else(|| {
                    keys.iter()
                        .find_map(|k| defaults.get(*k).filter(|v| !v.is_null()))
                })
                .cloned()
        };
        let task_type = setting(&["task_type", "taskType", "input_type"]);
        let title = setting(&["title"]);
        let auto_truncate = setting(&["auto_truncate", "autoTruncate"]);
        let dimensions = req
            .dimensions
            .map(Value::from)
            .or_else(|| setting(&["dimensions"]));
        const KNOWN: &[&str] = &[
            "task_type",
            "taskType",
            "input_type",
            "title",
            "auto_truncate",
            "autoTruncate",
        ];
        if !self.params.drop_params {
            if let Some((param, _)) = req
                .extra
                .iter()
                .find(|(k, v)| !v.is_null() && !KNOWN.contains(&k.as_str()))
            {
                return Err(GatewayError::UnsupportedParams {
                    provider: Provider::VertexAi.to_string(),
                    model: self.upstream_model.clone(),
                    param: param.clone(),
                });
            }
        }
        let instances: Vec<Value> = texts
            .into_iter()
            .map(|text| {
                let mut instance = Map::new();
                instance.insert("content".into(), Value::String(text.to_owned()));
                if let Some(t) = &task_type {
                    instance.insert("task_type".into(), t.clone());
                }
                if let Some(t) = &title {
                    instance.insert("title".into(), t.clone());
                }
                Value::Object(instance)
            })
            .collect();
        let mut body = Map::new();
        body.insert("instances".into(), Value::Array(instances));
        let mut parameters = Map::new();
        if let Some(d) = dimensions {
            parameters.insert("outputDimensionality".into(), d);
        }
        if let Some(t) = auto_truncate {
            parameters.insert("autoTruncate".into(), t);
        }
        if !parameters.is_empty() {
            body.insert("parameters".into(), Value::Object(parameters));
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.url("predict"),
            headers: g.headers()?,
            body: Bytes::from(serde_json::to_vec(&Value::Object(body)).map_err(encode_error)?),
        })
    }
}

fn encode_error(e: serde_json::Error) -> GatewayError {
    GatewayError::Internal(format!("cannot encode the request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use std::collections::HashMap;
    use tollgate_core::{Env, ModelRef};

    fn adapter(model: &str, params: ProviderParams) -> VertexAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            vertex_project: Some("proj".into()),
            vertex_location: Some("us-east5".into()),
            ..params
        };
        let env = Env::with_overlay(HashMap::from([
            ("VERTEXAI_API_BASE".to_owned(), String::new()),
            ("VERTEXAI_CREDENTIALS".to_owned(), String::new()),
            (
                "GOOGLE_APPLICATION_CREDENTIALS".to_owned(),
                "/nonexistent/adc.json".to_owned(),
            ),
        ]));
        VertexAdapter::new(&m, &params, &env).unwrap().unwrap()
    }

    fn req(v: Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    fn body(r: &UpstreamRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn gemini_bodies_come_from_the_gemini_translation() {
        let a = adapter("vertex_ai/gemini-2.5-flash", ProviderParams::default());
        let r = a
            .chat_request(
                &req(json!({"model": "m", "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"}
                ], "max_tokens": 20, "labels": {"team": "a"}})),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(
            r.url,
            "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            body(&r),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "systemInstruction": {"parts": [{"text": "be brief"}]},
                "generationConfig": {"maxOutputTokens": 20},
                "labels": {"team": "a"}
            })
        );
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(r.headers.get("x-goog-api-key").is_none());
        assert!(
            r.headers.get("authorization").is_none(),
            "added by authorize"
        );
    }

    #[test]
    fn tools_images_and_reasoning_reach_vertex_in_gemini_form() {
        let a = adapter("vertex_ai/gemini-2.5-flash", ProviderParams::default());
        let r = a
            .chat_request(
                &req(json!({"model": "m", "reasoning_effort": "low", "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "what is it?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}}]}],
                    "tools": [{"type": "function", "function": {"name": "lookup",
                        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
                    "tool_choice": "required"})),
                CallOptions::default(),
            )
            .unwrap();
        let b = body(&r);
        assert_eq!(
            b["contents"][0]["parts"],
            json!([{"text": "what is it?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}}])
        );
        assert_eq!(
            b["tools"][0]["functionDeclarations"][0]["name"], "lookup",
            "{b}"
        );
        assert_eq!(b["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
        assert_eq!(
            b["generationConfig"]["thinkingConfig"],
            json!({"thinkingBudget": 1024, "includeThoughts": true})
        );
    }

    #[test]
    fn gemini_3_calls_carry_no_id_on_vertex_and_refusals_name_vertex() {
        let a = adapter("vertex_ai/gemini-3-pro-preview", ProviderParams::default());
        let r = a
            .chat_request(
                &req(json!({"model": "m", "stream": true, "messages": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
                ]})),
                CallOptions::default(),
            )
            .unwrap();
        assert!(
            r.url.ends_with(":streamGenerateContent?alt=sse"),
            "{}",
            r.url
        );
        let b = body(&r);
        assert!(
            b["contents"][1]["parts"][0]["functionCall"]
                .get("id")
                .is_none()
        );
        assert!(
            b["contents"][2]["parts"][0]["functionResponse"]
                .get("id")
                .is_none()
        );
        let e = a
            .chat_request(
                &req(
                    json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                    "logit_bias": {"1": 1}}),
                ),
                CallOptions::default(),
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("vertex_ai does not support parameters: ['logit_bias']"),
            "{e}"
        );
    }

    #[test]
    fn claude_bodies_lose_the_model_and_gain_the_vertex_version() {
        let a = adapter(
            "vertex_ai/claude-sonnet-4-5@20250929",
            ProviderParams::default(),
        );
        let r = a
            .chat_request(
                &req(json!({"model": "m", "stream": true, "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "hi"}
                ], "anthropic_beta": ["context-1m-2025-08-07"]})),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(
            r.url,
            "https://us-east5-aiplatform.googleapis.com/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
        );
        let b = body(&r);
        assert!(b.get("model").is_none());
        assert_eq!(b["anthropic_version"], "vertex-2023-10-16");
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["stream"], true);
        assert_eq!(b["system"], "sys");
        assert_eq!(r.headers["anthropic-beta"], "context-1m-2025-08-07");
        assert!(r.headers.get("x-api-key").is_none());
        let r = a
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
                CallOptions::default(),
            )
            .unwrap();
        assert!(r.url.ends_with(":rawPredict"));
        let e = a
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 3})),
                CallOptions::default(),
            )
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("vertex_ai does not support parameters: ['seed']"),
            "{e}"
        );
    }

    #[test]
    fn embeddings_become_predict_instances() {
        let a = adapter("vertex_ai/text-embedding-005", ProviderParams::default());
        let mut r: EmbeddingsRequest = serde_json::from_value(json!({
            "model": "m", "input": ["a", "b"], "dimensions": 256, "task_type": "RETRIEVAL_QUERY"
        }))
        .unwrap();
        let up = a.embeddings_request(&r).unwrap();
        assert!(
            up.url
                .ends_with("/publishers/google/models/text-embedding-005:predict")
        );
        assert_eq!(
            body(&up),
            json!({
                "instances": [
                    {"content": "a", "task_type": "RETRIEVAL_QUERY"},
                    {"content": "b", "task_type": "RETRIEVAL_QUERY"}
                ],
                "parameters": {"outputDimensionality": 256}
            })
        );
        r.extra.insert("encoding_format_x".into(), json!(1));
        let e = a.embeddings_request(&r).unwrap_err();
        assert!(e.to_string().contains("['encoding_format_x']"), "{e}");
        let tokens: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "m", "input": [1, 2]})).unwrap();
        assert_eq!(a.embeddings_request(&tokens).unwrap_err().status(), 400);
        let claude = adapter("vertex_ai/claude-sonnet-4-5", ProviderParams::default());
        assert!(matches!(
            claude.embeddings_request(&tokens).unwrap_err(),
            GatewayError::UnsupportedOperation { .. }
        ));
    }
}
