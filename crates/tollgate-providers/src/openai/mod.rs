//! The OpenAI Chat Completions format, spoken by OpenAI itself and by every provider of the
//! OpenAI-compatible family (their differences live in [`crate::openai_compat`]).
//!
//! Same file names in every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]).

mod error;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub(crate) use error::retry_after;
pub use stream::OpenAiStreamDecoder;

use tollgate_core::{Env, GatewayError, ModelRef};

use crate::openai_compat::{self, Profile};
use crate::params::ProviderParams;

/// A resolved OpenAI-format endpoint: profile, URL base, key and defaults for one deployment.
#[derive(Debug, Clone)]
pub struct OpenAiAdapter {
    profile: &'static Profile,
    base: String,
    api_key: Option<String>,
    organization: Option<String>,
    /// Model id sent upstream.
    upstream_model: String,
    params: ProviderParams,
}

impl OpenAiAdapter {
    /// Resolves credentials and base URL: deployment params first, then the provider's
    /// environment variables, then its default. A provider with no default base (vLLM, LM
    /// Studio) and none configured is an error rather than a silent call to OpenAI.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        let Some(profile) = openai_compat::profile(model.provider) else {
            return Ok(None);
        };
        let base = params
            .api_base
            .clone()
            .or_else(|| env.first(profile.base_env))
            .or_else(|| profile.default_base.map(str::to_owned))
            .ok_or_else(|| {
                GatewayError::invalid_request(
                    format!(
                        "{}: no api_base configured for model={} (set litellm_params.api_base or {})",
                        profile.provider,
                        model.canonical(),
                        profile.base_env.join(" / ")
                    ),
                    Some("api_base".into()),
                )
            })?;
        let api_key = params
            .api_key
            .clone()
            .or_else(|| env.first(profile.key_env))
            .or_else(|| profile.placeholder_key.map(str::to_owned));
        let organization = params.organization.clone().or_else(|| {
            (profile.provider == tollgate_core::Provider::OpenAi)
                .then(|| env.get("OPENAI_ORGANIZATION"))
                .flatten()
        });
        let upstream_model = match profile.model_prefix {
            Some(prefix) if !model.model.starts_with("accounts/") => {
                format!("{prefix}{}", model.model)
            }
            _ => model.model.clone(),
        };
        let mut params = params.clone();
        for (name, env_names, default) in profile.fixed_headers {
            if !params
                .extra_headers
                .iter()
                .any(|(h, _)| h.eq_ignore_ascii_case(name))
            {
                let value = env
                    .first(env_names)
                    .unwrap_or_else(|| (*default).to_owned());
                params.extra_headers.push(((*name).to_owned(), value));
            }
        }
        Ok(Some(Self {
            profile,
            base,
            api_key,
            organization,
            upstream_model,
            params,
        }))
    }

    /// An adapter for a provider that speaks this format under its own profile but resolves
    /// URL and credentials itself (Azure): no key, no organization, the given base.
    pub(crate) fn with_profile(
        profile: &'static Profile,
        base: String,
        upstream_model: String,
        params: ProviderParams,
    ) -> Self {
        Self {
            profile,
            base,
            api_key: None,
            organization: None,
            upstream_model,
            params,
        }
    }

    /// The provider's display name for error messages.
    pub fn provider_name(&self) -> &'static str {
        self.profile.name
    }

    /// The base URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// Whether responses can be forwarded byte for byte (only `model` spliced).
    pub fn forwards_bytes(&self) -> bool {
        !self.profile.normalize
    }
}
