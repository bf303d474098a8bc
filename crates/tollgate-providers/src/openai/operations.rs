//! The OpenAI routes beyond chat and embeddings, and pass-through to the OpenAI-format API.

use tollgate_core::{GatewayError, Provider};

use super::OpenAiAdapter;
use crate::openai_compat::join_url;
use crate::operations::{self, Operation, OperationBody, PassthroughCall};
use crate::transport::UpstreamRequest;

impl OpenAiAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// OpenAI serves them all but rerank; the compatible family is given the benefit of the
    /// doubt for the generation routes (the upstream answers for itself), but moderations are
    /// OpenAI's alone.
    pub fn supports_operation(&self, op: Operation) -> bool {
        match op {
            Operation::Rerank => false,
            Operation::Moderations => self.profile.provider == Provider::OpenAi,
            _ => true,
        }
    }

    /// `POST {base}/{operation}` with the client's body.
    pub fn operation_request(
        &self,
        op: Operation,
        body: &OperationBody,
    ) -> Result<UpstreamRequest, GatewayError> {
        if !self.supports_operation(op) {
            return Err(op.unsupported(self.profile.name));
        }
        let mut headers = self.headers()?;
        headers.remove(http::header::CONTENT_TYPE);
        operations::post(
            join_url(self.profile.url_style, &self.base, op.suffix()),
            headers,
            body,
        )
    }

    /// The client's request to `{base}{path}` with the key (`/v1` not doubled).
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut auth = self.headers()?;
        auth.remove(http::header::CONTENT_TYPE);
        let url = operations::join(&self.base, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, auth))
    }

    /// `POST {base}/responses` for OpenAI itself; compatible providers rarely have the
    /// Responses API, so they go through the chat bridge.
    pub fn responses_request(
        &self,
        body: &bytes::Bytes,
    ) -> Result<Option<UpstreamRequest>, GatewayError> {
        if self.profile.provider != Provider::OpenAi {
            return Ok(None);
        }
        let mut headers = self.headers()?;
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(Some(UpstreamRequest {
            method: http::Method::POST,
            url: join_url(self.profile.url_style, &self.base, "responses"),
            headers,
            body: operations::swap_model(body, &self.upstream_model)?,
        }))
    }
}
