//! OpenAI chat chunks turned into the Responses API's typed stream events
//! (`event: <type>\ndata: {...}\n\n`, every event numbered by `sequence_number`).

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tollgate_core::chat::FinishReason;
use tollgate_core::{ChatCompletionChunk, GatewayError, Usage};

use super::request::ResponsesRequest;
use super::response::{
    Outcome, function_call_item, message_item, new_id, output_text_part, reasoning_item,
    response_object,
};

/// Builds the event stream of one response from the chat chunks of one call.
#[derive(Debug)]
pub struct ResponsesStreamEncoder {
    req: ResponsesRequest,
    id: String,
    created_at: i64,
    sequence: u64,
    /// Finished items by output index.
    items: Vec<Option<Value>>,
    reasoning: Option<OpenReasoning>,
    message: Option<OpenMessage>,
    /// Function calls by their chat `index`.
    calls: BTreeMap<u32, OpenCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

#[derive(Debug)]
struct OpenReasoning {
    index: usize,
    id: String,
    text: String,
    blocks: Vec<Value>,
}

#[derive(Debug)]
struct OpenMessage {
    index: usize,
    id: String,
    text: String,
}

#[derive(Debug)]
struct OpenCall {
    index: usize,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
}

impl ResponsesStreamEncoder {
    /// An encoder for the response `id` answering `req`.
    pub fn new(req: ResponsesRequest, id: String, created_at: i64) -> Self {
        Self {
            req,
            id,
            created_at,
            sequence: 0,
            items: Vec::new(),
            reasoning: None,
            message: None,
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
        }
    }

    /// The response id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `response.created` and `response.in_progress`.
    pub fn start(&mut self) -> Vec<Bytes> {
        let skeleton = self.snapshot(&Outcome::InProgress);
        vec![
            self.event(json!({"type": "response.created", "response": skeleton.clone()})),
            self.event(json!({"type": "response.in_progress", "response": skeleton})),
        ]
    }

    /// The events one chat chunk produces.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(u) = chunk.usage() {
            self.usage = Some(u.clone());
        }
        // Responses carry one answer: only the first choice is followed.
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return out;
        };
        let delta = &choice.delta;
        let blocks = delta
            .extra
            .get("thinking_blocks")
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty());
        let reasoning = delta.reasoning_content.as_deref().filter(|s| !s.is_empty());
        if reasoning.is_some() || blocks.is_some() {
            self.close_message(&mut out);
            if self.reasoning.is_none() {
                let index = self.next_index();
                let id = new_id("rs");
                out.push(self.event(
                    json!({"type": "response.output_item.added", "output_index": index,
                    "item": {"id": id, "type": "reasoning", "summary": []}}),
                ));
                self.reasoning = Some(OpenReasoning {
                    index,
                    id,
                    text: String::new(),
                    blocks: Vec::new(),
                });
            }
            if let Some(text) = reasoning {
                let (index, id, first) = match self.reasoning.as_mut() {
                    Some(r) => {
                        let first = r.text.is_empty();
                        r.text.push_str(text);
                        (r.index, r.id.clone(), first)
                    }
                    None => return out,
                };
                if first {
                    out.push(
                        self.event(json!({"type": "response.reasoning_summary_part.added",
                        "item_id": id, "output_index": index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""}})),
                    );
                }
                out.push(
                    self.event(json!({"type": "response.reasoning_summary_text.delta",
                    "item_id": id, "output_index": index, "summary_index": 0, "delta": text})),
                );
            }
            if let (Some(r), Some(blocks)) = (self.reasoning.as_mut(), blocks) {
                for block in blocks {
                    merge_thinking_block(&mut r.blocks, block);
                }
            }
        }
        if let Some(text) = delta.content.as_deref().filter(|s| !s.is_empty()) {
            self.close_reasoning(&mut out);
            if self.message.is_none() {
                let index = self.next_index();
                let id = new_id("msg");
                out.push(self.event(json!({"type": "response.output_item.added", "output_index": index,
                    "item": {"id": id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}})));
                out.push(self.event(json!({"type": "response.content_part.added", "item_id": id,
                    "output_index": index, "content_index": 0, "part": output_text_part("", None)})));
                self.message = Some(OpenMessage {
                    index,
                    id,
                    text: String::new(),
                });
            }
            if let Some(m) = self.message.as_mut() {
                m.text.push_str(text);
                let (id, index) = (m.id.clone(), m.index);
                out.push(
                    self.event(json!({"type": "response.output_text.delta", "item_id": id,
                    "output_index": index, "content_index": 0, "delta": text, "logprobs": []})),
                );
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            self.close_reasoning(&mut out);
            self.close_message(&mut out);
            if !self.calls.contains_key(&call.index) {
                let index = self.next_index();
                let id = new_id("fc");
                let call_id = call.id.clone().unwrap_or_else(|| new_id("call"));
                let name = call
                    .function
                    .as_ref()
                    .and_then(|f| f.name.clone())
                    .unwrap_or_default();
                out.push(self.event(
                    json!({"type": "response.output_item.added", "output_index": index,
                    "item": function_call_item(&id, "in_progress", &call_id, &name, "")}),
                ));
                self.calls.insert(
                    call.index,
                    OpenCall {
                        index,
                        id,
                        call_id,
                        name,
                        arguments: String::new(),
                    },
                );
            }
            let args = call
                .function
                .as_ref()
                .and_then(|f| f.arguments.as_deref())
                .filter(|a| !a.is_empty());
            if let (Some(open), Some(args)) = (self.calls.get_mut(&call.index), args) {
                open.arguments.push_str(args);
                let (id, index) = (open.id.clone(), open.index);
                out.push(
                    self.event(json!({"type": "response.function_call_arguments.delta",
                    "item_id": id, "output_index": index, "delta": args})),
                );
            }
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish = Some(reason.clone());
        }
        out
    }

    /// Closes every open item and ends with `response.completed` (or `.incomplete`).
    pub fn finish(&mut self) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.close_all(&mut out);
        let outcome = Outcome::from_finish(self.finish.as_ref());
        let response = self.snapshot(&outcome);
        let kind = match outcome {
            Outcome::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        out.push(self.event(json!({"type": kind, "response": response})));
        out
    }

    /// Ends a stream the provider broke: `response.failed` with the error and what was said.
    pub fn fail(&mut self, error: &GatewayError) -> Vec<Bytes> {
        let mut out = Vec::new();
        self.close_all(&mut out);
        let response = self.snapshot(&Outcome::Failed(error.clone()));
        out.push(self.event(json!({"type": "response.failed", "response": response})));
        out
    }

    /// The response as it stands (after `finish`, the final one, for storage).
    pub fn final_response(&self) -> Value {
        self.snapshot(&Outcome::from_finish(self.finish.as_ref()))
    }

    /// Usage reported by the provider, if any yet.
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    fn snapshot(&self, outcome: &Outcome) -> Value {
        let output = self.items.iter().flatten().cloned().collect();
        response_object(
            &self.id,
            self.created_at,
            &self.req,
            outcome,
            output,
            self.usage.as_ref(),
        )
    }

    fn next_index(&mut self) -> usize {
        self.items.push(None);
        self.items.len() - 1
    }

    fn close_all(&mut self, out: &mut Vec<Bytes>) {
        self.close_reasoning(out);
        self.close_message(out);
        let calls = std::mem::take(&mut self.calls);
        for call in calls.into_values() {
            out.push(
                self.event(json!({"type": "response.function_call_arguments.done",
                "item_id": call.id, "output_index": call.index, "name": call.name,
                "arguments": call.arguments})),
            );
            let item = function_call_item(
                &call.id,
                "completed",
                &call.call_id,
                &call.name,
                &call.arguments,
            );
            out.push(self.event(
                json!({"type": "response.output_item.done", "output_index": call.index, "item": item.clone()}),
            ));
            self.items[call.index] = Some(item);
        }
    }

    fn close_reasoning(&mut self, out: &mut Vec<Bytes>) {
        let Some(r) = self.reasoning.take() else {
            return;
        };
        if !r.text.is_empty() {
            out.push(
                self.event(json!({"type": "response.reasoning_summary_text.done",
                "item_id": r.id, "output_index": r.index, "summary_index": 0, "text": r.text})),
            );
            out.push(
                self.event(json!({"type": "response.reasoning_summary_part.done",
                "item_id": r.id, "output_index": r.index, "summary_index": 0,
                "part": {"type": "summary_text", "text": r.text}})),
            );
        }
        let blocks = (!r.blocks.is_empty() && self.req.wants_encrypted_reasoning())
            .then(|| Value::Array(r.blocks.clone()));
        let item = reasoning_item(&r.id, &r.text, blocks.as_ref());
        out.push(self.event(
            json!({"type": "response.output_item.done", "output_index": r.index, "item": item.clone()}),
        ));
        self.items[r.index] = Some(item);
    }

    fn close_message(&mut self, out: &mut Vec<Bytes>) {
        let Some(m) = self.message.take() else {
            return;
        };
        out.push(
            self.event(json!({"type": "response.output_text.done", "item_id": m.id,
            "output_index": m.index, "content_index": 0, "text": m.text, "logprobs": []})),
        );
        out.push(self.event(
            json!({"type": "response.content_part.done", "item_id": m.id,
            "output_index": m.index, "content_index": 0, "part": output_text_part(&m.text, None)}),
        ));
        let item = message_item(&m.id, "completed", &m.text, None);
        out.push(self.event(
            json!({"type": "response.output_item.done", "output_index": m.index, "item": item.clone()}),
        ));
        self.items[m.index] = Some(item);
    }

    /// One SSE frame: `event: <type>` and the JSON with its sequence number.
    fn event(&mut self, mut body: Value) -> Bytes {
        body["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let kind = body["type"].as_str().unwrap_or("error").to_owned();
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut b = BytesMut::with_capacity(json.len() + kind.len() + 16);
        b.put_slice(b"event: ");
        b.put_slice(kind.as_bytes());
        b.put_slice(b"\ndata: ");
        b.put_slice(&json);
        b.put_slice(b"\n\n");
        b.freeze()
    }
}

/// Streamed thinking blocks arrive in fragments: consecutive `thinking` fragments join into one
/// block, which takes the signature when it comes.
fn merge_thinking_block(blocks: &mut Vec<Value>, block: &Value) {
    let is_thinking = block.get("type").and_then(Value::as_str) == Some("thinking");
    if let Some(last) = blocks.last_mut() {
        let open = last.get("type").and_then(Value::as_str) == Some("thinking")
            && last
                .get("signature")
                .is_none_or(|s| s.as_str().is_none_or(str::is_empty));
        if is_thinking && open {
            if let Some(text) = block.get("thinking").and_then(Value::as_str) {
                let joined = format!(
                    "{}{text}",
                    last.get("thinking").and_then(Value::as_str).unwrap_or("")
                );
                last["thinking"] = json!(joined);
            }
            if let Some(sig) = block.get("signature").filter(|s| !s.is_null()) {
                last["signature"] = sig.clone();
            }
            return;
        }
    }
    blocks.push(block.clone());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn chunk(v: Value) -> ChatCompletionChunk {
        let mut base =
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn delta(d: Value) -> ChatCompletionChunk {
        chunk(json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]}))
    }

    fn events(frames: &[Bytes]) -> Vec<Value> {
        frames
            .iter()
            .map(|f| {
                let s = std::str::from_utf8(f).unwrap();
                let (head, data) = s.split_once("\ndata: ").unwrap();
                let v: Value = serde_json::from_str(data.trim_end()).unwrap();
                assert_eq!(head, format!("event: {}", v["type"].as_str().unwrap()));
                v
            })
            .collect()
    }

    fn run(req: Value, chunks: Vec<ChatCompletionChunk>) -> (Vec<Value>, Value) {
        let req: ResponsesRequest = serde_json::from_value(req).unwrap();
        let mut e = ResponsesStreamEncoder::new(req, "resp_1".into(), 5);
        let mut frames = e.start();
        for c in &chunks {
            frames.extend(e.push(c));
        }
        frames.extend(e.finish());
        let evs = events(&frames);
        for (i, ev) in evs.iter().enumerate() {
            assert_eq!(ev["sequence_number"], i, "{ev}");
        }
        (evs, e.final_response())
    }

    fn types(evs: &[Value]) -> Vec<&str> {
        evs.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn text_streams_as_the_recorded_event_sequence() {
        let (evs, fin) = run(
            json!({"model": "alias", "input": "q"}),
            vec![
                delta(json!({"role": "assistant", "content": ""})),
                delta(json!({"content": "stream"})),
                delta(json!({"content": "ed"})),
                chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
                chunk(
                    json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
                ),
            ],
        );
        // The order OpenAI sends (fx:openai/responses_stream.sse).
        assert_eq!(
            types(&evs),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(evs[0]["response"]["status"], "in_progress");
        assert_eq!(evs[6]["text"], "streamed");
        let done = &evs[9]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["model"], "alias");
        assert_eq!(done["output"][0]["content"][0]["text"], "streamed");
        assert_eq!(done["usage"]["total_tokens"], 5);
        assert_eq!(&fin, done);
    }

    #[test]
    fn reasoning_then_parallel_calls_reassemble_exactly() {
        let (evs, fin) = run(
            json!({"model": "m", "input": "q", "include": ["reasoning.encrypted_content"]}),
            vec![
                delta(
                    json!({"reasoning_content": "Let me ", "thinking_blocks": [{"type": "thinking", "thinking": "Let me "}]}),
                ),
                delta(
                    json!({"reasoning_content": "check.", "thinking_blocks": [{"type": "thinking", "thinking": "check.", "signature": "sig"}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get", "arguments": ""}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Rome\"}"}}]}),
                ),
                delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                ),
                chunk(
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                ),
            ],
        );
        let output = &fin["output"];
        assert_eq!(output[0]["type"], "reasoning");
        assert_eq!(output[0]["summary"][0]["text"], "Let me check.");
        assert_eq!(
            output[0]["encrypted_content"],
            json!(super::super::request::encode_thinking_blocks(
                &json!([{"type": "thinking", "thinking": "Let me check.", "signature": "sig"}])
            ))
        );
        assert_eq!(output[1]["call_id"], "call_a");
        assert_eq!(output[1]["arguments"], "{\"city\":\"Paris\"}");
        assert_eq!(output[2]["call_id"], "call_b");
        assert_eq!(output[2]["arguments"], "{\"city\":\"Rome\"}");
        // Deltas per item add up to the final arguments.
        for (i, expected) in [(1, "{\"city\":\"Paris\"}"), (2, "{\"city\":\"Rome\"}")] {
            let joined: String = evs
                .iter()
                .filter(|e| {
                    e["type"] == "response.function_call_arguments.delta" && e["output_index"] == i
                })
                .map(|e| e["delta"].as_str().unwrap())
                .collect();
            assert_eq!(joined, expected);
        }
        assert_eq!(types(&evs).last().copied(), Some("response.completed"));
    }

    #[test]
    fn a_length_stop_ends_incomplete_and_an_error_ends_failed() {
        let (evs, _) = run(
            json!({"model": "m", "input": "q"}),
            vec![
                delta(json!({"content": "Par"})),
                chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})),
            ],
        );
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "response.incomplete");
        assert_eq!(
            last["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );

        let req: ResponsesRequest =
            serde_json::from_value(json!({"model": "m", "input": "q"})).unwrap();
        let mut e = ResponsesStreamEncoder::new(req, "r".into(), 1);
        let mut frames = e.start();
        frames.extend(e.push(&delta(json!({"content": "Pa"}))));
        frames.extend(e.fail(&GatewayError::Connection {
            provider: "Anthropic".into(),
            message: "reset".into(),
        }));
        let evs = events(&frames);
        let last = evs.last().unwrap();
        assert_eq!(last["type"], "response.failed");
        assert_eq!(last["response"]["status"], "failed");
        assert!(
            last["response"]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("reset")
        );
        assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Pa");
    }
}
