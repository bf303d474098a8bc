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

/// The byte range (quotes included) of the top-level string value of `key`.
fn find_top_level_string(json: &[u8], key: &str) -> Option<(usize, usize)> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(json, i);
        match json.get(i)? {
            b'}' => return None,
            b'"' => {}
            _ => return None,
        }
        let key_end = skip_string(json, i)?;
        let this_key = &json[i + 1..key_end - 1];
        i = skip_ws(json, key_end);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(json, i + 1);
        let value_start = i;
        let value_end = skip_value(json, i)?;
        if this_key == key.as_bytes() && json.get(value_start) == Some(&b'"') {
            return Some((value_start, value_end));
        }
        i = skip_ws(json, value_end);
        match json.get(i)? {
            b',' => i += 1,
            b'}' => return None,
            _ => return None,
        }
    }
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
