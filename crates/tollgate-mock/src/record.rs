//! The log of requests the mock received.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many requests the log keeps; older ones are dropped so a benchmark cannot exhaust memory.
pub const MAX_RECORDED: usize = 10_000;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Lowercase header names; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, else the raw text (lossy UTF-8), else `null` when empty.
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value by (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What is kept per request: cheap to store on the hot path, decoded only when asked for.
#[derive(Clone)]
struct Raw {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Raw {
    fn decode(&self) -> RecordedRequest {
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        let body = if self.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&self.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
        };
        RecordedRequest {
            method: self.method.as_str().to_owned(),
            path: self.uri.path().to_owned(),
            query: self.uri.query().map(str::to_owned),
            headers,
            body,
        }
    }
}

/// The bounded request log.
#[derive(Default)]
pub(crate) struct Recorder {
    log: Mutex<VecDeque<Raw>>,
}

impl Recorder {
    pub(crate) fn record(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) {
        let mut log = self.lock();
        if log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(Raw {
            method,
            uri,
            headers,
            body,
        });
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        // Decode outside the lock so a large log does not stall requests in flight.
        let raw: Vec<Raw> = self.lock().iter().cloned().collect();
        raw.iter().map(Raw::decode).collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Raw>> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
