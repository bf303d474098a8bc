//! Lenient field readers for `#[serde(deserialize_with)]`.
//!
//! LiteLLM reads the config through pydantic in lax mode and through plain Python, so `"600"`
//! works where `600` is expected — and it has to, because `os.environ/NAME` always yields a
//! string. These readers accept what LiteLLM accepts and word their errors for a person
//! reading a YAML file ("expected an integer, got \"ten\"") rather than for a Rust developer.

use indexmap::IndexMap;
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::{Map, Value};

/// How a value is shown in an error: strings quoted, containers by kind.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

fn read<'de, D, T>(d: D, convert: fn(&Value) -> Result<T, String>) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => convert(&v).map(Some).map_err(D::Error::custom),
    }
}

pub(crate) fn to_f64(v: &Value) -> Result<f64, String> {
    let parsed = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected a number, got {}", describe(v)))
}

fn integral(v: &Value) -> Option<i128> {
    let from_float = |f: f64| (f.is_finite() && f.fract() == 0.0).then_some(f as i128);
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| n.as_f64().and_then(from_float)),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i128>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(from_float))
        }
        _ => None,
    }
}

/// An integer that fits `T`; `what` describes the range for the out-of-range message.
fn ranged<T: TryFrom<i128>>(v: &Value, what: &str) -> Result<T, String> {
    let n = integral(v).ok_or_else(|| format!("expected an integer, got {}", describe(v)))?;
    T::try_from(n).map_err(|_| format!("expected {what}, got {}", describe(v)))
}

pub(crate) fn to_u64(v: &Value) -> Result<u64, String> {
    ranged(v, "a non-negative integer")
}

fn to_u32(v: &Value) -> Result<u32, String> {
    ranged(v, "a non-negative integer below 2^32")
}

fn to_u16(v: &Value) -> Result<u16, String> {
    ranged(v, "an integer from 0 to 65535")
}

fn to_i64(v: &Value) -> Result<i64, String> {
    ranged(v, "an integer")
}

pub(crate) fn to_bool(v: &Value) -> Result<bool, String> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected true or false, got {}", describe(v)))
}

/// Strings as they are; numbers as written (`api_key: 12345` is a string to LiteLLM's users).
pub(crate) fn to_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(format!("expected a string, got {}", describe(v))),
    }
}

/// A list of strings; a lone string is a list of one.
fn to_string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter(|i| !i.is_null())
            .map(|i| {
                to_string(i).map_err(|_| format!("expected a list of strings, got {}", describe(i)))
            })
            .collect(),
        Value::String(s) => Ok(vec![s.clone()]),
        _ => Err(format!("expected a list of strings, got {}", describe(v))),
    }
}

fn to_string_map(v: &Value) -> Result<IndexMap<String, String>, String> {
    let Value::Object(map) = v else {
        return Err(format!(
            "expected a mapping of strings, got {}",
            describe(v)
        ));
    };
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| Ok((k.clone(), to_string(v).map_err(|e| format!("{k}: {e}"))?)))
        .collect()
}

/// `[{group: [fallback, ...]}, ...]`; a fallback given as one string, or a single mapping
/// instead of a list of them, is accepted too.
fn to_fallbacks(v: &Value) -> Result<Vec<IndexMap<String, Vec<String>>>, String> {
    let one = |m: &Map<String, Value>| -> Result<IndexMap<String, Vec<String>>, String> {
        m.iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    to_string_list(v).map_err(|e| format!("{k}: {e}"))?,
                ))
            })
            .collect()
    };
    match v {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(m) => one(m),
                other => Err(format!(
                    "expected a list of {{model_group: [fallbacks]}} mappings, got {} in the list",
                    describe(other)
                )),
            })
            .collect(),
        Value::Object(m) => Ok(vec![one(m)?]),
        _ => Err(format!(
            "expected a list of {{model_group: [fallbacks]}} mappings, got {}",
            describe(v)
        )),
    }
}

/// `model_info.id`: LiteLLM accepts ints and stringifies them.
fn to_id(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        _ => Err(format!(
            "expected a string or an integer, got {}",
            describe(v)
        )),
    }
}

pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    read(d, to_f64)
}

pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    read(d, to_u64)
}

pub(crate) fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    read(d, to_u32)
}

pub(crate) fn opt_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    read(d, to_u16)
}

pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    read(d, to_i64)
}

pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    read(d, to_bool)
}

/// A flag that is `false` unless set.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(read(d, to_bool)?.unwrap_or(false))
}

pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read(d, to_string)
}

pub(crate) fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read(d, to_id)
}

pub(crate) fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(read(d, to_string_list)?.unwrap_or_default())
}

pub(crate) fn opt_string_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    read(d, to_string_list)
}

pub(crate) fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, String>, D::Error> {
    Ok(read(d, to_string_map)?.unwrap_or_default())
}

pub(crate) fn fallbacks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<IndexMap<String, Vec<String>>>, D::Error> {
    Ok(read(d, to_fallbacks)?.unwrap_or_default())
}

/// Any mapping; `null` is an empty one.
pub(crate) fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        other => Err(D::Error::custom(format!(
            "expected a mapping, got {}",
            describe(&other)
        ))),
    }
}

/// A mapping to arbitrary values, kept in order; `null` is an empty one.
pub(crate) fn value_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<IndexMap<String, Value>, D::Error> {
    Ok(object(d)?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_may_be_numeric_strings() {
        assert_eq!(to_u64(&json!("600")), Ok(600));
        assert_eq!(to_u64(&json!(" 10.0 ")), Ok(10));
        assert_eq!(to_f64(&json!("2.5")), Ok(2.5));
        assert_eq!(to_u16(&json!("6379")), Ok(6379));
    }

    #[test]
    fn bad_numbers_are_described_as_written() {
        assert_eq!(
            to_u64(&json!("ten")),
            Err("expected an integer, got \"ten\"".into())
        );
        assert_eq!(
            to_u64(&json!(-1)),
            Err("expected a non-negative integer, got -1".into())
        );
        assert_eq!(
            to_u16(&json!(70000)),
            Err("expected an integer from 0 to 65535, got 70000".into())
        );
        assert_eq!(
            to_f64(&json!([1])),
            Err("expected a number, got a list".into())
        );
    }

    #[test]
    fn booleans_accept_python_and_env_spellings() {
        assert_eq!(to_bool(&json!("True")), Ok(true));
        assert_eq!(to_bool(&json!("off")), Ok(false));
        assert!(to_bool(&json!("maybe")).is_err());
    }

    #[test]
    fn fallbacks_accept_a_single_string_target() {
        let f = to_fallbacks(&json!([{"a": "b"}, {"c": ["d", "e"]}])).unwrap();
        assert_eq!(f[0]["a"], vec!["b"]);
        assert_eq!(f[1]["c"], vec!["d", "e"]);
        assert!(to_fallbacks(&json!(["a"])).is_err());
    }
}
