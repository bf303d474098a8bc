//! SSE framing and streamed response bodies (pauses, byte splitting, mid-body aborts).

use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::stream;
use serde::Serialize;
use serde_json::Value;

use crate::script::StreamScript;

/// OpenAI's streaming content type, byte for byte.
pub const CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

/// The OpenAI stream terminator event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Time given to the server to flush what was written before a truncated stream aborts, so the
/// client reliably receives the partial body and then the broken connection.
const FLUSH_BEFORE_ABORT: Duration = Duration::from_millis(20);

/// `data: <compact json>\n\n`.
pub(crate) fn json_event<T: Serialize>(payload: &T) -> Bytes {
    let mut buf = Vec::with_capacity(320);
    buf.extend_from_slice(b"data: ");
    // Only the mock's own plain structs are serialized here, which cannot fail.
    let _ = serde_json::to_writer(&mut buf, payload);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// A body sent as one HTTP chunk per piece, as fast as the client reads.
pub(crate) fn body(pieces: Vec<Bytes>) -> Body {
    Body::from_stream(stream::iter(pieces.into_iter().map(Ok::<_, io::Error>)))
}

/// A body written piece by piece with optional pauses, ending in an abort if asked.
pub(crate) struct Writes {
    pieces: Vec<Bytes>,
    pause: Duration,
    /// Hand control back to the server between pieces so each goes out in its own write.
    separate_writes: bool,
    abort: bool,
}

impl Writes {
    /// The writes a stream script asks for.
    pub(crate) fn from_script(script: &StreamScript) -> Self {
        let sent = script
            .truncate_after
            .map_or(script.events.len(), |n| n.min(script.events.len()));
        let mut pieces: Vec<Bytes> = script.events[..sent]
            .iter()
            .map(|e| frame(e, script.raw))
            .collect();
        let abort = script.truncate_after.is_some();
        if script.done && !script.raw && !abort {
            pieces.push(Bytes::from_static(DONE));
        }
        let split = script.split_bytes.filter(|n| *n > 0);
        if let Some(n) = split {
            pieces = split_into(&pieces, n);
        }
        Self {
            pieces,
            pause: Duration::from_millis(script.chunk_delay_ms),
            separate_writes: split.is_some(),
            abort,
        }
    }

    /// The streaming body.
    pub(crate) fn into_body(self) -> Body {
        let Self {
            pieces,
            pause,
            separate_writes,
            abort,
        } = self;
        let state = (pieces.into_iter(), true, abort);
        let stream = stream::unfold(state, move |(mut rest, first, abort)| async move {
            match rest.next() {
                Some(piece) => {
                    if !first {
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        } else if separate_writes {
                            tokio::task::yield_now().await;
                        }
                    }
                    Some((Ok(piece), (rest, false, abort)))
                }
                None if abort => {
                    tokio::time::sleep(FLUSH_BEFORE_ABORT).await;
                    let err = io::Error::other("stream truncated by mock script");
                    Some((Err(err), (rest, false, false)))
                }
                None => None,
            }
        });
        Body::from_stream(stream)
    }
}

/// One scripted event on the wire: strings verbatim, other values as compact JSON; framed as
/// `data: ...\n\n` unless raw (where a JSON value becomes one NDJSON line).
fn frame(event: &Value, raw: bool) -> Bytes {
    match (event, raw) {
        (Value::String(s), true) => Bytes::copy_from_slice(s.as_bytes()),
        (value, true) => Bytes::from(format!("{value}\n")),
        (Value::String(s), false) => Bytes::from(format!("data: {s}\n\n")),
        (value, false) => json_event(value),
    }
}

/// Re-cuts the concatenated pieces into `n`-byte pieces, ignoring event boundaries.
fn split_into(pieces: &[Bytes], n: usize) -> Vec<Bytes> {
    let mut all = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        all.extend_from_slice(p);
    }
    let all = all.freeze();
    (0..all.len())
        .step_by(n)
        .map(|start| all.slice(start..all.len().min(start + n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn framing_and_splitting() {
        let script = StreamScript {
            events: vec![json!({"a": 1}), json!("raw text")],
            split_bytes: Some(5),
            ..StreamScript::default()
        };
        let writes = Writes::from_script(&script);
        assert!(writes.pieces.iter().all(|p| p.len() <= 5));
        let joined: Vec<u8> = writes.pieces.concat();
        assert_eq!(
            joined,
            b"data: {\"a\":1}\n\ndata: raw text\n\ndata: [DONE]\n\n".to_vec()
        );
    }

    #[test]
    fn truncation_drops_done() {
        let script = StreamScript {
            events: vec![json!(1), json!(2), json!(3)],
            truncate_after: Some(2),
            ..StreamScript::default()
        };
        let writes = Writes::from_script(&script);
        assert_eq!(writes.pieces.len(), 2);
        assert!(writes.abort);
    }
}
