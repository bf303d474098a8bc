//! Pass-through to the Bedrock runtime; SigV4 signing happens in `authorize`, over the exact
//! bytes forwarded.

use tollgate_core::GatewayError;

use super::BedrockAdapter;
use crate::operations::{self, PassthroughCall};
use crate::transport::UpstreamRequest;

impl BedrockAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.model
    }

    /// The client's request to the runtime endpoint (`/model/{id}/converse` and the like).
    /// A Bedrock API key goes in `Authorization`; otherwise the request is signed later.
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut auth = http::HeaderMap::new();
        if let Some(key) = self.bearer() {
            operations::put_header(&mut auth, "authorization", &format!("Bearer {key}"))?;
        }
        let url = operations::join(&self.chat_endpoint, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }
}
