//! Replays every recorded Ollama native-API payload (`../shared/fixtures/ollama/`) through the
//! Ollama adapter: the OpenAI requests that produce the recorded `/api/chat` and `/api/embed`
//! bodies, the responses and NDJSON streams a client would receive, and errors.
//! (`ollama/openai_compat_chat.json` is Ollama's OpenAI-compatible endpoint, replayed by
//! `openai_family_fixtures.rs`.)
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Helpers shared with the other replays; not every one is needed here.
#[allow(dead_code)]
mod common;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use tollgate_core::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest,
    ErrorClass, FinishReason, GatewayError, Role, embeddings::EmbeddingVector,
};
use tollgate_providers::{Adapter, CallOptions, StreamEvent};

use common::{
    API_KEY, CLIENT_ALIAS, Transcript, XorShift, adapter, decode_cut_at, decode_in_chunks, fixtures,
};

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

const CHAT_RESPONSES: &[&str] = &["ollama/chat.json", "ollama/chat_thinking_tool_call.json"];

/// Streams that finish with `done: true`.
const STREAMS: &[&str] = &[
    "ollama/chat_stream.ndjson",
    "ollama/chat_tool_call_stream.ndjson",
];

/// A stream that ends with an `{"error": ...}` line.
const STREAM_ERROR: &str = "ollama/stream_error.ndjson";

const ERROR_404: &str = "ollama/error_404_model_not_found.json";

const EMBEDDINGS: &str = "ollama/embed.json";

/// Request bodies; each has its own test below that builds the OpenAI request behind it.
const REQUESTS: &[&str] = &[
    "ollama/chat.request.json",
    "ollama/chat_thinking_tool_call.request.json",
    "ollama/chat_tool_result.request.json",
    "ollama/embed.request.json",
];

/// Not the native API: replayed by the OpenAI-family test.
const ELSEWHERE: &[&str] = &["ollama/openai_compat_chat.json"];

const MODEL: &str = "ollama_chat/qwen3:4b";

#[test]
fn every_ollama_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(CHAT_RESPONSES);
    known.extend(STREAMS);
    known.extend([STREAM_ERROR, ERROR_404, EMBEDDINGS]);
    known.extend(REQUESTS);
    known.extend(ELSEWHERE);
    let missing: Vec<String> = fx
        .files_under("ollama")
        .into_iter()
        .filter(|f| !known.contains(&f.as_str()))
        .collect();
    assert!(missing.is_empty(), "fixtures no test replays: {missing:?}");
    for file in known {
        fx.bytes(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn chat(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

fn sent(a: &Adapter, req: &ChatCompletionRequest) -> (String, Value) {
    let r = a.chat_request(req, CallOptions::default()).unwrap();
    assert_eq!(r.headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(r.headers["content-type"], "application/json");
    (r.url, serde_json::from_slice(&r.body).unwrap())
}

/// Events with `created` and the per-stream id made uniform, rendered for comparison.
fn stable(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Chunk(c) => {
                let mut c = (**c).clone();
                c.created = 0;
                c.id = String::new();
                format!("{c:?}")
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn chunks(events: &[StreamEvent]) -> Vec<ChatCompletionChunk> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Chunk(c) => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

/// The NDJSON lines of a body, read independently of the decoder.
fn lines(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What a recorded stream says: content, thinking, calls `(id, name, arguments)`, the
/// `done: true` line.
#[derive(Debug, Default)]
struct Recorded {
    text: String,
    thinking: String,
    calls: Vec<(Option<String>, String, Value)>,
    last: Value,
}

fn recorded(body: &[u8]) -> Recorded {
    let mut r = Recorded::default();
    for v in lines(body) {
        let m = &v["message"];
        r.text.push_str(m["content"].as_str().unwrap_or_default());
        r.thinking
            .push_str(m["thinking"].as_str().unwrap_or_default());
        for c in m["tool_calls"].as_array().into_iter().flatten() {
            r.calls.push((
                c["id"].as_str().map(str::to_owned),
                c["function"]["name"].as_str().unwrap().to_owned(),
                c["function"]["arguments"].clone(),
            ));
        }
        if v["done"] == true {
            r.last = v;
        }
    }
    r
}

/// Removes the call ids our requests add (newer Ollama versions read `id` on tool calls and
/// `tool_call_id` on results; the recording is from a client that sent neither).
fn without_call_ids(mut body: Value) -> Value {
    for m in body["messages"].as_array_mut().unwrap() {
        let m = m.as_object_mut().unwrap();
        m.shift_remove("tool_call_id");
        for c in m
            .get_mut("tool_calls")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            c.as_object_mut().unwrap().shift_remove("id");
        }
    }
    body
}

const SYSTEM: &str = "You are a weather assistant. You have access to a get_weather tool. You must call the get_weather tool for any weather question and never guess weather data. After receiving the tool result, provide a concise summary of the weather.";
const QUESTION: &str = "I'm planning a trip. What is the current weather in Tokyo, Japan? Based on the weather conditions, should I pack an umbrella or sunscreen? Use the get_weather tool to check before answering.";

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Get the current weather for a city. Must be called for weather questions.",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string", "description": "City name to get weather for"}}}}}])
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn a_plain_question_produces_the_recorded_chat_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter(MODEL);
    let (url, body) = sent(
        &a,
        &chat(
            json!({"model": CLIENT_ALIAS, "max_tokens": 64, "reasoning_effort": "none",
            "messages": [{"role": "user", "content": "Reply with exactly the single word: pong"}]}),
        ),
    );
    assert_eq!(url, "http://fixture.invalid/v1/api/chat");
    assert_eq!(body, fx.json("ollama/chat.request.json"));
    // `ollama/` is served by the same endpoint with the same body.
    let (url, same) = sent(
        &adapter("ollama/qwen3:4b"),
        &chat(
            json!({"model": CLIENT_ALIAS, "max_tokens": 64, "reasoning_effort": "none",
            "messages": [{"role": "user", "content": "Reply with exactly the single word: pong"}]}),
        ),
    );
    assert_eq!(url, "http://fixture.invalid/v1/api/chat");
    assert_eq!(same, body);
}

#[test]
fn tools_and_thinking_produce_the_recorded_body() {
    let Some(fx) = fixtures() else { return };
    let (_, body) = sent(
        &adapter(MODEL),
        &chat(
            json!({"model": CLIENT_ALIAS, "reasoning_effort": "medium", "tools": weather_tools(),
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]}),
        ),
    );
    assert_eq!(body, fx.json("ollama/chat_thinking_tool_call.request.json"));
}

#[test]
fn the_recorded_tool_call_goes_back_as_the_recorded_follow_up() {
    let Some(fx) = fixtures() else { return };
    let a = adapter(MODEL);
    // The client keeps the assistant turn it received and answers its call.
    let (answer, _) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("ollama/chat_thinking_tool_call.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let answer: ChatCompletionResponse = serde_json::from_slice(&answer).unwrap();
    let turn = &answer.choices[0].message;
    let call_id = turn.tool_calls.as_ref().unwrap()[0].id.clone();
    let (_, body) = sent(
        &a,
        &chat(
            json!({"model": CLIENT_ALIAS, "reasoning_effort": "high", "tools": weather_tools(),
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": QUESTION},
                serde_json::to_value(turn).unwrap(),
                {"role": "tool", "tool_call_id": call_id,
                    "content": "Weather in Tokyo: 72F (22C), sunny with light clouds, humidity 45%, wind 8 mph NW"}]}),
        ),
    );
    // The result names its tool, resolved from the call it answers, and its call id.
    assert_eq!(body["messages"][3]["tool_name"], "get_weather");
    assert_eq!(body["messages"][3]["tool_call_id"], "call_REDACTED_1");
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["id"],
        "call_REDACTED_1"
    );
    assert_eq!(
        without_call_ids(body),
        fx.json("ollama/chat_tool_result.request.json")
    );
}

#[test]
fn an_embedding_request_produces_the_recorded_embed_body() {
    let Some(fx) = fixtures() else { return };
    let req: EmbeddingsRequest = serde_json::from_value(json!({"model": CLIENT_ALIAS,
        "input": ["Why is the sky blue?", "Why is the grass green?"]}))
    .unwrap();
    let r = adapter("ollama/all-minilm")
        .embeddings_request(&req)
        .unwrap();
    assert_eq!(r.url, "http://fixture.invalid/v1/api/embed");
    assert_eq!(r.headers["authorization"], format!("Bearer {API_KEY}"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, fx.json("ollama/embed.request.json"));
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_response_reaches_the_client_under_its_alias_with_ollama_usage() {
    let Some(fx) = fixtures() else { return };
    let a = adapter(MODEL);
    for file in CHAT_RESPONSES {
        let raw = fx.json(file);
        let (out, usage) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["model"], CLIENT_ALIAS, "{file}");
        assert_eq!(out["object"], "chat.completion", "{file}");
        assert!(
            out["id"].as_str().unwrap().starts_with("chatcmpl-"),
            "{file}"
        );
        let r: ChatCompletionResponse = serde_json::from_value(out).unwrap();
        let u = usage.unwrap();
        assert_eq!(Some(&u), r.usage.as_ref());
        assert_eq!(
            u.prompt_tokens,
            raw["prompt_eval_count"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            u.completion_tokens,
            raw["eval_count"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
        let m = &r.choices[0].message;
        let calls = raw["message"]["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let text = raw["message"]["content"].as_str().unwrap();
        if calls.is_empty() {
            assert_eq!(m.text_content().as_deref(), Some(text), "{file}");
        } else {
            assert_eq!(text, "");
            assert_eq!(m.content, None, "{file}: a call-only turn has null content");
        }
        assert_eq!(
            m.reasoning_content.as_deref(),
            raw["message"]["thinking"].as_str(),
            "{file}"
        );
        assert_eq!(m.tool_calls.as_ref().map_or(0, Vec::len), calls.len());
        for (call, want) in m.tool_calls.iter().flatten().zip(&calls) {
            assert_eq!(call.id, want["id"].as_str().unwrap());
            assert_eq!(call.kind, "function");
            assert_eq!(
                call.function.name,
                want["function"]["name"].as_str().unwrap()
            );
            let args: Value = serde_json::from_str(&call.function.arguments).unwrap();
            assert_eq!(
                args, want["function"]["arguments"],
                "{file}: arguments as a string"
            );
        }
        let want_finish = match (raw["done_reason"].as_str().unwrap(), calls.is_empty()) {
            (_, false) => FinishReason::ToolCalls,
            ("length", true) => FinishReason::Length,
            ("stop", true) => FinishReason::Stop,
            (other, _) => panic!("{file}: {other}"),
        };
        assert_eq!(r.choices[0].finish_reason, Some(want_finish), "{file}");
    }
}

#[test]
fn recorded_calls_without_ids_get_call_n() {
    let Some(fx) = fixtures() else { return };
    let mut raw = fx.json("ollama/chat_thinking_tool_call.json");
    raw["message"]["tool_calls"][0]
        .as_object_mut()
        .unwrap()
        .shift_remove("id");
    let r = adapter(MODEL)
        .parse_chat_response(raw.to_string().as_bytes())
        .unwrap();
    let call = &r.choices[0].message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id, "call_0");
    assert_eq!(call.function.arguments, "{\"city\":\"Tokyo\"}");
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn every_stream_decodes_identically_at_every_split() {
    let Some(fx) = fixtures() else { return };
    let a = adapter(MODEL);
    for file in STREAMS.iter().chain([&STREAM_ERROR]) {
        let body = fx.bytes(file);
        let whole = stable(&decode_in_chunks(&a, &body, body.len()));
        assert!(whole.len() >= 4, "{file}: {whole:?}");
        for size in [1, 2, 3, 5, 7, 13, 64] {
            assert_eq!(
                stable(&decode_in_chunks(&a, &body, size)),
                whole,
                "{file}: pieces of {size}"
            );
        }
        // Every cut point of the smaller bodies; a sample of the 37 KB one.
        let step = 1 + body.len() / 2000;
        for cut in (0..=body.len()).step_by(step) {
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &[cut])),
                whole,
                "{file}: cut at byte {cut}"
            );
        }
        let mut rng = XorShift::new(0x0001_1a3a + body.len() as u64);
        for round in 0..100 {
            let cuts = rng.cuts(body.len(), 1 + round % 60);
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &cuts)),
                whole,
                "{file}: cuts {cuts:?}"
            );
        }
    }
}

#[test]
fn every_stream_reassembles_exactly_what_ollama_sent() {
    let Some(fx) = fixtures() else { return };
    for file in STREAMS {
        let body = fx.bytes(file);
        let want = recorded(&body);
        let events = decode_in_chunks(&adapter(MODEL), &body, 5);
        let t = Transcript::from_events(&events);
        assert!(t.done, "{file}");
        assert!(matches!(events.last(), Some(StreamEvent::Done)), "{file}");
        assert!(t.errors.is_empty(), "{file}: {:?}", t.errors);
        assert_eq!(
            t.typed_events + 1,
            events.len(),
            "{file}: only chunks and Done"
        );
        assert_eq!(t.roles, [Role::Assistant], "{file}: role once, first");
        assert_eq!(t.chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(t.content, want.text, "{file}");
        assert_eq!(t.reasoning_content, want.thinking, "{file}");
        assert_eq!(t.tool_calls.len(), want.calls.len(), "{file}");
        for (i, (id, name, args)) in want.calls.iter().enumerate() {
            let call = &t.tool_calls[&(i as u32)];
            let want_id = id.clone().unwrap_or_else(|| format!("call_{i}"));
            assert_eq!(call.id.as_deref(), Some(want_id.as_str()), "{file}");
            assert_eq!(call.name.as_deref(), Some(name.as_str()), "{file}");
            assert_eq!(call.kind.as_deref(), Some("function"), "{file}");
            assert_eq!(call.arguments, args.to_string(), "{file}: compact JSON");
        }
        let expected_finish = match (want.last["done_reason"].as_str(), want.calls.is_empty()) {
            (_, false) => FinishReason::ToolCalls,
            (Some("length"), true) => FinishReason::Length,
            _ => FinishReason::Stop,
        };
        assert_eq!(t.finish_reasons, [expected_finish], "{file}");
        assert_eq!(t.usage_reports, 1, "{file}");
        assert!(t.chunks.last().unwrap().choices.is_empty(), "{file}");
        let u = t.usage.unwrap();
        assert_eq!(
            u.prompt_tokens,
            want.last["prompt_eval_count"].as_u64().unwrap()
        );
        assert_eq!(
            u.completion_tokens,
            want.last["eval_count"].as_u64().unwrap()
        );
        for c in &t.chunks {
            assert_eq!(c.id, t.chunks[0].id, "{file}: one id per stream");
            assert!(c.id.starts_with("chatcmpl-"));
            assert_eq!(c.model, "qwen3:4b", "{file}");
        }
    }
}

#[test]
fn the_recorded_streams_say_what_they_said() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("ollama/chat_stream.ndjson");
    let t = Transcript::from_events(&decode_in_chunks(&adapter(MODEL), &body, 64));
    assert!(t.content.starts_with("Hmm, the user just"), "{}", t.content);
    assert_eq!(t.finish_reason(), Some(&FinishReason::Length));
    let u = t.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (18, 64));

    let body = fx.bytes("ollama/chat_tool_call_stream.ndjson");
    let t = Transcript::from_events(&decode_in_chunks(&adapter(MODEL), &body, 64));
    let call = &t.tool_calls[&0];
    assert_eq!(call.id.as_deref(), Some("call_REDACTED_1"));
    assert_eq!(call.name.as_deref(), Some("subtract"));
    assert_eq!(call.arguments, "{\"x\":2,\"y\":5}");
    assert_eq!(t.finish_reason(), Some(&FinishReason::ToolCalls));
    // The call arrives whole: an opening fragment with empty arguments, then the arguments.
    let fragments: Vec<_> = t
        .chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|x| x.delta.tool_calls.as_ref())
        .collect();
    assert_eq!(fragments.len(), 2);
    let head = fragments[0][0].function.as_ref().unwrap();
    assert_eq!(head.arguments.as_deref(), Some(""));
    assert_eq!(fragments[1][0].id, None);
}

#[test]
fn an_error_line_ends_the_stream_with_that_error() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes(STREAM_ERROR);
    let events = decode_in_chunks(&adapter(MODEL), &body, 7);
    let t = Transcript::from_events(&events);
    assert!(!t.done);
    // The recording is from `/api/generate` (`response`); its text still comes through.
    assert_eq!(t.content, " Yes.Ican");
    assert_eq!(t.errors.len(), 1);
    match events.last() {
        Some(StreamEvent::Error(e)) => {
            assert_eq!(e.status(), 500);
            assert_eq!(e.class(), ErrorClass::InternalServer);
            assert_eq!(
                e.to_string(),
                "litellm.InternalServerError: OllamaException - an error was encountered while running the model"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupted_and_truncated_streams_never_panic_and_end_exactly_once() {
    let Some(fx) = fixtures() else { return };
    let a = adapter(MODEL);
    let mut rng = XorShift::new(0x5eed_011a);
    for file in STREAMS.iter().chain([&STREAM_ERROR]) {
        let body = fx.bytes(file);
        for round in 0..300 {
            let mut bytes = body.clone();
            match round % 4 {
                0 => {
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = (rng.next_u64() & 0xff) as u8;
                    }
                }
                1 => bytes.truncate(rng.below(bytes.len())),
                2 => {
                    let at = rng.below(bytes.len());
                    const JUNK: &[u8] = b"{}[]\":,\r\n done true error x";
                    let junk: Vec<u8> = (0..1 + rng.below(8))
                        .map(|_| JUNK[rng.below(JUNK.len())])
                        .collect();
                    bytes.splice(at..at, junk);
                }
                _ => {
                    let from = rng.below(bytes.len());
                    let to = (from + rng.below(64)).min(bytes.len());
                    bytes.drain(from..to);
                }
            }
            let max_piece = 1 + rng.below(200);
            let cuts = rng.cuts(bytes.len(), max_piece);
            let events = decode_cut_at(&a, &bytes, &cuts);
            let terminals = events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Done | StreamEvent::Error(_)))
                .count();
            assert_eq!(terminals, 1, "{file} round {round}: {events:?}");
            assert!(
                matches!(
                    events.last(),
                    Some(StreamEvent::Done | StreamEvent::Error(_))
                ),
                "{file} round {round}"
            );
        }
    }
    // A stream cut before its `done: true` line is an error, never a silent short answer.
    for file in STREAMS {
        let body = fx.bytes(file);
        let last_line = body[..body.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap()
            + 1;
        let events = decode_in_chunks(&a, &body[..last_line], 9);
        assert!(
            matches!(
                events.last(),
                Some(StreamEvent::Error(GatewayError::Connection { .. }))
            ),
            "{file}: {events:?}"
        );
    }
}

#[test]
fn chunk_json_is_what_openai_clients_expect() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("ollama/chat_stream.ndjson");
    let cs = chunks(&decode_in_chunks(&adapter(MODEL), &body, body.len()));
    let first = serde_json::to_value(&cs[0]).unwrap();
    assert_eq!(
        first["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": "Hmm"}, "finish_reason": null}])
    );
    assert!(first.get("usage").is_none(), "usage only on the last chunk");
    let n = cs.len();
    let finish = serde_json::to_value(&cs[n - 2]).unwrap();
    assert_eq!(
        finish["choices"],
        json!([{"index": 0, "delta": {}, "finish_reason": "length"}])
    );
    let usage = serde_json::to_value(&cs[n - 1]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 18, "completion_tokens": 64, "total_tokens": 82})
    );
}

// ---------------------------------------------------------------------------------------------
// Embeddings and errors
// ---------------------------------------------------------------------------------------------

#[test]
fn embedding_responses_become_openai_lists() {
    let Some(fx) = fixtures() else { return };
    let raw = fx.json(EMBEDDINGS);
    let (out, usage) = adapter("ollama/all-minilm")
        .forward_embeddings_response(Bytes::from(fx.bytes(EMBEDDINGS)), CLIENT_ALIAS)
        .unwrap();
    let r: tollgate_core::EmbeddingsResponse = serde_json::from_slice(&out).unwrap();
    assert_eq!(r.model, CLIENT_ALIAS);
    let vectors = raw["embeddings"].as_array().unwrap();
    assert_eq!(r.data.len(), vectors.len());
    for (i, (d, want)) in r.data.iter().zip(vectors).enumerate() {
        assert_eq!(d.index as usize, i);
        let want: Vec<f32> = serde_json::from_value(want.clone()).unwrap();
        assert_eq!(d.embedding, EmbeddingVector::Float(want));
    }
    let prompt = raw["prompt_eval_count"].as_u64().unwrap();
    assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, prompt);
    assert_eq!(usage.unwrap().prompt_tokens, prompt);
}

#[test]
fn errors_keep_their_status_class_and_message() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes(ERROR_404);
    let want = fx.json(ERROR_404)["error"].as_str().unwrap().to_owned();
    let a = adapter(MODEL);
    let e = a.parse_error(404, &HeaderMap::new(), &body);
    assert_eq!((e.status(), e.class()), (404, ErrorClass::NotFound));
    assert_eq!(
        e.to_string(),
        format!("litellm.NotFoundError: OllamaException - {want}")
    );
    assert_eq!(
        serde_json::to_value(e.to_body()).unwrap()["error"]["code"],
        "404"
    );
    for (status, class) in [
        (400, ErrorClass::BadRequest),
        (429, ErrorClass::RateLimit),
        (500, ErrorClass::InternalServer),
        (502, ErrorClass::BadGateway),
    ] {
        let e = a.parse_error(status, &HeaderMap::new(), &body);
        assert_eq!((e.status(), e.class()), (status, class), "{status}");
    }
}
