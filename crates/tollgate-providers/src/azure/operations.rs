//! The OpenAI routes beyond chat and embeddings on an Azure deployment, and pass-through.

use tollgate_core::GatewayError;

use super::{AzureAdapter, Route, insert_credential};
use crate::operations::{self, Operation, OperationBody, PassthroughCall};
use crate::transport::UpstreamRequest;

impl AzureAdapter {
    /// The deployment name sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// The deployment's URL for `op`: its chat URL with the operation in place of
    /// `chat/completions` (same deployment path, same `api-version`).
    fn operation_url(&self, op: Operation) -> String {
        self.chat_url
            .replacen("/chat/completions", &format!("/{}", op.suffix()), 1)
    }

    /// `POST` to the deployment's URL for `op` with the client's body.
    pub fn operation_request(
        &self,
        op: Operation,
        body: &OperationBody,
    ) -> Result<UpstreamRequest, GatewayError> {
        if matches!(op, Operation::Rerank | Operation::Moderations) {
            return Err(op.unsupported(self.provider_name()));
        }
        let mut headers = self.inner.headers()?;
        headers.remove(http::header::CONTENT_TYPE);
        insert_credential(&self.credential, &mut headers)?;
        operations::post(self.operation_url(op), headers, body)
    }

    /// The client's request to `{api_base}{path}` with the deployment's credential; the
    /// client's query (its `api-version`) is kept.
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut auth = http::HeaderMap::new();
        insert_credential(&self.credential, &mut auth)?;
        let url = operations::join(&self.base, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }

    /// Azure OpenAI's Responses API: `{root}/openai/v1/responses` on the v1 API, else
    /// `{resource}/openai/responses?api-version=...` (not deployment-scoped: the deployment
    /// is the body's `model`). Foundry deployments use the chat bridge.
    pub fn responses_request(
        &self,
        body: &bytes::Bytes,
    ) -> Result<Option<UpstreamRequest>, GatewayError> {
        let url = match self.route {
            Route::Foundry => return Ok(None),
            Route::V1 => self.chat_url.replacen("/chat/completions", "/responses", 1),
            Route::Deployment => {
                let (path, query) = self
                    .chat_url
                    .split_once('?')
                    .unwrap_or((&self.chat_url, ""));
                let root = path.split("/openai/").next().unwrap_or(path);
                if query.is_empty() {
                    format!("{root}/openai/responses")
                } else {
                    format!("{root}/openai/responses?{query}")
                }
            }
        };
        let mut headers = self.inner.headers()?;
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        insert_credential(&self.credential, &mut headers)?;
        Ok(Some(UpstreamRequest {
            method: http::Method::POST,
            url,
            headers,
            body: operations::swap_model(body, &self.upstream_model)?,
        }))
    }
}
