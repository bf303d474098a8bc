//! Response bytes to our types: an `/api/chat` response to a Chat Completions response and an
//! `/api/embed` response to an embeddings list. The pieces shared with the stream decoder (one
//! response object, finish reasons, usage, tool calls) live here too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tollgate_core::chat::FunctionCall;
use tollgate_core::embeddings::{Embedding, EmbeddingVector, EmbeddingsUsage};
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, Choice, EmbeddingsResponse, Extra, FinishReason,
    GatewayError, MessageContent, Role, ToolCall, Usage,
};

use super::OllamaAdapter;
use super::error::error_from_value;

/// One `/api/chat` object: a whole response, or one NDJSON line of a stream. `response` and
/// top-level `thinking` are `/api/generate`'s spelling, read too so a base pointed at a
/// generate-style proxy still decodes.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ChatObject {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub message: Option<OllamaMessage>,
    #[serde(default)]
    pub response: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub done: Option<bool>,
    #[serde(default)]
    pub done_reason: Option<String>,
    #[serde(default)]
    pub prompt_eval_count: Option<u64>,
    #[serde(default)]
    pub eval_count: Option<u64>,
    /// `{"error": "..."}` in place of a response (mid-stream, or a 200 carrying one).
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OllamaMessage {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<OllamaToolCall>>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OllamaToolCall {
    /// Newer Ollama versions name their calls; older ones do not.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<OllamaFunction>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OllamaFunction {
    #[serde(default)]
    pub name: Option<String>,
    /// An object (Ollama's form); a string is tolerated.
    #[serde(default)]
    pub arguments: Option<Value>,
}

impl ChatObject {
    /// Answer text of this object (`message.content`, or generate's `response`).
    pub(super) fn text(&self) -> Option<&str> {
        self.message
            .as_ref()
            .and_then(|m| m.content.as_deref())
            .or(self.response.as_deref())
    }

    /// Reasoning text of this object.
    pub(super) fn thinking(&self) -> Option<&str> {
        self.message
            .as_ref()
            .and_then(|m| m.thinking.as_deref())
            .or(self.thinking.as_deref())
    }

    pub(super) fn tool_calls(&self) -> &[OllamaToolCall] {
        self.message
            .as_ref()
            .and_then(|m| m.tool_calls.as_deref())
            .unwrap_or_default()
    }

    /// `prompt_eval_count` / `eval_count` as usage. Ollama omits `prompt_eval_count` when the
    /// whole prompt came from its cache, which reads as 0 here.
    pub(super) fn usage(&self) -> Usage {
        Usage::new(
            self.prompt_eval_count.unwrap_or(0),
            self.eval_count.unwrap_or(0),
        )
    }
}

/// Tool-call ids for one response or stream: Ollama's own when it gives one, else `call_<n>`
/// with `n` counting the calls of this response, so replaying a response gives the same ids.
#[derive(Debug, Default)]
pub(super) struct CallIds {
    next: usize,
}

impl CallIds {
    pub(super) fn next(&mut self, ollama_id: Option<&str>) -> String {
        let n = self.next;
        self.next += 1;
        match ollama_id.filter(|i| !i.is_empty()) {
            Some(id) => id.to_owned(),
            None => format!("call_{n}"),
        }
    }
}

/// A call as (id, name, arguments as a JSON string).
pub(super) fn call_parts(call: &OllamaToolCall, ids: &mut CallIds) -> (String, String, String) {
    let f = call.function.as_ref();
    let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
    let arguments = match f.and_then(|f| f.arguments.as_ref()) {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    (ids.next(call.id.as_deref()), name, arguments)
}

/// `done_reason` in OpenAI's vocabulary: `length` is `length`, everything else (`stop`,
/// `load`, `unload`, new values) is `stop`, and a response that called tools says
/// `tool_calls` (Ollama says `stop` there).
pub(super) fn finish_reason(raw: Option<&str>, called_tools: bool) -> FinishReason {
    if called_tools {
        return FinishReason::ToolCalls;
    }
    match raw {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    }
}

/// A process-unique hex string: Ollama responses have no id.
pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}{n:x}")
}

/// The current Unix time, for `created`.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
struct EmbedResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    embeddings: Option<Vec<Vec<f32>>>,
    /// The legacy `/api/embeddings` answer: one vector.
    #[serde(default)]
    embedding: Option<Vec<f32>>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    error: Option<Value>,
}

impl OllamaAdapter {
    /// Parses a 2xx `/api/chat` body.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        self.parse_chat_response_at(body, now(), &format!("chatcmpl-{}", unique_suffix()))
    }

    fn parse_chat_response_at(
        &self,
        body: &[u8],
        created: i64,
        id: &str,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        let r: ChatObject = serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        if let Some(err) = &r.error {
            return Err(error_from_value(500, err));
        }
        let mut ids = CallIds::default();
        let tool_calls: Vec<ToolCall> = r
            .tool_calls()
            .iter()
            .map(|c| {
                let (id, name, arguments) = call_parts(c, &mut ids);
                ToolCall {
                    id,
                    kind: "function".to_owned(),
                    function: FunctionCall { name, arguments },
                    extra: Extra::new(),
                }
            })
            .collect();
        let text = r.text().unwrap_or_default();
        // A turn that only calls tools has `content: null`, as OpenAI sends it.
        let content = (!text.is_empty() || tool_calls.is_empty())
            .then(|| MessageContent::Text(text.to_owned()));
        let finish = finish_reason(r.done_reason.as_deref(), !tool_calls.is_empty());
        Ok(ChatCompletionResponse {
            id: id.to_owned(),
            object: "chat.completion".to_owned(),
            created,
            model: r
                .model
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| self.upstream_model.clone()),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage {
                    role: Role::Assistant,
                    content,
                    name: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    tool_call_id: None,
                    refusal: None,
                    reasoning_content: r.thinking().filter(|t| !t.is_empty()).map(str::to_owned),
                    extra: Extra::new(),
                },
                finish_reason: Some(finish),
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: Some(r.usage()),
            system_fingerprint: None,
            service_tier: None,
            extra: Extra::new(),
        })
    }

    /// Parses a 2xx `/api/embed` body (or the legacy `/api/embeddings` one). Usage is
    /// `prompt_eval_count`.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let r: EmbedResponse = serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        if let Some(err) = &r.error {
            return Err(error_from_value(500, err));
        }
        let vectors = match (r.embeddings, r.embedding) {
            (Some(many), _) => many,
            (None, Some(one)) => vec![one],
            (None, None) => {
                return Err(GatewayError::InvalidUpstreamResponse {
                    provider: self.provider_name().to_owned(),
                    message: "embeddings response has neither `embeddings` nor `embedding`".into(),
                });
            }
        };
        let prompt = r.prompt_eval_count.unwrap_or(0);
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| Embedding {
                object: "embedding".to_owned(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding: EmbeddingVector::Float(v),
                extra: Extra::new(),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: r
                .model
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| self.upstream_model.clone()),
            usage: Some(EmbeddingsUsage {
                prompt_tokens: prompt,
                total_tokens: prompt,
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

    fn invalid(&self, e: &serde_json::Error) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.provider_name().to_owned(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    fn adapter() -> OllamaAdapter {
        let m = ModelRef::parse("ollama_chat/qwen3:4b", None).unwrap();
        OllamaAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
    }

    fn parse(v: Value) -> ChatCompletionResponse {
        adapter()
            .parse_chat_response_at(v.to_string().as_bytes(), 9, "chatcmpl-t")
            .unwrap()
    }

    #[test]
    fn text_answers_translate_with_usage() {
        let r = parse(
            json!({"model": "qwen3:4b", "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "pong"}, "done": true, "done_reason": "length",
            "prompt_eval_count": 18, "eval_count": 64, "total_duration": 1}),
        );
        assert_eq!(
            (r.id.as_str(), r.created, r.model.as_str()),
            ("chatcmpl-t", 9, "qwen3:4b")
        );
        assert_eq!(r.choices[0].message.text_content().as_deref(), Some("pong"));
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (18, 64, 82)
        );
        let out =
            serde_json::to_value(parse(json!({"message": {"content": ""}, "done": true}))).unwrap();
        assert_eq!(
            out["choices"][0]["message"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(out["model"], "qwen3:4b");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})
        );
    }

    #[test]
    fn thinking_and_tool_calls_translate() {
        let r = parse(
            json!({"model": "m", "message": {"role": "assistant", "content": "",
            "thinking": "need weather", "tool_calls": [
                {"id": "call_x", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Tokyo"}}},
                {"function": {"name": "noop", "arguments": {}}},
                {"function": {"name": "legacy", "arguments": "{\"a\":1}"}}]},
            "done": true, "done_reason": "stop"}),
        );
        let m = &r.choices[0].message;
        assert_eq!(m.content, None);
        assert_eq!(m.reasoning_content.as_deref(), Some("need weather"));
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "call_x");
        assert_eq!(calls[0].function.arguments, "{\"city\":\"Tokyo\"}");
        assert_eq!(calls[1].id, "call_1");
        assert_eq!(calls[1].function.arguments, "{}");
        assert_eq!(calls[2].function.arguments, "{\"a\":1}");
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn done_reasons_follow_the_table() {
        for (raw, want) in [
            ("stop", FinishReason::Stop),
            ("length", FinishReason::Length),
            ("load", FinishReason::Stop),
            ("unload", FinishReason::Stop),
            ("new", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(Some(raw), false), want);
        }
        assert_eq!(finish_reason(None, false), FinishReason::Stop);
        assert_eq!(finish_reason(Some("stop"), true), FinishReason::ToolCalls);
    }

    #[test]
    fn errors_in_a_200_body_and_garbage_are_errors() {
        let e = adapter()
            .parse_chat_response(br#"{"error":"model requires more system memory"}"#)
            .unwrap_err();
        assert_eq!(e.status(), 500);
        assert!(
            e.to_string()
                .contains("OllamaException - model requires more system memory")
        );
        assert!(adapter().parse_chat_response(b"nope").is_err());
    }

    #[test]
    fn embeddings_parse_with_usage() {
        let a = adapter();
        let (out, usage) = a
            .forward_embeddings_response(
                Bytes::from_static(
                    br#"{"model":"all-minilm","embeddings":[[0.5,1],[2,3]],"prompt_eval_count":8}"#,
                ),
                "alias",
            )
            .unwrap();
        assert_eq!(usage.map(|u| u.prompt_tokens), Some(8));
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({"object": "list", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.5, 1.0]},
                {"object": "embedding", "index": 1, "embedding": [2.0, 3.0]}],
                "model": "alias", "usage": {"prompt_tokens": 8, "total_tokens": 8}})
        );
        let r = a
            .parse_embeddings_response(br#"{"embedding":[1]}"#)
            .unwrap();
        assert_eq!(r.data.len(), 1);
        assert_eq!(r.model, "qwen3:4b");
        assert!(a.parse_embeddings_response(b"{}").is_err());
        assert_eq!(
            a.parse_embeddings_response(br#"{"error":"boom"}"#)
                .unwrap_err()
                .status(),
            500
        );
    }
}
