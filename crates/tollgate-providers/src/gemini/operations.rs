//! Pass-through to the Gemini API (Google AI Studio) with the gateway's key.

use tollgate_core::GatewayError;

use super::GeminiAdapter;
use crate::operations::{self, PassthroughCall};
use crate::transport::UpstreamRequest;

impl GeminiAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// The client's request to `{api_base}{path}`, the key in `x-goog-api-key` (a header
    /// rather than `?key=`, so it stays out of URL logs).
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut auth = http::HeaderMap::new();
        if let Some(key) = &self.api_key {
            operations::put_header(&mut auth, "x-goog-api-key", key)?;
        }
        let url = operations::join(&self.base, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }
}
