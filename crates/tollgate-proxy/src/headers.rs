//! LiteLLM's response headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tollgate_router::{Attempts, CallInfo};

/// Headers every response carries.
pub fn common(headers: &mut HeaderMap, call_id: &str) {
    set(headers, "x-litellm-call-id", call_id);
    headers.insert(
        HeaderName::from_static("x-litellm-version"),
        HeaderValue::from_static(tollgate_core::VERSION),
    );
}

/// Headers naming the deployment that served the call, and the time the gateway itself took.
pub fn call(headers: &mut HeaderMap, info: &CallInfo, total: Duration) {
    set(headers, "x-litellm-model-id", &info.deployment_id);
    set(headers, "x-litellm-model-group", &info.model_group);
    set(headers, "x-litellm-model-api-base", &info.api_base);
    attempts(headers, &info.attempts);
    let overhead = total.saturating_sub(info.upstream);
    set(
        headers,
        "x-litellm-response-duration-ms",
        &format!("{:.3}", total.as_secs_f64() * 1000.0),
    );
    set(
        headers,
        "x-litellm-overhead-duration-ms",
        &format!("{:.3}", overhead.as_secs_f64() * 1000.0),
    );
}

/// LiteLLM's retry and fallback headers, on answers and on errors alike.
pub fn attempts(headers: &mut HeaderMap, a: &Attempts) {
    set(
        headers,
        "x-litellm-attempted-retries",
        &a.attempted_retries.to_string(),
    );
    set(headers, "x-litellm-max-retries", &a.max_retries.to_string());
    set(
        headers,
        "x-litellm-attempted-fallbacks",
        &a.attempted_fallbacks.to_string(),
    );
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if value.is_empty() {
        return;
    }
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}
