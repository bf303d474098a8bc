//! Shared state, routing and the request handler, used by both [`crate::MockServer`] and the binary.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::base64;
use crate::conn::{KillSwitch, MockListener};
use crate::openai::{self, ApiRequest};
use crate::record::{RecordedRequest, Recorder};
use crate::script::{MockScript, ScriptQueue};
use crate::sse::{self, Writes};
use crate::surface;

/// Largest request body accepted (embedding batches and inline images can be big).
const MAX_BODY: usize = 64 << 20;

/// Everything the mock knows: queued scripts, the request log, the fixtures dir. Cheap to clone.
#[derive(Clone)]
pub struct MockState {
    inner: Arc<Inner>,
}

struct Inner {
    scripts: ScriptQueue,
    recorder: Recorder,
    fixtures_dir: Option<PathBuf>,
    next_id: AtomicU64,
    shutdown: watch::Sender<bool>,
}

impl MockState {
    /// Fresh state; `fixtures_dir` resolves relative `fixture` paths.
    pub fn new(fixtures_dir: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Inner {
                scripts: ScriptQueue::default(),
                recorder: Recorder::default(),
                fixtures_dir,
                next_id: AtomicU64::new(1),
                shutdown: watch::Sender::new(false),
            }),
        }
    }

    /// Queues a scripted response.
    pub fn push(&self, script: MockScript) {
        self.inner.scripts.push(script);
    }

    /// Every request received so far (except `/__mock/*`), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.recorder.snapshot()
    }

    /// Drops all queued scripts and recorded requests.
    pub fn reset(&self) {
        self.inner.scripts.clear();
        self.inner.recorder.clear();
    }

    /// The directory `fixture` paths are relative to.
    pub fn fixtures_dir(&self) -> Option<&Path> {
        self.inner.fixtures_dir.as_deref()
    }

    /// Stops [`serve`] and releases hanging requests.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    async fn shutdown_signal(&self) {
        let mut rx = self.inner.shutdown.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

/// Serves the mock on `listener` until [`MockState::shutdown`].
pub async fn serve(listener: TcpListener, state: MockState) -> io::Result<()> {
    let stop = state.clone();
    let app = router(state).into_make_service_with_connect_info::<KillSwitch>();
    axum::serve(MockListener(listener), app)
        .with_graceful_shutdown(async move { stop.shutdown_signal().await })
        .await
}

fn router(state: MockState) -> Router {
    Router::new()
        .route("/__mock/script", post(push_scripts))
        .route("/__mock/requests", get(list_requests))
        .route("/__mock/reset", post(reset))
        .fallback(handle)
        .with_state(state)
}

/// One script object or an array of them.
fn parse_scripts(body: &[u8]) -> serde_json::Result<Vec<MockScript>> {
    // Decided by shape rather than an untagged enum, whose error would hide the real mistake.
    match serde_json::from_slice::<Value>(body)? {
        list @ Value::Array(_) => serde_json::from_value(list),
        one => serde_json::from_value(one).map(|s| vec![s]),
    }
}

async fn push_scripts(State(state): State<MockState>, body: Bytes) -> Response {
    let scripts = match parse_scripts(&body) {
        Ok(scripts) => scripts,
        Err(e) => {
            let body = axum::Json(json!({"error": format!("invalid mock script: {e}")}));
            return (StatusCode::BAD_REQUEST, body).into_response();
        }
    };
    let queued = scripts.len();
    scripts.into_iter().for_each(|s| state.push(s));
    axum::Json(json!({"queued": queued})).into_response()
}

async fn list_requests(State(state): State<MockState>) -> Response {
    axum::Json(state.requests()).into_response()
}

async fn reset(State(state): State<MockState>) -> Response {
    state.reset();
    axum::Json(json!({"reset": true})).into_response()
}

/// Every non-control request: record it, then answer from a script or by default.
async fn handle(State(state): State<MockState>, req: Request) -> Response {
    if req.uri().path().starts_with("/__mock/") {
        return openai::unknown_route(req.method().as_str(), req.uri().path());
    }
    let (parts, body) = req.into_parts();
    let kill = parts
        .extensions
        .get::<ConnectInfo<KillSwitch>>()
        .map(|c| c.0.clone());
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let api = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<ApiRequest>(&body).ok()
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    tracing::debug!(%method, %path, "request");
    let model = api.as_ref().and_then(|r| r.model.as_deref());
    let script = state.inner.scripts.take(model, &path);
    state
        .inner
        .recorder
        .record(parts.method, parts.uri, parts.headers, body.clone());
    match script {
        None => default_response(&state, &method, &path, api.as_ref(), None, &body),
        Some(script) => scripted(&state, kill, &method, &path, api.as_ref(), &script, &body).await,
    }
}

/// The built-in OpenAI-compatible behaviour, routed by path suffix so any prefix works.
fn default_response(
    state: &MockState,
    method: &Method,
    path: &str,
    api: Option<&ApiRequest>,
    script: Option<&MockScript>,
    body: &[u8],
) -> Response {
    let path = path.trim_end_matches('/');
    if let Some(resp) = surface::respond(method, path, body, &state.inner.next_id) {
        resp
    } else if *method == Method::POST && path.ends_with("/chat/completions") {
        let seq = state.inner.next_id.fetch_add(1, Ordering::Relaxed);
        api.map_or_else(openai::unparsable_body, |r| openai::chat(r, script, seq))
    } else if *method == Method::POST && path.ends_with("/embeddings") {
        api.map_or_else(openai::unparsable_body, openai::embeddings)
    } else if *method == Method::GET && path.ends_with("/models") {
        openai::models()
    } else {
        openai::unknown_route(method.as_str(), path)
    }
}

async fn scripted(
    state: &MockState,
    kill: Option<KillSwitch>,
    method: &Method,
    path: &str,
    api: Option<&ApiRequest>,
    script: &MockScript,
    body: &[u8],
) -> Response {
    if script.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(script.delay_ms)).await;
    }
    if script.hang {
        state.shutdown_signal().await;
    }
    if script.close || script.hang {
        if let Some(kill) = kill {
            kill.kill();
        }
        // Never reaches the client: writing it fails and the connection is dropped.
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let status = script
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut resp = if let Some(fixture) = &script.fixture {
        match fixture_response(state, fixture).await {
            Ok(resp) => resp,
            // Not the scripted status: a missing fixture is a broken test, say so loudly.
            Err(resp) => return resp,
        }
    } else if let Some(stream) = &script.stream {
        let mut resp = Response::new(Writes::from_script(stream).into_body());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(sse::CONTENT_TYPE),
        );
        resp
    } else if let Some(json) = &script.json {
        openai::json_bytes(status, Bytes::from(json.to_string()))
    } else if let Some(body) = &script.body {
        openai::json_bytes(status, Bytes::from(body.clone()))
    } else if status.as_u16() >= 400 {
        openai::error_for_status(status, api.and_then(|r| r.model.as_deref()))
    } else {
        default_response(state, method, path, api, Some(script), body)
    };
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    if let Some(ct) = script.content_type.as_deref() {
        if let Ok(v) = HeaderValue::from_str(ct) {
            headers.insert(header::CONTENT_TYPE, v);
        }
    }
    for (name, value) in &script.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
    resp
}

/// A fixture file's bytes with the content type its extension implies; `.b64` files are decoded
/// and served as AWS event streams (that is how binary fixtures are stored).
async fn fixture_response(state: &MockState, fixture: &str) -> Result<Response, Response> {
    let path = match state.fixtures_dir() {
        Some(dir) if Path::new(fixture).is_relative() => dir.join(fixture),
        _ => PathBuf::from(fixture),
    };
    let fail = |msg: String| {
        let body = json!({"error": {"message": msg, "type": "mock_fixture_error", "param": null, "code": null}});
        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| fail(format!("cannot read fixture {}: {e}", path.display())))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let (bytes, content_type) = match ext {
        "sse" => (bytes, sse::CONTENT_TYPE),
        "ndjson" => (bytes, "application/x-ndjson"),
        "b64" => (
            base64::decode(&bytes)
                .ok_or_else(|| fail(format!("fixture {} is not base64", path.display())))?,
            "application/vnd.amazon.eventstream",
        ),
        _ => (bytes, "application/json"),
    };
    // Streams go out chunked, as providers send them; JSON with a content-length.
    let body = if content_type == "application/json" {
        Body::from(bytes)
    } else {
        sse::body(vec![Bytes::from(bytes)])
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}
