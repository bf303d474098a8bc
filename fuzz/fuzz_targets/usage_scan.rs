//! `UsageScanner` (usage read from a pass-through answer as it streams past) on arbitrary
//! bytes: byte 0 picks the body format (JSON, SSE, AWS event stream; mod 3), then a split
//! header (see `tollgate_fuzz::split`) and the body. Invariants: no panic; the same bytes give
//! the same usage whether fed whole or in pieces.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libfuzzer_sys::fuzz_target;
use tollgate_core::Usage;
use tollgate_providers::usage_scan::UsageScanner;

const CONTENT_TYPES: [&str; 3] = [
    "application/json",
    "text/event-stream",
    "application/vnd.amazon.eventstream",
];

fn scan(content_type: &str, pieces: &[&[u8]]) -> Option<Usage> {
    let mut s = UsageScanner::for_content_type(Some(content_type));
    for piece in pieces {
        s.feed(piece);
    }
    s.finish()
}

fuzz_target!(|data: &[u8]| {
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(format) % CONTENT_TYPES.len()];
    let (pieces, payload) = tollgate_fuzz::split(rest);
    let whole = scan(content_type, &[payload]);
    let split = scan(content_type, &pieces);
    assert_eq!(whole, split, "splitting the input changed the usage");
});
