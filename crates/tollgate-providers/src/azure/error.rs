//! Azure error bodies to [`GatewayError`].
//!
//! Azure uses OpenAI's envelope, so [`crate::openai::parse_error`] reads it; on top of that a
//! content-filter refusal (`code: content_filter`, `innererror.code:
//! ResponsibleAIPolicyViolation`) is a `ContentPolicyViolationError` whatever its message says
//! (LiteLLM routes those to content-policy fallbacks), and a 429 without retry headers still
//! gets the wait Azure writes in its message ("Please retry after 6 seconds").

use std::time::Duration;

use http::HeaderMap;
use serde_json::{Map, Value};
use tollgate_core::{ErrorClass, GatewayError};

use crate::openai;

/// Turns a non-2xx Azure response into the client-facing error.
pub fn parse_error(
    provider: &'static str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> GatewayError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    refine(
        openai::parse_error(provider, status, headers, body),
        parsed.as_ref(),
    )
}

/// What LiteLLM returns beside a content-filter error as `provider_specific_fields`:
/// `{"innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {...}}}`.
/// `None` when the body carries no `innererror`.
pub fn provider_specific_fields(body: &[u8]) -> Option<Value> {
    innererror_fields(&serde_json::from_slice(body).ok()?)
}

fn innererror_fields(body: &Value) -> Option<Value> {
    let inner = body.pointer("/error/innererror")?.clone();
    let mut fields = Map::new();
    fields.insert("innererror".into(), inner);
    Some(Value::Object(fields))
}

/// Azure's refinements of an OpenAI-format error; `body` is the parsed error body, if any.
pub(super) fn refine(e: GatewayError, body: Option<&Value>) -> GatewayError {
    let GatewayError::Upstream(mut up) = e else {
        return e;
    };
    let inner_code = body
        .and_then(|v| v.pointer("/error/innererror/code"))
        .and_then(Value::as_str);
    if up.code.as_deref() == Some("content_filter")
        || inner_code == Some("ResponsibleAIPolicyViolation")
    {
        // Mid-stream errors arrive without a status of their own; a filter refusal is a 400.
        up.status = 400;
        up.class = ErrorClass::ContentPolicyViolation;
        up.provider_specific_fields = body.and_then(innererror_fields);
    }
    if up.retry_after.is_none() && up.class == ErrorClass::RateLimit {
        up.retry_after = wait_in_message(&up.message);
    }
    GatewayError::Upstream(up)
}

/// The seconds in "retry after N seconds" / "try again in N seconds".
fn wait_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    ["retry after ", "try again in "].iter().find_map(|lead| {
        let start = lower.find(lead)? + lead.len();
        let rest = &lower[start..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !rest[digits..].trim_start().starts_with("second") {
            return None;
        }
        rest[..digits].parse().ok().map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::UpstreamError;

    fn up(e: GatewayError) -> UpstreamError {
        match e {
            GatewayError::Upstream(u) => *u,
            other => panic!("not upstream: {other:?}"),
        }
    }

    #[test]
    fn content_filter_is_told_by_code_not_only_by_message() {
        let body = br#"{"error":{"message":"blocked","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"sexual":{"filtered":true,"severity":"high"}}}}}"#;
        let e = up(parse_error("Azure", 400, &HeaderMap::new(), body));
        assert_eq!(e.class, ErrorClass::ContentPolicyViolation);
        assert_eq!(e.param.as_deref(), Some("prompt"));
        assert_eq!(
            provider_specific_fields(body).unwrap()["innererror"]["code"],
            "ResponsibleAIPolicyViolation"
        );
        assert!(provider_specific_fields(b"{\"error\":{}}").is_none());
    }

    #[test]
    fn rate_limit_waits_come_from_headers_or_the_message() {
        let body = br#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after 6 seconds."}}"#;
        let e = up(parse_error("Azure", 429, &HeaderMap::new(), body));
        assert_eq!(e.class, ErrorClass::RateLimit);
        assert_eq!(e.code.as_deref(), Some("429"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(6)));
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", "1500".parse().unwrap());
        let e = up(parse_error("Azure", 429, &h, body));
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(
            wait_in_message("Try again in 20 seconds."),
            Some(Duration::from_secs(20))
        );
        assert_eq!(wait_in_message("retry after a while"), None);
    }
}
