//! The Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`,
//! answered natively by Claude deployments and through the chat bridge by every other model.
//! Errors on these routes use Anthropic's shape, which the `anthropic` SDK and Claude Code
//! parse: `{"type":"error","error":{"type","message"}}`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::{Map, Value, json};
use tollgate_bridge::messages::{
    BridgeOptions, MessagesRequest, MessagesStreamEncoder, count_input_tokens, error_body,
    from_chat_response, new_id, to_chat_request,
};
use tollgate_core::{ChatCompletionChunk, ChatCompletionResponse, GatewayError};
use tollgate_router::{CallContext, MessagesCall, NativeMessages};

use super::{Attempt, sse_response};
use super::{
    admit_as, call_context, call_id, end_user, failed, json_from_call, settle_chat_stream,
    settle_stream, settled, tags,
};
use crate::accounting::{Admission, CallSpec};
use crate::body::{MESSAGES, parse_json};
use crate::headers;
use crate::state::AppState;

/// `POST /v1/messages`.
pub async fn create(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    let mut attempt = Attempt::default();
    let result = respond(&state, request, started, false, &id, &mut attempt).await;
    if let Err(e) = &result {
        attempt.refused(&state, &id, "anthropic_messages", e);
    }
    finish(&id, result)
}

/// `POST /v1/messages/count_tokens`: Anthropic counts for Anthropic deployments; for other
/// models the gateway estimates.
pub async fn count_tokens(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    // Counting tokens calls no model: it writes no spend row, refused or not.
    let mut attempt = Attempt::default();
    finish(
        &id,
        respond(&state, request, started, true, &id, &mut attempt).await,
    )
}

/// The response for a result, errors in Anthropic's shape.
fn finish(call_id: &str, result: Result<Response, GatewayError>) -> Response {
    let mut response = result.unwrap_or_else(|e| error_response(&e));
    headers::common(response.headers_mut(), call_id);
    response
}

fn error_response(e: &GatewayError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), error = %e, "request failed");
    } else {
        tracing::debug!(status = status.as_u16(), error = %e, "request refused");
    }
    let body = serde_json::to_vec(&error_body(e)).unwrap_or_default();
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(after) = e.retry_after() {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            h.insert(http::header::RETRY_AFTER, v);
        }
    }
    response
}

/// The client's `anthropic-beta` flags, every header occurrence, comma lists split.
fn betas(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("anthropic-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn respond(
    state: &AppState,
    request: Request,
    started: Instant,
    count_tokens: bool,
    call_id: &str,
    attempt: &mut Attempt,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let (identity, bytes) = attempt.authenticate_and_read(state, &parts, body).await?;
    let body: Map<String, Value> = parse_json(&bytes, &MESSAGES)?;
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return Err(GatewayError::invalid_request(
            "model: Field required",
            Some("model".into()),
        ));
    }
    let ctx = call_context(
        &parts.headers,
        if count_tokens {
            "/v1/messages/count_tokens"
        } else {
            "/v1/messages"
        },
    )?;
    // Token counting is free; a model call is admitted (key access, budgets, limits) and its
    // spend recorded, whichever path serves it.
    let mut admission = if count_tokens {
        None
    } else {
        let metadata = body.get("metadata").and_then(Value::as_object);
        let spec = CallSpec {
            call_id: call_id.to_owned(),
            call_type: "anthropic_messages",
            model: model.to_owned(),
            end_user: end_user(
                &parts.headers,
                metadata
                    .and_then(|m| m.get("user_id"))
                    .and_then(Value::as_str),
            ),
            tags: tags(metadata, body.get("tags")),
            metadata: metadata.cloned().map(Value::Object),
            prompt_bytes: bytes.len(),
            max_output_tokens: body.get("max_tokens").and_then(Value::as_u64),
            units: None,
        };
        match admit_as(state, attempt, &identity, spec, |e| error_response(&e)).await {
            Ok(a) => a,
            Err(refused) => return Ok(*refused),
        }
    };
    let result = call(
        state,
        &parts.headers,
        body,
        &bytes,
        &ctx,
        count_tokens,
        started,
        &mut admission,
    )
    .await;
    if let Err(e) = &result {
        failed(admission.take(), e);
    }
    result
}

/// Serves an admitted Messages call; takes `admission` when it settles it (or hands it to the
/// stream that will).
#[allow(clippy::too_many_arguments)]
async fn call(
    state: &AppState,
    headers: &HeaderMap,
    body: Map<String, Value>,
    bytes: &Bytes,
    ctx: &CallContext,
    count_tokens: bool,
    started: Instant,
    admission: &mut Option<Admission>,
) -> Result<Response, GatewayError> {
    let native = NativeMessages {
        body: body.clone(),
        betas: betas(headers),
        count_tokens,
    };
    let (claude, bridge_model) = match state.router.messages_native(native, ctx).await? {
        MessagesCall::Done(out) => {
            let mut response = json_from_call(out.body, &out.info, started);
            settled(
                admission.take(),
                &mut response,
                out.usage.as_ref(),
                &out.info,
            );
            return Ok(response);
        }
        MessagesCall::Stream(stream) => {
            let info = stream.info.clone();
            let (usage, events) = stream.into_events();
            let events = settle_stream(admission.take(), info.clone(), usage, events);
            let frames = events.map(|item| match item {
                Ok(frame) => frame,
                Err(e) => error_frame(&e),
            });
            return Ok(sse_response(
                Body::from_stream(frames.map(Ok::<_, Infallible>)),
                &info,
                started,
            ));
        }
        MessagesCall::Bridge { claude, model } => (claude, model),
    };
    // Typed once the chat path is needed; a type error is diagnosed on the original bytes.
    let req: MessagesRequest = serde_json::from_value(Value::Object(body)).map_err(|_| {
        match parse_json::<MessagesRequest>(bytes, &MESSAGES) {
            Err(e) => e,
            Ok(_) => GatewayError::invalid_request("invalid Messages request", None),
        }
    })?;
    if count_tokens {
        // Counted with a real BPE tokenizer (tiktoken's for the model, else o200k): exact for
        // OpenAI models, a close estimate for the rest.
        let n = count_input_tokens(&req, &|text| {
            tollgate_router::tokens::count_text_tokens(&req.model, text) as u64
        });
        let mut response = axum::Json(json!({ "input_tokens": n })).into_response();
        response.headers_mut().insert(
            "x-tollgate-token-count",
            HeaderValue::from_static("estimate"),
        );
        return Ok(response);
    }
    let opts = BridgeOptions {
        keep_cache_control: claude,
        drop_params: state.router.drop_params()
            || req.extra.get("drop_params") == Some(&Value::Bool(true)),
    };
    let mut chat = to_chat_request(&req, opts)?;
    if let Some(group) = bridge_model {
        chat.model = group;
    }
    let id = new_id("msg");
    if req.is_stream() {
        let stream = state.router.chat_stream(chat, ctx).await?;
        let info = stream.info.clone();
        let stream = settle_chat_stream(stream, admission.take());
        let mut encoder = MessagesStreamEncoder::new(id, req.model.clone());
        let pending: VecDeque<Bytes> = encoder.start().into();
        let events = EventStream {
            chunks: Box::pin(stream.into_chunks()),
            encoder,
            pending,
            done: false,
        };
        let body = Body::from_stream(events.into_stream().map(Ok::<_, Infallible>));
        return Ok(sse_response(body, &info, started));
    }
    let out = state.router.chat_bytes(chat, ctx).await?;
    let answer: ChatCompletionResponse =
        serde_json::from_slice(&out.body).map_err(|e| GatewayError::InvalidUpstreamResponse {
            provider: out.info.provider.clone(),
            message: e.to_string(),
        })?;
    let message = from_chat_response(&answer, &req.model, &id);
    let mut response = axum::Json(message).into_response();
    headers::call(response.headers_mut(), &out.info, started.elapsed());
    settled(
        admission.take(),
        &mut response,
        out.usage.as_ref(),
        &out.info,
    );
    Ok(response)
}

/// Anthropic's `error` event.
fn error_frame(e: &GatewayError) -> Bytes {
    let json = serde_json::to_vec(&error_body(e)).unwrap_or_default();
    let mut b = BytesMut::with_capacity(json.len() + 24);
    b.put_slice(b"event: error\ndata: ");
    b.put_slice(&json);
    b.put_slice(b"\n\n");
    b.freeze()
}

type Chunks = Pin<Box<dyn Stream<Item = Result<ChatCompletionChunk, GatewayError>> + Send>>;

/// Drives the encoder from the router's chunks.
struct EventStream {
    chunks: Chunks,
    encoder: MessagesStreamEncoder,
    pending: VecDeque<Bytes>,
    done: bool,
}

impl EventStream {
    fn into_stream(self) -> impl Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(self, |mut s| async move {
            loop {
                if let Some(frame) = s.pending.pop_front() {
                    return Some((frame, s));
                }
                if s.done {
                    return None;
                }
                match s.chunks.next().await {
                    Some(Ok(chunk)) => s.pending.extend(s.encoder.push(&chunk)),
                    Some(Err(e)) => {
                        s.pending.extend(s.encoder.fail(&e));
                        s.done = true;
                    }
                    None => {
                        s.pending.extend(s.encoder.finish());
                        s.done = true;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn betas_split_and_trimmed() {
        let mut h = HeaderMap::new();
        h.append("anthropic-beta", HeaderValue::from_static("a-1, b-2"));
        h.append("anthropic-beta", HeaderValue::from_static("c-3"));
        assert_eq!(betas(&h), vec!["a-1", "b-2", "c-3"]);
    }

    #[test]
    fn errors_are_anthropic_shaped_with_status() {
        let r = error_response(&GatewayError::Authentication {
            message: "bad key".into(),
        });
        assert_eq!(r.status(), 401);
        let e = error_frame(&GatewayError::Internal("x".into()));
        let text = std::str::from_utf8(&e).unwrap();
        assert!(text.starts_with("event: error\ndata: {\"type\":\"error\""));
    }
}
