//! The Anthropic Messages stream encoder behind every provider: byte 0 picks the provider's
//! decoder (`tollgate_fuzz::MODELS`), the rest is its stream in fuzzer-chosen reads; the decoded
//! chunks go through `MessagesStreamEncoder` as the proxy drives it. The same bytes, if they
//! parse as a Messages request, go through `to_chat_request` too.
//! Invariants: no panic; every frame is `event: T\ndata: {"type": T, ...}`; `message_start`
//! first; exactly one `message_stop` or `error`, last; blocks start at index 0, 1, 2, ... and
//! each stops before the next starts; deltas only for the open block and of its kind; a
//! `message_delta` right before `message_stop`; a tool block's `input_json_delta`s add up to the
//! arguments its chat tool call streamed.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_bridge::messages::{
    BridgeOptions, MessagesRequest, MessagesStreamEncoder, to_chat_request,
};
use tollgate_core::ChatCompletionChunk;
use tollgate_providers::StreamEvent;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if let Ok(req) = serde_json::from_slice::<MessagesRequest>(rest) {
        for keep in [false, true] {
            let opts = BridgeOptions {
                keep_cache_control: keep,
                drop_params: selector & 1 == 1,
            };
            if let Ok(chat) = to_chat_request(&req, opts) {
                serde_json::to_vec(&chat).unwrap();
            }
        }
    }
    let (model, adapter) = tollgate_fuzz::adapter(selector);
    let (pieces, _) = tollgate_fuzz::split(rest);
    let mut encoder = MessagesStreamEncoder::new("msg_fuzz".into(), "m".into());
    let mut frames = encoder.start();
    let mut decoder = adapter.stream_decoder();
    let mut events = Vec::new();
    for piece in &pieces {
        events.extend(decoder.feed(piece));
    }
    events.extend(decoder.finish());
    // Arguments streamed per chat tool-call index, in first-seen order.
    let mut streamed: Vec<(u32, String)> = Vec::new();
    let mut current: Option<u32> = None;
    let mut interleaved = false;
    let mut ended = false;
    for event in events {
        if ended {
            break;
        }
        let chunk = match event {
            StreamEvent::Raw { json, .. } => {
                match serde_json::from_slice::<ChatCompletionChunk>(&json) {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        frames.extend(
                            encoder.fail(&tollgate_core::GatewayError::Internal(e.to_string())),
                        );
                        ended = true;
                        continue;
                    }
                }
            }
            StreamEvent::Chunk(chunk) => *chunk,
            StreamEvent::Error(e) => {
                frames.extend(encoder.fail(&e));
                ended = true;
                continue;
            }
            StreamEvent::Done => {
                frames.extend(encoder.finish());
                ended = true;
                continue;
            }
        };
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            // Anything else between two fragments of one call closes its block: the rest of
            // that call cannot be streamed, so the comparison below does not apply.
            let other = d
                .reasoning_content
                .as_deref()
                .is_some_and(|r| !r.is_empty())
                || d.content.as_deref().is_some_and(|t| !t.is_empty())
                || d.extra.contains_key("thinking_blocks");
            if other {
                current = None;
            }
            for call in d.tool_calls.iter().flatten() {
                if current != Some(call.index) && streamed.iter().any(|(i, _)| *i == call.index) {
                    interleaved = true;
                }
                current = Some(call.index);
                let args = call
                    .function
                    .as_ref()
                    .and_then(|f| f.arguments.clone())
                    .unwrap_or_default();
                match streamed.iter_mut().find(|(i, _)| *i == call.index) {
                    Some((_, s)) => s.push_str(&args),
                    None => streamed.push((call.index, args)),
                }
            }
        }
        frames.extend(encoder.push(&chunk));
    }
    if !ended {
        frames.extend(encoder.finish());
    }
    // Frames after the end are never produced.
    assert!(encoder.finish().is_empty(), "{model}");

    let mut open: Option<(u64, String)> = None;
    let mut next = 0u64;
    let mut tool_json: Vec<String> = Vec::new();
    let mut terminal = 0;
    let mut last_kind = String::new();
    for (i, frame) in frames.iter().enumerate() {
        let s = std::str::from_utf8(frame).unwrap();
        let (head, data) = s.split_once("\ndata: ").unwrap();
        assert!(data.ends_with("\n\n"), "{model}: {s}");
        let v: Value = serde_json::from_str(data.trim_end()).unwrap();
        let kind = v["type"].as_str().unwrap();
        assert_eq!(head, format!("event: {kind}"), "{model}");
        assert_eq!(terminal, 0, "{model}: {kind} after the end");
        if i == 0 {
            assert_eq!(kind, "message_start", "{model}");
        }
        match kind {
            "content_block_start" => {
                assert!(open.is_none(), "{model}: block started while one is open");
                assert_eq!(v["index"], next, "{model}");
                let block = v["content_block"]["type"].as_str().unwrap().to_owned();
                if block == "tool_use" {
                    tool_json.push(String::new());
                }
                open = Some((next, block));
                next += 1;
            }
            "content_block_delta" => {
                let (index, block) = open.as_ref().expect("delta with no open block");
                assert_eq!(v["index"], *index, "{model}");
                let want = match v["delta"]["type"].as_str().unwrap() {
                    "text_delta" => "text",
                    "thinking_delta" | "signature_delta" => "thinking",
                    "input_json_delta" => {
                        tool_json
                            .last_mut()
                            .unwrap()
                            .push_str(v["delta"]["partial_json"].as_str().unwrap());
                        "tool_use"
                    }
                    other => panic!("{model}: unknown delta {other}"),
                };
                assert_eq!(block, want, "{model}");
            }
            "content_block_stop" => {
                let (index, _) = open.take().expect("stop with no open block");
                assert_eq!(v["index"], index, "{model}");
            }
            "message_stop" => {
                assert!(open.is_none(), "{model}: block left open");
                assert_eq!(last_kind, "message_delta", "{model}");
                terminal += 1;
            }
            "error" => terminal += 1,
            _ => {}
        }
        last_kind = kind.to_owned();
    }
    assert_eq!(terminal, 1, "{model}: no message_stop or error");
    if last_kind == "message_stop" && !interleaved {
        let expected: Vec<&str> = streamed.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(tool_json, expected, "{model}: tool arguments differ");
    }
});
