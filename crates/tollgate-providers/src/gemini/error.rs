//! Google's error envelope to [`GatewayError`].
//!
//! `{"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}`, also
//! wrapped in a JSON array (`[{"error":{...}}]`) by streaming endpoints and some front ends.
//! `status` becomes the error type, `google.rpc.ErrorInfo.reason` the code, and
//! `google.rpc.RetryInfo.retryDelay` (`"34.4s"`) the retry hint. A bad API key is a 400
//! `INVALID_ARGUMENT` at Google; OpenAI clients expect a 401, which is what LiteLLM raises.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{GatewayError, UpstreamError};

/// Turns a non-2xx response into the client-facing error.
pub fn parse_error(
    provider: &'static str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> GatewayError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut e = match parsed.as_ref().and_then(envelope) {
        Some(inner) => upstream_from_error(provider, status, inner),
        None => {
            let text = match &parsed {
                // Some other JSON shape: show it rather than lose it.
                Some(v) => v.to_string(),
                None => String::from_utf8_lossy(body).trim().to_owned(),
            };
            let text = if text.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text
            };
            UpstreamError::new(status, provider, text)
        }
    };
    if e.retry_after.is_none() {
        e.retry_after = header_retry_after(headers);
    }
    GatewayError::Upstream(Box::new(e))
}

/// An error object met inside a stream or a 200 body; `default_status` applies when its
/// `code` is not an HTTP error status.
pub(super) fn error_from_value(
    provider: &'static str,
    default_status: u16,
    error: &Value,
) -> GatewayError {
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(default_status);
    GatewayError::Upstream(Box::new(upstream_from_error(provider, status, error)))
}

/// The inner `error` object of either envelope form.
fn envelope(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(o) => o.get("error").filter(|e| e.is_object()),
        Value::Array(items) => items
            .iter()
            .find_map(|i| i.get("error").filter(|e| e.is_object())),
        _ => None,
    }
}

fn upstream_from_error(provider: &'static str, status: u16, error: &Value) -> UpstreamError {
    let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
    let message = text("message")
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status}: {error}"));
    let details = error
        .get("details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let detail = |type_suffix: &str, field: &str| {
        details
            .iter()
            .filter(|d| {
                d.get("@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with(type_suffix))
            })
            .find_map(|d| d.get(field).and_then(Value::as_str))
            .map(str::to_owned)
    };
    let reason = detail("google.rpc.ErrorInfo", "reason");
    let bad_key =
        reason.as_deref() == Some("API_KEY_INVALID") || message.contains("API key not valid");
    let mut e = UpstreamError::new(if bad_key { 401 } else { status }, provider, message);
    e.error_type = text("status");
    e.code = reason.or_else(|| {
        error.get("code").map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    });
    e.retry_after = detail("google.rpc.RetryInfo", "retryDelay").and_then(|d| proto_duration(&d));
    e
}

/// A protobuf JSON duration (`"34.4s"`, `"12s"`).
fn proto_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.trim().strip_suffix('s')?.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

fn header_retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::ErrorClass;

    fn up(e: GatewayError) -> UpstreamError {
        match e {
            GatewayError::Upstream(u) => *u,
            other => panic!("not upstream: {other:?}"),
        }
    }

    #[test]
    fn quota_errors_carry_type_and_retry_delay() {
        let body = br#"{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
            "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}"#;
        let e = up(parse_error("VertexAI", 429, &HeaderMap::new(), body));
        assert_eq!(e.status, 429);
        assert_eq!(e.class, ErrorClass::RateLimit);
        assert_eq!(e.error_type.as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(e.code.as_deref(), Some("429"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(12)));
        assert_eq!(e.message, "You exceeded your current quota.");
    }

    #[test]
    fn the_array_form_and_odd_bodies_are_understood() {
        let body =
            br#"[{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}]"#;
        let e = up(parse_error("VertexAI", 404, &HeaderMap::new(), body));
        assert_eq!((e.status, e.class), (404, ErrorClass::NotFound));
        assert_eq!(e.message, "models/x is not found");
        let e = up(parse_error(
            "VertexAI",
            502,
            &HeaderMap::new(),
            b"<html>Bad Gateway</html>\n",
        ));
        assert_eq!(e.message, "<html>Bad Gateway</html>");
        assert_eq!(e.class, ErrorClass::BadGateway);
        let e = up(parse_error("VertexAI", 500, &HeaderMap::new(), b""));
        assert_eq!(e.message, "HTTP 500 with an empty body");
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        let e = up(parse_error("VertexAI", 503, &h, br#"{"unexpected":true}"#));
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.message, r#"{"unexpected":true}"#);
    }

    #[test]
    fn a_bad_key_is_an_authentication_error() {
        let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
            "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
        let e = up(parse_error("VertexAI", 400, &HeaderMap::new(), body));
        assert_eq!((e.status, e.class), (401, ErrorClass::Authentication));
        assert_eq!(e.code.as_deref(), Some("API_KEY_INVALID"));
        assert_eq!(e.error_type.as_deref(), Some("INVALID_ARGUMENT"));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(proto_duration("34.4s"), Some(Duration::from_secs_f64(34.4)));
        assert_eq!(proto_duration("0s"), Some(Duration::ZERO));
        assert_eq!(proto_duration("-1s"), None);
        assert_eq!(proto_duration("12"), None);
    }
}
