//! Route handlers, one file per family of routes.

pub mod chat;
pub mod embeddings;
pub mod health;
pub mod models;

use std::time::Duration;

use axum::http::HeaderMap;
use tollgate_core::GatewayError;

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
