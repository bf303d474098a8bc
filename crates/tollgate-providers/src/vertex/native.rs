//! Claude on Vertex AI spoken natively: the client's Messages body with `model` removed (it
//! is in the URL) and Vertex's `anthropic_version`, sent to `rawPredict`/`streamRawPredict`.

use bytes::Bytes;
use http::{HeaderValue, Method};
use serde_json::{Map, Value};
use tollgate_core::GatewayError;

use super::{Format, VERTEX_ANTHROPIC_VERSION, VertexAdapter};
use crate::transport::UpstreamRequest;

impl VertexAdapter {
    /// Whether this deployment is a Claude model (Messages format).
    pub fn is_claude(&self) -> bool {
        matches!(self.format, Format::Anthropic(_))
    }

    /// The native Messages call, `None` for non-Claude models. `betas` go in
    /// `anthropic_beta` of the body, where Vertex reads them.
    pub fn native_messages_request(
        &self,
        mut body: Map<String, Value>,
        betas: &[String],
        stream: bool,
    ) -> Option<Result<UpstreamRequest, GatewayError>> {
        if !self.is_claude() {
            return None;
        }
        body.shift_remove("model");
        body.insert(
            "anthropic_version".into(),
            Value::String(VERTEX_ANTHROPIC_VERSION.into()),
        );
        if !betas.is_empty() && !body.contains_key("anthropic_beta") {
            body.insert(
                "anthropic_beta".into(),
                Value::Array(betas.iter().cloned().map(Value::String).collect()),
            );
        }
        let method = if stream {
            "streamRawPredict"
        } else {
            "rawPredict"
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Some(
            serde_json::to_vec(&Value::Object(body))
                .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))
                .map(|b| UpstreamRequest {
                    method: Method::POST,
                    url: self.url(method),
                    headers,
                    body: Bytes::from(b),
                }),
        )
    }
}
