//! Gateway errors in Anthropic's shape: `{"type":"error","error":{"type","message"}}`, what
//! the `anthropic` SDK and Claude Code parse on `/v1/messages`.

use serde_json::{Value, json};
use tollgate_core::GatewayError;
use tollgate_core::error::ErrorClass;

/// Anthropic's error `type` for a gateway error: by status first (an upstream Anthropic 529
/// stays `overloaded_error`), then by class.
pub fn error_type(e: &GatewayError) -> &'static str {
    match e.status() {
        400 | 422 => return "invalid_request_error",
        401 => return "authentication_error",
        403 => return "permission_error",
        404 => return "not_found_error",
        413 => return "request_too_large",
        429 => return "rate_limit_error",
        529 | 503 => return "overloaded_error",
        408 | 504 => return "timeout_error",
        _ => {}
    }
    match e.class() {
        ErrorClass::Timeout => "timeout_error",
        ErrorClass::RateLimit => "rate_limit_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::PermissionDenied => "permission_error",
        ErrorClass::ServiceUnavailable => "overloaded_error",
        ErrorClass::BadRequest
        | ErrorClass::UnsupportedParams
        | ErrorClass::ContextWindowExceeded
        | ErrorClass::ContentPolicyViolation
        | ErrorClass::UnprocessableEntity => "invalid_request_error",
        ErrorClass::PayloadTooLarge => "request_too_large",
        ErrorClass::ApiConnection | ErrorClass::InternalServer | ErrorClass::BadGateway => {
            "api_error"
        }
    }
}

/// The error body.
pub fn error_body(e: &GatewayError) -> Value {
    json!({"type": "error", "error": {"type": error_type(e), "message": e.to_string()}})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use tollgate_core::UpstreamError;

    #[test]
    fn types_follow_status_and_class() {
        let bad = GatewayError::invalid_request("nope", None);
        assert_eq!(
            error_body(&bad),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": bad.to_string()}})
        );
        let auth = GatewayError::Authentication {
            message: "bad key".into(),
        };
        assert_eq!(error_type(&auth), "authentication_error");
        let over = GatewayError::Upstream(Box::new(UpstreamError::new(529, "Anthropic", "busy")));
        assert_eq!(error_type(&over), "overloaded_error");
        let rate = GatewayError::Upstream(Box::new(UpstreamError::new(429, "OpenAI", "slow")));
        assert_eq!(error_type(&rate), "rate_limit_error");
        let timeout = GatewayError::Timeout {
            provider: "OpenAI".into(),
            seconds: 1.0,
        };
        assert_eq!(error_type(&timeout), "timeout_error");
        assert_eq!(error_type(&GatewayError::Internal("x".into())), "api_error");
    }
}
