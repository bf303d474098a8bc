//! Reading a JSON request body with errors a client can act on: a size limit (413), syntax
//! errors with line and column, and type errors naming the field path (`messages[0].role`).

use axum::body::Body;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_core::GatewayError;

/// Reads the body, refusing more than `limit` bytes.
pub async fn read_limited(
    body: Body,
    declared: Option<usize>,
    limit: usize,
) -> Result<bytes::Bytes, GatewayError> {
    if let Some(size) = declared.filter(|s| *s > limit) {
        return Err(GatewayError::PayloadTooLarge { size, limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util_limit::LengthLimitError>());
        if too_large || e.to_string().contains("length limit") {
            GatewayError::PayloadTooLarge {
                size: declared.unwrap_or(limit + 1),
                limit,
            }
        } else {
            GatewayError::invalid_request(format!("could not read the request body: {e}"), None)
        }
    })
}

/// The error type axum reports when a body exceeds its limit.
mod http_body_util_limit {
    pub use axum::extract::rejection::LengthLimitError;
}

/// Parses a body as `T`. The fast path is one typed parse; only a failing body is examined
/// again to say which field is wrong. (`serde_path_to_error` cannot see through
/// `#[serde(flatten)]`, which every request type uses to keep unknown fields.)
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], shape: &Shape) -> Result<T, GatewayError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(v),
        Err(_) => Err(diagnose::<T>(bytes, shape)),
    }
}

/// What a request type requires, so a failing field can be tried on its own.
#[derive(Debug)]
pub struct Shape {
    /// Required top-level fields with a valid placeholder value each.
    pub required: &'static [(&'static str, &'static str)],
    /// Array fields whose elements get their own diagnosis, with the element's required fields.
    pub arrays: &'static [(&'static str, &'static [(&'static str, &'static str)])],
}

/// `POST /chat/completions`.
pub const CHAT: Shape = Shape {
    required: &[("model", "\"m\""), ("messages", "[]")],
    arrays: &[("messages", &[("role", "\"user\"")])],
};

/// `POST /embeddings`.
pub const EMBEDDINGS: Shape = Shape {
    required: &[("model", "\"m\""), ("input", "\"x\"")],
    arrays: &[],
};

/// `POST /responses`.
pub const RESPONSES: Shape = Shape {
    required: &[("model", "\"m\"")],
    arrays: &[],
};

/// `POST /v1/messages` (and `/v1/messages/count_tokens`).
pub const MESSAGES: Shape = Shape {
    required: &[("model", "\"m\""), ("messages", "[]")],
    arrays: &[("messages", &[("role", "\"user\""), ("content", "\"x\"")])],
};

fn diagnose<T: DeserializeOwned>(bytes: &[u8], shape: &Shape) -> GatewayError {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return GatewayError::invalid_request(
            "Request body is empty; expected a JSON object",
            None,
        );
    }
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return GatewayError::invalid_request(
                format!("Invalid JSON in request body: {e}"),
                None,
            );
        }
    };
    let Value::Object(obj) = value else {
        return GatewayError::invalid_request("Request body must be a JSON object", None);
    };
    for (field, _) in shape.required {
        if obj.get(*field).is_none_or(Value::is_null) {
            return GatewayError::invalid_request(
                format!("Missing required parameter: '{field}'"),
                Some((*field).to_owned()),
            );
        }
    }
    let skeleton = placeholder(shape.required);
    for (key, v) in &obj {
        let mut candidate = skeleton.clone();
        candidate.insert(key.clone(), v.clone());
        let Err(e) = serde_json::from_value::<T>(Value::Object(candidate)) else {
            continue;
        };
        if let Some((_, element_required)) = shape.arrays.iter().find(|(name, _)| name == key) {
            if let Some(found) = diagnose_array::<T>(&skeleton, key, v, element_required) {
                return found;
            }
        }
        return GatewayError::invalid_request(
            format!("Invalid value for '{key}': {e}"),
            Some(key.clone()),
        );
    }
    GatewayError::invalid_request("Invalid request body", None)
}

/// Finds the failing element of an array field and, within it, the failing key.
fn diagnose_array<T: DeserializeOwned>(
    skeleton: &Map<String, Value>,
    field: &str,
    array: &Value,
    element_required: &[(&str, &str)],
) -> Option<GatewayError> {
    let Value::Array(items) = array else {
        return Some(GatewayError::invalid_request(
            format!("Invalid type for '{field}': expected an array"),
            Some(field.to_owned()),
        ));
    };
    let attempt = |element: Value| {
        let mut candidate = skeleton.clone();
        candidate.insert(field.to_owned(), Value::Array(vec![element]));
        serde_json::from_value::<T>(Value::Object(candidate))
    };
    for (i, item) in items.iter().enumerate() {
        let Err(e) = attempt(item.clone()) else {
            continue;
        };
        let Value::Object(element) = item else {
            let path = format!("{field}[{i}]");
            return Some(GatewayError::invalid_request(
                format!("Invalid type for '{path}': expected an object"),
                Some(path),
            ));
        };
        for (req, _) in element_required {
            if element.get(*req).is_none_or(Value::is_null) {
                let path = format!("{field}[{i}].{req}");
                return Some(GatewayError::invalid_request(
                    format!("Missing required parameter: '{path}'"),
                    Some(path),
                ));
            }
        }
        let base = placeholder(element_required);
        for (key, v) in element {
            let mut one = base.clone();
            one.insert(key.clone(), v.clone());
            if let Err(e) = attempt(Value::Object(one)) {
                let path = format!("{field}[{i}].{key}");
                return Some(GatewayError::invalid_request(
                    format!("Invalid value for '{path}': {e}"),
                    Some(path),
                ));
            }
        }
        let path = format!("{field}[{i}]");
        return Some(GatewayError::invalid_request(
            format!("Invalid value for '{path}': {e}"),
            Some(path),
        ));
    }
    None
}

fn placeholder(fields: &[(&str, &str)]) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| {
            (
                (*k).to_owned(),
                serde_json::from_str(v).unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::{ChatCompletionRequest, EmbeddingsRequest};

    fn chat_err(body: &str) -> GatewayError {
        parse_json::<ChatCompletionRequest>(body.as_bytes(), &CHAT).unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("", None, "empty"),
            ("{not json", None, "Invalid JSON"),
            ("[1]", None, "JSON object"),
            (
                r#"{"messages":[]}"#,
                Some("model"),
                "Missing required parameter: 'model'",
            ),
            (r#"{"model":"m"}"#, Some("messages"), "'messages'"),
            (
                r#"{"model":"m","messages":"hi"}"#,
                Some("messages"),
                "expected an array",
            ),
            (
                r#"{"model":"m","messages":[{"content":"x"}]}"#,
                Some("messages[0].role"),
                "Missing",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"x"}]}"#,
                Some("messages[1].role"),
                "wizard",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
                Some("messages[0].content"),
                "Invalid value",
            ),
            (
                r#"{"model":"m","messages":[],"temperature":"hot"}"#,
                Some("temperature"),
                "Invalid value for 'temperature'",
            ),
            (r#"{"model":7,"messages":[]}"#, Some("model"), "model"),
        ];
        for (body, param, text) in cases {
            let e = chat_err(body);
            assert_eq!(e.status(), 400, "{body}");
            let b = e.to_body();
            assert_eq!(
                b.error.param.as_deref(),
                param,
                "{body}: {}",
                b.error.message
            );
            assert!(
                b.error.message.contains(text),
                "{body}: {}",
                b.error.message
            );
        }
    }

    #[test]
    fn valid_bodies_parse_on_the_fast_path() {
        let r: ChatCompletionRequest = parse_json(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            &CHAT,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        let e: EmbeddingsRequest =
            parse_json(br#"{"model":"m","input":["a","b"]}"#, &EMBEDDINGS).unwrap();
        assert_eq!(e.input.len(), 2);
        let err = parse_json::<EmbeddingsRequest>(br#"{"model":"m"}"#, &EMBEDDINGS).unwrap_err();
        assert_eq!(err.to_body().error.param.as_deref(), Some("input"));
    }
}
