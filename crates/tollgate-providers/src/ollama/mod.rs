//! Ollama's native API (`ollama/` and `ollama_chat/`): translation between the OpenAI Chat
//! Completions / Embeddings formats and `POST /api/chat` (NDJSON streams) and `/api/embed`.
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]).
//!
//! Endpoint and credentials follow LiteLLM 1.106: base from the deployment, then
//! `OLLAMA_API_BASE`, then `http://localhost:11434`; key from the deployment, then
//! `OLLAMA_API_KEY`, sent as `Authorization: Bearer` only when there is one (Ollama cloud).
//! Deliberate differences:
//! - `ollama/` is served by `/api/chat` like `ollama_chat/`. LiteLLM sends `ollama/` to
//!   `/api/generate` and flattens the conversation into one prompt, which loses roles, tool
//!   calls and tool results; `/api/chat` applies the model's own chat template instead.
//! - Embeddings work for both prefixes (LiteLLM only has them for `ollama/`), and carry the
//!   key when one is configured (LiteLLM never sends it there, so Ollama cloud cannot embed).
//! - A trailing `/` and an endpoint path already on the base (`/api/chat`, `/api/generate`,
//!   `/api/embed`) are dropped before the path is added, so one base serves every call.
//!
//! Translation is pure with one exception: Ollama's `created_at` is not used, the OpenAI
//! `created` is the current time, read when a response is parsed or a decoder is made.

mod error;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use stream::OllamaStreamDecoder;

use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::params::ProviderParams;

/// Prefix of error messages: `OllamaException - ...`, as LiteLLM prints it.
pub const PROVIDER_NAME: &str = "Ollama";
/// Where a local Ollama listens.
pub const DEFAULT_API_BASE: &str = "http://localhost:11434";
/// Endpoint paths a configured base may already end with.
const KNOWN_SUFFIXES: &[&str] = &[
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
];

/// A resolved Ollama server for one deployment.
#[derive(Clone)]
pub struct OllamaAdapter {
    /// The server root, without a trailing slash or endpoint path.
    base: String,
    api_key: Option<String>,
    /// Model id sent upstream (`llama3.1:8b`).
    upstream_model: String,
    /// `ollama` or `ollama_chat`, for error messages naming the provider.
    provider: Provider,
    params: ProviderParams,
}

// Never print the key.
impl std::fmt::Debug for OllamaAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OllamaAdapter")
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| ".."))
            .field("upstream_model", &self.upstream_model)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl OllamaAdapter {
    /// The adapter for an `ollama/` or `ollama_chat/` model, or `None` for any other provider.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        if !matches!(model.provider, Provider::Ollama | Provider::OllamaChat) {
            return Ok(None);
        }
        let configured = params
            .api_base
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .or_else(|| env.get("OLLAMA_API_BASE").map(|b| b.trim().to_owned()))
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
        let api_key = params
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| env.get("OLLAMA_API_KEY"));
        let mut params = params.clone();
        // Resolved into `api_key`; not kept twice.
        params.api_key = None;
        Ok(Some(Self {
            base: server_root(&configured),
            api_key,
            upstream_model: model.model.clone(),
            provider: model.provider,
            params,
        }))
    }

    /// The display name used in error messages (`OllamaException`).
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The server root calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// `{base}/api/chat`.
    pub fn chat_url(&self) -> String {
        format!("{}/api/chat", self.base)
    }

    /// `{base}/api/embed`.
    pub fn embed_url(&self) -> String {
        format!("{}/api/embed", self.base)
    }
}

/// The base without trailing slashes and without an endpoint path it may already carry.
fn server_root(base: &str) -> String {
    let mut root = base.trim_end_matches('/');
    for suffix in KNOWN_SUFFIXES {
        if let Some(r) = root.strip_suffix(suffix) {
            root = r.trim_end_matches('/');
            break;
        }
    }
    root.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn adapter(model: &str, params: ProviderParams, env: &[(&str, &str)]) -> OllamaAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let env = Env::with_overlay(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        );
        OllamaAdapter::new(&m, &params, &env).unwrap().unwrap()
    }

    fn base(b: &str) -> ProviderParams {
        ProviderParams {
            api_base: Some(b.into()),
            ..Default::default()
        }
    }

    #[test]
    fn other_providers_are_not_ours() {
        let m = ModelRef::parse("openai/gpt-4o", None).unwrap();
        assert!(
            OllamaAdapter::new(&m, &ProviderParams::default(), &Env::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn both_prefixes_use_the_chat_api_on_the_default_server() {
        for model in ["ollama/llama3.1:8b", "ollama_chat/llama3.1:8b"] {
            let a = adapter(model, ProviderParams::default(), &[]);
            assert_eq!(a.chat_url(), "http://localhost:11434/api/chat");
            assert_eq!(a.embed_url(), "http://localhost:11434/api/embed");
            assert_eq!(a.upstream_model, "llama3.1:8b");
        }
    }

    #[test]
    fn bases_lose_slashes_and_endpoint_paths() {
        let a = adapter("ollama/m", base("http://gpu:11434/"), &[]);
        assert_eq!(a.chat_url(), "http://gpu:11434/api/chat");
        let a = adapter("ollama_chat/m", base("https://ollama.com/api/chat"), &[]);
        assert_eq!(a.api_base(), "https://ollama.com");
        assert_eq!(a.embed_url(), "https://ollama.com/api/embed");
        let a = adapter("ollama/m", base("http://h/proxy/api/generate/"), &[]);
        assert_eq!(a.chat_url(), "http://h/proxy/api/chat");
        let a = adapter(
            "ollama/m",
            ProviderParams::default(),
            &[("OLLAMA_API_BASE", "http://env:1")],
        );
        assert_eq!(a.chat_url(), "http://env:1/api/chat");
        let a = adapter(
            "ollama/m",
            base("http://param:2"),
            &[("OLLAMA_API_BASE", "http://env:1")],
        );
        assert_eq!(a.chat_url(), "http://param:2/api/chat");
    }

    #[test]
    fn key_precedence_is_params_then_env() {
        let a = adapter(
            "ollama/m",
            ProviderParams::default(),
            &[("OLLAMA_API_KEY", "env")],
        );
        assert_eq!(a.api_key.as_deref(), Some("env"));
        let params = ProviderParams {
            api_key: Some("param".into()),
            ..Default::default()
        };
        let a = adapter("ollama/m", params, &[("OLLAMA_API_KEY", "env")]);
        assert_eq!(a.api_key.as_deref(), Some("param"));
        assert!(!format!("{a:?}").contains("param"));
        let a = adapter("ollama/m", ProviderParams::default(), &[]);
        assert_eq!(a.api_key, None);
    }
}
