//! Shared helpers for the fixture-replay tests: locating the recorded fixtures, building
//! adapters without touching the environment, driving stream decoders with arbitrary splits,
//! reassembling a stream, and a tiny deterministic PRNG for the property tests.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use tollgate_core::{ChatCompletionChunk, Env, FinishReason, GatewayError, ModelRef, Role, Usage};
use tollgate_providers::{Adapter, ProviderParams, StreamEvent};

/// Base URL given to every adapter, so no provider environment variable is consulted.
pub const API_BASE: &str = "http://fixture.invalid/v1";
/// Key given to every adapter.
pub const API_KEY: &str = "test-key";
/// The model name a client asked for; responses must come back under it.
pub const CLIENT_ALIAS: &str = "client-alias";

/// The recorded fixtures (`../shared/fixtures` next to the workspace, or `$TOLLGATE_FIXTURES`).
#[derive(Debug, Clone)]
pub struct Fixtures {
    root: PathBuf,
}

/// The fixtures, or `None` (after saying so) when they are not on this machine: the tests then
/// pass vacuously instead of failing a checkout that does not carry the shared data.
pub fn fixtures() -> Option<Fixtures> {
    let root = std::env::var_os("TOLLGATE_FIXTURES")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if root.is_dir() {
        Some(Fixtures { root })
    } else {
        println!("skipping: fixtures not found at {}", root.display());
        None
    }
}

impl Fixtures {
    /// The bytes of `rel` (a path relative to the fixtures root). A missing file is a failure:
    /// the directory exists, so the file the test names must too.
    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        let path = self.root.join(rel);
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// `rel` parsed as JSON.
    pub fn json(&self, rel: &str) -> Value {
        serde_json::from_slice(&self.bytes(rel))
            .unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
    }

    /// Every file under `dir` (relative to the root), as root-relative paths with `/`.
    pub fn files_under(&self, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        out.sort();
        out
    }
}

/// An adapter for `model` (`provider/model`) pointed at [`API_BASE`] with [`API_KEY`].
pub fn adapter(model: &str) -> Adapter {
    let model_ref = ModelRef::parse(model, None).unwrap_or_else(|e| panic!("{model}: {e}"));
    let params = ProviderParams {
        api_key: Some(API_KEY.into()),
        api_base: Some(API_BASE.into()),
        ..ProviderParams::default()
    };
    Adapter::new(&model_ref, &params, &Env::with_overlay(HashMap::new()))
        .unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// Feeds `body` cut at the given (ascending) offsets, then ends the stream.
pub fn decode_cut_at(adapter: &Adapter, body: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut decoder = adapter.stream_decoder();
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        let cut = cut.clamp(start, body.len());
        events.extend(decoder.feed(&body[start..cut]));
        start = cut;
    }
    events.extend(decoder.finish());
    events
}

/// Feeds `body` in pieces of `size` bytes, then ends the stream.
pub fn decode_in_chunks(adapter: &Adapter, body: &[u8], size: usize) -> Vec<StreamEvent> {
    let mut decoder = adapter.stream_decoder();
    let mut events = Vec::new();
    for piece in body.chunks(size.max(1)) {
        events.extend(decoder.feed(piece));
    }
    events.extend(decoder.finish());
    events
}

/// A comparable rendering of an event sequence (events have no `PartialEq`; their `Debug`
/// output covers every field, bytes included).
pub fn fingerprint(events: &[StreamEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

/// The `data:` payloads of an SSE body, `[DONE]` excluded, found independently of the decoder
/// under test (one `data:` line per event, which holds for every OpenAI-family fixture).
pub fn data_payloads(body: &[u8]) -> Vec<Vec<u8>> {
    body.split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter_map(|line| line.strip_prefix(b"data:"))
        .map(|p| p.strip_prefix(b" ").unwrap_or(p).to_vec())
        .filter(|p| p.as_slice() != b"[DONE]")
        .collect()
}

/// One tool call put back together from its stream fragments.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ToolCallAcc {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// What a client would have after consuming the whole stream.
#[derive(Debug, Default)]
pub struct Transcript {
    pub roles: Vec<Role>,
    pub content: String,
    pub reasoning_content: String,
    pub tool_calls: BTreeMap<u32, ToolCallAcc>,
    pub finish_reasons: Vec<FinishReason>,
    /// The last usage reported.
    pub usage: Option<Usage>,
    /// How many events carried a usage.
    pub usage_reports: usize,
    /// Raw events flagged as the `choices: []` usage chunk.
    pub usage_only_raw: usize,
    /// Payloads of `Raw` events, in order.
    pub raw_payloads: Vec<Bytes>,
    /// Every chunk, typed (parsed from `Raw` payloads, or as the decoder built them).
    pub chunks: Vec<ChatCompletionChunk>,
    /// `Chunk` events (normalised path) count.
    pub typed_events: usize,
    pub errors: Vec<GatewayError>,
    pub done: bool,
}

impl Transcript {
    /// Reassembles `events`, checking the invariants every stream must keep on the way:
    /// nothing follows `Done`, a `Raw` event's usage and `usage_only` agree with its payload,
    /// and a call's id/name never change once set.
    pub fn from_events(events: &[StreamEvent]) -> Self {
        let mut t = Transcript::default();
        for (i, event) in events.iter().enumerate() {
            assert!(!t.done, "event {i} after Done: {event:?}");
            match event {
                StreamEvent::Raw {
                    json,
                    usage,
                    usage_only,
                } => {
                    let chunk: ChatCompletionChunk =
                        serde_json::from_slice(json).unwrap_or_else(|e| {
                            panic!("raw payload {i} is not a chunk ({e}): {json:?}")
                        });
                    assert_eq!(
                        usage.as_deref(),
                        chunk.usage(),
                        "Raw usage of event {i} differs from its payload"
                    );
                    assert_eq!(
                        *usage_only,
                        chunk.choices.is_empty(),
                        "usage_only of event {i} does not match `choices: []`"
                    );
                    if *usage_only {
                        t.usage_only_raw += 1;
                    }
                    t.raw_payloads.push(json.clone());
                    t.absorb(chunk);
                }
                StreamEvent::Chunk(chunk) => {
                    t.typed_events += 1;
                    t.absorb((**chunk).clone());
                }
                StreamEvent::Error(e) => t.errors.push(e.clone()),
                StreamEvent::Done => t.done = true,
            }
        }
        t
    }

    fn absorb(&mut self, chunk: ChatCompletionChunk) {
        if let Some(u) = chunk.usage() {
            self.usage = Some(u.clone());
            self.usage_reports += 1;
        }
        for choice in &chunk.choices {
            let d = &choice.delta;
            if let Some(r) = d.role {
                self.roles.push(r);
            }
            if let Some(c) = &d.content {
                self.content.push_str(c);
            }
            if let Some(r) = &d.reasoning_content {
                self.reasoning_content.push_str(r);
            }
            for call in d.tool_calls.iter().flatten() {
                let acc = self.tool_calls.entry(call.index).or_default();
                if let Some(id) = &call.id {
                    assert!(
                        acc.id.as_ref().is_none_or(|old| old == id),
                        "tool call {} changed id",
                        call.index
                    );
                    acc.id = Some(id.clone());
                }
                if let Some(kind) = &call.kind {
                    acc.kind = Some(kind.clone());
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        assert!(
                            acc.name.as_ref().is_none_or(|old| old == name),
                            "tool call {} changed name",
                            call.index
                        );
                        acc.name = Some(name.clone());
                    }
                    if let Some(a) = &f.arguments {
                        acc.arguments.push_str(a);
                    }
                }
            }
            if let Some(r) = &choice.finish_reason {
                self.finish_reasons.push(r.clone());
            }
        }
        self.chunks.push(chunk);
    }

    /// The single finish reason of the stream.
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.finish_reasons.last()
    }
}

/// Asserts that every non-null value of `orig` is present and equal in `out` (recursively,
/// arrays element by element): nothing the provider sent was dropped or altered. Object keys
/// listed in `exempt` (at any depth) are not checked; a `null` may be omitted.
pub fn assert_nothing_dropped(orig: &Value, out: &Value, path: &str, exempt: &[&str]) {
    match (orig, out) {
        (Value::Null, Value::Null) => {}
        (Value::Null, _) => panic!("{path}: null became {out}"),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if exempt.contains(&k.as_str()) {
                    continue;
                }
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => assert_nothing_dropped(v, w, &p, exempt),
                    None if v.is_null() => {}
                    None => panic!("{p} was dropped (was {v})"),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: array length changed");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_nothing_dropped(v, w, &format!("{path}[{i}]"), exempt);
            }
        }
        _ => assert_eq!(orig, out, "{path} changed"),
    }
}

/// `json` with the first top-level-looking `"model": "<from>"` value replaced by `to`, done on
/// the bytes: what byte-forwarding must produce.
pub fn splice_model(json: &[u8], from: &str, to: &str) -> Vec<u8> {
    let from_enc = serde_json::to_string(from).unwrap_or_default();
    let to_enc = serde_json::to_string(to).unwrap_or_default();
    let key = b"\"model\"";
    let mut i = 0;
    while let Some(off) = find(&json[i..], key) {
        let mut j = i + off + key.len();
        while json.get(j).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        if json.get(j) == Some(&b':') {
            j += 1;
            while json.get(j).is_some_and(u8::is_ascii_whitespace) {
                j += 1;
            }
            if json[j..].starts_with(from_enc.as_bytes()) {
                let mut out = json[..j].to_vec();
                out.extend_from_slice(to_enc.as_bytes());
                out.extend_from_slice(&json[j + from_enc.len()..]);
                return out;
            }
        }
        i += off + 1;
    }
    panic!("no \"model\": {from_enc} in the body");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// xorshift64*: deterministic, dependency-free randomness for the property tests.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Random ascending cut points over a body of `len` bytes, pieces of 1..=`max_piece`.
    pub fn cuts(&mut self, len: usize, max_piece: usize) -> Vec<usize> {
        let mut cuts = Vec::new();
        let mut at = 0;
        loop {
            at += 1 + self.below(max_piece);
            if at >= len {
                return cuts;
            }
            cuts.push(at);
        }
    }
}
