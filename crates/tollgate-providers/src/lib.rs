//! Provider adapters. Translation is pure: an adapter turns our request into an
//! [`UpstreamRequest`] and response bytes back into our types, and never performs I/O. The one
//! place that talks to the network is [`transport`], shared by every adapter.
//!
//! One module per provider, with the same file names in each; adding a provider is adding a
//! module and a variant of [`Adapter`].

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod json_splice;
pub mod native;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod openai_compat;
pub mod operations;
pub mod params;
pub mod sse;
pub mod stream_event;
pub mod transport;
pub mod usage_scan;
pub mod vertex;

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
    /// Azure OpenAI (`azure/`) and Azure AI Foundry (`azure_ai/`) (boxed: it wraps an OpenAI
    /// adapter and adds URLs and a credential).
    Azure(Box<azure::AzureAdapter>),
    /// Cohere v2 chat and embed (`cohere/`, `cohere_chat/`).
    Cohere(cohere::CohereAdapter),
    /// Ollama's native API (`ollama/`, `ollama_chat/`).
    Ollama(ollama::OllamaAdapter),
    /// Vertex AI (`vertex_ai/`): Gemini and Claude models (boxed: it holds a translator).
    VertexAi(Box<vertex::VertexAdapter>),
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
    /// Azure's OpenAI-format SSE (without its prompt-filter chunk).
    Azure(azure::AzureStreamDecoder),
    /// Cohere v2 named SSE events.
    Cohere(cohere::CohereStreamDecoder),
    /// Ollama NDJSON.
    Ollama(ollama::OllamaStreamDecoder),
    /// Vertex AI: Gemini or Anthropic SSE, by model.
    VertexAi(vertex::VertexStreamDecoder),
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
        if let Some(a) = azure::AzureAdapter::new(model, params, env)? {
            return Ok(Self::Azure(Box::new(a)));
        }
        if let Some(a) = cohere::CohereAdapter::new(model, params, env)? {
            return Ok(Self::Cohere(a));
        }
        if let Some(a) = ollama::OllamaAdapter::new(model, params, env)? {
            return Ok(Self::Ollama(a));
        }
        if let Some(a) = vertex::VertexAdapter::new(model, params, env)? {
            return Ok(Self::VertexAi(Box::new(a)));
        }
        if let Some(a) = bedrock::BedrockAdapter::new(model, params, env)? {
            return Ok(Self::Bedrock(a));
        }
        Err(GatewayError::ProviderNotImplemented {
            provider: model.provider.to_string(),
            model: model.canonical(),
        })
    }

    /// Whether the provider speaks the OpenAI format itself (its bytes can be forwarded).
    pub fn is_openai_format(&self) -> bool {
        matches!(self, Self::OpenAi(_) | Self::Azure(_))
    }

    /// Display name used in error messages (`OpenAI` in `OpenAIException`).
    pub fn provider_name(&self) -> &'static str {
        match self {
            Self::OpenAi(a) => a.provider_name(),
            Self::Anthropic(a) => a.provider_name(),
            Self::Gemini(a) => a.provider_name(),
            Self::Azure(a) => a.provider_name(),
            Self::Cohere(a) => a.provider_name(),
            Self::Ollama(a) => a.provider_name(),
            Self::VertexAi(a) => a.provider_name(),
            Self::Bedrock(a) => a.provider_name(),
        }
    }

    /// Base URL of the upstream, for `x-litellm-model-api-base`.
    pub fn api_base(&self) -> &str {
        match self {
            Self::OpenAi(a) => a.api_base(),
            Self::Anthropic(a) => a.api_base(),
            Self::Gemini(a) => a.api_base(),
            Self::Azure(a) => a.api_base(),
            Self::Cohere(a) => a.api_base(),
            Self::Ollama(a) => a.api_base(),
            Self::VertexAi(a) => a.api_base(),
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
            Self::Azure(a) => a.chat_request(req, options),
            Self::Cohere(a) => a.chat_request(req, options),
            Self::Ollama(a) => a.chat_request(req, options),
            Self::VertexAi(a) => a.chat_request(req, options),
            Self::Bedrock(a) => a.chat_request(req, options),
        }
    }

    /// Parses a successful chat response.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        match self {
            Self::OpenAi(a) => a.parse_chat_response(body),
            Self::Anthropic(a) => a.parse_chat_response(body),
            Self::Gemini(a) => a.parse_chat_response(body),
            Self::Azure(a) => a.parse_chat_response(body),
            Self::Cohere(a) => a.parse_chat_response(body),
            Self::Ollama(a) => a.parse_chat_response(body),
            Self::VertexAi(a) => a.parse_chat_response(body),
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
            Self::Azure(a) => a.forward_chat_response(body, client_model),
            Self::Anthropic(_)
            | Self::Gemini(_)
            | Self::Cohere(_)
            | Self::Ollama(_)
            | Self::VertexAi(_)
            | Self::Bedrock(_) => {
                // Translated formats: the parsed answer under the client's model name.
                let mut response = self.parse_chat_response(&body)?;
                client_model.clone_into(&mut response.model);
                let usage = response.usage.clone();
                let out = serde_json::to_vec(&response)
                    .map_err(|e| GatewayError::Internal(e.to_string()))?;
                Ok((Bytes::from(out), usage))
            }
        }
    }

    /// A decoder for a streamed chat response. Decoders that translate stamp their chunks'
    /// `created` with the time they were made.
    pub fn stream_decoder(&self) -> StreamDecoder {
        match self {
            Self::OpenAi(a) => StreamDecoder::OpenAi(a.stream_decoder()),
            Self::Anthropic(a) => StreamDecoder::Anthropic(Box::new(a.stream_decoder())),
            Self::Gemini(a) => StreamDecoder::Gemini(a.stream_decoder()),
            Self::Azure(a) => StreamDecoder::Azure(a.stream_decoder()),
            Self::Cohere(a) => StreamDecoder::Cohere(a.stream_decoder()),
            Self::Ollama(a) => StreamDecoder::Ollama(a.stream_decoder()),
            Self::VertexAi(a) => StreamDecoder::VertexAi(a.stream_decoder()),
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
            Self::Azure(a) => a.embeddings_request(req),
            Self::Cohere(a) => a.embeddings_request(req),
            Self::Ollama(a) => a.embeddings_request(req),
            Self::VertexAi(a) => a.embeddings_request(req),
            Self::Bedrock(a) => a.embeddings_request(req),
        }
    }

    /// The upstream calls one embeddings request needs, in order: one for every provider but
    /// Bedrock Titan, which embeds one text per call. The engine sends them (I/O is not the
    /// adapter's) and gives the bodies back to [`Self::merge_embeddings_bodies`].
    pub fn embeddings_requests(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<Vec<UpstreamRequest>, GatewayError> {
        match self {
            Self::Bedrock(a) => a.embeddings_requests(req),
            _ => Ok(vec![self.embeddings_request(req)?]),
        }
    }

    /// One response body from the bodies of [`Self::embeddings_requests`]' calls, in order;
    /// the result goes to the usual parse / forward functions.
    pub fn merge_embeddings_bodies(&self, mut bodies: Vec<Bytes>) -> Result<Bytes, GatewayError> {
        match self {
            Self::Bedrock(a) => a.merge_embeddings_bodies(bodies),
            _ => match (bodies.pop(), bodies.is_empty()) {
                (Some(only), true) => Ok(only),
                _ => Err(GatewayError::Internal(format!(
                    "{} embeddings are one call, not {}",
                    self.provider_name(),
                    bodies.len() + 1
                ))),
            },
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
            Self::Azure(a) => a.forward_embeddings_response(body, client_model),
            Self::Cohere(a) => a.forward_embeddings_response(body, client_model),
            Self::Ollama(a) => a.forward_embeddings_response(body, client_model),
            Self::VertexAi(a) => a.forward_embeddings_response(body, client_model),
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
            Self::Azure(a) => a.parse_embeddings_response(body),
            Self::Cohere(a) => a.parse_embeddings_response(body),
            Self::Ollama(a) => a.parse_embeddings_response(body),
            Self::VertexAi(a) => a.parse_embeddings_response(body),
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
        match self {
            Self::OpenAi(_) => Ok(()),
            Self::Anthropic(_) => Ok(()),
            Self::Gemini(_) => Ok(()),
            Self::Azure(a) => a.authorize(http, request).await,
            Self::Cohere(_) => Ok(()),
            Self::Ollama(_) => Ok(()),
            Self::VertexAi(a) => a.authorize(http, request).await,
            Self::Bedrock(a) => a.authorize(http, request).await,
        }
    }

    /// Turns a non-2xx response into our error.
    pub fn parse_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        match self {
            Self::OpenAi(a) => openai::parse_error(a.provider_name(), status, headers, body),
            Self::Anthropic(_) => anthropic::parse_error(status, headers, body),
            Self::Gemini(a) => gemini::parse_error(a.provider_name(), status, headers, body),
            Self::Azure(a) => azure::parse_error(a.provider_name(), status, headers, body),
            Self::Cohere(_) => cohere::parse_error(status, headers, body),
            Self::Ollama(_) => ollama::parse_error(status, headers, body),
            Self::VertexAi(_) => vertex::parse_error(status, headers, body),
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
            Self::Azure(d) => d.feed(bytes),
            Self::Cohere(d) => d.feed(bytes),
            Self::Ollama(d) => d.feed(bytes),
            Self::VertexAi(d) => d.feed(bytes),
            Self::Bedrock(d) => d.feed(bytes),
        }
    }

    /// The upstream closed the body.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        match self {
            Self::OpenAi(d) => d.finish(),
            Self::Anthropic(d) => d.finish(),
            Self::Gemini(d) => d.finish(),
            Self::Azure(d) => d.finish(),
            Self::Cohere(d) => d.finish(),
            Self::Ollama(d) => d.finish(),
            Self::VertexAi(d) => d.finish(),
            Self::Bedrock(d) => d.finish(),
        }
    }
}
