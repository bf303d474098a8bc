//! A chat answer turned into an Anthropic `message` object.

use serde_json::{Map, Value, json};
use tollgate_core::chat::{FinishReason, MessageContent};
use tollgate_core::{ChatCompletionResponse, Usage};

/// A fresh id such as `msg_0f3c...`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Anthropic's `stop_reason` for a chat `finish_reason`.
pub(crate) fn stop_reason(finish: Option<&FinishReason>) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage object. Chat's `prompt_tokens` includes cache reads; Anthropic counts
/// them apart, so `input_tokens` is what was not read from the cache.
pub(crate) fn usage_object(usage: Option<&Usage>) -> Value {
    let Some(u) = usage else {
        return json!({"input_tokens": 0, "output_tokens": 0});
    };
    let extra_u64 = |k: &str| u.extra.get(k).and_then(Value::as_u64);
    let read = extra_u64("cache_read_input_tokens").unwrap_or_else(|| u.cached_tokens());
    let creation = extra_u64("cache_creation_input_tokens").unwrap_or(0);
    let input = u
        .prompt_tokens
        .saturating_sub(read)
        .saturating_sub(creation);
    let mut o = Map::new();
    o.insert("input_tokens".into(), Value::from(input));
    o.insert("output_tokens".into(), Value::from(u.completion_tokens));
    o.insert("cache_creation_input_tokens".into(), Value::from(creation));
    o.insert("cache_read_input_tokens".into(), Value::from(read));
    Value::Object(o)
}

/// Tool arguments as the `input` object; arguments that are not a JSON object (a model that
/// wrote broken JSON) are kept as a string under `raw_arguments` rather than lost.
pub(crate) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "raw_arguments": arguments }),
    }
}

/// The `message` answering a Messages request, `model` being the name the client asked for.
pub fn from_chat_response(answer: &ChatCompletionResponse, model: &str, id: &str) -> Value {
    let mut content = Vec::new();
    let choice = answer.choices.first();
    if let Some(m) = choice.map(|c| &c.message) {
        match m.extra.get("thinking_blocks").and_then(Value::as_array) {
            Some(blocks) if !blocks.is_empty() => content.extend(blocks.iter().cloned()),
            _ => {
                if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                    content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
                }
            }
        }
        let text = match &m.content {
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    tollgate_core::chat::ContentPart::Text { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(""),
            None => String::new(),
        };
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in m.tool_calls.iter().flatten() {
            content.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": tool_input(&call.function.arguments),
            }));
        }
    }
    let has_tool_use = content.iter().any(|b| b["type"] == "tool_use");
    let finish = choice.and_then(|c| c.finish_reason.as_ref());
    // Some providers end a tool-calling turn with `stop`; Claude clients loop on `tool_use`.
    let stop = if has_tool_use && matches!(finish, None | Some(FinishReason::Stop)) {
        "tool_use"
    } else {
        stop_reason(finish)
    };
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage_object(answer.usage.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn answer(v: Value) -> ChatCompletionResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_tool_calls_and_usage() {
        let a = answer(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me check.", "reasoning_content": "think",
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_tokens_details": {"cached_tokens": 40}}
        }));
        let m = from_chat_response(&a, "claude-x", "msg_1");
        assert_eq!(
            m["content"],
            json!([
                {"type": "thinking", "thinking": "think", "signature": ""},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
            ])
        );
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["model"], "claude-x");
        assert_eq!(m["usage"]["input_tokens"], 60);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 40);
        assert_eq!(m["usage"]["output_tokens"], 20);
    }

    #[test]
    fn stop_reasons_and_broken_arguments() {
        let a = answer(json!({
            "id": "c", "object": "chat.completion", "created": 1, "model": "gpt",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": "abc"}}]
        }));
        let m = from_chat_response(&a, "x", "msg_1");
        assert_eq!(m["stop_reason"], "max_tokens");
        assert_eq!(m["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
        assert_eq!(
            tool_input("{not json"),
            json!({"raw_arguments": "{not json"})
        );
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(stop_reason(Some(&FinishReason::ContentFilter)), "refusal");
    }
}
