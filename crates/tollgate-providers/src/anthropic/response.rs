//! A Messages API response to an OpenAI chat completion.
//!
//! Text blocks are joined into `content`; `tool_use` blocks become `tool_calls` with the input
//! re-encoded as a compact JSON string; thinking surfaces as LiteLLM's `reasoning_content`
//! (joined text) and `thinking_blocks` (the blocks verbatim, signatures included, so a client
//! can send them back); usage counts cached prompt tokens into `prompt_tokens` as LiteLLM does.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};
use tollgate_core::chat::{FunctionCall, ToolCall};
use tollgate_core::usage::{CompletionTokensDetails, PromptTokensDetails};
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, Choice, EmbeddingsResponse, Extra, FinishReason,
    GatewayError, MessageContent, Role, Usage,
};

use super::error::error_from_json;
use super::{AnthropicAdapter, JSON_TOOL_NAME, PROVIDER_NAME, now_unix};

/// The parts of a Messages response the translation reads.
#[derive(Debug, Deserialize)]
struct MessageResponse {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    /// Kept as JSON: thinking blocks go back to the client verbatim, and block types this
    /// code does not know must not fail the response.
    #[serde(default)]
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// Anthropic's `usage`. Counts may be absent or `null` (stream deltas carry only some).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub(super) struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputTokensDetails>,
    #[serde(default)]
    pub server_tool_use: Option<Value>,
    /// `{ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}`: one-hour cache writes are
    /// billed at their own rate.
    #[serde(default)]
    pub cache_creation: Option<Value>,
}

/// `usage.output_tokens_details` (newer API versions).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
pub(super) struct OutputTokensDetails {
    #[serde(default)]
    pub thinking_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Lays a later report over this one: `message_delta` usage is cumulative and wins for
    /// every count it carries.
    pub fn merge(&mut self, later: &AnthropicUsage) {
        let pick = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        pick(&mut self.input_tokens, later.input_tokens);
        pick(&mut self.output_tokens, later.output_tokens);
        pick(
            &mut self.cache_creation_input_tokens,
            later.cache_creation_input_tokens,
        );
        pick(
            &mut self.cache_read_input_tokens,
            later.cache_read_input_tokens,
        );
        if later.output_tokens_details.is_some() {
            self.output_tokens_details
                .clone_from(&later.output_tokens_details);
        }
        if later.server_tool_use.is_some() {
            self.server_tool_use.clone_from(&later.server_tool_use);
        }
        if later.cache_creation.is_some() {
            self.cache_creation.clone_from(&later.cache_creation);
        }
    }

    /// OpenAI usage as LiteLLM reports it: `input_tokens` excludes cached tokens at Anthropic,
    /// so prompt = input + cache read + cache creation, cached = cache read, and both cache
    /// counts are repeated as top-level fields.
    pub fn to_openai(&self) -> Usage {
        let input = self.input_tokens.unwrap_or(0);
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let creation = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = input.saturating_add(read).saturating_add(creation);
        let completion = self.output_tokens.unwrap_or(0);
        let mut extra = Extra::new();
        extra.insert("cache_creation_input_tokens".into(), Value::from(creation));
        extra.insert("cache_read_input_tokens".into(), Value::from(read));
        if let Some(s) = self.server_tool_use.as_ref().filter(|v| !v.is_null()) {
            extra.insert("server_tool_use".into(), s.clone());
        }
        if let Some(c) = self.cache_creation.as_ref().filter(|v| v.is_object()) {
            extra.insert("cache_creation".into(), c.clone());
        }
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(read),
                ..PromptTokensDetails::default()
            }),
            completion_tokens_details: self
                .output_tokens_details
                .as_ref()
                .and_then(|d| d.thinking_tokens)
                .map(|t| CompletionTokensDetails {
                    reasoning_tokens: Some(t),
                    ..CompletionTokensDetails::default()
                }),
            extra,
        }
    }
}

/// Anthropic's `stop_reason` in OpenAI's vocabulary (LiteLLM's map, §0.3). Values LiteLLM does
/// not map become `stop`, except the two that mean the output was cut: those are `length`.
pub(super) fn map_stop_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens" | "compaction" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn, anything new.
        _ => FinishReason::Stop,
    }
}

impl AnthropicAdapter {
    /// Parses a 2xx Messages response into an OpenAI chat completion created now.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        self.parse_chat_response_at(body, now_unix())
    }

    /// As [`Self::parse_chat_response`], with `created` given.
    pub fn parse_chat_response_at(
        &self,
        body: &[u8],
        created: i64,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        let raw: MessageResponse = serde_json::from_slice(body).map_err(invalid)?;
        if raw.kind.as_deref() == Some("error") {
            // A 200 carrying an error body: report the error, not an empty answer.
            let value: Value = serde_json::from_slice(body).map_err(invalid)?;
            return Err(error_from_json(None, &value));
        }
        Ok(translate(raw, created))
    }

    /// Anthropic has no embeddings API.
    pub fn parse_embeddings_response(
        &self,
        _body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        Err(no_embeddings())
    }

    /// Anthropic has no embeddings API.
    pub fn forward_embeddings_response(
        &self,
        _body: Bytes,
        _client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        Err(no_embeddings())
    }
}

fn translate(raw: MessageResponse, created: i64) -> ChatCompletionResponse {
    let mut text = String::new();
    let mut json_content: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut reasoning = String::new();
    let mut citations = Vec::new();
    for block in raw.content {
        let str_field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default();
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                text.push_str(str_field("text"));
                if let Some(c) = block.get("citations").filter(|c| !c.is_null()) {
                    citations.push(c.clone());
                }
            }
            Some("tool_use") => {
                let input = block
                    .get("input")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new()));
                let arguments = input.to_string();
                if str_field("name") == JSON_TOOL_NAME {
                    // response_format emulation: the forced tool's input is the answer.
                    json_content = Some(arguments);
                } else {
                    tool_calls.push(ToolCall {
                        id: str_field("id").to_owned(),
                        kind: "function".to_owned(),
                        function: FunctionCall {
                            name: str_field("name").to_owned(),
                            arguments,
                        },
                        extra: Extra::new(),
                    });
                }
            }
            Some("thinking") => {
                reasoning.push_str(str_field("thinking"));
                thinking_blocks.push(block);
            }
            Some("redacted_thinking") => thinking_blocks.push(block),
            // Server-tool blocks and future types have no OpenAI counterpart.
            _ => {}
        }
    }

    let mut finish = map_stop_reason(raw.stop_reason.as_deref());
    if finish == FinishReason::ToolCalls && tool_calls.is_empty() {
        // Only the JSON-mode tool was called: to the client that is a finished answer.
        finish = FinishReason::Stop;
    }
    // In JSON mode the content must parse as JSON, so text around the tool call is dropped
    // (LiteLLM replaces the whole message too).
    let content = match json_content {
        Some(json) => Some(json),
        None => Some(text).filter(|t| !t.is_empty()),
    };
    let mut extra = Extra::new();
    let reasoning_content = if thinking_blocks.is_empty() {
        None
    } else {
        extra.insert("thinking_blocks".into(), Value::Array(thinking_blocks));
        Some(reasoning)
    };
    if !citations.is_empty() {
        let mut fields = Map::new();
        fields.insert("citations".into(), Value::Array(citations));
        extra.insert("provider_specific_fields".into(), Value::Object(fields));
    }
    let message = ChatMessage {
        role: Role::Assistant,
        content: content.map(MessageContent::Text),
        name: None,
        tool_calls: Some(tool_calls).filter(|c| !c.is_empty()),
        tool_call_id: None,
        refusal: None,
        reasoning_content,
        extra,
    };
    ChatCompletionResponse {
        id: raw.id,
        object: "chat.completion".to_owned(),
        created,
        model: raw.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish),
            logprobs: None,
            extra: Extra::new(),
        }],
        usage: Some(raw.usage.unwrap_or_default().to_openai()),
        system_fingerprint: None,
        service_tier: None,
        extra: Extra::new(),
    }
}

fn invalid(e: serde_json::Error) -> GatewayError {
    GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message: e.to_string(),
    }
}

fn no_embeddings() -> GatewayError {
    GatewayError::UnsupportedOperation {
        provider: tollgate_core::Provider::Anthropic.to_string(),
        operation: "embeddings".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    fn adapter() -> AnthropicAdapter {
        let m = ModelRef::parse("anthropic/claude-sonnet-4-5", None).unwrap();
        AnthropicAdapter::new(&m, &ProviderParams::default(), &Env::process()).unwrap()
    }

    fn parse(v: Value) -> ChatCompletionResponse {
        adapter()
            .parse_chat_response_at(v.to_string().as_bytes(), 7)
            .unwrap()
    }

    fn message(content: Value, stop: &str) -> Value {
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
               "content": content, "stop_reason": stop, "stop_sequence": null,
               "usage": {"input_tokens": 10, "output_tokens": 5}})
    }

    #[test]
    fn text_tools_and_thinking() {
        let r = parse(message(
            json!([
                {"type": "thinking", "thinking": "hmm ", "signature": "sig1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "thinking", "thinking": "ok", "signature": "sig2"},
                {"type": "text", "text": "Let me "},
                {"type": "text", "text": "look.", "citations": [{"type": "char_location", "cited_text": "x"}]},
                {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"q": "a b", "n": [1, 2]}},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
            ]),
            "tool_use",
        ));
        assert_eq!(
            (r.id.as_str(), r.created, r.model.as_str()),
            ("msg_1", 7, "claude-x")
        );
        assert_eq!(r.object, "chat.completion");
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        let m = &c.message;
        assert_eq!(m.role, Role::Assistant);
        assert_eq!(m.text_content().as_deref(), Some("Let me look."));
        assert_eq!(m.reasoning_content.as_deref(), Some("hmm ok"));
        assert_eq!(
            m.extra["thinking_blocks"],
            json!([
                {"type": "thinking", "thinking": "hmm ", "signature": "sig1"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "thinking", "thinking": "ok", "signature": "sig2"}
            ])
        );
        assert_eq!(
            m.extra["provider_specific_fields"]["citations"][0][0]["cited_text"],
            "x"
        );
        let calls = m.tool_calls.as_ref().unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "toolu_1");
        assert_eq!(calls[0].kind, "function");
        assert_eq!(calls[0].function.name, "get");
        assert_eq!(calls[0].function.arguments, r#"{"q":"a b","n":[1,2]}"#);
    }

    #[test]
    fn a_tool_only_answer_has_null_content() {
        let r = parse(message(
            json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]),
            "tool_use",
        ));
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{}"
        );
        assert!(
            out["choices"][0]["message"]
                .get("thinking_blocks")
                .is_none()
        );
        assert!(
            out["choices"][0]["message"]
                .get("reasoning_content")
                .is_none()
        );
    }

    #[test]
    fn json_mode_tool_becomes_content() {
        let r = parse(message(
            json!([
                {"type": "text", "text": "Here you go:"},
                {"type": "tool_use", "id": "t", "name": "json_tool_call", "input": {"city": "Paris"}}
            ]),
            "tool_use",
        ));
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            c.message.text_content().as_deref(),
            Some(r#"{"city":"Paris"}"#)
        );
        assert!(c.message.tool_calls.is_none());
    }

    #[test]
    fn every_stop_reason_is_mapped() {
        for (stop, want) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("pause_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("compaction", FinishReason::Length),
            ("refusal", FinishReason::ContentFilter),
            ("something_new", FinishReason::Stop),
        ] {
            let r = parse(message(json!([{"type": "text", "text": "x"}]), stop));
            assert_eq!(r.choices[0].finish_reason, Some(want), "{stop}");
        }
        // tool_use without a client tool call (JSON mode) is covered above; with one:
        assert_eq!(map_stop_reason(Some("tool_use")), FinishReason::ToolCalls);
        assert_eq!(map_stop_reason(None), FinishReason::Stop);
    }

    #[test]
    fn usage_counts_cached_prompt_tokens() {
        let mut v = message(json!([{"type": "text", "text": "x"}]), "end_turn");
        v["usage"] = json!({"input_tokens": 20, "output_tokens": 30, "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 1000, "output_tokens_details": {"thinking_tokens": 12},
            "server_tool_use": {"web_search_requests": 1}, "service_tier": "standard",
            "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60}});
        let u = parse(v).usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (1120, 30, 1150)
        );
        assert_eq!(u.cached_tokens(), 1000);
        assert_eq!(u.reasoning_tokens(), 12);
        assert_eq!(u.extra["cache_creation_input_tokens"], 100);
        assert_eq!(u.extra["cache_read_input_tokens"], 1000);
        assert_eq!(u.extra["server_tool_use"]["web_search_requests"], 1);
        assert_eq!(u.extra["cache_creation"]["ephemeral_1h_input_tokens"], 60);
        // Nulls and absent counts are zero.
        let mut v = message(json!([]), "end_turn");
        v["usage"] =
            json!({"input_tokens": 3, "output_tokens": null, "cache_read_input_tokens": null});
        let r = parse(v);
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (3, 0, 3)
        );
        assert_eq!(u.reasoning_tokens(), 0);
        assert!(u.completion_tokens_details.is_none());
        assert_eq!(r.choices[0].message.content, None);
    }

    #[test]
    fn forward_sets_the_client_model_and_returns_usage() {
        let body = message(json!([{"type": "text", "text": "hi"}]), "end_turn").to_string();
        let (out, usage) = crate::Adapter::Anthropic(adapter())
            .forward_chat_response(Bytes::from(body), "my-alias")
            .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "my-alias");
        assert_eq!(v["choices"][0]["message"]["content"], "hi");
        assert_eq!(usage.unwrap().total_tokens, 15);
    }

    #[test]
    fn bad_bodies_are_errors() {
        let a = adapter();
        let e = a.parse_chat_response(b"not json").unwrap_err();
        assert!(matches!(e, GatewayError::InvalidUpstreamResponse { .. }));
        let e = a
            .parse_chat_response(
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!(e.status(), 529);
        assert!(a.parse_embeddings_response(b"{}").is_err());
        assert!(a.forward_embeddings_response(Bytes::new(), "m").is_err());
    }
}
