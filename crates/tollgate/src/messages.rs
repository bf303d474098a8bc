//! The Anthropic Messages API in the library: the same native-or-bridge choice the proxy's
//! `/v1/messages` makes, with JSON values in and out.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tollgate_bridge::messages::{
    BridgeOptions, MessagesRequest, MessagesStreamEncoder, from_chat_response, new_id,
    to_chat_request,
};
use tollgate_core::GatewayError;
use tollgate_router::{CallContext, MessagesCall, NativeMessages};

use crate::Tollgate;

/// Anthropic stream events (`message_start`, `content_block_delta`, ..., `message_stop`) as
/// JSON; a failure is the last item.
pub type MessagesEvents = Pin<Box<dyn Stream<Item = Result<Value, GatewayError>> + Send>>;

const ROUTE: &str = "messages";

impl Tollgate {
    /// A Messages API request (`model`, `max_tokens`, `messages`, ...) answered by any model:
    /// Claude deployments natively, others through the chat format. Returns the `message`.
    pub async fn messages(&self, request: Value) -> Result<Value, GatewayError> {
        let mut body = object(request)?;
        body.remove("stream");
        let ctx = context();
        match self.router().messages_native(native(&body), &ctx).await? {
            MessagesCall::Done(out) => serde_json::from_slice(&out.body).map_err(|e| {
                GatewayError::InvalidUpstreamResponse {
                    provider: out.info.provider,
                    message: e.to_string(),
                }
            }),
            MessagesCall::Stream(_) => Err(GatewayError::Internal(
                "stream for a non-stream call".into(),
            )),
            MessagesCall::Bridge { claude, model } => {
                let req = typed(body)?;
                let mut chat = to_chat_request(&req, self.bridge_options(&req, claude))?;
                if let Some(group) = model {
                    chat.model = group;
                }
                let answer = self.router().completion(chat).await?;
                Ok(from_chat_response(&answer, &req.model, &new_id("msg")))
            }
        }
    }

    /// The same request streamed: Anthropic's events, in order, as JSON values.
    pub async fn messages_stream(&self, request: Value) -> Result<MessagesEvents, GatewayError> {
        let mut body = object(request)?;
        body.insert("stream".into(), Value::Bool(true));
        let ctx = context();
        match self.router().messages_native(native(&body), &ctx).await? {
            MessagesCall::Stream(stream) => {
                let (_usage, events) = stream.into_events();
                Ok(Box::pin(
                    events.map(|item| item.and_then(|f| frame_json(&f))),
                ))
            }
            MessagesCall::Done(_) => Err(GatewayError::Internal(
                "non-stream answer for a stream call".into(),
            )),
            MessagesCall::Bridge { claude, model } => {
                let req = typed(body)?;
                let mut chat = to_chat_request(&req, self.bridge_options(&req, claude))?;
                if let Some(group) = model {
                    chat.model = group;
                }
                let chunks = self.router().chat_stream(chat, &ctx).await?.into_chunks();
                let mut encoder = MessagesStreamEncoder::new(new_id("msg"), req.model.clone());
                let start = encoder.start();
                let state = (
                    Box::pin(chunks),
                    encoder,
                    std::collections::VecDeque::from(start),
                    false,
                );
                let s = futures::stream::unfold(
                    state,
                    |(mut chunks, mut enc, mut pending, mut done)| async move {
                        loop {
                            if let Some(f) = pending.pop_front() {
                                return Some((frame_json(&f), (chunks, enc, pending, done)));
                            }
                            if done {
                                return None;
                            }
                            match chunks.next().await {
                                Some(Ok(c)) => pending.extend(enc.push(&c)),
                                Some(Err(e)) => {
                                    done = true;
                                    return Some((Err(e), (chunks, enc, pending, done)));
                                }
                                None => {
                                    pending.extend(enc.finish());
                                    done = true;
                                }
                            }
                        }
                    },
                );
                Ok(Box::pin(s))
            }
        }
    }

    fn bridge_options(&self, req: &MessagesRequest, claude: bool) -> BridgeOptions {
        BridgeOptions {
            keep_cache_control: claude,
            drop_params: self.router().drop_params()
                || req.extra.get("drop_params") == Some(&Value::Bool(true)),
        }
    }
}

fn context() -> CallContext {
    CallContext {
        route: ROUTE,
        ..CallContext::default()
    }
}

fn object(request: Value) -> Result<Map<String, Value>, GatewayError> {
    match request {
        Value::Object(o) => Ok(o),
        _ => Err(GatewayError::invalid_request(
            "a Messages request is a JSON object",
            None,
        )),
    }
}

fn native(body: &Map<String, Value>) -> NativeMessages {
    NativeMessages {
        body: body.clone(),
        betas: Vec::new(),
        count_tokens: false,
    }
}

fn typed(body: Map<String, Value>) -> Result<MessagesRequest, GatewayError> {
    serde_json::from_value(Value::Object(body))
        .map_err(|e| GatewayError::invalid_request(e.to_string(), None))
}

/// The JSON of one `event: ...\ndata: {...}\n\n` frame.
fn frame_json(frame: &[u8]) -> Result<Value, GatewayError> {
    let text = std::str::from_utf8(frame).map_err(|e| GatewayError::Internal(e.to_string()))?;
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .unwrap_or_default();
    serde_json::from_str(data.trim()).map_err(|e| GatewayError::Internal(e.to_string()))
}
