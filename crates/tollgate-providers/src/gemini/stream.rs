//! The `streamGenerateContent?alt=sse` decoder: SSE bytes in, OpenAI chunks out.
//!
//! Every event is a whole `GenerateContentResponse` carrying increments: text and thought
//! deltas, and function calls that arrive whole (so each becomes one complete tool-call delta).
//! There is no `[DONE]`: the stream ends when the connection closes. Gemini can report a
//! finish reason and then keep sending text (seen with 2.5 models), so finish reasons are held
//! back and sent in one closing chunk when the body ends, followed by a `choices: []` chunk
//! with the last (cumulative) usage, which the router passes on only to clients that asked for
//! it. A body that ends without any finish reason is an error, not a short answer.

use bytes::Bytes;
use serde_json::Value;
use tollgate_core::{
    ChatCompletionChunk, ChunkChoice, Delta, Extra, GatewayError, Role, ToolCallDelta, Usage,
};

use super::GeminiAdapter;
use super::error::error_from_value;
use super::response::{
    CallIds, GenerateContentResponse, candidate_metadata, finish_reason, model_name, now, pieces,
    unique_suffix, usage,
};
use crate::sse::SseDecoder;
use crate::stream_event::StreamEvent;
use tollgate_core::chat::FunctionCallDelta;

/// Decodes one upstream stream into typed chunks.
#[derive(Debug)]
pub struct GeminiStreamDecoder {
    sse: SseDecoder,
    provider: &'static str,
    /// Chunk id: the first `responseId` seen (constant for the whole stream).
    id: Option<String>,
    ids: Option<CallIds>,
    created: i64,
    model: String,
    choices: Vec<ChoiceState>,
    /// The last usage reported (boxed: it is large and the decoder lives in an enum).
    usage: Option<Box<Usage>>,
    /// The prompt was blocked: no candidates, only `promptFeedback.blockReason`.
    blocked: bool,
    /// `Done` or an error was emitted; nothing follows.
    ended: bool,
    /// Grounding/citation/safety metadata not yet sent: an event can carry it without any
    /// delta to ride on (usually the last one), so it waits for the next chunk out.
    metadata: Extra,
}

#[derive(Debug)]
struct ChoiceState {
    index: u32,
    role_sent: bool,
    calls: u32,
    /// The last finish reason Gemini gave this candidate.
    finish: Option<String>,
}

impl GeminiAdapter {
    /// A decoder for this deployment's chat stream.
    pub fn stream_decoder(&self) -> GeminiStreamDecoder {
        GeminiStreamDecoder {
            sse: SseDecoder::new(),
            provider: self.provider_name(),
            id: None,
            ids: None,
            created: now(),
            model: self.upstream_model.clone(),
            choices: Vec::new(),
            usage: None,
            blocked: false,
            ended: false,
            metadata: Extra::new(),
        }
    }
}

impl GeminiStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        if self.ended {
            return Vec::new();
        }
        let events = self.sse.feed(bytes);
        let mut out = Vec::new();
        for ev in events {
            if self.ended {
                break;
            }
            let ev = self.event(&ev.data, &mut out);
            out.extend(ev);
        }
        out
    }

    /// The upstream closed the body: the held-back finish reasons, the usage chunk and `Done`,
    /// or an error if Gemini never said it was finished.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if let Some(ev) = self.sse.finish() {
            let ev = self.event(&ev.data, &mut out);
            out.extend(ev);
        }
        if self.ended {
            return out;
        }
        self.ended = true;
        let mut closing = Vec::new();
        if self.blocked && self.choices.is_empty() {
            closing.push(ChunkChoice {
                index: 0,
                delta: Delta {
                    role: Some(Role::Assistant),
                    ..Delta::default()
                },
                finish_reason: Some(tollgate_core::FinishReason::ContentFilter),
                logprobs: None,
                extra: Extra::new(),
            });
        }
        for state in &self.choices {
            let Some(raw) = &state.finish else { continue };
            closing.push(ChunkChoice {
                index: state.index,
                delta: Delta {
                    role: (!state.role_sent).then_some(Role::Assistant),
                    ..Delta::default()
                },
                finish_reason: Some(finish_reason(Some(raw), state.calls > 0)),
                logprobs: None,
                extra: Extra::new(),
            });
        }
        if closing.is_empty() {
            out.push(StreamEvent::Error(GatewayError::Connection {
                provider: self.provider.to_owned(),
                message: "the provider closed the stream before it finished".into(),
            }));
            return out;
        }
        let mut closing = self.chunk(closing);
        closing.extra = std::mem::take(&mut self.metadata);
        out.push(StreamEvent::Chunk(Box::new(closing)));
        if let Some(u) = self.usage.take() {
            let mut c = self.chunk(Vec::new());
            c.usage = Some(Some(*u));
            out.push(StreamEvent::Chunk(Box::new(c)));
        }
        out.push(StreamEvent::Done);
        out
    }

    /// One SSE event; an error event that reports usage first pushes it onto `out`.
    fn event(&mut self, data: &Bytes, out: &mut Vec<StreamEvent>) -> Option<StreamEvent> {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() || trimmed == b"[DONE]" {
            return None;
        }
        if trimmed.first() == Some(&b'[') {
            // An error envelope in array form; anything else in an array is not ours to read.
            let err = serde_json::from_slice::<Vec<Value>>(trimmed)
                .ok()
                .and_then(|items| {
                    items
                        .into_iter()
                        .find_map(|i| i.get("error").filter(|e| e.is_object()).cloned())
                });
            self.ended = true;
            return Some(StreamEvent::Error(match err {
                Some(e) => error_from_value(self.provider, 500, &e),
                None => self.invalid("a JSON array where a response was expected"),
            }));
        }
        let r: GenerateContentResponse = match serde_json::from_slice(trimmed) {
            Ok(r) => r,
            Err(e) => {
                self.ended = true;
                return Some(StreamEvent::Error(
                    self.invalid(&format!("bad stream event: {e}")),
                ));
            }
        };
        if let Some(err) = &r.error {
            self.ended = true;
            if let Some(m) = &r.usage_metadata {
                out.push(StreamEvent::usage_before_error(
                    self.id
                        .as_deref()
                        .or(r.response_id.as_deref())
                        .unwrap_or_default(),
                    &self.model,
                    self.created,
                    usage(m),
                ));
            }
            return Some(StreamEvent::Error(error_from_value(
                self.provider,
                500,
                err,
            )));
        }
        if self.id.is_none() {
            self.id = Some(
                r.response_id
                    .clone()
                    .unwrap_or_else(|| format!("chatcmpl-{}", unique_suffix())),
            );
        }
        if let Some(v) = &r.model_version {
            self.model = model_name(Some(v), &self.model);
        }
        if let Some(m) = &r.usage_metadata {
            self.usage = Some(Box::new(usage(m)));
        }
        let candidates = r.candidates.unwrap_or_default();
        // The latest metadata replaces what is pending: Gemini sends it whole, not as deltas.
        self.metadata.extend(candidate_metadata(&candidates));
        if candidates.is_empty()
            && r.prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.as_ref())
                .is_some()
        {
            self.blocked = true;
        }
        let mut choices = Vec::new();
        for (pos, c) in candidates.iter().enumerate() {
            let index = c
                .index
                .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX));
            let slot = match self.choices.iter().position(|s| s.index == index) {
                Some(i) => i,
                None => {
                    self.choices.push(ChoiceState {
                        index,
                        role_sent: false,
                        calls: 0,
                        finish: None,
                    });
                    self.choices.len() - 1
                }
            };
            if let Some(f) = &c.finish_reason {
                if let Some(state) = self.choices.get_mut(slot) {
                    state.finish = Some(f.clone());
                }
            }
            let p = pieces(c.parts());
            let mut signatures = p.text_signatures;
            let mut call_signature = None;
            let ids = self
                .ids
                .get_or_insert_with(|| CallIds::new(r.response_id.as_deref()));
            let Some(state) = self.choices.get_mut(slot) else {
                continue;
            };
            let mut tool_calls = Vec::with_capacity(p.calls.len());
            for call in p.calls {
                if call_signature.is_none() {
                    call_signature.clone_from(&call.signature);
                }
                tool_calls.push(ToolCallDelta {
                    index: state.calls,
                    id: Some(ids.next(call.id.as_deref())),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: Some(call.name),
                        arguments: Some(call.arguments),
                    }),
                });
                state.calls += 1;
            }
            let first = !state.role_sent;
            if !first && p.text.is_none() && p.reasoning.is_none() && tool_calls.is_empty() {
                continue;
            }
            state.role_sent = true;
            let mut extra = Extra::new();
            // Signatures ride on the delta: a tool-call delta has no room for extra fields.
            // Text-part signatures as LiteLLM's `thought_signatures`, the first function
            // call's (the one Gemini validates) as `thought_signature`.
            if !signatures.is_empty() || call_signature.is_some() {
                let mut fields = serde_json::Map::new();
                if !signatures.is_empty() {
                    fields.insert(
                        "thought_signatures".into(),
                        Value::from(std::mem::take(&mut signatures)),
                    );
                }
                if let Some(sig) = call_signature {
                    fields.insert("thought_signature".into(), Value::String(sig));
                }
                extra.insert("provider_specific_fields".into(), Value::Object(fields));
            }
            choices.push(ChunkChoice {
                index,
                delta: Delta {
                    role: first.then_some(Role::Assistant),
                    // OpenAI's first chunk says `content: ""` unless it opens with tool calls.
                    content: if first && tool_calls.is_empty() {
                        Some(p.text.unwrap_or_default())
                    } else {
                        p.text
                    },
                    reasoning_content: p.reasoning,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    refusal: None,
                    extra,
                },
                finish_reason: None,
                logprobs: None,
                extra: Extra::new(),
            });
        }
        if choices.is_empty() {
            return None;
        }
        let mut chunk = self.chunk(choices);
        chunk.extra = std::mem::take(&mut self.metadata);
        Some(StreamEvent::Chunk(Box::new(chunk)))
    }

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone().unwrap_or_default(),
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

    fn invalid(&self, message: &str) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.provider.to_owned(),
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, FinishReason, ModelRef};

    fn decoder(model: &str) -> GeminiStreamDecoder {
        let m = ModelRef::parse(model, None).unwrap();
        GeminiAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
        .stream_decoder()
    }

    fn sse(events: &[Value]) -> String {
        events
            .iter()
            .map(|e| format!("data: {e}\r\n\r\n"))
            .collect()
    }

    fn run(model: &str, input: &[u8], piece: usize) -> Vec<StreamEvent> {
        let mut d = decoder(model);
        let mut out = Vec::new();
        for c in input.chunks(piece.max(1)) {
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

    #[test]
    fn grounding_metadata_reaches_the_client_even_on_an_event_without_text() {
        let grounding = json!({"webSearchQueries": ["q"], "groundingChunks": [{"web": {"uri": "https://e.example"}}]});
        let safety = json!([{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]);
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "safetyRatings": safety}]}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP",
                   "groundingMetadata": grounding}]}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 7);
        let c = chunks(&events);
        assert_eq!(c[0].extra["vertex_ai_safety_results"], json!([safety]));
        assert!(c[0].extra.get("vertex_ai_grounding_metadata").is_none());
        // The second event has no delta: its metadata rides on the closing chunk.
        let closing = c
            .iter()
            .find(|c| c.choices.iter().any(|x| x.finish_reason.is_some()))
            .unwrap();
        assert_eq!(
            closing.extra["vertex_ai_grounding_metadata"],
            json!([grounding])
        );
        let sent: usize = c
            .iter()
            .filter(|c| c.extra.contains_key("vertex_ai_grounding_metadata"))
            .count();
        assert_eq!(sent, 1);
    }

    #[test]
    fn an_error_event_with_usage_reports_the_usage_before_the_error() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}], "responseId": "r9"}),
            json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"},
                   "usageMetadata": {"promptTokenCount": 11, "candidatesTokenCount": 4, "totalTokenCount": 15}}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 5);
        assert_eq!(events.len(), 3, "{events:?}");
        let StreamEvent::Chunk(u) = &events[1] else {
            panic!("{events:?}")
        };
        assert!(u.choices.is_empty());
        assert_eq!(u.id, "r9");
        assert_eq!(
            u.usage().map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((11, 4))
        );
        assert!(matches!(&events[2], StreamEvent::Error(e) if e.status() == 503));
    }

    #[test]
    fn text_stream_ends_with_finish_usage_and_done() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "Hé"}], "role": "model"}}],
                   "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}, "responseId": "r1",
                   "modelVersion": "gemini-2.0-flash"}),
            json!({"candidates": [{"content": {"parts": [{"text": "llo"}], "role": "model"}, "finishReason": "STOP"}],
                   "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}, "responseId": "r1"}),
        ]);
        let whole = run("gemini/gemini-2.0-flash", input.as_bytes(), input.len());
        for piece in [1, 2, 3, 5, 8, 13] {
            assert_eq!(
                format!(
                    "{:?}",
                    run("gemini/gemini-2.0-flash", input.as_bytes(), piece)
                ),
                format!("{whole:?}"),
                "piece {piece}"
            );
        }
        assert!(matches!(whole.last(), Some(StreamEvent::Done)));
        let c = chunks(&whole);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].id, "r1");
        assert_eq!(c[0].model, "gemini-2.0-flash");
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(c[0].choices[0].delta.content.as_deref(), Some("Hé"));
        assert_eq!(c[1].choices[0].delta.role, None);
        assert_eq!(c[1].choices[0].delta.content.as_deref(), Some("llo"));
        assert_eq!(c[1].choices[0].finish_reason, None);
        assert_eq!(c[2].choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(c[2].choices[0].delta, Delta::default());
        assert!(c[3].choices.is_empty());
        let u = c[3].usage().unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (3, 2, 5)
        );
        assert!(c[..3].iter().all(|c| c.usage.is_none()));
        assert!(c.iter().all(|x| x.id == "r1"));
    }

    #[test]
    fn calls_arrive_whole_and_stop_becomes_tool_calls() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [
                {"functionCall": {"name": "a", "args": {"q": 1}}, "thoughtSignature": "S"},
                {"functionCall": {"name": "b", "args": {}}}], "role": "model"}}], "responseId": "rid"}),
            json!({"candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP"}],
                   "responseId": "rid"}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 7);
        let c = chunks(&events);
        let calls = c[0].choices[0].delta.tool_calls.as_ref().unwrap();
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(
            c[0].choices[0].delta.content, None,
            "no empty content beside calls"
        );
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].index, calls[1].index), (0, 1));
        assert_eq!(calls[0].id.as_deref(), Some("call_rid_0"));
        assert_eq!(calls[1].id.as_deref(), Some("call_rid_1"));
        let f = calls[0].function.as_ref().unwrap();
        assert_eq!(
            (f.name.as_deref(), f.arguments.as_deref()),
            (Some("a"), Some("{\"q\":1}"))
        );
        assert_eq!(
            c[0].choices[0].delta.extra["provider_specific_fields"],
            json!({"thought_signature": "S"})
        );
        // The empty-text event adds nothing; the closing chunk says tool_calls.
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
    }

    #[test]
    fn thoughts_stream_as_reasoning_content() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "hmm", "thought": true}]}, "index": 0}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "42"}]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "thoughtsTokenCount": 9}}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 4);
        let c = chunks(&events);
        assert_eq!(
            c[0].choices[0].delta.reasoning_content.as_deref(),
            Some("hmm")
        );
        assert_eq!(c[0].choices[0].delta.content.as_deref(), Some(""));
        assert_eq!(c[1].choices[0].delta.content.as_deref(), Some("42"));
        let u = c[3].usage().unwrap();
        assert_eq!((u.completion_tokens, u.reasoning_tokens()), (10, 9));
    }

    #[test]
    fn a_late_finish_reason_wins_and_text_after_a_finish_is_kept() {
        let input = sse(&[
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"}]}),
            json!({"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 64);
        let c = chunks(&events);
        let finishes: Vec<_> = c
            .iter()
            .flat_map(|c| c.choices.iter().filter_map(|x| x.finish_reason.clone()))
            .collect();
        assert_eq!(finishes, [FinishReason::Stop]);
        assert_eq!(c[1].choices[0].delta.content.as_deref(), Some("b"));
        // No usage reported, so no usage chunk.
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn a_blocked_prompt_streams_an_empty_filtered_answer() {
        let input = sse(&[
            json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 3);
        let c = chunks(&events);
        assert_eq!(c[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(
            c[0].choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        assert_eq!(c[1].usage().unwrap().prompt_tokens, 4);
        assert!(matches!(events.last(), Some(StreamEvent::Done)));
    }

    #[test]
    fn a_stream_cut_before_its_finish_is_an_error() {
        let input = sse(&[json!({"candidates": [{"content": {"parts": [{"text": "partial"}]}}]})]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 5);
        assert_eq!(events.len(), 2);
        assert!(matches!(
            events.last(),
            Some(StreamEvent::Error(GatewayError::Connection { .. }))
        ));
        let events = run("gemini/gemini-2.5-flash", b"", 1);
        assert!(matches!(events.as_slice(), [StreamEvent::Error(_)]));
    }

    #[test]
    fn midstream_errors_end_the_stream_with_their_status() {
        let input = format!(
            "{}data: {}\r\n\r\n{}",
            sse(&[json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})]),
            json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
            sse(&[
                json!({"candidates": [{"content": {"parts": [{"text": "never"}]}, "finishReason": "STOP"}]})
            ]),
        );
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 11);
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[1] {
            StreamEvent::Error(e) => {
                assert_eq!(e.status(), 503);
                assert!(
                    e.to_string()
                        .contains("VertexAIException - The model is overloaded."),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
        let events = run(
            "gemini/gemini-2.5-flash",
            b"data: [{\"error\":{\"code\":429,\"message\":\"slow\",\"status\":\"RESOURCE_EXHAUSTED\"}}]\n\n",
            2,
        );
        assert!(matches!(events.as_slice(), [StreamEvent::Error(e)] if e.status() == 429));
        let events = run("gemini/gemini-2.5-flash", b"data: {not json\n\n", 2);
        assert!(matches!(
            events.as_slice(),
            [StreamEvent::Error(
                GatewayError::InvalidUpstreamResponse { .. }
            )]
        ));
    }

    #[test]
    fn several_candidates_keep_their_own_indices() {
        let input = sse(&[
            json!({"candidates": [
                {"content": {"parts": [{"text": "x"}]}, "index": 0},
                {"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "index": 1}]}),
            json!({"candidates": [
                {"content": {"parts": [{"text": "y"}]}, "index": 0, "finishReason": "STOP"},
                {"content": {"parts": [{"functionCall": {"name": "g", "args": {}}}]}, "index": 1, "finishReason": "STOP"}]}),
        ]);
        let events = run("gemini/gemini-2.5-flash", input.as_bytes(), 9);
        let c = chunks(&events);
        let second = &c[1].choices[1];
        assert_eq!(second.index, 1);
        assert_eq!(second.delta.tool_calls.as_ref().unwrap()[0].index, 1);
        let closing = &c[2].choices;
        assert_eq!(closing.len(), 2);
        assert_eq!(closing[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(closing[1].finish_reason, Some(FinishReason::ToolCalls));
        let ids: Vec<_> = c
            .iter()
            .flat_map(|c| c.choices.iter())
            .flat_map(|x| x.delta.tool_calls.iter().flatten())
            .filter_map(|t| t.id.clone())
            .collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1]);
    }
}
