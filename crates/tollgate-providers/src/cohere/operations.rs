//! Cohere's rerank for `/v1/rerank`, and pass-through to Cohere's API.

use tollgate_core::GatewayError;

use super::CohereAdapter;
use crate::operations::{self, Operation, OperationBody, PassthroughCall};
use crate::transport::UpstreamRequest;

impl CohereAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// `POST /v2/rerank` with the client's (already Cohere-format) body.
    pub fn operation_request(
        &self,
        op: Operation,
        body: &OperationBody,
    ) -> Result<UpstreamRequest, GatewayError> {
        if op != Operation::Rerank {
            return Err(op.unsupported(self.provider_name()));
        }
        let mut headers = self.headers()?;
        headers.remove(http::header::CONTENT_TYPE);
        operations::post(self.rerank_url.clone(), headers, body)
    }

    /// The client's request to Cohere's API root (the rerank URL without `/v2/rerank`).
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let root = self
            .rerank_url
            .strip_suffix("/v2/rerank")
            .or_else(|| self.rerank_url.strip_suffix("/v1/rerank"))
            .unwrap_or(&self.rerank_url);
        let mut auth = http::HeaderMap::new();
        if let Some(key) = &self.api_key {
            operations::put_header(&mut auth, "authorization", &format!("Bearer {key}"))?;
        }
        let url = operations::join(root, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }
}
