//! Editing one top-level string field of a JSON object without re-encoding the rest.
//!
//! The proxy forwards an OpenAI-format stream byte for byte; the one thing it must change is
//! `model` (clients see the name they asked for). Parsing and re-serialising every chunk would
//! cost more than the rest of the hop, so the field is located with a small scanner and spliced.

use bytes::{BufMut, Bytes, BytesMut};

/// Returns `json` with the top-level string field `key` set to `value`, or `None` when `json`
/// is not an object, has no such string field, or already holds `value`.
pub fn replace_top_level_string(json: &[u8], key: &str, value: &str) -> Option<Bytes> {
    let (start, end) = find_top_level_string(json, key)?;
    let encoded = serde_json::to_string(value).ok()?;
    if &json[start..end] == encoded.as_bytes() {
        return None;
    }
    let mut out = BytesMut::with_capacity(json.len() + encoded.len());
    out.put_slice(&json[..start]);
    out.put_slice(encoded.as_bytes());
    out.put_slice(&json[end..]);
    Some(out.freeze())
}

/// Returns `json` without the top-level member `key` when its value is `null`; `None` when
/// there is no such member. OpenAI omits `usage` from chunks unless the client asked for usage,
/// while the gateway always asks upstream, so the `"usage":null` it gets back is removed.
pub fn remove_top_level_null(json: &[u8], key: &str) -> Option<Bytes> {
    let members = top_level_members(json)?;
    let idx = members
        .iter()
        .position(|m| &json[m.key.0 + 1..m.key.1 - 1] == key.as_bytes())?;
    let m = &members[idx];
    if &json[m.value.0..m.value.1] != b"null" {
        return None;
    }
    // Remove the member with the comma that joins it to a neighbour.
    let (cut_start, cut_end) = match (
        idx.checked_sub(1).map(|i| &members[i]),
        members.get(idx + 1),
    ) {
        (Some(prev), _) => (prev.value.1, m.value.1),
        (None, Some(next)) => (m.key.0, next.key.0),
        (None, None) => (m.key.0, m.value.1),
    };
    let mut out = BytesMut::with_capacity(json.len());
    out.put_slice(&json[..cut_start]);
    out.put_slice(&json[cut_end..]);
    Some(out.freeze())
}

/// One `"key": value` of the top-level object, as byte ranges (key with its quotes).
struct Member {
    key: (usize, usize),
    value: (usize, usize),
}

/// The top-level members of an object, or `None` for anything that is not a well-formed
/// object at the top level.
fn top_level_members(json: &[u8]) -> Option<Vec<Member>> {
    let mut members = Vec::new();
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i) == Some(&b'}') {
        return Some(members);
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(json, i)?;
        let key = (i, key_end);
        i = skip_ws(json, key_end);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(json, i + 1);
        let value_end = skip_value(json, i)?;
        members.push(Member {
            key,
            value: (i, value_end),
        });
        i = skip_ws(json, value_end);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            b'}' => return Some(members),
            _ => return None,
        }
    }
}

/// The byte range (quotes included) of the top-level string value of `key`.
fn find_top_level_string(json: &[u8], key: &str) -> Option<(usize, usize)> {
    top_level_members(json)?
        .into_iter()
        .find(|m| &json[m.key.0 + 1..m.key.1 - 1] == key.as_bytes() && json[m.value.0] == b'"')
        .map(|m| m.value)
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `i` at an opening quote; returns the index just past the closing quote.
fn skip_string(json: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match json.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Returns the index just past the value starting at `i`.
fn skip_value(json: &[u8], i: usize) -> Option<usize> {
    match json.get(i)? {
        b'"' => skip_string(json, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = skip_string(json, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = json.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn replaces_only_the_top_level_field() {
        let input = br#"{"id":"x","choices":[{"model":"inner","delta":{"content":"\"model\":\"no\""}}], "model" : "gpt-4o-2024" ,"usage":null}"#;
        let out = replace_top_level_string(input, "model", "my-alias").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "my-alias");
        assert_eq!(v["choices"][0]["model"], "inner");
        assert_eq!(v["choices"][0]["delta"]["content"], "\"model\":\"no\"");
    }

    #[test]
    fn leaves_input_alone_when_nothing_to_do() {
        assert!(replace_top_level_string(br#"{"model":"same"}"#, "model", "same").is_none());
        assert!(replace_top_level_string(br#"{"other":1}"#, "model", "x").is_none());
        assert!(replace_top_level_string(br#"[1,2]"#, "model", "x").is_none());
        assert!(replace_top_level_string(br#"{"model":null}"#, "model", "x").is_none());
    }

    #[test]
    fn removes_a_null_member_and_its_comma() {
        let cases = [
            (
                &br#"{"a":1,"usage":null,"b":2}"#[..],
                Some(r#"{"a":1,"b":2}"#),
            ),
            (br#"{"usage":null,"b":2}"#, Some(r#"{"b":2}"#)),
            (br#"{"a":1, "usage" : null }"#, Some(r#"{"a":1 }"#)),
            (br#"{"usage":null}"#, Some("{}")),
            (br#"{"usage":{"prompt_tokens":1}}"#, None),
            (br#"{"a":{"usage":null}}"#, None),
        ];
        for (input, want) in cases {
            let got = remove_top_level_null(input, "usage");
            assert_eq!(
                got.as_deref().map(|b| std::str::from_utf8(b).unwrap()),
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
            if let Some(out) = got {
                serde_json::from_slice::<Value>(&out).unwrap();
            }
        }
    }

    #[test]
    fn escapes_the_new_value() {
        let out = replace_top_level_string(br#"{"model":"a"}"#, "model", "we\"ird\\").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "we\"ird\\");
    }

    #[test]
    fn never_panics_on_truncated_or_garbage_input() {
        let input = br#"{"id":"x","nested":{"a":[1,{"b":"c\"}"}]},"model":"m"}"#;
        for end in 0..input.len() {
            let _ = replace_top_level_string(&input[..end], "model", "z");
        }
        for garbage in [
            &b"{\"model\":\"unterminated"[..],
            b"{{{{",
            b"{\"a\"",
            b"}",
            b"\\",
            b"{\"a\":}",
        ] {
            let _ = replace_top_level_string(garbage, "model", "z");
        }
    }
}
