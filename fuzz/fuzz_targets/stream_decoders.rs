//! Every provider's stream decoder (`Adapter::stream_decoder`) on arbitrary bytes: byte 0
//! picks the provider from `tollgate_fuzz::MODELS`, the rest is cut into fuzzer-chosen reads
//! (see `tollgate_fuzz::split`), then the body ends (`finish`).
//! Invariants: no panic; exactly one `Done` or `Error`, and it is the last event (the stream
//! always ends, and nothing follows its end); feeding in pieces gives the same events as
//! feeding whole (compared by Debug form, timestamps and made-up ids aside); every translated
//! chunk serialises.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use tollgate_providers::{Adapter, StreamEvent};

fn decode(adapter: &Adapter, pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let mut d = adapter.stream_decoder();
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(d.feed(piece));
    }
    events.extend(d.finish());
    events
}

fn check_end(model: &str, events: &[StreamEvent]) {
    let ends = events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Done | StreamEvent::Error(_)))
        .count();
    assert!(
        ends == 1
            && matches!(
                events.last(),
                Some(StreamEvent::Done | StreamEvent::Error(_))
            ),
        "{model}: {ends} Done/Error events, or not last: {events:#?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (model, adapter) = tollgate_fuzz::adapter(selector);
    let (pieces, payload) = tollgate_fuzz::split(rest);
    let whole = decode(adapter, &[payload]);
    let split = decode(adapter, &pieces);
    check_end(model, &whole);
    check_end(model, &split);
    let (w, s) = (
        tollgate_fuzz::normalized(&whole),
        tollgate_fuzz::normalized(&split),
    );
    assert!(
        w == s,
        "{model}: splitting the input changed the events\nwhole: {w:#?}\nsplit: {s:#?}"
    );
    for e in &whole {
        if let StreamEvent::Chunk(c) = e {
            serde_json::to_vec(c).unwrap();
        }
    }
});
