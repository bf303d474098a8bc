//! Cohere (`cohere/` and `cohere_chat/`, one adapter as in LiteLLM): translation between the
//! OpenAI Chat Completions / Embeddings formats and Cohere's v2 `chat` and `embed` APIs, plus a
//! pure `rerank` request/response pair for the rerank endpoint.
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]).
//!
//! Endpoints and credentials follow LiteLLM 1.106: the chat base (deployment `api_base`, then
//! `COHERE_API_BASE`) is the *full* URL, nothing appended; embeddings go to the deployment's
//! `api_base` verbatim or `https://api.cohere.ai/v2/embed` (`COHERE_API_BASE` is not read
//! there); rerank goes to `{base}/v2/rerank`. Key: deployment, then `COHERE_API_KEY`, then
//! `CO_API_KEY`, sent as `Authorization: Bearer`, with LiteLLM's `Request-Source` header.
//!
//! Translation is pure with one exception: Cohere's chat responses carry no timestamp, so the
//! OpenAI `created` is the current time, read when a response is parsed or a decoder is made.

mod error;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use request::RerankRequest;
pub use response::{RerankResponse, RerankResult};
pub use stream::CohereStreamDecoder;

use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::params::ProviderParams;

/// Prefix of error messages: `CohereException - ...`, as LiteLLM prints it.
pub const PROVIDER_NAME: &str = "Cohere";
/// The v2 chat endpoint used when nothing else is configured.
pub const DEFAULT_CHAT_URL: &str = "https://api.cohere.com/v2/chat";
/// The v2 embed endpoint used when the deployment has no `api_base` (LiteLLM's default host
/// for embeddings is `api.cohere.ai`, not `.com`; both serve the API).
pub const DEFAULT_EMBED_URL: &str = "https://api.cohere.ai/v2/embed";
/// The rerank base used when nothing else is configured; `/v2/rerank` is appended.
pub const DEFAULT_RERANK_BASE: &str = "https://api.cohere.com";
/// `Request-Source`, which LiteLLM sends on every Cohere call.
const REQUEST_SOURCE: &str = "unspecified:litellm";
/// The environment variables holding the key, first set wins (LiteLLM's order).
const KEY_ENV: &[&str] = &["COHERE_API_KEY", "CO_API_KEY"];

/// A resolved Cohere deployment: its three endpoints, the key and its defaults.
#[derive(Clone)]
pub struct CohereAdapter {
    chat_url: String,
    embed_url: String,
    rerank_url: String,
    api_key: Option<String>,
    /// Model id sent upstream.
    upstream_model: String,
    /// `cohere` or `cohere_chat`, for error messages naming the provider.
    provider: Provider,
    params: ProviderParams,
}

// Never print the key.
impl std::fmt::Debug for CohereAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CohereAdapter")
            .field("chat_url", &self.chat_url)
            .field("embed_url", &self.embed_url)
            .field("rerank_url", &self.rerank_url)
            .field("api_key", &self.api_key.as_ref().map(|_| ".."))
            .field("upstream_model", &self.upstream_model)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl CohereAdapter {
    /// The adapter for a `cohere/` or `cohere_chat/` model, or `None` for any other provider.
    /// Models routed to Cohere's v1 chat API (`cohere_chat/v1/command-r`) are refused: only
    /// the v2 API is implemented.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        if !matches!(model.provider, Provider::Cohere | Provider::CohereChat) {
            return Ok(None);
        }
        if model.model.contains("v1/") {
            return Err(GatewayError::invalid_request(
                format!(
                    "model={} asks for Cohere's v1 chat API, which Tollgate does not implement; use the v2 model id without `v1/`",
                    model.canonical()
                ),
                Some("model".into()),
            ));
        }
        let param_base = params
            .api_base
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let chat_url = param_base
            .map(str::to_owned)
            .or_else(|| env.get("COHERE_API_BASE").map(|b| b.trim().to_owned()))
            .unwrap_or_else(|| DEFAULT_CHAT_URL.to_owned());
        let embed_url = param_base.unwrap_or(DEFAULT_EMBED_URL).to_owned();
        let rerank_base = param_base
            .map(str::to_owned)
            .or_else(|| env.get("COHERE_API_BASE").map(|b| b.trim().to_owned()))
            .unwrap_or_else(|| DEFAULT_RERANK_BASE.to_owned());
        let api_key = params
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| env.first(KEY_ENV));
        let mut params = params.clone();
        // Resolved into `api_key`; not kept twice.
        params.api_key = None;
        Ok(Some(Self {
            chat_url,
            embed_url,
            rerank_url: rerank_url(&rerank_base),
            api_key,
            upstream_model: model.model.clone(),
            provider: model.provider,
            params,
        }))
    }

    /// The display name used in error messages (`CohereException`).
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The chat URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.chat_url
    }

    /// The embed endpoint.
    pub fn embed_url(&self) -> &str {
        &self.embed_url
    }

    /// The rerank endpoint.
    pub fn rerank_url(&self) -> &str {
        &self.rerank_url
    }
}

/// `{base}/v2/rerank`, trailing slashes dropped; a base that already names a rerank endpoint
/// (`/v2/rerank`, or `/v1/rerank` for the legacy API) is used as is.
fn rerank_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v2/rerank") || base.ends_with("/v1/rerank") {
        base.to_owned()
    } else {
        format!("{base}/v2/rerank")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn adapter(model: &str, params: ProviderParams, env: &[(&str, &str)]) -> CohereAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let env = Env::with_overlay(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        );
        CohereAdapter::new(&m, &params, &env).unwrap().unwrap()
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
            CohereAdapter::new(&m, &ProviderParams::default(), &Env::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn default_endpoints_are_litellms() {
        let a = adapter("cohere/command-r-plus", ProviderParams::default(), &[]);
        assert_eq!(a.api_base(), "https://api.cohere.com/v2/chat");
        assert_eq!(a.embed_url(), "https://api.cohere.ai/v2/embed");
        assert_eq!(a.rerank_url(), "https://api.cohere.com/v2/rerank");
        let a = adapter(
            "cohere_chat/command-a-03-2025",
            ProviderParams::default(),
            &[],
        );
        assert_eq!(a.api_base(), "https://api.cohere.com/v2/chat");
        assert_eq!(a.upstream_model, "command-a-03-2025");
        // Bare Cohere names resolve here too.
        let a = adapter("command-r", ProviderParams::default(), &[]);
        assert_eq!(a.upstream_model, "command-r");
    }

    #[test]
    fn a_base_is_the_full_url_for_chat_and_embed() {
        let a = adapter("cohere/command-r", base("https://gw.example/"), &[]);
        assert_eq!(a.api_base(), "https://gw.example/");
        assert_eq!(a.embed_url(), "https://gw.example/");
        assert_eq!(a.rerank_url(), "https://gw.example/v2/rerank");
        // The environment base is read for chat and rerank, never for embeddings.
        let a = adapter(
            "cohere/command-r",
            ProviderParams::default(),
            &[("COHERE_API_BASE", "https://env.example/v2/chat")],
        );
        assert_eq!(a.api_base(), "https://env.example/v2/chat");
        assert_eq!(a.embed_url(), DEFAULT_EMBED_URL);
        assert_eq!(a.rerank_url(), "https://env.example/v2/chat/v2/rerank");
        let a = adapter(
            "cohere/rerank-v3.5",
            base("https://gw.example/v1/rerank/"),
            &[],
        );
        assert_eq!(a.rerank_url(), "https://gw.example/v1/rerank");
    }

    #[test]
    fn key_precedence_is_params_then_cohere_then_co() {
        let env = [("COHERE_API_KEY", "cohere"), ("CO_API_KEY", "co")];
        let a = adapter("cohere/command-r", ProviderParams::default(), &env);
        assert_eq!(a.api_key.as_deref(), Some("cohere"));
        let a = adapter("cohere/command-r", ProviderParams::default(), &env[1..]);
        assert_eq!(a.api_key.as_deref(), Some("co"));
        let params = ProviderParams {
            api_key: Some("param".into()),
            ..Default::default()
        };
        let a = adapter("cohere/command-r", params, &env);
        assert_eq!(a.api_key.as_deref(), Some("param"));
        assert!(
            !format!("{a:?}").contains("param"),
            "the key is never printed"
        );
        let a = adapter("cohere/command-r", ProviderParams::default(), &[]);
        assert_eq!(a.api_key, None);
    }

    #[test]
    fn the_v1_api_is_refused_by_name() {
        let m = ModelRef::parse("cohere_chat/v1/command-r", None).unwrap();
        let err = CohereAdapter::new(&m, &ProviderParams::default(), &Env::default()).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("v1 chat API"), "{err}");
    }
}
