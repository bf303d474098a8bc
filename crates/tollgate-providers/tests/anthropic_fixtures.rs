//! Replays every recorded Anthropic payload (`../shared/fixtures/anthropic/`) through the
//! Anthropic adapter and checks what a client would receive: the request bodies we build from
//! an OpenAI request against the recorded ones, responses, streams cut at every byte, errors,
//! and random splits and corruption.
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the OpenAI-family replay; not every helper is used here.
#[allow(dead_code)]
mod common;

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use tollgate_core::{
    ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest, ErrorClass, FinishReason,
    GatewayError, Role, UpstreamError,
};
use tollgate_providers::anthropic::AnthropicStreamDecoder;
use tollgate_providers::{Adapter, CallOptions, StreamEvent};

use common::{
    API_KEY, CLIENT_ALIAS, Fixtures, Transcript, XorShift, adapter, data_payloads,
    decode_in_chunks, fingerprint, fixtures,
};

/// `created` of every chunk decoded here, so decodes of one body compare equal.
const CREATED: i64 = 1_700_000_000;

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// Recorded request bodies, with the model string that sends them.
const REQUESTS: &[(&str, &str)] = &[
    (
        "anthropic/message.request.json",
        "anthropic/claude-3-opus-latest",
    ),
    (
        "anthropic/thinking.request.json",
        "anthropic/claude-sonnet-4-5",
    ),
    (
        "anthropic/tool_use.request.json",
        "anthropic/claude-sonnet-4-5",
    ),
    (
        "anthropic/tool_result.request.json",
        "anthropic/claude-sonnet-4-5",
    ),
];

/// Non-streaming 200 bodies.
const RESPONSES: &[&str] = &[
    "anthropic/message.json",
    "anthropic/tool_use.json",
    "anthropic/thinking.json",
];

/// Streams that end normally.
const STREAMS: &[&str] = &[
    "anthropic/message_stream.sse",
    "anthropic/tool_use_stream.sse",
    "anthropic/thinking_stream.sse",
    "anthropic/thinking_tool_use_stream.sse",
];

/// Streams that fail after the 200.
const ERROR_STREAMS: &[&str] = &["anthropic/stream_error_overloaded.sse"];

/// Error bodies: file, status, class, `error.type`, message.
const ERRORS: &[(&str, u16, ErrorClass, &str, &str)] = &[
    (
        "anthropic/error_400_invalid_request.json",
        400,
        ErrorClass::BadRequest,
        "invalid_request_error",
        "temperature: range: 0..1",
    ),
    (
        "anthropic/error_401_authentication.json",
        401,
        ErrorClass::Authentication,
        "authentication_error",
        "API key is invalid.",
    ),
    (
        "anthropic/error_404_not_found.json",
        404,
        ErrorClass::NotFound,
        "not_found_error",
        "model: claude-nonexistent-rig-test",
    ),
    (
        "anthropic/error_529_overloaded.json",
        529,
        ErrorClass::ServiceUnavailable,
        "overloaded_error",
        "Overloaded",
    ),
];

#[test]
fn every_anthropic_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(REQUESTS.iter().map(|r| r.0));
    known.extend(RESPONSES);
    known.extend(STREAMS);
    known.extend(ERROR_STREAMS);
    known.extend(ERRORS.iter().map(|e| e.0));
    let missing: Vec<String> = fx
        .files_under("anthropic")
        .into_iter()
        .filter(|f| !known.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures no test replays (add them to a table): {missing:?}"
    );
    for file in known {
        fx.bytes(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn upstream(e: &GatewayError) -> &UpstreamError {
    match e {
        GatewayError::Upstream(u) => u,
        other => panic!("not an upstream error: {other:?}"),
    }
}

fn request(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

/// The body the adapter for `model` builds for `req`, plus the request itself.
fn translate(
    model: &str,
    req: &ChatCompletionRequest,
) -> (tollgate_providers::UpstreamRequest, Value) {
    let up = adapter(model)
        .chat_request(req, CallOptions::default())
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    let body = serde_json::from_slice(&up.body).unwrap();
    (up, body)
}

/// Feeds `body` cut at `cuts` to a decoder with a fixed `created`, then ends the stream.
fn decode_at(body: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut d = AnthropicStreamDecoder::new(CREATED);
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let cut = cut.clamp(start, body.len());
        events.extend(d.feed(&body[start..cut]));
        start = cut;
    }
    events.extend(d.finish());
    events
}

/// Whether two decodes are the same, compared structurally (much cheaper than `Debug`
/// fingerprints, which matters when a 16 KB stream is decoded once per byte).
fn same_events(a: &[StreamEvent], b: &[StreamEvent]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (StreamEvent::Chunk(x), StreamEvent::Chunk(y)) => x == y,
            (StreamEvent::Done, StreamEvent::Done) => true,
            (StreamEvent::Error(x), StreamEvent::Error(y)) => {
                x.to_string() == y.to_string() && x.status() == y.status()
            }
            _ => false,
        })
}

/// Offsets to cut a stream at, one at a time: every offset of its first and last 4 KB, which
/// is every offset of every recording but the 16 KB thinking stream. There those 8 KB hold
/// every block start and stop, the signature and the message delta; the thinking and text
/// deltas in between are covered by the 1-byte pieces and the random cuts (a cut per offset
/// there would cost seconds per run and test nothing new).
fn single_cuts(body: &[u8]) -> Vec<usize> {
    const EDGE: usize = 4096;
    if body.len() <= 2 * EDGE {
        return (0..=body.len()).collect();
    }
    (0..=EDGE).chain(body.len() - EDGE..=body.len()).collect()
}

fn decode_pieces(body: &[u8], size: usize) -> Vec<StreamEvent> {
    let cuts: Vec<usize> = (size..body.len()).step_by(size.max(1)).collect();
    decode_at(body, &cuts)
}

/// What the stream should reassemble to, worked out from the recorded events directly (not
/// through the decoder under test).
#[derive(Debug, Default)]
struct Expected {
    id: String,
    model: String,
    text: String,
    thinking: String,
    signatures: Vec<String>,
    /// `(id, name, concatenated partial_json)` in tool_use block order.
    tools: Vec<(String, String, String)>,
    stop_reason: String,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
    thinking_tokens: Option<u64>,
}

fn expected(body: &[u8]) -> Expected {
    let mut e = Expected::default();
    let mut tool_block: Option<u64> = None;
    for payload in data_payloads(body) {
        let v: Value = serde_json::from_slice(&payload).unwrap();
        let usage = |e: &mut Expected, u: &Value| {
            let get = |k: &str| u.get(k).and_then(Value::as_u64);
            e.input = get("input_tokens").unwrap_or(e.input);
            e.output = get("output_tokens").unwrap_or(e.output);
            e.cache_read = get("cache_read_input_tokens").unwrap_or(e.cache_read);
            e.cache_creation = get("cache_creation_input_tokens").unwrap_or(e.cache_creation);
            if let Some(t) = u
                .get("output_tokens_details")
                .and_then(|d| d.get("thinking_tokens"))
                .and_then(Value::as_u64)
            {
                e.thinking_tokens = Some(t);
            }
        };
        match v["type"].as_str().unwrap() {
            "message_start" => {
                e.id = v["message"]["id"].as_str().unwrap().to_owned();
                e.model = v["message"]["model"].as_str().unwrap().to_owned();
                usage(&mut e, &v["message"]["usage"]);
            }
            "content_block_start" if v["content_block"]["type"] == "tool_use" => {
                let b = &v["content_block"];
                e.tools.push((
                    b["id"].as_str().unwrap().to_owned(),
                    b["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
                tool_block = v["index"].as_u64();
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match d["type"].as_str().unwrap() {
                    "text_delta" => e.text.push_str(d["text"].as_str().unwrap()),
                    "thinking_delta" => e.thinking.push_str(d["thinking"].as_str().unwrap()),
                    "signature_delta" => e
                        .signatures
                        .push(d["signature"].as_str().unwrap().to_owned()),
                    "input_json_delta" => {
                        assert_eq!(v["index"].as_u64(), tool_block);
                        e.tools
                            .last_mut()
                            .unwrap()
                            .2
                            .push_str(d["partial_json"].as_str().unwrap());
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "message_delta" => {
                e.stop_reason = v["delta"]["stop_reason"].as_str().unwrap().to_owned();
                usage(&mut e, &v["usage"]);
            }
            _ => {}
        }
    }
    e
}

/// The signatures a client collects from `thinking_blocks` deltas.
fn signatures(t: &Transcript) -> Vec<String> {
    t.chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.extra.get("thinking_blocks"))
        .flat_map(|b| b.as_array().unwrap())
        .filter_map(|b| b.get("signature").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The thinking text a client collects from `thinking_blocks` deltas (LiteLLM's second
/// channel besides `reasoning_content`).
fn thinking_from_blocks(t: &Transcript) -> String {
    t.chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.extra.get("thinking_blocks"))
        .flat_map(|b| b.as_array().unwrap())
        .filter_map(|b| b.get("thinking").and_then(Value::as_str))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// The OpenAI request a client would send for each recorded Anthropic request.
fn openai_request_for(file: &str) -> Vec<(&'static str, Value)> {
    let weather_tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "", "strict": true,
            "parameters": {"additionalProperties": false, "properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}}},
        {"type": "function", "function": {"name": "get_elevation", "description": "",
            "parameters": {"additionalProperties": false, "properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}}}
    ]);
    let question =
        json!({"role": "user", "content": "What's the weather and elevation in Denver?"});
    let beta = json!({"anthropic-beta": "structured-outputs-2025-11-13"});
    match file {
        "anthropic/message.request.json" => vec![(
            "system message, default max_tokens",
            json!({"model": CLIENT_ALIAS, "messages": [
                {"role": "system", "content": "You are a helpful assistant.\n\n"},
                {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
            ]}),
        )],
        "anthropic/thinking.request.json" => vec![
            (
                "thinking passed through",
                json!({"model": CLIENT_ALIAS, "max_tokens": 4096,
                    "thinking": {"type": "enabled", "budget_tokens": 1024},
                    "messages": [{"role": "user", "content": "How do I cross the street?"}]}),
            ),
            (
                "reasoning_effort low",
                json!({"model": CLIENT_ALIAS, "max_completion_tokens": 4096, "reasoning_effort": "low",
                    "messages": [{"role": "user", "content": "How do I cross the street?"}]}),
            ),
        ],
        "anthropic/tool_use.request.json" => vec![(
            "tools and tool_choice auto",
            json!({"model": CLIENT_ALIAS, "max_tokens": 4096, "tools": weather_tools,
                "tool_choice": "auto", "extra_headers": beta, "messages": [question]}),
        )],
        "anthropic/tool_result.request.json" => vec![(
            "assistant tool calls and their results",
            json!({"model": CLIENT_ALIAS, "max_tokens": 4096, "tools": weather_tools,
                "tool_choice": "auto", "extra_headers": beta, "messages": [
                question,
                {"role": "assistant", "content": "I'll get the weather and elevation information for Denver.", "tool_calls": [
                    {"id": "toolu_01BBTvQnxdxk7vPHD1ytXyGs", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Denver\"}"}},
                    {"id": "toolu_017Q9pGQ9Hx126pyyLLnVqJV", "type": "function", "function": {"name": "get_elevation", "arguments": "{\"city\":\"Denver\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_01BBTvQnxdxk7vPHD1ytXyGs", "content": "Weather in Denver: Sunny, 22\u{b0}C"},
                {"role": "tool", "tool_call_id": "toolu_017Q9pGQ9Hx126pyyLLnVqJV", "content": "Elevation of Denver: 650m above sea level"}
            ]}),
        )],
        other => panic!("no OpenAI request written for {other}"),
    }
}

/// The recorded body without what only differs in form: `"is_error": false` on tool results
/// (the API's default, which OpenAI messages cannot express).
fn comparable(mut recorded: Value) -> Value {
    for m in recorded["messages"].as_array_mut().unwrap() {
        if let Some(blocks) = m["content"].as_array_mut() {
            for b in blocks {
                if b["type"] == "tool_result" && b["is_error"] == false {
                    b.as_object_mut().unwrap().remove("is_error");
                }
            }
        }
    }
    recorded
}

#[test]
fn requests_translate_to_the_recorded_bodies() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in REQUESTS {
        let recorded = comparable(fx.json(file));
        for (what, openai) in openai_request_for(file) {
            let ctx = format!("{file} ({what})");
            let (up, body) = translate(model, &request(openai));
            assert_eq!(body, recorded, "{ctx}");
            assert_eq!(up.url, "http://fixture.invalid/v1/messages", "{ctx}");
            assert_eq!(up.method, http::Method::POST, "{ctx}");
            assert_eq!(up.headers["x-api-key"], API_KEY, "{ctx}");
            assert_eq!(up.headers["anthropic-version"], "2023-06-01", "{ctx}");
            assert_eq!(up.headers["content-type"], "application/json", "{ctx}");
        }
    }
}

#[test]
fn strict_tools_without_the_structured_outputs_beta_lose_only_strict() {
    let Some(fx) = fixtures() else { return };
    for file in [
        "anthropic/tool_use.request.json",
        "anthropic/tool_result.request.json",
    ] {
        let mut recorded = comparable(fx.json(file));
        recorded["tools"][0]
            .as_object_mut()
            .unwrap()
            .remove("strict");
        let (_, mut openai) = openai_request_for(file).remove(0);
        openai.as_object_mut().unwrap().remove("extra_headers");
        let (up, body) = translate("anthropic/claude-sonnet-4-5", &request(openai));
        assert_eq!(body, recorded, "{file}");
        assert!(up.headers.get("anthropic-beta").is_none());
    }
}

#[test]
fn a_streaming_request_differs_only_in_stream() {
    let Some(fx) = fixtures() else { return };
    let (_, mut openai) = openai_request_for("anthropic/message.request.json").remove(0);
    openai["stream"] = json!(true);
    openai["stream_options"] = json!({"include_usage": true});
    let (_, body) = translate("anthropic/claude-3-opus-latest", &request(openai));
    let mut recorded = fx.json("anthropic/message.request.json");
    recorded["stream"] = json!(true);
    assert_eq!(body, recorded);
}

// ---------------------------------------------------------------------------------------------
// Non-streaming responses
// ---------------------------------------------------------------------------------------------

fn parse(fx: &Fixtures, file: &str) -> ChatCompletionResponse {
    adapter("anthropic/claude-sonnet-4-5")
        .parse_chat_response(&fx.bytes(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_response_reaches_the_client_under_its_alias_with_usage() {
    let Some(fx) = fixtures() else { return };
    // file, prompt, completion, finish
    let cases: &[(&str, u64, u64, FinishReason)] = &[
        ("anthropic/message.json", 20, 10, FinishReason::Stop),
        ("anthropic/tool_use.json", 612, 101, FinishReason::ToolCalls),
        ("anthropic/thinking.json", 43, 321, FinishReason::Stop),
    ];
    for (file, prompt, completion, finish) in cases {
        let recorded = fx.json(file);
        let a = adapter("anthropic/claude-sonnet-4-5");
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (out, usage) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], CLIENT_ALIAS, "{file}");
        assert_eq!(v["object"], "chat.completion", "{file}");
        assert_eq!(v["id"], recorded["id"], "{file}");
        assert!(v["created"].as_i64().unwrap() >= before, "{file}");
        assert_eq!(v["choices"].as_array().unwrap().len(), 1, "{file}");
        assert_eq!(v["choices"][0]["index"], 0, "{file}");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant", "{file}");
        assert_eq!(v["choices"][0]["finish_reason"], finish.as_str(), "{file}");
        let u = usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (*prompt, *completion, prompt + completion),
            "{file}"
        );
        assert_eq!(u.cached_tokens(), 0, "{file}");
        assert_eq!(
            v["usage"]["prompt_tokens_details"]["cached_tokens"], 0,
            "{file}"
        );
        assert_eq!(v["usage"]["cache_read_input_tokens"], 0, "{file}");
        assert_eq!(v["usage"]["cache_creation_input_tokens"], 0, "{file}");
        // The typed parse (library path) agrees with the bytes (proxy path), `created` aside.
        let mut typed = parse(&fx, file);
        let mut reparsed: ChatCompletionResponse = serde_json::from_value(v).unwrap();
        typed.model = CLIENT_ALIAS.to_owned();
        typed.created = 0;
        reparsed.created = 0;
        assert_eq!(typed, reparsed, "{file}");
    }
}

#[test]
fn text_response() {
    let Some(fx) = fixtures() else { return };
    let r = parse(&fx, "anthropic/message.json");
    let m = &r.choices[0].message;
    assert_eq!(
        m.text_content().as_deref(),
        Some("The capital of France is Paris.")
    );
    assert_eq!(r.model, "claude-3-opus-20240229");
    assert!(m.tool_calls.is_none());
    assert!(m.reasoning_content.is_none());
    assert!(!m.extra.contains_key("thinking_blocks"));
}

#[test]
fn tool_use_response_becomes_tool_calls_with_json_string_arguments() {
    let Some(fx) = fixtures() else { return };
    let r = parse(&fx, "anthropic/tool_use.json");
    let m = &r.choices[0].message;
    assert_eq!(
        m.text_content().as_deref(),
        Some("I'll get the weather and elevation information for Denver.")
    );
    let calls = m.tool_calls.as_ref().unwrap();
    let got: Vec<(&str, &str, Value)> = calls
        .iter()
        .map(|c| {
            assert_eq!(c.kind, "function");
            (
                c.id.as_str(),
                c.function.name.as_str(),
                serde_json::from_str(&c.function.arguments).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "toolu_01BBTvQnxdxk7vPHD1ytXyGs",
                "get_weather",
                json!({"city": "Denver"})
            ),
            (
                "toolu_017Q9pGQ9Hx126pyyLLnVqJV",
                "get_elevation",
                json!({"city": "Denver"})
            ),
        ]
    );
    // Compact, as LiteLLM's clients compare them.
    assert_eq!(calls[0].function.arguments, "{\"city\":\"Denver\"}");
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[test]
fn thinking_response_keeps_reasoning_and_the_signed_block() {
    let Some(fx) = fixtures() else { return };
    let recorded = fx.json("anthropic/thinking.json");
    let r = parse(&fx, "anthropic/thinking.json");
    let m = &r.choices[0].message;
    assert_eq!(
        m.reasoning_content.as_deref(),
        recorded["content"][0]["thinking"].as_str()
    );
    assert_eq!(m.extra["thinking_blocks"], json!([recorded["content"][0]]));
    assert!(
        m.extra["thinking_blocks"][0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("Eq8CCkYICxgCKkDdadQOXMzNBqjrNVAKWsgUfg49")
    );
    assert_eq!(
        m.text_content().as_deref(),
        recorded["content"][1]["text"].as_str()
    );
    // The signed block goes back to Anthropic exactly as it came.
    let next = request(json!({"model": CLIENT_ALIAS, "messages": [
        {"role": "user", "content": "How do I cross the street?"},
        serde_json::to_value(m).unwrap(),
        {"role": "user", "content": "Thanks"}
    ]}));
    let (_, body) = translate("anthropic/claude-sonnet-4-5", &next);
    assert_eq!(body["messages"][1]["content"][0], recorded["content"][0]);
    assert_eq!(body["messages"][1]["content"][1], recorded["content"][1]);
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Checks a decoded stream against what the recording says it carries.
fn check_stream(file: &str, events: &[StreamEvent], want: &Expected) {
    let t = Transcript::from_events(events);
    assert!(t.errors.is_empty(), "{file}: {:?}", t.errors);
    assert!(t.done, "{file}: no Done");
    assert!(matches!(events.last(), Some(StreamEvent::Done)), "{file}");
    assert_eq!(
        t.typed_events,
        events.len() - 1,
        "{file}: only typed chunks and Done"
    );
    assert_eq!(t.roles, vec![Role::Assistant], "{file}: one role, first");
    let first = &t.chunks[0];
    assert_eq!(
        first.choices[0].delta.content.as_deref(),
        Some(""),
        "{file}"
    );
    for c in &t.chunks {
        assert_eq!(c.id, want.id, "{file}");
        assert_eq!(c.model, want.model, "{file}");
        assert_eq!(c.object, "chat.completion.chunk", "{file}");
        assert_eq!(c.created, CREATED, "{file}");
    }
    assert_eq!(t.content, want.text, "{file}: content");
    assert_eq!(t.reasoning_content, want.thinking, "{file}: reasoning");
    assert_eq!(
        thinking_from_blocks(&t),
        want.thinking,
        "{file}: thinking_blocks"
    );
    assert_eq!(signatures(&t), want.signatures, "{file}: signatures");
    assert_eq!(t.tool_calls.len(), want.tools.len(), "{file}: tool calls");
    for (k, (id, name, args)) in want.tools.iter().enumerate() {
        let got = &t.tool_calls[&(k as u32)];
        assert_eq!(got.id.as_deref(), Some(id.as_str()), "{file}");
        assert_eq!(got.name.as_deref(), Some(name.as_str()), "{file}");
        assert_eq!(got.kind.as_deref(), Some("function"), "{file}");
        let got_args: Value = serde_json::from_str(&got.arguments)
            .unwrap_or_else(|e| panic!("{file}: arguments {:?}: {e}", got.arguments));
        let want_args: Value = serde_json::from_str(args).unwrap();
        assert_eq!(got_args, want_args, "{file}: arguments");
    }
    let finish = match want.stop_reason.as_str() {
        "tool_use" => FinishReason::ToolCalls,
        "end_turn" => FinishReason::Stop,
        other => panic!("{file}: unexpected stop reason {other}"),
    };
    assert_eq!(t.finish_reasons, vec![finish], "{file}: finish");
    // Usage arrives once, last, in a chunk of its own.
    assert_eq!(t.usage_reports, 1, "{file}");
    let last = t.chunks.last().unwrap();
    assert!(last.choices.is_empty() && last.usage().is_some(), "{file}");
    let u = t.usage.as_ref().unwrap();
    let prompt = want.input + want.cache_read + want.cache_creation;
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (prompt, want.output, prompt + want.output),
        "{file}: usage"
    );
    assert_eq!(u.cached_tokens(), want.cache_read, "{file}");
    assert_eq!(
        u.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens),
        want.thinking_tokens,
        "{file}"
    );
}

#[test]
fn streams_reassemble_exactly_at_every_byte_boundary() {
    let Some(fx) = fixtures() else { return };
    for file in STREAMS {
        let body = fx.bytes(file);
        let want = expected(&body);
        let whole = decode_at(&body, &[]);
        check_stream(file, &whole, &want);
        for cut in single_cuts(&body) {
            let events = decode_at(&body, &[cut]);
            if !same_events(&events, &whole) {
                check_stream(&format!("{file} cut at {cut}"), &events, &want);
                assert_eq!(
                    fingerprint(&events),
                    fingerprint(&whole),
                    "{file}: cut at {cut}"
                );
            }
        }
        for size in [1, 2, 3, 7, 64] {
            assert_eq!(
                fingerprint(&decode_pieces(&body, size)),
                fingerprint(&whole),
                "{file}: pieces of {size}"
            );
        }
        let mut rng = XorShift::new(body.len() as u64);
        for _ in 0..50 {
            let cuts = rng.cuts(body.len(), 40);
            assert!(
                same_events(&decode_at(&body, &cuts), &whole),
                "{file}: {cuts:?}"
            );
        }
    }
}

#[test]
fn recorded_streams_carry_what_was_said() {
    let Some(fx) = fixtures() else { return };
    let t = |file: &str| Transcript::from_events(&decode_at(&fx.bytes(file), &[]));

    let s = t("anthropic/message_stream.sse");
    assert_eq!(s.content, "2");
    assert_eq!(s.finish_reason(), Some(&FinishReason::Stop));
    assert_eq!(s.usage.as_ref().unwrap().total_tokens, 25);

    let s = t("anthropic/tool_use_stream.sse");
    assert_eq!(s.content, "I'll calculate 2 - 5 right away!");
    let call = &s.tool_calls[&0];
    assert_eq!(call.id.as_deref(), Some("toolu_REDACTED_1"));
    assert_eq!(call.name.as_deref(), Some("subtract"));
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"x": 2, "y": 5})
    );
    assert_eq!(s.finish_reason(), Some(&FinishReason::ToolCalls));
    let u = s.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (703, 82));

    let s = t("anthropic/thinking_stream.sse");
    assert!(
        s.reasoning_content
            .starts_with("This is a straightforward question about pedestrian safety.")
    );
    assert!(
        s.content
            .ends_with("prioritize safety over speed when crossing streets.")
    );
    let sig = signatures(&s);
    assert_eq!(sig.len(), 1);
    assert!(sig[0].starts_with("EvMCCkYICxgCKkCHP2cSuEdcJK/0rFwqES/ecn+"));
    let u = s.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (43, 282));

    let s = t("anthropic/thinking_tool_use_stream.sse");
    assert_eq!(
        s.reasoning_content,
        "The user wants to know the current weather in Tokyo, Japan. I'll call the get_weather tool with \"Tokyo\" as the city."
    );
    assert_eq!(signatures(&s), vec!["signature_REDACTED_2".to_owned()]);
    assert_eq!(
        s.content,
        "Sure! Let me check the current weather in Tokyo right away!"
    );
    let call = &s.tool_calls[&0];
    assert_eq!(call.name.as_deref(), Some("get_weather"));
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"city": "Tokyo, Japan"})
    );
    let u = s.usage.as_ref().unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (671, 113));
    assert_eq!(u.reasoning_tokens(), 41);
    assert_eq!(s.finish_reason(), Some(&FinishReason::ToolCalls));
}

#[test]
fn the_stream_decoder_is_reached_through_the_adapter() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("anthropic/message_stream.sse");
    let a = adapter("anthropic/claude-sonnet-4-5");
    let events = decode_in_chunks(&a, &body, 13);
    let t = Transcript::from_events(&events);
    assert!(t.done);
    assert_eq!(t.content, "2");
    // `created` is the time of decoding, the same on every chunk.
    let created = t.chunks[0].created;
    assert!(created > 1_700_000_000);
    assert!(t.chunks.iter().all(|c| c.created == created));
}

#[test]
fn a_midstream_overload_is_a_529_error_after_the_first_chunk() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("anthropic/stream_error_overloaded.sse");
    let whole = decode_at(&body, &[]);
    for cut in 0..=body.len() {
        assert!(
            same_events(&decode_at(&body, &[cut]), &whole),
            "cut at {cut}"
        );
    }
    assert_eq!(whole.len(), 2, "{whole:?}");
    match &whole[0] {
        StreamEvent::Chunk(c) => {
            assert_eq!(c.choices[0].delta.role, Some(Role::Assistant));
            assert_eq!(c.id, "msg_01XYZ");
        }
        other => panic!("{other:?}"),
    }
    let StreamEvent::Error(e) = &whole[1] else {
        panic!("{:?}", whole[1]);
    };
    assert_eq!(e.status(), 529);
    assert_eq!(e.class(), ErrorClass::ServiceUnavailable);
    assert!(e.class().is_retryable());
    let u = upstream(e);
    assert_eq!(u.error_type.as_deref(), Some("overloaded_error"));
    assert_eq!(
        e.to_string(),
        "litellm.ServiceUnavailableError: AnthropicException - Overloaded"
    );
    let body = serde_json::to_value(e.to_body()).unwrap();
    assert_eq!(body["error"]["code"], "529");
    assert_eq!(body["error"]["type"], "overloaded_error");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Name, body, status sent, status the client sees, class, `error.type`, message.
type ErrorCase = (String, Vec<u8>, u16, u16, ErrorClass, String, String);

#[test]
fn recorded_and_documented_error_bodies() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("anthropic/claude-sonnet-4-5");
    let mut cases: Vec<ErrorCase> = ERRORS
        .iter()
        .map(|(file, status, class, ty, msg)| {
            (
                (*file).to_owned(),
                fx.bytes(file),
                *status,
                *status,
                *class,
                (*ty).to_owned(),
                (*msg).to_owned(),
            )
        })
        .collect();
    // Statuses with no recording: bodies in the documented envelope.
    for (status, seen, class, ty, msg) in [
        (
            429,
            429,
            ErrorClass::RateLimit,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        (
            500,
            500,
            ErrorClass::InternalServer,
            "api_error",
            "Internal server error",
        ),
        (
            413,
            413,
            ErrorClass::PayloadTooLarge,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        (
            403,
            403,
            ErrorClass::PermissionDenied,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        (
            504,
            408,
            ErrorClass::Timeout,
            "timeout_error",
            "Request timed out",
        ),
        (
            400,
            400,
            ErrorClass::ContextWindowExceeded,
            "invalid_request_error",
            "prompt is too long: 215000 tokens > 200000 maximum",
        ),
    ] {
        let body = json!({"type": "error", "error": {"type": ty, "message": msg}, "request_id": "req_011"});
        cases.push((
            format!("written {status} {ty}"),
            body.to_string().into_bytes(),
            status,
            seen,
            class,
            ty.to_owned(),
            msg.to_owned(),
        ));
    }
    for (name, body, status, seen, class, ty, msg) in cases {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().unwrap());
        let e = a.parse_error(status, &headers, &body);
        assert_eq!(e.status(), seen, "{name}");
        assert_eq!(e.class(), class, "{name}");
        let u = upstream(&e);
        assert_eq!(u.provider, "Anthropic", "{name}");
        assert_eq!(u.message, msg, "{name}");
        assert_eq!(u.error_type.as_deref(), Some(ty.as_str()), "{name}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "{name}");
        assert_eq!(
            e.to_string(),
            format!("litellm.{}: AnthropicException - {msg}", class.name()),
            "{name}"
        );
        let shaped = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(shaped["error"]["code"], seen.to_string(), "{name}");
        assert_eq!(shaped["error"]["type"], ty, "{name}");
        assert_eq!(
            class.is_retryable(),
            matches!(seen, 408 | 429 | 500 | 529),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

#[test]
fn anthropic_models_get_the_anthropic_adapter() {
    for model in ["anthropic/claude-sonnet-4-5", "claude-opus-4-1"] {
        let a = adapter(model);
        assert!(matches!(a, Adapter::Anthropic(_)), "{model}");
        assert_eq!(a.provider_name(), "Anthropic");
        assert_eq!(a.api_base(), "http://fixture.invalid/v1");
        let e = a
            .embeddings_request(&EmbeddingsRequest::new("m", vec!["a".into()]))
            .unwrap_err();
        assert!(
            matches!(e, GatewayError::UnsupportedOperation { .. }),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "anthropic does not support embeddings");
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzz-ish: random splits and corruption must never panic
// ---------------------------------------------------------------------------------------------

fn corrupt(rng: &mut XorShift, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    if out.is_empty() {
        return out;
    }
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len().max(1));
        match rng.below(6) {
            0 => out[at] = (rng.next_u64() & 0xff) as u8,
            1 => {
                let end = (at + rng.below(50)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(80)).min(out.len());
                let dup = out[at..end].to_vec();
                out.splice(at..at, dup);
            }
            3 => out.truncate(at),
            4 => {
                let junk: &[u8] = match rng.below(5) {
                    0 => b"\n\n",
                    1 => b"event: error\ndata: {\"type\":\"error\"}\n\n",
                    2 => b"data: {\"type\":\"content_block_delta\",\"index\":99,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n",
                    3 => b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":18446744073709551615,\"input_tokens\":18446744073709551615,\"cache_read_input_tokens\":18446744073709551615}}\n\n",
                    _ => b"\xff\xfe\r",
                };
                let at = at.min(out.len());
                out.splice(at..at, junk.iter().copied());
            }
            _ => {
                if let Some(b) = out.get_mut(at) {
                    *b = b'"';
                }
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

#[test]
fn random_splits_and_corruption_never_panic_and_always_end_once() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5eed_a11c);
    let mut files: Vec<&str> = STREAMS.to_vec();
    files.extend(ERROR_STREAMS);
    for file in files {
        let original = fx.bytes(file);
        for round in 0..300 {
            let body = if round == 0 {
                original.clone()
            } else {
                corrupt(&mut rng, &original)
            };
            let max_piece = 1 + rng.below(200);
            let cuts = rng.cuts(body.len(), max_piece);
            let events = decode_at(&body, &cuts);
            let ctx = format!("{file} round {round}");
            // Exactly one terminal event, and it is the last.
            let terminal = events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Done | StreamEvent::Error(_)))
                .count();
            assert_eq!(terminal, 1, "{ctx}: {events:?}");
            assert!(
                matches!(
                    events.last(),
                    Some(StreamEvent::Done | StreamEvent::Error(_))
                ),
                "{ctx}"
            );
            for e in &events {
                if let StreamEvent::Chunk(c) = e {
                    serde_json::to_vec(c).unwrap();
                }
                if let StreamEvent::Error(e) = e {
                    let _ = e.to_body();
                }
            }
        }
    }
    // Response bodies, error bodies and request translation on corrupted input.
    let a = adapter("anthropic/claude-sonnet-4-5");
    let mut json_files: Vec<&str> = RESPONSES.to_vec();
    json_files.extend(ERRORS.iter().map(|e| e.0));
    json_files.extend(REQUESTS.iter().map(|r| r.0));
    for file in json_files {
        let original = fx.bytes(file);
        for _ in 0..300 {
            let body = corrupt(&mut rng, &original);
            let _ = a.parse_chat_response(&body);
            let _ = a.forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS);
            let e = a.parse_error(400 + rng.below(200) as u16, &HeaderMap::new(), &body);
            assert!(!upstream(&e).message.is_empty());
            let _ = e.to_body();
        }
    }
    for file in REQUESTS.iter().map(|r| r.0) {
        for (_, openai) in openai_request_for(file) {
            let original = openai.to_string().into_bytes();
            for _ in 0..300 {
                let body = corrupt(&mut rng, &original);
                if let Ok(req) = serde_json::from_slice::<ChatCompletionRequest>(&body) {
                    let _ = a.chat_request(&req, CallOptions::default());
                }
            }
        }
    }
}
