//! Pass-through to Anthropic's API with the gateway's credential.

use tollgate_core::GatewayError;

use super::{ANTHROPIC_VERSION, AnthropicAdapter, Auth, OAUTH_BETA};
use crate::operations::{self, PassthroughCall};
use crate::transport::UpstreamRequest;

impl AnthropicAdapter {
    /// The client's request to `{api_base}{path}` with the key, and `anthropic-version` when
    /// the client sent none (the API refuses requests without one).
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut auth = http::HeaderMap::new();
        match &self.auth {
            Auth::ApiKey(key) => operations::put_header(&mut auth, "x-api-key", key)?,
            Auth::Bearer(token) => {
                operations::put_header(&mut auth, "authorization", &format!("Bearer {token}"))?;
            }
            Auth::OAuthToken(token) => {
                operations::put_header(&mut auth, "authorization", &format!("Bearer {token}"))?;
                if !call.headers.contains_key("anthropic-beta") {
                    operations::put_header(&mut auth, "anthropic-beta", OAUTH_BETA)?;
                }
            }
            Auth::None => {}
        }
        if !call.headers.contains_key("anthropic-version") {
            operations::put_header(&mut auth, "anthropic-version", ANTHROPIC_VERSION)?;
        }
        let url = operations::join(&self.base, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }
}
