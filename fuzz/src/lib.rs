//! What the fuzz targets share: the provider list, the fuzzer-chosen split of an input into
//! reads, and the normalisation that lets two decodes of one stream be compared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::LazyLock;

use tollgate_core::{Env, ModelRef};
use tollgate_providers::{Adapter, ProviderParams, StreamEvent};

/// One model string per provider. Every target that exercises adapters takes them from here,
/// so a new `Adapter` variant is covered by adding one line (and, should its adapter need a
/// setting beyond those in [`params`], that setting there).
pub const MODELS: &[&str] = &[
    "openai/x",
    "groq/x",
    "openrouter/a/b",
    "anthropic/claude-x",
    "gemini/gemini-2.0-flash",
    "mistral/x",
    "azure/x",
    "azure_ai/x",
    "cohere/command-r",
    "ollama/x",
    "ollama_chat/x",
    "vertex_ai/gemini-2.0-flash",
    "vertex_ai/claude-x",
    "bedrock/anthropic.claude-x",
];

/// Deployment settings good for every provider: everything explicit, so no environment
/// variable is needed (nor read for anything that matters).
pub fn params() -> ProviderParams {
    ProviderParams {
        api_key: Some("fuzz-key".into()),
        api_base: Some("http://127.0.0.1:9/v1".into()),
        api_version: Some("2024-10-21".into()),
        vertex_project: Some("fuzz-project".into()),
        vertex_location: Some("us-central1".into()),
        ..ProviderParams::default()
    }
}

/// The adapters for [`MODELS`], built once per process.
pub static ADAPTERS: LazyLock<Vec<(&'static str, Adapter)>> = LazyLock::new(|| {
    let env = Env::with_overlay(HashMap::new());
    MODELS
        .iter()
        .map(|&m| {
            let model =
                ModelRef::parse(m, None).unwrap_or_else(|e| panic!("model string {m}: {e}"));
            let adapter = Adapter::new(&model, &params(), &env)
                .unwrap_or_else(|e| panic!("no adapter for {m}: {e}"));
            (m, adapter)
        })
        .collect()
});

/// The adapter a selector byte picks (modulo the list's length).
pub fn adapter(selector: u8) -> &'static (&'static str, Adapter) {
    &ADAPTERS[usize::from(selector) % ADAPTERS.len()]
}

/// Splits an input into a payload and the reads it arrives in, as the fuzzer chooses: byte 0
/// is a count `n` (mod 8) of size bytes that follow; the payload is everything after them and
/// is cut into pieces of those sizes in turn, a size of 0 meaning an empty read followed by a
/// one-byte read; `n == 0` means one byte per read. Returns `(pieces, payload)`.
pub fn split(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (Vec::new(), data);
    };
    let n = usize::from(n % 8).min(rest.len());
    let (sizes, payload) = rest.split_at(n);
    let mut pieces = Vec::new();
    let mut tail = payload;
    let mut k = 0;
    while !tail.is_empty() {
        let size = if sizes.is_empty() {
            1
        } else {
            sizes[k % sizes.len()]
        };
        k += 1;
        let take = if size == 0 {
            pieces.push(&tail[..0]);
            1
        } else {
            usize::from(size)
        };
        let (piece, after) = tail.split_at(take.min(tail.len()));
        pieces.push(piece);
        tail = after;
    }
    (pieces, payload)
}

/// The Debug form of each event, with what legitimately differs between two decoders of the
/// same bytes made apart: chunk timestamps (`created`, stamped when the decoder is made) and
/// made-up ids (after `chatcmpl-` or `call_`, a run of hex digits and dashes holding 16 or
/// more digits: the unique suffixes and UUIDs adapters invent when a response has no id)
/// replaced by labels numbered in order of appearance.
pub fn normalized(events: &[StreamEvent]) -> Vec<String> {
    let mut labels = Vec::new();
    events
        .iter()
        .map(|e| normalize(&format!("{e:?}"), &mut labels))
        .collect()
}

fn normalize(s: &str, labels: &mut Vec<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"created: ") {
            let start = i + "created: ".len();
            let mut j = start;
            if b.get(j) == Some(&b'-') {
                j += 1;
            }
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            out.push_str(&s[copied..start]);
            out.push('_');
            copied = j;
            i = j;
            continue;
        }
        let prefix = [&b"chatcmpl-"[..], b"call_"]
            .into_iter()
            .find(|p| rest.starts_with(p));
        if let Some(p) = prefix {
            let start = i + p.len();
            let mut j = start;
            let mut digits = 0;
            while let Some(c) = b.get(j) {
                if c.is_ascii_digit() || (b'a'..=b'f').contains(c) {
                    digits += 1;
                } else if *c != b'-' {
                    break;
                }
                j += 1;
            }
            if digits >= 16 {
                let token = &s[start..j];
                let k = match labels.iter().position(|l| l == token) {
                    Some(k) => k,
                    None => {
                        labels.push(token.to_owned());
                        labels.len() - 1
                    }
                };
                out.push_str(&s[copied..start]);
                out.push_str(&format!("<unique#{k}>"));
                copied = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cycles_sizes_and_keeps_every_byte() {
        let (pieces, payload) = split(b"\x02\x03\x00abcdefg");
        assert_eq!(payload, b"abcdefg");
        assert_eq!(pieces, [&b"abc"[..], b"", b"d", b"efg"]);
        let (pieces, _) = split(b"\x00xyz");
        assert_eq!(pieces, [&b"x"[..], b"y", b"z"]);
    }

    #[test]
    fn normalize_hides_time_and_unique_ids_only() {
        let mut l = Vec::new();
        let a = normalize(
            r#"Chunk { id: "chatcmpl-18a2b3c4d5e6f7a8b9", created: 1754000000, x: "call_18a2b3c4d5e6f7a8ba_0", y: "chatcmpl-abc", z: "chatcmpl-67e55044-10b1-426f-9247-bb680e5fe0c8", w: "chatcmpl-18a2b3c4d5e6f7a8b9", v: "call_chatcmpl-18ea46f4c91558139a_0" }"#,
            &mut l,
        );
        assert_eq!(
            a,
            r#"Chunk { id: "chatcmpl-<unique#0>", created: _, x: "call_<unique#1>_0", y: "chatcmpl-abc", z: "chatcmpl-<unique#2>", w: "chatcmpl-<unique#0>", v: "call_chatcmpl-<unique#3>_0" }"#
        );
    }
}
