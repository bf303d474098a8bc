//! The Anthropic Messages API (`/v1/messages`) on top of chat completions: any model the router
//! serves answers Messages clients (Claude Code and the `anthropic` SDK).
//!
//! `request` turns a Messages request into a chat request; `response` and `stream` turn the
//! chat answer back into a `message` object or Anthropic's SSE events; `error` renders a
//! gateway error in Anthropic's error shape; `tokens` estimates `count_tokens` for targets that
//! cannot count natively. Anthropic targets skip all of this (the router's native path).

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
pub mod tokens;

pub use error::{error_body, error_type};
pub use request::{BridgeOptions, MessagesRequest, to_chat_request};
pub use response::{from_chat_response, new_id};
pub use stream::MessagesStreamEncoder;
pub use tokens::{count_input_tokens, estimate_input_tokens};
