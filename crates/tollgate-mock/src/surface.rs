//! Default responders for the rest of the OpenAI surface and Cohere's rerank, in each API's
//! wire format: legacy completions (plain and streamed), image generation, audio transcription
//! (multipart in) and speech (binary out), moderations, `POST /v2/rerank` and the Responses
//! API (plain and streamed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::openai::{DEFAULT_MODEL, DEFAULT_REPLY, json_bytes};
use crate::{base64, sse};

/// The answer for one of these routes, or `None` when `path` is not one of them.
pub(crate) fn respond(
    method: &Method,
    path: &str,
    body: &[u8],
    next_id: &AtomicU64,
) -> Option<Response> {
    if let Some((_, rest)) = path.split_once("/responses/") {
        return stored_response(method, rest);
    }
    if *method != Method::POST || path.ends_with("/chat/completions") {
        return None;
    }
    let seq = || next_id.fetch_add(1, Ordering::Relaxed);
    let json = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    if path.ends_with("/completions") {
        Some(completions(&json(), seq()))
    } else if path.ends_with("/images/generations") {
        Some(images(&json()))
    } else if path.ends_with("/audio/transcriptions") {
        Some(transcription(body))
    } else if path.ends_with("/audio/speech") {
        Some(speech(&json()))
    } else if path.ends_with("/moderations") {
        Some(moderations(&json(), seq()))
    } else if path.ends_with("/rerank") {
        Some(rerank(&json(), seq()))
    } else if path.ends_with("/responses") {
        Some(responses(&json(), seq()))
    } else {
        None
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn model_of(v: &Value) -> &str {
    v.get("model")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn ok_json(v: &Value) -> Response {
    json_bytes(StatusCode::OK, Bytes::from(v.to_string()))
}

fn sse_response(events: Vec<Bytes>) -> Response {
    let mut resp = Response::new(sse::body(events));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(sse::CONTENT_TYPE),
    );
    resp
}

fn data(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// `POST /v1/completions`: the default reply as text, streamed word by word on `stream`.
fn completions(req: &Value, seq: u64) -> Response {
    let prompt = match req.get("prompt") {
        Some(Value::String(s)) => words(s),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(words).sum(),
        _ => 0,
    };
    let completion = words(DEFAULT_REPLY);
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion});
    let id = format!("cmpl-mock{seq}");
    let created = unix_now();
    let model = model_of(req);
    if req.get("stream") == Some(&Value::Bool(true)) {
        let mut events: Vec<Bytes> = DEFAULT_REPLY
            .split_inclusive(' ')
            .map(|w| {
                data(
                    &json!({"id": id, "object": "text_completion", "created": created,
                    "model": model, "choices": [{"text": w, "index": 0, "logprobs": null,
                    "finish_reason": null}]}),
                )
            })
            .collect();
        events.push(data(
            &json!({"id": id, "object": "text_completion", "created": created,
            "model": model, "choices": [{"text": "", "index": 0, "logprobs": null,
            "finish_reason": "stop"}]}),
        ));
        if req.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)) {
            events.push(data(&json!({"id": id, "object": "text_completion",
                "created": created, "model": model, "choices": [], "usage": usage})));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        return sse_response(events);
    }
    ok_json(&json!({
        "id": id, "object": "text_completion", "created": created, "model": model,
        "choices": [{"text": DEFAULT_REPLY, "index": 0, "logprobs": null, "finish_reason": "stop"}],
        "usage": usage,
    }))
}

/// A 1x1 transparent PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

/// `POST /v1/images/generations`: `n` images as URLs or base64 PNGs.
fn images(req: &Value) -> Response {
    let n = req.get("n").and_then(Value::as_u64).unwrap_or(1).min(10);
    let b64 = req.get("response_format").and_then(Value::as_str) == Some("b64_json");
    let prompt = req
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if b64 {
                json!({"b64_json": base64::encode(PNG), "revised_prompt": prompt})
            } else {
                json!({"url": format!("https://images.mock.invalid/{i}.png"), "revised_prompt": prompt})
            }
        })
        .collect();
    ok_json(&json!({"created": unix_now(), "data": data}))
}

/// The value of a text field of a multipart body (enough for a mock: no nested forms),
/// searched as bytes so binary file parts around it do not matter.
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let needle = format!("name=\"{name}\"");
    let at = memchr_find(body, needle.as_bytes())?;
    let rest = &body[at..];
    let start = memchr_find(rest, b"\r\n\r\n")? + 4;
    let value = &rest[start..];
    let end = memchr_find(value, b"\r\n").unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).ok()
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `POST /v1/audio/transcriptions`: the default reply in the requested `response_format`.
fn transcription(body: &[u8]) -> Response {
    if memchr_find(body, b"name=\"file\"").is_none() {
        return crate::openai::error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'file'.",
            "invalid_request_error",
            Some("file"),
            None,
        );
    }
    match form_field(body, "response_format").unwrap_or("json") {
        "text" => text(DEFAULT_REPLY, "text/plain; charset=utf-8"),
        "srt" => text(
            &format!("1\n00:00:00,000 --> 00:00:01,500\n{DEFAULT_REPLY}\n\n"),
            "text/plain; charset=utf-8",
        ),
        "vtt" => text(
            &format!("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n{DEFAULT_REPLY}\n\n"),
            "text/plain; charset=utf-8",
        ),
        "verbose_json" => ok_json(&json!({
            "task": "transcribe", "language": "english", "duration": 1.5, "text": DEFAULT_REPLY,
            "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": DEFAULT_REPLY,
                "tokens": [], "temperature": 0.0, "avg_logprob": -0.1,
                "compression_ratio": 1.0, "no_speech_prob": 0.0}],
        })),
        _ => ok_json(&json!({"text": DEFAULT_REPLY, "usage": {"type": "duration", "seconds": 2}})),
    }
}

fn text(body: &str, content_type: &'static str) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body.to_owned()));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `POST /v1/audio/speech`: deterministic bytes (an ID3 header, then one byte per input
/// character), sent in several chunks as a real audio stream is.
fn speech(req: &Value) -> Response {
    let input = req.get("input").and_then(Value::as_str).unwrap_or_default();
    let mut audio = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    audio.extend(input.bytes().map(|b| b.wrapping_mul(31)));
    let pieces: Vec<Bytes> = audio.chunks(16).map(Bytes::copy_from_slice).collect();
    let content_type = match req.get("response_format").and_then(Value::as_str) {
        Some("wav") => "audio/wav",
        Some("opus") => "audio/ogg",
        Some("flac") => "audio/flac",
        Some("pcm") => "audio/pcm",
        _ => "audio/mpeg",
    };
    let mut resp = Response::new(sse::body(pieces));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `POST /v1/moderations`: one unflagged result per input.
fn moderations(req: &Value, seq: u64) -> Response {
    let inputs = match req.get("input") {
        Some(Value::Array(a)) => a.len().max(1),
        _ => 1,
    };
    let categories = ["harassment", "hate", "self-harm", "sexual", "violence"];
    let result = json!({
        "flagged": false,
        "categories": categories.iter().map(|c| (c.to_string(), Value::Bool(false))).collect::<serde_json::Map<_, _>>(),
        "category_scores": categories.iter().map(|c| (c.to_string(), json!(0.0001))).collect::<serde_json::Map<_, _>>(),
    });
    ok_json(&json!({
        "id": format!("modr-mock{seq}"),
        "model": req.get("model").and_then(Value::as_str).unwrap_or("omni-moderation-latest"),
        "results": vec![result; inputs],
    }))
}

/// Cohere `POST /v2/rerank`: documents scored by how many query words they contain.
fn rerank(req: &Value, seq: u64) -> Response {
    let query: Vec<String> = req
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let docs: Vec<String> = req
        .get("documents")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|x| match x {
                    Value::String(s) => s.clone(),
                    other => other
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut scored: Vec<(usize, f64)> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let lower = d.to_lowercase();
            let hits = query.iter().filter(|w| lower.contains(w.as_str())).count();
            (i, (hits as f64 + 1.0) / (query.len() as f64 + 2.0))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(n) = req.get("top_n").and_then(Value::as_u64) {
        scored.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    let results: Vec<Value> = scored
        .iter()
        .map(|(i, s)| json!({"index": i, "relevance_score": s}))
        .collect();
    ok_json(&json!({
        "id": format!("rerank-mock{seq}"),
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }))
}

/// `POST /v1/responses`: the default reply as a Responses object, or its event stream.
fn responses(req: &Value, seq: u64) -> Response {
    let id = format!("resp_mock{seq}");
    let msg_id = format!("msg_mock{seq}");
    let model = model_of(req);
    let input_tokens = match req.get("input") {
        Some(Value::String(s)) => words(s),
        Some(other) => words(&other.to_string()),
        None => 0,
    };
    let output_tokens = words(DEFAULT_REPLY);
    let usage = json!({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens});
    let message = json!({"id": msg_id, "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": DEFAULT_REPLY, "annotations": []}]});
    let object = |status: &str, output: Value, usage: Value| {
        json!({"id": id, "object": "response", "created_at": unix_now(), "status": status,
            "model": model, "output": output, "usage": usage,
            "previous_response_id": req.get("previous_response_id").cloned().unwrap_or(Value::Null),
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}}})
    };
    if req.get("stream") != Some(&Value::Bool(true)) {
        return ok_json(&object("completed", json!([message]), usage));
    }
    let event = |name: &str, mut v: Value, n: usize| {
        if let Some(o) = v.as_object_mut() {
            o.insert("type".into(), Value::String(name.to_owned()));
            o.insert("sequence_number".into(), json!(n));
        }
        Bytes::from(format!("event: {name}\ndata: {v}\n\n"))
    };
    let empty = json!({"id": msg_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
    let part = json!({"type": "output_text", "text": "", "annotations": []});
    let mut events = vec![
        event(
            "response.created",
            json!({"response": object("in_progress", json!([]), Value::Null)}),
            0,
        ),
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": empty}),
            1,
        ),
        event(
            "response.content_part.added",
            json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "part": part}),
            2,
        ),
    ];
    for w in DEFAULT_REPLY.split_inclusive(' ') {
        let n = events.len();
        events.push(event(
            "response.output_text.delta",
            json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "delta": w}),
            n,
        ));
    }
    let n = events.len();
    events.push(event(
        "response.output_text.done",
        json!({"item_id": msg_id, "output_index": 0, "content_index": 0, "text": DEFAULT_REPLY}),
        n,
    ));
    events.push(event(
        "response.content_part.done",
        json!({"item_id": msg_id, "output_index": 0, "content_index": 0,
        "part": {"type": "output_text", "text": DEFAULT_REPLY, "annotations": []}}),
        n + 1,
    ));
    events.push(event(
        "response.output_item.done",
        json!({"output_index": 0, "item": message}),
        n + 2,
    ));
    events.push(event(
        "response.completed",
        json!({"response": object("completed", json!([message]), usage)}),
        n + 3,
    ));
    sse_response(events)
}

/// `GET`/`DELETE /v1/responses/{id}`, `GET .../input_items`, `POST .../cancel`: the mock
/// keeps nothing, so any `resp_mock*` id exists (as a completed default reply) and every other
/// id is not found, in OpenAI's error shape.
fn stored_response(method: &Method, rest: &str) -> Option<Response> {
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !id.starts_with("resp_mock") {
        return Some(crate::openai::error(
            StatusCode::NOT_FOUND,
            &format!("Response with id '{id}' not found."),
            "invalid_request_error",
            None,
            None,
        ));
    }
    let resp = match (method.as_str(), tail) {
        ("GET", "") => {
            let mut v = json!({"id": id, "object": "response", "created_at": unix_now(),
                "status": "completed", "model": DEFAULT_MODEL, "output": [{"id": "msg_mock", "type": "message",
                "status": "completed", "role": "assistant", "content": [{"type": "output_text",
                "text": DEFAULT_REPLY, "annotations": []}]}], "parallel_tool_calls": true,
                "tool_choice": "auto", "tools": []});
            if let Some(o) = v.as_object_mut() {
                o.insert("usage".into(), Value::Null);
            }
            ok_json(&v)
        }
        ("DELETE", "") => {
            ok_json(&json!({"id": id, "object": "response.deleted", "deleted": true}))
        }
        ("GET", "input_items") => ok_json(&json!({"object": "list", "data": [], "first_id": null,
            "last_id": null, "has_more": false})),
        ("POST", "cancel") => crate::openai::error(
            StatusCode::BAD_REQUEST,
            "Only responses created with background=true can be cancelled",
            "invalid_request_error",
            None,
            None,
        ),
        _ => return None,
    };
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_found_around_binary_parts() {
        let mut body = b"--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n\xff\xfe\r\n".to_vec();
        body.extend_from_slice(b"--X\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\ntext\r\n--X--\r\n");
        assert_eq!(form_field(&body, "response_format"), Some("text"));
        assert_eq!(form_field(&body, "language"), None);
    }
}
