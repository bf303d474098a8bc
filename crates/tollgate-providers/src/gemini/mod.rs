//! Google AI Studio (the Generative Language API, `gemini/` models): translation between the
//! OpenAI Chat Completions / Embeddings formats and `generateContent`, `streamGenerateContent`
//! and `batchEmbedContents`.
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]).
//!
//! Endpoint and credentials follow LiteLLM: key from the deployment, then `GOOGLE_API_KEY`,
//! `GEMINI_API_KEY`, `PALM_API_KEY`, sent as `x-goog-api-key` (never `?key=`, which would put
//! the key in access logs); base from the deployment, then `GEMINI_API_BASE`. A custom base
//! carries the API version itself (`https://gw/v1beta`); the default one gets `v1beta`, or
//! `v1alpha` for Gemini 3 and newer, as LiteLLM does.

mod error;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use stream::GeminiStreamDecoder;

use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::params::ProviderParams;

/// Where AI Studio lives when nothing else is configured.
pub const DEFAULT_API_BASE: &str = "https://generativelanguage.googleapis.com";

/// Prefix of error messages. LiteLLM serves `gemini/` through its Vertex code path and prints
/// `VertexAIException - ...` for these models; scripts match on that text.
const PROVIDER_NAME: &str = "VertexAI";

/// The environment variables holding the key, first set wins (LiteLLM's order).
const KEY_ENV: &[&str] = &["GOOGLE_API_KEY", "GEMINI_API_KEY", "PALM_API_KEY"];

/// A resolved AI Studio endpoint for one deployment.
#[derive(Debug, Clone)]
pub struct GeminiAdapter {
    /// The base as configured (or the default), without a trailing slash.
    base: String,
    /// Whether `base` came from configuration and therefore already names the API version.
    custom_base: bool,
    api_key: Option<String>,
    /// Model id sent upstream, without a `models/` prefix.
    upstream_model: String,
    params: ProviderParams,
    /// Translating for Vertex AI (`vertex_ai/`), which shares this format: errors name
    /// `vertex_ai`, function calls carry no `id`, and `labels` is accepted.
    vertex: bool,
}

impl GeminiAdapter {
    /// The adapter for a `gemini/` model, or `None` for any other provider.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        if model.provider != Provider::Gemini {
            return Ok(None);
        }
        let configured = params
            .api_base
            .clone()
            .filter(|b| !b.trim().is_empty())
            .or_else(|| env.get("GEMINI_API_BASE"));
        let custom_base = configured.is_some();
        let base = configured
            .unwrap_or_else(|| DEFAULT_API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let api_key = params.api_key.clone().or_else(|| env.first(KEY_ENV));
        let upstream_model = model
            .model
            .strip_prefix("models/")
            .unwrap_or(&model.model)
            .to_owned();
        if upstream_model.is_empty() {
            return Err(GatewayError::invalid_request(
                format!("model={} names no Gemini model", model.canonical()),
                Some("model".into()),
            ));
        }
        Ok(Some(Self {
            base,
            custom_base,
            api_key,
            upstream_model,
            params: params.clone(),
            vertex: false,
        }))
    }

    /// The translator Vertex AI reuses for its Gemini models: same request, response and
    /// stream format, with Vertex's own URL and credentials (built by the caller, so `base`
    /// and the key stay empty here).
    pub(crate) fn for_vertex(upstream_model: &str, params: &ProviderParams) -> Self {
        let mut params = params.clone();
        params.api_key = None;
        Self {
            base: String::new(),
            custom_base: true,
            api_key: None,
            upstream_model: upstream_model.to_owned(),
            params,
            vertex: true,
        }
    }

    /// The display name used in error messages (`VertexAIException`, as LiteLLM prints it).
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The base URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// `{base}/{version}/models/{model}:{method}`, or `{base}/models/{model}:{method}` for a
    /// configured base (it carries the version). A query string on the base is kept and `query`
    /// is appended to it.
    fn url(&self, method: &str, query: Option<&str>) -> String {
        let (path, base_query) = match self.base.split_once('?') {
            Some((p, q)) => (p.trim_end_matches('/'), Some(q)),
            None => (self.base.as_str(), None),
        };
        // Tuned models live under their own collection, not `models/`.
        let resource = if self.upstream_model.starts_with("tunedModels/") {
            self.upstream_model.clone()
        } else {
            format!("models/{}", self.upstream_model)
        };
        let mut url = if self.custom_base {
            format!("{path}/{resource}:{method}")
        } else {
            format!(
                "{path}/{}/{resource}:{method}",
                api_version(&self.upstream_model)
            )
        };
        let query: Vec<&str> = base_query.into_iter().chain(query).collect();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        url
    }

    /// The embeddings endpoint always uses `v1beta` on the default base (LiteLLM does too).
    fn embeddings_url(&self) -> String {
        if self.custom_base {
            return self.url("batchEmbedContents", None);
        }
        format!(
            "{}/v1beta/models/{}:batchEmbedContents",
            self.base, self.upstream_model
        )
    }
}

/// `v1alpha` for Gemini 3 and newer, `v1beta` for everything else (LiteLLM 1.106 routes the
/// newer generations to `v1alpha`; both versions serve every model).
fn api_version(model: &str) -> &'static str {
    if generation(model).is_some_and(|g| g >= 3) {
        "v1alpha"
    } else {
        "v1beta"
    }
}

/// The major generation of a `gemini-<N>...` model name (`gemini-2.5-flash` → 2), or `None`
/// for names without one (`gemini-pro`, `gemini-exp-1206`, `gemma-3-27b-it`, tuned models).
pub(crate) fn generation(model: &str) -> Option<u32> {
    let rest = model.rsplit('/').next()?.strip_prefix("gemini-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Gemini 3 models: `thinkingLevel` instead of budgets, no penalties, thought signatures
/// required on function calls.
pub(crate) fn is_gemini_3_or_newer(model: &str) -> bool {
    generation(model).is_some_and(|g| g >= 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn adapter(model: &str, params: ProviderParams, env: &[(&str, &str)]) -> GeminiAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let env = Env::with_overlay(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        );
        GeminiAdapter::new(&m, &params, &env).unwrap().unwrap()
    }

    #[test]
    fn other_providers_are_not_ours() {
        let m = ModelRef::parse("openai/gpt-4o", None).unwrap();
        assert!(
            GeminiAdapter::new(&m, &ProviderParams::default(), &Env::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn default_urls_carry_the_version_by_generation() {
        let a = adapter("gemini/gemini-2.5-flash", ProviderParams::default(), &[]);
        assert_eq!(
            a.url("generateContent", None),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            a.url("streamGenerateContent", Some("alt=sse")),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        let a = adapter(
            "gemini/gemini-3-pro-preview",
            ProviderParams::default(),
            &[],
        );
        assert_eq!(
            a.url("generateContent", None),
            "https://generativelanguage.googleapis.com/v1alpha/models/gemini-3-pro-preview:generateContent"
        );
        assert_eq!(
            a.embeddings_url(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-preview:batchEmbedContents"
        );
        let a = adapter("gemini/models/gemini-pro", ProviderParams::default(), &[]);
        assert_eq!(
            a.url("generateContent", None),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-pro:generateContent"
        );
    }

    #[test]
    fn a_custom_base_carries_its_own_version_and_query() {
        let params = ProviderParams {
            api_base: Some("https://gw.example/v1beta/".into()),
            ..Default::default()
        };
        let a = adapter("gemini/gemini-3-pro-preview", params, &[]);
        assert_eq!(
            a.url("streamGenerateContent", Some("alt=sse")),
            "https://gw.example/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"
        );
        assert_eq!(a.api_base(), "https://gw.example/v1beta");
        let a = adapter(
            "gemini/gemini-2.0-flash",
            ProviderParams::default(),
            &[("GEMINI_API_BASE", "https://proxy.example/v1?tenant=a")],
        );
        assert_eq!(
            a.url("streamGenerateContent", Some("alt=sse")),
            "https://proxy.example/v1/models/gemini-2.0-flash:streamGenerateContent?tenant=a&alt=sse"
        );
        let a = adapter(
            "gemini/tunedModels/my-model-123",
            ProviderParams::default(),
            &[],
        );
        assert_eq!(
            a.url("generateContent", None),
            "https://generativelanguage.googleapis.com/v1beta/tunedModels/my-model-123:generateContent"
        );
    }

    #[test]
    fn key_precedence_is_params_then_google_then_gemini_then_palm() {
        let env = [
            ("GOOGLE_API_KEY", "google"),
            ("GEMINI_API_KEY", "gemini"),
            ("PALM_API_KEY", "palm"),
        ];
        let a = adapter("gemini/gemini-2.0-flash", ProviderParams::default(), &env);
        assert_eq!(a.api_key.as_deref(), Some("google"));
        let a = adapter(
            "gemini/gemini-2.0-flash",
            ProviderParams::default(),
            &env[1..],
        );
        assert_eq!(a.api_key.as_deref(), Some("gemini"));
        let a = adapter(
            "gemini/gemini-2.0-flash",
            ProviderParams::default(),
            &env[2..],
        );
        assert_eq!(a.api_key.as_deref(), Some("palm"));
        let params = ProviderParams {
            api_key: Some("param".into()),
            ..Default::default()
        };
        let a = adapter("gemini/gemini-2.0-flash", params, &env);
        assert_eq!(a.api_key.as_deref(), Some("param"));
    }

    #[test]
    fn generations_are_read_from_the_name() {
        assert_eq!(generation("gemini-2.5-flash"), Some(2));
        assert_eq!(generation("gemini-3-pro-preview"), Some(3));
        assert_eq!(generation("gemini-3.1-flash-lite"), Some(3));
        assert_eq!(generation("gemini-10-ultra"), Some(10));
        assert_eq!(generation("gemini-pro"), None);
        assert_eq!(generation("gemini-exp-1206"), None);
        assert_eq!(generation("gemma-3-27b-it"), None);
        assert!(is_gemini_3_or_newer("gemini-3-flash-preview"));
        assert!(!is_gemini_3_or_newer("gemini-2.5-pro"));
    }
}
