//! LiteLLM-specific request fields. Clients send them in the OpenAI body; they steer the
//! gateway and are removed before the provider sees the request.

use std::time::Duration;

use serde_json::{Map, Value};
use tollgate_core::{ErrorClass, GatewayError};

/// Body keys that belong to the gateway, never to the provider.
const GATEWAY_FIELDS: &[&str] = &[
    "metadata",
    "litellm_metadata",
    "tags",
    "fallbacks",
    "context_window_fallback_dict",
    "num_retries",
    "timeout",
    "request_timeout",
    "stream_timeout",
    "caching",
    "cache",
    "guardrails",
    "mock_response",
    "disable_fallbacks",
    "mock_testing_fallbacks",
    "mock_testing_context_fallbacks",
    "mock_testing_content_policy_fallbacks",
    "mock_testing_rate_limit_error",
    "drop_params",
    "additional_drop_params",
    "allowed_openai_params",
    "prompt_id",
    "prompt_variables",
    "litellm_session_id",
    "litellm_trace_id",
    "litellm_call_id",
    "api_key",
    "api_base",
    "api_version",
];

/// The gateway-steering part of a request.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Whole-call timeout (`timeout` / `request_timeout` in the body, `x-litellm-timeout`).
    pub timeout: Option<Duration>,
    /// Time-to-first-chunk timeout for streams (`x-litellm-stream-timeout`).
    pub stream_timeout: Option<Duration>,
    /// Request-level `drop_params`.
    pub drop_params: bool,
    /// `mock_response`: answer with this text without calling the provider.
    pub mock_response: Option<String>,
    /// `metadata` as sent, for logging and spend (never forwarded).
    pub metadata: Option<Map<String, Value>>,
    /// `num_retries`: retries for this call.
    pub num_retries: Option<u32>,
    /// Client-side `fallbacks`: model names (or `{"model": ...}` objects) to try in order.
    pub fallbacks: Option<Vec<String>>,
    /// `disable_fallbacks`.
    pub disable_fallbacks: bool,
    /// LiteLLM's `mock_testing_*` flags: the requested group fails with this class, so a
    /// config's fallbacks can be tried without an outage.
    pub mock_failure: Option<tollgate_core::ErrorClass>,
}

impl RequestOptions {
    /// Removes gateway fields from `extra` (and `metadata`) and reads the ones the engine uses.
    pub fn take(
        extra: &mut Map<String, Value>,
        metadata: &mut Option<Map<String, Value>>,
    ) -> Result<Self, GatewayError> {
        let mut opts = Self {
            metadata: metadata.take(),
            ..Self::default()
        };
        if !GATEWAY_FIELDS.iter().any(|f| extra.contains_key(*f)) {
            return Ok(opts);
        }
        for key in ["timeout", "request_timeout"] {
            if let Some(v) = extra.get(key) {
                opts.timeout = Some(seconds(v, key)?);
            }
        }
        if let Some(v) = extra.get("stream_timeout") {
            opts.stream_timeout = Some(seconds(v, "stream_timeout")?);
        }
        if let Some(v) = extra.get("drop_params") {
            opts.drop_params = v.as_bool().ok_or_else(|| {
                GatewayError::invalid_request(
                    "drop_params must be a boolean",
                    Some("drop_params".into()),
                )
            })?;
        }
        if let Some(v) = extra.get("mock_response") {
            opts.mock_response = Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        if let Some(v) = extra.get("num_retries") {
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    GatewayError::invalid_request(
                        format!("num_retries must be a non-negative integer, got {v}"),
                        Some("num_retries".into()),
                    )
                })?;
            opts.num_retries = Some(n);
        }
        if let Some(v) = extra.get("fallbacks") {
            opts.fallbacks = Some(client_fallbacks(v)?);
        }
        if let Some(v) = extra.get("disable_fallbacks") {
            opts.disable_fallbacks = v.as_bool().unwrap_or(false);
        }
        for (key, class) in [
            ("mock_testing_fallbacks", ErrorClass::InternalServer),
            (
                "mock_testing_context_fallbacks",
                ErrorClass::ContextWindowExceeded,
            ),
            (
                "mock_testing_content_policy_fallbacks",
                ErrorClass::ContentPolicyViolation,
            ),
            ("mock_testing_rate_limit_error", ErrorClass::RateLimit),
        ] {
            if extra.get(key).and_then(Value::as_bool) == Some(true) {
                opts.mock_failure = Some(class);
            }
        }
        for f in GATEWAY_FIELDS {
            extra.shift_remove(*f);
        }
        Ok(opts)
    }
}

/// Client-side fallbacks: a list of model names or of `{"model": name, ...}` objects.
fn client_fallbacks(v: &Value) -> Result<Vec<String>, GatewayError> {
    let bad = || {
        GatewayError::invalid_request(
            "fallbacks must be a list of model names or of {\"model\": ...} objects",
            Some("fallbacks".into()),
        )
    };
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => o
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect()
}

/// Parses a timeout given as a number or a numeric string, in seconds.
pub fn seconds(v: &Value, name: &str) -> Result<Duration, GatewayError> {
    let secs = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    secs.filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| {
            GatewayError::invalid_request(
                format!("{name} must be a positive number of seconds, got {v}"),
                Some(name.to_owned()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gateway_fields_are_read_and_removed() {
        let mut extra: Map<String, Value> = serde_json::from_value(json!({
            "timeout": "2.5", "drop_params": true, "num_retries": 3, "top_k": 4, "mock_response": "hi"
        }))
        .unwrap();
        let mut metadata = Some(Map::new());
        let o = RequestOptions::take(&mut extra, &mut metadata).unwrap();
        assert_eq!(o.timeout, Some(Duration::from_millis(2500)));
        assert!(o.drop_params);
        assert_eq!(o.mock_response.as_deref(), Some("hi"));
        assert!(metadata.is_none());
        assert_eq!(extra.keys().collect::<Vec<_>>(), vec!["top_k"]);
        assert_eq!(o.num_retries, Some(3));
    }

    #[test]
    fn client_side_fallbacks_accept_names_and_objects() {
        let mut extra: Map<String, Value> = serde_json::from_value(json!({
            "fallbacks": ["a", {"model": "b", "messages": []}], "disable_fallbacks": true
        }))
        .unwrap();
        let o = RequestOptions::take(&mut extra, &mut None).unwrap();
        assert_eq!(o.fallbacks.unwrap(), ["a", "b"]);
        assert!(o.disable_fallbacks);
        let mut extra: Map<String, Value> =
            serde_json::from_value(json!({"fallbacks": [1]})).unwrap();
        let err = RequestOptions::take(&mut extra, &mut None).unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn absurd_timeouts_are_a_400_not_a_panic() {
        for v in [json!(1e300), json!("1e300"), json!(-1), json!("NaN")] {
            let mut extra: Map<String, Value> =
                serde_json::from_value(json!({"timeout": v})).unwrap();
            assert_eq!(
                RequestOptions::take(&mut extra, &mut None)
                    .unwrap_err()
                    .status(),
                400
            );
        }
    }

    #[test]
    fn bad_timeout_names_the_field() {
        let mut extra: Map<String, Value> =
            serde_json::from_value(json!({"timeout": "soon"})).unwrap();
        let err = RequestOptions::take(&mut extra, &mut None).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("timeout"));
    }
}
