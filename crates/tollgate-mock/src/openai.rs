//! Default responders in OpenAI's exact wire format: chat (plain, streamed, tool calls),
//! embeddings, the model list and error bodies.
//!
//! Responses are built from small borrowed structs rather than `serde_json::Value` because this
//! is the upstream in throughput benchmarks; field order follows recorded OpenAI traffic.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::base64;
use crate::script::MockScript;
use crate::sse;

/// What the default chat responder says.
pub const DEFAULT_REPLY: &str = "Hello from the mock provider.";

/// The model reported when a request names none.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// Vector size when the request has no `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// Keeps a silly `dimensions` from allocating gigabytes.
const MAX_DIMENSIONS: usize = 16_384;

/// Characters per streamed tool-call argument fragment.
const ARGUMENT_FRAGMENT: usize = 8;

const MODELS: &str = r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}]}"#;

/// The request fields any default responder reads; everything else is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApiRequest {
    pub(crate) model: Option<String>,
    messages: Option<Vec<Message>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    tools: Option<Vec<Tool>>,
    tool_choice: Option<Value>,
    input: Option<Value>,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Message {
    content: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tool {
    function: Option<FunctionName>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FunctionName {
    name: String,
}

/// The answer of one chat request.
enum Answer {
    Text(String),
    Tools(Vec<Call>),
}

struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// `POST .../chat/completions`: a completion or a stream, per `stream`.
pub(crate) fn chat(req: &ApiRequest, script: Option<&MockScript>, seq: u64) -> Response {
    let answer = answer(req, script);
    let usage = Usage::new(prompt_tokens(req), completion_tokens(&answer));
    let ids = Ids {
        id: format!("chatcmpl-mock{seq}"),
        created: unix_now(),
        model: req.model.as_deref().unwrap_or(DEFAULT_MODEL),
    };
    if req.stream == Some(true) {
        let include_usage = req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
        let events = stream_events(&ids, &answer, &usage, include_usage);
        let mut resp = Response::new(sse::body(events));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(sse::CONTENT_TYPE),
        );
        resp
    } else {
        json_response(StatusCode::OK, &completion(&ids, &answer, &usage))
    }
}

/// Scripted text or calls win; otherwise a forced `tool_choice` yields a call, else the default text.
fn answer(req: &ApiRequest, script: Option<&MockScript>) -> Answer {
    if let Some(calls) = script.and_then(|s| s.tool_calls.as_ref()) {
        return Answer::Tools(
            calls
                .iter()
                .enumerate()
                .map(|(i, c)| Call {
                    id: c.id.clone().unwrap_or_else(|| format!("call_mock_{i}")),
                    name: c.name.clone(),
                    arguments: c.arguments_string(),
                })
                .collect(),
        );
    }
    if let Some(reply) = script.and_then(|s| s.reply.as_ref()) {
        return Answer::Text(reply.clone());
    }
    let first_tool = || {
        req.tools
            .iter()
            .flatten()
            .find_map(|t| t.function.as_ref().map(|f| f.name.clone()))
    };
    let forced = match &req.tool_choice {
        Some(Value::String(mode)) if mode == "required" => first_tool(),
        Some(Value::Object(choice)) => choice
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    match forced {
        Some(name) => Answer::Tools(vec![Call {
            id: "call_mock_0".to_owned(),
            name,
            arguments: "{}".to_owned(),
        }]),
        None => Answer::Text(DEFAULT_REPLY.to_owned()),
    }
}

/// Whitespace-separated words of every message's text, plus 3 per message (OpenAI's framing).
fn prompt_tokens(req: &ApiRequest) -> u64 {
    req.messages
        .iter()
        .flatten()
        .map(|m| 3 + m.content.as_ref().map_or(0, content_words))
        .sum()
}

fn content_words(content: &Value) -> u64 {
    match content {
        Value::String(s) => words(s),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(words)
            .sum(),
        _ => 0,
    }
}

fn completion_tokens(answer: &Answer) -> u64 {
    match answer {
        Answer::Text(text) => words(text),
        Answer::Tools(calls) => calls.iter().map(|c| 1 + words(&c.arguments)).sum(),
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `usage` with every detail field OpenAI sends.
#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

impl Usage {
    fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails::default(),
            completion_tokens_details: CompletionDetails::default(),
        }
    }
}

#[derive(Serialize, Default)]
struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize, Default)]
struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

struct Ids<'a> {
    id: String,
    created: u64,
    model: &'a str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [CompletionChoice<'a>; 1],
    usage: &'a Usage,
    service_tier: &'static str,
    system_fingerprint: Option<()>,
}

#[derive(Serialize)]
struct CompletionChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<OutToolCall<'a>>>,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunction<'a>,
}

#[derive(Serialize)]
struct OutFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

fn completion<'a>(ids: &'a Ids<'a>, answer: &'a Answer, usage: &'a Usage) -> Completion<'a> {
    let (message, finish_reason) = match answer {
        Answer::Text(text) => (
            OutMessage {
                role: "assistant",
                content: Some(text),
                tool_calls: None,
                refusal: None,
                annotations: [],
            },
            "stop",
        ),
        Answer::Tools(calls) => (
            OutMessage {
                role: "assistant",
                content: None,
                tool_calls: Some(
                    calls
                        .iter()
                        .map(|c| OutToolCall {
                            id: &c.id,
                            kind: "function",
                            function: OutFunction {
                                name: &c.name,
                                arguments: &c.arguments,
                            },
                        })
                        .collect(),
                ),
                refusal: None,
                annotations: [],
            },
            "tool_calls",
        ),
    };
    Completion {
        id: &ids.id,
        object: "chat.completion",
        created: ids.created,
        model: ids.model,
        choices: [CompletionChoice {
            index: 0,
            message,
            logprobs: None,
            finish_reason,
        }],
        usage,
        service_tier: "default",
        system_fingerprint: None,
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: Option<()>,
    choices: &'a [ChunkChoice<'a>],
    /// `Some(None)` is the `"usage":null` OpenAI puts on every chunk when usage was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<&'a str>>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// The SSE events of a streamed answer, `[DONE]` included.
fn stream_events(ids: &Ids<'_>, answer: &Answer, usage: &Usage, include_usage: bool) -> Vec<Bytes> {
    let usage_null = include_usage.then_some(None);
    let event = |delta: Delta<'_>, finish_reason: Option<&'static str>| {
        sse::json_event(&Chunk {
            id: &ids.id,
            object: "chat.completion.chunk",
            created: ids.created,
            model: ids.model,
            service_tier: "default",
            system_fingerprint: None,
            choices: &[ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            usage: usage_null,
        })
    };
    let mut events = Vec::new();
    let finish_reason = match answer {
        Answer::Text(text) => {
            events.push(event(
                Delta {
                    role: Some("assistant"),
                    content: Some(Some("")),
                    refusal: Some(None),
                    ..Delta::default()
                },
                None,
            ));
            for piece in word_pieces(text) {
                let delta = Delta {
                    content: Some(Some(piece)),
                    ..Delta::default()
                };
                events.push(event(delta, None));
            }
            "stop"
        }
        Answer::Tools(calls) => {
            let first = Delta {
                role: Some("assistant"),
                content: Some(None),
                ..Delta::default()
            };
            events.push(event(first, None));
            for (index, call) in calls.iter().enumerate() {
                let opening = ToolCallDelta {
                    index,
                    id: Some(&call.id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(&call.name),
                        arguments: "",
                    },
                };
                let fragments = char_chunks(&call.arguments, ARGUMENT_FRAGMENT);
                let rest = fragments.into_iter().map(|arguments| ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments,
                    },
                });
                for fragment in std::iter::once(opening).chain(rest) {
                    let delta = Delta {
                        tool_calls: Some([fragment]),
                        ..Delta::default()
                    };
                    events.push(event(delta, None));
                }
            }
            "tool_calls"
        }
    };
    events.push(event(Delta::default(), Some(finish_reason)));
    if include_usage {
        events.push(sse::json_event(&Chunk {
            id: &ids.id,
            object: "chat.completion.chunk",
            created: ids.created,
            model: ids.model,
            service_tier: "default",
            system_fingerprint: None,
            choices: &[],
            usage: Some(Some(usage)),
        }));
    }
    events.push(Bytes::from_static(sse::DONE));
    events
}

/// Splits before each run of whitespace, the way OpenAI tokens carry their leading space.
fn word_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut start, mut prev_space) = (0, true);
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if space && !prev_space && i > start {
            pieces.push(&text[start..i]);
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Pieces of at most `n` characters.
fn char_chunks(text: &str, n: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// `POST .../embeddings`: one deterministic unit vector per input.
pub(crate) fn embeddings(req: &ApiRequest) -> Response {
    let Some(inputs) = req.input.as_ref().and_then(embedding_inputs) else {
        return error(
            StatusCode::BAD_REQUEST,
            "'input' must be a non-empty string, array of strings, or array of token arrays.",
            "invalid_request_error",
            Some("input"),
            None,
        );
    };
    let dims = req
        .dimensions
        .unwrap_or(DEFAULT_DIMENSIONS)
        .clamp(1, MAX_DIMENSIONS);
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = unit_vector(input.seed, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                EmbeddingData::Base64(base64::encode(&bytes))
            } else {
                EmbeddingData::Float(vector)
            };
            EmbeddingItem {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let tokens = inputs.iter().map(|i| i.tokens).sum();
    json_response(
        StatusCode::OK,
        &EmbeddingList {
            object: "list",
            data,
            model: req.model.as_deref().unwrap_or("text-embedding-3-small"),
            usage: EmbeddingUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            },
        },
    )
}

struct EmbeddingInput {
    seed: u64,
    tokens: u64,
}

/// A string, strings, a token array or token arrays; `None` when empty or malformed.
fn embedding_inputs(input: &Value) -> Option<Vec<EmbeddingInput>> {
    let text = |s: &str| EmbeddingInput {
        seed: fnv1a(s.as_bytes()),
        tokens: words(s),
    };
    let token_array = |items: &[Value]| -> Option<EmbeddingInput> {
        let mut bytes = Vec::with_capacity(items.len() * 8);
        for item in items {
            bytes.extend_from_slice(&item.as_u64()?.to_le_bytes());
        }
        Some(EmbeddingInput {
            seed: fnv1a(&bytes),
            tokens: items.len() as u64,
        })
    };
    let inputs = match input {
        Value::String(s) => vec![text(s)],
        Value::Array(items) if items.first().is_some_and(Value::is_number) => {
            vec![token_array(items)?]
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(text(s)),
                Value::Array(tokens) => token_array(tokens),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    (!inputs.is_empty()).then_some(inputs)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// xorshift64 noise scaled to unit length, like real embeddings.
fn unit_vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut x = seed | 1;
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|f| f * f).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|f| *f /= norm);
    }
    v
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: EmbeddingData,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingData {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// `GET .../models`.
pub(crate) fn models() -> Response {
    json_bytes(StatusCode::OK, Bytes::from_static(MODELS.as_bytes()))
}

/// An OpenAI error body: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    json_response(status, &body)
}

/// The error OpenAI sends for a status, for scripts that give only a status.
pub(crate) fn error_for_status(status: StatusCode, model: Option<&str>) -> Response {
    let model = model.unwrap_or(DEFAULT_MODEL);
    match status.as_u16() {
        401 => error(
            status,
            "Incorrect API key provided: sk-mock***. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        404 => error(
            status,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ),
        429 => error(
            status,
            &format!(
                "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s."
            ),
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        500..=599 => error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        _ => error(
            status,
            &format!("Mock error {}", status.as_u16()),
            "invalid_request_error",
            None,
            None,
        ),
    }
}

/// The 404 OpenAI sends for an unknown route.
pub(crate) fn unknown_route(method: &str, path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({method} {path})"),
        "invalid_request_error",
        None,
        None,
    )
}

/// The 400 OpenAI sends for a body that is not JSON.
pub(crate) fn unparsable_body() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        "invalid_request_error",
        None,
        None,
    )
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, Bytes::from(bytes)),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A JSON body with OpenAI's content type.
pub(crate) fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_leading_spaces() {
        assert_eq!(
            word_pieces(DEFAULT_REPLY),
            ["Hello", " from", " the", " mock", " provider."]
        );
        assert_eq!(word_pieces("  a\nb "), ["  a", "\nb", " "]);
        assert_eq!(char_chunks("{\"é\":12345678}", 8), ["{\"é\":123", "45678}"]);
        assert!(char_chunks("", 8).is_empty());
    }

    #[test]
    fn vectors_are_deterministic_unit_length() {
        let a = unit_vector(fnv1a(b"hello"), 16);
        assert_eq!(a, unit_vector(fnv1a(b"hello"), 16));
        assert_ne!(a, unit_vector(fnv1a(b"world"), 16));
        let norm: f32 = a.iter().map(|f| f * f).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}
