//! Anthropic error bodies to [`GatewayError`].
//!
//! The envelope is `{"type":"error","error":{"type","message"},"request_id"}`. Over HTTP the
//! status is the response's; inside a stream (`event: error`, after a 200) there is none, so
//! it is derived from `error.type` (`overloaded_error` is 529, and so on), which keeps the
//! LiteLLM class and retryability the same whichever way the error arrived.

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{GatewayError, UpstreamError};

use super::PROVIDER_NAME;
use crate::openai::retry_after;

/// Turns a non-2xx Messages response into the client-facing error.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let mut e = match serde_json::from_slice::<Value>(body) {
        Ok(v) => upstream_from_json(Some(status), &v),
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            let message = if text.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text
            };
            UpstreamError::new(status, PROVIDER_NAME, message)
        }
    };
    e.retry_after = retry_after(headers);
    GatewayError::Upstream(Box::new(e))
}

/// An error body already parsed; `status` is `None` for a mid-stream error event.
pub(super) fn error_from_json(status: Option<u16>, v: &Value) -> GatewayError {
    GatewayError::Upstream(Box::new(upstream_from_json(status, v)))
}

fn upstream_from_json(status: Option<u16>, v: &Value) -> UpstreamError {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let (message, error_type) = match v.get("error") {
        Some(inner @ Value::Object(_)) => (
            text(inner.get("message")).unwrap_or_else(|| inner.to_string()),
            text(inner.get("type")),
        ),
        Some(Value::String(msg)) => (msg.clone(), None),
        _ => (
            text(v.get("message")).unwrap_or_else(|| v.to_string()),
            None,
        ),
    };
    let status = status.unwrap_or_else(|| status_for_type(error_type.as_deref()));
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty error message")
    } else {
        message
    };
    let mut e = UpstreamError::new(status, PROVIDER_NAME, message);
    e.error_type = error_type;
    e
}

/// The HTTP status Anthropic documents for each error type.
pub(super) fn status_for_type(error_type: Option<&str>) -> u16 {
    match error_type {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("billing_error") => 402,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("timeout_error") => 504,
        Some("overloaded_error") => 529,
        // api_error and anything unknown.
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tollgate_core::ErrorClass;

    fn up(e: GatewayError) -> UpstreamError {
        match e {
            GatewayError::Upstream(u) => *u,
            other => panic!("not upstream: {other:?}"),
        }
    }

    #[test]
    fn envelope_status_class_and_message() {
        let e = up(parse_error(
            529,
            &HeaderMap::new(),
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ));
        assert_eq!(e.status, 529);
        assert_eq!(e.class, ErrorClass::ServiceUnavailable);
        assert!(e.class.is_retryable());
        assert_eq!(e.message, "Overloaded");
        assert_eq!(e.error_type.as_deref(), Some("overloaded_error"));
        assert_eq!(e.provider, "Anthropic");

        let e = up(parse_error(
            400,
            &HeaderMap::new(),
            br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        ));
        assert_eq!(e.class, ErrorClass::ContextWindowExceeded);
    }

    #[test]
    fn midstream_errors_take_their_status_from_the_type() {
        for (ty, status, class) in [
            ("overloaded_error", 529, ErrorClass::ServiceUnavailable),
            ("rate_limit_error", 429, ErrorClass::RateLimit),
            ("api_error", 500, ErrorClass::InternalServer),
            ("invalid_request_error", 400, ErrorClass::BadRequest),
            ("authentication_error", 401, ErrorClass::Authentication),
            ("permission_error", 403, ErrorClass::PermissionDenied),
            ("not_found_error", 404, ErrorClass::NotFound),
            ("request_too_large", 413, ErrorClass::PayloadTooLarge),
            ("billing_error", 402, ErrorClass::BadRequest),
            ("timeout_error", 408, ErrorClass::Timeout),
            ("something_new", 500, ErrorClass::InternalServer),
        ] {
            let v = serde_json::json!({"type": "error", "error": {"type": ty, "message": "m"}});
            let e = up(error_from_json(None, &v));
            assert_eq!((e.status, e.class), (status, class), "{ty}");
        }
    }

    #[test]
    fn odd_bodies_and_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "12".parse().unwrap());
        let e = up(parse_error(429, &h, b""));
        assert_eq!(e.message, "HTTP 429 with an empty body");
        assert_eq!(e.retry_after, Some(Duration::from_secs(12)));
        let e = up(parse_error(
            502,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        ));
        assert_eq!(e.message, "<html>bad gateway</html>");
        let e = up(parse_error(
            500,
            &HeaderMap::new(),
            br#"{"error":"plain string"}"#,
        ));
        assert_eq!(e.message, "plain string");
        let e = up(parse_error(500, &HeaderMap::new(), b"[]"));
        assert_eq!(e.message, "[]");
    }
}
