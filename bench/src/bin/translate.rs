//! What translation costs, per provider path, with no network in the way: the CPU time to build
//! the upstream request from an OpenAI request, to turn the provider's response into the
//! client's OpenAI JSON, and to turn a recorded provider stream into OpenAI SSE frames.
//!
//! `translate [--fixtures DIR] [--iterations N]` prints a Markdown table. The provider payloads
//! are the recordings in `../shared/fixtures` (the same ones the fixture tests replay).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use tollgate_core::{ChatCompletionRequest, Env, ModelRef};
use tollgate_providers::json_splice::replace_top_level_string;
use tollgate_providers::{
    Adapter, AwsParams, CallOptions, HttpClient, ProviderParams, StreamEvent, TransportOptions,
};

/// One translation path and the recordings it replays.
struct Path_ {
    name: &'static str,
    model: &'static str,
    response: &'static str,
    stream: &'static str,
}

const PATHS: &[Path_] = &[
    Path_ {
        name: "OpenAI (bytes forwarded, baseline)",
        model: "openai/gpt-4o-mini",
        response: "openai/chat_completion.json",
        stream: "openai/chat_stream_include_usage_text.sse",
    },
    Path_ {
        name: "OpenAI -> Anthropic",
        model: "anthropic/claude-sonnet-4-5",
        response: "anthropic/message.json",
        stream: "anthropic/message_stream.sse",
    },
    Path_ {
        name: "OpenAI -> Gemini",
        model: "gemini/gemini-2.5-flash",
        response: "gemini/generate_content.json",
        stream: "gemini/stream_generate_content.sse",
    },
    Path_ {
        name: "OpenAI -> Bedrock (Converse)",
        model: "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        response: "bedrock/converse.json",
        stream: "bedrock/converse_stream.b64",
    },
];

/// A typical agent-style request: system prompt, a short conversation and one tool.
const REQUEST: &str = r#"{
  "model": "bench-model",
  "messages": [
    {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": "And its population, roughly?"}
  ],
  "tools": [{"type": "function", "function": {"name": "lookup_population",
    "description": "Population of a city", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
  "temperature": 0.2,
  "max_tokens": 256,
  "stream": false
}"#;

fn main() {
    let mut fixtures = PathBuf::from("../shared/fixtures");
    let mut iterations: u32 = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--fixtures", Some(v)) => fixtures = PathBuf::from(v),
            ("--iterations", Some(v)) => iterations = v.parse().unwrap_or(iterations),
            _ => {
                eprintln!("usage: translate [--fixtures DIR] [--iterations N]");
                std::process::exit(2);
            }
        }
    }
    if !fixtures.is_dir() {
        eprintln!(
            "fixtures not found at {} (pass --fixtures DIR)",
            fixtures.display()
        );
        std::process::exit(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => fail(&format!("tokio: {e}")),
    };
    let http = match HttpClient::new(&TransportOptions::default()) {
        Ok(h) => h,
        Err(e) => fail(&format!("http client: {e}")),
    };
    let request: ChatCompletionRequest =
        serde_json::from_str(REQUEST).unwrap_or_else(|e| fail(&format!("request: {e}")));

    println!(
        "| path | request µs | request + auth µs | response µs | stream µs (events) | µs / stream event |"
    );
    println!("|---|---|---|---|---|---|");
    for path in PATHS {
        let adapter = adapter(path.model);
        let body = read(&fixtures, path.response);
        let stream = stream_bytes(&fixtures, path.stream);

        let build = || {
            adapter
                .chat_request(black_box(&request), CallOptions::default())
                .unwrap_or_else(|e| fail(&format!("{}: {e}", path.name)))
        };
        let request_us = measure(iterations, || {
            black_box(build());
        });
        let signed_us = measure(iterations / 4, || {
            let mut r = build();
            runtime
                .block_on(adapter.authorize(&http, &mut r))
                .unwrap_or_else(|e| fail(&format!("{}: {e}", path.name)));
            black_box(r);
        });
        let response_us = measure(iterations, || {
            let out = adapter
                .forward_chat_response(Bytes::clone(&body), "bench-model")
                .unwrap_or_else(|e| fail(&format!("{}: {e}", path.name)));
            black_box(out);
        });
        let mut events = 0;
        let stream_us = measure(iterations / 4, || {
            events = sse_frames(&adapter, &stream);
        });
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} ({}) | {:.2} |",
            path.name,
            request_us,
            signed_us,
            response_us,
            stream_us,
            events,
            stream_us / events.max(1) as f64
        );
    }
}

fn fail(message: &str) -> ! {
    eprintln!("translate: {message}");
    std::process::exit(1)
}

fn adapter(model: &str) -> Adapter {
    let model = ModelRef::parse(model, None).unwrap_or_else(|e| fail(&e.to_string()));
    let params = ProviderParams {
        api_key: (model.provider != tollgate_core::Provider::Bedrock).then(|| "bench-key".into()),
        api_base: (model.provider != tollgate_core::Provider::Bedrock)
            .then(|| "http://127.0.0.1:9/v1".into()),
        aws: AwsParams {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            region_name: Some("us-east-1".into()),
            ..AwsParams::default()
        },
        ..ProviderParams::default()
    };
    // No environment: the bench must not pick up a real key.
    Adapter::new(&model, &params, &Env::with_overlay(HashMap::new()))
        .unwrap_or_else(|e| fail(&e.to_string()))
}

fn read(fixtures: &Path, name: &str) -> Bytes {
    std::fs::read(fixtures.join(name))
        .map(Bytes::from)
        .unwrap_or_else(|e| fail(&format!("{name}: {e}")))
}

/// The bytes on the wire: Bedrock's binary event stream is recorded base64-encoded.
fn stream_bytes(fixtures: &Path, name: &str) -> Bytes {
    let raw = read(fixtures, name);
    if !name.ends_with(".b64") {
        return raw;
    }
    let text: String = String::from_utf8_lossy(&raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Bytes::from)
        .unwrap_or_else(|e| fail(&format!("{name}: {e}")))
}

/// Decodes a whole recorded stream, fed in 512-byte reads, into the frames the router sends the
/// client (the same per-event work as the router's SSE shaping). Returns the number of events.
fn sse_frames(adapter: &Adapter, bytes: &Bytes) -> usize {
    let mut decoder = adapter.stream_decoder();
    let mut count = 0;
    let mut emit = |ev: StreamEvent| {
        count += 1;
        let frame = match ev {
            StreamEvent::Raw { json, .. } => {
                replace_top_level_string(&json, "model", "bench-model").unwrap_or(json)
            }
            StreamEvent::Chunk(mut chunk) => {
                "bench-model".clone_into(&mut chunk.model);
                Bytes::from(serde_json::to_vec(&chunk).unwrap_or_default())
            }
            StreamEvent::Error(e) => fail(&format!("stream error: {e}")),
            StreamEvent::Done => Bytes::from_static(b"data: [DONE]\n\n"),
        };
        black_box(frame);
    };
    for piece in bytes.chunks(512) {
        for ev in decoder.feed(piece) {
            emit(ev);
        }
    }
    for ev in decoder.finish() {
        emit(ev);
    }
    count
}

/// Median over 15 batches of the time per call, in µs.
fn measure(iterations: u32, mut f: impl FnMut()) -> f64 {
    let per_batch = (iterations / 15).max(1);
    for _ in 0..per_batch {
        f();
    }
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(per_batch)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
