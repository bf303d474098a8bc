//! `SseDecoder` on arbitrary bytes cut into fuzzer-chosen reads (see `tollgate_fuzz::split`).
//! Invariants: no panic; the same bytes decode to the same events whether fed whole or in
//! pieces; `finish` leaves nothing pending and a second `finish` yields nothing.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use tollgate_providers::sse::{SseDecoder, SseEvent};

fn decode(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut d = SseDecoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(d.feed(piece));
    }
    events.extend(d.finish());
    assert_eq!(d.pending(), 0, "bytes left pending after finish");
    assert_eq!(d.finish(), None, "a second finish produced an event");
    events
}

fuzz_target!(|data: &[u8]| {
    let (pieces, payload) = tollgate_fuzz::split(data);
    let whole = decode(&[payload]);
    let split = decode(&pieces);
    assert_eq!(whole, split, "splitting the input changed the events");
});
