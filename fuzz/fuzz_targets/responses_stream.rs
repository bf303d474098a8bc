//! The Responses API stream encoder behind every provider: byte 0 picks the provider's decoder
//! (`tollgate_fuzz::MODELS`), the rest is its stream in fuzzer-chosen reads; the decoded chunks
//! go through `ResponsesStreamEncoder` as the proxy drives it.
//! Invariants: no panic; every frame is `event: T\ndata: {"type": T, ...}`; sequence numbers run
//! 0, 1, 2, ...; exactly one terminal event (`response.completed` / `.incomplete` / `.failed`),
//! last; deltas only name items that were added and are not done; each item's deltas add up to
//! its final text or arguments.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_bridge::responses::{ResponsesRequest, ResponsesStreamEncoder};
use tollgate_core::ChatCompletionChunk;
use tollgate_providers::StreamEvent;

const TERMINAL: &[&str] = &[
    "response.completed",
    "response.incomplete",
    "response.failed",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (model, adapter) = tollgate_fuzz::adapter(selector);
    let (pieces, _) = tollgate_fuzz::split(rest);
    let req: ResponsesRequest = serde_json::from_value(serde_json::json!({
        "model": "m", "input": "x", "include": ["reasoning.encrypted_content"]
    }))
    .unwrap();
    let mut encoder = ResponsesStreamEncoder::new(req, "resp_fuzz".into(), 0);
    let mut frames = encoder.start();
    let mut decoder = adapter.stream_decoder();
    let mut events = Vec::new();
    for piece in &pieces {
        events.extend(decoder.feed(piece));
    }
    events.extend(decoder.finish());
    let mut ended = false;
    for event in events {
        if ended {
            break;
        }
        match event {
            StreamEvent::Raw { json, .. } => {
                match serde_json::from_slice::<ChatCompletionChunk>(&json) {
                    Ok(chunk) => frames.extend(encoder.push(&chunk)),
                    Err(e) => {
                        frames.extend(
                            encoder.fail(&tollgate_core::GatewayError::Internal(e.to_string())),
                        );
                        ended = true;
                    }
                }
            }
            StreamEvent::Chunk(chunk) => frames.extend(encoder.push(&chunk)),
            StreamEvent::Error(e) => {
                frames.extend(encoder.fail(&e));
                ended = true;
            }
            StreamEvent::Done => {
                frames.extend(encoder.finish());
                ended = true;
            }
        }
    }
    if !ended {
        frames.extend(encoder.finish());
    }

    let mut open: HashMap<u64, String> = HashMap::new();
    let mut text: HashMap<u64, String> = HashMap::new();
    let mut terminal = 0;
    for (i, frame) in frames.iter().enumerate() {
        let s = std::str::from_utf8(frame).unwrap();
        let (head, data) = s.split_once("\ndata: ").unwrap();
        assert!(data.ends_with("\n\n"), "{model}: {s}");
        let v: Value = serde_json::from_str(data.trim_end()).unwrap();
        let kind = v["type"].as_str().unwrap();
        assert_eq!(head, format!("event: {kind}"), "{model}");
        assert_eq!(v["sequence_number"], i as u64, "{model}: {s}");
        assert_eq!(terminal, 0, "{model}: {kind} after the terminal event");
        let index = v["output_index"].as_u64();
        match kind {
            "response.output_item.added" => {
                let index = index.unwrap();
                assert!(
                    open.insert(index, v["item"]["type"].as_str().unwrap().to_owned())
                        .is_none()
                );
            }
            "response.output_text.delta"
            | "response.function_call_arguments.delta"
            | "response.reasoning_summary_text.delta" => {
                let index = index.unwrap();
                assert!(
                    open.contains_key(&index),
                    "{model}: delta for item {index} not open"
                );
                text.entry(index)
                    .or_default()
                    .push_str(v["delta"].as_str().unwrap());
            }
            "response.output_item.done" => {
                let index = index.unwrap();
                let kind = open.remove(&index).expect("done for an item never added");
                let item = &v["item"];
                let said = text.remove(&index).unwrap_or_default();
                let fin = match kind.as_str() {
                    "message" => item["content"][0]["text"].as_str().unwrap().to_owned(),
                    "function_call" => item["arguments"].as_str().unwrap().to_owned(),
                    _ => item["summary"]
                        .get(0)
                        .and_then(|p| p["text"].as_str())
                        .unwrap_or("")
                        .to_owned(),
                };
                assert_eq!(said, fin, "{model}: deltas of item {index} do not add up");
            }
            k if TERMINAL.contains(&k) => terminal += 1,
            _ => {}
        }
    }
    assert_eq!(terminal, 1, "{model}: no terminal event");
    assert!(open.is_empty(), "{model}: items left open: {open:?}");
});
