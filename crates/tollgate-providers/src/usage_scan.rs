//! Usage read from a provider's answer as it streams past, whatever its format: a JSON body,
//! SSE events or AWS event-stream messages, with each provider's naming of the counts. Pure:
//! bytes in, [`Usage`] out.

use bytes::BytesMut;
use serde_json::Value;
use tollgate_core::Usage;

use crate::bedrock::EventStreamFramer;
use crate::sse::SseDecoder;

/// Largest non-streamed body scanned for usage; larger bodies are forwarded without it.
const MAX_SCANNED: usize = 8 << 20;

/// Reads usage from a body as it passes: every SSE event or AWS event-stream message (the
/// largest count seen wins, since providers report running totals), or a whole JSON body at
/// the end.
#[derive(Debug)]
pub struct UsageScanner {
    mode: ScanMode,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum ScanMode {
    Sse(SseDecoder),
    /// Bedrock's binary event stream; `None` once it turned out corrupt.
    EventStream(Option<EventStreamFramer>),
    Json {
        buf: BytesMut,
        overflow: bool,
    },
}

impl UsageScanner {
    /// A scanner for an SSE body (`true`) or a JSON one.
    pub fn new(sse: bool) -> Self {
        let mode = if sse {
            ScanMode::Sse(SseDecoder::new())
        } else {
            ScanMode::Json {
                buf: BytesMut::new(),
                overflow: false,
            }
        };
        Self { mode, usage: None }
    }

    /// The scanner for a body of this content type.
    pub fn for_content_type(content_type: Option<&str>) -> Self {
        let ct = content_type.unwrap_or_default().to_ascii_lowercase();
        if ct.starts_with("application/vnd.amazon.eventstream") {
            Self {
                mode: ScanMode::EventStream(Some(EventStreamFramer::new())),
                usage: None,
            }
        } else {
            Self::new(ct.starts_with("text/event-stream"))
        }
    }

    /// Feeds the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.mode {
            ScanMode::Sse(decoder) => {
                for ev in decoder.feed(bytes) {
                    if let Ok(v) = serde_json::from_slice::<Value>(&ev.data) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
            ScanMode::EventStream(framer) => {
                let Some(f) = framer else { return };
                f.push(bytes);
                loop {
                    match f.next_frame() {
                        Ok(Some(frame)) => {
                            if let Ok(v) = serde_json::from_slice::<Value>(&frame.payload) {
                                merge(&mut self.usage, usage_from_json(&v));
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            // The client gets the bytes regardless; only usage is lost.
                            *framer = None;
                            break;
                        }
                    }
                }
            }
            ScanMode::Json { buf, overflow } => {
                if *overflow {
                } else if buf.len() + bytes.len() > MAX_SCANNED {
                    *overflow = true;
                    *buf = BytesMut::new();
                } else {
                    buf.extend_from_slice(bytes);
                }
            }
        }
    }

    /// The usage found, once the body ended.
    pub fn finish(mut self) -> Option<Usage> {
        match &mut self.mode {
            ScanMode::Sse(decoder) => {
                if let Some(ev) = decoder.finish() {
                    if let Ok(v) = serde_json::from_slice::<Value>(&ev.data) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
            ScanMode::EventStream(_) => {}
            ScanMode::Json { buf, overflow } => {
                if !*overflow {
                    if let Ok(v) = serde_json::from_slice::<Value>(buf) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
        }
        self.usage
    }
}

/// Keeps the larger of each count: streams report running totals, and Anthropic splits input
/// (`message_start`) from output (`message_delta`).
fn merge(into: &mut Option<Usage>, next: Option<Usage>) {
    let Some(next) = next else { return };
    match into {
        None => *into = Some(next),
        Some(u) => {
            u.prompt_tokens = u.prompt_tokens.max(next.prompt_tokens);
            u.completion_tokens = u.completion_tokens.max(next.completion_tokens);
            u.total_tokens = u
                .total_tokens
                .max(next.total_tokens)
                .max(u.prompt_tokens.saturating_add(u.completion_tokens));
            if next.prompt_tokens_details.is_some() {
                u.prompt_tokens_details = next.prompt_tokens_details;
            }
            if next.completion_tokens_details.is_some() {
                u.completion_tokens_details = next.completion_tokens_details;
            }
        }
    }
}

/// The usage in a provider response or stream event, whatever the provider's naming:
/// OpenAI (`usage.prompt_tokens`), Anthropic and Responses (`input_tokens`, also under
/// `message.usage` / `response.usage`), Gemini (`usageMetadata`), Bedrock (`inputTokens`),
/// Cohere (`usage.tokens`, `meta.billed_units`).
pub fn usage_from_json(v: &Value) -> Option<Usage> {
    [
        v.get("usage"),
        v.get("usageMetadata"),
        v.pointer("/message/usage"),
        v.pointer("/response/usage"),
        v.pointer("/meta/billed_units"),
        v.get("amazon-bedrock-invocationMetrics"),
    ]
    .into_iter()
    .flatten()
    .find_map(usage_fields)
}

fn usage_fields(u: &Value) -> Option<Usage> {
    let src = u
        .get("tokens")
        .or_else(|| u.get("billed_units"))
        .unwrap_or(u);
    if src.get("prompt_tokens").is_some() {
        return serde_json::from_value(src.clone()).ok();
    }
    let n = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| src.get(*k).and_then(Value::as_u64))
    };
    let prompt = n(&[
        "input_tokens",
        "inputTokens",
        "promptTokenCount",
        "inputTokenCount",
    ]);
    let completion = n(&[
        "output_tokens",
        "outputTokens",
        "candidatesTokenCount",
        "outputTokenCount",
    ]);
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    // Anthropic counts cached input apart from `input_tokens`; OpenAI's prompt includes it.
    let cache_read = n(&["cache_read_input_tokens", "cacheReadInputTokens"]).unwrap_or(0);
    let cache_write = n(&["cache_creation_input_tokens", "cacheWriteInputTokens"]).unwrap_or(0);
    // Saturating: the counts come from the provider's bytes, and absurd ones must not panic.
    let prompt = prompt
        .unwrap_or(0)
        .saturating_add(cache_read)
        .saturating_add(cache_write);
    let completion = completion.unwrap_or(0);
    let mut usage = Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        ..Usage::default()
    };
    if let Some(total) = n(&["total_tokens", "totalTokens", "totalTokenCount"]) {
        usage.total_tokens = usage.total_tokens.max(total);
    }
    if cache_read > 0 {
        usage.prompt_tokens_details = Some(tollgate_core::usage::PromptTokensDetails {
            cached_tokens: Some(cache_read),
            ..Default::default()
        });
    }
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(sse: bool, body: &[u8], split: usize) -> Option<Usage> {
        let mut s = UsageScanner::new(sse);
        for chunk in body.chunks(split.max(1)) {
            s.feed(chunk);
        }
        s.finish()
    }

    #[test]
    fn anthropic_stream_usage_is_read_at_every_split() {
        let body = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";
        for split in 1..body.len() {
            let u = scan(true, body, split).unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (15, 9, 24)
            );
            assert_eq!(u.cached_tokens(), 3);
        }
    }

    #[test]
    fn json_bodies_of_each_provider() {
        let openai = br#"{"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        assert_eq!(scan(false, openai, 3).unwrap().total_tokens, 7);
        let gemini = br#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10}}"#;
        assert_eq!(scan(false, gemini, 5).unwrap().completion_tokens, 6);
        let bedrock = br#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#;
        assert_eq!(scan(false, bedrock, 64).unwrap().prompt_tokens, 1);
        let cohere = br#"{"usage":{"billed_units":{"input_tokens":8,"output_tokens":1},"tokens":{"input_tokens":70,"output_tokens":1}}}"#;
        assert_eq!(scan(false, cohere, 64).unwrap().prompt_tokens, 70);
        assert_eq!(scan(false, b"{\"data\":[]}", 4), None);
        assert_eq!(scan(false, b"not json", 4), None);
    }

    #[test]
    fn absurd_counts_saturate() {
        let body = br#"{"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":5,"output_tokens":18446744073709551615}}"#;
        let u = scan(false, body, 9).unwrap();
        assert_eq!(u.total_tokens, u64::MAX);
        let sse = b"data: {\"usage\":{\"input_tokens\":18446744073709551615}}\n\ndata: {\"usage\":{\"output_tokens\":18446744073709551615}}\n\n";
        assert_eq!(scan(true, sse, 5).unwrap().total_tokens, u64::MAX);
    }

    #[test]
    fn openai_and_responses_streams() {
        let chat = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n";
        assert_eq!(scan(true, chat, 7).unwrap().total_tokens, 4);
        let responses = b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n";
        assert_eq!(scan(true, responses, 10).unwrap().total_tokens, 11);
    }

    #[test]
    fn bedrock_event_streams_are_read_at_every_split() {
        let Some(dir) = std::env::var_os("TOLLGATE_FIXTURES")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/fixtures")
                    .canonicalize()
                    .ok()
            })
        else {
            eprintln!("skipping: recorded fixtures not found");
            return;
        };
        let Ok(b64) = std::fs::read_to_string(dir.join("bedrock/converse_stream.b64")) else {
            eprintln!("skipping: bedrock/converse_stream.b64 not found");
            return;
        };
        let decoded = {
            use base64::Engine;
            let text: String = b64.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        };
        let whole = {
            let mut s = UsageScanner::for_content_type(Some("application/vnd.amazon.eventstream"));
            s.feed(&decoded);
            s.finish().unwrap()
        };
        assert!(whole.prompt_tokens > 0 && whole.completion_tokens > 0);
        for split in [1, 7, 64, 333] {
            let mut s = UsageScanner::for_content_type(Some("application/vnd.amazon.eventstream"));
            for c in decoded.chunks(split) {
                s.feed(c);
            }
            assert_eq!(s.finish().unwrap(), whole);
        }
        let metrics = br#"{"bytes":"","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":3}}"#;
        let u = usage_from_json(&serde_json::from_slice(metrics).unwrap()).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 3));
    }
}
