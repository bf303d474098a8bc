//! OpenAI-format error bodies to [`GatewayError`].
//!
//! The family does not agree on the envelope: OpenAI nests `{"error":{message,type,param,code}}`
//! with `code` a string, OpenRouter makes `code` an integer, xAI sends a flat
//! `{"code","error"}`, vLLM a top-level `{"object":"error","message",...}`, TGI
//! `{"error":"...","error_type"}`, Mistral's 401 `{"detail":"..."}`, and some servers plain
//! text. All of them become one [`UpstreamError`] carrying the upstream status.

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
    let (message, error_type, param, code) = match &parsed {
        Some(v) => from_json(v),
        None => (
            String::from_utf8_lossy(body).trim().to_owned(),
            None,
            None,
            None,
        ),
    };
    let message = if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        message
    };
    let mut e = UpstreamError::new(status, provider, message);
    e.error_type = error_type;
    e.param = param;
    e.code = code;
    e.retry_after = retry_after(headers);
    GatewayError::Upstream(Box::new(e))
}

type Parts = (String, Option<String>, Option<String>, Option<String>);

fn from_json(v: &Value) -> Parts {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    match v.get("error") {
        Some(inner @ Value::Object(_)) => (
            text(inner.get("message")).unwrap_or_else(|| inner.to_string()),
            text(inner.get("type")),
            text(inner.get("param")),
            text(inner.get("code")),
        ),
        Some(Value::String(msg)) => (
            msg.clone(),
            text(v.get("error_type")),
            None,
            text(v.get("code")),
        ),
        // Top-level `message` (vLLM, Mistral 400s) or FastAPI's `detail` (Mistral 401s).
        _ => (
            text(v.get("message"))
                .or_else(|| text(v.get("detail")))
                .unwrap_or_else(|| v.to_string()),
            text(v.get("type")),
            text(v.get("param")),
            text(v.get("code")),
        ),
    }
}

/// `retry-after-ms` (OpenAI, Azure) is more precise than `retry-after` seconds. Shared with
/// the other adapters: every provider that sends a hint uses one of these two headers.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // `try_from`: a negative, NaN, infinite or too large hint (`1e300`) is no hint, where
    // `Duration::from_secs_f64` would panic.
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
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
    fn openai_envelope() {
        let body = br#"{"error":{"message":"Unsupported parameter: 'max_tokens'","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
        let e = up(parse_error("OpenAI", 400, &HeaderMap::new(), body));
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        assert_eq!(e.code.as_deref(), Some("unsupported_parameter"));
        assert_eq!(e.class, ErrorClass::BadRequest);
    }

    #[test]
    fn flat_and_odd_envelopes() {
        let xai = up(parse_error(
            "Xai",
            400,
            &HeaderMap::new(),
            br#"{"code":"invalid-argument","error":"Incorrect API key provided"}"#,
        ));
        assert_eq!(xai.message, "Incorrect API key provided");
        let vllm = up(parse_error("Hosted_vllm", 400, &HeaderMap::new(), br#"{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}"#));
        assert_eq!(vllm.message, "bad");
        let or = up(parse_error(
            "OpenRouter",
            429,
            &HeaderMap::new(),
            br#"{"error":{"code":429,"message":"slow down","metadata":{}}}"#,
        ));
        assert_eq!(or.code.as_deref(), Some("429"));
        let text = up(parse_error(
            "OpenAI",
            502,
            &HeaderMap::new(),
            b"Bad Gateway\n",
        ));
        assert_eq!(text.message, "Bad Gateway");
        assert_eq!(text.class, ErrorClass::BadGateway);
    }

    #[test]
    fn retry_after_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            up(parse_error("OpenAI", 429, &h, b"{}")).retry_after,
            Some(Duration::from_secs(7))
        );
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(
            up(parse_error("OpenAI", 429, &h, b"{}")).retry_after,
            Some(Duration::from_millis(250))
        );
    }

    #[test]
    fn absurd_retry_after_headers_are_ignored_not_a_panic() {
        // Found by fuzz/fuzz_targets/response_parsers.rs: `Duration::from_secs_f64` panicked.
        for (name, value) in [
            ("retry-after", "1e300"),
            ("retry-after-ms", "1e300"),
            ("retry-after", "-1"),
            ("retry-after", "NaN"),
            ("retry-after-ms", "inf"),
        ] {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            assert_eq!(
                up(parse_error("OpenAI", 429, &h, b"{}")).retry_after,
                None,
                "{name}: {value}"
            );
        }
    }
}
