//! Tollgate's shared vocabulary: the OpenAI wire types every other crate speaks, model strings,
//! and the one error taxonomy that maps to HTTP status and OpenAI error JSON.

pub mod chat;
pub mod embeddings;
pub mod env;
pub mod error;
pub mod models;
pub mod provider;
pub mod usage;

pub use chat::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatMessage, Choice,
    ChunkChoice, Delta, Extra, FinishReason, MessageContent, Role, StreamOptions, Tool, ToolCall,
    ToolCallDelta,
};
pub use embeddings::{EmbeddingsRequest, EmbeddingsResponse};
pub use env::Env;
pub use error::{ErrorBody, ErrorClass, GatewayError, Result, UpstreamError};
pub use models::ModelList;
pub use provider::{ModelRef, Provider};
pub use usage::Usage;

/// The version reported in `x-litellm-version` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
