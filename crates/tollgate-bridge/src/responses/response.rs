//! A chat completion turned into a Responses API `response` object.

use serde_json::{Map, Value, json};
use tollgate_core::chat::{FinishReason, MessageContent};
use tollgate_core::{ChatCompletionResponse, ChatMessage, GatewayError, Usage};

use super::request::{ResponsesRequest, encode_thinking_blocks};

/// A new id with the Responses API's prefix (`resp`, `msg`, `rs`, `fc`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// How a response ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    InProgress,
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
    Failed(GatewayError),
}

impl Outcome {
    /// The outcome a chat finish reason stands for.
    pub fn from_finish(reason: Option<&FinishReason>) -> Self {
        match reason {
            Some(FinishReason::Length) => Self::Incomplete("max_output_tokens"),
            Some(FinishReason::ContentFilter) => Self::Incomplete("content_filter"),
            _ => Self::Completed,
        }
    }

    fn status(&self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
            Self::Failed(_) => "failed",
        }
    }
}

/// The `response` object: what the request asked for echoed back, with output and usage.
pub fn response_object(
    id: &str,
    created_at: i64,
    req: &ResponsesRequest,
    outcome: &Outcome,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    let reasoning = req
        .reasoning
        .clone()
        .unwrap_or_else(|| json!({"effort": null, "summary": null}));
    let text = req
        .text
        .clone()
        .unwrap_or_else(|| json!({"format": {"type": "text"}}));
    let error = match outcome {
        Outcome::Failed(e) => {
            let body = e.to_body();
            json!({"code": body.error.error_type.unwrap_or_else(|| "server_error".into()),
                "message": body.error.message})
        }
        _ => Value::Null,
    };
    let incomplete = match outcome {
        Outcome::Incomplete(reason) => json!({"reason": reason}),
        _ => Value::Null,
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(id));
    o.insert("object".into(), json!("response"));
    o.insert("created_at".into(), json!(created_at));
    o.insert("status".into(), json!(outcome.status()));
    o.insert("background".into(), json!(false));
    o.insert("error".into(), error);
    o.insert("incomplete_details".into(), incomplete);
    o.insert("instructions".into(), json!(req.instructions));
    o.insert("max_output_tokens".into(), json!(req.max_output_tokens));
    o.insert("model".into(), json!(req.model));
    o.insert("output".into(), Value::Array(output));
    o.insert(
        "parallel_tool_calls".into(),
        json!(req.parallel_tool_calls.unwrap_or(true)),
    );
    o.insert(
        "previous_response_id".into(),
        json!(req.previous_response_id),
    );
    o.insert("reasoning".into(), reasoning);
    o.insert("store".into(), json!(req.wants_store()));
    o.insert("temperature".into(), json!(req.temperature.unwrap_or(1.0)));
    o.insert("text".into(), text);
    o.insert(
        "tool_choice".into(),
        req.tool_choice.clone().unwrap_or_else(|| json!("auto")),
    );
    o.insert(
        "tools".into(),
        Value::Array(req.tools.clone().unwrap_or_default()),
    );
    o.insert("top_p".into(), json!(req.top_p.unwrap_or(1.0)));
    o.insert(
        "truncation".into(),
        json!(req.truncation.as_deref().unwrap_or("disabled")),
    );
    o.insert("usage".into(), usage.map_or(Value::Null, responses_usage));
    o.insert("user".into(), json!(req.user));
    o.insert(
        "metadata".into(),
        Value::Object(req.metadata.clone().unwrap_or_default()),
    );
    Value::Object(o)
}

/// Chat usage in the Responses shape.
pub fn responses_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens()},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens()},
        "total_tokens": u.total_tokens,
    })
}

/// A reasoning output item; `encrypted_content` carries provider thinking blocks (signatures
/// included) when the client asked for it.
pub fn reasoning_item(id: &str, summary: &str, blocks: Option<&Value>) -> Value {
    let summary: Vec<Value> = if summary.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "summary_text", "text": summary})]
    };
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
    if let Some(blocks) = blocks {
        item["encrypted_content"] = json!(encode_thinking_blocks(blocks));
    }
    item
}

/// An assistant message item holding output text (and annotations) or a refusal.
pub fn message_item(id: &str, status: &str, text: &str, annotations: Option<&Value>) -> Value {
    json!({"id": id, "type": "message", "status": status, "role": "assistant",
        "content": [output_text_part(text, annotations)]})
}

/// One `output_text` content part.
pub fn output_text_part(text: &str, annotations: Option<&Value>) -> Value {
    json!({"type": "output_text", "text": text,
        "annotations": annotations.cloned().unwrap_or_else(|| json!([])), "logprobs": []})
}

/// A function call output item.
pub fn function_call_item(id: &str, status: &str, call_id: &str, name: &str, args: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "call_id": call_id,
        "name": name, "arguments": args})
}

/// The output items of one chat answer, in the order a Responses model emits them: reasoning,
/// message, function calls.
pub fn output_items(message: &ChatMessage, encrypted_reasoning: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let blocks = message
        .extra
        .get("thinking_blocks")
        .filter(|b| b.as_array().is_some_and(|a| !a.is_empty()));
    let summary = message.reasoning_content.as_deref().unwrap_or("");
    if !summary.is_empty() || blocks.is_some() {
        out.push(reasoning_item(
            &new_id("rs"),
            summary,
            blocks.filter(|_| encrypted_reasoning),
        ));
    }
    let text = match &message.content {
        Some(MessageContent::Text(t)) => t.clone(),
        Some(c @ MessageContent::Parts(_)) => c.text(),
        None => String::new(),
    };
    if let Some(refusal) = message.refusal.as_deref().filter(|r| !r.is_empty()) {
        out.push(
            json!({"id": new_id("msg"), "type": "message", "status": "completed",
            "role": "assistant", "content": [{"type": "refusal", "refusal": refusal}]}),
        );
    } else if !text.is_empty() {
        out.push(message_item(
            &new_id("msg"),
            "completed",
            &text,
            message.extra.get("annotations"),
        ));
    }
    for call in message.tool_calls.iter().flatten() {
        out.push(function_call_item(
            &new_id("fc"),
            "completed",
            &call.id,
            &call.function.name,
            &call.function.arguments,
        ));
    }
    out
}

/// The whole non-streaming answer.
pub fn from_chat_response(
    chat: &ChatCompletionResponse,
    req: &ResponsesRequest,
    id: &str,
    created_at: i64,
) -> Value {
    let choice = chat.choices.first();
    let output = choice
        .map(|c| output_items(&c.message, req.wants_encrypted_reasoning()))
        .unwrap_or_default();
    let outcome = Outcome::from_finish(choice.and_then(|c| c.finish_reason.as_ref()));
    response_object(id, created_at, req, &outcome, output, chat.usage.as_ref())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn req(v: Value) -> ResponsesRequest {
        serde_json::from_value(v).unwrap()
    }

    fn chat(v: Value) -> ChatCompletionResponse {
        serde_json::from_value(v).unwrap()
    }

    fn strip_ids(mut v: Value) -> Value {
        for item in v["output"].as_array_mut().into_iter().flatten() {
            let id = item["id"].as_str().unwrap().to_owned();
            assert!(id.len() > 4 && id.contains('_'), "{id}");
            item["id"] = json!("ID");
        }
        v
    }

    #[test]
    fn text_answer_becomes_a_completed_message_with_usage() {
        let c = chat(
            json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2}}}),
        );
        let r = strip_ids(from_chat_response(
            &c,
            &req(json!({"model": "alias", "input": "q", "instructions": "be brief"})),
            "resp_1",
            7,
        ));
        assert_eq!(r["id"], "resp_1");
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model"], "alias");
        assert_eq!(r["instructions"], "be brief");
        assert_eq!(
            r["output"],
            json!([{"id": "ID", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Paris.", "annotations": [], "logprobs": []}]}])
        );
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 14, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 22})
        );
        assert_eq!(r["incomplete_details"], Value::Null);
        assert_eq!(r["tool_choice"], "auto");
        assert_eq!(r["store"], true);
    }

    #[test]
    fn reasoning_and_tool_calls_become_items_in_order() {
        let blocks = json!([{"type": "thinking", "thinking": "t", "signature": "s"}]);
        let c = chat(
            json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
                "content": null, "reasoning_content": "think", "thinking_blocks": blocks,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"a\":1}"}}]}}]}),
        );
        let plain = strip_ids(from_chat_response(
            &c,
            &req(json!({"model": "m", "input": "q"})),
            "r",
            1,
        ));
        assert_eq!(
            plain["output"],
            json!([
                {"id": "ID", "type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
                {"id": "ID", "type": "function_call", "status": "completed", "call_id": "call_1",
                    "name": "get", "arguments": "{\"a\":1}"}
            ])
        );
        let with = from_chat_response(
            &c,
            &req(json!({"model": "m", "input": "q", "include": ["reasoning.encrypted_content"]})),
            "r",
            1,
        );
        assert_eq!(
            with["output"][0]["encrypted_content"],
            json!(encode_thinking_blocks(&blocks))
        );
    }

    #[test]
    fn a_length_stop_is_incomplete_with_its_reason() {
        let c = chat(
            json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Par"}, "finish_reason": "length"}]}),
        );
        let r = from_chat_response(&c, &req(json!({"model": "m", "input": "q"})), "r", 1);
        assert_eq!(r["status"], "incomplete");
        assert_eq!(
            r["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(r["output"][0]["content"][0]["text"], "Par");
    }
}
