//! What every provider's stream decoder emits.

use bytes::Bytes;
use tollgate_core::{ChatCompletionChunk, Extra, GatewayError, Usage};

/// One decoded step of a provider stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// An OpenAI-format chunk exactly as the provider sent it (its `model` not yet rewritten),
    /// with what the gateway needed to read from it.
    Raw {
        json: Bytes,
        usage: Option<Box<Usage>>,
        /// A chunk with `choices: []`: the usage chunk of `stream_options.include_usage`.
        usage_only: bool,
    },
    /// A chunk translated from the provider's format (or normalised).
    Chunk(Box<ChatCompletionChunk>),
    /// The provider reported an error mid-stream, or the stream broke.
    Error(GatewayError),
    /// The provider finished the stream.
    Done,
}

impl StreamEvent {
    /// The `choices: []` usage chunk a decoder sends right before a mid-stream
    /// [`StreamEvent::Error`] when the failing upstream reported (or had already counted)
    /// tokens: those were billed, so usage tracking and spend must see them, and a client
    /// that asked for usage gets it as on a normal end.
    pub fn usage_before_error(id: &str, model: &str, created: i64, usage: Usage) -> Self {
        Self::Chunk(Box::new(ChatCompletionChunk {
            id: id.to_owned(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: Some(Some(usage)),
            system_fingerprint: None,
            service_tier: None,
            extra: Extra::new(),
        }))
    }
}
