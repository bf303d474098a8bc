//! LiteLLM's deployment id, bit for bit.
//!
//! Replicas (Tollgate or LiteLLM) must agree on ids: Redis cooldown and usage keys, spend logs
//! and `x-litellm-model-id` all carry them. LiteLLM builds the id as the SHA-256 (lowercase hex)
//! of one string: the model name, then for every `litellm_params` item in insertion order its
//! key and its value. A string value is used raw, a dict value as `json.dumps(value)`, anything
//! else as `str(value)`. Reproducing that means reproducing Python's formatting:
//!
//! * `str()` of `None`, `True`, `False` is those words; ints print in decimal; floats print as
//!   `repr(float)`: the shortest digits that round-trip, always with a `.0` when integral
//!   (`1.0`, `0.5`), switching to exponent form when the decimal exponent is below -4 or at
//!   least 16 (`1e-05`, `1e+16`, exponent at least two digits, with its sign).
//! * `str()` of a list is `[` + items as `repr()` joined by `", "` + `]`. `repr()` of a string
//!   quotes it with `'`, or with `"` when it contains `'` but no `"`, and escapes backslash,
//!   the quote, `\t \n \r`, other ASCII control characters as `\xhh`, and non-printable
//!   non-ASCII as `\xhh`/`\uhhhh`/`\Uhhhhhhhh`. Printable non-ASCII is kept. A dict inside a
//!   list is `repr()` too: `{'k': v}` with `": "` and `", "`.
//! * `json.dumps()` uses `", "` and `": "` as separators and `ensure_ascii`: `"` and `\`
//!   escaped, `\n \r \t \b \f` by name, every other character outside space..`~` as `\u00hh`
//!   (astral characters as a surrogate pair); floats as `repr(float)`.
//!
//! Python's "printable" is a Unicode-category test; here it is approximated by Rust's control
//! test plus the separator and format characters that occur in practice.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

/// LiteLLM's default id for a deployment: see the module docs for the exact formatting.
/// `litellm_params` must be the mapping as written in the config, `os.environ/` references
/// already resolved (an unset one is `null`).
pub fn deployment_id(model_name: &str, litellm_params: &Map<String, Value>) -> String {
    let mut hash = Sha256::new();
    hash.update(model_name.as_bytes());
    for (key, value) in litellm_params {
        hash.update(key.as_bytes());
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Object(_) => json_dumps(value),
            other => repr(other),
        };
        hash.update(text.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// Python `repr()` of a parsed YAML value (equal to `str()` for everything but strings).
pub(crate) fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => repr_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_str(out, k);
                out.push_str(": ");
                write_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `str()` of a scalar, as LiteLLM writes a non-string value into the environment.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

fn number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64().map(float_repr).unwrap_or_else(|| n.to_string())
    }
}

/// `repr(float)`.
pub(crate) fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits, as Python does; only the layout differs.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let point = exp + 1; // digits d1d2... mean 0.d1d2... × 10^point
    if !(-4 < point && point <= 16) {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exp_sign}{:02}", exp.unsigned_abs());
    }
    let n = digits.len() as i32;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point >= n {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

fn repr_str(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_ascii() || printable(c) => out.push(c),
            c => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one non-ASCII character, approximately: everything but
/// controls, space separators other than ' ', line/paragraph separators and format characters.
fn printable(c: char) -> bool {
    let code = c as u32;
    !(c.is_control()
        || matches!(
            code,
            0xa0 | 0xad
                | 0x600..=0x605
                | 0x61c
                | 0x6dd
                | 0x70f
                | 0x1680
                | 0x180e
                | 0x2000..=0x200f
                | 0x2028..=0x202f
                | 0x205f..=0x2064
                | 0x2066..=0x206f
                | 0x3000
                | 0xd800..=0xf8ff
                | 0xfeff
                | 0xfff9..=0xfffb
                | 0xe0001
                | 0xe0020..=0xe007f
                | 0xf0000..
        ))
}

/// `json.dumps(value)` with Python's defaults.
pub(crate) fn json_dumps(v: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => json_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_str(out, k);
                out.push_str(": ");
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn floats_print_like_python_repr() {
        // [repr(x) for x in (1.0, 0.5, 0.1, 1e-05, 0.0001, 1e16, 1e15, 123456789012345678.0,
        //                     -2.5, 0.0, -0.0, 1.23456, 1.5e-07, 2.5e+300)]
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.23456, "1.23456"),
            (1.5e-7, "1.5e-07"),
            (2.5e300, "2.5e+300"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn lists_and_nested_values_print_like_python_str() {
        // str(['a', "it's", 1, 0.5, True, None, {'k': [1]}, 'tab\t', 'é', '\x00'])
        let v = json!(["a", "it's", 1, 0.5, true, null, {"k": [1]}, "tab\t", "é", "\u{0}"]);
        assert_eq!(
            repr(&v),
            r#"['a', "it's", 1, 0.5, True, None, {'k': [1]}, 'tab\t', 'é', '\x00']"#
        );
    }

    #[test]
    fn non_printable_characters_are_escaped_like_python_repr() {
        // repr('\xa0\u200b\u2028\U0001F600\x7f\x85') == "'\\xa0\\u200b\\u2028😀\\x7f\\x85'"
        let v = json!("\u{a0}\u{200b}\u{2028}\u{1F600}\u{7f}\u{85}");
        assert_eq!(repr(&v), r"'\xa0\u200b\u2028😀\x7f\x85'");
    }

    #[test]
    fn dicts_serialise_like_python_json_dumps() {
        // json.dumps({"a": 1, "b": [True, None, 1.0], "c": "é\n\"", "d": "😀", "e": {}})
        let v = json!({"a": 1, "b": [true, null, 1.0], "c": "é\n\"", "d": "😀", "e": {}});
        assert_eq!(
            json_dumps(&v),
            r#"{"a": 1, "b": [true, null, 1.0], "c": "\u00e9\n\"", "d": "\ud83d\ude00", "e": {}}"#
        );
    }

    #[test]
    fn id_of_a_plain_deployment_matches_litellm() {
        // hashlib.sha256(("gpt-4o" + "model" + "openai/gpt-4o" + "api_key" + "sk-123")
        //                .encode()).hexdigest()
        let p = params(json!({"model": "openai/gpt-4o", "api_key": "sk-123"}));
        assert_eq!(
            deployment_id("gpt-4o", &p),
            "e0c19a42406ab82d036770d4e071f05be271f5a2b231ed473aa37cfe025ab177"
        );
    }

    #[test]
    fn id_of_mixed_values_matches_litellm() {
        // p = {"model": "azure/gpt-4o", "rpm": 100, "timeout": 30.0, "temperature": 0.5,
        //      "drop_params": True, "api_key": None, "tags": ["a", "b"],
        //      "extra_headers": {"X-Team": "ml", "n": 1}}
        // s = "azure-gpt" + "".join(k + (v if isinstance(v, str) else json.dumps(v)
        //                      if isinstance(v, dict) else str(v)) for k, v in p.items())
        // hashlib.sha256(s.encode()).hexdigest()
        let p = params(json!({
            "model": "azure/gpt-4o", "rpm": 100, "timeout": 30.0, "temperature": 0.5,
            "drop_params": true, "api_key": null, "tags": ["a", "b"],
            "extra_headers": {"X-Team": "ml", "n": 1}
        }));
        assert_eq!(
            deployment_id("azure-gpt", &p),
            "be97a560c5f4664dcef06f2eab2f564070b3f593e5f1a98ce10dab3958dbd8b5"
        );
    }
}
