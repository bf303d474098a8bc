//! The OpenAI Responses API (`/v1/responses`) on top of chat completions: any model the router
//! serves answers Responses clients (Codex and the `openai` SDK's `responses` methods).
//!
//! `request` turns a Responses request plus its stored history into a chat request; `response`
//! and `stream` turn the chat answer back into a `response` object or its typed events; `store`
//! keeps responses for `previous_response_id`.

pub mod request;
pub mod response;
pub mod store;
pub mod stream;

pub use request::{Input, ResponsesRequest, to_chat_request};
pub use response::{from_chat_response, new_id};
pub use store::{MemoryResponseStore, ResponseStore, StoredResponse, conversation};
pub use stream::ResponsesStreamEncoder;
