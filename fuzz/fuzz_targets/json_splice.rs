//! `json_splice::{replace_top_level_string, remove_top_level_null}` on arbitrary bytes, for a
//! few keys and replacement values (one that needs escaping).
//! Invariants: no panic; when the input is a JSON object, an output is a JSON object with the
//! same members in the same order (duplicates kept, compared as serde_json `Value`s) except
//! that exactly one member named `key` changed: its string value became `value` (replace), or
//! it was `null` and is gone (remove). When the input has no backslash at all (so raw and
//! decoded keys agree) the member is the first one named `key`, and `None` means there was
//! nothing to do.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use tollgate_providers::json_splice::{remove_top_level_null, replace_top_level_string};

const KEYS: &[&str] = &["model", "usage", "id", ""];
const VALUES: &[&str] = &["client-alias", "", "we\"ird\\ caf\u{e9} \u{1F600}\n\u{1}"];

/// A JSON object's members in order, duplicates kept (a `Value` keeps only the last).
#[derive(Debug, PartialEq)]
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

fn members(bytes: &[u8], what: &str) -> Vec<(String, Value)> {
    match serde_json::from_slice::<Members>(bytes) {
        Ok(m) => m.0,
        Err(e) => panic!(
            "{what}: output is not a JSON object ({e}): {}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

fn check_replace(
    input: &[(String, Value)],
    out: Option<Bytes>,
    key: &str,
    value: &str,
    plain: bool,
) {
    let first = input.iter().position(|(k, v)| k == key && v.is_string());
    let Some(out) = out else {
        if let (true, Some(i)) = (plain, first) {
            assert_eq!(
                input[i].1, value,
                "replace {key:?}: None, but a member to change"
            );
        }
        return;
    };
    let what = format!("replace {key:?} -> {value:?}");
    let out = members(&out, &what);
    assert_eq!(out.len(), input.len(), "{what}: member count changed");
    let changed: Vec<usize> = (0..out.len()).filter(|&i| out[i] != input[i]).collect();
    assert!(changed.len() <= 1, "{what}: members {changed:?} changed");
    for &i in &changed {
        assert!(
            input[i].0 == key && input[i].1.is_string() && out[i].0 == key && out[i].1 == value,
            "{what}: member {i} changed from {:?} to {:?}",
            input[i],
            out[i]
        );
    }
    if changed.is_empty() {
        // Only a re-encoding of the same string (`"\u0061"` -> `"a"`) changes no `Value`.
        assert!(
            input.iter().any(|(k, v)| k == key && v == value),
            "{what}: Some, but nothing changed"
        );
    }
    if plain {
        let i = first.expect("replaced a member that does not exist");
        assert_eq!(
            out[i].1, value,
            "{what}: not the first member named {key:?}"
        );
    }
}

fn check_remove(input: &[(String, Value)], out: Option<Bytes>, key: &str, plain: bool) {
    let first = input.iter().position(|(k, _)| k == key);
    let Some(out) = out else {
        if let (true, Some(i)) = (plain, first) {
            assert!(
                !input[i].1.is_null(),
                "remove {key:?}: None, but a null member"
            );
        }
        return;
    };
    let what = format!("remove {key:?}");
    let out = members(&out, &what);
    assert_eq!(
        out.len() + 1,
        input.len(),
        "{what}: not exactly one member removed"
    );
    let removed = (0..input.len()).find(|&i| {
        input[i].0 == key
            && input[i].1.is_null()
            && input[..i] == out[..i]
            && input[i + 1..] == out[i..]
    });
    let Some(removed) = removed else {
        panic!("{what}: the output is not the input less one null {key:?}: {out:?}");
    };
    if plain {
        // `removed` is the first index whose removal gives the output, so with duplicates
        // it is still the first member named `key` when that one was removed.
        assert_eq!(
            Some(removed),
            first,
            "{what}: not the first member named {key:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let input = serde_json::from_slice::<Members>(data).ok().map(|m| m.0);
    let plain = !data.contains(&b'\\');
    for &key in KEYS {
        for &value in VALUES {
            let out = replace_top_level_string(data, key, value);
            if let Some(input) = &input {
                check_replace(input, out, key, value, plain);
            }
        }
        let out = remove_top_level_null(data, key);
        if let Some(input) = &input {
            check_remove(input, out, key, plain);
        }
    }
});
