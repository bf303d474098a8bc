//! Converse and InvokeModel responses to OpenAI ones.
//!
//! Converse: text blocks are joined into `content`; `toolUse` blocks become `tool_calls`
//! (`id` = `toolUseId`, the input re-encoded as a JSON string); `reasoningContent` becomes
//! LiteLLM's `reasoning_content` plus `thinking_blocks` (signature kept, `redactedContent` as
//! `redacted_thinking`); usage counts cache reads and writes into `prompt_tokens` as LiteLLM
//! does (Bedrock's `inputTokens` excludes them). Bedrock sends no id or timestamp, so the
//! response gets a fresh `chatcmpl-` id and the current time.
//!
//! InvokeModel embeddings: Titan's `{"embedding", "inputTextTokenCount"}` and Cohere's
//! `{"embeddings": [[...]] | {"float": [[...]]}}`.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_core::chat::{FunctionCall, ToolCall};
use tollgate_core::embeddings::{Embedding, EmbeddingVector, EmbeddingsUsage};
use tollgate_core::usage::PromptTokensDetails;
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, Choice, EmbeddingsResponse, Extra, FinishReason,
    GatewayError, MessageContent, Role, Usage,
};

use super::request::EmbeddingFamily;
use super::{BedrockAdapter, JSON_TOOL_NAME, PROVIDER_NAME, new_completion_id};

/// The parts of a Converse response the translation reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<ConverseUsage>,
    #[serde(default)]
    trace: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Output {
    #[serde(default)]
    message: Option<OutputMessage>,
}

#[derive(Debug, Deserialize)]
struct OutputMessage {
    /// Kept as JSON: block types this code does not know must not fail the response.
    #[serde(default)]
    content: Vec<Value>,
}

/// Converse `usage` (also the `metadata` event's).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConverseUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

impl ConverseUsage {
    /// OpenAI usage as LiteLLM reports it: prompt = input + cache read + cache write,
    /// cached = cache read, both cache counts repeated Anthropic-style at the top level.
    pub fn to_openai(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_write_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.saturating_add(read).saturating_add(write);
        let mut extra = Extra::new();
        extra.insert("cache_creation_input_tokens".into(), Value::from(write));
        extra.insert("cache_read_input_tokens".into(), Value::from(read));
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output_tokens,
            total_tokens: self
                .total_tokens
                .unwrap_or_else(|| prompt.saturating_add(self.output_tokens)),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(read),
                ..PromptTokensDetails::default()
            }),
            completion_tokens_details: None,
            extra,
        }
    }
}

/// Bedrock's `stopReason` in OpenAI's vocabulary (§0.3). Values LiteLLM leaves unmapped
/// become `stop`, except a full context window, which cut the output: `length`.
pub(super) fn map_stop_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("guardrail_intervened" | "content_filtered") => FinishReason::ContentFilter,
        // end_turn, stop_sequence, malformed_model_output, malformed_tool_use, anything new.
        _ => FinishReason::Stop,
    }
}

impl BedrockAdapter {
    /// Parses a 2xx Converse response into an OpenAI chat completion with a fresh id,
    /// created now.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        self.parse_chat_response_at(body, new_completion_id(), crate::anthropic::now_unix())
    }

    /// As [`Self::parse_chat_response`], with id and `created` given.
    pub fn parse_chat_response_at(
        &self,
        body: &[u8],
        id: String,
        created: i64,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        let raw: ConverseResponse = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
        Ok(translate(raw, id, created, &self.model))
    }

    /// Parses an InvokeModel embeddings response (Titan or Cohere, by the model).
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| invalid(&e))?;
        let family = self.embedding_family()?;
        let (vectors, usage) = match family {
            EmbeddingFamily::Titan => {
                // One answer, or the answers of a split batch merged into an array.
                let answers = match &v {
                    Value::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                let mut vectors = Vec::with_capacity(answers.len());
                let mut tokens = 0u64;
                for a in answers {
                    vectors.push(float_vector(a.get("embedding")).ok_or_else(|| {
                        missing("a Titan embeddings response has no `embedding`")
                    })?);
                    tokens += a
                        .get("inputTextTokenCount")
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                }
                (
                    vectors,
                    EmbeddingsUsage {
                        prompt_tokens: tokens,
                        total_tokens: tokens,
                        extra: Extra::new(),
                    },
                )
            }
            EmbeddingFamily::Cohere => {
                // `embeddings` is a list of vectors, or by type when `embedding_types` was
                // given (`{"float": [[...]], ...}`).
                let list = match v.get("embeddings") {
                    Some(Value::Object(by_type)) => by_type.get("float"),
                    other => other,
                };
                let vectors = list
                    .and_then(Value::as_array)
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|i| float_vector(Some(i)))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        missing("a Cohere embeddings response has no float `embeddings`")
                    })?;
                // Cohere on Bedrock reports no token count in the body.
                (vectors, EmbeddingsUsage::default())
            }
        };
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(i, vector)| Embedding {
                object: "embedding".to_owned(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding: EmbeddingVector::Float(vector),
                extra: Extra::new(),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: self.model.clone(),
            usage: Some(usage),
            extra: Extra::new(),
        })
    }

    /// The client-facing embeddings body under the client's model name, and the usage for
    /// accounting (`None` for Cohere, which counts nothing).
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
            .filter(|u| u.prompt_tokens > 0)
            .map(|u| Usage::new(u.prompt_tokens, 0));
        let out =
            serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok((Bytes::from(out), usage))
    }
}

fn float_vector(v: Option<&Value>) -> Option<Vec<f32>> {
    v?.as_array()?
        .iter()
        .map(|x| {
            #[allow(clippy::cast_possible_truncation)]
            x.as_f64().map(|f| f as f32)
        })
        .collect()
}

fn translate(
    raw: ConverseResponse,
    id: String,
    created: i64,
    model: &str,
) -> ChatCompletionResponse {
    let mut text = String::new();
    let mut json_content: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut reasoning = String::new();
    let content = raw
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    for block in content {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            let field = |name: &str| tool.get(name).and_then(Value::as_str).unwrap_or_default();
            let arguments = tool
                .get("input")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()))
                .to_string();
            if field("name") == JSON_TOOL_NAME {
                // response_format emulation: the forced tool's input is the answer.
                json_content = Some(arguments);
            } else {
                tool_calls.push(ToolCall {
                    id: field("toolUseId").to_owned(),
                    kind: "function".to_owned(),
                    function: FunctionCall {
                        name: field("name").to_owned(),
                        arguments,
                    },
                    extra: Extra::new(),
                });
            }
        } else if let Some(r) = block.get("reasoningContent") {
            if let Some(rt) = r.get("reasoningText") {
                let thinking = rt.get("text").and_then(Value::as_str).unwrap_or_default();
                reasoning.push_str(thinking);
                let mut b = Map::new();
                b.insert("type".into(), json!("thinking"));
                b.insert("thinking".into(), json!(thinking));
                if let Some(sig) = rt.get("signature").filter(|s| !s.is_null()) {
                    b.insert("signature".into(), sig.clone());
                }
                thinking_blocks.push(Value::Object(b));
            } else if let Some(data) = r.get("redactedContent") {
                thinking_blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
        // Images, documents, citations and future block types have no OpenAI counterpart.
    }

    let mut finish = map_stop_reason(raw.stop_reason.as_deref());
    if !tool_calls.is_empty() {
        finish = FinishReason::ToolCalls;
    } else if finish == FinishReason::ToolCalls {
        // Only the JSON-mode tool was called: to the client that is a finished answer.
        finish = FinishReason::Stop;
    }
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
    let mut response_extra = Extra::new();
    if let Some(trace) = raw.trace.filter(|t| !t.is_null()) {
        // Guardrail traces, which LiteLLM also passes on.
        response_extra.insert("trace".into(), trace);
    }
    ChatCompletionResponse {
        id,
        object: "chat.completion".to_owned(),
        created,
        model: model.to_owned(),
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
        extra: response_extra,
    }
}

fn invalid(e: &serde_json::Error) -> GatewayError {
    GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message: e.to_string(),
    }
}

fn missing(message: &str) -> GatewayError {
    GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> ChatCompletionResponse {
        let raw: ConverseResponse = serde_json::from_value(v).unwrap();
        translate(raw, "chatcmpl-x".into(), 7, "m")
    }

    #[test]
    fn reasoning_tools_usage_and_finish() {
        let r = parse(json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
                {"reasoningContent": {"redactedContent": "b64"}},
                {"text": "a"}, {"text": "b"},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "f", "input": {"x": 1}}}
            ]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 2, "outputTokens": 5, "totalTokens": 1329,
                      "cacheReadInputTokens": 1322, "cacheWriteInputTokens": 0}
        }));
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.message.text_content().as_deref(), Some("ab"));
        assert_eq!(c.message.reasoning_content.as_deref(), Some("think"));
        assert_eq!(
            c.message.extra["thinking_blocks"],
            json!([{"type": "thinking", "thinking": "think", "signature": "sig"},
                   {"type": "redacted_thinking", "data": "b64"}])
        );
        let call = &c.message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.id.as_str(), call.function.arguments.as_str()),
            ("tooluse_1", "{\"x\":1}")
        );
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (1324, 5, 1329)
        );
        assert_eq!(u.cached_tokens(), 1322);
        assert_eq!(u.extra["cache_read_input_tokens"], 1322);
        assert_eq!(
            (r.id.as_str(), r.created, r.model.as_str()),
            ("chatcmpl-x", 7, "m")
        );
    }

    #[test]
    fn stop_reasons() {
        for (reason, want) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("guardrail_intervened", FinishReason::ContentFilter),
            ("content_filtered", FinishReason::ContentFilter),
            ("malformed_tool_use", FinishReason::Stop),
            ("tool_use", FinishReason::Stop),
        ] {
            let r = parse(
                json!({"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason}),
            );
            assert_eq!(r.choices[0].finish_reason, Some(want), "{reason}");
        }
        let r = parse(json!({"output": {"message": {"content": [
            {"toolUse": {"toolUseId": "t", "name": JSON_TOOL_NAME, "input": {"city": "Paris"}}}
        ]}}, "stopReason": "tool_use", "trace": {"guardrail": {}}}));
        assert_eq!(
            r.choices[0].message.text_content().as_deref(),
            Some("{\"city\":\"Paris\"}")
        );
        assert!(r.choices[0].message.tool_calls.is_none());
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(r.extra["trace"], json!({"guardrail": {}}));
    }
}
