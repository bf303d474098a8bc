//! `POST /v1/chat/completions` and its aliases.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tollgate_core::{ChatCompletionRequest, GatewayError};
use tollgate_router::CallContext;

use super::{call_id, content_length, finish, json_from_call, timeout_header};
use crate::body::{CHAT, parse_json, read_limited};
use crate::headers;
use crate::state::AppState;

/// `/chat/completions` with the model in the body.
pub async fn chat(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, None, request).await
}

/// `/engines/{model}/chat/completions` and `/openai/deployments/{model}/chat/completions`:
/// the path's model overrides the body's.
pub async fn chat_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Some(model), request).await
}

async fn handle(state: Arc<AppState>, path_model: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    finish(&id, respond(&state, path_model, request, started).await)
}

async fn respond(
    state: &AppState,
    path_model: Option<String>,
    request: Request,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    state.auth.authenticate(&parts.headers, parts.uri.query())?;
    let bytes = read_limited(body, content_length(&parts.headers), state.max_body).await?;
    let mut req: ChatCompletionRequest = parse_json(&bytes, &CHAT)?;
    if let Some(model) = path_model {
        req.model = model;
    }
    if req.messages.is_empty() {
        return Err(GatewayError::invalid_request(
            "'messages' must contain at least one message",
            Some("messages".into()),
        ));
    }
    let ctx = CallContext {
        timeout: timeout_header(&parts.headers, "x-litellm-timeout")?,
        stream_timeout: timeout_header(&parts.headers, "x-litellm-stream-timeout")?,
        route: "/chat/completions",
    };
    if req.is_stream() {
        let stream = state.router.chat_stream(req, &ctx).await?;
        let info = stream.info.clone();
        let body = Body::from_stream(stream.into_sse().map(Ok::<_, Infallible>));
        let mut response = (StatusCode::OK, body).into_response();
        let h = response.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        headers::call(h, &info, started.elapsed());
        return Ok(response);
    }
    let out = state.router.chat_bytes(req, &ctx).await?;
    Ok(json_from_call(out.body, &out.info, started))
}
