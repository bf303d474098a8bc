//! Ollama's error bodies to [`GatewayError`].
//!
//! Ollama answers `{"error": "<message>"}` with the status that fits (400 bad request, 404
//! unknown model, 429, 500, 502 when a runner dies); inside a stream the status stays 200 and
//! the same object arrives as a line. Proxies may wrap it as `{"error": {"message": ...}}`
//! or answer in plain text, which are read too.

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{GatewayError, UpstreamError};

use super::PROVIDER_NAME;

/// Turns a non-2xx response into the client-facing error.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let message = match serde_json::from_slice::<Value>(body) {
        Ok(v) => v
            .get("error")
            .and_then(message_of)
            .unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        message
    };
    let mut e = UpstreamError::new(status, PROVIDER_NAME, message);
    e.retry_after = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    GatewayError::Upstream(Box::new(e))
}

/// The `error` value of an object met in a 200 body or a stream line.
pub(super) fn error_from_value(status: u16, error: &Value) -> GatewayError {
    let message = message_of(error).unwrap_or_else(|| error.to_string());
    GatewayError::Upstream(Box::new(UpstreamError::new(status, PROVIDER_NAME, message)))
}

/// A string, or an object's `message`.
fn message_of(error: &Value) -> Option<String> {
    match error {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        _ => None,
    }
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
    fn error_strings_keep_their_status() {
        let e = parse_error(
            404,
            &HeaderMap::new(),
            br#"{"error":"model 'llama3.2' not found"}"#,
        );
        assert_eq!(
            e.to_string(),
            "litellm.NotFoundError: OllamaException - model 'llama3.2' not found"
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        let e = up(parse_error(
            429,
            &h,
            br#"{"error":{"message":"slow down"}}"#,
        ));
        assert_eq!(
            (e.class, e.message.as_str(), e.retry_after),
            (
                ErrorClass::RateLimit,
                "slow down",
                Some(Duration::from_secs(2))
            )
        );
        let e = up(parse_error(502, &HeaderMap::new(), b"upstream died\n"));
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::BadGateway, "upstream died")
        );
        let e = up(parse_error(500, &HeaderMap::new(), b""));
        assert_eq!(e.message, "HTTP 500 with an empty body");
        let e = up(parse_error(400, &HeaderMap::new(), br#"{"detail":1}"#));
        assert_eq!(e.message, r#"{"detail":1}"#);
    }
}
