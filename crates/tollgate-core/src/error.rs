//! The gateway's one error taxonomy, and the single place that decides HTTP status and the
//! OpenAI-shaped JSON body a client sees.
//!
//! Messages follow LiteLLM's (`litellm.BadRequestError: OpenAIException - ...`) because clients
//! and scripts match on them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// LiteLLM's exception classes; the class decides the default status and how routers react.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    BadRequest,
    UnsupportedParams,
    ContextWindowExceeded,
    ContentPolicyViolation,
    Authentication,
    PermissionDenied,
    NotFound,
    Timeout,
    PayloadTooLarge,
    UnprocessableEntity,
    RateLimit,
    ApiConnection,
    InternalServer,
    BadGateway,
    ServiceUnavailable,
}

impl ErrorClass {
    /// The class name LiteLLM prints (`litellm.<name>: ...`).
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequestError",
            Self::UnsupportedParams => "UnsupportedParamsError",
            Self::ContextWindowExceeded => "ContextWindowExceededError",
            Self::ContentPolicyViolation => "ContentPolicyViolationError",
            Self::Authentication => "AuthenticationError",
            Self::PermissionDenied => "PermissionDeniedError",
            Self::NotFound => "NotFoundError",
            Self::Timeout => "Timeout",
            Self::PayloadTooLarge => "RequestTooLargeError",
            Self::UnprocessableEntity => "UnprocessableEntityError",
            Self::RateLimit => "RateLimitError",
            Self::ApiConnection => "APIConnectionError",
            Self::InternalServer => "InternalServerError",
            Self::BadGateway => "BadGatewayError",
            Self::ServiceUnavailable => "ServiceUnavailableError",
        }
    }

    /// The status this class answers with when no upstream status overrides it.
    pub fn default_status(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::UnsupportedParams
            | Self::ContextWindowExceeded
            | Self::ContentPolicyViolation => 400,
            Self::Authentication => 401,
            Self::PermissionDenied => 403,
            Self::NotFound => 404,
            Self::Timeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UnprocessableEntity => 422,
            Self::RateLimit => 429,
            Self::ApiConnection | Self::InternalServer => 500,
            Self::BadGateway => 502,
            Self::ServiceUnavailable => 503,
        }
    }

    /// The OpenAI `error.type` used when the upstream gave none.
    pub fn default_type(self) -> &'static str {
        match self {
            Self::BadRequest
            | Self::UnsupportedParams
            | Self::ContextWindowExceeded
            | Self::ContentPolicyViolation
            | Self::NotFound
            | Self::PayloadTooLarge
            | Self::UnprocessableEntity => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::Timeout => "timeout_error",
            Self::RateLimit => "rate_limit_error",
            Self::ApiConnection => "api_connection_error",
            Self::InternalServer | Self::BadGateway | Self::ServiceUnavailable => "api_error",
        }
    }

    /// Classifies an upstream HTTP status, refining 400s by the provider's message the way
    /// LiteLLM does (context window and content policy trigger their own fallbacks).
    pub fn from_upstream(status: u16, message: &str) -> Self {
        match status {
            400 => {
                let m = message.to_ascii_lowercase();
                if m.contains("context length")
                    || m.contains("context_length_exceeded")
                    || m.contains("prompt is too long")
                    || m.contains("maximum context")
                    || m.contains("too many tokens")
                {
                    Self::ContextWindowExceeded
                } else if m.contains("content filter")
                    || m.contains("content_filter")
                    || m.contains("content management policy")
                    || m.contains("safety")
                {
                    Self::ContentPolicyViolation
                } else {
                    Self::BadRequest
                }
            }
            401 => Self::Authentication,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            408 | 504 => Self::Timeout,
            413 => Self::PayloadTooLarge,
            422 => Self::UnprocessableEntity,
            429 => Self::RateLimit,
            502 => Self::BadGateway,
            503 | 529 => Self::ServiceUnavailable,
            s if (400..500).contains(&s) => Self::BadRequest,
            _ => Self::InternalServer,
        }
    }

    /// Whether a router may retry this class on the same or another deployment.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Timeout
                | Self::RateLimit
                | Self::ApiConnection
                | Self::InternalServer
                | Self::BadGateway
                | Self::ServiceUnavailable
        )
    }
}

/// An error reported by an upstream provider, already parsed out of its native body.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    /// The status the client will see (the provider's, except where LiteLLM remaps it).
    pub status: u16,
    pub class: ErrorClass,
    /// Provider display name for the message prefix (`OpenAIException`, `GroqException`, ...).
    pub provider: &'static str,
    pub message: String,
    pub error_type: Option<String>,
    pub param: Option<String>,
    pub code: Option<String>,
    /// From `retry-after` / `retry-after-ms`, for clients and routers.
    pub retry_after: Option<Duration>,
    /// Provider details LiteLLM returns beside the error (Azure's content-filter `innererror`).
    pub provider_specific_fields: Option<Value>,
}

impl UpstreamError {
    /// An upstream error classified from its status and message.
    pub fn new(status: u16, provider: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let class = ErrorClass::from_upstream(status, &message);
        // LiteLLM raises its Timeout (408) for gateway timeouts too.
        let status = if class == ErrorClass::Timeout {
            408
        } else {
            status
        };
        Self {
            status,
            class,
            provider,
            message,
            error_type: None,
            param: None,
            code: None,
            retry_after: None,
            provider_specific_fields: None,
        }
    }
}

/// Everything that can go wrong between a client and a provider.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The request is malformed: bad JSON, a missing field or a field of the wrong type.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },

    /// The model name matches no configured model.
    #[error(
        "{route}: Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key."
    )]
    InvalidModel { route: String, model: String },

    /// The model string names no provider Tollgate knows.
    #[error(
        "LLM Provider NOT provided. Pass in the LLM provider you are trying to call. You passed model={model}"
    )]
    UnknownProvider { model: String },

    /// The provider is known but its adapter is not built yet.
    #[error("Provider '{provider}' (model={model}) is not supported by this Tollgate version yet")]
    ProviderNotImplemented { provider: String, model: String },

    /// The operation (say, embeddings) does not exist for this provider.
    #[error("{provider} does not support {operation}")]
    UnsupportedOperation { provider: String, operation: String },

    /// An OpenAI parameter the provider cannot honour, with `drop_params` off.
    #[error(
        "{provider} does not support parameters: ['{param}'], for model={model}. To drop these, set `litellm.drop_params=True` or for proxy:\n\n`litellm_settings:\n drop_params: true`\n"
    )]
    UnsupportedParams {
        provider: String,
        model: String,
        param: String,
    },

    /// No usable credential or a wrong one (the client's, at the gateway).
    #[error("{message}")]
    Authentication { message: String },

    /// The body is larger than the configured limit.
    #[error("Request body is too large: {size} bytes, the limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },

    /// The provider answered with an error.
    #[error("litellm.{}: {}Exception - {}", .0.class.name(), .0.provider, .0.message)]
    Upstream(Box<UpstreamError>),

    /// The provider did not answer in time.
    #[error("litellm.Timeout: {provider}Exception - Request timed out after {seconds} seconds")]
    Timeout { provider: String, seconds: f64 },

    /// The provider could not be reached (refused, DNS, TLS, reset).
    #[error("litellm.APIConnectionError: {provider}Exception - {message}")]
    Connection { provider: String, message: String },

    /// The provider answered with something we cannot read.
    #[error(
        "litellm.APIError: {provider}Exception - could not parse the provider's response: {message}"
    )]
    InvalidUpstreamResponse { provider: String, message: String },

    /// The route exists but the thing it names does not (a stored response id, say).
    #[error("{message}")]
    NotFound { message: String },

    /// No such route.
    #[error("Route not found: {method} {path}")]
    RouteNotFound { method: String, path: String },

    /// The route exists, but not for this method.
    #[error("Method {method} is not allowed for {path}")]
    MethodNotAllowed { method: String, path: String },

    /// Every deployment of the group is cooling down or over its limits (LiteLLM's
    /// `RouterRateLimitError`); `retry_after` is the shortest remaining cooldown.
    #[error("{message}")]
    NoDeploymentsAvailable {
        message: String,
        retry_after: Option<Duration>,
    },

    /// A bug or an impossible state inside the gateway.
    #[error("Internal error: {0}")]
    Internal(String),

    /// The gateway's own policy refused the request: a key that is blocked or expired, a model
    /// the key may not use, an exceeded budget or rate limit. Status, `type` and `param` are
    /// LiteLLM's for each case.
    #[error("{message}")]
    Denied {
        status: u16,
        error_type: String,
        message: String,
        param: Option<String>,
        retry_after: Option<Duration>,
    },
}

impl GatewayError {
    /// A 400 for a request that could not be read, naming the offending field.
    pub fn invalid_request(message: impl Into<String>, param: Option<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param,
        }
    }

    /// The class this error belongs to.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidRequest { .. }
            | Self::InvalidModel { .. }
            | Self::UnknownProvider { .. }
            | Self::ProviderNotImplemented { .. }
            | Self::UnsupportedOperation { .. } => ErrorClass::BadRequest,
            Self::UnsupportedParams { .. } => ErrorClass::UnsupportedParams,
            Self::RouteNotFound { .. } | Self::MethodNotAllowed { .. } | Self::NotFound { .. } => {
                ErrorClass::NotFound
            }
            Self::Authentication { .. } => ErrorClass::Authentication,
            Self::PayloadTooLarge { .. } => ErrorClass::PayloadTooLarge,
            Self::Upstream(e) => e.class,
            Self::Timeout { .. } => ErrorClass::Timeout,
            Self::Connection { .. } => ErrorClass::ApiConnection,
            Self::NoDeploymentsAvailable { .. } => ErrorClass::RateLimit,
            Self::InvalidUpstreamResponse { .. } | Self::Internal(_) => ErrorClass::InternalServer,
            Self::Denied { status, .. } => match status {
                400 => ErrorClass::BadRequest,
                401 => ErrorClass::Authentication,
                403 => ErrorClass::PermissionDenied,
                404 => ErrorClass::NotFound,
                429 => ErrorClass::RateLimit,
                _ => ErrorClass::InternalServer,
            },
        }
    }

    /// The HTTP status the client receives.
    pub fn status(&self) -> u16 {
        match self {
            Self::Upstream(e) => e.status,
            Self::MethodNotAllowed { .. } => 405,
            Self::Denied { status, .. } => *status,
            other => other.class().default_status(),
        }
    }

    /// How long the client should wait before retrying, when the provider said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Upstream(e) => e.retry_after,
            Self::Denied { retry_after, .. } => *retry_after,
            Self::NoDeploymentsAvailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The OpenAI-shaped body: `{"error":{"message","type","param","code"}}`, `code` being the
    /// status as a string as LiteLLM sends it.
    pub fn to_body(&self) -> ErrorBody {
        let (error_type, param) = match self {
            Self::InvalidRequest { param, .. } => {
                ("invalid_request_error".to_owned(), param.clone())
            }
            Self::InvalidModel { .. } => ("invalid_request_error".to_owned(), Some("model".into())),
            Self::UnsupportedParams { param, .. } => {
                ("invalid_request_error".to_owned(), Some(param.clone()))
            }
            Self::Authentication { .. } => ("auth_error".to_owned(), None),
            Self::Denied {
                error_type, param, ..
            } => (error_type.clone(), param.clone()),
            Self::Upstream(e) => (
                e.error_type
                    .clone()
                    .unwrap_or_else(|| e.class.default_type().to_owned()),
                e.param.clone(),
            ),
            other => (other.class().default_type().to_owned(), None),
        };
        ErrorBody {
            error: ErrorDetail {
                message: self.to_string(),
                error_type: Some(error_type),
                param,
                code: Some(Value::String(self.status().to_string())),
                provider_specific_fields: match self {
                    Self::Upstream(e) => e.provider_specific_fields.clone(),
                    _ => None,
                },
            },
        }
    }
}

/// `{"error": {...}}`, what every client-facing error looks like (and what OpenAI-format
/// providers send).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inner error object. `code` is a string from us, but providers send strings, ints or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type", default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
    /// Provider details passed on to the client (LiteLLM's `provider_specific_fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_specific_fields: Option<Value>,
}

/// Result with [`GatewayError`].
pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_model_message_matches_litellm() {
        let e = GatewayError::InvalidModel {
            route: "/chat/completions".into(),
            model: "x".into(),
        };
        assert_eq!(e.status(), 400);
        let body = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(
            body["error"]["message"],
            "/chat/completions: Invalid model name passed in model=x. Call `/v1/models` to view available models for your key."
        );
        assert_eq!(body["error"]["code"], "400");
        assert_eq!(body["error"]["param"], "model");
    }

    #[test]
    fn upstream_errors_keep_status_and_prefix() {
        let mut up = UpstreamError::new(429, "OpenAI", "Rate limit reached");
        up.error_type = Some("requests".into());
        let e = GatewayError::Upstream(Box::new(up));
        assert_eq!(e.status(), 429);
        assert_eq!(e.class(), ErrorClass::RateLimit);
        assert_eq!(
            e.to_string(),
            "litellm.RateLimitError: OpenAIException - Rate limit reached"
        );
        assert_eq!(e.to_body().error.error_type.as_deref(), Some("requests"));
    }

    #[test]
    fn context_window_and_content_policy_are_told_apart() {
        assert_eq!(
            ErrorClass::from_upstream(400, "This model's maximum context length is 8192 tokens"),
            ErrorClass::ContextWindowExceeded
        );
        assert_eq!(
            ErrorClass::from_upstream(400, "blocked by the content filter"),
            ErrorClass::ContentPolicyViolation
        );
        assert_eq!(
            ErrorClass::from_upstream(400, "bad"),
            ErrorClass::BadRequest
        );
        assert_eq!(ErrorClass::from_upstream(504, ""), ErrorClass::Timeout);
        assert_eq!(
            UpstreamError::new(504, "OpenAI", "gateway timeout").status,
            408
        );
    }
}
