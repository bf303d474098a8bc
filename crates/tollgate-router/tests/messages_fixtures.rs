//! Recorded Anthropic streams (`../shared/fixtures/anthropic/`) through both `/v1/messages`
//! paths: the native rewriter, whole and split at every byte, and the bridge (Anthropic's
//! decoder into chat chunks, then `MessagesStreamEncoder` back into Anthropic events), which
//! must rebuild the same message content the recording holds.
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tollgate_bridge::messages::MessagesStreamEncoder;
use tollgate_core::{Env, ModelRef};
use tollgate_providers::{Adapter, ProviderParams, StreamEvent};
use tollgate_router::NativeRewriter;

const STREAMS: &[&str] = &[
    "message_stream.sse",
    "thinking_stream.sse",
    "thinking_tool_use_stream.sse",
    "tool_use_stream.sse",
];

fn fixtures() -> Option<PathBuf> {
    let root = std::env::var_os("TOLLGATE_FIXTURES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if root.is_dir() {
        Some(root.join("anthropic"))
    } else {
        println!("skipping: fixtures not found at {}", root.display());
        None
    }
}

/// The data JSON of every event of an SSE text.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str(d.trim()).unwrap())
        .collect()
}

/// The message an Anthropic client accumulates from the events.
fn accumulate(evs: &[Value]) -> Value {
    let mut msg = Value::Null;
    let mut partial: Vec<String> = Vec::new();
    for e in evs {
        match e["type"].as_str().unwrap() {
            "message_start" => msg = e["message"].clone(),
            "content_block_start" => {
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
                let append = |b: &mut Value, k: &str, v: &Value| {
                    b[k] = json!(format!(
                        "{}{}",
                        b[k].as_str().unwrap_or(""),
                        v.as_str().unwrap()
                    ));
                };
                match d["type"].as_str().unwrap() {
                    "text_delta" => append(b, "text", &d["text"]),
                    "thinking_delta" => append(b, "thinking", &d["thinking"]),
                    "signature_delta" => append(b, "signature", &d["signature"]),
                    "input_json_delta" => partial[i].push_str(d["partial_json"].as_str().unwrap()),
                    other => panic!("unknown delta {other}"),
                }
            }
            "content_block_stop" => {
                let i = e["index"].as_u64().unwrap() as usize;
                if msg["content"][i]["type"] == "tool_use" {
                    let raw = if partial[i].is_empty() {
                        "{}"
                    } else {
                        &partial[i]
                    };
                    msg["content"][i]["input"] = serde_json::from_str(raw).unwrap();
                }
            }
            "message_delta" => msg["stop_reason"] = e["delta"]["stop_reason"].clone(),
            _ => {}
        }
    }
    msg
}

fn native(bytes: &[u8], split: usize) -> (String, bool) {
    let mut r = NativeRewriter::new("client-name".into());
    let mut out = String::new();
    let mut failed = false;
    for piece in [&bytes[..split], &bytes[split..]] {
        for f in r.feed(piece) {
            out.push_str(std::str::from_utf8(&f.unwrap()).unwrap());
        }
    }
    for f in r.finish("Anthropic") {
        match f {
            Ok(f) => out.push_str(std::str::from_utf8(&f).unwrap()),
            Err(_) => failed = true,
        }
    }
    (out, failed)
}

#[test]
fn native_rewriter_keeps_every_event_at_every_split() {
    let Some(dir) = fixtures() else { return };
    for name in STREAMS {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let (whole, failed) = native(text.as_bytes(), 0);
        assert!(!failed, "{name}");
        let mut expected = events(&text);
        expected[0]["message"]["model"] = json!("client-name");
        assert_eq!(events(&whole), expected, "{name}: events changed");
        for split in 1..text.len() {
            assert_eq!(
                native(text.as_bytes(), split).0,
                whole,
                "{name} split at {split}"
            );
        }
    }
}

#[test]
fn bridge_rebuilds_the_recorded_content() {
    let Some(dir) = fixtures() else { return };
    let model = ModelRef::parse("anthropic/claude-sonnet-4-5", None).unwrap();
    let params = ProviderParams {
        api_key: Some("k".into()),
        ..ProviderParams::default()
    };
    let adapter = Adapter::new(&model, &params, &Env::with_overlay(Default::default())).unwrap();
    for name in STREAMS {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let mut recorded = accumulate(&events(&text));
        // Block fields chat has no place for (tool_use `caller`) are the native path's job.
        for b in recorded["content"].as_array_mut().unwrap() {
            if b["type"] == "tool_use" {
                b.as_object_mut()
                    .unwrap()
                    .retain(|k, _| ["type", "id", "name", "input"].contains(&k.as_str()));
            }
        }
        for read in [1usize, 7, 512] {
            let mut decoder = adapter.stream_decoder();
            let mut decoded = Vec::new();
            for piece in text.as_bytes().chunks(read) {
                decoded.extend(decoder.feed(piece));
            }
            decoded.extend(decoder.finish());
            let mut enc = MessagesStreamEncoder::new("msg_x".into(), "client-name".into());
            let mut frames = enc.start();
            for ev in decoded {
                match ev {
                    StreamEvent::Chunk(c) => frames.extend(enc.push(&c)),
                    StreamEvent::Raw { json, .. } => {
                        frames.extend(enc.push(&serde_json::from_slice(&json).unwrap()))
                    }
                    StreamEvent::Done => frames.extend(enc.finish()),
                    StreamEvent::Error(e) => panic!("{name}: {e}"),
                }
            }
            frames.extend(enc.finish());
            let out: String = frames
                .iter()
                .map(|f| std::str::from_utf8(f).unwrap().to_owned())
                .collect();
            let rebuilt = accumulate(&events(&out));
            assert_eq!(
                rebuilt["content"], recorded["content"],
                "{name} read {read}"
            );
            assert_eq!(rebuilt["stop_reason"], recorded["stop_reason"], "{name}");
            assert_eq!(rebuilt["model"], "client-name");
        }
    }
}
