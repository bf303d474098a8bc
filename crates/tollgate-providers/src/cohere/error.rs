//! Cohere's error bodies to [`GatewayError`].
//!
//! Cohere answers errors with a flat body, `{"id": "<uuid>", "message": "..."}`, no `error`
//! wrapper; the status alone says what kind of error it is (400, 401, 402 payment required,
//! 404 unknown model, 422, 429 rate limit, 499 cancelled, 500, 503). Proxies in front of Cohere
//! may answer with `{"error": ...}` or plain text, which are read too.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{GatewayError, UpstreamError};

use super::PROVIDER_NAME;

/// Turns a non-2xx response into the client-facing error.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let message = match &parsed {
        Some(v) => message_of(v).unwrap_or_else(|| v.to_string()),
        None => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        message
    };
    let mut e = UpstreamError::new(status, PROVIDER_NAME, message);
    e.retry_after = retry_after(headers);
    GatewayError::Upstream(Box::new(e))
}

/// An error reported inside a stream (the status of the response was already 200).
pub(super) fn stream_error(status: u16, data: &Value) -> GatewayError {
    let message = message_of(data).unwrap_or_else(|| data.to_string());
    GatewayError::Upstream(Box::new(UpstreamError::new(status, PROVIDER_NAME, message)))
}

/// `message`, or `error` as a string or as `{"message": ...}`.
fn message_of(v: &Value) -> Option<String> {
    [
        v.get("message"),
        v.get("error"),
        v.get("error").and_then(|e| e.get("message")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|s| !s.is_empty())
    .map(str::to_owned)
}

/// `retry-after-ms`, else `retry-after` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    number("retry-after-ms")
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
        .or_else(|| number("retry-after").and_then(|s| Duration::try_from_secs_f64(s).ok()))
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
    fn flat_bodies_keep_status_and_message() {
        let e = parse_error(
            404,
            &HeaderMap::new(),
            br#"{"id":"x","message":"model 'nope' not found"}"#,
        );
        assert_eq!(
            e.to_string(),
            "litellm.NotFoundError: CohereException - model 'nope' not found"
        );
        let e = up(e);
        assert_eq!((e.status, e.class), (404, ErrorClass::NotFound));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        let e = up(parse_error(429, &h, br#"{"message":"trial key limit"}"#));
        assert_eq!(
            (e.class, e.retry_after),
            (ErrorClass::RateLimit, Some(Duration::from_secs(7)))
        );
        let e = up(parse_error(
            401,
            &HeaderMap::new(),
            br#"{"message":"invalid api token"}"#,
        ));
        assert_eq!(e.class, ErrorClass::Authentication);
        let e = up(parse_error(
            400,
            &HeaderMap::new(),
            br#"{"message":"too many tokens: total number of tokens in the prompt cannot exceed 128000"}"#,
        ));
        assert_eq!(e.class, ErrorClass::ContextWindowExceeded);
    }

    #[test]
    fn odd_bodies_are_still_readable() {
        let e = up(parse_error(
            502,
            &HeaderMap::new(),
            b"<html>bad gateway</html>\n",
        ));
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::BadGateway, "<html>bad gateway</html>")
        );
        let e = up(parse_error(500, &HeaderMap::new(), b""));
        assert_eq!(e.message, "HTTP 500 with an empty body");
        let e = up(parse_error(
            503,
            &HeaderMap::new(),
            br#"{"error":{"message":"down"}}"#,
        ));
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::ServiceUnavailable, "down")
        );
        let e = up(parse_error(402, &HeaderMap::new(), br#"{"other":1}"#));
        assert_eq!((e.status, e.message.as_str()), (402, r#"{"other":1}"#));
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(
            up(parse_error(429, &h, b"{}")).retry_after,
            Some(Duration::from_millis(1500))
        );
    }
}
