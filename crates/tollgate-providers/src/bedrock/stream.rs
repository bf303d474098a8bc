//! ConverseStream: binary `application/vnd.amazon.eventstream` messages in, OpenAI chunks out.
//!
//! Framing: each message is `total_length:u32 | headers_length:u32 | prelude_crc:u32 |
//! headers | payload | message_crc:u32`, big-endian, both CRCs CRC-32 (IEEE). Messages arrive
//! split across or packed within reads anywhere; [`EventStreamFramer`] buffers by
//! `total_length`, checks the prelude CRC as soon as the 12-byte prelude is in (so a corrupt
//! length is reported at once instead of waiting for megabytes that will never come), and
//! hands each complete message to `aws-smithy-eventstream`, which checks both CRCs and parses
//! the headers.
//!
//! Events (`:event-type`, JSON payload, every one padded with a random `"p"` field) map as
//! LiteLLM maps them: `messageStart` is the role chunk; `contentBlockStart` with a `toolUse`
//! starts a tool call (OpenAI `index` counts tool calls, not Bedrock's block index);
//! `contentBlockDelta` carries text, tool-input fragments, or `reasoningContent` text /
//! signature / redacted data (as `reasoning_content` and `thinking_blocks`); `messageStop`
//! gives the finish reason; `metadata`, the last event, the usage-only chunk, then `Done`.
//! `:message-type: exception` frames are Bedrock errors (`throttlingException`, ...) with the
//! status of their type.

use std::collections::HashMap;

use aws_smithy_eventstream::frame::read_message_from;
use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use tollgate_core::chat::FunctionCallDelta;
use tollgate_core::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, FinishReason, GatewayError, Role, ToolCallDelta,
};

use super::error::{exception_error, unmodeled_error};
use super::response::{ConverseUsage, map_stop_reason};
use super::{BedrockAdapter, JSON_TOOL_NAME, PROVIDER_NAME, new_completion_id};
use crate::stream_event::StreamEvent;

/// The 12-byte prelude: two lengths and their CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC.
const MIN_MESSAGE_LEN: usize = 16;
/// Event-stream messages are at most 16 MiB; anything claiming more is corrupt, and refusing
/// it bounds what a broken stream can make us buffer.
const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024 + MIN_MESSAGE_LEN;

/// One event-stream message: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Headers with string values (the only kind Bedrock sends), in order.
    pub headers: Vec<(String, String)>,
    pub payload: Bytes,
}

impl Frame {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits an event-stream body into [`Frame`]s, whatever the read boundaries.
#[derive(Debug, Default)]
pub struct EventStreamFramer {
    buf: BytesMut,
}

impl EventStreamFramer {
    /// A framer with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes as they arrive.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a complete message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed, or why the stream is
    /// corrupt (after which the framer must not be used again).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        let Some(prelude) = self.buf.get(..PRELUDE_LEN) else {
            return Ok(None);
        };
        let be = |i: usize| {
            u32::from_be_bytes([prelude[i], prelude[i + 1], prelude[i + 2], prelude[i + 3]])
        };
        let (total, headers_len, prelude_crc) = (be(0), be(4), be(8));
        let computed = crc32fast::hash(&prelude[..8]);
        if computed != prelude_crc {
            return Err(format!(
                "event-stream prelude checksum mismatch (computed {computed:#010x}, sent {prelude_crc:#010x})"
            ));
        }
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let headers_len = usize::try_from(headers_len).unwrap_or(usize::MAX);
        if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total)
            || headers_len > total - MIN_MESSAGE_LEN
        {
            return Err(format!(
                "event-stream message lengths are impossible (total {total}, headers {headers_len})"
            ));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let bytes = self.buf.split_to(total).freeze();
        let message =
            read_message_from(bytes).map_err(|e| format!("bad event-stream message: {e}"))?;
        let headers = message
            .headers()
            .iter()
            .filter_map(|h| {
                h.value()
                    .as_string()
                    .ok()
                    .map(|v| (h.name().as_str().to_owned(), v.as_str().to_owned()))
            })
            .collect();
        Ok(Some(Frame {
            headers,
            payload: message.payload().clone(),
        }))
    }
}

/// What an open content block is, by Bedrock's `contentBlockIndex`.
#[derive(Debug, Clone, Copy)]
enum Block {
    /// A tool call, `index` being its position among the message's tool calls.
    Tool { index: u32, has_args: bool },
    /// The JSON-mode tool: its input is the answer and streams as `content`.
    JsonTool { has_args: bool },
}

/// Decodes one ConverseStream response.
#[derive(Debug)]
pub struct BedrockStreamDecoder {
    framer: EventStreamFramer,
    id: String,
    created: i64,
    model: String,
    blocks: HashMap<u64, Block>,
    tool_calls: u32,
    role_sent: bool,
    /// `messageStop` arrived: the answer is complete even if `metadata` never does.
    finished: bool,
    /// `Done` or an error was emitted; nothing follows.
    ended: bool,
}

impl BedrockAdapter {
    /// A decoder for this deployment's chat stream: a fresh id, `created` now.
    pub fn stream_decoder(&self) -> BedrockStreamDecoder {
        BedrockStreamDecoder::new(
            new_completion_id(),
            crate::anthropic::now_unix(),
            self.model.clone(),
        )
    }
}

impl BedrockStreamDecoder {
    /// A decoder whose chunks carry `id`, `created` and `model`.
    pub fn new(id: String, created: i64, model: String) -> Self {
        Self {
            framer: EventStreamFramer::new(),
            id,
            created,
            model,
            blocks: HashMap::new(),
            tool_calls: 0,
            role_sent: false,
            finished: false,
            ended: false,
        }
    }

    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.framer.push(bytes);
        while !self.ended {
            match self.framer.next_frame() {
                Ok(Some(frame)) => self.frame(&frame, &mut out),
                Ok(None) => break,
                Err(message) => self.fail(invalid(message), &mut out),
            }
        }
        out
    }

    /// The upstream closed the body. Without `messageStop` the answer is incomplete: that is
    /// an error, never a silent end.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.ended = true;
        if self.finished {
            out.push(StreamEvent::Done);
        } else {
            let cut = if self.framer.pending() > 0 {
                " in the middle of an event-stream message"
            } else {
                ""
            };
            out.push(StreamEvent::Error(GatewayError::Connection {
                provider: PROVIDER_NAME.to_owned(),
                message: format!("the provider closed the stream before it finished{cut}"),
            }));
        }
        out
    }

    fn fail(&mut self, e: GatewayError, out: &mut Vec<StreamEvent>) {
        self.ended = true;
        out.push(StreamEvent::Error(e));
    }

    fn frame(&mut self, frame: &Frame, out: &mut Vec<StreamEvent>) {
        match frame.header(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let kind = frame.header(":exception-type").unwrap_or("exception");
                let e = exception_error(kind, &frame.payload);
                return self.fail(e, out);
            }
            // Unmodeled errors carry everything in headers.
            _ => {
                let e = unmodeled_error(
                    frame.header(":error-code").unwrap_or("UnknownError"),
                    frame.header(":error-message").unwrap_or_default(),
                );
                return self.fail(e, out);
            }
        }
        let Some(kind) = frame.header(":event-type") else {
            return;
        };
        let payload: Value = match serde_json::from_slice(&frame.payload) {
            Ok(v) => v,
            Err(e) => return self.fail(invalid(format!("bad {kind} payload: {e}")), out),
        };
        match kind {
            "messageStart" => self.ensure_role(out),
            "contentBlockStart" => {
                self.ensure_role(out);
                self.block_start(&payload, out);
            }
            "contentBlockDelta" => {
                self.ensure_role(out);
                self.block_delta(&payload, out);
            }
            "contentBlockStop" => self.block_stop(&payload, out),
            "messageStop" => {
                self.ensure_role(out);
                let stop = payload.get("stopReason").and_then(Value::as_str);
                let mut finish = map_stop_reason(stop);
                if self.tool_calls > 0 {
                    finish = FinishReason::ToolCalls;
                } else if finish == FinishReason::ToolCalls {
                    // Only the JSON-mode tool was called: a finished answer to the client.
                    finish = FinishReason::Stop;
                }
                self.finished = true;
                out.push(self.chunk(Delta::default(), Some(finish)));
            }
            "metadata" => {
                if let Some(u) = payload
                    .get("usage")
                    .and_then(|u| serde_json::from_value::<ConverseUsage>(u.clone()).ok())
                {
                    out.push(StreamEvent::Chunk(Box::new(ChatCompletionChunk {
                        choices: Vec::new(),
                        usage: Some(Some(u.to_openai())),
                        ..self.base_chunk()
                    })));
                }
                if self.finished {
                    self.ended = true;
                    out.push(StreamEvent::Done);
                }
            }
            // Event types added after this code was written.
            _ => {}
        }
    }

    fn ensure_role(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.role_sent {
            self.role_sent = true;
            out.push(self.chunk(
                Delta {
                    role: Some(Role::Assistant),
                    content: Some(String::new()),
                    ..Delta::default()
                },
                None,
            ));
        }
    }

    fn block_start(&mut self, payload: &Value, out: &mut Vec<StreamEvent>) {
        let index = block_index(payload);
        let Some(tool) = payload.get("start").and_then(|s| s.get("toolUse")) else {
            return;
        };
        let field = |name: &str| tool.get(name).and_then(Value::as_str).unwrap_or_default();
        let block = if field("name") == JSON_TOOL_NAME {
            Block::JsonTool { has_args: false }
        } else {
            let k = self.tool_calls;
            self.tool_calls = self.tool_calls.saturating_add(1);
            out.push(self.tool_fragment(
                k,
                Some((field("toolUseId"), field("name"))),
                String::new(),
            ));
            Block::Tool {
                index: k,
                has_args: false,
            }
        };
        self.blocks.insert(index, block);
    }

    fn block_delta(&mut self, payload: &Value, out: &mut Vec<StreamEvent>) {
        let index = block_index(payload);
        let Some(delta) = payload.get("delta") else {
            return;
        };
        if let Some(text) = delta.get("text").and_then(Value::as_str) {
            if !text.is_empty() {
                out.push(self.content(text.to_owned()));
            }
        } else if let Some(tool) = delta.get("toolUse") {
            let fragment = tool
                .get("input")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if fragment.is_empty() {
                return;
            }
            match self.blocks.get_mut(&index) {
                Some(Block::Tool { index: k, has_args }) => {
                    *has_args = true;
                    let k = *k;
                    out.push(self.tool_fragment(k, None, fragment.to_owned()));
                }
                Some(Block::JsonTool { has_args }) => {
                    *has_args = true;
                    out.push(self.content(fragment.to_owned()));
                }
                // Input for a block that never started: nothing to attach it to.
                None => {}
            }
        } else if let Some(reasoning) = delta.get("reasoningContent") {
            if let Some(text) = reasoning.get("text").and_then(Value::as_str) {
                if !text.is_empty() {
                    let mut d = Delta::default();
                    d.extra.insert(
                        "thinking_blocks".into(),
                        json!([{ "type": "thinking", "thinking": text }]),
                    );
                    d.reasoning_content = Some(text.to_owned());
                    out.push(self.chunk(d, None));
                }
            }
            if let Some(signature) = reasoning.get("signature").and_then(Value::as_str) {
                let mut d = Delta::default();
                d.extra.insert(
                    "thinking_blocks".into(),
                    json!([{ "type": "thinking", "thinking": "", "signature": signature }]),
                );
                out.push(self.chunk(d, None));
            }
            if let Some(data) = reasoning.get("redactedContent").and_then(Value::as_str) {
                let mut d = Delta::default();
                d.extra.insert(
                    "thinking_blocks".into(),
                    json!([{ "type": "redacted_thinking", "data": data }]),
                );
                out.push(self.chunk(d, None));
            }
        } else if let Some(citation) = delta.get("citation") {
            let mut d = Delta::default();
            d.extra.insert(
                "provider_specific_fields".into(),
                json!({ "citation": citation }),
            );
            out.push(self.chunk(d, None));
        }
    }

    fn block_stop(&mut self, payload: &Value, out: &mut Vec<StreamEvent>) {
        match self.blocks.remove(&block_index(payload)) {
            // A call without arguments streams none; clients must still be able to parse
            // what they assembled.
            Some(Block::Tool {
                index: k,
                has_args: false,
            }) => out.push(self.tool_fragment(k, None, "{}".to_owned())),
            Some(Block::JsonTool { has_args: false }) => out.push(self.content("{}".to_owned())),
            _ => {}
        }
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
            extra: Extra::new(),
        }
    }
}

fn block_index(payload: &Value) -> u64 {
    payload
        .get("contentBlockIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tollgate_core::ErrorClass;

    /// Encodes one message with string headers, the way Bedrock frames it.
    pub(crate) fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(u8::try_from(name.len()).unwrap());
            h.extend_from_slice(name.as_bytes());
            h.push(7);
            h.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = u32::try_from(MIN_MESSAGE_LEN + h.len() + payload.len()).unwrap();
        let mut m = Vec::new();
        m.extend_from_slice(&total.to_be_bytes());
        m.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m
    }

    pub(crate) fn event(kind: &str, payload: &Value) -> Vec<u8> {
        encode(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
    }

    fn decode(body: &[u8], piece: usize) -> Vec<StreamEvent> {
        let mut d = BedrockStreamDecoder::new("id".into(), 1, "m".into());
        let mut out = Vec::new();
        for p in body.chunks(piece.max(1)) {
            out.extend(d.feed(p));
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

    #[test]
    fn the_documented_first_message_decodes() {
        // The worked example: 143 bytes, 82 bytes of headers, a 45-byte payload.
        let m = event(
            "messageStart",
            &json!({"p": "abcdefghijklmnopqr", "role": "assistant"}),
        );
        assert_eq!(m.len(), 143);
        assert_eq!(
            &m[..12],
            &[0, 0, 0, 0x8f, 0, 0, 0, 0x52, 0xd3, 0xf1, 0xc8, 0xf2]
        );
        let mut f = EventStreamFramer::new();
        f.push(&m);
        let frame = f.next_frame().unwrap().unwrap();
        assert_eq!(frame.header(":event-type"), Some("messageStart"));
        assert_eq!(frame.payload.len(), 45);
        assert!(f.next_frame().unwrap().is_none());
    }

    #[test]
    fn a_whole_conversation_survives_every_split() {
        let mut body = Vec::new();
        body.extend(event(
            "messageStart",
            &json!({"role": "assistant", "p": "a"}),
        ));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
        ));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        ));
        body.extend(event("contentBlockStop", &json!({"contentBlockIndex": 0})));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 1, "delta": {"text": "Hi "}}),
        ));
        body.extend(event(
            "contentBlockStart",
            &json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
        ));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"a\""}}}),
        ));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": ":1}"}}}),
        ));
        body.extend(event("contentBlockStop", &json!({"contentBlockIndex": 2})));
        body.extend(event(
            "contentBlockStart",
            &json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "t2", "name": "g"}}}),
        ));
        body.extend(event("contentBlockStop", &json!({"contentBlockIndex": 3})));
        body.extend(event("messageStop", &json!({"stopReason": "tool_use"})));
        body.extend(event(
            "metadata",
            &json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12, "cacheReadInputTokens": 3, "cacheWriteInputTokens": 1}}),
        ));
        let whole = format!("{:?}", decode(&body, body.len()));
        for piece in 1..64 {
            assert_eq!(
                format!("{:?}", decode(&body, piece)),
                whole,
                "piece {piece}"
            );
        }
        let events = decode(&body, 7);
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
        let cs = chunks(&events);
        assert_eq!(cs[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(
            cs[1].choices[0].delta.reasoning_content.as_deref(),
            Some("hm")
        );
        assert_eq!(
            cs[2].choices[0].delta.extra["thinking_blocks"][0]["signature"],
            "sig"
        );
        let calls: Vec<&ToolCallDelta> = cs
            .iter()
            .flat_map(|c| c.choices.iter())
            .flat_map(|c| c.delta.tool_calls.iter().flatten())
            .collect();
        assert_eq!(calls[0].id.as_deref(), Some("t1"));
        assert_eq!(
            calls[0].function.as_ref().unwrap().arguments.as_deref(),
            Some("")
        );
        assert_eq!(calls[3].index, 1);
        assert_eq!(calls[3].id.as_deref(), Some("t2"));
        assert_eq!(
            calls[4].function.as_ref().unwrap().arguments.as_deref(),
            Some("{}")
        );
        let finish = cs
            .iter()
            .find_map(|c| c.choices.first()?.finish_reason.clone());
        assert_eq!(finish, Some(FinishReason::ToolCalls));
        let usage = cs.last().unwrap();
        assert!(usage.choices.is_empty());
        let u = usage.usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (9, 7, 12)
        );
        assert_eq!(u.cached_tokens(), 3);
    }

    #[test]
    fn the_json_mode_tool_streams_as_content() {
        let mut body = Vec::new();
        body.extend(event("messageStart", &json!({"role": "assistant"})));
        body.extend(event(
            "contentBlockStart",
            &json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t", "name": JSON_TOOL_NAME}}}),
        ));
        body.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"x\":1}"}}}),
        ));
        body.extend(event("contentBlockStop", &json!({"contentBlockIndex": 0})));
        body.extend(event("messageStop", &json!({"stopReason": "tool_use"})));
        let events = decode(&body, 5);
        let cs = chunks(&events);
        let text: String = cs
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(text, "{\"x\":1}");
        assert!(
            cs.iter()
                .all(|c| c.choices.iter().all(|ch| ch.delta.tool_calls.is_none()))
        );
        let finish = cs
            .iter()
            .find_map(|c| c.choices.first()?.finish_reason.clone());
        assert_eq!(finish, Some(FinishReason::Stop));
        // messageStop without metadata is still a complete answer.
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
    }

    #[test]
    fn exceptions_cuts_and_corruption_are_errors() {
        let mut body = event("messageStart", &json!({"role": "assistant"}));
        body.extend(encode(
            &[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        ));
        body.extend(event("messageStop", &json!({"stopReason": "end_turn"})));
        let events = decode(&body, 3);
        let Some(StreamEvent::Error(e)) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(e.status(), 429);
        assert_eq!(e.class(), ErrorClass::RateLimit);
        assert!(e.to_string().contains("Too many requests"), "{e}");
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Error(_)))
                .count(),
            1
        );

        let body = encode(
            &[
                (":message-type", "error"),
                (":error-code", "InternalFailure"),
                (":error-message", "boom"),
            ],
            b"",
        );
        let events = decode(&body, 4);
        let Some(StreamEvent::Error(e)) = events.last() else {
            panic!("{events:?}");
        };
        assert_eq!(e.status(), 500);
        assert!(e.to_string().contains("boom"), "{e}");

        // Cut before messageStop.
        let body = event("messageStart", &json!({"role": "assistant"}));
        let events = decode(&body[..body.len() - 1], 10);
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Error(GatewayError::Connection { .. }))
        ));

        // A flipped payload byte fails the message CRC; a flipped length fails the prelude.
        let mut bad = event("messageStart", &json!({"role": "assistant"}));
        let n = bad.len();
        bad[n - 6] ^= 0x20;
        let events = decode(&bad, 1);
        assert!(
            matches!(
                events.last(),
                Some(StreamEvent::Error(
                    GatewayError::InvalidUpstreamResponse { .. }
                ))
            ),
            "{events:?}"
        );
        let mut bad = event("messageStart", &json!({"role": "assistant"}));
        bad[1] = 0x7f;
        let mut d = BedrockStreamDecoder::new("id".into(), 1, "m".into());
        let events = d.feed(&bad[..12]);
        assert!(
            matches!(events.last(), Some(StreamEvent::Error(_))),
            "reported at once: {events:?}"
        );
        assert!(d.feed(&bad[12..]).is_empty());
        assert!(d.finish().is_empty());
    }
}
