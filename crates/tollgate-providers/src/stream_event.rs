//! What every provider's stream decoder emits.

use bytes::Bytes;
use tollgate_core::{ChatCompletionChunk, GatewayError, Usage};

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
