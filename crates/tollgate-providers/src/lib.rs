//! Provider adapters. Translation is pure: an adapter turns our request into an
//! [`UpstreamRequest`] and response bytes back into our types, and never performs I/O. The one
//! place that talks to the network is [`transport`], shared by every adapter.
//!
//! One module per provider, with the same file names in each; adding a provider is adding a
//! module and a variant of [`Adapter`].

pub mod anthropic;
pub mod bedrock;
pub mod gemini;
pub mod json_splice;
pub mod openai;
pub mod openai_compat;
pub mod params;
pub mod sse;
pub mod stream_event;
pub mod transport;

use bytes::Bytes;
use http::HeaderMap;
use tollgate_core::{
    ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest, EmbeddingsResponse, Env,
    GatewayError, ModelRef, Provider, Usage,
};

pub use params::{AwsParams, CallOptions, ProviderParams};
pub use stream_event::StreamEvent;
pub use transport::{HttpClient, TransportOptions, UpstreamRequest, UpstreamResponse};

/// A provider adapter for one deployment, chosen statically by provider.
#[derive(Debug, Clone)]
pub enum Adapter {
    /// OpenAI and the OpenAI-compatible family.
    OpenAi(openai::OpenAiAdapter),
    /// The Anthropic Messages API.
    Anthropic(anthropic::AnthropicAdapter),
    /// Google AI Studio (`gemini/`).
    Gemini(gemini::GeminiAdapter),
    /// AWS Bedrock (Converse for chat, InvokeModel for embeddings).
    Bedrock(bedrock::BedrockAdapter),
}

/// A stream decoder for one upstream response.
#[derive(Debug)]
pub enum StreamDecoder {
    /// OpenAI-format SSE.
    OpenAi(openai::OpenAiStreamDecoder),
    /// Anthropic's named SSE events (boxed: it carries block and usage state).
    Anthropic(Box<anthropic::AnthropicStreamDecoder>),
    /// Gemini SSE (`alt=sse`, CRLF separators).
    Gemini(gemini::GeminiStreamDecoder),
    /// Bedrock ConverseStream (binary AWS event-stream; boxed: it carries block state).
    Bedrock(Box<bedrock::BedrockStreamDecoder>),
}

impl Adapter {
    /// The adapter for `model` with this deployment's params. Providers Tollgate does not
    /// implement yet are a clear 400 naming the provider.
    pub fn new(model: &ModelRef, params: &ProviderParams, env: &Env) -> Result<Self, GatewayError> {
        if model.provider == Provider::Anthropic {
            return anthropic::AnthropicAdapter::new(model, params, env).map(Self::Anthropic);
        }
        if let Some(a) = openai::OpenAiAdapter::new(model, params, env)? {
            return Ok(Self::OpenAi(a));
        }
        if let Some(a) = gemini::GeminiAdapter::new(model, params, env)? {
            return Ok(Self::Gemini(a));
        }
        if let Some(a) = bedrock::BedrockAdapter::new(model, params, env)? {
            return Ok(Self::Bedrock(a));
        }
        Err(GatewayError::ProviderNotImplemented {
            provider: model.provider.to_string(),
            model: model.canonical(),
        })
    }

    /// Display name used in error messages (`OpenAI` in `OpenAIException`).
    pub fn provider_name(&self) -> &'static str {
        match self {
            Self::OpenAi(a) => a.provider_name(),
            Self::Anthropic(a) => a.provider_name(),
            Self::Gemini(a) => a.provider_name(),
            Self::Bedrock(a) => a.provider_name(),
        }
    }

    /// Base URL of the upstream, for `x-litellm-model-api-base`.
    pub fn api_base(&self) -> &str {
        match self {
            Self::OpenAi(a) => a.api_base(),
            Self::Anthropic(a) => a.api_base(),
            Self::Gemini(a) => a.api_base(),
            Self::Bedrock(a) => a.api_base(),
        }
    }

    /// Builds the chat request.
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        match self {
            Self::OpenAi(a) => a.chat_request(req, options),
            Self::Anthropic(a) => a.chat_request(req, options),
            Self::Gemini(a) => a.chat_request(req, options),
            Self::Bedrock(a) => a.chat_request(req, options),
        }
    }

    /// Parses a successful chat response.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        match self {
            Self::OpenAi(a) => a.parse_chat_response(body),
            Self::Anthropic(a) => a.parse_chat_response(body),
            Self::Gemini(a) => a.parse_chat_response(body),
            Self::Bedrock(a) => a.parse_chat_response(body),
        }
    }

    /// The OpenAI-format body for the client plus its usage, forwarding bytes when the
    /// provider's format is already the client's.
    pub fn forward_chat_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        match self {
            Self::OpenAi(a) => a.forward_chat_response(body, client_model),
            Self::Anthropic(a) => a.forward_chat_response(body, client_model),
            Self::Gemini(a) => a.forward_chat_response(body, client_model),
            Self::Bedrock(a) => a.forward_chat_response(body, client_model),
        }
    }

    /// A decoder for a streamed chat response. Decoders that translate stamp their chunks'
    /// `created` with the time they were made.
    pub fn stream_decoder(&self) -> StreamDecoder {
        match self {
            Self::OpenAi(a) => StreamDecoder::OpenAi(a.stream_decoder()),
            Self::Anthropic(a) => StreamDecoder::Anthropic(Box::new(a.stream_decoder())),
            Self::Gemini(a) => StreamDecoder::Gemini(a.stream_decoder()),
            Self::Bedrock(a) => StreamDecoder::Bedrock(Box::new(a.stream_decoder())),
        }
    }

    /// Builds the embeddings request.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        match self {
            Self::OpenAi(a) => a.embeddings_request(req),
            Self::Anthropic(a) => a.embeddings_request(req),
            Self::Gemini(a) => a.embeddings_request(req),
            Self::Bedrock(a) => a.embeddings_request(req),
        }
    }

    /// The client-facing embeddings body and its usage, forwarding bytes.
    pub fn forward_embeddings_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        match self {
            Self::OpenAi(a) => a.forward_embeddings_response(body, client_model),
            Self::Anthropic(a) => a.forward_embeddings_response(body, client_model),
            Self::Gemini(a) => a.forward_embeddings_response(body, client_model),
            Self::Bedrock(a) => a.forward_embeddings_response(body, client_model),
        }
    }

    /// Parses a successful embeddings response.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        match self {
            Self::OpenAi(a) => a.parse_embeddings_response(body),
            Self::Anthropic(a) => a.parse_embeddings_response(body),
            Self::Gemini(a) => a.parse_embeddings_response(body),
            Self::Bedrock(a) => a.parse_embeddings_response(body),
        }
    }

    /// Adds what cannot be computed by pure translation: credentials that need the clock or
    /// the network (AWS SigV4 signatures, Google and Azure AD OAuth tokens). Called by the
    /// engine right before every send, retries included; a no-op for key-in-header providers.
    pub async fn authorize(
        &self,
        http: &HttpClient,
        request: &mut UpstreamRequest,
    ) -> Result<(), GatewayError> {
        let _ = (http, &request);
        match self {
            Self::OpenAi(_) | Self::Anthropic(_) | Self::Gemini(_) => Ok(()),
            Self::Bedrock(a) => a.authorize(request),
        }
    }

    /// Turns a non-2xx response into our error.
    pub fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        match self {
            Self::OpenAi(a) => openai::parse_error(a.provider_name(), status, headers, body),
            Self::Anthropic(_) => anthropic::parse_error(status, headers, body),
            Self::Gemini(a) => gemini::parse_error(a.provider_name(), status, headers, body),
            Self::Bedrock(_) => bedrock::parse_error(status, headers, body),
        }
    }
}

impl StreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        match self {
            Self::OpenAi(d) => d.feed(bytes),
            Self::Anthropic(d) => d.feed(bytes),
            Self::Gemini(d) => d.feed(bytes),
            Self::Bedrock(d) => d.feed(bytes),
        }
    }

    /// The upstream closed the body.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        match self {
            Self::OpenAi(d) => d.finish(),
            Self::Anthropic(d) => d.finish(),
            Self::Gemini(d) => d.finish(),
            Self::Bedrock(d) => d.finish(),
        }
    }
}
