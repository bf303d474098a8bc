//! The Messages API spoken natively: a `/v1/messages` body sent to Anthropic as the client
//! wrote it (thinking signatures and `cache_control` untouched), only `model` replaced and
//! the deployment's credentials added.

use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use tollgate_core::GatewayError;

use super::AnthropicAdapter;
use crate::transport::UpstreamRequest;

impl AnthropicAdapter {
    /// `POST /v1/messages` (or `/v1/messages/count_tokens`) with `body` as sent by the client.
    /// `betas` are the client's `anthropic-beta` flags, passed on after the deployment's own.
    pub fn native_messages_request(
        &self,
        mut body: Map<String, Value>,
        betas: &[String],
        count_tokens: bool,
    ) -> Result<UpstreamRequest, GatewayError> {
        body.insert("model".into(), Value::String(self.upstream_model.clone()));
        let mut extra = self.params.extra_headers.clone();
        if !betas.is_empty() {
            extra.retain(|(k, _)| !k.eq_ignore_ascii_case("anthropic-beta"));
        }
        let headers = self.headers(betas.to_vec(), &extra)?;
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        let url = if count_tokens {
            format!("{}/count_tokens", self.url)
        } else {
            self.url.clone()
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(body),
        })
    }

    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    #[test]
    fn body_passes_with_only_the_model_swapped() {
        let m = ModelRef::parse("anthropic/claude-sonnet-4-5", None).unwrap();
        let params = ProviderParams {
            api_key: Some("sk-ant-x".into()),
            api_base: Some("https://gw".into()),
            ..Default::default()
        };
        let a = AnthropicAdapter::new(&m, &params, &Env::with_overlay(Default::default())).unwrap();
        let body = json!({"model": "alias", "max_tokens": 10, "messages": [
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "SIG"}]},
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}],
            "future_field": 1});
        let Value::Object(map) = body.clone() else {
            panic!()
        };
        let r = a
            .native_messages_request(map, &["interleaved-thinking-2025-05-14".into()], false)
            .unwrap();
        assert_eq!(r.url, "https://gw/v1/messages");
        assert_eq!(r.headers["x-api-key"], "sk-ant-x");
        assert_eq!(
            r.headers["anthropic-beta"],
            "interleaved-thinking-2025-05-14"
        );
        let mut sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent["model"], "claude-sonnet-4-5");
        sent["model"] = json!("alias");
        assert_eq!(sent, body);
        let Value::Object(map) = body else { panic!() };
        let r = a.native_messages_request(map, &[], true).unwrap();
        assert_eq!(r.url, "https://gw/v1/messages/count_tokens");
        assert!(r.headers.get("anthropic-beta").is_none());
    }
}
