//! Response bytes to our types, and the byte-forwarding path for the proxy.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, EmbeddingsResponse, FinishReason, GatewayError, Usage,
    embeddings::EmbeddingsUsage,
};

use super::OpenAiAdapter;
use crate::json_splice::replace_top_level_string;

/// Just the part of a response or chunk the gateway must see; the rest is skipped unparsed.
#[derive(Debug, Deserialize)]
pub(super) struct UsageTap {
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl OpenAiAdapter {
    /// Parses a 2xx chat response into our type (normalised for the family's deviations).
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        let mut response: ChatCompletionResponse = match serde_json::from_slice(body) {
            Ok(r) => r,
            // Magistral answers with `content` as an array of thinking and text chunks, which
            // our message type does not take; only then is the body read a second time.
            Err(e) if self.profile.normalize => {
                flatten_thinking_chunks(body).ok_or_else(|| self.invalid(e))?
            }
            Err(e) => return Err(self.invalid(e)),
        };
        if self.profile.normalize {
            normalize_response(&mut response);
        }
        Ok(response)
    }

    /// The client-facing body and its usage. When the provider speaks plain OpenAI the bytes
    /// are forwarded as received, with only `model` replaced by the name the client asked for.
    pub fn forward_chat_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        if self.forwards_bytes() {
            let tap: UsageTap = serde_json::from_slice(&body).map_err(|e| self.invalid(e))?;
            let out = replace_top_level_string(&body, "model", client_model).unwrap_or(body);
            return Ok((out, tap.usage));
        }
        let mut response = self.parse_chat_response(&body)?;
        client_model.clone_into(&mut response.model);
        let usage = response.usage.clone();
        let out =
            serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok((Bytes::from(out), usage))
    }

    /// The client-facing embeddings body (the provider's bytes, `model` replaced) and its usage.
    pub fn forward_embeddings_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        #[derive(Deserialize)]
        struct Tap {
            #[serde(default)]
            usage: Option<EmbeddingsUsage>,
        }
        let tap: Tap = serde_json::from_slice(&body).map_err(|e| self.invalid(e))?;
        let out = replace_top_level_string(&body, "model", client_model).unwrap_or(body);
        Ok((out, tap.usage.map(|u| Usage::new(u.prompt_tokens, 0))))
    }

    /// Parses a 2xx embeddings response.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        serde_json::from_slice(body).map_err(|e| self.invalid(e))
    }

    pub(super) fn invalid(&self, e: serde_json::Error) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.profile.name.to_owned(),
            message: e.to_string(),
        }
    }
}

/// Brings a family member's response to OpenAI's shape: reasoning under `reasoning_content`,
/// finish reasons OpenAI defines, `tool_calls` as the finish reason when tools were called.
pub(super) fn normalize_response(response: &mut ChatCompletionResponse) {
    for choice in &mut response.choices {
        normalize_message(&mut choice.message);
        let called_tools = choice
            .message
            .tool_calls
            .as_ref()
            .is_some_and(|c| !c.is_empty());
        choice.finish_reason = choice
            .finish_reason
            .take()
            .map(|r| normalize_finish(r, called_tools));
    }
}

/// Maps finish reasons outside OpenAI's set the way LiteLLM does.
pub(super) fn normalize_finish(reason: FinishReason, called_tools: bool) -> FinishReason {
    let reason = match reason {
        FinishReason::Other(s) => match s.as_str() {
            "eos" | "eos_token" | "end_turn" | "stop_sequence" | "error" => FinishReason::Stop,
            "model_length" | "max_tokens" => FinishReason::Length,
            "tool_use" => FinishReason::ToolCalls,
            _ => FinishReason::Other(s),
        },
        known => known,
    };
    if called_tools && reason == FinishReason::Stop {
        FinishReason::ToolCalls
    } else {
        reason
    }
}

fn normalize_message(message: &mut ChatMessage) {
    if message.reasoning_content.is_none() {
        if let Some(Value::String(r)) = message.extra.shift_remove("reasoning") {
            message.reasoning_content = Some(r);
        }
    }
    if message.reasoning_content.is_none() {
        if let Some(tollgate_core::MessageContent::Text(text)) = &message.content {
            if let Some((reasoning, answer)) = split_think(text) {
                message.reasoning_content = Some(reasoning);
                message.content = Some(tollgate_core::MessageContent::Text(answer));
            }
        }
    }
}

/// Reads a response whose messages carry Mistral's chunked content
/// (`[{"type":"thinking","thinking":[{"type":"text","text"}]},{"type":"text","text"}]`), moving
/// the thinking text to `reasoning_content` and the text chunks to a plain string `content`.
/// `None` when the body is not such a response.
fn flatten_thinking_chunks(body: &[u8]) -> Option<ChatCompletionResponse> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    for choice in value.get_mut("choices")?.as_array_mut()? {
        let Some(message) = choice.get_mut("message").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(Value::Array(parts)) = message.get("content") else {
            continue;
        };
        let mut reasoning = String::new();
        let mut text = String::new();
        let mut has_thinking = false;
        for part in parts {
            match part.get("type").and_then(Value::as_str) {
                Some("thinking") => {
                    has_thinking = true;
                    match part.get("thinking") {
                        Some(Value::String(s)) => reasoning.push_str(s),
                        Some(Value::Array(inner)) => {
                            for t in inner {
                                if let Some(s) = t.get("text").and_then(Value::as_str) {
                                    reasoning.push_str(s);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some("text") => text.push_str(part.get("text").and_then(Value::as_str)?),
                // Any other chunk: not ours to flatten.
                _ => return None,
            }
        }
        if !has_thinking {
            continue;
        }
        message.insert("content".into(), Value::String(text));
        if !message
            .get("reasoning_content")
            .is_some_and(Value::is_string)
        {
            message.insert("reasoning_content".into(), Value::String(reasoning));
        }
        changed = true;
    }
    if !changed {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// `<think>reasoning</think>answer` (DeepSeek-R1 style models behind vLLM, Together, Groq raw).
fn split_think(text: &str) -> Option<(String, String)> {
    let rest = text.trim_start().strip_prefix("<think>")?;
    let (reasoning, answer) = rest.split_once("</think>")?;
    Some((reasoning.trim().to_owned(), answer.trim_start().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasoning_variants_land_in_reasoning_content() {
        let mut r: ChatCompletionResponse = serde_json::from_value(json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi", "reasoning": "because"}, "finish_reason": "eos"},
                {"index": 1, "message": {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nYes"}, "finish_reason": "stop"},
                {"index": 2, "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}, "finish_reason": "stop"}
            ]
        }))
        .unwrap();
        normalize_response(&mut r);
        assert_eq!(
            r.choices[0].message.reasoning_content.as_deref(),
            Some("because")
        );
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
        assert!(!r.choices[0].message.extra.contains_key("reasoning"));
        assert_eq!(
            r.choices[1].message.reasoning_content.as_deref(),
            Some("hmm")
        );
        assert_eq!(r.choices[1].message.text_content().as_deref(), Some("Yes"));
        assert_eq!(r.choices[2].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(
            r.choices[2].message.tool_calls.as_ref().unwrap()[0]
                .function
                .arguments,
            "{\"a\":1}"
        );
    }
}
