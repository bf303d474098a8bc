//! The OpenAI-format stream decoder: SSE bytes in, [`StreamEvent`]s out.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tollgate_core::{ChatCompletionChunk, GatewayError, Usage};

use super::OpenAiAdapter;
use super::error::parse_error;
use super::response::normalize_finish;
use crate::sse::SseDecoder;
use crate::stream_event::StreamEvent;

/// Decodes one upstream stream. Plain-OpenAI providers yield [`StreamEvent::Raw`] (bytes to
/// forward untouched); providers that need normalising yield typed chunks.
#[derive(Debug)]
pub struct OpenAiStreamDecoder {
    sse: SseDecoder,
    provider: &'static str,
    normalize: bool,
    saw_done: bool,
    saw_finish: bool,
    saw_tool_calls: bool,
}

/// The fields of a chunk the gateway reads; everything else is skipped, not copied.
#[derive(Debug, Deserialize)]
struct ChunkTap {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    created: Option<i64>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    choices: Option<Vec<ChoiceTap>>,
}

#[derive(Debug, Deserialize)]
struct ChoiceTap {
    #[serde(default)]
    finish_reason: Option<String>,
}

impl OpenAiAdapter {
    /// A decoder for this provider's chat stream.
    pub fn stream_decoder(&self) -> OpenAiStreamDecoder {
        OpenAiStreamDecoder {
            sse: SseDecoder::new(),
            provider: self.profile.name,
            normalize: self.profile.normalize,
            saw_done: false,
            saw_finish: false,
            saw_tool_calls: false,
        }
    }
}

impl OpenAiStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        if self.saw_done {
            return Vec::new();
        }
        let events = self.sse.feed(bytes);
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            if self.saw_done {
                break;
            }
            self.event(ev.data, &mut out);
        }
        out
    }

    /// The upstream closed the body. A stream cut before `[DONE]` and before any finish reason
    /// is an error: the client must not mistake a broken answer for a complete one.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if !self.saw_done {
            if let Some(ev) = self.sse.finish() {
                self.event(ev.data, &mut out);
            }
        }
        if !self.saw_done {
            if self.saw_finish {
                self.saw_done = true;
                out.push(StreamEvent::Done);
            } else {
                out.push(StreamEvent::Error(GatewayError::Connection {
                    provider: self.provider.to_owned(),
                    message: "the provider closed the stream before it finished".into(),
                }));
            }
        }
        out
    }

    fn event(&mut self, data: Bytes, out: &mut Vec<StreamEvent>) {
        if let Some(ev) = self.translate(data, out) {
            out.push(ev);
        }
    }

    /// One SSE event; a mid-stream error that reports usage (OpenRouter's does) first pushes
    /// that usage onto `out`.
    fn translate(&mut self, data: Bytes, out: &mut Vec<StreamEvent>) -> Option<StreamEvent> {
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed == b"[DONE]" {
            self.saw_done = true;
            return Some(StreamEvent::Done);
        }
        let tap: ChunkTap = match serde_json::from_slice(&data) {
            Ok(t) => t,
            Err(e) => return Some(self.invalid(&e)),
        };
        if let Some(err) = tap.error {
            self.saw_done = true;
            if let Some(usage) = tap.usage {
                out.push(StreamEvent::usage_before_error(
                    tap.id.as_deref().unwrap_or_default(),
                    tap.model.as_deref().unwrap_or_default(),
                    tap.created.unwrap_or_default(),
                    usage,
                ));
            }
            return Some(StreamEvent::Error(self.midstream_error(&err)));
        }
        let choices = tap.choices.as_deref().unwrap_or_default();
        if choices.iter().any(|c| c.finish_reason.is_some()) {
            self.saw_finish = true;
        }
        if !self.normalize {
            let usage_only = choices.is_empty();
            return Some(StreamEvent::Raw {
                json: data,
                usage: tap.usage.map(Box::new),
                usage_only,
            });
        }
        let mut chunk: ChatCompletionChunk = match serde_json::from_slice(&data) {
            Ok(c) => c,
            Err(e) => return Some(self.invalid(&e)),
        };
        for choice in &mut chunk.choices {
            if choice.delta.reasoning_content.is_none() {
                if let Some(Value::String(r)) = choice.delta.extra.shift_remove("reasoning") {
                    choice.delta.reasoning_content = Some(r);
                }
            }
            if choice
                .delta
                .tool_calls
                .as_ref()
                .is_some_and(|t| !t.is_empty())
            {
                self.saw_tool_calls = true;
            }
            let called = self.saw_tool_calls;
            choice.finish_reason = choice
                .finish_reason
                .take()
                .map(|r| normalize_finish(r, called));
        }
        Some(StreamEvent::Chunk(Box::new(chunk)))
    }

    fn midstream_error(&self, err: &Value) -> GatewayError {
        let status = err
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c))
            .unwrap_or(500);
        let body = serde_json::json!({ "error": err }).to_string();
        parse_error(
            self.provider,
            status,
            &http::HeaderMap::new(),
            body.as_bytes(),
        )
    }

    /// A chunk that cannot be read ends the stream, as every decoder's errors do: nothing
    /// follows an `Error` (not even `finish`'s own).
    fn invalid(&mut self, e: &serde_json::Error) -> StreamEvent {
        self.saw_done = true;
        StreamEvent::Error(GatewayError::InvalidUpstreamResponse {
            provider: self.provider.to_owned(),
            message: format!("bad stream chunk: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use tollgate_core::{Env, ModelRef};

    fn decoder(model: &str) -> OpenAiStreamDecoder {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            api_base: Some("http://x".into()),
            ..Default::default()
        };
        OpenAiAdapter::new(&m, &params, &Env::process())
            .unwrap()
            .unwrap()
            .stream_decoder()
    }

    fn run(model: &str, input: &[u8], piece: usize) -> Vec<StreamEvent> {
        let mut d = decoder(model);
        let mut out = Vec::new();
        for c in input.chunks(piece) {
            out.extend(d.feed(c));
        }
        out.extend(d.finish());
        out
    }

    const STREAM: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"H\u{e9}\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n\
data: [DONE]\n\n";

    #[test]
    fn raw_events_at_every_split() {
        let whole = run("openai/gpt-4o", STREAM.as_bytes(), STREAM.len());
        assert_eq!(whole.len(), 5);
        assert!(
            matches!(&whole[3], StreamEvent::Raw { usage: Some(u), usage_only: true, .. } if u.total_tokens == 5)
        );
        assert!(matches!(whole[4], StreamEvent::Done));
        for piece in [1, 2, 3, 7, 64] {
            let got = run("openai/gpt-4o", STREAM.as_bytes(), piece);
            assert_eq!(format!("{got:?}"), format!("{whole:?}"));
        }
    }

    #[test]
    fn truncated_stream_is_an_error_not_a_silent_end() {
        let cut = &STREAM.as_bytes()[..STREAM.find("\"finish_reason\":\"stop\"").unwrap() - 40];
        let events = run("openai/gpt-4o", cut, 5);
        assert!(
            matches!(events.last(), Some(StreamEvent::Error(_))),
            "{events:?}"
        );
    }

    #[test]
    fn a_bad_chunk_ends_the_stream() {
        // Found by fuzz/fuzz_targets/stream_decoders.rs: the decoder went on after the error
        // and `finish` added a second one.
        let input = b"data: {\"id\":\"c\",\"choices\":[]}\n\ndata:\xff\n\ndata: {\"id\":\"c\",\"choices\":[]}\n\n";
        for model in ["openai/gpt-4o", "openrouter/x/y"] {
            let events = run(model, input, 3);
            assert_eq!(events.len(), 2, "{model}: {events:?}");
            assert!(
                matches!(events[1], StreamEvent::Error(_)),
                "{model}: {events:?}"
            );
        }
    }

    #[test]
    fn midstream_error_chunk_becomes_an_error_event() {
        let input = b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"id\":\"c\",\"error\":{\"code\":502,\"message\":\"Provider returned error\"},\"choices\":[]}\n\ndata: [DONE]\n\n";
        let events = run("openrouter/x/y", input, 9);
        assert_eq!(events.len(), 2);
        match &events[1] {
            StreamEvent::Error(e) => assert_eq!(e.status(), 502),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn midstream_error_usage_comes_first_as_a_usage_chunk() {
        let input = b"data: {\"id\":\"c\",\"model\":\"m\",\"created\":7,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"id\":\"c\",\"model\":\"m\",\"created\":7,\"error\":{\"code\":429,\"message\":\"slow down\"},\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7,\"cost\":0.1}}\n\n";
        for model in ["openai/gpt-4o", "openrouter/x/y"] {
            let events = run(model, input, 13);
            assert_eq!(events.len(), 3, "{events:?}");
            let StreamEvent::Chunk(c) = &events[1] else {
                panic!("{events:?}")
            };
            assert!(c.choices.is_empty());
            assert_eq!((c.id.as_str(), c.model.as_str(), c.created), ("c", "m", 7));
            let u = c.usage().unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (5, 2, 7)
            );
            assert_eq!(u.extra["cost"], 0.1);
            assert!(matches!(&events[2], StreamEvent::Error(e) if e.status() == 429));
        }
    }

    #[test]
    fn normalising_providers_yield_typed_chunks() {
        let input = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"think\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"eos\"}]}\n\ndata: [DONE]\n\n";
        let events = run("openrouter/x/y", input, 11);
        match &events[0] {
            StreamEvent::Chunk(c) => assert_eq!(
                c.choices[0].delta.reasoning_content.as_deref(),
                Some("think")
            ),
            other => panic!("{other:?}"),
        }
        match &events[1] {
            StreamEvent::Chunk(c) => assert_eq!(
                c.choices[0].finish_reason,
                Some(tollgate_core::FinishReason::Stop)
            ),
            other => panic!("{other:?}"),
        }
    }
}
