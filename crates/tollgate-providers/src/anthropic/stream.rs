//! The Messages stream decoder: named SSE events in, OpenAI chunks out.
//!
//! A state machine over Anthropic's event order (`message_start`, then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then
//! `message_delta` and `message_stop`), mapped as LiteLLM's `ModelResponseIterator` does:
//! the first chunk carries the role; text, tool-argument fragments and thinking become
//! `content`, `tool_calls[k]` and `reasoning_content` (+ `thinking_blocks`) deltas, where `k`
//! counts tool calls (not Anthropic's block index); `message_delta` gives the finish reason and
//! one usage-only chunk (`choices: []`), which the router withholds from clients that did not
//! ask for usage; `message_stop` ends the stream. `ping` is ignored.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_core::chat::FunctionCallDelta;
use tollgate_core::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, FinishReason, GatewayError, Role, ToolCallDelta,
};

use super::error::error_from_json;
use super::response::{AnthropicUsage, map_stop_reason};
use super::{AnthropicAdapter, JSON_TOOL_NAME, PROVIDER_NAME, now_unix};
use crate::sse::{SseDecoder, SseEvent};
use crate::stream_event::StreamEvent;

/// One stream event. A flat struct rather than an enum tagged by `type`: serde would buffer
/// every event to find its tag and then parse it again, and this runs once per token.
#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    index: Option<u64>,
    /// `message_start`.
    #[serde(default)]
    message: Option<StartMessage>,
    /// `content_block_start`.
    #[serde(default)]
    content_block: Option<Value>,
    /// `content_block_delta` and `message_delta`.
    #[serde(default)]
    delta: Option<RawDelta>,
    /// `message_delta`.
    #[serde(default)]
    usage: Option<AnthropicUsage>,
    /// `error`.
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

/// The `delta` of a block delta (by `type`) or of `message_delta` (`stop_reason`).
#[derive(Debug, Default, Deserialize)]
struct RawDelta {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    citation: Option<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
}

/// What an open content block is, by Anthropic's block index.
#[derive(Debug, Clone, Copy)]
enum Block {
    Text,
    Thinking,
    /// A tool call, `index` being its position among the message's tool calls.
    Tool {
        index: u32,
        has_args: bool,
    },
    /// The JSON-mode tool: its input is the answer and streams as `content`.
    JsonTool {
        has_args: bool,
    },
    Other,
}

/// Decodes one Messages stream.
#[derive(Debug)]
pub struct AnthropicStreamDecoder {
    sse: SseDecoder,
    created: i64,
    id: String,
    model: String,
    blocks: HashMap<u64, Block>,
    tool_calls: u32,
    usage: AnthropicUsage,
    saw_usage: bool,
    usage_sent: bool,
    /// `message_delta` arrived: the answer is complete even if `message_stop` never does.
    finished: bool,
    /// `Done` or an error was emitted; nothing follows.
    ended: bool,
}

impl AnthropicAdapter {
    /// A decoder for this provider's chat stream; its chunks are `created` now.
    pub fn stream_decoder(&self) -> AnthropicStreamDecoder {
        AnthropicStreamDecoder::new(now_unix())
    }
}

impl AnthropicStreamDecoder {
    /// A decoder whose chunks carry `created`.
    pub fn new(created: i64) -> Self {
        Self {
            sse: SseDecoder::new(),
            created,
            id: String::new(),
            model: String::new(),
            blocks: HashMap::new(),
            tool_calls: 0,
            usage: AnthropicUsage::default(),
            saw_usage: false,
            usage_sent: false,
            finished: false,
            ended: false,
        }
    }

    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        if self.ended {
            return Vec::new();
        }
        let mut out = Vec::new();
        for ev in self.sse.feed(bytes) {
            if self.ended {
                break;
            }
            self.event(&ev, &mut out);
        }
        out
    }

    /// The upstream closed the body. Without `message_delta` the answer is incomplete, and
    /// that is an error, never a silent end.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !self.ended {
            if let Some(ev) = self.sse.finish() {
                self.event(&ev, &mut out);
            }
        }
        if !self.ended {
            self.ended = true;
            if self.finished {
                out.push(StreamEvent::Done);
            } else {
                out.push(StreamEvent::Error(GatewayError::Connection {
                    provider: PROVIDER_NAME.to_owned(),
                    message: "the provider closed the stream before it finished".into(),
                }));
            }
        }
        out
    }

    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if ev.data.trim_ascii().is_empty() {
            return;
        }
        let parsed: RawEvent = match serde_json::from_slice(&ev.data) {
            Ok(e) => e,
            // A keep-alive is harmless whatever its payload looks like.
            Err(_) if ev.event.as_deref() == Some("ping") => return,
            Err(e) => {
                self.ended = true;
                out.push(StreamEvent::Error(GatewayError::InvalidUpstreamResponse {
                    provider: PROVIDER_NAME.to_owned(),
                    message: format!("bad stream event: {e}"),
                }));
                return;
            }
        };
        let index = parsed.index.unwrap_or(0);
        match parsed.kind.as_str() {
            "message_start" => {
                if let Some(message) = parsed.message {
                    self.id = message.id;
                    self.model = message.model;
                    if let Some(u) = message.usage {
                        self.usage.merge(&u);
                        self.saw_usage = true;
                    }
                }
                out.push(self.chunk(
                    Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        ..Delta::default()
                    },
                    None,
                ));
            }
            "content_block_start" => {
                let block = parsed.content_block.unwrap_or(Value::Null);
                self.block_start(index, &block, out);
            }
            "content_block_delta" => {
                if let Some(delta) = parsed.delta {
                    self.block_delta(index, delta, out);
                }
            }
            "content_block_stop" => self.block_stop(index, out),
            "message_delta" => {
                if let Some(u) = parsed.usage {
                    self.usage.merge(&u);
                    self.saw_usage = true;
                }
                let stop = parsed.delta.and_then(|d| d.stop_reason);
                let mut finish = map_stop_reason(stop.as_deref());
                if finish == FinishReason::ToolCalls && self.tool_calls == 0 {
                    // Only the JSON-mode tool was called.
                    finish = FinishReason::Stop;
                }
                self.finished = true;
                out.push(self.chunk(Delta::default(), Some(finish)));
                self.push_usage(out);
            }
            "message_stop" => {
                self.push_usage(out);
                self.ended = true;
                out.push(StreamEvent::Done);
            }
            "error" => {
                self.ended = true;
                let body = json!({ "type": "error", "error": parsed.error.unwrap_or(Value::Null) });
                out.push(StreamEvent::Error(error_from_json(None, &body)));
            }
            // `ping`, and event types added after this code was written, which the API asks
            // clients to skip.
            _ => {}
        }
    }

    fn block_start(&mut self, index: u64, block: &Value, out: &mut Vec<StreamEvent>) {
        let str_field = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default();
        let kind = match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = str_field("text");
                if !text.is_empty() {
                    out.push(self.content(text.to_owned()));
                }
                Block::Text
            }
            Some("thinking") => {
                let thinking = str_field("thinking");
                if !thinking.is_empty() {
                    out.push(self.thinking(thinking.to_owned()));
                }
                Block::Thinking
            }
            Some("redacted_thinking") => {
                let mut delta = Delta::default();
                delta
                    .extra
                    .insert("thinking_blocks".into(), Value::Array(vec![block.clone()]));
                out.push(self.chunk(delta, None));
                Block::Other
            }
            Some("tool_use") => {
                // Client tools start with `input: {}` and stream it; anything already there
                // is the whole input.
                let args = block
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                    .map(Value::to_string);
                let has_args = args.is_some();
                if str_field("name") == JSON_TOOL_NAME {
                    if let Some(a) = args {
                        out.push(self.content(a));
                    }
                    Block::JsonTool { has_args }
                } else {
                    let k = self.tool_calls;
                    self.tool_calls = self.tool_calls.saturating_add(1);
                    out.push(self.tool_fragment(
                        k,
                        Some((str_field("id"), str_field("name"))),
                        args.unwrap_or_default(),
                    ));
                    Block::Tool { index: k, has_args }
                }
            }
            // server_tool_use, web_search_tool_result, ...: nothing OpenAI can express.
            _ => Block::Other,
        };
        self.blocks.insert(index, kind);
    }

    fn block_delta(&mut self, index: u64, delta: RawDelta, out: &mut Vec<StreamEvent>) {
        match delta.kind.as_deref() {
            Some("text_delta") => {
                if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                    out.push(self.content(text));
                }
            }
            Some("input_json_delta") => {
                // The first fragment is usually empty; it adds nothing.
                let Some(fragment) = delta.partial_json.filter(|p| !p.is_empty()) else {
                    return;
                };
                match self.blocks.get_mut(&index) {
                    Some(Block::Tool { index: k, has_args }) => {
                        *has_args = true;
                        let k = *k;
                        out.push(self.tool_fragment(k, None, fragment));
                    }
                    Some(Block::JsonTool { has_args }) => {
                        *has_args = true;
                        out.push(self.content(fragment));
                    }
                    // Input of a server tool the client never declared.
                    _ => {}
                }
            }
            Some("thinking_delta") => {
                if let Some(thinking) = delta.thinking.filter(|t| !t.is_empty()) {
                    out.push(self.thinking(thinking));
                }
            }
            Some("signature_delta") => {
                let mut d = Delta::default();
                d.extra.insert(
                    "thinking_blocks".into(),
                    json!([{ "type": "thinking", "thinking": "", "signature": delta.signature }]),
                );
                out.push(self.chunk(d, None));
            }
            Some("citations_delta") => {
                let mut d = Delta::default();
                d.extra.insert(
                    "provider_specific_fields".into(),
                    json!({ "citation": delta.citation }),
                );
                out.push(self.chunk(d, None));
            }
            _ => {}
        }
    }

    fn block_stop(&mut self, index: u64, out: &mut Vec<StreamEvent>) {
        match self.blocks.remove(&index) {
            // A call without arguments streams none (or only ""); clients must still be able
            // to parse what they assembled.
            Some(Block::Tool {
                index: k,
                has_args: false,
            }) => out.push(self.tool_fragment(k, None, "{}".to_owned())),
            Some(Block::JsonTool { has_args: false }) => out.push(self.content("{}".to_owned())),
            _ => {}
        }
    }

    fn push_usage(&mut self, out: &mut Vec<StreamEvent>) {
        if self.usage_sent || !self.saw_usage {
            return;
        }
        self.usage_sent = true;
        out.push(StreamEvent::Chunk(Box::new(ChatCompletionChunk {
            choices: Vec::new(),
            usage: Some(Some(self.usage.to_openai())),
            ..self.base_chunk()
        })));
    }

    fn content(&self, text: String) -> StreamEvent {
        self.chunk(
            Delta {
                content: Some(text),
                ..Delta::default()
            },
            None,
        )
    }

    fn thinking(&self, piece: String) -> StreamEvent {
        let mut delta = Delta::default();
        delta.extra.insert(
            "thinking_blocks".into(),
            json!([{ "type": "thinking", "thinking": piece }]),
        );
        delta.reasoning_content = Some(piece);
        self.chunk(delta, None)
    }

    /// A tool-call delta; the first fragment of a call (`head` given) carries id, type and name.
    fn tool_fragment(&self, k: u32, head: Option<(&str, &str)>, arguments: String) -> StreamEvent {
        let call = ToolCallDelta {
            index: k,
            id: head.map(|(id, _)| id.to_owned()),
            kind: head.map(|_| "function".to_owned()),
            function: Some(FunctionCallDelta {
                name: head.map(|(_, name)| name.to_owned()),
                arguments: Some(arguments),
            }),
        };
        self.chunk(
            Delta {
                tool_calls: Some(vec![call]),
                ..Delta::default()
            },
            None,
        )
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> StreamEvent {
        StreamEvent::Chunk(Box::new(ChatCompletionChunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
                extra: Extra::new(),
            }],
            ..self.base_chunk()
        }))
    }

    fn base_chunk(&self) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: Vec::new(),
            usage: None,
            system_fingerprint: None,
            service_tier: None,
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::{ChatCompletionChunk, ErrorClass};

    fn ev(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn start() -> String {
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-x", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 1}}}),
        )
    }

    fn end(stop: &str, output: u64) -> String {
        ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                   "usage": {"output_tokens": output}}),
        ) + &ev("message_stop", json!({"type": "message_stop"}))
    }

    fn run(input: &str, piece: usize) -> Vec<StreamEvent> {
        let mut d = AnthropicStreamDecoder::new(99);
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(piece) {
            out.extend(d.feed(c));
        }
        out.extend(d.finish());
        out
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

    fn tool_stream() -> String {
        start()
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            )
            + "event: ping\ndata: {\"type\": \"ping\"}\n\n"
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Caf\u{e9} "}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            )
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "get", "input": {}}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": \"x"}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "y\"}"}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            )
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 2}),
            )
            + &end("tool_use", 42)
    }

    #[test]
    fn text_and_tool_calls_at_every_split() {
        let input = tool_stream();
        let whole = run(&input, input.len());
        for piece in 1..64 {
            assert_eq!(
                format!("{:?}", run(&input, piece)),
                format!("{whole:?}"),
                "piece {piece}"
            );
        }
        assert!(matches!(whole.last(), Some(StreamEvent::Done)));
        let cs = chunks(&whole);
        assert!(
            cs.iter()
                .all(|c| c.id == "msg_1" && c.created == 99 && c.model == "claude-x")
        );
        assert_eq!(cs[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(cs[0].choices[0].delta.content.as_deref(), Some(""));
        let text: String = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.content.as_deref())
            .collect();
        assert_eq!(text, "Caf\u{e9} ");
        // Tool calls are numbered among tool calls, not by Anthropic's block index.
        let calls: Vec<&ToolCallDelta> = cs
            .iter()
            .flat_map(|c| &c.choices)
            .flat_map(|c| c.delta.tool_calls.iter().flatten())
            .collect();
        assert_eq!(calls[0].index, 0);
        assert_eq!(calls[0].id.as_deref(), Some("toolu_a"));
        assert_eq!(calls[0].kind.as_deref(), Some("function"));
        let f0 = calls[0].function.as_ref().unwrap();
        assert_eq!(
            (f0.name.as_deref(), f0.arguments.as_deref()),
            (Some("get"), Some(""))
        );
        let args0: String = calls
            .iter()
            .filter(|c| c.index == 0)
            .filter_map(|c| c.function.as_ref()?.arguments.as_deref())
            .collect();
        assert_eq!(
            serde_json::from_str::<Value>(&args0).unwrap(),
            json!({"q": "xy"})
        );
        assert!(
            calls
                .iter()
                .filter(|c| c.index == 0)
                .skip(1)
                .all(|c| c.id.is_none())
        );
        // A call without arguments still assembles to valid JSON.
        let args1: String = calls
            .iter()
            .filter(|c| c.index == 1)
            .filter_map(|c| c.function.as_ref()?.arguments.as_deref())
            .collect();
        assert_eq!(args1, "{}");
        let finish: Vec<_> = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.finish_reason.clone())
            .collect();
        assert_eq!(finish, vec![FinishReason::ToolCalls]);
        // The last chunk is usage only.
        let last = cs.last().unwrap();
        assert!(last.choices.is_empty());
        let u = last.usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens()),
            (14, 42, 4)
        );
        assert_eq!(cs.iter().filter(|c| c.usage().is_some()).count(), 1);
    }

    #[test]
    fn thinking_signature_and_redacted_blocks() {
        let input = start()
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " think."}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "SIG=="}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            )
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "OPAQUE"}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            )
            + &end("end_turn", 9);
        let events = run(&input, 5);
        let cs = chunks(&events);
        let reasoning: String = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.reasoning_content.as_deref())
            .collect();
        assert_eq!(reasoning, "Let me think.");
        let blocks: Vec<&Value> = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.extra.get("thinking_blocks"))
            .collect();
        assert_eq!(
            blocks[0],
            &json!([{"type": "thinking", "thinking": "Let me"}])
        );
        assert_eq!(
            blocks[2],
            &json!([{"type": "thinking", "thinking": "", "signature": "SIG=="}])
        );
        assert_eq!(
            blocks[3],
            &json!([{"type": "redacted_thinking", "data": "OPAQUE"}])
        );
        // As the client sees it on the wire.
        let wire = serde_json::to_value(cs[1]).unwrap();
        assert_eq!(
            wire["choices"][0]["delta"]["thinking_blocks"][0]["thinking"],
            "Let me"
        );
        assert_eq!(wire["choices"][0]["delta"]["reasoning_content"], "Let me");
        assert!(wire.get("usage").is_none());
    }

    #[test]
    fn json_mode_tool_streams_as_content() {
        let input = start()
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "json_tool_call", "input": {}}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": " 1}"}}),
            )
            + &ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            )
            + &end("tool_use", 9);
        let events = run(&input, 3);
        let cs = chunks(&events);
        let content: String = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.delta.content.as_deref())
            .collect();
        assert_eq!(content, "{\"a\": 1}");
        assert!(
            cs.iter()
                .flat_map(|c| &c.choices)
                .all(|c| c.delta.tool_calls.is_none())
        );
        let finish: Vec<_> = cs
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.finish_reason.clone())
            .collect();
        assert_eq!(finish, vec![FinishReason::Stop]);
    }

    #[test]
    fn error_event_ends_the_stream_with_its_status() {
        let input = start()
            + "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n"
            + &end("end_turn", 1);
        let events = run(&input, 7);
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[1] {
            StreamEvent::Error(e) => {
                assert_eq!(e.status(), 529);
                assert_eq!(e.class(), ErrorClass::ServiceUnavailable);
                assert!(
                    e.to_string().contains("AnthropicException - Overloaded"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncation_and_garbage_are_errors_and_a_missing_stop_is_tolerated() {
        let cut = start()
            + &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
        let events = run(&cut, 4);
        assert!(
            matches!(
                events.last(),
                Some(StreamEvent::Error(GatewayError::Connection { .. }))
            ),
            "{events:?}"
        );
        // message_delta arrived but message_stop did not: the answer is complete.
        let full = tool_stream();
        let no_stop = &full[..full.rfind("event: message_stop").unwrap()];
        let events = run(no_stop, 11);
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
        let events = run(
            &(start() + "event: content_block_delta\ndata: {oops\n\n" + &end("end_turn", 1)),
            6,
        );
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Error(
                GatewayError::InvalidUpstreamResponse { .. }
            ))
        ));
        // Unknown events, an unknown delta type and an odd ping payload are skipped.
        let input = start()
            + &ev(
                "brand_new_event",
                json!({"type": "brand_new_event", "x": 1}),
            )
            + &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "future_delta"}}),
            )
            + "event: ping\ndata: not json\n\n"
            + &end("end_turn", 1);
        let events = run(&input, 9);
        assert!(
            matches!(events.last(), Some(StreamEvent::Done)),
            "{events:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, StreamEvent::Error(_))));
    }

    #[test]
    fn nothing_follows_done() {
        let input = tool_stream() + &tool_stream();
        let mut d = AnthropicStreamDecoder::new(0);
        let events = d.feed(input.as_bytes());
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Done))
                .count(),
            1
        );
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
        assert!(d.feed(b"event: message_stop\ndata: {}\n\n").is_empty());
        assert!(d.finish().is_empty());
    }
}
