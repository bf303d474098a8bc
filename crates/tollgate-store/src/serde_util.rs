//! Readers that accept what both databases hand back: SQLite gives booleans as 0/1 and JSON
//! columns may be NULL; timestamps come with or without a zone.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{Map, Value};

/// The one timestamp format written to either database (UTC, milliseconds, no zone: what
/// PostgreSQL's `TIMESTAMP(3)` prints and what sorts as text in SQLite).
pub const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f";

/// Formats a time as [`TS_FORMAT`].
pub fn ts_string(t: &DateTime<Utc>) -> String {
    t.format(TS_FORMAT).to_string()
}

/// Parses RFC 3339 or a zone-less timestamp (taken as UTC).
pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// `Option<DateTime<Utc>>` as [`TS_FORMAT`] text.
pub mod opt_ts {
    use super::*;

    /// Writes the time or null.
    pub fn serialize<S: Serializer>(v: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(t) => s.serialize_str(&ts_string(t)),
            None => s.serialize_none(),
        }
    }

    /// Reads a time, null, or an unparsable string as null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(match Option::<Value>::deserialize(d)? {
            Some(Value::String(s)) => parse_ts(&s),
            _ => None,
        })
    }
}

/// A required time; a missing or unreadable one is the Unix epoch.
pub mod ts {
    use super::*;

    /// Writes the time.
    pub fn serialize<S: Serializer>(v: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts_string(v))
    }

    /// Reads a time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        Ok(super::opt_ts::deserialize(d)?.unwrap_or_default())
    }
}

/// A boolean from `true`/`false`, `0`/`1` or null (false).
pub fn bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(opt_bool(d)?.unwrap_or(false))
}

/// An optional boolean from `true`/`false` or `0`/`1`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::Number(n)) => Some(n.as_f64().is_some_and(|x| x != 0.0)),
        Some(Value::String(s)) => Some(matches!(s.as_str(), "true" | "True" | "1")),
        _ => None,
    })
}

/// A list of strings; null is empty. A JSON-text list (SQLite) is decoded.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::Null),
        Some(v) => v,
        None => Value::Null,
    };
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A JSON object; null (or anything else) is empty. A JSON-text object (SQLite) is decoded.
pub fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let v = match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::Null),
        Some(v) => v,
        None => Value::Null,
    };
    Ok(match v {
        Value::Object(m) => m,
        _ => Map::new(),
    })
}

/// Any JSON value; JSON text (SQLite) is decoded, null stays null.
pub fn json_value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        Some(v) => v,
        None => Value::Null,
    })
}

/// A number that may arrive as a float (`3.0`) or an integer.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

/// A float; null is zero.
pub fn f64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    })
}

/// An optional float.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}
