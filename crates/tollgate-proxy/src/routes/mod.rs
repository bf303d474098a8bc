//! Route handlers, one file per family of routes.

pub mod chat;
pub mod embeddings;
pub mod health;
pub mod messages;
pub mod models;
pub mod responses;

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tollgate_core::GatewayError;
use tollgate_router::CallInfo;

use crate::error::ApiError;
use crate::headers;

/// The response for a handler's result, with the headers every response carries.
pub(crate) fn finish(call_id: &str, result: Result<Response, GatewayError>) -> Response {
    let mut response = result.unwrap_or_else(|e| ApiError(e).into_response());
    headers::common(response.headers_mut(), call_id);
    response
}

/// A `200` JSON body from a deployment, with the call's headers.
pub(crate) fn json_from_call(body: Bytes, info: &CallInfo, started: Instant) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers::call(h, info, started.elapsed());
    response
}

/// A timeout header (`x-litellm-timeout`), in seconds.
pub(crate) fn timeout_header(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Duration>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default();
    tollgate_router::seconds(&serde_json::Value::String(text.to_owned()), name).map(Some)
}

/// The call id: the client's own `x-litellm-call-id`, or a new UUID.
pub(crate) fn call_id(headers: &HeaderMap) -> String {
    headers
        .get("x-litellm-call-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Declared `content-length`, if any.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
