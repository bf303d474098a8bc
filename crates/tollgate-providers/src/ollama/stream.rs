//! The `/api/chat` stream decoder: NDJSON lines in, OpenAI chunks out.
//!
//! Each `done: false` line carries increments of `message.content` and `message.thinking`
//! (thinking becomes `reasoning_content`); tool calls arrive whole in one line and become an
//! opening fragment (id, type, name, empty arguments) followed by one with the arguments. The
//! `done: true` line carries `done_reason` and the counts: it becomes the finish chunk, the
//! `choices: []` usage chunk and `Done`. An `{"error": "..."}` line ends the stream with that
//! error, and a body that closes before `done: true` is an error, not a short answer.

use tollgate_core::chat::FunctionCallDelta;
use tollgate_core::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, GatewayError, Role, ToolCallDelta,
};

use super::OllamaAdapter;
use super::error::error_from_value;
use super::response::{CallIds, ChatObject, call_parts, finish_reason, now, unique_suffix};
use crate::ndjson::NdjsonDecoder;
use crate::stream_event::StreamEvent;

/// Decodes one upstream stream into typed chunks.
#[derive(Debug)]
pub struct OllamaStreamDecoder {
    lines: NdjsonDecoder,
    provider: &'static str,
    /// Ollama streams have no id; one is made per stream.
    id: String,
    created: i64,
    model: String,
    role_sent: bool,
    ids: CallIds,
    calls: u32,
    /// `done: true`, an error or a broken line was seen; nothing follows.
    ended: bool,
}

impl OllamaAdapter {
    /// A decoder for this deployment's chat stream.
    pub fn stream_decoder(&self) -> OllamaStreamDecoder {
        OllamaStreamDecoder {
            lines: NdjsonDecoder::new(),
            provider: self.provider_name(),
            id: format!("chatcmpl-{}", unique_suffix()),
            created: now(),
            model: self.upstream_model.clone(),
            role_sent: false,
            ids: CallIds::default(),
            calls: 0,
            ended: false,
        }
    }
}

impl OllamaStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        for line in self.lines.feed(bytes) {
            if self.ended {
                break;
            }
            self.line(&line, &mut out);
        }
        out
    }

    /// The upstream closed the body: an error unless `done: true` was seen.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if let Some(line) = self.lines.finish() {
            self.line(&line, &mut out);
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

    fn line(&mut self, line: &[u8], out: &mut Vec<StreamEvent>) {
        let obj: ChatObject = match serde_json::from_slice(line) {
            Ok(o) => o,
            Err(e) => {
                self.ended = true;
                out.push(StreamEvent::Error(GatewayError::InvalidUpstreamResponse {
                    provider: self.provider.to_owned(),
                    message: format!("bad stream line: {e}"),
                }));
                return;
            }
        };
        if let Some(err) = &obj.error {
            self.ended = true;
            out.push(StreamEvent::Error(error_from_value(500, err)));
            return;
        }
        if let Some(m) = obj.model.as_deref().filter(|m| !m.is_empty()) {
            m.clone_into(&mut self.model);
        }
        let thinking = obj.thinking().filter(|t| !t.is_empty());
        let text = obj.text().filter(|t| !t.is_empty());
        if thinking.is_some() || text.is_some() || !self.role_sent {
            let first = !self.role_sent;
            let delta = Delta {
                // OpenAI's first chunk says `content: ""` unless it opens with tool calls.
                content: match text {
                    Some(t) => Some(t.to_owned()),
                    None if first && obj.tool_calls().is_empty() => Some(String::new()),
                    None => None,
                },
                reasoning_content: thinking.map(str::to_owned),
                ..Delta::default()
            };
            if delta.content.is_some() || delta.reasoning_content.is_some() {
                self.emit(out, delta);
            }
        }
        for call in obj.tool_calls() {
            let index = self.calls;
            self.calls += 1;
            let (id, name, arguments) = call_parts(call, &mut self.ids);
            let head = ToolCallDelta {
                index,
                id: Some(id),
                kind: Some("function".to_owned()),
                function: Some(FunctionCallDelta {
                    name: Some(name),
                    arguments: Some(String::new()),
                }),
            };
            self.emit(out, calls_delta(head));
            let args = ToolCallDelta {
                index,
                id: None,
                kind: None,
                function: Some(FunctionCallDelta {
                    name: None,
                    arguments: Some(arguments),
                }),
            };
            self.emit(out, calls_delta(args));
        }
        if obj.done == Some(true) {
            let finish = finish_reason(obj.done_reason.as_deref(), self.calls > 0);
            let closing = self.chunk(vec![ChunkChoice {
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
            out.push(StreamEvent::Chunk(Box::new(closing)));
            let mut usage = self.chunk(Vec::new());
            usage.usage = Some(Some(obj.usage()));
            out.push(StreamEvent::Chunk(Box::new(usage)));
            out.push(StreamEvent::Done);
            self.ended = true;
        }
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

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
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
}

fn calls_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::{Value, json};
    use tollgate_core::{Env, FinishReason, ModelRef};

    fn decoder() -> OllamaStreamDecoder {
        let m = ModelRef::parse("ollama_chat/qwen3:4b", None).unwrap();
        OllamaAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
        .stream_decoder()
    }

    fn run_with(d: &mut OllamaStreamDecoder, input: &[u8], piece: usize) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        for c in input.chunks(piece.max(1)) {
            out.extend(d.feed(c));
        }
        out.extend(d.finish());
        out
    }

    fn run(input: &[u8], piece: usize) -> Vec<StreamEvent> {
        run_with(&mut decoder(), input, piece)
    }

    fn ndjson(lines: &[Value]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
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

    fn line(content: &str) -> Value {
        json!({"model": "qwen3:4b", "message": {"role": "assistant", "content": content}, "done": false})
    }

    fn done(reason: &str) -> Value {
        json!({"model": "qwen3:4b", "message": {"role": "assistant", "content": ""}, "done": true,
            "done_reason": reason, "prompt_eval_count": 18, "eval_count": 2})
    }

    #[test]
    fn text_streams_then_finish_usage_and_done() {
        let input = ndjson(&[line("Hé"), line("llo"), done("length")]);
        let mut d = decoder();
        let whole = run_with(&mut d, input.as_bytes(), input.len());
        let fmt = |events: &[StreamEvent], id: &str| format!("{events:?}").replace(id, "ID");
        for piece in [1, 2, 3, 5, 64] {
            let mut other = decoder();
            let id = other.id.clone();
            assert_eq!(
                fmt(&run_with(&mut other, input.as_bytes(), piece), &id),
                fmt(&whole, &d.id),
                "piece {piece}"
            );
        }
        let c = chunks(&whole);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(c[0].choices[0].delta.content.as_deref(), Some("Hé"));
        assert_eq!(c[1].choices[0].delta.role, None);
        assert_eq!(c[2].choices[0].finish_reason, Some(FinishReason::Length));
        assert!(c[3].choices.is_empty());
        let u = c[3].usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (18, 2, 20)
        );
        assert!(c.iter().all(|x| x.id == c[0].id && x.model == "qwen3:4b"));
        assert!(matches!(whole.last(), Some(StreamEvent::Done)));
    }

    #[test]
    fn whole_tool_calls_become_an_opening_and_an_arguments_fragment() {
        let input = ndjson(&[
            json!({"message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": false}),
            json!({"message": {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_abc", "function": {"index": 0, "name": "sub", "arguments": {"x": 2}}},
                {"function": {"name": "noop", "arguments": {}}}]}, "done": false}),
            done("stop"),
        ]);
        let events = run(input.as_bytes(), 7);
        let c = chunks(&events);
        assert_eq!(
            c[0].choices[0].delta.reasoning_content.as_deref(),
            Some("hmm")
        );
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        let head = &c[1].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!((head.index, head.id.as_deref()), (0, Some("call_abc")));
        let f = head.function.as_ref().unwrap();
        assert_eq!(
            (f.name.as_deref(), f.arguments.as_deref()),
            (Some("sub"), Some(""))
        );
        let args = &c[2].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            args.function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"x\":2}")
        );
        let second = &c[3].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!((second.index, second.id.as_deref()), (1, Some("call_1")));
        assert_eq!(c[5].choices[0].finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn a_call_first_stream_has_no_empty_content_beside_it() {
        let input = ndjson(&[
            json!({"message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "f", "arguments": {}}}]}, "done": false}),
            done("stop"),
        ]);
        let events = run(input.as_bytes(), 3);
        let c = chunks(&events);
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(c[0].choices[0].delta.content, None);
        assert_eq!(
            c[0].choices[0].delta.tool_calls.as_ref().unwrap()[0]
                .id
                .as_deref(),
            Some("call_0")
        );
    }

    #[test]
    fn errors_cuts_and_garbage_end_the_stream_once() {
        let input = ndjson(&[
            line("a"),
            json!({"error": "an error was encountered while running the model"}),
            line("never"),
        ]);
        let events = run(input.as_bytes(), 4);
        assert_eq!(events.len(), 2);
        match &events[1] {
            StreamEvent::Error(e) => {
                assert_eq!(e.status(), 500);
                assert!(
                    e.to_string()
                        .contains("OllamaException - an error was encountered"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
        let events = run(ndjson(&[line("partial")]).as_bytes(), 2);
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Error(GatewayError::Connection { .. }))
        ));
        assert!(matches!(run(b"", 1).as_slice(), [StreamEvent::Error(_)]));
        assert!(matches!(
            run(b"{nope\n", 1).as_slice(),
            [StreamEvent::Error(
                GatewayError::InvalidUpstreamResponse { .. }
            )]
        ));
        // A last line without its newline still finishes the stream.
        let input = format!("{}{}", ndjson(&[line("a")]), done("stop"));
        assert!(matches!(
            run(input.as_bytes(), 5).last(),
            Some(StreamEvent::Done)
        ));
    }

    #[test]
    fn an_empty_answer_still_opens_with_the_role() {
        let events = run(ndjson(&[done("stop")]).as_bytes(), 64);
        let c = chunks(&events);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(c[0].choices[0].delta.content.as_deref(), Some(""));
        assert_eq!(c[1].choices[0].finish_reason, Some(FinishReason::Stop));
    }
}
