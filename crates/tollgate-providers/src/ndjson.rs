//! Newline-delimited JSON framing (`application/x-ndjson`): bytes in, lines out, split anywhere.
//!
//! Ollama streams one JSON object per `\n`-terminated line, and a TCP read may end anywhere,
//! including inside a UTF-8 character. The decoder buffers only the unfinished tail. Blank
//! lines are skipped and a `\r` before the `\n` is dropped, so a proxy that rewrites line
//! endings does not break the stream.

use bytes::{Bytes, BytesMut};

/// Incremental NDJSON line splitter.
#[derive(Debug, Default)]
pub struct NdjsonDecoder {
    buf: BytesMut,
}

impl NdjsonDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes and returns every non-blank line they complete, without its line ending.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(pos) = memchr::memchr(b'\n', &self.buf) {
            let mut line = self.buf.split_to(pos + 1);
            line.truncate(pos);
            if let Some(line) = non_blank(line) {
                lines.push(line);
            }
        }
        lines
    }

    /// Ends the stream: a last line without its `\n` is still delivered.
    pub fn finish(&mut self) -> Option<Bytes> {
        non_blank(self.buf.split())
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn non_blank(mut line: BytesMut) -> Option<Bytes> {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    (!line.trim_ascii().is_empty()).then(|| line.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<Bytes> {
        let mut d = NdjsonDecoder::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(d.feed(chunk));
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn lines_survive_every_split_point() {
        let input = "{\"a\":\"h\u{e9}llo\"}\n\n{\"b\":2}\r\n   \n{\"c\":3}";
        let whole = decode_in_pieces(input.as_bytes(), input.len());
        assert_eq!(
            whole,
            [
                Bytes::from("{\"a\":\"h\u{e9}llo\"}"),
                Bytes::from_static(b"{\"b\":2}"),
                Bytes::from_static(b"{\"c\":3}"),
            ]
        );
        for piece in 1..input.len() {
            assert_eq!(
                decode_in_pieces(input.as_bytes(), piece),
                whole,
                "piece {piece}"
            );
        }
    }

    #[test]
    fn only_the_unfinished_tail_is_kept() {
        let mut d = NdjsonDecoder::new();
        assert_eq!(
            d.feed(b"{\"a\":1}\n{\"b\""),
            [Bytes::from_static(b"{\"a\":1}")]
        );
        assert_eq!(d.pending(), 4);
        assert!(d.feed(b"").is_empty());
        assert_eq!(d.finish(), Some(Bytes::from_static(b"{\"b\"")));
        assert_eq!(d.finish(), None);
        assert_eq!(d.pending(), 0);
    }
}
