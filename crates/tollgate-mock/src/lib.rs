//! A scriptable mock LLM provider speaking the OpenAI API, for Tollgate's integration tests,
//! the Python SDK end-to-end tests and throughput benchmarks.
//!
//! Unscripted, it answers like OpenAI, byte-faithful to recorded traffic and deterministic:
//! `POST …/chat/completions` (plain, streamed, forced tool calls), `POST …/embeddings`,
//! `GET …/models`, and the rest of the surface (`…/completions`, `…/images/generations`,
//! `…/audio/transcriptions`, `…/audio/speech`, `…/moderations`, `…/responses`, Cohere's
//! `…/v2/rerank`), under any path prefix (`/v1`, `/openai/v1`, `/api/v1`, …).
//!
//! Tests script it by queuing [`MockScript`]s, in-process with [`MockServer::push`] or over
//! HTTP with `POST /__mock/script` (one script object or an array); each request consumes the
//! first queued script that matches it. Every request other than `/__mock/*` is recorded
//! ([`MockServer::requests`], `GET /__mock/requests`), and `POST /__mock/reset` forgets
//! scripts and requests. Scripted answers work on any path, so other providers' routes
//! (`/v1/messages`, `…:streamGenerateContent`) can be served from fixtures or raw streams.
//!
//! The script JSON is [`MockScript`]'s serde form (unknown fields are rejected):
//!
//! ```json
//! {"match_model": "gpt-4o", "match_path_suffix": "/chat/completions", "times": 2,
//!  "status": 429, "headers": {"retry-after": "1"}, "delay_ms": 50,
//!  "json": {"error": {"message": "slow down", "type": "requests", "param": null,
//!           "code": "rate_limit_exceeded"}}}
//! {"reply": "Paris.", "times": 0}
//! {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
//! {"fixture": "openai/chat_tool_call_stream.sse"}
//! {"stream": {"events": [{"choices": []}, "raw payload"], "chunk_delay_ms": 10,
//!             "done": true, "truncate_after": 1, "split_bytes": 7, "raw": false}}
//! {"body": "upstream exploded", "content_type": "text/plain", "status": 502}
//! {"hang": true}
//! {"close": true}
//! ```
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use tollgate_mock::{MockScript, MockServer};
//! let mock = MockServer::start().await?;
//! mock.push(MockScript::status(429).header("retry-after", "1"));
//! // point the gateway at mock.base_url() ...
//! # Ok(()) }
//! ```

mod base64;
mod conn;
mod openai;
mod record;
mod script;
mod server;
mod sse;
mod surface;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub use openai::{DEFAULT_DIMENSIONS, DEFAULT_MODEL, DEFAULT_REPLY};
pub use record::{MAX_RECORDED, RecordedRequest};
pub use script::{MockScript, StreamScript, ToolCallScript};
pub use server::{MockState, serve};

/// A mock server running on the current tokio runtime; dropping it shuts it down.
pub struct MockServer {
    addr: SocketAddr,
    state: MockState,
}

impl MockServer {
    /// Starts on an ephemeral port of 127.0.0.1, with [`default_fixtures_dir`].
    pub async fn start() -> io::Result<MockServer> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None).await
    }

    /// Starts on `addr`; `None` for `fixtures_dir` means [`default_fixtures_dir`].
    pub async fn start_on(
        addr: SocketAddr,
        fixtures_dir: Option<PathBuf>,
    ) -> io::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = MockState::new(fixtures_dir.or_else(default_fixtures_dir));
        let served = state.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(listener, served).await {
                tracing::warn!(error = %e, "mock server stopped");
            }
        });
        Ok(MockServer { addr, state })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, what an OpenAI client takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT` followed by `path`, for other prefixes and `/__mock/*`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues a scripted response.
    pub fn push(&self, script: MockScript) {
        self.state.push(script);
    }

    /// Every request received so far (except `/__mock/*`), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Drops all queued scripts and recorded requests.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// The shared state, e.g. to push scripts from another task.
    pub fn state(&self) -> &MockState {
        &self.state
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.state.shutdown();
    }
}

/// `$TOLLGATE_FIXTURES_DIR`, else the repository's sibling `shared/fixtures` if it exists.
pub fn default_fixtures_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TOLLGATE_FIXTURES_DIR") {
        return Some(PathBuf::from(dir));
    }
    let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    beside_repo.canonicalize().ok().filter(|p| p.is_dir())
}
