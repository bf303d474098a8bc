//! Server-sent events framing: bytes in, events out, split anywhere.
//!
//! Providers split events across TCP reads at arbitrary points, use `\n` or `\r\n`, send
//! `:` comment keep-alives and sometimes omit the space after `data:`. The decoder buffers
//! only the unfinished tail, so a chunk boundary in the middle of a UTF-8 character or a JSON
//! string is harmless.

use bytes::{Buf, Bytes, BytesMut};

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, if the provider names its events (Anthropic, Cohere, Responses).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: Bytes,
}

/// Incremental SSE decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: BytesMut,
    event: Option<String>,
    data: BytesMut,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(pos) = memchr::memchr(b'\n', &self.buf) {
            let mut line = self.buf.split_to(pos + 1);
            line.truncate(pos);
            if line.last() == Some(&b'\r') {
                line.truncate(pos - 1);
            }
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
        }
        events
    }

    /// Ends the stream: an event left without its blank line is still delivered.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            let line = line.strip_suffix(b"\r").unwrap_or(&line).to_vec();
            if let Some(ev) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let mut v = &line[i + 1..];
                if v.first() == Some(&b' ') {
                    v.advance(1);
                }
                (&line[..i], v)
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.extend_from_slice(b"\n");
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_data {
            self.event = None;
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event: self.event.take(),
            data: self.data.split().freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(d.feed(chunk));
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn events_survive_every_split_point() {
        let input = "data: {\"a\":\"h\u{e9}llo\"}\n\n: keep-alive\n\nevent: ping\r\ndata:{\"type\": \"ping\"}\r\n\r\ndata: [DONE]\n\n";
        let whole = decode_in_pieces(input.as_bytes(), input.len());
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[1].event.as_deref(), Some("ping"));
        assert_eq!(&whole[1].data[..], b"{\"type\": \"ping\"}");
        assert_eq!(&whole[2].data[..], b"[DONE]");
        for piece in 1..input.len() {
            assert_eq!(
                decode_in_pieces(input.as_bytes(), piece),
                whole,
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn multi_line_data_is_joined_and_a_missing_final_blank_line_is_tolerated() {
        let events = decode_in_pieces(b"data: a\ndata: b\n\ndata: c", 3);
        assert_eq!(events.len(), 2);
        assert_eq!(&events[0].data[..], b"a\nb");
        assert_eq!(&events[1].data[..], b"c");
    }
}
