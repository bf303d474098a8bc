//! Vertex AI errors to [`GatewayError`].
//!
//! Vertex answers in Google's `google.rpc` envelope (auth failures are real 401
//! `UNAUTHENTICATED` / 403 `PERMISSION_DENIED` here), read by the Gemini module's parser;
//! Claude's own errors come back in Anthropic's `{"type":"error",...}` envelope, read by the
//! Anthropic module's. Either way the message names `VertexAI`, as LiteLLM's does.

use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{GatewayError, Provider};

use super::PROVIDER_NAME;

/// Turns a non-2xx response into the client-facing error.
pub fn parse_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let anthropic_envelope = serde_json::from_slice::<Value>(body)
        .ok()
        .is_some_and(|v| v.get("type").and_then(Value::as_str) == Some("error"));
    if anthropic_envelope {
        renamed(crate::anthropic::parse_error(status, headers, body))
    } else {
        crate::gemini::parse_error(PROVIDER_NAME, status, headers, body)
    }
}

/// An error from the Anthropic translation, renamed to this provider: `VertexAIException`
/// in messages, `vertex_ai` in refused-parameter errors.
pub(super) fn renamed(e: GatewayError) -> GatewayError {
    match e {
        GatewayError::Upstream(mut u) => {
            u.provider = PROVIDER_NAME;
            GatewayError::Upstream(u)
        }
        GatewayError::Connection { message, .. } => GatewayError::Connection {
            provider: PROVIDER_NAME.to_owned(),
            message,
        },
        GatewayError::Timeout { seconds, .. } => GatewayError::Timeout {
            provider: PROVIDER_NAME.to_owned(),
            seconds,
        },
        GatewayError::InvalidUpstreamResponse { message, .. } => {
            GatewayError::InvalidUpstreamResponse {
                provider: PROVIDER_NAME.to_owned(),
                message,
            }
        }
        GatewayError::UnsupportedParams { model, param, .. } => GatewayError::UnsupportedParams {
            provider: Provider::VertexAi.to_string(),
            model,
            param,
        },
        GatewayError::UnsupportedOperation { operation, .. } => {
            GatewayError::UnsupportedOperation {
                provider: Provider::VertexAi.to_string(),
                operation,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::ErrorClass;

    #[test]
    fn google_envelopes_keep_their_status_and_name_vertex() {
        let body = br#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
        let e = parse_error(401, &HeaderMap::new(), body);
        assert_eq!(e.status(), 401);
        assert_eq!(
            e.to_string(),
            "litellm.AuthenticationError: VertexAIException - Request had invalid authentication credentials."
        );
        let body = br#"{"error":{"code":403,"message":"Permission 'aiplatform.endpoints.predict' denied","status":"PERMISSION_DENIED"}}"#;
        assert_eq!(
            parse_error(403, &HeaderMap::new(), body).class(),
            ErrorClass::PermissionDenied
        );
    }

    #[test]
    fn anthropic_envelopes_are_read_as_anthropic_errors() {
        let body =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = parse_error(529, &HeaderMap::new(), body);
        assert_eq!(e.status(), 529);
        assert_eq!(e.class(), ErrorClass::ServiceUnavailable);
        assert_eq!(
            e.to_string(),
            "litellm.ServiceUnavailableError: VertexAIException - Overloaded"
        );
        assert_eq!(
            e.to_body().error.error_type.as_deref(),
            Some("overloaded_error")
        );
    }
}
