//! Replays every recorded Google AI Studio payload (`../shared/fixtures/gemini/`) through the
//! Gemini adapter: the OpenAI requests that produce the recorded request bodies, the responses
//! and streams a client would receive, embeddings, and errors with their statuses.
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Helpers shared with the OpenAI-family replay; not every one is needed here.
#[allow(dead_code)]
mod common;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use tollgate_core::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest,
    ErrorClass, FinishReason, GatewayError, Role, UpstreamError, embeddings::EmbeddingVector,
};
use tollgate_providers::{Adapter, CallOptions, StreamEvent};

use common::{
    API_BASE, API_KEY, CLIENT_ALIAS, Transcript, XorShift, adapter, data_payloads, decode_cut_at,
    decode_in_chunks, fixtures,
};

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// Non-streaming 200 bodies and the model that serves them.
const CHAT_RESPONSES: &[(&str, &str)] = &[
    ("gemini/generate_content.json", "gemini/gemini-2.0-flash"),
    ("gemini/function_call.json", "gemini/gemini-2.5-flash"),
    ("gemini/thinking_hidden.json", "gemini/gemini-2.5-pro"),
    (
        "gemini/thinking_signature.json",
        "gemini/gemini-3-pro-preview",
    ),
];

/// Recorded `?alt=sse` streams and the model that serves them.
const STREAMS: &[(&str, &str)] = &[
    (
        "gemini/stream_generate_content.sse",
        "gemini/gemini-2.0-flash-exp",
    ),
    (
        "gemini/function_call_stream.sse",
        "gemini/gemini-3-pro-preview",
    ),
    ("gemini/thinking_stream.sse", "gemini/gemini-2.5-flash"),
];

/// Error bodies: file, model, the status it was recorded with (fixtures README), the status
/// and class the client sees, Google's `status`, and the message.
struct ErrorCase {
    file: &'static str,
    model: &'static str,
    recorded_status: u16,
    status: u16,
    class: ErrorClass,
    error_type: &'static str,
    message: &'static str,
}

const ERRORS: &[ErrorCase] = &[
    ErrorCase {
        file: "gemini/error_429_resource_exhausted.json",
        model: "gemini/gemini-2.5-flash",
        recorded_status: 429,
        status: 429,
        class: ErrorClass::RateLimit,
        error_type: "RESOURCE_EXHAUSTED",
        message: "You exceeded your current quota, please check your plan.",
    },
    ErrorCase {
        file: "gemini/error_400_api_key_invalid.json",
        model: "gemini/gemini-2.5-flash",
        recorded_status: 400,
        // Google says 400 for a bad key; OpenAI clients (and LiteLLM) treat it as a 401.
        status: 401,
        class: ErrorClass::Authentication,
        error_type: "INVALID_ARGUMENT",
        message: "API key not valid. Please pass a valid API key.",
    },
    ErrorCase {
        file: "gemini/error_404_model_not_found_stream.json",
        model: "gemini/gemini-nonexistent-rig-test",
        recorded_status: 404,
        status: 404,
        class: ErrorClass::NotFound,
        error_type: "NOT_FOUND",
        message: "models/gemini-nonexistent-rig-test is not found for API version v1beta, or is not supported for generateContent. Call ModelService.ListModels to see the list of available models and their supported methods.",
    },
    ErrorCase {
        file: "gemini/embed_error_404.json",
        model: "gemini/nonexistent-model",
        recorded_status: 404,
        status: 404,
        class: ErrorClass::NotFound,
        error_type: "NOT_FOUND",
        message: "models/nonexistent-model is not found for API version v1beta, or is not supported for embedContent. Call ListModels to see the list of available models and their supported methods.",
    },
];

const EMBEDDINGS_RESPONSES: &[(&str, &str)] = &[
    (
        "gemini/embed_content_batch.json",
        "gemini/gemini-embedding-001",
    ),
    (
        "gemini/embed_content_batch_dims.json",
        "gemini/gemini-embedding-2-preview",
    ),
];

/// Request bodies; each has its own test below that builds the OpenAI request behind it.
const REQUESTS: &[&str] = &[
    "gemini/generate_content.request.json",
    "gemini/function_call.request.json",
    "gemini/function_response.request.json",
    "gemini/embed_content_batch.request.json",
    "gemini/embed_content_batch_dims.request.json",
];

#[test]
fn every_gemini_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(CHAT_RESPONSES.iter().map(|c| c.0));
    known.extend(STREAMS.iter().map(|s| s.0));
    known.extend(ERRORS.iter().map(|e| e.file));
    known.extend(EMBEDDINGS_RESPONSES.iter().map(|e| e.0));
    known.extend(REQUESTS.iter().copied());
    let missing: Vec<String> = fx
        .files_under("gemini")
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
    assert_eq!(r.headers["x-goog-api-key"], API_KEY);
    assert_eq!(r.headers["content-type"], "application/json");
    (r.url, serde_json::from_slice(&r.body).unwrap())
}

/// The recorded body reduced to what the API reads: explicit nulls, `"thought": false`,
/// empty `generationConfig` and the ignored `systemInstruction.role` removed, snake_case keys
/// (which the API accepts too) spelled in camelCase.
fn normalise(v: &Value) -> Value {
    fn walk(v: &Value, key: Option<&str>) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, val) in o {
                    if k == "thought" && *val == Value::Bool(false) {
                        continue;
                    }
                    if key == Some("systemInstruction") && k == "role" {
                        continue;
                    }
                    let k = camel(k);
                    if let Some(w) = walk(val, Some(&k)) {
                        if k == "generationConfig" && w.as_object().is_some_and(Map::is_empty) {
                            continue;
                        }
                        out.insert(k, w);
                    }
                }
                Some(Value::Object(out))
            }
            Value::Array(a) => Some(Value::Array(
                a.iter().filter_map(|x| walk(x, None)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
    walk(v, None).unwrap_or(Value::Null)
}

fn camel(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut upper = false;
    for c in k.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn upstream(e: &GatewayError) -> &UpstreamError {
    match e {
        GatewayError::Upstream(u) => u,
        other => panic!("not an upstream error: {other:?}"),
    }
}

/// Events with `created` zeroed, rendered for comparison (`created` is the decoder's clock).
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

/// What the recorded events say, read independently of the decoder: answer text, thought
/// text, function calls `(name, args)` with their signatures, the last finish reason and the
/// last usage metadata.
#[derive(Debug, Default)]
struct Recorded {
    text: String,
    thoughts: String,
    calls: Vec<(String, Value, Option<String>)>,
    finish: Option<String>,
    usage: Option<Value>,
    response_id: Option<String>,
}

fn recorded(body: &[u8]) -> Recorded {
    let mut r = Recorded::default();
    for payload in data_payloads(body) {
        let v: Value = serde_json::from_slice(&payload).unwrap();
        if r.response_id.is_none() {
            r.response_id = v["responseId"].as_str().map(str::to_owned);
        }
        if !v["usageMetadata"].is_null() {
            r.usage = Some(v["usageMetadata"].clone());
        }
        let c = &v["candidates"][0];
        if let Some(f) = c["finishReason"].as_str() {
            r.finish = Some(f.to_owned());
        }
        for p in c["content"]["parts"].as_array().into_iter().flatten() {
            if let Some(fc) = p.get("functionCall") {
                r.calls.push((
                    fc["name"].as_str().unwrap().to_owned(),
                    fc["args"].clone(),
                    p["thoughtSignature"].as_str().map(str::to_owned),
                ));
            } else if let Some(t) = p["text"].as_str() {
                if p["thought"] == true {
                    r.thoughts.push_str(t);
                } else {
                    r.text.push_str(t);
                }
            }
        }
    }
    r
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn a_system_prompt_and_question_produce_the_recorded_generate_content_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-2.0-flash");
    let (url, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}
        ]})),
    );
    // The fixtures' base carries its version, as a custom base must.
    assert_eq!(
        url,
        format!("{API_BASE}/models/gemini-2.0-flash:generateContent")
    );
    assert_eq!(
        body,
        normalise(&fx.json("gemini/generate_content.request.json"))
    );
}

#[test]
fn tools_with_a_required_choice_produce_the_recorded_function_call_body() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-2.5-flash");
    let (_, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS,
            "messages": [
                {"role": "system", "content": "You are a calculator here to help the user perform arithmetic operations. Use the tools provided to answer the user's question."},
                {"role": "user", "content": "Please greet me."}
            ],
            "temperature": 0.0,
            "tools": [{"type": "function", "function": {
                "name": "add", "description": "Add x and y together",
                "parameters": {"type": "object", "properties": {
                    "x": {"type": "number", "description": "The first number to add"},
                    "y": {"type": "number", "description": "The second number to add"}
                }, "required": ["x", "y"], "additionalProperties": false}
            }}],
            "tool_choice": "required"
        })),
    );
    assert_eq!(
        body,
        normalise(&fx.json("gemini/function_call.request.json"))
    );
}

#[test]
fn a_tool_result_follow_up_produces_the_recorded_function_response_body() {
    let Some(fx) = fixtures() else { return };
    let recorded_body = fx.json("gemini/function_response.request.json");
    let call_part = &recorded_body["contents"][1]["parts"][0];
    let signature = call_part["thoughtSignature"].as_str().unwrap();
    let call_id = call_part["functionCall"]["id"].as_str().unwrap();
    let a = adapter("gemini/gemini-3-pro-preview");
    let (url, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "stream": true,
            "messages": [
                {"role": "user", "content": "What is the capital of the user country? Call the tool"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": call_id, "type": "function",
                    "function": {"name": "get_country", "arguments": "{}"},
                    "provider_specific_fields": {"thought_signature": signature}
                }]},
                {"role": "tool", "tool_call_id": call_id, "content": "Mexico"}
            ],
            "modalities": ["text"],
            "tools": [{"type": "function", "function": {"name": "get_country", "description": "",
                "parameters": {"additionalProperties": false, "properties": {}, "type": "object"}}}]
        })),
    );
    assert_eq!(
        url,
        format!("{API_BASE}/models/gemini-3-pro-preview:streamGenerateContent?alt=sse")
    );
    // Two deliberate differences from pydantic-ai's body: a tool result is wrapped as
    // `{"content": ...}` (LiteLLM's convention; pydantic-ai says `return_value`), and a
    // function without arguments is declared without parameters.
    let mut expected = normalise(&recorded_body);
    expected["contents"][2]["parts"][0]["functionResponse"]["response"] =
        json!({"content": "Mexico"});
    expected["tools"][0]["functionDeclarations"][0] =
        json!({"name": "get_country", "description": ""});
    assert_eq!(body, expected);
}

#[test]
fn embedding_requests_produce_the_recorded_batch_bodies() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-embedding-001");
    let mut req = EmbeddingsRequest::new(
        CLIENT_ALIAS,
        vec![
            "Rust values memory safety and predictable performance.".into(),
            "Streaming responses arrive incrementally instead of all at once.".into(),
            "Embeddings turn text into numeric vectors for similarity search.".into(),
        ],
    );
    req.dimensions = Some(3072);
    let r = a.embeddings_request(&req).unwrap();
    assert_eq!(
        r.url,
        format!("{API_BASE}/models/gemini-embedding-001:batchEmbedContents")
    );
    assert_eq!(r.headers["x-goog-api-key"], API_KEY);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        normalise(&fx.json("gemini/embed_content_batch.request.json"))
    );

    let a = adapter("gemini/gemini-embedding-2-preview");
    let mut req = EmbeddingsRequest::new(CLIENT_ALIAS, vec!["Hello, world!".into()]);
    req.dimensions = Some(768);
    req.extra
        .insert("task_type".into(), Value::String("RETRIEVAL_QUERY".into()));
    let body: Value = serde_json::from_slice(&a.embeddings_request(&req).unwrap().body).unwrap();
    assert_eq!(
        body,
        normalise(&fx.json("gemini/embed_content_batch_dims.request.json"))
    );
}

// ---------------------------------------------------------------------------------------------
// Non-streaming responses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_response_reaches_the_client_under_its_alias_with_gemini_usage() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in CHAT_RESPONSES {
        let a = adapter(model);
        let body = fx.bytes(file);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let parsed = a.parse_chat_response(&body).unwrap();
        let (out, usage) = a
            .forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS)
            .unwrap();
        let client: ChatCompletionResponse = serde_json::from_slice(&out).unwrap();
        let client_json: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(client.model, CLIENT_ALIAS, "{file}");
        assert_eq!(client_json["object"], "chat.completion", "{file}");
        assert_eq!(client.id, raw["responseId"].as_str().unwrap(), "{file}");
        let version = raw["modelVersion"].as_str().unwrap();
        assert_eq!(
            parsed.model,
            version.trim_start_matches("models/"),
            "{file}"
        );
        let mut expected = parsed.clone();
        expected.model = CLIENT_ALIAS.to_owned();
        assert_eq!(client, expected, "{file}");
        assert_eq!(client.choices.len(), 1, "{file}");
        assert_eq!(client.choices[0].message.role, Role::Assistant, "{file}");

        let m = &raw["usageMetadata"];
        let u = usage.unwrap();
        assert_eq!(u.prompt_tokens, count(m, "promptTokenCount"), "{file}");
        assert_eq!(
            u.completion_tokens,
            count(m, "candidatesTokenCount") + count(m, "thoughtsTokenCount"),
            "{file}"
        );
        assert_eq!(u.total_tokens, count(m, "totalTokenCount"), "{file}");
        assert_eq!(
            u.reasoning_tokens(),
            count(m, "thoughtsTokenCount"),
            "{file}"
        );
        assert_eq!(Some(&u), client.usage.as_ref(), "{file}");
    }
}

#[test]
fn a_text_answer_keeps_its_text_and_stops() {
    let Some(fx) = fixtures() else { return };
    let r = adapter("gemini/gemini-2.0-flash")
        .parse_chat_response(&fx.bytes("gemini/generate_content.json"))
        .unwrap();
    let c = &r.choices[0];
    assert_eq!(
        c.message.text_content().as_deref(),
        Some("The capital of France is Paris.\n")
    );
    assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    assert_eq!(c.message.tool_calls, None);
    assert_eq!(c.message.reasoning_content, None);
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (13, 8, 21)
    );
    assert_eq!(u.completion_tokens_details, None);
}

#[test]
fn a_function_call_becomes_a_tool_call_with_its_signature() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-2.5-flash");
    let (out, _) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("gemini/function_call.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{
            "id": "call_id_REDACTED_1_0",
            "type": "function",
            "function": {"name": "add", "arguments": "{\"x\":1,\"y\":2}"},
            "provider_specific_fields": {"thought_signature": "signature_REDACTED_1"}
        }])
    );
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 85, "completion_tokens": 51, "total_tokens": 136,
            "completion_tokens_details": {"reasoning_tokens": 33}})
    );
}

#[test]
fn hidden_and_signed_thinking_show_only_as_tokens_and_signatures() {
    let Some(fx) = fixtures() else { return };
    let r = adapter("gemini/gemini-2.5-pro")
        .parse_chat_response(&fx.bytes("gemini/thinking_hidden.json"))
        .unwrap();
    assert_eq!(
        r.choices[0].message.text_content().as_deref(),
        Some("The capital of France is **Paris**.")
    );
    assert_eq!(r.choices[0].message.reasoning_content, None);
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (15, 283, 298)
    );
    assert_eq!(u.reasoning_tokens(), 275);

    let raw = fx.json("gemini/thinking_signature.json");
    let r = adapter("gemini/gemini-3-pro-preview")
        .parse_chat_response(raw.to_string().as_bytes())
        .unwrap();
    let m = &r.choices[0].message;
    assert_eq!(
        m.text_content().as_deref(),
        raw["candidates"][0]["content"]["parts"][0]["text"].as_str()
    );
    assert_eq!(m.reasoning_content, None);
    assert_eq!(
        m.extra["provider_specific_fields"]["thought_signatures"],
        json!([raw["candidates"][0]["content"]["parts"][0]["thoughtSignature"]])
    );
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.usage.unwrap().reasoning_tokens(), 282);
}

#[test]
fn an_answer_sent_back_carries_its_text_signature() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-3-pro-preview");
    let (out, _) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("gemini/thinking_signature.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let answer: Value =
        serde_json::from_slice::<Value>(&out).unwrap()["choices"][0]["message"].clone();
    let (_, body) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "user", "content": "How many r in strawberry?"},
            answer,
            {"role": "user", "content": "And in raspberry?"}
        ]})),
    );
    let raw = fx.json("gemini/thinking_signature.json");
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [raw["candidates"][0]["content"]["parts"][0].clone()]})
    );
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
        let mut rng = XorShift::new(0x6e6d_696e_6900 + body.len() as u64);
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
fn every_stream_reassembles_exactly_what_gemini_sent() {
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
        assert_eq!(t.reasoning_content, want.thoughts, "{file}");
        assert_eq!(t.tool_calls.len(), want.calls.len(), "{file}");
        for (i, (name, args, _)) in want.calls.iter().enumerate() {
            let call = &t.tool_calls[&(i as u32)];
            assert_eq!(call.name.as_deref(), Some(name.as_str()), "{file}");
            assert_eq!(call.kind.as_deref(), Some("function"), "{file}");
            assert_eq!(call.arguments, args.to_string(), "{file}: compact JSON");
            let id = call.id.as_deref().unwrap();
            let rid = want.response_id.as_deref().unwrap();
            assert_eq!(id, format!("call_{rid}_{i}"), "{file}");
        }
        let expected_finish = if want.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        assert_eq!(want.finish.as_deref(), Some("STOP"), "{file}");
        assert_eq!(t.finish_reasons, [expected_finish], "{file}");
        // Usage: only on the closing `choices: []` chunk, from the last usageMetadata.
        assert_eq!(t.usage_reports, 1, "{file}");
        let last = t.chunks.last().unwrap();
        assert!(last.choices.is_empty(), "{file}");
        let m = want.usage.unwrap();
        let u = t.usage.unwrap();
        assert_eq!(u.prompt_tokens, count(&m, "promptTokenCount"), "{file}");
        assert_eq!(
            u.completion_tokens,
            count(&m, "candidatesTokenCount") + count(&m, "thoughtsTokenCount"),
            "{file}"
        );
        assert_eq!(u.total_tokens, count(&m, "totalTokenCount"), "{file}");
        assert_eq!(
            u.reasoning_tokens(),
            count(&m, "thoughtsTokenCount"),
            "{file}"
        );
        // One id and one model for the whole stream.
        for c in &t.chunks {
            assert_eq!(Some(c.id.as_str()), want.response_id.as_deref(), "{file}");
            assert_eq!(c.object, "chat.completion.chunk", "{file}");
            assert_eq!(c.model, t.chunks[0].model, "{file}");
        }
    }
}

#[test]
fn the_recorded_streams_say_what_they_said() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("gemini/stream_generate_content.sse");
    let t = Transcript::from_events(&decode_in_chunks(
        &adapter("gemini/gemini-2.0-flash-exp"),
        &body,
        body.len(),
    ));
    assert_eq!(t.content, "The capital of France is Paris.\n");
    assert_eq!(t.chunks[0].model, "gemini-2.0-flash-exp");
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (13, 8, 21)
    );

    let body = fx.bytes("gemini/thinking_stream.sse");
    let t = Transcript::from_events(&decode_in_chunks(
        &adapter("gemini/gemini-2.5-flash"),
        &body,
        3,
    ));
    assert!(
        t.reasoning_content
            .starts_with("**Calculating Time Conversion**")
    );
    assert!(
        t.reasoning_content
            .ends_with("I believe the problem is solved!\n\n\n")
    );
    assert_eq!(t.content, "2880");
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (14, 312, 326)
    );
}

#[test]
fn a_streamed_call_and_its_signature_go_back_in_the_follow_up() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-3-pro-preview");
    let body = fx.bytes("gemini/function_call_stream.sse");
    let want = recorded(&body);
    let events = decode_in_chunks(&a, &body, 17);
    let t = Transcript::from_events(&events);
    let call = &t.tool_calls[&0];
    assert_eq!(call.arguments, "{}");
    // The signature rides on the delta that carries the call.
    let carrier = t
        .chunks
        .iter()
        .find(|c| c.choices.iter().any(|x| x.delta.tool_calls.is_some()))
        .unwrap();
    let signature = carrier.choices[0].delta.extra["provider_specific_fields"]["thought_signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(Some(&signature), want.calls[0].2.as_ref());
    // A client puts the call and the signature back into its history.
    let id = call.id.clone().unwrap();
    let (_, follow_up) = sent(
        &a,
        &chat(json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "user", "content": "What is the capital of the user country? Call the tool"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
                "provider_specific_fields": {"thought_signature": signature}
            }]},
            {"role": "tool", "tool_call_id": id, "content": "Mexico"}
        ]})),
    );
    assert_eq!(
        follow_up["contents"][1]["parts"][0],
        json!({"functionCall": {"name": "get_country", "args": {}, "id": id},
            "thoughtSignature": want.calls[0].2})
    );
    assert_eq!(
        follow_up["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "get_country", "response": {"content": "Mexico"}, "id": id}})
    );
}

#[test]
fn corrupted_and_truncated_streams_never_panic_and_end_exactly_once() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5eed_9e41);
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
                    const JUNK: &[u8] = b"{}[]\":,\r\n data x";
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
        // A stream cut before its finish reason is an error, never a silent short answer.
        let finish_at = body
            .windows(b"finishReason".len())
            .position(|w| w == b"finishReason")
            .unwrap();
        let cut = body[..finish_at]
            .windows(4)
            .rposition(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4;
        let events = decode_in_chunks(&a, &body[..cut], 9);
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
fn chunk_json_is_what_litellm_clients_expect() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("gemini/stream_generate_content.sse");
    let cs = chunks(&decode_in_chunks(
        &adapter("gemini/gemini-2.0-flash-exp"),
        &body,
        body.len(),
    ));
    let first = serde_json::to_value(&cs[0]).unwrap();
    assert_eq!(
        first["choices"],
        json!([{"index": 0, "delta": {"role": "assistant", "content": "The"}, "finish_reason": null}])
    );
    assert!(first.get("usage").is_none(), "usage only on the last chunk");
    let closing = serde_json::to_value(&cs[cs.len() - 2]).unwrap();
    assert_eq!(
        closing["choices"],
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    );
    let usage = serde_json::to_value(&cs[cs.len() - 1]).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(
        usage["usage"],
        json!({"prompt_tokens": 13, "completion_tokens": 8, "total_tokens": 21})
    );
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

#[test]
fn embedding_batches_become_openai_lists() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in EMBEDDINGS_RESPONSES {
        let a = adapter(model);
        let body = fx.bytes(file);
        let raw: Value = serde_json::from_slice(&body).unwrap();
        let vectors = raw["embeddings"].as_array().unwrap();
        let (out, usage) = a
            .forward_embeddings_response(Bytes::from(body.clone()), CLIENT_ALIAS)
            .unwrap();
        assert_eq!(usage, None, "{file}: Gemini reports no token counts");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["object"], "list", "{file}");
        assert_eq!(v["model"], CLIENT_ALIAS, "{file}");
        let r = a.parse_embeddings_response(&body).unwrap();
        assert_eq!(r.data.len(), vectors.len(), "{file}");
        for (i, (e, want)) in r.data.iter().zip(vectors).enumerate() {
            assert_eq!(e.index as usize, i, "{file}");
            assert_eq!(e.object, "embedding", "{file}");
            let want: Vec<f32> = want["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(e.embedding, EmbeddingVector::Float(want), "{file}[{i}]");
        }
    }
    // The dimensions asked for in the recorded request are the ones that came back.
    let asked = fx.json("gemini/embed_content_batch_dims.request.json")["requests"][0]
        ["outputDimensionality"]
        .as_u64()
        .unwrap();
    let r = adapter("gemini/gemini-embedding-2-preview")
        .parse_embeddings_response(&fx.bytes("gemini/embed_content_batch_dims.json"))
        .unwrap();
    match &r.data[0].embedding {
        EmbeddingVector::Float(v) => {
            assert_eq!(v.len() as u64, asked);
            assert_eq!(v[0], -0.039_718_185);
        }
        other => panic!("expected floats: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn every_error_keeps_its_status_type_and_message() {
    let Some(fx) = fixtures() else { return };
    for case in ERRORS {
        let a = adapter(case.model);
        let body = fx.bytes(case.file);
        let recorded: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            recorded["error"]["code"].as_u64(),
            Some(u64::from(case.recorded_status)),
            "{}",
            case.file
        );
        let array = format!("[{}]", String::from_utf8_lossy(&body));
        for (form, bytes) in [("object", body.clone()), ("array", array.into_bytes())] {
            let ctx = format!("{} ({form})", case.file);
            let e = a.parse_error(case.recorded_status, &HeaderMap::new(), &bytes);
            assert_eq!(e.status(), case.status, "{ctx}");
            assert_eq!(e.class(), case.class, "{ctx}");
            let up = upstream(&e);
            assert_eq!(up.message, case.message, "{ctx}");
            assert_eq!(up.error_type.as_deref(), Some(case.error_type), "{ctx}");
            assert_eq!(
                e.to_string(),
                format!(
                    "litellm.{}: VertexAIException - {}",
                    case.class.name(),
                    case.message
                ),
                "{ctx}"
            );
            let client = serde_json::to_value(e.to_body()).unwrap();
            assert_eq!(client["error"]["code"], case.status.to_string(), "{ctx}");
            assert_eq!(client["error"]["type"], case.error_type, "{ctx}");
        }
    }
    let e = adapter("gemini/gemini-2.5-flash").parse_error(
        429,
        &HeaderMap::new(),
        &fx.bytes("gemini/error_429_resource_exhausted.json"),
    );
    assert_eq!(
        e.retry_after(),
        Some(std::time::Duration::from_secs_f64(34.4))
    );
    assert!(upstream(&e).class.is_retryable());
    let e = adapter("gemini/gemini-2.5-flash").parse_error(
        400,
        &HeaderMap::new(),
        &fx.bytes("gemini/error_400_api_key_invalid.json"),
    );
    assert_eq!(upstream(&e).code.as_deref(), Some("API_KEY_INVALID"));
}

#[test]
fn an_error_inside_a_stream_ends_it_with_that_error() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("gemini/gemini-2.5-flash");
    // No recorded mid-stream error exists; the documented shape is the error body as an event.
    let error: Value = fx.json("gemini/error_429_resource_exhausted.json");
    let stream = fx.bytes("gemini/stream_generate_content.sse");
    let first_event = stream.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut body = stream[..first_event].to_vec();
    body.extend_from_slice(format!("data: {error}\r\n\r\n").as_bytes());
    body.extend_from_slice(&stream[first_event..]);
    let events = decode_in_chunks(&a, &body, 6);
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[1] {
        StreamEvent::Error(e) => {
            assert_eq!(e.status(), 429);
            assert_eq!(
                e.retry_after(),
                Some(std::time::Duration::from_secs_f64(34.4))
            );
        }
        other => panic!("{other:?}"),
    }
}
