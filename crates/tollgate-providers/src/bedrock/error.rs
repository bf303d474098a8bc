//! Bedrock exceptions to [`GatewayError`].
//!
//! Over HTTP the body is `{"message": "..."}` (sometimes `Message`) and the exception type is
//! in the `x-amzn-ErrorType` header (`ValidationException:http://internal.amazon.com/...`),
//! or in a JSON-1.1 style `__type` (`com.amazon.coral.service#ThrottlingException`). Inside a
//! stream an exception frame names its type in `:exception-type` (`throttlingException`). A
//! known type decides status and class the same way both ways, so retries behave the same
//! whichever way the error arrived; an unknown type keeps the HTTP status.

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{ErrorClass, GatewayError, UpstreamError};

use super::PROVIDER_NAME;
use crate::openai::retry_after;

/// Turns a non-2xx Bedrock response into the client-facing error.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let header_type = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.split(':').next().unwrap_or(t).trim().to_owned())
        .filter(|t| !t.is_empty());
    let body_type = parsed
        .as_ref()
        .and_then(|v| v.get("__type"))
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                format!("HTTP {status} with an empty body")
            } else {
                text
            }
        });
    let mut e = upstream(header_type.or(body_type), Some(status), message);
    e.retry_after = retry_after(headers);
    GatewayError::Upstream(Box::new(e))
}

/// A modeled exception frame of a stream (`:message-type: exception`).
pub(super) fn exception_error(exception_type: &str, payload: &[u8]) -> GatewayError {
    let message = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(payload).trim().to_owned());
    let message = if message.is_empty() {
        format!("{exception_type} with no message")
    } else {
        message
    };
    GatewayError::Upstream(Box::new(upstream(
        Some(exception_type.to_owned()),
        None,
        message,
    )))
}

/// An unmodeled error frame (`:message-type: error`, code and message in headers).
pub(super) fn unmodeled_error(code: &str, message: &str) -> GatewayError {
    let message = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    GatewayError::Upstream(Box::new(upstream(Some(code.to_owned()), None, message)))
}

fn upstream(
    error_type: Option<String>,
    http_status: Option<u16>,
    message: String,
) -> UpstreamError {
    let known = error_type.as_deref().and_then(status_for_type);
    let status = known.or(http_status.filter(|s| *s >= 400)).unwrap_or(500);
    let mut e = UpstreamError::new(status, PROVIDER_NAME, message);
    if status == 400 && is_context_window(&e.message) {
        e.class = ErrorClass::ContextWindowExceeded;
    }
    e.error_type = error_type;
    e
}

/// The status Bedrock's service model gives each exception (matched without case: stream
/// frames use camelCase). `ModelNotReadyException` is reported as 503 rather than the
/// documented 429: the model is loading, which is unavailability, not a client's rate.
fn status_for_type(error_type: &str) -> Option<u16> {
    let t = error_type.to_ascii_lowercase();
    Some(match t.strip_suffix("exception").unwrap_or(&t) {
        "validation" | "servicequotaexceeded" => 400,
        "accessdenied" => 403,
        "resourcenotfound" => 404,
        "modeltimeout" => 408,
        "conflict" => 409,
        "modelerror" | "modelstreamerror" => 424,
        "throttling" => 429,
        "internalserver" | "internalfailure" => 500,
        "serviceunavailable" | "modelnotready" => 503,
        _ => return None,
    })
}

/// Bedrock's ways of saying the prompt does not fit (Claude, Titan, Llama, Nova, Mistral),
/// besides the phrases the shared classifier knows.
fn is_context_window(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("input is too long")
        || m.contains("too many input tokens")
        || m.contains("too many tokens")
        || m.contains("prompt is too long")
        || m.contains("context window")
        || m.contains("context length")
        || m.contains("maximum context")
        || m.contains("exceeds the maximum number of tokens")
        || (m.contains("max_tokens") && m.contains("exceed") && m.contains("context"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn up(e: GatewayError) -> UpstreamError {
        match e {
            GatewayError::Upstream(u) => *u,
            other => panic!("not upstream: {other:?}"),
        }
    }

    fn with_type(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-ErrorType",
            format!("{t}:http://internal.amazon.com/coral/com.amazon.bedrock/")
                .parse()
                .unwrap(),
        );
        h
    }

    #[test]
    fn header_type_decides_status_and_class() {
        for (t, http, status, class) in [
            ("ThrottlingException", 429, 429, ErrorClass::RateLimit),
            ("ValidationException", 400, 400, ErrorClass::BadRequest),
            (
                "AccessDeniedException",
                403,
                403,
                ErrorClass::PermissionDenied,
            ),
            ("ResourceNotFoundException", 404, 404, ErrorClass::NotFound),
            ("ModelTimeoutException", 408, 408, ErrorClass::Timeout),
            (
                "ServiceUnavailableException",
                503,
                503,
                ErrorClass::ServiceUnavailable,
            ),
            (
                "ModelNotReadyException",
                429,
                503,
                ErrorClass::ServiceUnavailable,
            ),
            (
                "InternalServerException",
                500,
                500,
                ErrorClass::InternalServer,
            ),
            (
                "UnrecognizedClientException",
                403,
                403,
                ErrorClass::PermissionDenied,
            ),
        ] {
            let e = up(parse_error(http, &with_type(t), br#"{"message":"m"}"#));
            assert_eq!((e.status, e.class), (status, class), "{t}");
            assert_eq!(e.error_type.as_deref(), Some(t));
            assert_eq!(e.provider, "Bedrock");
        }
    }

    #[test]
    fn body_type_message_casing_and_context_window() {
        let e = up(parse_error(
            400,
            &HeaderMap::new(),
            br#"{"__type":"com.amazon.coral.service#ThrottlingException","Message":"slow down"}"#,
        ));
        assert_eq!((e.status, e.class), (429, ErrorClass::RateLimit));
        assert_eq!(e.message, "slow down");
        let e = up(parse_error(
            400,
            &with_type("ValidationException"),
            br#"{"message":"Input is too long for requested model."}"#,
        ));
        assert_eq!(e.class, ErrorClass::ContextWindowExceeded);
        let mut h = with_type("ThrottlingException");
        h.insert("retry-after", "3".parse().unwrap());
        let e = up(parse_error(429, &h, b""));
        assert_eq!(e.message, "HTTP 429 with an empty body");
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = up(parse_error(
            502,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        ));
        assert_eq!(
            (e.status, e.message.as_str()),
            (502, "<html>bad gateway</html>")
        );
    }

    #[test]
    fn stream_exception_types_map_like_http_ones() {
        for (t, status) in [
            ("throttlingException", 429),
            ("validationException", 400),
            ("internalServerException", 500),
            ("serviceUnavailableException", 503),
            ("modelStreamErrorException", 424),
            ("somethingNew", 500),
        ] {
            let e = up(exception_error(t, br#"{"message":"x"}"#));
            assert_eq!(e.status, status, "{t}");
        }
        let e = up(exception_error("throttlingException", b""));
        assert_eq!(e.message, "throttlingException with no message");
    }
}
