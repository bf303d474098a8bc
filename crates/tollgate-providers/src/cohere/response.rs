//! Response bytes to our types: a v2 chat response to a Chat Completions response, a v2 (or
//! v1) embed response to an embeddings list, and a rerank response. The pieces shared with the
//! stream decoder (finish reasons, usage) live here too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tollgate_core::chat::FunctionCall;
use tollgate_core::embeddings::{Embedding, EmbeddingVector, EmbeddingsUsage};
use tollgate_core::usage::PromptTokensDetails;
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, Choice, EmbeddingsResponse, Extra, FinishReason,
    GatewayError, MessageContent, Role, ToolCall, Usage,
};

use super::CohereAdapter;

#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
    message: ResponseMessage,
    #[serde(default)]
    usage: Option<CohereUsage>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<Vec<ContentItem>>,
    #[serde(default)]
    tool_plan: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ResponseToolCall>>,
    #[serde(default)]
    citations: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct ContentItem {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<ResponseFunction>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseFunction {
    #[serde(default)]
    name: Option<String>,
    /// A JSON string; an object is tolerated and re-encoded.
    #[serde(default)]
    arguments: Option<Value>,
}

/// `usage` of a response or of `message-end`.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct CohereUsage {
    #[serde(default)]
    billed_units: Option<Counts>,
    #[serde(default)]
    tokens: Option<Counts>,
    #[serde(default)]
    cached_tokens: Option<Value>,
}

/// Token counts; Cohere has sent them as floats in places, so any JSON number is read.
#[derive(Debug, Default, Clone, Deserialize)]
struct Counts {
    #[serde(default)]
    input_tokens: Option<Value>,
    #[serde(default)]
    output_tokens: Option<Value>,
}

fn count(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            // Token counts are whole; a fractional count is rounded, not truncated.
            .map(|f| f.round() as u64)
    })
}

/// Cohere usage in OpenAI's shape: `usage.tokens` (what the model read and wrote, the system
/// prompt included), falling back to `billed_units`; `cached_tokens` goes to the details.
pub(super) fn usage(u: &CohereUsage) -> Usage {
    let pick = |f: fn(&Counts) -> Option<&Value>| {
        u.tokens
            .as_ref()
            .and_then(|c| count(f(c)))
            .or_else(|| u.billed_units.as_ref().and_then(|c| count(f(c))))
            .unwrap_or(0)
    };
    let mut out = Usage::new(
        pick(|c| c.input_tokens.as_ref()),
        pick(|c| c.output_tokens.as_ref()),
    );
    if let Some(cached) = count(u.cached_tokens.as_ref()) {
        out.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(cached),
            ..PromptTokensDetails::default()
        });
    }
    out
}

/// Cohere's finish reasons in OpenAI's vocabulary (providers.md §0.3); a response that called
/// tools finished with `tool_calls` whatever Cohere says.
pub(super) fn finish_reason(raw: Option<&str>, called_tools: bool) -> FinishReason {
    if called_tools {
        return FinishReason::ToolCalls;
    }
    match raw {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some("TOOL_CALL") => FinishReason::ToolCalls,
        Some("ERROR_TOXIC") => FinishReason::ContentFilter,
        // COMPLETE, STOP_SEQUENCE, ERROR, TIMEOUT and anything new (LiteLLM's default).
        _ => FinishReason::Stop,
    }
}

/// A tool call's `arguments` as the JSON string OpenAI clients expect.
pub(super) fn arguments_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `{"provider_specific_fields": {key: value}}`, LiteLLM's place for provider extras.
pub(super) fn provider_fields(key: &str, value: Value) -> Extra {
    let mut inner = Map::new();
    inner.insert(key.to_owned(), value);
    let mut extra = Extra::new();
    extra.insert("provider_specific_fields".into(), Value::Object(inner));
    extra
}

/// A process-unique hex string, for the rare response without an id.
pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}{n:x}")
}

/// The current Unix time: Cohere's responses carry no `created`.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Deserialize)]
struct EmbedResponse {
    /// v2: `{"float": [[...]], "base64": [...], ...}`; v1: `[[...]]`.
    #[serde(default)]
    embeddings: Option<Value>,
    #[serde(default)]
    meta: Option<Value>,
}

/// A rerank response: LiteLLM's shape, which is Cohere's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub results: Vec<RerankResult>,
    /// `api_version` and `billed_units.search_units`, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One ranked document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankResult {
    /// Position of the document in the request.
    pub index: u32,
    pub relevance_score: f64,
    /// With `return_documents`: `{"text": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl RerankResponse {
    /// Search units billed for the call (`meta.billed_units.search_units`), for cost.
    pub fn search_units(&self) -> Option<u64> {
        count(self.meta.as_ref()?.get("billed_units")?.get("search_units"))
    }
}

impl CohereAdapter {
    /// Parses a 2xx v2 chat body. Text parts become `content`, thinking parts
    /// `reasoning_content`; on a tool-calling turn, `tool_plan` (the model's note on what it is
    /// about to do) is the content when there is no text. Citations are kept in
    /// `provider_specific_fields.citations`.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        self.parse_chat_response_at(body, now())
    }

    fn parse_chat_response_at(
        &self,
        body: &[u8],
        created: i64,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        let r: ChatResponse = serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        let mut text: Option<String> = None;
        let mut reasoning: Option<String> = None;
        for item in r.message.content.iter().flatten() {
            match (item.kind.as_deref(), &item.thinking, &item.text) {
                (Some("thinking"), Some(t), _) | (None, Some(t), None) => {
                    reasoning.get_or_insert_with(String::new).push_str(t);
                }
                (Some("text") | None, _, Some(t)) => {
                    text.get_or_insert_with(String::new).push_str(t);
                }
                // Other part types (images in the answer, future kinds) carry no text.
                _ => {}
            }
        }
        let id =
            r.id.filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("chatcmpl-{}", unique_suffix()));
        let tool_calls: Vec<ToolCall> = r
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(n, c)| {
                let f = c.function.unwrap_or_default();
                ToolCall {
                    id: c
                        .id
                        .filter(|i| !i.is_empty())
                        .unwrap_or_else(|| format!("call_{id}_{n}")),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: f.name.unwrap_or_default(),
                        arguments: arguments_string(f.arguments.as_ref()),
                    },
                    extra: Extra::new(),
                }
            })
            .collect();
        if !tool_calls.is_empty() && text.as_deref().is_none_or(str::is_empty) {
            text = r.message.tool_plan.filter(|p| !p.is_empty());
        }
        let extra = match r.message.citations.filter(|c| !c.is_empty()) {
            Some(c) => provider_fields("citations", Value::Array(c)),
            None => Extra::new(),
        };
        let finish = finish_reason(r.finish_reason.as_deref(), !tool_calls.is_empty());
        Ok(ChatCompletionResponse {
            id,
            object: "chat.completion".to_owned(),
            created,
            model: self.upstream_model.clone(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage {
                    role: Role::Assistant,
                    content: text.map(MessageContent::Text),
                    name: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    tool_call_id: None,
                    refusal: None,
                    reasoning_content: reasoning,
                    extra,
                },
                finish_reason: Some(finish),
                logprobs: None,
                extra: Extra::new(),
            }],
            usage: r.usage.as_ref().map(usage),
            system_fingerprint: None,
            service_tier: None,
            extra: Extra::new(),
        })
    }

    /// Parses a 2xx embed body: v2's `embeddings.float` (or `.base64`), or v1's bare arrays.
    /// Usage is `meta.billed_units.input_tokens`.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let r: EmbedResponse = serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        let vectors: Vec<EmbeddingVector> = match r.embeddings {
            Some(Value::Object(by_type)) => {
                if let Some(floats) = by_type.get("float") {
                    serde_json::from_value::<Vec<Vec<f32>>>(floats.clone())
                        .map_err(|e| self.invalid(&e))?
                        .into_iter()
                        .map(EmbeddingVector::Float)
                        .collect()
                } else if let Some(b64) = by_type.get("base64") {
                    serde_json::from_value::<Vec<String>>(b64.clone())
                        .map_err(|e| self.invalid(&e))?
                        .into_iter()
                        .map(EmbeddingVector::Base64)
                        .collect()
                } else {
                    return Err(self.invalid_msg(
                        "embeddings has neither `float` nor `base64` vectors".into(),
                    ));
                }
            }
            Some(v @ Value::Array(_)) => serde_json::from_value::<Vec<Vec<f32>>>(v)
                .map_err(|e| self.invalid(&e))?
                .into_iter()
                .map(EmbeddingVector::Float)
                .collect(),
            _ => return Err(self.invalid_msg("the response has no `embeddings`".into())),
        };
        let billed = r.meta.as_ref().and_then(|m| m.get("billed_units"));
        let input = count(billed.and_then(|b| b.get("input_tokens"))).unwrap_or(0);
        let mut usage_extra = Extra::new();
        if let Some(images) = count(billed.and_then(|b| b.get("image_tokens"))).filter(|n| *n > 0) {
            usage_extra.insert("image_tokens".into(), Value::from(images));
        }
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| Embedding {
                object: "embedding".to_owned(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding: v,
                extra: Extra::new(),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: self.upstream_model.clone(),
            usage: Some(EmbeddingsUsage {
                prompt_tokens: input,
                total_tokens: input,
                extra: usage_extra,
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

    /// Parses a 2xx rerank body.
    pub fn parse_rerank_response(&self, body: &[u8]) -> Result<RerankResponse, GatewayError> {
        serde_json::from_slice(body).map_err(|e| self.invalid(&e))
    }

    fn invalid(&self, e: &serde_json::Error) -> GatewayError {
        self.invalid_msg(e.to_string())
    }

    fn invalid_msg(&self, message: String) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.provider_name().to_owned(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    fn adapter(model: &str) -> CohereAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        CohereAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
    }

    fn parse(v: Value) -> ChatCompletionResponse {
        adapter("cohere/command-a-03-2025")
            .parse_chat_response_at(v.to_string().as_bytes(), 7)
            .unwrap()
    }

    #[test]
    fn text_thinking_and_usage_translate() {
        let r = parse(
            json!({"id": "abc", "finish_reason": "COMPLETE", "message": {"role": "assistant",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi"},
                {"type": "text", "text": " there"}]},
            "usage": {"billed_units": {"input_tokens": 1, "output_tokens": 2},
                "tokens": {"input_tokens": 10, "output_tokens": 20}, "cached_tokens": 4}}),
        );
        assert_eq!((r.id.as_str(), r.created), ("abc", 7));
        assert_eq!(r.model, "command-a-03-2025");
        let m = &r.choices[0].message;
        assert_eq!(m.text_content().as_deref(), Some("Hi there"));
        assert_eq!(m.reasoning_content.as_deref(), Some("hmm"));
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (10, 20, 30)
        );
        assert_eq!(u.cached_tokens(), 4);
    }

    #[test]
    fn billed_units_are_the_fallback() {
        let r = parse(json!({"id": "a", "finish_reason": "MAX_TOKENS",
            "message": {"content": [{"type": "text", "text": "x"}]},
            "usage": {"billed_units": {"input_tokens": 3.0, "output_tokens": 5}}}));
        let u = r.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (3, 5));
        assert_eq!(u.prompt_tokens_details, None);
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
    }

    #[test]
    fn tool_calls_take_the_plan_as_content() {
        let r = parse(
            json!({"id": "r", "finish_reason": "TOOL_CALL", "message": {"role": "assistant",
            "tool_plan": "I will add.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"x\":1}"}},
                {"type": "function", "function": {"name": "noop", "arguments": {"a": [1]}}},
                {"function": {"name": "empty"}}]}}),
        );
        let m = &r.choices[0].message;
        assert_eq!(m.text_content().as_deref(), Some("I will add."));
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "c1");
        assert_eq!(calls[0].function.arguments, "{\"x\":1}");
        assert_eq!(calls[1].id, "call_r_1");
        assert_eq!(calls[1].function.arguments, "{\"a\":[1]}");
        assert_eq!(calls[2].function.arguments, "{}");
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.usage, None);
    }

    #[test]
    fn finish_reasons_follow_the_table() {
        for (raw, want) in [
            ("COMPLETE", FinishReason::Stop),
            ("STOP_SEQUENCE", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::Length),
            ("TOOL_CALL", FinishReason::ToolCalls),
            ("ERROR_TOXIC", FinishReason::ContentFilter),
            ("ERROR", FinishReason::Stop),
            ("TIMEOUT", FinishReason::Stop),
            ("SOMETHING_NEW", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(Some(raw), false), want, "{raw}");
        }
        assert_eq!(
            finish_reason(Some("COMPLETE"), true),
            FinishReason::ToolCalls
        );
    }

    #[test]
    fn citations_are_kept_and_json_is_openais() {
        let r = parse(json!({"id": "r", "finish_reason": "COMPLETE", "message": {
            "content": [{"type": "text", "text": "-3."}],
            "citations": [{"start": 0, "end": 3, "text": "-3.", "sources": [], "type": "TEXT_CONTENT"}]}}));
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(
            out["choices"][0]["message"],
            json!({"role": "assistant", "content": "-3.", "provider_specific_fields": {"citations": [
                {"start": 0, "end": 3, "text": "-3.", "sources": [], "type": "TEXT_CONTENT"}]}})
        );
        assert_eq!(out["object"], "chat.completion");
        assert!(adapter("cohere/x").parse_chat_response(b"{}").is_err());
        assert!(adapter("cohere/x").parse_chat_response(b"nope").is_err());
    }

    #[test]
    fn embeddings_parse_v2_float_base64_and_v1() {
        let a = adapter("cohere/embed-v4.0");
        let r = a
            .parse_embeddings_response(
                br#"{"id":"e","embeddings":{"float":[[0.5,-1],[2]]},"texts":["a","b"],
                "meta":{"billed_units":{"input_tokens":4,"image_tokens":0}},"response_type":"embeddings_by_type"}"#,
            )
            .unwrap();
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[1].index, 1);
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![0.5, -1.0]));
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 4);
        assert!(r.usage.as_ref().unwrap().extra.is_empty());
        let r = a
            .parse_embeddings_response(br#"{"embeddings":{"base64":["AAA="]},"meta":{}}"#)
            .unwrap();
        assert_eq!(r.data[0].embedding, EmbeddingVector::Base64("AAA=".into()));
        let r = a
            .parse_embeddings_response(
                br#"{"embeddings":[[1]],"response_type":"embeddings_floats"}"#,
            )
            .unwrap();
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![1.0]));
        assert!(
            a.parse_embeddings_response(br#"{"embeddings":{"int8":[[1]]}}"#)
                .is_err()
        );
        assert!(a.parse_embeddings_response(b"{}").is_err());
        let (out, usage) = a
            .forward_embeddings_response(
                Bytes::from_static(
                    br#"{"embeddings":{"float":[[1]]},"meta":{"billed_units":{"input_tokens":2}}}"#,
                ),
                "alias",
            )
            .unwrap();
        assert_eq!(
            usage.map(|u| (u.prompt_tokens, u.total_tokens)),
            Some((2, 2))
        );
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}],
                "model": "alias", "usage": {"prompt_tokens": 2, "total_tokens": 2}})
        );
    }

    #[test]
    fn rerank_responses_parse() {
        let r = adapter("cohere/rerank-v3.5")
            .parse_rerank_response(
                br#"{"id":"x","results":[{"index":1,"relevance_score":0.9,"document":{"text":"b"}},
                {"index":0,"relevance_score":0.1}],"meta":{"api_version":{"version":"2"},"billed_units":{"search_units":1}}}"#,
            )
            .unwrap();
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].index, 1);
        assert_eq!(r.results[0].document, Some(json!({"text": "b"})));
        assert_eq!(r.search_units(), Some(1));
        assert!(
            adapter("cohere/rerank-v3.5")
                .parse_rerank_response(b"{}")
                .is_err()
        );
    }
}
