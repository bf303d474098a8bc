//! Scripted responses: what a test queues, and which request consumes which script.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scripted response. Every field is optional: a script that names no response kind answers
/// like the default responder (after `delay_ms`, with `status`, `headers`, `reply`, `tool_calls`),
/// except that a bare `status` >= 400 answers with an OpenAI-shaped error body.
///
/// Kinds are tried in this order: `close`, `hang`, `fixture`, `stream`, `json`, `body`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockScript {
    /// Only a request whose JSON body has this `model` consumes the script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_model: Option<String>,
    /// Only a request whose path ends with this consumes the script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_path_suffix: Option<String>,
    /// Uses before the script is removed; `0` keeps it forever. Default 1.
    pub times: u32,
    /// HTTP status; default 200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Extra response headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Wait this long before sending the response headers.
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// A JSON body returned as-is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A raw body (content type `application/json` unless `content_type` says otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Overrides the response content type of any kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// A file under the fixtures dir (or an absolute path), served verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    /// An SSE stream built from explicit events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamScript>,
    /// Text the default chat responder answers with (streaming or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Tool calls the default chat responder answers with (streaming or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallScript>>,
    /// Accept the request and never answer (until the server shuts down).
    #[serde(skip_serializing_if = "is_false")]
    pub hang: bool,
    /// Close the connection without sending any response.
    #[serde(skip_serializing_if = "is_false")]
    pub close: bool,
}

impl Default for MockScript {
    fn default() -> Self {
        Self {
            match_model: None,
            match_path_suffix: None,
            times: 1,
            status: None,
            headers: BTreeMap::new(),
            delay_ms: 0,
            json: None,
            body: None,
            content_type: None,
            fixture: None,
            stream: None,
            reply: None,
            tool_calls: None,
            hang: false,
            close: false,
        }
    }
}

impl MockScript {
    /// Answer chat requests with this text.
    pub fn reply(text: impl Into<String>) -> Self {
        Self {
            reply: Some(text.into()),
            ..Self::default()
        }
    }

    /// Answer chat requests with one call of `name` with these arguments.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self {
            tool_calls: Some(vec![ToolCallScript {
                name: name.into(),
                arguments,
                id: None,
            }]),
            ..Self::default()
        }
    }

    /// Answer with `status` and this JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status: Some(status),
            json: Some(body),
            ..Self::default()
        }
    }

    /// Answer with `status` and an OpenAI-shaped error body for it.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Replay a fixture file verbatim.
    pub fn fixture(path: impl Into<String>) -> Self {
        Self {
            fixture: Some(path.into()),
            ..Self::default()
        }
    }

    /// Stream these events.
    pub fn stream(stream: StreamScript) -> Self {
        Self {
            stream: Some(stream),
            ..Self::default()
        }
    }

    /// Never answer.
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    /// Drop the connection without a response.
    pub fn close() -> Self {
        Self {
            close: true,
            ..Self::default()
        }
    }

    /// Only for requests whose body names this model.
    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.match_model = Some(model.into());
        self
    }

    /// Only for requests whose path ends with `suffix`.
    pub fn for_path_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.match_path_suffix = Some(suffix.into());
        self
    }

    /// Serve `n` requests (`0` = forever).
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// Wait before the response headers.
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }

    /// Add a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    fn matches(&self, model: Option<&str>, path: &str) -> bool {
        self.match_model.as_deref().is_none_or(|m| model == Some(m))
            && self
                .match_path_suffix
                .as_deref()
                .is_none_or(|s| path.ends_with(s))
    }
}

/// An explicit SSE stream: `data: <event>\n\n` per event, then `data: [DONE]\n\n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamScript {
    /// One SSE `data` payload each: JSON values are written compact, strings verbatim.
    pub events: Vec<Value>,
    /// Pause between writes.
    pub chunk_delay_ms: u64,
    /// Append `data: [DONE]` (ignored when truncating). Default true.
    pub done: bool,
    /// Send this many events, then abort the connection mid-body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncate_after: Option<usize>,
    /// Write the body in pieces of this many bytes, cutting across events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_bytes: Option<usize>,
    /// Write each event exactly as given, with no `data: ` framing, so any provider's framing
    /// (named events, CRLF, comments, NDJSON) can be scripted.
    pub raw: bool,
}

impl Default for StreamScript {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            chunk_delay_ms: 0,
            done: true,
            truncate_after: None,
            split_bytes: None,
            raw: false,
        }
    }
}

impl StreamScript {
    /// A stream of these payloads.
    pub fn events(events: Vec<Value>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }
}

/// A tool call the default chat responder returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallScript {
    /// Function name.
    pub name: String,
    /// A string is sent verbatim as `arguments`; any other value is sent as its compact JSON.
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// Call id; default `call_mock_<i>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ToolCallScript {
    /// The `arguments` string as it goes on the wire.
    pub fn arguments_string(&self) -> String {
        match &self.arguments {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

struct Queued {
    script: Arc<MockScript>,
    /// Uses left; `0` means forever, so it is never counted down.
    left: u32,
}

/// The FIFO of scripts waiting for requests.
#[derive(Default)]
pub(crate) struct ScriptQueue {
    queue: Mutex<VecDeque<Queued>>,
}

impl ScriptQueue {
    pub(crate) fn push(&self, script: MockScript) {
        let left = script.times;
        self.lock().push_back(Queued {
            script: Arc::new(script),
            left,
        });
    }

    /// The first script this request matches, counting one use of it.
    pub(crate) fn take(&self, model: Option<&str>, path: &str) -> Option<Arc<MockScript>> {
        let mut queue = self.lock();
        let pos = queue.iter().position(|q| q.script.matches(model, path))?;
        let entry = &mut queue[pos];
        let script = entry.script.clone();
        if entry.left > 0 {
            entry.left -= 1;
            if entry.left == 0 {
                queue.remove(pos);
            }
        }
        Some(script)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        // A panicking test thread must not wedge the mock for the others.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fifo_with_times_and_matchers() {
        let q = ScriptQueue::default();
        q.push(MockScript::reply("a").for_model("m1").times(2));
        q.push(MockScript::reply("b"));
        q.push(
            MockScript::reply("c")
                .for_path_suffix("/embeddings")
                .times(0),
        );

        let reply = |s: Option<Arc<MockScript>>| s.and_then(|s| s.reply.clone());
        assert_eq!(
            reply(q.take(Some("m2"), "/v1/chat/completions")),
            Some("b".into())
        );
        assert_eq!(
            reply(q.take(Some("m1"), "/v1/chat/completions")),
            Some("a".into())
        );
        assert_eq!(
            reply(q.take(Some("m1"), "/v1/chat/completions")),
            Some("a".into())
        );
        assert_eq!(reply(q.take(Some("m1"), "/v1/chat/completions")), None);
        for _ in 0..3 {
            assert_eq!(reply(q.take(None, "/v1/embeddings")), Some("c".into()));
        }
    }

    #[test]
    fn json_form_defaults_and_rejects_typos() {
        let s: MockScript = serde_json::from_value(json!({"status": 429})).unwrap();
        assert_eq!(s.times, 1);
        assert_eq!(s.status, Some(429));
        let st: StreamScript = serde_json::from_value(json!({"events": ["x"]})).unwrap();
        assert!(st.done);
        assert!(serde_json::from_value::<MockScript>(json!({"staus": 429})).is_err());
        let t: ToolCallScript = serde_json::from_value(json!({"name": "f"})).unwrap();
        assert_eq!(t.arguments_string(), "{}");
    }
}
