//! Replays every recorded Cohere payload (`../shared/fixtures/cohere/`) through the Cohere
//! adapter: the OpenAI requests that produce the recorded v2 request bodies, the responses and
//! streams a client would receive, embeddings, and errors with their statuses.
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Helpers shared with the other replays; not every one is needed here.
#[allow(dead_code)]
mod common;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use tollgate_core::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest,
    ErrorClass, FinishReason, GatewayError, Role, embeddings::EmbeddingVector,
};
use tollgate_providers::{Adapter, CallOptions, StreamEvent};

use common::{
    API_BASE, API_KEY, CLIENT_ALIAS, Transcript, XorShift, adapter, decode_cut_at,
    decode_in_chunks, fixtures,
};

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// Non-streaming v2 chat bodies and the model that serves them.
const CHAT_RESPONSES: &[(&str, &str)] = &[
    ("cohere/chat.json", "cohere/command-r7b-12-2024"),
    (
        "cohere/chat_cached_tokens.json",
        "cohere/command-r7b-12-2024",
    ),
    (
        "cohere/chat_tool_call.json",
        "cohere_chat/command-a-03-2025",
    ),
    (
        "cohere/chat_tool_result.json",
        "cohere_chat/command-a-03-2025",
    ),
    (
        "cohere/chat_thinking.json",
        "cohere/command-a-reasoning-08-2025",
    ),
];

/// Recorded v2 chat streams and the model that serves them.
const STREAMS: &[(&str, &str)] = &[
    ("cohere/chat_stream.sse", "cohere/command-r7b-12-2024"),
    (
        "cohere/chat_tool_call_stream.sse",
        "cohere/command-a-03-2025",
    ),
    (
        "cohere/chat_thinking_stream.sse",
        "cohere/command-a-reasoning-08-2025",
    ),
];

/// Error bodies (both recorded with 404) and the model they were for.
const ERRORS: &[(&str, &str)] = &[
    (
        "cohere/error_404_model_not_found.json",
        "cohere/command-does-not-exist",
    ),
    ("cohere/embed_v2_error_404.json", "cohere/nonexistent"),
];

const EMBEDDINGS_RESPONSES: &[(&str, &str)] = &[
    ("cohere/embed_v2.json", "cohere/embed-v4.0"),
    ("cohere/embed_v1.json", "cohere/embed-english-v3.0"),
];

/// Request bodies; each has its own test below that builds the OpenAI request behind it.
const REQUESTS: &[&str] = &[
    "cohere/chat.request.json",
    "cohere/chat_tool_call.request.json",
    "cohere/chat_tool_result.request.json",
    "cohere/embed_v2.request.json",
];

#[test]
fn every_cohere_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(CHAT_RESPONSES.iter().map(|c| c.0));
    known.extend(STREAMS.iter().map(|s| s.0));
    known.extend(ERRORS.iter().map(|e| e.0));
    known.extend(EMBEDDINGS_RESPONSES.iter().map(|e| e.0));
    known.extend(REQUESTS.iter().copied());
    let missing: Vec<String> = fx
        .files_under("cohere")
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

/// The URL and body the adapter sends, after checking the headers every call carries.
fn sent(a: &Adapter, req: &ChatCompletionRequest) -> (String, Value) {
    let r = a.chat_request(req, CallOptions::default()).unwrap();
    check_headers(&r.headers);
    (r.url, serde_json::from_slice(&r.body).unwrap())
}

fn check_headers(h: &HeaderMap) {
    assert_eq!(h["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(h["request-source"], "unspecified:litellm");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["accept"], "application/json");
}

/// A recorded body reduced to what the API reads: explicit nulls and the empty `citations`
/// and `content` arrays clients put on assistant turns removed.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, val) in o {
                let empty_array = val.as_array().is_some_and(Vec::is_empty);
                if val.is_null() || (empty_array && (k == "citations" || k == "content")) {
                    continue;
                }
                out.insert(k.clone(), normalise(val));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

/// The body with the explicit `"stream": false` (which the recordings leave to the default)
/// checked and removed.
fn without_stream_false(mut body: Value) -> Value {
    assert_eq!(body["stream"], false, "non-streaming calls say so");
    body.as_object_mut().unwrap().shift_remove("stream");
    body
}

fn stable(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Chunk(c) => {
                let mut c = (**c).clone();
                c.created = 0;
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

/// The `(event name, data)` pairs of a Cohere SSE body, read independently of the decoder
/// (one `event:` and one `data:` line per event in every recording).
fn events_of(body: &[u8]) -> Vec<(Option<String>, Value)> {
    let text = std::str::from_utf8(body).unwrap();
    let mut out = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("event: ") {
            name = Some(n.to_owned());
        } else if let Some(d) = line.strip_prefix("data: ") {
            if d != "[DONE]" {
                out.push((name.take(), serde_json::from_str(d).unwrap()));
            }
        }
    }
    out
}

/// What a recorded stream says: answer text (content deltas plus tool plan), thinking, calls
/// `(id, name, arguments)`, finish reason and usage.
#[derive(Debug, Default)]
struct Recorded {
    id: String,
    text: String,
    thinking: String,
    calls: Vec<(String, String, String)>,
    finish: String,
    usage: Value,
}

fn recorded(body: &[u8]) -> Recorded {
    let mut r = Recorded::default();
    for (name, v) in events_of(body) {
        assert_eq!(
            name.as_deref(),
            v["type"].as_str(),
            "event name and type agree"
        );
        let m = &v["delta"]["message"];
        match v["type"].as_str().unwrap() {
            "message-start" => r.id = v["id"].as_str().unwrap().to_owned(),
            "content-delta" => {
                let c = &m["content"];
                if let Some(t) = c["thinking"].as_str() {
                    r.thinking.push_str(t);
                } else {
                    r.text.push_str(c["text"].as_str().unwrap());
                }
            }
            "tool-plan-delta" => r.text.push_str(m["tool_plan"].as_str().unwrap()),
            "tool-call-start" => {
                let c = &m["tool_calls"];
                r.calls.push((
                    c["id"].as_str().unwrap().to_owned(),
                    c["function"]["name"].as_str().unwrap().to_owned(),
                    c["function"]["arguments"].as_str().unwrap().to_owned(),
                ));
            }
            "tool-call-delta" => r
                .calls
                .last_mut()
                .unwrap()
                .2
                .push_str(m["tool_calls"]["function"]["arguments"].as_str().unwrap()),
            "message-end" => {
                r.finish = v["delta"]["finish_reason"].as_str().unwrap().to_owned();
                r.usage = v["delta"]["usage"].clone();
            }
            _ => {}
        }
    }
    r
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn a_plain_question_produces_the_recorded_chat_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("cohere/command-r7b-12-2024");
    let (url, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [{"role": "user", "content": "hello"}]})),
    );
    // The configured base is the full chat URL, as in LiteLLM.
    assert_eq!(url, API_BASE);
    assert_eq!(body, fx.json("cohere/chat.request.json"));
}

fn tools() -> Value {
    let tool = |name: &str, description: &str, x: &str, y: &str| {
        json!({"type": "function", "function": {"name": name, "description": description,
            "parameters": {"type": "object", "required": ["x", "y"], "properties": {
                "x": {"type": "integer", "description": x},
                "y": {"type": "integer", "description": y}}}}})
    };
    json!([
        tool(
            "add",
            "Add x and y together",
            "The first number to add",
            "The second number to add"
        ),
        tool(
            "subtract",
            "Subtract y from x (i.e.: x - y)",
            "The number to subtract from",
            "The number to subtract"
        ),
    ])
}

const SYSTEM: &str = "You are a calculator here to help the user perform arithmetic operations. Use the tools provided to answer the user's question.";

#[test]
fn a_system_prompt_and_tools_produce_the_recorded_tool_call_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("cohere_chat/command-a-03-2025");
    let (_, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [{"type": "text", "text": "Calculate 2 - 5."}]}],
            "tools": tools(), "documents": []})),
    );
    assert_eq!(
        without_stream_false(body),
        normalise(&fx.json("cohere/chat_tool_call.request.json"))
    );
}

#[test]
fn the_recorded_tool_call_goes_back_as_the_recorded_follow_up() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("cohere_chat/command-a-03-2025");
    // The client keeps the assistant turn it received (tool plan as content) and answers it.
    let (answer, _) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("cohere/chat_tool_call.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let answer: ChatCompletionResponse = serde_json::from_slice(&answer).unwrap();
    let mut turn = serde_json::to_value(&answer.choices[0].message).unwrap();
    // The recorded follow-up came from a client that dropped the plan (`tool_plan: null`).
    turn["content"] = Value::Null;
    let call_id = answer.choices[0].message.tool_calls.as_ref().unwrap()[0]
        .id
        .clone();
    let (_, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [{"type": "text", "text": "Calculate 2 - 5."}]},
            turn,
            {"role": "tool", "tool_call_id": call_id, "content": [{"type": "text", "text": "-3"}]}],
            "tools": tools(), "documents": []})),
    );
    assert_eq!(
        without_stream_false(body),
        normalise(&fx.json("cohere/chat_tool_result.request.json"))
    );
}

#[test]
fn an_embedding_request_produces_the_recorded_embed_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("cohere/embed-v4.0");
    let req: EmbeddingsRequest = serde_json::from_value(json!({"model": CLIENT_ALIAS,
        "input": ["Hello, world!"], "input_type": "search_query", "truncate": "NONE"}))
    .unwrap();
    let r = a.embeddings_request(&req).unwrap();
    check_headers(&r.headers);
    // Embeddings take the configured base verbatim too.
    assert_eq!(r.url, API_BASE);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, normalise(&fx.json("cohere/embed_v2.request.json")));
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_response_reaches_the_client_under_its_alias_with_cohere_usage() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in CHAT_RESPONSES {
        let a = adapter(model);
        let raw = fx.json(file);
        let (out, usage) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap();
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["model"], CLIENT_ALIAS, "{file}");
        assert_eq!(out["object"], "chat.completion", "{file}");
        assert_eq!(out["id"], raw["id"], "{file}");
        assert!(out["created"].as_i64().unwrap() > 1_600_000_000, "{file}");
        let r: ChatCompletionResponse = serde_json::from_value(out.clone()).unwrap();
        let u = usage.unwrap();
        assert_eq!(Some(&u), r.usage.as_ref(), "{file}");
        let tokens = &raw["usage"]["tokens"];
        assert_eq!(u.prompt_tokens, count(&tokens["input_tokens"]), "{file}");
        assert_eq!(
            u.completion_tokens,
            count(&tokens["output_tokens"]),
            "{file}"
        );
        assert_eq!(
            u.total_tokens,
            u.prompt_tokens + u.completion_tokens,
            "{file}"
        );
        assert_eq!(
            u.cached_tokens(),
            raw["usage"]["cached_tokens"].as_u64().unwrap_or(0),
            "{file}"
        );
        // Text and thinking parts, independently joined.
        let parts = raw["message"]["content"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let join = |kind: &str| -> String {
            parts
                .iter()
                .filter(|p| p["type"] == kind)
                .map(|p| p[kind].as_str().unwrap())
                .collect()
        };
        let m = &r.choices[0].message;
        let calls = raw["message"]["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let want_text = if calls.is_empty() {
            join("text")
        } else {
            raw["message"]["tool_plan"].as_str().unwrap().to_owned()
        };
        assert_eq!(m.text_content().unwrap(), want_text, "{file}");
        let thinking = join("thinking");
        assert_eq!(
            m.reasoning_content.as_deref(),
            (!thinking.is_empty()).then_some(thinking.as_str()),
            "{file}"
        );
        assert_eq!(
            m.tool_calls.as_ref().map_or(0, Vec::len),
            calls.len(),
            "{file}"
        );
        for (call, want) in m.tool_calls.iter().flatten().zip(&calls) {
            assert_eq!(call.id, want["id"].as_str().unwrap(), "{file}");
            assert_eq!(
                call.function.name,
                want["function"]["name"].as_str().unwrap()
            );
            assert_eq!(
                call.function.arguments,
                want["function"]["arguments"].as_str().unwrap()
            );
        }
        let want_finish = match raw["finish_reason"].as_str().unwrap() {
            "TOOL_CALL" => FinishReason::ToolCalls,
            "COMPLETE" => FinishReason::Stop,
            other => panic!("{file}: unexpected {other}"),
        };
        assert_eq!(r.choices[0].finish_reason, Some(want_finish), "{file}");
        // Citations are kept verbatim.
        match raw["message"].get("citations") {
            Some(c) => assert_eq!(
                &out["choices"][0]["message"]["provider_specific_fields"]["citations"], c,
                "{file}"
            ),
            None => assert!(
                out["choices"][0]["message"]
                    .get("provider_specific_fields")
                    .is_none()
            ),
        }
    }
}

#[test]
fn the_recorded_answers_say_what_they_said() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("cohere/command-r7b-12-2024");
    let r = a
        .parse_chat_response(&fx.bytes("cohere/chat.json"))
        .unwrap();
    assert_eq!(
        r.choices[0].message.text_content().as_deref(),
        Some("Hello! How can I assist you today?")
    );
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (496, 11, 507)
    );
    let r = a
        .parse_chat_response(&fx.bytes("cohere/chat_tool_call.json"))
        .unwrap();
    let out = serde_json::to_value(&r.choices[0]).unwrap();
    assert_eq!(
        out,
        json!({"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": "I will use the subtract tool to calculate 2 - 5.",
            "tool_calls": [{"id": "call_REDACTED_1", "type": "function",
                "function": {"name": "subtract", "arguments": "{\"x\":2,\"y\":5}"}}]}})
    );
    let r = a
        .parse_chat_response(&fx.bytes("cohere/chat_thinking.json"))
        .unwrap();
    let m = &r.choices[0].message;
    assert!(
        m.reasoning_content
            .as_deref()
            .unwrap()
            .starts_with("Okay, the user is asking how to cross a river")
    );
    assert!(!m.text_content().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn every_stream_decodes_identically_at_every_split() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in STREAMS {
        let a = adapter(model);
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
        for cut in 0..=body.len() {
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &[cut])),
                whole,
                "{file}: cut at byte {cut}"
            );
        }
        let mut rng = XorShift::new(0xc0e7e + body.len() as u64);
        for round in 0..200 {
            let cuts = rng.cuts(body.len(), 1 + round % 40);
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &cuts)),
                whole,
                "{file}: cuts {cuts:?}"
            );
        }
    }
}

#[test]
fn every_stream_reassembles_exactly_what_cohere_sent() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in STREAMS {
        let body = fx.bytes(file);
        let want = recorded(&body);
        let events = decode_in_chunks(&adapter(model), &body, 5);
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
            assert_eq!(call.id.as_deref(), Some(id.as_str()), "{file}");
            assert_eq!(call.name.as_deref(), Some(name.as_str()), "{file}");
            assert_eq!(call.kind.as_deref(), Some("function"), "{file}");
            assert_eq!(&call.arguments, args, "{file}");
        }
        // The opening fragment of a call carries id, type, name and empty arguments.
        for c in &t.chunks {
            for d in c
                .choices
                .iter()
                .flat_map(|x| x.delta.tool_calls.iter().flatten())
            {
                if d.id.is_some() {
                    let f = d.function.as_ref().unwrap();
                    assert!(
                        f.name.is_some() && f.arguments.as_deref() == Some(""),
                        "{file}"
                    );
                }
            }
        }
        let expected_finish = match want.finish.as_str() {
            "COMPLETE" => FinishReason::Stop,
            "TOOL_CALL" => FinishReason::ToolCalls,
            other => panic!("{file}: unexpected {other}"),
        };
        assert_eq!(t.finish_reasons, [expected_finish], "{file}");
        // Usage: only on the closing `choices: []` chunk.
        assert_eq!(t.usage_reports, 1, "{file}");
        let last = t.chunks.last().unwrap();
        assert!(last.choices.is_empty(), "{file}");
        let u = t.usage.unwrap();
        assert_eq!(
            u.prompt_tokens,
            count(&want.usage["tokens"]["input_tokens"]),
            "{file}"
        );
        assert_eq!(
            u.completion_tokens,
            count(&want.usage["tokens"]["output_tokens"]),
            "{file}"
        );
        assert_eq!(
            u.cached_tokens(),
            count(&want.usage["cached_tokens"]),
            "{file}"
        );
        for c in &t.chunks {
            assert_eq!(c.id, want.id, "{file}");
            assert_eq!(c.object, "chat.completion.chunk", "{file}");
            assert_eq!(c.model, model.split_once('/').unwrap().1, "{file}");
        }
    }
}

#[test]
fn the_recorded_streams_say_what_they_said() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("cohere/chat_stream.sse");
    let t = Transcript::from_events(&decode_in_chunks(
        &adapter("cohere/command-r7b-12-2024"),
        &body,
        body.len(),
    ));
    assert_eq!(t.content, "streamed");
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.cached_tokens()),
        (506, 5, 464)
    );

    let body = fx.bytes("cohere/chat_tool_call_stream.sse");
    let t = Transcript::from_events(&decode_in_chunks(
        &adapter("cohere/command-a-03-2025"),
        &body,
        3,
    ));
    assert_eq!(
        t.content,
        "I will use the subtract tool to calculate 2 - 5."
    );
    assert_eq!(t.tool_calls[&0].arguments, "{\"x\": 2, \"y\": 5}");
    assert_eq!(t.finish_reason(), Some(&FinishReason::ToolCalls));

    let body = fx.bytes("cohere/chat_thinking_stream.sse");
    let t = Transcript::from_events(&decode_in_chunks(
        &adapter("cohere/command-a-reasoning-08-2025"),
        &body,
        11,
    ));
    assert!(
        t.reasoning_content
            .starts_with("The user is asking for the sum of 2 and 2.")
    );
    assert_eq!(t.content, "The answer to 2 + 2 is 4.");
}

#[test]
fn chunk_json_is_what_openai_clients_expect() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("cohere/chat_stream.sse");
    let cs = chunks(&decode_in_chunks(
        &adapter("cohere/command-r7b-12-2024"),
        &body,
        body.len(),
    ));
    let v: Vec<Value> = cs
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap();
            v["created"] = json!(0);
            v
        })
        .collect();
    let id = "c9117cc5-87ad-4258-b0ee-fd2dc78e459a";
    let chunk = |choices: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": 0,
            "model": "command-r7b-12-2024", "choices": choices})
    };
    assert_eq!(
        v[0],
        chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}])
        )
    );
    assert_eq!(
        v[1],
        chunk(json!([{"index": 0, "delta": {"content": "stream"}, "finish_reason": null}]))
    );
    assert_eq!(
        v[3],
        chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    );
    let mut usage = chunk(json!([]));
    usage["usage"] = json!({"prompt_tokens": 506, "completion_tokens": 5, "total_tokens": 511,
        "prompt_tokens_details": {"cached_tokens": 464}});
    assert_eq!(v[4], usage);
    assert_eq!(v.len(), 5);
}

#[test]
fn corrupted_and_truncated_streams_never_panic_and_end_exactly_once() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5eed_c0e7);
    for (file, model) in STREAMS {
        let a = adapter(model);
        let body = fx.bytes(file);
        for round in 0..400 {
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
                    const JUNK: &[u8] = b"{}[]\":,\r\n data event: x";
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
            let max_piece = 1 + rng.below(50);
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
        // A stream cut before `message-end` is an error, never a silent short answer.
        let end_at = body
            .windows(b"event: message-end".len())
            .position(|w| w == b"event: message-end")
            .unwrap();
        let events = decode_in_chunks(&a, &body[..end_at], 9);
        assert!(
            matches!(
                events.last(),
                Some(StreamEvent::Error(GatewayError::Connection { .. }))
            ),
            "{file}: {events:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

#[test]
fn embedding_responses_become_openai_lists() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in EMBEDDINGS_RESPONSES {
        let a = adapter(model);
        let raw = fx.json(file);
        let vectors = match &raw["embeddings"] {
            Value::Object(o) => o["float"].as_array().unwrap().clone(),
            Value::Array(a) => a.clone(),
            other => panic!("{file}: {other}"),
        };
        let (out, usage) = a
            .forward_embeddings_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap();
        let r: tollgate_core::EmbeddingsResponse = serde_json::from_slice(&out).unwrap();
        assert_eq!(r.model, CLIENT_ALIAS, "{file}");
        assert_eq!(r.object, "list");
        assert_eq!(r.data.len(), vectors.len(), "{file}");
        for (i, (d, want)) in r.data.iter().zip(&vectors).enumerate() {
            assert_eq!(d.index as usize, i);
            let want: Vec<f32> = serde_json::from_value(want.clone()).unwrap();
            assert_eq!(d.embedding, EmbeddingVector::Float(want), "{file}");
        }
        let billed = count(&raw["meta"]["billed_units"]["input_tokens"]);
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, billed, "{file}");
        assert_eq!(usage.unwrap().prompt_tokens, billed, "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn every_error_keeps_its_status_class_and_message() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in ERRORS {
        let a = adapter(model);
        let raw = fx.json(file);
        let e = a.parse_error(404, &HeaderMap::new(), &fx.bytes(file));
        assert_eq!(e.status(), 404, "{file}");
        assert_eq!(e.class(), ErrorClass::NotFound, "{file}");
        let message = raw["message"].as_str().unwrap();
        assert_eq!(
            e.to_string(),
            format!("litellm.NotFoundError: CohereException - {message}"),
            "{file}"
        );
        let body = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(body["error"]["code"], "404", "{file}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{file}");
    }
    // The same bodies under the other statuses Cohere documents.
    let body = fx.bytes("cohere/error_404_model_not_found.json");
    for (status, class) in [
        (400, ErrorClass::BadRequest),
        (401, ErrorClass::Authentication),
        (402, ErrorClass::BadRequest),
        (422, ErrorClass::UnprocessableEntity),
        (429, ErrorClass::RateLimit),
        (499, ErrorClass::BadRequest),
        (500, ErrorClass::InternalServer),
        (503, ErrorClass::ServiceUnavailable),
    ] {
        let e = adapter("cohere/command-r").parse_error(status, &HeaderMap::new(), &body);
        assert_eq!((e.status(), e.class()), (status, class), "{status}");
    }
}
