//! Every provider's response parsers on arbitrary bytes: `parse_chat_response`,
//! `forward_chat_response`, the embeddings pair and `parse_error`, for each adapter of
//! `tollgate_fuzz::MODELS`. Input: a big-endian u16 (the status, mapped to 100..=599), one
//! byte `h` (bit 0 picks `retry-after` or `retry-after-ms`, `h >> 1` is the length of that
//! header's value, which follows; 0 = no header), then the body.
//! Invariants: no panic; a parsed response serialises; a forwarded body is valid JSON.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;

fuzz_target!(|data: &[u8]| {
    let [s0, s1, h, rest @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_be_bytes([*s0, *s1]) % 500;
    let len = usize::from(h >> 1).min(rest.len());
    let (value, body) = rest.split_at(len);
    let mut headers = HeaderMap::new();
    if let (true, Ok(v)) = (len > 0, HeaderValue::from_bytes(value)) {
        let name = if h & 1 == 0 {
            "retry-after"
        } else {
            "retry-after-ms"
        };
        headers.insert(name, v);
    }
    let bytes = Bytes::copy_from_slice(body);
    for (model, adapter) in tollgate_fuzz::ADAPTERS.iter() {
        if let Ok(r) = adapter.parse_chat_response(body) {
            serde_json::to_vec(&r).unwrap();
        }
        if let Ok((out, _usage)) = adapter.forward_chat_response(bytes.clone(), "client-alias") {
            assert!(
                serde_json::from_slice::<IgnoredAny>(&out).is_ok(),
                "{model}: forwarded chat body is not JSON: {}",
                String::from_utf8_lossy(&out)
            );
        }
        if let Ok(r) = adapter.parse_embeddings_response(body) {
            serde_json::to_vec(&r).unwrap();
        }
        if let Ok((out, _usage)) =
            adapter.forward_embeddings_response(bytes.clone(), "client-alias")
        {
            assert!(
                serde_json::from_slice::<IgnoredAny>(&out).is_ok(),
                "{model}: forwarded embeddings body is not JSON: {}",
                String::from_utf8_lossy(&out)
            );
        }
        let e = adapter.parse_error(status, &headers, body);
        let _ = (e.status(), e.to_string());
    }
});
