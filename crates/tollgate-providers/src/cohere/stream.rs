//! The v2 chat stream decoder: Cohere's named SSE events in, OpenAI chunks out.
//!
//! `message-start` opens the message (the chunk with `role: assistant`); `content-delta`
//! carries text or thinking increments (thinking becomes `reasoning_content`);
//! `tool-plan-delta` is text the model writes before calling tools (content, as in a
//! non-streamed answer); `tool-call-start` / `tool-call-delta` open a call and stream its
//! arguments, which map one to one onto OpenAI's index-addressed tool-call fragments;
//! `citation-start` carries a citation (kept in `provider_specific_fields`); `message-end`
//! carries the finish reason and usage and ends the stream, whether or not a `data: [DONE]`
//! follows. A body that closes before `message-end` is an error, not a short answer.

use bytes::Bytes;
use serde_json::Value;
use tollgate_core::chat::FunctionCallDelta;
use tollgate_core::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, GatewayError, Role, ToolCallDelta,
};

use super::CohereAdapter;
use super::error::stream_error;
use super::response::{CohereUsage, finish_reason, now, provider_fields, unique_suffix, usage};
use crate::sse::SseDecoder;
use crate::stream_event::StreamEvent;

/// Decodes one upstream stream into typed chunks.
#[derive(Debug)]
pub struct CohereStreamDecoder {
    sse: SseDecoder,
    provider: &'static str,
    /// Chunk id: the `message-start` id (constant for the whole stream).
    id: Option<String>,
    created: i64,
    model: String,
    role_sent: bool,
    /// Cohere's tool-call index → ours (the order calls were opened in).
    calls: Vec<(u64, u32)>,
    /// `message-end`, an error or a broken event was seen; nothing follows.
    ended: bool,
}

impl CohereAdapter {
    /// A decoder for this deployment's chat stream.
    pub fn stream_decoder(&self) -> CohereStreamDecoder {
        CohereStreamDecoder {
            sse: SseDecoder::new(),
            provider: self.provider_name(),
            id: None,
            created: now(),
            model: self.upstream_model.clone(),
            role_sent: false,
            calls: Vec::new(),
            ended: false,
        }
    }
}

impl CohereStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        for ev in self.sse.feed(bytes) {
            if self.ended {
                break;
            }
            self.event(ev.event.as_deref(), &ev.data, &mut out);
        }
        out
    }

    /// The upstream closed the body: an error unless `message-end` was seen.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if let Some(ev) = self.sse.finish() {
            self.event(ev.event.as_deref(), &ev.data, &mut out);
        }
        if !self.ended {
            self.ended = true;
            out.push(StreamEvent::Error(GatewayError::Connection {
                provider: self.provider.to_owned(),
                message: "the provider closed the stream before it finished".into(),
            }));
        }
        out
    }

    fn event(&mut self, name: Option<&str>, data: &Bytes, out: &mut Vec<StreamEvent>) {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return;
        }
        let v: Value = match serde_json::from_slice(trimmed) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.fail(out, self.invalid("a stream event that is not an object")),
            Err(e) => return self.fail(out, self.invalid(&format!("bad stream event: {e}"))),
        };
        let kind = v.get("type").and_then(Value::as_str).or(name).unwrap_or("");
        let message = &v["delta"]["message"];
        match kind {
            "message-start" => {
                if let Some(id) = v
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|i| !i.is_empty())
                {
                    self.id.get_or_insert_with(|| id.to_owned());
                }
                if !self.role_sent {
                    self.emit(out, text_delta(Some(String::new()), None));
                }
            }
            "content-start" | "content-delta" => {
                let c = &message["content"];
                let thinking = c.get("thinking").and_then(Value::as_str);
                let text = c.get("text").and_then(Value::as_str);
                match (thinking, text) {
                    (Some(t), _) if !t.is_empty() => {
                        self.emit(out, text_delta(None, Some(t.to_owned())));
                    }
                    (_, Some(t)) if !t.is_empty() => {
                        self.emit(out, text_delta(Some(t.to_owned()), None));
                    }
                    _ => {}
                }
            }
            "tool-plan-delta" => {
                if let Some(t) = message
                    .get("tool_plan")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    self.emit(out, text_delta(Some(t.to_owned()), None));
                }
            }
            "tool-call-start" => self.call_start(&v, out),
            "tool-call-delta" => self.call_delta(&v, out),
            "citation-start" => {
                let citation = message.get("citations").cloned().unwrap_or(Value::Null);
                if !citation.is_null() {
                    let citations = match citation {
                        Value::Array(a) => a,
                        one => vec![one],
                    };
                    let delta = Delta {
                        extra: provider_fields("citations", Value::Array(citations)),
                        ..Delta::default()
                    };
                    self.emit(out, delta);
                }
            }
            "message-end" => self.end(&v, out),
            "error" => {
                let err = stream_error(500, &v);
                self.fail(out, err);
            }
            // content-end, tool-call-end, citation-end, debug and anything new carry nothing
            // a client needs.
            _ => {}
        }
    }

    fn call_start(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let raw = &v["delta"]["message"]["tool_calls"];
        // An object in every recording; an array of one is read too.
        let call = match raw {
            Value::Array(a) => a.first().unwrap_or(&Value::Null),
            other => other,
        };
        let ours = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
        let theirs = v
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(ours));
        self.calls.retain(|(t, _)| *t != theirs);
        self.calls.push((theirs, ours));
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| !i.is_empty())
            .map_or_else(
                || format!("call_{}_{ours}", self.chunk_id_prefix()),
                str::to_owned,
            );
        let f = &call["function"];
        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
        let head = ToolCallDelta {
            index: ours,
            id: Some(id),
            kind: Some("function".to_owned()),
            function: Some(FunctionCallDelta {
                name: Some(name.to_owned()),
                arguments: Some(String::new()),
            }),
        };
        self.emit(out, calls_delta(head));
        if let Some(args) = f
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            self.emit(out, calls_delta(fragment(ours, args)));
        }
    }

    fn call_delta(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let theirs = v.get("index").and_then(Value::as_u64);
        let ours = match theirs {
            Some(t) => self.calls.iter().find(|(c, _)| *c == t).map(|(_, o)| *o),
            None => self.calls.last().map(|(_, o)| *o),
        };
        let Some(ours) = ours else {
            return self.fail(
                out,
                self.invalid("tool-call-delta for a tool call that never started"),
            );
        };
        let raw = &v["delta"]["message"]["tool_calls"];
        let call = match raw {
            Value::Array(a) => a.first().unwrap_or(&Value::Null),
            other => other,
        };
        if let Some(args) = call["function"]
            .get("arguments")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        {
            self.emit(out, calls_delta(fragment(ours, args)));
        }
    }

    fn end(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let d = &v["delta"];
        let raw = d.get("finish_reason").and_then(Value::as_str);
        let finish = finish_reason(raw, !self.calls.is_empty());
        let mut closing = self.chunk(vec![ChunkChoice {
            index: 0,
            delta: Delta {
                role: (!self.role_sent).then_some(Role::Assistant),
                ..Delta::default()
            },
            finish_reason: Some(finish),
            logprobs: None,
            extra: Extra::new(),
        }]);
        self.role_sent = true;
        closing.usage = None;
        out.push(StreamEvent::Chunk(Box::new(closing)));
        if let Some(u) = d
            .get("usage")
            .and_then(|u| serde_json::from_value::<CohereUsage>(u.clone()).ok())
        {
            let mut c = self.chunk(Vec::new());
            c.usage = Some(Some(usage(&u)));
            out.push(StreamEvent::Chunk(Box::new(c)));
        }
        out.push(StreamEvent::Done);
        self.ended = true;
    }

    /// One chunk with this delta; the first one also says `role: assistant`.
    fn emit(&mut self, out: &mut Vec<StreamEvent>, mut delta: Delta) {
        if !self.role_sent {
            delta.role = Some(Role::Assistant);
            self.role_sent = true;
        }
        let chunk = self.chunk(vec![ChunkChoice {
            index: 0,
            delta,
            finish_reason: None,
            logprobs: None,
            extra: Extra::new(),
        }]);
        out.push(StreamEvent::Chunk(Box::new(chunk)));
    }

    fn chunk(&mut self, choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
        let id = self
            .id
            .get_or_insert_with(|| format!("chatcmpl-{}", unique_suffix()))
            .clone();
        ChatCompletionChunk {
            id,
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: None,
            system_fingerprint: None,
            service_tier: None,
            extra: Extra::new(),
        }
    }

    fn chunk_id_prefix(&mut self) -> String {
        self.id
            .get_or_insert_with(|| format!("chatcmpl-{}", unique_suffix()))
            .clone()
    }

    fn fail(&mut self, out: &mut Vec<StreamEvent>, e: GatewayError) {
        self.ended = true;
        out.push(StreamEvent::Error(e));
    }

    fn invalid(&self, message: &str) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.provider.to_owned(),
            message: message.to_owned(),
        }
    }
}

fn text_delta(content: Option<String>, reasoning: Option<String>) -> Delta {
    Delta {
        content,
        reasoning_content: reasoning,
        ..Delta::default()
    }
}

fn calls_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}

fn fragment(index: u32, arguments: &str) -> ToolCallDelta {
    ToolCallDelta {
        index,
        id: None,
        kind: None,
        function: Some(FunctionCallDelta {
            name: None,
            arguments: Some(arguments.to_owned()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, FinishReason, ModelRef};

    fn run(input: &[u8], piece: usize) -> Vec<StreamEvent> {
        let m = ModelRef::parse("cohere/command-a-03-2025", None).unwrap();
        let mut d = CohereAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
        .stream_decoder();
        let mut out = Vec::new();
        for c in input.chunks(piece.max(1)) {
            out.extend(d.feed(c));
        }
        out.extend(d.finish());
        out
    }

    fn sse(events: &[Value]) -> String {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect()
    }

    fn chunks(events: &[StreamEvent]) -> Vec<&ChatCompletionChunk> {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Chunk(c) => Some(&**c),
                _ => None,
            })
            .collect()
    }

    fn start() -> Value {
        json!({"type": "message-start", "id": "m1", "delta": {"message": {"role": "assistant",
            "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})
    }

    fn end(reason: &str) -> Value {
        json!({"type": "message-end", "delta": {"finish_reason": reason, "usage": {
            "billed_units": {"input_tokens": 1, "output_tokens": 2},
            "tokens": {"input_tokens": 10, "output_tokens": 3}, "cached_tokens": 8}}})
    }

    #[test]
    fn text_and_thinking_stream_then_finish_usage_and_done() {
        let input = sse(&[
            start(),
            json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "hm"}}}}),
            json!({"type": "content-end", "index": 0}),
            json!({"type": "content-start", "index": 1, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Hé"}}}}),
            json!({"type": "content-end", "index": 1}),
            end("COMPLETE"),
        ]) + "data: [DONE]\n\n";
        let whole = run(input.as_bytes(), input.len());
        for piece in [1, 2, 3, 7, 64] {
            assert_eq!(
                format!("{:?}", run(input.as_bytes(), piece)),
                format!("{whole:?}"),
                "piece {piece}"
            );
        }
        let c = chunks(&whole);
        assert_eq!(c.len(), 5);
        assert!(
            c.iter()
                .all(|c| c.id == "m1" && c.model == "command-a-03-2025")
        );
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(c[0].choices[0].delta.content.as_deref(), Some(""));
        assert_eq!(
            c[1].choices[0].delta.reasoning_content.as_deref(),
            Some("hm")
        );
        assert_eq!(c[2].choices[0].delta.content.as_deref(), Some("Hé"));
        assert_eq!(c[3].choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(c[3].choices[0].delta, Delta::default());
        assert!(c[4].choices.is_empty());
        let u = c[4].usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens()),
            (10, 3, 8)
        );
        assert!(matches!(whole.last(), Some(StreamEvent::Done)));
    }

    #[test]
    fn tool_plans_and_calls_stream_as_openai_fragments() {
        let input = sse(&[
            start(),
            json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}}),
            json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                "id": "c1", "type": "function", "function": {"name": "add", "arguments": ""}}}}}),
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{\"x\""}}}}}),
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": ":1}"}}}}}),
            json!({"type": "tool-call-end", "index": 0}),
            json!({"type": "tool-call-start", "index": 1, "delta": {"message": {"tool_calls": {
                "type": "function", "function": {"name": "neg", "arguments": "{}"}}}}}),
            json!({"type": "tool-call-end", "index": 1}),
            end("TOOL_CALL"),
        ]);
        let events = run(input.as_bytes(), 5);
        let c = chunks(&events);
        assert_eq!(c[1].choices[0].delta.content.as_deref(), Some("I will"));
        let head = &c[2].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (head.index, head.id.as_deref(), head.kind.as_deref()),
            (0, Some("c1"), Some("function"))
        );
        let f = head.function.as_ref().unwrap();
        assert_eq!(
            (f.name.as_deref(), f.arguments.as_deref()),
            (Some("add"), Some(""))
        );
        let frag = &c[3].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!((frag.index, frag.id.as_ref()), (0, None));
        assert_eq!(
            frag.function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"x\"")
        );
        let second = &c[5].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!((second.index, second.id.as_deref()), (1, Some("call_m1_1")));
        let args = &c[6].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            args.function.as_ref().unwrap().arguments.as_deref(),
            Some("{}")
        );
        assert_eq!(c[7].choices[0].finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn a_stream_without_message_end_is_an_error() {
        let input = sse(&[start()]);
        let events = run(input.as_bytes(), 3);
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Error(GatewayError::Connection { .. }))
        ));
        assert!(matches!(run(b"", 1).as_slice(), [StreamEvent::Error(_)]));
        // `[DONE]` alone does not finish a message.
        assert!(matches!(
            run(b"data: [DONE]\n\n", 1).as_slice(),
            [StreamEvent::Error(_)]
        ));
    }

    #[test]
    fn errors_and_garbage_end_the_stream_once() {
        let input = sse(&[start()])
            + "event: error\ndata: {\"message\":\"internal\"}\n\n"
            + &sse(&[end("COMPLETE")]);
        let events = run(input.as_bytes(), 4);
        assert_eq!(events.len(), 2);
        match &events[1] {
            StreamEvent::Error(e) => {
                assert_eq!(e.status(), 500);
                assert!(e.to_string().contains("CohereException - internal"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let events = run(b"event: content-delta\ndata: {nope\n\n", 2);
        assert!(matches!(
            events.as_slice(),
            [StreamEvent::Error(
                GatewayError::InvalidUpstreamResponse { .. }
            )]
        ));
        let input = sse(&[
            start(),
            json!({"type": "tool-call-delta", "index": 3,
            "delta": {"message": {"tool_calls": {"function": {"arguments": "x"}}}}}),
        ]);
        let events = run(input.as_bytes(), 9);
        assert!(matches!(events.last(), Some(StreamEvent::Error(_))));
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Error(_)))
                .count(),
            1
        );
    }

    #[test]
    fn citations_ride_on_the_delta() {
        let input = sse(&[
            start(),
            json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {
                "start": 0, "end": 2, "text": "-3", "sources": []}}}}),
            json!({"type": "citation-end", "index": 0}),
            end("COMPLETE"),
        ]);
        let events = run(input.as_bytes(), 64);
        let c = chunks(&events);
        assert_eq!(
            c[1].choices[0].delta.extra["provider_specific_fields"]["citations"],
            json!([{"start": 0, "end": 2, "text": "-3", "sources": []}])
        );
    }
}
