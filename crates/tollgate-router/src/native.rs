//! `/v1/messages` to a deployment that speaks the Messages format itself (Anthropic, Claude
//! on Vertex AI): the client's body and the provider's stream pass through, so thinking
//! signatures, `cache_control` and fields the gateway does not model arrive intact. Only the
//! model id is swapped (upstream id out, the client's name back), and usage is read on the
//! way for spend.
//!
//! Other deployments return [`MessagesCall::Bridge`]: the caller translates through the chat
//! format instead.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tollgate_core::usage::PromptTokensDetails;
use tollgate_core::{GatewayError, Usage};
use tollgate_providers::bedrock::InvokeStreamToSse;
use tollgate_providers::json_splice::replace_top_level_string;
use tollgate_providers::sse::{SseDecoder, SseEvent};

use crate::{
    CallContext, CallInfo, ChatBytes, Pick, RequestOptions, Router, RouterError, Target, info,
};

/// A Messages request as the client sent it.
#[derive(Debug, Clone)]
pub struct NativeMessages {
    /// The JSON body (`model` is the client's name).
    pub body: Map<String, Value>,
    /// The client's `anthropic-beta` flags.
    pub betas: Vec<String>,
    /// `/v1/messages/count_tokens` rather than `/v1/messages`.
    pub count_tokens: bool,
}

/// How a Messages call went.
pub enum MessagesCall {
    /// A native JSON answer (`model` set to the client's name).
    Done(ChatBytes),
    /// A native event stream whose first bytes arrived.
    Stream(NativeStream),
    /// The deployment does not speak Messages (or the call needs the chat path, such as
    /// `mock_response`): translate through chat. `claude` says the target is still a Claude
    /// model (Bedrock), so Anthropic-only markers like `cache_control` are worth keeping.
    Bridge {
        claude: bool,
        /// The model group to call instead of the requested name: set when a fallback reached
        /// a group that does not speak Messages.
        model: Option<String>,
    },
}

impl Router {
    /// Serves a Messages request natively when the deployment picked for it speaks the format,
    /// through the routing loop (retries, fallbacks, cooldowns) like every other call. When the
    /// name resolves to a deployment that does not, or a fallback lands on one, the answer is
    /// [`MessagesCall::Bridge`] and the caller goes through the chat format.
    pub async fn messages_native(
        &self,
        mut req: NativeMessages,
        ctx: &CallContext,
    ) -> Result<MessagesCall, RouterError> {
        let model = req
            .body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let first = self.first_member(&model, ctx.route)?;
        if !first.adapter.speaks_messages() {
            return Ok(MessagesCall::Bridge {
                claude: is_claude(&first),
                model: None,
            });
        }
        // `metadata` is Anthropic's own field here (LiteLLM's is `litellm_metadata`).
        let metadata = req.body.shift_remove("metadata");
        let opts = RequestOptions::take(&mut req.body, &mut None)?;
        if opts.mock_response.is_some()
            || first
                .deployment
                .config
                .litellm_params
                .mock_response
                .is_some()
        {
            return Ok(MessagesCall::Bridge {
                claude: true,
                model: None,
            });
        }
        let first_group = first.group.clone();
        if let Some(m) = metadata {
            req.body.insert("metadata".into(), m);
        }
        let count_tokens = req.count_tokens;
        let stream = !count_tokens && req.body.get("stream") == Some(&Value::Bool(true));
        let ctx = self.effective_context(ctx, &opts, stream);
        let (body, betas, model_ref) = (&req.body, &req.betas, &model);
        let first_group = &first_group;
        let routed = self
            .route(&model, &ctx, |pick: Pick<'_>| async move {
                let target = pick.target;
                // Another group reached by a fallback is bridged under its own name, so the
                // chat path does not call the failing group again.
                let moved = (target.group != *first_group).then(|| target.group.clone());
                if !target.adapter.speaks_messages() {
                    return Ok(MessagesCall::Bridge {
                        claude: is_claude(&target),
                        model: moved,
                    });
                }
                let Some(upstream_req) = target.adapter.native_messages_request(
                    body.clone(),
                    betas,
                    stream,
                    count_tokens,
                ) else {
                    return Ok(MessagesCall::Bridge {
                        claude: true,
                        model: moved,
                    });
                };
                let upstream_req = upstream_req?;
                let started = Instant::now();
                if stream {
                    return self
                        .native_stream(
                            &target,
                            upstream_req,
                            pick.timeout,
                            model_ref.clone(),
                            started,
                        )
                        .await
                        .map(MessagesCall::Stream);
                }
                let body = self.exchange(&target, upstream_req, pick.timeout).await?;
                let usage = if count_tokens {
                    None
                } else {
                    message_usage(&body)
                };
                let body = if count_tokens {
                    body
                } else {
                    replace_top_level_string(&body, "model", model_ref).unwrap_or(body)
                };
                Ok(MessagesCall::Done(ChatBytes {
                    body,
                    usage,
                    info: info(&target, started.elapsed()),
                }))
            })
            .await?;
        // The routed info carries the attempt counts for the response headers.
        Ok(match routed.value {
            MessagesCall::Done(mut out) => {
                out.info = routed.info;
                MessagesCall::Done(out)
            }
            MessagesCall::Stream(mut s) => {
                s.info = routed.info;
                MessagesCall::Stream(s)
            }
            bridge => bridge,
        })
    }

    async fn native_stream(
        &self,
        target: &Target<'_>,
        upstream_req: tollgate_providers::UpstreamRequest,
        timeout: Duration,
        client_model: String,
        started: Instant,
    ) -> Result<NativeStream, GatewayError> {
        let provider = target.adapter.provider_name();
        let response = self.send_to(target, upstream_req, timeout).await?;
        if !response.status.is_success() {
            let status = response.status.as_u16();
            let headers = response.headers.clone();
            let body = response.bytes(timeout, provider).await?;
            return Err(target.adapter.parse_error(status, &headers, &body));
        }
        let mut body = response.into_stream(provider).boxed();
        let mut rewriter = NativeRewriter::new(client_model);
        rewriter.framing = target.adapter.native_stream_framing();
        // Wait for the first event, so an upstream that fails at once is a normal error.
        let mut first = Vec::new();
        while first.is_empty() {
            match tokio::time::timeout(timeout, body.next()).await {
                Err(_) => {
                    return Err(GatewayError::Timeout {
                        provider: provider.to_owned(),
                        seconds: timeout.as_secs_f64(),
                    });
                }
                Ok(None) => {
                    return Err(GatewayError::Connection {
                        provider: provider.to_owned(),
                        message: "the provider closed the stream without sending anything".into(),
                    });
                }
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(bytes))) => first = rewriter.feed(&bytes),
            }
        }
        if let Some(Err(e)) = first.first() {
            return Err(e.clone());
        }
        Ok(NativeStream {
            info: info(target, started.elapsed()),
            provider,
            first,
            body,
            rewriter,
        })
    }
}

/// A Claude model behind a chat-format adapter (Bedrock Converse keeps `cache_control` as
/// cache points).
fn is_claude(target: &Target<'_>) -> bool {
    let model = target.deployment.litellm_model.to_ascii_lowercase();
    matches!(target.adapter, tollgate_providers::Adapter::Bedrock(_))
        && (model.contains("anthropic.") || model.contains("claude"))
}

/// A native Messages event stream after its first event.
pub struct NativeStream {
    /// Which deployment serves it.
    pub info: CallInfo,
    provider: &'static str,
    first: Vec<Result<Bytes, GatewayError>>,
    body: BoxStream<'static, Result<Bytes, GatewayError>>,
    rewriter: NativeRewriter,
}

impl std::fmt::Debug for NativeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeStream")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Usage of a stream, filled in as events pass; readable once the stream ended.
pub type UsageCell = Arc<Mutex<Option<Usage>>>;

impl NativeStream {
    /// Anthropic SSE frames as the provider sent them (model swapped). An error is the last
    /// item; nothing follows `message_stop`. Dropping the stream cancels the upstream call.
    pub fn into_events(self) -> (UsageCell, impl Stream<Item = Result<Bytes, GatewayError>>) {
        let cell: UsageCell = Arc::new(Mutex::new(None));
        let out = Arc::clone(&cell);
        let state = (self, std::collections::VecDeque::new(), false, cell);
        let s = futures::stream::unfold(state, |(mut s, mut pending, mut done, cell)| async move {
            if pending.is_empty() && !s.first.is_empty() {
                pending.extend(std::mem::take(&mut s.first));
            }
            loop {
                if let Some(item) = pending.pop_front() {
                    if item.is_err() {
                        done = true;
                        pending.clear();
                        publish(&cell, &s.rewriter);
                    }
                    return Some((item, (s, pending, done, cell)));
                }
                if done || s.rewriter.stopped() {
                    publish(&cell, &s.rewriter);
                    return None;
                }
                match s.body.next().await {
                    Some(Ok(bytes)) => pending.extend(s.rewriter.feed(&bytes)),
                    Some(Err(e)) => pending.push_back(Err(e)),
                    None => {
                        pending.extend(s.rewriter.finish(s.provider));
                        done = true;
                    }
                }
            }
        });
        (out, s)
    }
}

fn publish(cell: &UsageCell, rewriter: &NativeRewriter) {
    *cell.lock().unwrap_or_else(PoisonError::into_inner) = rewriter.usage();
}

/// Re-frames a Messages SSE stream: `message_start` gets the client's model name, usage is
/// read from `message_start` and `message_delta`, and nothing passes after `message_stop`
/// or an `error` event. Pure, so it is tested at every byte split.
#[derive(Debug)]
pub struct NativeRewriter {
    /// Turns a non-SSE stream (Bedrock's event stream) into SSE first.
    framing: Option<InvokeStreamToSse>,
    sse: SseDecoder,
    client_model: String,
    usage: AnthropicUsage,
    saw_usage: bool,
    stopped: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct AnthropicUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl AnthropicUsage {
    fn update(&mut self, u: &Value) -> bool {
        let mut any = false;
        for (key, field) in [
            ("input_tokens", &mut self.input),
            ("output_tokens", &mut self.output),
            ("cache_read_input_tokens", &mut self.cache_read),
            ("cache_creation_input_tokens", &mut self.cache_creation),
        ] {
            if let Some(n) = u.get(key).and_then(Value::as_u64) {
                *field = n;
                any = true;
            }
        }
        any
    }

    /// In chat terms: prompt tokens include the cache reads and writes.
    fn to_usage(self) -> Usage {
        let mut u = Usage::new(
            self.input + self.cache_read + self.cache_creation,
            self.output,
        );
        if self.cache_read > 0 {
            u.prompt_tokens_details = Some(PromptTokensDetails {
                cached_tokens: Some(self.cache_read),
                ..PromptTokensDetails::default()
            });
        }
        u.extra.insert(
            "cache_creation_input_tokens".into(),
            Value::from(self.cache_creation),
        );
        u.extra.insert(
            "cache_read_input_tokens".into(),
            Value::from(self.cache_read),
        );
        u
    }
}

impl NativeRewriter {
    /// A rewriter reporting `client_model`.
    pub fn new(client_model: String) -> Self {
        Self {
            framing: None,
            sse: SseDecoder::new(),
            client_model,
            usage: AnthropicUsage::default(),
            saw_usage: false,
            stopped: false,
        }
    }

    /// Frames completed by `bytes`.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<Bytes, GatewayError>> {
        if self.stopped {
            return Vec::new();
        }
        let events = match self.framing.as_mut().map(|f| f.feed(bytes)) {
            None => self.sse.feed(bytes),
            Some(Ok(sse)) => self.sse.feed(&sse),
            Some(Err(e)) => {
                self.stopped = true;
                return vec![Err(e)];
            }
        };
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            if let Some(f) = self.event(ev) {
                out.push(Ok(f));
            }
        }
        out
    }

    /// The end of the upstream body: a stream cut before `message_stop` is an error.
    pub fn finish(&mut self, provider: &str) -> Vec<Result<Bytes, GatewayError>> {
        let mut out = Vec::new();
        if let Some(Err(e)) = self.framing.as_mut().map(InvokeStreamToSse::finish) {
            if !self.stopped {
                self.stopped = true;
                out.push(Err(e));
            }
        }
        if let Some(ev) = self.sse.finish() {
            if let Some(f) = self.event(ev) {
                out.push(Ok(f));
            }
        }
        if !self.stopped {
            self.stopped = true;
            out.push(Err(GatewayError::Connection {
                provider: provider.to_owned(),
                message: "the stream ended before message_stop".into(),
            }));
        }
        out
    }

    /// Whether `message_stop` or an `error` event passed.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Usage seen so far, in chat terms.
    pub fn usage(&self) -> Option<Usage> {
        self.saw_usage.then(|| self.usage.to_usage())
    }

    fn event(&mut self, ev: SseEvent) -> Option<Bytes> {
        if self.stopped || ev.data.is_empty() {
            return None;
        }
        let mut data = ev.data;
        let name = match ev.event {
            Some(n) => n,
            None => serde_json::from_slice::<Value>(&data)
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "message".to_owned()),
        };
        match name.as_str() {
            "message_start" => {
                if let Ok(mut v) = serde_json::from_slice::<Value>(&data) {
                    if let Some(m) = v.get_mut("message").and_then(Value::as_object_mut) {
                        if let Some(u) = m.get("usage") {
                            self.saw_usage |= self.usage.update(u);
                        }
                        m.insert("model".into(), Value::String(self.client_model.clone()));
                        if let Ok(b) = serde_json::to_vec(&v) {
                            data = Bytes::from(b);
                        }
                    }
                }
            }
            "message_delta" => {
                if let Ok(v) = serde_json::from_slice::<Value>(&data) {
                    if let Some(u) = v.get("usage") {
                        self.saw_usage |= self.usage.update(u);
                    }
                }
            }
            "message_stop" | "error" => self.stopped = true,
            _ => {}
        }
        let mut b = BytesMut::with_capacity(data.len() + name.len() + 16);
        b.put_slice(b"event: ");
        b.put_slice(name.as_bytes());
        b.put_slice(b"\ndata: ");
        b.put_slice(&data);
        b.put_slice(b"\n\n");
        Some(b.freeze())
    }
}

/// Usage of a non-streamed Messages answer, in chat terms.
fn message_usage(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut u = AnthropicUsage::default();
    u.update(v.get("usage")?).then(|| u.to_usage())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const STREAM: &str = "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\r\n\r\n\
: keep-alive\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCkYIBxgCKkD+/=\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n\
event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"late\"}}\n\n";

    fn run(split: usize) -> (String, Option<Usage>, bool) {
        let mut r = NativeRewriter::new("my-claude".into());
        let mut out = String::new();
        let bytes = STREAM.as_bytes();
        let mut pieces = vec![&bytes[..split], &bytes[split..]];
        pieces.retain(|p| !p.is_empty());
        let mut errors = false;
        for p in pieces {
            for f in r.feed(p) {
                out.push_str(std::str::from_utf8(&f.unwrap()).unwrap());
            }
        }
        for f in r.finish("Anthropic") {
            errors |= f.is_err();
        }
        (out, r.usage(), errors)
    }

    #[test]
    fn passes_events_through_at_every_split() {
        let (whole, usage, errors) = run(0);
        assert!(!errors);
        assert!(whole.contains("\"model\":\"my-claude\""));
        assert!(!whole.contains("claude-sonnet-4-5-20250929"));
        assert!(whole.contains("\"signature\":\"EqQBCkYIBxgCKkD+/=\""));
        assert!(whole.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
        assert!(!whole.contains("late"), "nothing after message_stop");
        let u = usage.unwrap();
        assert_eq!(u.prompt_tokens, 112);
        assert_eq!(u.completion_tokens, 42);
        assert_eq!(u.cached_tokens(), 100);
        for split in 1..STREAM.len() {
            let (out, u2, e) = run(split);
            assert_eq!(out, whole, "split at {split}");
            assert_eq!(u2.unwrap(), u);
            assert!(!e);
        }
    }

    #[test]
    fn a_cut_stream_ends_with_an_error() {
        let mut r = NativeRewriter::new("m".into());
        let cut = &STREAM[..STREAM.find("event: message_delta").unwrap()];
        let frames = r.feed(cut.as_bytes());
        assert!(frames.iter().all(Result::is_ok));
        let end = r.finish("Anthropic");
        assert!(matches!(
            end.last(),
            Some(Err(GatewayError::Connection { .. }))
        ));
    }

    #[test]
    fn non_stream_usage_is_read() {
        let u = message_usage(
            br#"{"usage":{"input_tokens":5,"output_tokens":7,"cache_creation_input_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(u.prompt_tokens, 8);
        assert_eq!(u.completion_tokens, 7);
        assert!(message_usage(b"{}").is_none());
    }
}
