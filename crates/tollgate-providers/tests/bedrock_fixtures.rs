//! Replays every recorded Bedrock payload (`../shared/fixtures/bedrock/`) through the Bedrock
//! adapter: the Converse and InvokeModel bodies we build against the recorded ones, Converse
//! responses, ConverseStream event-stream bodies cut at every byte, in-stream exceptions,
//! HTTP errors, embeddings, and random splits and corruption.
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the other replays; not every helper is used here.
#[allow(dead_code)]
mod common;

use std::collections::HashMap;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use tollgate_core::{
    ChatCompletionRequest, EmbeddingsRequest, Env, ErrorClass, FinishReason, GatewayError,
    ModelRef, Role, UpstreamError,
};
use tollgate_providers::bedrock::{BedrockStreamDecoder, EventStreamFramer};
use tollgate_providers::{Adapter, AwsParams, CallOptions, ProviderParams, StreamEvent};

use common::{CLIENT_ALIAS, Fixtures, Transcript, XorShift, fixtures};

const CREATED: i64 = 1_700_000_000;
const ID: &str = "chatcmpl-fixture";

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// Recorded Converse request bodies, with the model string and region that sent them.
const REQUESTS: &[(&str, &str, &str)] = &[
    (
        "bedrock/converse.request.json",
        "bedrock/us.amazon.nova-micro-v1:0",
        "us-east-1",
    ),
    (
        "bedrock/converse_tool_use.request.json",
        "bedrock/amazon.nova-lite-v1:0",
        "us-east-1",
    ),
    (
        "bedrock/converse_tool_result.request.json",
        "bedrock/amazon.nova-lite-v1:0",
        "us-east-1",
    ),
];

/// Non-streaming Converse 200 bodies.
const RESPONSES: &[&str] = &[
    "bedrock/converse.json",
    "bedrock/converse_tool_use.json",
    "bedrock/converse_reasoning.json",
    "bedrock/converse_cache_usage.json",
];

/// ConverseStream bodies (base64 of the bytes) with their decoded views.
const STREAMS: &[(&str, &str)] = &[
    (
        "bedrock/converse_stream.b64",
        "bedrock/converse_stream.decoded.ndjson",
    ),
    (
        "bedrock/converse_stream_tool_use.b64",
        "bedrock/converse_stream_tool_use.decoded.ndjson",
    ),
    (
        "bedrock/converse_stream_reasoning.b64",
        "bedrock/converse_stream_reasoning.decoded.ndjson",
    ),
];

/// InvokeModelWithResponseStream (synthetic): Tollgate never asks for it, but its frames
/// exercise the framer with a different event type.
const INVOKE_STREAM: (&str, &str) = (
    "bedrock/invoke_with_response_stream.SYNTHETIC.b64",
    "bedrock/invoke_with_response_stream.SYNTHETIC.decoded.ndjson",
);

/// An in-stream exception frame (synthetic).
const EXCEPTION_STREAM: &str = "bedrock/stream_exception_throttling.SYNTHETIC.b64";

/// Model-native InvokeModel chat for Claude: Tollgate sends chat through Converse instead, so
/// these are compared with the Converse equivalent of the same conversation.
const INVOKE_CHAT: (&str, &str) = (
    "bedrock/invoke_anthropic.request.json",
    "bedrock/invoke_anthropic.json",
);

/// Embeddings: request body, response body, model string.
const EMBEDDINGS: &[(&str, &str, &str)] = &[
    (
        "bedrock/invoke_titan_embed.request.json",
        "bedrock/invoke_titan_embed.json",
        "bedrock/amazon.titan-embed-text-v2:0",
    ),
    (
        "bedrock/invoke_cohere_embed.request.json",
        "bedrock/invoke_cohere_embed.json",
        "bedrock/cohere.embed-english-v3",
    ),
];

/// Error bodies: file, status, `x-amzn-ErrorType`, class.
const ERRORS: &[(&str, u16, &str, ErrorClass)] = &[
    (
        "bedrock/error_400_validation.json",
        400,
        "ValidationException",
        ErrorClass::BadRequest,
    ),
    (
        "bedrock/error_400_invalid_model.json",
        400,
        "ValidationException",
        ErrorClass::BadRequest,
    ),
    (
        "bedrock/error_404_resource_not_found.json",
        404,
        "ResourceNotFoundException",
        ErrorClass::NotFound,
    ),
    (
        "bedrock/error_429_throttling.json",
        429,
        "ThrottlingException",
        ErrorClass::RateLimit,
    ),
];

#[test]
fn every_bedrock_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(REQUESTS.iter().map(|r| r.0));
    known.extend(RESPONSES);
    for (b64, decoded) in STREAMS.iter().chain([&INVOKE_STREAM]) {
        known.push(b64);
        known.push(decoded);
    }
    known.push(EXCEPTION_STREAM);
    known.push(INVOKE_CHAT.0);
    known.push(INVOKE_CHAT.1);
    for (req, resp, _) in EMBEDDINGS {
        known.push(req);
        known.push(resp);
    }
    known.extend(ERRORS.iter().map(|e| e.0));
    let missing: Vec<String> = fx
        .files_under("bedrock")
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

/// An adapter signing with test keys for `region`, with no environment consulted.
fn signing_adapter(model: &str, region: &str) -> Adapter {
    let m = ModelRef::parse(model, None).unwrap();
    let params = ProviderParams {
        aws: AwsParams {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("secret".into()),
            region_name: Some(region.into()),
            ..AwsParams::default()
        },
        ..ProviderParams::default()
    };
    Adapter::new(&m, &params, &Env::with_overlay(HashMap::new())).unwrap()
}

fn bedrock(a: &Adapter) -> &tollgate_providers::bedrock::BedrockAdapter {
    match a {
        Adapter::Bedrock(b) => b,
        other => panic!("not the Bedrock adapter: {other:?}"),
    }
}

fn upstream(e: &GatewayError) -> &UpstreamError {
    match e {
        GatewayError::Upstream(u) => u,
        other => panic!("not an upstream error: {other:?}"),
    }
}

fn request(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

/// Standard base64 (with padding, whitespace ignored), decoded here so the check does not
/// lean on any code under test.
fn b64decode(text: &[u8]) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for group in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in group.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    out
}

fn stream_bytes(fx: &Fixtures, file: &str) -> Vec<u8> {
    b64decode(&fx.bytes(file))
}

fn decoded_lines(fx: &Fixtures, file: &str) -> Vec<Value> {
    String::from_utf8(fx.bytes(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn decode_at(body: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut d = BedrockStreamDecoder::new(ID.into(), CREATED, "m".into());
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

fn thinking_field(t: &Transcript, field: &str) -> Vec<String> {
    t.chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.extra.get("thinking_blocks"))
        .flat_map(|b| b.as_array().unwrap())
        .filter_map(|b| b.get(field).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn calculator_tools() -> Value {
    let param = |d: &str| json!({"description": d, "type": "number"});
    json!([
        {"type": "function", "function": {"name": "add", "description": "Add x and y together",
            "parameters": {"properties": {"x": param("The first number to add"), "y": param("The second number to add")}, "required": ["x", "y"], "type": "object"}}},
        {"type": "function", "function": {"name": "subtract", "description": "Subtract y from x (i.e.: x - y)",
            "parameters": {"properties": {"x": param("The number to subtract from"), "y": param("The number to subtract")}, "required": ["x", "y"], "type": "object"}}}
    ])
}

/// The OpenAI request a client would send for each recorded Converse request.
fn openai_request_for(file: &str) -> Value {
    let system =
        "You are a calculator. Use the provided tools before answering arithmetic questions.";
    match file {
        "bedrock/converse.request.json" => json!({"model": CLIENT_ALIAS, "messages": [
            {"role": "system", "content": "You are a chatbot."},
            {"role": "user", "content": "Hello!"}
        ]}),
        "bedrock/converse_tool_use.request.json" => json!({"model": CLIENT_ALIAS,
            "max_tokens": 1024, "tools": calculator_tools(), "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Calculate 2 - 5."}
        ]}),
        "bedrock/converse_tool_result.request.json" => json!({"model": CLIENT_ALIAS,
            "max_tokens": 1024, "tools": calculator_tools(), "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": "Calculate 2 - 5."},
            {"role": "assistant", "content": "<thinking>The User wants to perform a subtraction operation. The tool to use is 'subtract'. The 'x' parameter will be 2 and 'y' will be 5. I will call this tool to get the result.</thinking>\n",
             "tool_calls": [{"id": "tooluse_REDACTED_1", "type": "function", "function": {"name": "subtract", "arguments": "{\"x\": 2, \"y\": 5}"}}]},
            {"role": "tool", "tool_call_id": "tooluse_REDACTED_1", "content": "{\"result\": -3}"}
        ]}),
        other => panic!("no OpenAI request for {other}"),
    }
}

/// The recorded body with what legitimately differs normalised: the recording (rig) sends a
/// tool result as a `json` block, LiteLLM and Tollgate send the client's string as `text`.
fn comparable(mut recorded: Value) -> Value {
    for msg in recorded["messages"].as_array_mut().unwrap() {
        for block in msg["content"].as_array_mut().unwrap() {
            if let Some(result) = block.get_mut("toolResult") {
                for c in result["content"].as_array_mut().unwrap() {
                    if let Some(j) = c.get("json").cloned() {
                        *c = json!({"text": serde_json::to_string(&j).unwrap()});
                    }
                }
            }
        }
    }
    recorded
}

#[tokio::test]
async fn requests_translate_to_the_recorded_bodies_and_urls() {
    let Some(fx) = fixtures() else { return };
    for (file, model, region) in REQUESTS {
        let a = signing_adapter(model, region);
        let up = a
            .chat_request(&request(openai_request_for(file)), CallOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let body: Value = serde_json::from_slice(&up.body).unwrap();
        let mut want = comparable(fx.json(file));
        if *file == "bedrock/converse_tool_result.request.json" {
            // `{"x": 2, "y": 5}` with the client's spacing becomes the same object.
            want["messages"][2]["content"][0]["toolResult"]["content"][0]["text"] =
                json!("{\"result\": -3}");
        }
        assert_eq!(body, want, "{file}");
        let id = model.trim_start_matches("bedrock/").replace(':', "%3A");
        assert_eq!(
            up.url,
            format!("https://bedrock-runtime.{region}.amazonaws.com/model/{id}/converse"),
            "{file}"
        );
        // Signing happens in authorize, over these exact bytes.
        let mut signed = up.clone();
        a.authorize(
            &tollgate_providers::HttpClient::new(&Default::default()).unwrap(),
            &mut signed,
        )
        .await
        .unwrap();
        let auth = signed.headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") && auth.contains(&format!("/{region}/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, Signature=")),
            "{auth}"
        );
        assert_eq!(signed.body, up.body);
    }
}

#[test]
fn a_streaming_request_differs_only_in_url_and_accept() {
    let Some(_fx) = fixtures() else { return };
    let (file, model, region) = REQUESTS[1];
    let a = signing_adapter(model, region);
    let mut v = openai_request_for(file);
    let plain = a
        .chat_request(&request(v.clone()), CallOptions::default())
        .unwrap();
    v["stream"] = json!(true);
    v["stream_options"] = json!({"include_usage": true});
    let streamed = a.chat_request(&request(v), CallOptions::default()).unwrap();
    assert_eq!(plain.body, streamed.body);
    assert!(streamed.url.ends_with("/converse-stream"));
    assert_eq!(
        streamed.headers["accept"],
        "application/vnd.amazon.eventstream"
    );
}

#[test]
fn the_invoke_chat_recording_has_the_same_conversation_in_converse() {
    let Some(fx) = fixtures() else { return };
    let recorded = fx.json(INVOKE_CHAT.0);
    // The same conversation as an OpenAI client sends it.
    let texts: Vec<&str> = recorded["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap())
        .collect();
    let openai = json!({"model": CLIENT_ALIAS, "max_tokens": recorded["max_tokens"], "messages": [
        {"role": "system", "content": recorded["system"]},
        {"role": "user", "content": texts[0]},
        {"role": "assistant", "content": texts[1]},
        {"role": "user", "content": [{"type": "text", "text": texts[2], "cache_control": {"type": "ephemeral", "ttl": "5m"}}]}
    ]});
    let a = signing_adapter(
        "bedrock/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "eu-central-1",
    );
    let up = a
        .chat_request(&request(openai), CallOptions::default())
        .unwrap();
    assert_eq!(
        up.url,
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/eu.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
    );
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        body,
        json!({
            "system": [{"text": "You are a helpful assistant."}],
            "messages": [
                {"role": "user", "content": [{"text": texts[0]}]},
                {"role": "assistant", "content": [{"text": texts[1]}]},
                {"role": "user", "content": [{"text": texts[2]}, {"cachePoint": {"type": "default"}}]}
            ],
            "inferenceConfig": {"maxTokens": 4096}
        })
    );
    // The InvokeModel answer is an Anthropic Message, which the Anthropic adapter reads.
    let anthropic = common::adapter("anthropic/claude-haiku-4-5");
    let r = anthropic
        .parse_chat_response(&fx.bytes(INVOKE_CHAT.1))
        .unwrap();
    assert!(
        r.choices[0]
            .message
            .text_content()
            .unwrap()
            .starts_with("Python evolved")
    );
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_response_reaches_the_client_under_its_alias_with_usage() {
    let Some(fx) = fixtures() else { return };
    let a = signing_adapter(
        "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-east-1",
    );
    for file in RESPONSES {
        let recorded = fx.json(file);
        let (bytes, usage) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let out: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(out["model"], CLIENT_ALIAS, "{file}");
        assert_eq!(out["object"], "chat.completion");
        assert!(
            out["id"].as_str().unwrap().starts_with("chatcmpl-"),
            "{file}"
        );
        assert!(out["created"].as_i64().unwrap() > 1_600_000_000);
        let u = usage.unwrap();
        let ru = &recorded["usage"];
        let get = |k: &str| ru.get(k).and_then(Value::as_u64).unwrap_or(0);
        assert_eq!(
            u.prompt_tokens,
            get("inputTokens") + get("cacheReadInputTokens") + get("cacheWriteInputTokens"),
            "{file}"
        );
        assert_eq!(u.completion_tokens, get("outputTokens"), "{file}");
        assert_eq!(u.total_tokens, get("totalTokens"), "{file}");
        assert_eq!(u.cached_tokens(), get("cacheReadInputTokens"), "{file}");
        assert_eq!(out["usage"], serde_json::to_value(&u).unwrap());
        // The text a client reads is every text block, in order.
        let text: String = recorded["output"]["message"]["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect();
        let content = out["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("");
        assert_eq!(content, text, "{file}");
    }
}

#[test]
fn tool_use_reasoning_and_cache_responses() {
    let Some(fx) = fixtures() else { return };
    let a = bedrock(&signing_adapter(
        "bedrock/amazon.nova-lite-v1:0",
        "us-east-1",
    ))
    .clone();
    let r = a
        .parse_chat_response_at(
            &fx.bytes("bedrock/converse_tool_use.json"),
            ID.into(),
            CREATED,
        )
        .unwrap();
    let c = &r.choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
    let call = &c.message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.id, "tooluse_REDACTED_1");
    assert_eq!(call.kind, "function");
    assert_eq!(call.function.name, "subtract");
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        json!({"x": 2, "y": 5})
    );
    // Nova's <thinking> text stays in content, as LiteLLM leaves it.
    assert!(c.message.text_content().unwrap().starts_with("<thinking>"));
    assert_eq!(
        (r.id.as_str(), r.created, r.model.as_str()),
        (ID, CREATED, "amazon.nova-lite-v1:0")
    );

    let recorded = fx.json("bedrock/converse_reasoning.json");
    let rt = &recorded["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"];
    let r = a
        .parse_chat_response_at(
            &fx.bytes("bedrock/converse_reasoning.json"),
            ID.into(),
            CREATED,
        )
        .unwrap();
    let m = &r.choices[0].message;
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(m.reasoning_content.as_deref(), rt["text"].as_str());
    assert_eq!(
        m.extra["thinking_blocks"],
        json!([{"type": "thinking", "thinking": rt["text"], "signature": rt["signature"]}])
    );
    assert!(
        m.text_content()
            .unwrap()
            .starts_with("Here are the basic steps")
    );

    let r = a
        .parse_chat_response_at(
            &fx.bytes("bedrock/converse_cache_usage.json"),
            ID.into(),
            CREATED,
        )
        .unwrap();
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (1324, 5, 1329)
    );
    assert_eq!(u.cached_tokens(), 1322);
    assert_eq!(u.extra["cache_read_input_tokens"], 1322);
    assert_eq!(u.extra["cache_creation_input_tokens"], 0);
}

#[test]
fn a_reasoning_turn_round_trips_into_the_next_request() {
    let Some(fx) = fixtures() else { return };
    let a = signing_adapter(
        "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-east-1",
    );
    let r = a
        .parse_chat_response(&fx.bytes("bedrock/converse_reasoning.json"))
        .unwrap();
    let mut assistant = serde_json::to_value(&r.choices[0].message).unwrap();
    assistant["content"] = json!("ok");
    let next = json!({"model": CLIENT_ALIAS, "messages": [
        {"role": "user", "content": "How do I cross the street?"}, assistant,
        {"role": "user", "content": "Thanks"}
    ]});
    let up = a
        .chat_request(&request(next), CallOptions::default())
        .unwrap();
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    let recorded = fx.json("bedrock/converse_reasoning.json");
    assert_eq!(
        body["messages"][1]["content"][0], recorded["output"]["message"]["content"][0],
        "the signed reasoning block goes back exactly as Bedrock sent it"
    );
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn the_framer_reads_exactly_the_recorded_messages() {
    let Some(fx) = fixtures() else { return };
    for (b64, decoded) in STREAMS.iter().chain([&INVOKE_STREAM]) {
        let body = stream_bytes(&fx, b64);
        let lines = decoded_lines(&fx, decoded);
        let total: u64 = lines
            .iter()
            .map(|l| l["total_length"].as_u64().unwrap())
            .sum();
        assert_eq!(total, body.len() as u64, "{b64}");
        for piece in [1, 7, 143, body.len()] {
            let mut f = EventStreamFramer::new();
            let mut frames = Vec::new();
            for p in body.chunks(piece) {
                f.push(p);
                while let Some(frame) = f.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(f.pending(), 0);
            assert_eq!(frames.len(), lines.len(), "{b64}");
            for (frame, line) in frames.iter().zip(&lines) {
                assert!(
                    line["prelude_crc_ok"].as_bool().unwrap()
                        && line["message_crc_ok"].as_bool().unwrap()
                );
                for (k, v) in line["headers"].as_object().unwrap() {
                    assert_eq!(frame.header(k), v.as_str(), "{b64} {k}");
                }
                assert_eq!(
                    frame.headers.len(),
                    line["headers"].as_object().unwrap().len()
                );
                let payload: Value = serde_json::from_slice(&frame.payload).unwrap();
                assert_eq!(payload, line["payload"], "{b64}");
            }
        }
    }
}

/// What the stream should reassemble to, worked out from the decoded view directly.
#[derive(Debug, Default)]
struct Expected {
    text: String,
    reasoning: String,
    signatures: Vec<String>,
    tools: Vec<(String, String, String)>,
    stop_reason: String,
    input: u64,
    output: u64,
    total: u64,
}

fn expected(lines: &[Value]) -> Expected {
    let mut e = Expected::default();
    let mut tool_blocks: HashMap<u64, usize> = HashMap::new();
    for line in lines {
        let p = &line["payload"];
        match line["headers"][":event-type"].as_str().unwrap() {
            "contentBlockStart" => {
                let t = &p["start"]["toolUse"];
                tool_blocks.insert(p["contentBlockIndex"].as_u64().unwrap(), e.tools.len());
                e.tools.push((
                    t["toolUseId"].as_str().unwrap().to_owned(),
                    t["name"].as_str().unwrap().to_owned(),
                    String::new(),
                ));
            }
            "contentBlockDelta" => {
                let d = &p["delta"];
                if let Some(t) = d["text"].as_str() {
                    e.text.push_str(t);
                }
                if let Some(t) = d["reasoningContent"]["text"].as_str() {
                    e.reasoning.push_str(t);
                }
                if let Some(s) = d["reasoningContent"]["signature"].as_str() {
                    e.signatures.push(s.to_owned());
                }
                if let Some(input) = d["toolUse"]["input"].as_str() {
                    let k = tool_blocks[&p["contentBlockIndex"].as_u64().unwrap()];
                    e.tools[k].2.push_str(input);
                }
            }
            "messageStop" => e.stop_reason = p["stopReason"].as_str().unwrap().to_owned(),
            "metadata" => {
                e.input = p["usage"]["inputTokens"].as_u64().unwrap();
                e.output = p["usage"]["outputTokens"].as_u64().unwrap();
                e.total = p["usage"]["totalTokens"].as_u64().unwrap();
            }
            _ => {}
        }
    }
    e
}

fn check_stream(file: &str, events: &[StreamEvent], want: &Expected) {
    let t = Transcript::from_events(events);
    assert!(t.errors.is_empty(), "{file}: {:?}", t.errors);
    assert!(t.done, "{file}: no Done");
    assert_eq!(t.roles, vec![Role::Assistant], "{file}");
    let first = &t.chunks[0].choices[0].delta;
    assert_eq!(first.content.as_deref(), Some(""), "{file}");
    assert_eq!(t.content, want.text, "{file}");
    assert_eq!(t.reasoning_content, want.reasoning, "{file}");
    assert_eq!(
        thinking_field(&t, "thinking").concat(),
        want.reasoning,
        "{file}"
    );
    assert_eq!(thinking_field(&t, "signature"), want.signatures, "{file}");
    assert_eq!(t.tool_calls.len(), want.tools.len(), "{file}");
    for (k, (id, name, args)) in want.tools.iter().enumerate() {
        let call = &t.tool_calls[&u32::try_from(k).unwrap()];
        assert_eq!(call.id.as_deref(), Some(id.as_str()), "{file}");
        assert_eq!(call.kind.as_deref(), Some("function"));
        assert_eq!(call.name.as_deref(), Some(name.as_str()));
        assert_eq!(&call.arguments, args, "{file}");
    }
    let finish = match want.stop_reason.as_str() {
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    assert_eq!(t.finish_reasons, vec![finish], "{file}");
    // Exactly one usage report, on a `choices: []` chunk, right before Done.
    assert_eq!(t.usage_reports, 1, "{file}");
    let last = t.chunks.last().unwrap();
    assert!(last.choices.is_empty() && last.usage().is_some(), "{file}");
    let u = t.usage.as_ref().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (want.input, want.output, want.total)
    );
    for c in &t.chunks {
        assert_eq!(
            (c.id.as_str(), c.created, c.object.as_str()),
            (ID, CREATED, "chat.completion.chunk")
        );
    }
}

/// Offsets to cut a stream at, one at a time: every offset of its first and last 1.5 KB, and
/// every offset within 16 bytes of each message boundary (where a cut splits a prelude, a
/// header or a CRC) for every message in between. The middles of long payloads are covered by
/// the fixed piece sizes and the random cuts.
fn single_cuts(body: &[u8], lines: &[Value]) -> Vec<usize> {
    const EDGE: usize = 1536;
    const AROUND: usize = 16;
    let mut cuts: Vec<usize> = (0..=EDGE.min(body.len()))
        .chain(body.len().saturating_sub(EDGE)..=body.len())
        .collect();
    let mut at = 0;
    for line in lines {
        at += usize::try_from(line["total_length"].as_u64().unwrap()).unwrap();
        cuts.extend(at.saturating_sub(AROUND)..=(at + AROUND).min(body.len()));
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

#[test]
fn streams_reassemble_exactly_at_every_byte_boundary() {
    let Some(fx) = fixtures() else { return };
    for (b64, decoded) in STREAMS {
        let body = stream_bytes(&fx, b64);
        let lines = decoded_lines(&fx, decoded);
        let want = expected(&lines);
        let whole = decode_at(&body, &[]);
        check_stream(b64, &whole, &want);
        for cut in single_cuts(&body, &lines) {
            assert!(
                same_events(&decode_at(&body, &[cut]), &whole),
                "{b64}: cut at {cut}"
            );
        }
        for size in [1, 2, 3, 5, 16, 100, 1000] {
            let cuts: Vec<usize> = (size..body.len()).step_by(size).collect();
            assert!(
                same_events(&decode_at(&body, &cuts), &whole),
                "{b64}: pieces of {size}"
            );
        }
    }
}

#[test]
fn the_stream_decoder_is_reached_through_the_adapter() {
    let Some(fx) = fixtures() else { return };
    let a = signing_adapter("bedrock/us.amazon.nova-micro-v1:0", "us-east-1");
    let body = stream_bytes(&fx, STREAMS[0].0);
    let events = common::decode_in_chunks(&a, &body, 333);
    let t = Transcript::from_events(&events);
    assert!(t.done && t.errors.is_empty());
    assert!(
        t.chunks
            .iter()
            .all(|c| c.model == "us.amazon.nova-micro-v1:0")
    );
    assert!(t.chunks[0].id.starts_with("chatcmpl-"));
}

#[test]
fn a_midstream_throttling_exception_is_a_429_after_the_first_chunks() {
    let Some(fx) = fixtures() else { return };
    let exception = stream_bytes(&fx, EXCEPTION_STREAM);
    // Alone.
    let events = decode_at(&exception, &[]);
    assert_eq!(events.len(), 1, "{events:?}");
    let StreamEvent::Error(e) = &events[0] else {
        panic!("{events:?}")
    };
    let u = upstream(e);
    assert_eq!((u.status, u.class), (429, ErrorClass::RateLimit));
    assert!(u.class.is_retryable());
    assert_eq!(
        u.message,
        "Too many requests, please wait before trying again."
    );
    assert_eq!(u.error_type.as_deref(), Some("throttlingException"));
    assert_eq!(
        e.to_string(),
        "litellm.RateLimitError: BedrockException - Too many requests, please wait before trying again."
    );
    // After the first messages of a recorded stream, cut anywhere.
    let recorded = stream_bytes(&fx, STREAMS[0].0);
    let lines = decoded_lines(&fx, STREAMS[0].1);
    let head: usize = lines[..3]
        .iter()
        .map(|l| l["total_length"].as_u64().unwrap() as usize)
        .sum();
    let mut body = recorded[..head].to_vec();
    body.extend_from_slice(&exception);
    body.extend_from_slice(&recorded[head..]);
    let whole = decode_at(&body, &[]);
    for cut in 0..=body.len().min(head + exception.len() + 10) {
        assert!(
            same_events(&decode_at(&body, &[cut]), &whole),
            "cut at {cut}"
        );
    }
    let t = Transcript::from_events(&whole);
    assert_eq!(t.roles, vec![Role::Assistant]);
    assert!(!t.content.is_empty());
    assert_eq!(t.errors.len(), 1);
    assert!(!t.done);
    assert!(matches!(whole.last(), Some(StreamEvent::Error(_))));
}

#[test]
fn a_stream_cut_short_is_an_error_and_one_cut_after_message_stop_is_done() {
    let Some(fx) = fixtures() else { return };
    let (b64, decoded) = STREAMS[1];
    let body = stream_bytes(&fx, b64);
    let lines = decoded_lines(&fx, decoded);
    let last = lines.last().unwrap()["total_length"].as_u64().unwrap() as usize;
    let stop = lines[lines.len() - 2]["total_length"].as_u64().unwrap() as usize;
    // Cut inside messageStop: incomplete.
    let events = decode_at(&body[..body.len() - last - stop / 2], &[]);
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Error(GatewayError::Connection { .. }))
    ));
    // Cut inside metadata: the answer is complete, only usage is missing.
    let events = decode_at(&body[..body.len() - last / 2], &[]);
    let t = Transcript::from_events(&events);
    assert!(t.done && t.errors.is_empty() && t.usage.is_none());
    assert_eq!(t.finish_reasons, vec![FinishReason::ToolCalls]);
}

// ---------------------------------------------------------------------------------------------
// Errors and embeddings
// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_error_bodies() {
    let Some(fx) = fixtures() else { return };
    let a = signing_adapter("bedrock/us.amazon.nova-micro-v1:0", "us-east-1");
    for (file, status, kind, class) in ERRORS {
        let recorded = fx.json(file);
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-ErrorType",
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")
                .parse()
                .unwrap(),
        );
        let e = a.parse_error(*status, &h, &fx.bytes(file));
        let u = upstream(&e);
        assert_eq!((u.status, u.class), (*status, *class), "{file}");
        assert_eq!(u.message, recorded["message"].as_str().unwrap(), "{file}");
        assert_eq!(u.error_type.as_deref(), Some(*kind));
        assert_eq!(e.status(), *status);
        let body = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(body["error"]["code"], status.to_string());
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("BedrockException - {}", u.message)),
            "{body}"
        );
        // Without the header the status decides.
        let e = a.parse_error(*status, &HeaderMap::new(), &fx.bytes(file));
        assert_eq!(upstream(&e).class, *class, "{file}");
    }
}

#[test]
fn embeddings_requests_and_responses() {
    let Some(fx) = fixtures() else { return };
    for (req_file, resp_file, model) in EMBEDDINGS {
        let a = signing_adapter(model, "us-east-1");
        let recorded = fx.json(req_file);
        let mut e = match model.contains("titan") {
            true => {
                let mut e = EmbeddingsRequest::new(
                    CLIENT_ALIAS,
                    vec![recorded["inputText"].as_str().unwrap().to_owned()],
                );
                e.dimensions = Some(256);
                e.extra.insert("normalize".into(), json!(true));
                e
            }
            false => {
                let mut e = EmbeddingsRequest::new(
                    CLIENT_ALIAS,
                    vec![recorded["texts"][0].as_str().unwrap().to_owned()],
                );
                e.extra
                    .insert("input_type".into(), recorded["input_type"].clone());
                e.extra
                    .insert("truncate".into(), recorded["truncate"].clone());
                e
            }
        };
        e.encoding_format = Some("float".into());
        let up = a.embeddings_request(&e).unwrap();
        let body: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(body, recorded, "{req_file}");
        let id = model.trim_start_matches("bedrock/").replace(':', "%3A");
        assert_eq!(
            up.url,
            format!("https://bedrock-runtime.us-east-1.amazonaws.com/model/{id}/invoke")
        );

        let resp = fx.json(resp_file);
        let (bytes, usage) = a
            .forward_embeddings_response(Bytes::from(fx.bytes(resp_file)), CLIENT_ALIAS)
            .unwrap();
        let out: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(out["model"], CLIENT_ALIAS);
        assert_eq!(out["object"], "list");
        let vector = match model.contains("titan") {
            true => resp["embedding"].clone(),
            false => resp["embeddings"][0].clone(),
        };
        let got = out["data"][0]["embedding"].as_array().unwrap();
        let want = vector.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{resp_file}");
        for (g, w) in got.iter().zip(want) {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                (g - w).abs() <= w.abs() * 1e-6 + 1e-9,
                "{resp_file}: {g} vs {w}"
            );
        }
        assert_eq!(out["data"][0]["index"], 0);
        if model.contains("titan") {
            assert_eq!(
                usage.unwrap().prompt_tokens,
                resp["inputTextTokenCount"].as_u64().unwrap()
            );
        } else {
            assert!(usage.is_none());
        }
    }
    // A Titan batch is refused, not half answered.
    let a = signing_adapter(EMBEDDINGS[0].2, "us-east-1");
    let e = a
        .embeddings_request(&EmbeddingsRequest::new("x", vec!["a".into(), "b".into()]))
        .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn bedrock_models_get_the_bedrock_adapter() {
    let a = signing_adapter(
        "bedrock/converse/us.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-west-2",
    );
    assert_eq!(a.provider_name(), "Bedrock");
    assert_eq!(
        a.api_base(),
        "https://bedrock-runtime.us-west-2.amazonaws.com"
    );
    assert!(matches!(
        a.stream_decoder(),
        tollgate_providers::StreamDecoder::Bedrock(_)
    ));
    let m = ModelRef::parse("us.anthropic.claude-3-5-sonnet-20240620-v1:0", None).unwrap();
    assert!(matches!(
        Adapter::new(
            &m,
            &ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
            &Env::with_overlay(HashMap::new())
        ),
        Ok(Adapter::Bedrock(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Fuzz-ish: random splits and corruption must never panic
// ---------------------------------------------------------------------------------------------

fn corrupt(rng: &mut XorShift, body: &[u8], frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = body.to_vec();
    for _ in 0..=rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] = (rng.next_u64() & 0xff) as u8,
            1 => {
                let end = (at + rng.below(50)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(300)).min(out.len());
                let dup = out[at..end].to_vec();
                out.splice(at..at, dup);
            }
            3 => out.truncate(at),
            // A well-formed frame with a hostile payload, where the decoder must cope.
            _ => {
                let f = &frames[rng.below(frames.len())];
                out.splice(at..at, f.iter().copied());
            }
        }
    }
    out
}

/// Valid frames whose payloads are wrong in every way the JSON can be.
fn hostile_frames() -> Vec<Vec<u8>> {
    let frame = |headers: &[(&str, &str)], payload: &[u8]| {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(u8::try_from(name.len()).unwrap());
            h.extend_from_slice(name.as_bytes());
            h.push(7);
            h.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = u32::try_from(16 + h.len() + payload.len()).unwrap();
        let mut m = total.to_be_bytes().to_vec();
        m.extend_from_slice(&u32::try_from(h.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&crc32(&m).to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        m.extend_from_slice(&crc32(&m).to_be_bytes());
        m
    };
    let ev = |kind: &str, payload: &str| {
        frame(
            &[(":event-type", kind), (":message-type", "event")],
            payload.as_bytes(),
        )
    };
    vec![
        ev(
            "contentBlockDelta",
            r#"{"contentBlockIndex":"x","delta":{"toolUse":{"input":7}}}"#,
        ),
        ev(
            "contentBlockDelta",
            r#"{"contentBlockIndex":18446744073709551615,"delta":{"toolUse":{"input":"{"}}}"#,
        ),
        ev(
            "contentBlockStart",
            r#"{"contentBlockIndex":0,"start":{"toolUse":null}}"#,
        ),
        ev(
            "contentBlockStart",
            r#"{"contentBlockIndex":0,"start":{"toolUse":{"name":"json_tool_call"}}}"#,
        ),
        ev(
            "contentBlockDelta",
            r#"{"delta":{"reasoningContent":{"text":null,"signature":5,"redactedContent":"QQ=="}}}"#,
        ),
        ev(
            "metadata",
            r#"{"usage":{"inputTokens":18446744073709551615,"outputTokens":18446744073709551615,"cacheReadInputTokens":18446744073709551615}}"#,
        ),
        ev("messageStop", r#"{"stopReason":null}"#),
        ev("messageStart", "not json"),
        ev("somethingNew", "{}"),
        frame(&[(":message-type", "exception")], b""),
        frame(&[(":message-type", "error")], b""),
        frame(&[], b"{}"),
    ]
}

/// CRC-32 (IEEE, reflected, as zlib), bit by bit: independent of the code under test.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn random_splits_and_corruption_never_panic_and_always_end_once() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0xbed_70c4);
    let hostile = hostile_frames();
    let mut files: Vec<&str> = STREAMS.iter().map(|s| s.0).collect();
    files.push(INVOKE_STREAM.0);
    files.push(EXCEPTION_STREAM);
    for file in files {
        let original = stream_bytes(&fx, file);
        for round in 0..200 {
            let body = if round == 0 {
                original.clone()
            } else {
                corrupt(&mut rng, &original, &hostile)
            };
            let max_piece = 1 + rng.below(300);
            let cuts = rng.cuts(body.len(), max_piece);
            let events = decode_at(&body, &cuts);
            let ctx = format!("{file} round {round}");
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
                match e {
                    StreamEvent::Chunk(c) => {
                        serde_json::to_vec(c).unwrap();
                    }
                    StreamEvent::Error(e) => {
                        let _ = e.to_body();
                    }
                    _ => {}
                }
            }
        }
    }
    // Response, error and embeddings bodies on corrupted input.
    let a = signing_adapter(
        "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
        "us-east-1",
    );
    let titan = signing_adapter(EMBEDDINGS[0].2, "us-east-1");
    let cohere = signing_adapter(EMBEDDINGS[1].2, "us-east-1");
    let mut json_files: Vec<&str> = RESPONSES.to_vec();
    json_files.extend(ERRORS.iter().map(|e| e.0));
    json_files.extend(EMBEDDINGS.iter().map(|e| e.1));
    for file in json_files {
        let original = fx.bytes(file);
        for _ in 0..200 {
            let body = corrupt(&mut rng, &original, &[b"{\"x\":".to_vec()]);
            let _ = a.parse_chat_response(&body);
            let _ = a.forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS);
            let _ = titan.forward_embeddings_response(Bytes::from(body.clone()), CLIENT_ALIAS);
            let _ = cohere.forward_embeddings_response(Bytes::from(body.clone()), CLIENT_ALIAS);
            let e = a.parse_error(400 + rng.below(200) as u16, &HeaderMap::new(), &body);
            assert!(!upstream(&e).message.is_empty());
            let _ = e.to_body();
        }
    }
    // Request translation on corrupted OpenAI bodies.
    for (file, _, _) in REQUESTS {
        let original = openai_request_for(file).to_string().into_bytes();
        for _ in 0..200 {
            let body = corrupt(&mut rng, &original, &[b"\"x\"".to_vec()]);
            if let Ok(req) = serde_json::from_slice::<ChatCompletionRequest>(&body) {
                let _ = a.chat_request(&req, CallOptions::default());
            }
        }
    }
}
