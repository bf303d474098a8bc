//! A provider stream after its first event: the same events shaped for the proxy (OpenAI SSE
//! bytes) or for the library (typed chunks).

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tollgate_core::{ChatCompletionChunk, GatewayError, Usage};
use tollgate_providers::json_splice::{remove_top_level_null, replace_top_level_string};
use tollgate_providers::{StreamDecoder, StreamEvent};

use crate::CallInfo;

/// Provider events, decoded as bytes arrive.
pub(crate) struct EventSource {
    body: BoxStream<'static, Result<Bytes, GatewayError>>,
    decoder: StreamDecoder,
    pending: VecDeque<StreamEvent>,
    ended: bool,
}

impl EventSource {
    pub(crate) fn new(
        body: BoxStream<'static, Result<Bytes, GatewayError>>,
        decoder: StreamDecoder,
    ) -> Self {
        Self {
            body,
            decoder,
            pending: VecDeque::new(),
            ended: false,
        }
    }

    /// The next event; `None` after `Done` or an error.
    pub(crate) async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                if matches!(ev, StreamEvent::Done | StreamEvent::Error(_)) {
                    self.pending.clear();
                    self.ended = true;
                }
                return Some(ev);
            }
            if self.ended {
                return None;
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.pending.extend(self.decoder.feed(&bytes)),
                Some(Err(e)) => self.pending.push_back(StreamEvent::Error(e)),
                None => {
                    self.pending.extend(self.decoder.finish());
                    if self.pending.is_empty() {
                        self.ended = true;
                    }
                }
            }
        }
    }
}

/// How a stream ended, reported once to the hook set with [`ChatStream::on_end`].
#[derive(Debug, Clone)]
pub struct StreamEnd {
    /// The last usage the provider reported (the final usage chunk when the stream completed).
    pub usage: Option<Usage>,
    /// The provider failed mid-stream.
    pub error: Option<GatewayError>,
    /// The stream was dropped before its end (the client went away).
    pub cancelled: bool,
}

type EndHook = Box<dyn FnOnce(StreamEnd) + Send>;

/// A chat stream whose first event has arrived (so a failing upstream was reported as a
/// normal error before any byte reached the client).
pub struct ChatStream {
    /// Which deployment serves it.
    pub info: CallInfo,
    pub(crate) first: Option<StreamEvent>,
    pub(crate) source: EventSource,
    pub(crate) client_model: String,
    pub(crate) include_usage: bool,
    pub(crate) on_end: Option<EndHook>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

struct Shaper {
    stream: ChatStream,
    usage: Option<Usage>,
    finished: bool,
}

impl Drop for Shaper {
    fn drop(&mut self) {
        if let Some(hook) = self.stream.on_end.take() {
            hook(StreamEnd {
                usage: self.usage.take(),
                error: None,
                cancelled: true,
            });
        }
    }
}

impl Shaper {
    async fn next_event(&mut self) -> Option<StreamEvent> {
        if self.finished {
            return None;
        }
        let ev = match self.stream.first.take() {
            Some(ev) => Some(ev),
            None => self.stream.source.next().await,
        };
        match &ev {
            None | Some(StreamEvent::Done | StreamEvent::Error(_)) => self.finished = true,
            Some(StreamEvent::Raw { usage: Some(u), .. }) => self.usage = Some((**u).clone()),
            Some(StreamEvent::Chunk(c)) => {
                if let Some(u) = c.usage() {
                    self.usage = Some(u.clone());
                }
            }
            Some(_) => {}
        }
        if self.finished {
            tracing::debug!(model_id = %self.stream.info.deployment_id, usage = ?self.usage, "stream finished");
            if let Some(hook) = self.stream.on_end.take() {
                hook(StreamEnd {
                    usage: self.usage.clone(),
                    error: match &ev {
                        Some(StreamEvent::Error(e)) => Some(e.clone()),
                        _ => None,
                    },
                    cancelled: false,
                });
            }
        }
        ev
    }
}

impl ChatStream {
    /// Calls `hook` once when the stream ends: completed, failed, or dropped by the client.
    pub fn on_end(mut self, hook: impl FnOnce(StreamEnd) + Send + 'static) -> Self {
        self.on_end = Some(Box::new(hook));
        self
    }

    /// OpenAI SSE frames: `data: {...}\n\n` per chunk, `data: [DONE]\n\n` at the end, one
    /// `data: {"error":...}` frame (and no `[DONE]`) if the provider fails mid-stream. The usage
    /// chunk is passed on only when the client asked for it. Dropping the stream cancels the
    /// upstream request.
    pub fn into_sse(self) -> impl Stream<Item = Bytes> + Send + 'static {
        let shaper = Shaper {
            stream: self,
            usage: None,
            finished: false,
        };
        futures::stream::unfold(shaper, |mut s| async move {
            loop {
                let ev = s.next_event().await?;
                let frame = match ev {
                    StreamEvent::Raw {
                        usage_only: true, ..
                    } if !s.stream.include_usage => continue,
                    StreamEvent::Raw { json, .. } => {
                        let json = replace_top_level_string(&json, "model", &s.stream.client_model)
                            .unwrap_or(json);
                        let json = if s.stream.include_usage {
                            json
                        } else {
                            remove_top_level_null(&json, "usage").unwrap_or(json)
                        };
                        sse_frame(&json)
                    }
                    StreamEvent::Chunk(mut chunk) => {
                        if chunk.choices.is_empty()
                            && chunk.usage().is_some()
                            && !s.stream.include_usage
                        {
                            continue;
                        }
                        s.stream.client_model.clone_into(&mut chunk.model);
                        if !s.stream.include_usage && chunk.usage == Some(None) {
                            chunk.usage = None;
                        }
                        match serde_json::to_vec(&chunk) {
                            Ok(json) => sse_frame(&json),
                            Err(e) => error_frame(&GatewayError::Internal(e.to_string())),
                        }
                    }
                    StreamEvent::Error(e) => error_frame(&e),
                    StreamEvent::Done => Bytes::from_static(b"data: [DONE]\n\n"),
                };
                return Some((frame, s));
            }
        })
    }

    /// Typed chunks for the library. A mid-stream failure is the last item, as an error.
    pub fn into_chunks(
        self,
    ) -> impl Stream<Item = Result<ChatCompletionChunk, GatewayError>> + Send + 'static {
        let shaper = Shaper {
            stream: self,
            usage: None,
            finished: false,
        };
        futures::stream::unfold(shaper, |mut s| async move {
            loop {
                let item = match s.next_event().await? {
                    StreamEvent::Raw {
                        usage_only: true, ..
                    } if !s.stream.include_usage => continue,
                    StreamEvent::Raw { json, .. } => {
                        serde_json::from_slice::<ChatCompletionChunk>(&json).map_err(|e| {
                            GatewayError::InvalidUpstreamResponse {
                                provider: s.stream.info.provider.clone(),
                                message: e.to_string(),
                            }
                        })
                    }
                    StreamEvent::Chunk(c) => {
                        if c.choices.is_empty() && c.usage().is_some() && !s.stream.include_usage {
                            continue;
                        }
                        Ok(*c)
                    }
                    StreamEvent::Error(e) => Err(e),
                    StreamEvent::Done => return None,
                };
                let item = item.map(|mut c| {
                    s.stream.client_model.clone_into(&mut c.model);
                    c
                });
                return Some((item, s));
            }
        })
    }
}

fn sse_frame(json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + 8);
    b.put_slice(b"data: ");
    b.put_slice(json);
    b.put_slice(b"\n\n");
    b.freeze()
}

/// The mid-stream error event LiteLLM sends: the same body as a JSON error response.
pub fn error_frame(e: &GatewayError) -> Bytes {
    let json = serde_json::to_vec(&e.to_body()).unwrap_or_else(|_| b"{\"error\":{}}".to_vec());
    sse_frame(&json)
}
