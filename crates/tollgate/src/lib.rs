//! Tollgate as a library: call any supported model by its model string, in-process, with the
//! same engine the proxy uses.
//!
//! ```no_run
//! # async fn run() -> Result<(), tollgate::GatewayError> {
//! use tollgate::{ChatMessage, Tollgate};
//!
//! let client = Tollgate::new()?;
//! let answer = client.chat("openai/gpt-4o-mini", vec![ChatMessage::user("Hello!")]).await?;
//! println!("{}", answer.choices[0].message.text_content().unwrap_or_default());
//! # Ok(()) }
//! ```

mod messages;

use std::path::Path;

use futures::Stream;

pub use messages::MessagesEvents;
pub use tollgate_config::{Config, ConfigError};
pub use tollgate_core::*;
pub use tollgate_router::Router;

/// Why a [`Tollgate`] could not be built from a config file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// The library entry point: a router over either every `provider/model` string (credentials
/// from the environment) or the deployments of a LiteLLM `config.yaml`.
#[derive(Debug, Clone)]
pub struct Tollgate {
    router: Router,
}

impl Tollgate {
    /// Any `provider/model` string, called directly with credentials from the environment
    /// (`OPENAI_API_KEY`, `GROQ_API_KEY`, ...).
    pub fn new() -> Result<Self, GatewayError> {
        Ok(Self {
            router: Router::direct()?,
        })
    }

    /// The deployments, aliases and settings of a LiteLLM `config.yaml`.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self, SetupError> {
        let config = Config::load(path.as_ref())?;
        Ok(Self::from_config(&config)?)
    }

    /// An already loaded config.
    pub fn from_config(config: &Config) -> Result<Self, GatewayError> {
        Ok(Self {
            router: Router::from_config(config)?,
        })
    }

    /// The engine underneath, for callers that need more control.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// A chat completion from a model string and messages.
    pub async fn chat(
        &self,
        model: &str,
        messages: Vec<ChatMessage>,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        self.completion(ChatCompletionRequest::new(model, messages))
            .await
    }

    /// A chat completion from a full request.
    pub async fn completion(
        &self,
        request: ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        self.router.completion(request).await
    }

    /// A streamed chat completion. Usage arrives in a final chunk with no choices when the
    /// request sets `stream_options.include_usage`.
    pub async fn completion_stream(
        &self,
        request: ChatCompletionRequest,
    ) -> Result<
        impl Stream<Item = Result<ChatCompletionChunk, GatewayError>> + Send + 'static,
        GatewayError,
    > {
        let ctx = tollgate_router::CallContext {
            route: "completion",
            ..Default::default()
        };
        Ok(self.router.chat_stream(request, &ctx).await?.into_chunks())
    }

    /// Embeddings for a list of texts.
    pub async fn embed(
        &self,
        model: &str,
        input: Vec<String>,
    ) -> Result<EmbeddingsResponse, GatewayError> {
        self.embedding(EmbeddingsRequest::new(model, input)).await
    }

    /// Embeddings from a full request.
    pub async fn embedding(
        &self,
        request: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, GatewayError> {
        self.router.embeddings(request).await
    }
}
