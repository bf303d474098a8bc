//! OpenAI chat chunks turned into Anthropic's SSE events: `message_start`, `ping`, one
//! `content_block_start`/`_delta`/`_stop` run per block (text, thinking with its signature,
//! tool use with `input_json_delta`), `message_delta` with the stop reason and usage, and
//! `message_stop`. Nothing is sent after `message_stop` or after an `error` event.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tollgate_core::chat::FinishReason;
use tollgate_core::{ChatCompletionChunk, GatewayError, Usage};

use super::error::error_body;
use super::response::{stop_reason, usage_object};

/// Builds the event stream of one message from the chat chunks of one call.
#[derive(Debug)]
pub struct MessagesStreamEncoder {
    id: String,
    model: String,
    /// Index of the next content block.
    next_index: usize,
    open: Option<Open>,
    /// Chat tool-call indices already given a block, so a late fragment cannot reopen one.
    seen_calls: Vec<u32>,
    finish: Option<FinishReason>,
    saw_tool_use: bool,
    usage: Option<Usage>,
    started: bool,
    ended: bool,
}

#[derive(Debug, PartialEq)]
enum Open {
    Text,
    Thinking,
    /// A tool use, by its chat tool-call index.
    Tool(u32),
}

impl MessagesStreamEncoder {
    /// An encoder for the message `id`, reporting `model` (the name the client asked for).
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            next_index: 0,
            open: None,
            seen_calls: Vec::new(),
            finish: None,
            saw_tool_use: false,
            usage: None,
            started: false,
            ended: false,
        }
    }

    /// `message_start` and a `ping`, sent before the first chunk.
    pub fn start(&mut self) -> Vec<Bytes> {
        if self.started || self.ended {
            return Vec::new();
        }
        self.started = true;
        vec![
            frame(
                "message_start",
                &json!({"type": "message_start", "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ),
            frame("ping", &json!({"type": "ping"})),
        ]
    }

    /// The events for one chat chunk.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) -> Vec<Bytes> {
        let mut out = self.start();
        if self.ended {
            return out;
        }
        if let Some(Some(u)) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        // Anthropic has one choice; `n > 1` is not a Messages concept.
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                self.ensure(
                    Open::Thinking,
                    &mut out,
                    || json!({"type": "thinking", "thinking": "", "signature": ""}),
                );
                out.push(self.delta(json!({"type": "thinking_delta", "thinking": r})));
            }
            if let Some(blocks) = d.extra.get("thinking_blocks").and_then(Value::as_array) {
                for b in blocks {
                    self.thinking_block(b, &mut out);
                }
            }
            if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
                self.ensure(Open::Text, &mut out, || json!({"type": "text", "text": ""}));
                out.push(self.delta(json!({"type": "text_delta", "text": t})));
            }
            for call in d.tool_calls.iter().flatten() {
                let args = call.function.as_ref().and_then(|f| f.arguments.as_deref());
                if self.open != Some(Open::Tool(call.index)) {
                    if self.seen_calls.contains(&call.index) {
                        // A fragment of a call whose block is closed: its JSON cannot be
                        // split across two blocks, so it is dropped and logged.
                        tracing::warn!(
                            index = call.index,
                            "tool-call fragment after its block closed"
                        );
                        continue;
                    }
                    self.seen_calls.push(call.index);
                    self.saw_tool_use = true;
                    let id = call
                        .id
                        .clone()
                        .unwrap_or_else(|| super::response::new_id("toolu"));
                    let name = call
                        .function
                        .as_ref()
                        .and_then(|f| f.name.clone())
                        .unwrap_or_default();
                    self.ensure(
                        Open::Tool(call.index),
                        &mut out,
                        || json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    );
                }
                if let Some(a) = args.filter(|a| !a.is_empty()) {
                    out.push(self.delta(json!({"type": "input_json_delta", "partial_json": a})));
                }
            }
            if let Some(f) = &choice.finish_reason {
                self.finish = Some(f.clone());
            }
        }
        out
    }

    /// Closes the last block, then `message_delta` and `message_stop`.
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = self.start();
        if self.ended {
            return out;
        }
        self.close(&mut out);
        let stop = if self.saw_tool_use && matches!(self.finish, None | Some(FinishReason::Stop)) {
            "tool_use"
        } else {
            stop_reason(self.finish.as_ref())
        };
        out.push(frame(
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": null},
                    "usage": usage_object(self.usage.as_ref())}),
        ));
        out.push(frame("message_stop", &json!({"type": "message_stop"})));
        self.ended = true;
        out
    }

    /// An `error` event ending the stream (nothing if the message already ended).
    pub fn fail(&mut self, error: &GatewayError) -> Vec<Bytes> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        vec![frame("error", &error_body(error))]
    }

    /// Usage reported so far (the last chunk carries it).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// A signed thinking block piece: its signature goes on the open thinking block; a
    /// redacted block is a block of its own.
    fn thinking_block(&mut self, b: &Value, out: &mut Vec<Bytes>) {
        match b.get("type").and_then(Value::as_str) {
            Some("redacted_thinking") => {
                self.close(out);
                let index = self.next_index;
                self.next_index += 1;
                out.push(frame(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": b}),
                ));
                out.push(frame(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                ));
            }
            Some("thinking") => {
                if let Some(sig) = b
                    .get("signature")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                {
                    self.ensure(
                        Open::Thinking,
                        out,
                        || json!({"type": "thinking", "thinking": "", "signature": ""}),
                    );
                    out.push(self.delta(json!({"type": "signature_delta", "signature": sig})));
                }
            }
            _ => {}
        }
    }

    /// Opens a block of `kind` unless one is open already, closing any other first.
    fn ensure(&mut self, kind: Open, out: &mut Vec<Bytes>, block: impl FnOnce() -> Value) {
        if self.open.as_ref() == Some(&kind) {
            return;
        }
        self.close(out);
        out.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.next_index,
                    "content_block": block()}),
        ));
        self.open = Some(kind);
    }

    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.open.take().is_some() {
            out.push(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.next_index}),
            ));
            self.next_index += 1;
        }
    }

    fn delta(&self, delta: Value) -> Bytes {
        frame(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": self.next_index, "delta": delta}),
        )
    }
}

/// `event: <name>\ndata: <json>\n\n`.
fn frame(event: &str, data: &Value) -> Bytes {
    let json = serde_json::to_vec(data).unwrap_or_default();
    let mut b = BytesMut::with_capacity(json.len() + event.len() + 16);
    b.put_slice(b"event: ");
    b.put_slice(event.as_bytes());
    b.put_slice(b"\ndata: ");
    b.put_slice(&json);
    b.put_slice(b"\n\n");
    b.freeze()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn chunk(v: Value) -> ChatCompletionChunk {
        let mut base =
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"});
        for (k, val) in v.as_object().unwrap() {
            base[k] = val.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn delta(d: Value) -> ChatCompletionChunk {
        chunk(json!({"choices": [{"index": 0, "delta": d}]}))
    }

    fn events(frames: &[Bytes]) -> Vec<Value> {
        frames
            .iter()
            .map(|f| {
                let text = std::str::from_utf8(f).unwrap();
                let (head, data) = text.split_once('\n').unwrap();
                let v: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap().trim()).unwrap();
                assert_eq!(head, format!("event: {}", v["type"].as_str().unwrap()));
                v
            })
            .collect()
    }

    /// Rebuilds the message a client SDK would accumulate from the events.
    fn accumulate(evs: &[Value]) -> Value {
        let mut msg = Value::Null;
        let mut partial: Vec<String> = Vec::new();
        for e in evs {
            match e["type"].as_str().unwrap() {
                "message_start" => msg = e["message"].clone(),
                "content_block_start" => {
                    let i = e["index"].as_u64().unwrap() as usize;
                    assert_eq!(msg["content"].as_array().unwrap().len(), i);
                    msg["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(e["content_block"].clone());
                    partial.push(String::new());
                }
                "content_block_delta" => {
                    let i = e["index"].as_u64().unwrap() as usize;
                    let b = &mut msg["content"][i];
                    let d = &e["delta"];
                    match d["type"].as_str().unwrap() {
                        "text_delta" => {
                            b["text"] = json!(format!(
                                "{}{}",
                                b["text"].as_str().unwrap(),
                                d["text"].as_str().unwrap()
                            ))
                        }
                        "thinking_delta" => {
                            b["thinking"] = json!(format!(
                                "{}{}",
                                b["thinking"].as_str().unwrap(),
                                d["thinking"].as_str().unwrap()
                            ))
                        }
                        "signature_delta" => b["signature"] = d["signature"].clone(),
                        "input_json_delta" => {
                            partial[i].push_str(d["partial_json"].as_str().unwrap())
                        }
                        other => panic!("unknown delta {other}"),
                    }
                }
                "content_block_stop" => {
                    let i = e["index"].as_u64().unwrap() as usize;
                    if msg["content"][i]["type"] == "tool_use" && !partial[i].is_empty() {
                        msg["content"][i]["input"] = serde_json::from_str(&partial[i]).unwrap();
                    }
                }
                "message_delta" => {
                    msg["stop_reason"] = e["delta"]["stop_reason"].clone();
                    msg["usage"] = e["usage"].clone();
                }
                "message_stop" | "ping" => {}
                other => panic!("unexpected event {other}"),
            }
        }
        msg
    }

    #[test]
    fn thinking_text_and_tool_calls_reassemble_exactly() {
        let mut enc = MessagesStreamEncoder::new("msg_1".into(), "claude-x".into());
        let args = r#"{"city": "Paris", "units": ["c", "f"], "n": 1.5}"#;
        let mut frames = enc.start();
        let mut chunks = vec![
            delta(json!({"role": "assistant", "reasoning_content": "Let me "})),
            delta(json!({"reasoning_content": "think."})),
            delta(
                json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "SIG=="}]}),
            ),
            delta(json!({"content": "Checking"})),
            delta(json!({"content": " now."})),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                         "function": {"name": "get_weather", "arguments": ""}}]}),
            ),
        ];
        for piece in args.as_bytes().chunks(3) {
            chunks.push(delta(json!({"tool_calls": [{"index": 0,
                "function": {"arguments": std::str::from_utf8(piece).unwrap()}}]})));
        }
        chunks.push(delta(json!({"tool_calls": [{"index": 1, "id": "call_b",
            "function": {"name": "noop", "arguments": "{}"}}]})));
        chunks.push(chunk(
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ));
        chunks.push(chunk(json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}})));
        for c in &chunks {
            frames.extend(enc.push(c));
        }
        frames.extend(enc.finish());
        let evs = events(&frames);
        assert_eq!(evs[0]["type"], "message_start");
        assert_eq!(evs[1]["type"], "ping");
        assert_eq!(evs.last().unwrap()["type"], "message_stop");
        let msg = accumulate(&evs);
        assert_eq!(msg["model"], "claude-x");
        assert_eq!(
            msg["content"][0],
            json!({"type": "thinking", "thinking": "Let me think.", "signature": "SIG=="})
        );
        assert_eq!(
            msg["content"][1],
            json!({"type": "text", "text": "Checking now."})
        );
        assert_eq!(msg["content"][2]["id"], "call_a");
        assert_eq!(
            msg["content"][2]["input"],
            serde_json::from_str::<Value>(args).unwrap()
        );
        // The raw JSON text is exactly what the model produced.
        let raw: String = evs
            .iter()
            .filter(|e| e["index"] == 2 && e["delta"]["type"] == "input_json_delta")
            .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(raw, args);
        assert_eq!(msg["content"][3]["name"], "noop");
        assert_eq!(msg["stop_reason"], "tool_use");
        assert_eq!(msg["usage"]["input_tokens"], 10);
        assert_eq!(msg["usage"]["output_tokens"], 7);
        // Nothing after message_stop, not even an error.
        assert!(enc.finish().is_empty());
        assert!(enc.fail(&GatewayError::Internal("late".into())).is_empty());
        assert!(enc.push(&delta(json!({"content": "late"}))).is_empty());
    }

    #[test]
    fn failure_is_one_error_event_and_the_end() {
        let mut enc = MessagesStreamEncoder::new("msg_1".into(), "m".into());
        let mut frames = enc.push(&delta(json!({"content": "par"})));
        frames.extend(enc.fail(&GatewayError::Timeout {
            provider: "OpenAI".into(),
            seconds: 1.0,
        }));
        frames.extend(enc.finish());
        let evs = events(&frames);
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "error");
        assert_eq!(last["error"]["type"], "timeout_error");
        assert!(!evs.iter().any(|e| e["type"] == "message_stop"));
    }

    #[test]
    fn redacted_thinking_is_its_own_block_and_length_maps_to_max_tokens() {
        let mut enc = MessagesStreamEncoder::new("msg_1".into(), "m".into());
        let mut frames = enc.start();
        frames.extend(enc.push(&delta(
            json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "xyz"}]}),
        )));
        frames.extend(enc.push(&chunk(json!({"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "length"}]}))));
        frames.extend(enc.finish());
        let msg = accumulate(&events(&frames));
        assert_eq!(
            msg["content"][0],
            json!({"type": "redacted_thinking", "data": "xyz"})
        );
        assert_eq!(msg["content"][1]["text"], "hi");
        assert_eq!(msg["stop_reason"], "max_tokens");
    }
}
