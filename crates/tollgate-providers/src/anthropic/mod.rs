//! The Anthropic Messages API (`POST /v1/messages`), translated to and from OpenAI Chat
//! Completions the way LiteLLM does it.
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]).
//!
//! Translation is pure with one exception: Anthropic has no `created` timestamp, so the OpenAI
//! `created` of a response or stream is the current time, read by [`now_unix`] in
//! [`AnthropicAdapter::parse_chat_response`] and [`AnthropicAdapter::stream_decoder`] only.
//! The `*_at` variants take it as an argument and are what the tests use.

mod error;
mod native;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use stream::AnthropicStreamDecoder;

use tollgate_core::{Env, GatewayError, ModelRef};

use crate::params::ProviderParams;

/// Prefix of error messages: `AnthropicException - ...`.
pub const PROVIDER_NAME: &str = "Anthropic";
/// The API version every call pins (LiteLLM sends the same).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` sent when the client gave none. Anthropic requires the field; LiteLLM fills
/// `DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS` = 4096 for every Claude model rather than each model's
/// real output limit, and so do we: a fixed, documented value instead of a model table that
/// would go stale.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The forced tool LiteLLM uses to emulate `response_format` (`RESPONSE_FORMAT_TOOL_NAME`);
/// a call to it comes back to the client as message content, not as a tool call.
pub const JSON_TOOL_NAME: &str = "json_tool_call";
/// `anthropic-beta` flag that OAuth tokens (`sk-ant-oat...`) need.
const OAUTH_BETA: &str = "oauth-2025-04-20";
/// `anthropic-beta` flag for `file_id` sources (Files API).
const FILES_BETA: &str = "files-api-2025-04-14";
const DEFAULT_BASE: &str = "https://api.anthropic.com";

/// How the call authenticates.
#[derive(Clone)]
enum Auth {
    /// `x-api-key: <key>`.
    ApiKey(String),
    /// `authorization: Bearer <token>` (`ANTHROPIC_AUTH_TOKEN`).
    Bearer(String),
    /// An OAuth token given as the key: Bearer plus the OAuth beta headers.
    OAuthToken(String),
    /// Nothing configured; Anthropic will answer 401, which is the clearest message.
    None,
}

// Never print a credential.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ApiKey(_) => "ApiKey(..)",
            Self::Bearer(_) => "Bearer(..)",
            Self::OAuthToken(_) => "OAuthToken(..)",
            Self::None => "None",
        })
    }
}

/// A resolved Anthropic endpoint: URL, credential and defaults for one deployment.
#[derive(Debug, Clone)]
pub struct AnthropicAdapter {
    base: String,
    url: String,
    auth: Auth,
    /// Model id sent upstream.
    upstream_model: String,
    params: ProviderParams,
}

impl AnthropicAdapter {
    /// Resolves base URL and credential as LiteLLM does. Base: params > `ANTHROPIC_API_BASE` >
    /// `ANTHROPIC_BASE_URL` > `https://api.anthropic.com`. Key: params > `ANTHROPIC_API_KEY`
    /// (`x-api-key`, or Bearer for `sk-ant-oat` OAuth tokens), else `ANTHROPIC_AUTH_TOKEN`
    /// (Bearer).
    pub fn new(model: &ModelRef, params: &ProviderParams, env: &Env) -> Result<Self, GatewayError> {
        let base = params
            .api_base
            .clone()
            .filter(|b| !b.trim().is_empty())
            .or_else(|| env.first(&["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"]))
            .unwrap_or_else(|| DEFAULT_BASE.to_owned());
        let verbatim = env
            .get("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let url = messages_url(&base, verbatim);
        let auth = match params
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| env.get("ANTHROPIC_API_KEY"))
        {
            Some(key) if key.starts_with("sk-ant-oat") => Auth::OAuthToken(key),
            Some(key) => Auth::ApiKey(key),
            None => env
                .get("ANTHROPIC_AUTH_TOKEN")
                .map_or(Auth::None, Auth::Bearer),
        };
        let mut params = params.clone();
        // Resolved into `auth`; not kept twice (and never in `Debug` output).
        params.api_key = None;
        Ok(Self {
            base,
            url,
            auth,
            upstream_model: model.model.clone(),
            params,
        })
    }

    /// The translator Claude on Vertex AI reuses: the Messages format without Anthropic's
    /// endpoint or credentials (Vertex supplies its own URL and OAuth token).
    pub(crate) fn for_vertex(upstream_model: &str, params: &ProviderParams) -> Self {
        let mut params = params.clone();
        params.api_key = None;
        Self {
            base: String::new(),
            url: String::new(),
            auth: Auth::None,
            upstream_model: upstream_model.to_owned(),
            params,
        }
    }

    /// The provider's display name for error messages.
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The base URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// The full Messages endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `{base}/v1/messages`. A base that already ends with `/v1/messages` is used as is, and a
/// trailing `/` or `/v1` is not doubled. LiteLLM appends blindly (`.../v1` becomes
/// `.../v1/v1/messages`, a URL that can only 404); that quirk is deliberately not copied.
fn messages_url(base: &str, verbatim: bool) -> String {
    if verbatim {
        return base.to_owned();
    }
    let trimmed = base.trim_end_matches('/');
    if trimmed.ends_with("/v1/messages") {
        trimmed.to_owned()
    } else if trimmed.ends_with("/v1") {
        format!("{trimmed}/messages")
    } else {
        format!("{trimmed}/v1/messages")
    }
}

/// Seconds since the Unix epoch: the OpenAI `created` of a translated response, the one value
/// this module does not derive from its inputs.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::with_overlay(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    /// Unsets every Anthropic variable the process might carry, so tests see only their own.
    const CLEAN: &[(&str, &str)] = &[
        ("ANTHROPIC_API_KEY", ""),
        ("ANTHROPIC_AUTH_TOKEN", ""),
        ("ANTHROPIC_API_BASE", ""),
        ("ANTHROPIC_BASE_URL", ""),
        ("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX", ""),
    ];

    fn adapter(params: ProviderParams, vars: &[(&str, &str)]) -> AnthropicAdapter {
        let mut all = CLEAN.to_vec();
        all.extend_from_slice(vars);
        let m = ModelRef::parse("anthropic/claude-sonnet-4-5", None).unwrap();
        AnthropicAdapter::new(&m, &params, &env(&all)).unwrap()
    }

    #[test]
    fn url_is_appended_once() {
        assert_eq!(
            messages_url("https://api.anthropic.com", false),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(messages_url("https://gw/", false), "https://gw/v1/messages");
        assert_eq!(
            messages_url("https://gw/v1", false),
            "https://gw/v1/messages"
        );
        assert_eq!(
            messages_url("https://gw/v1/messages", false),
            "https://gw/v1/messages"
        );
        assert_eq!(messages_url("https://gw/custom", true), "https://gw/custom");
    }

    #[test]
    fn base_precedence() {
        let a = adapter(ProviderParams::default(), &[]);
        assert_eq!(a.url(), "https://api.anthropic.com/v1/messages");
        let a = adapter(
            ProviderParams::default(),
            &[
                ("ANTHROPIC_API_BASE", "https://a"),
                ("ANTHROPIC_BASE_URL", "https://b"),
            ],
        );
        assert_eq!(a.url(), "https://a/v1/messages");
        let a = adapter(
            ProviderParams::default(),
            &[("ANTHROPIC_BASE_URL", "https://b")],
        );
        assert_eq!(a.api_base(), "https://b");
        let a = adapter(
            ProviderParams {
                api_base: Some("https://p".into()),
                ..Default::default()
            },
            &[("ANTHROPIC_API_BASE", "https://a")],
        );
        assert_eq!(a.url(), "https://p/v1/messages");
        let a = adapter(
            ProviderParams {
                api_base: Some("https://p/exact".into()),
                ..Default::default()
            },
            &[("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX", "True")],
        );
        assert_eq!(a.url(), "https://p/exact");
    }

    #[test]
    fn key_precedence() {
        let a = adapter(
            ProviderParams {
                api_key: Some("sk-ant-param".into()),
                ..Default::default()
            },
            &[("ANTHROPIC_API_KEY", "sk-ant-env")],
        );
        assert!(matches!(&a.auth, Auth::ApiKey(k) if k == "sk-ant-param"));
        let a = adapter(
            ProviderParams::default(),
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-env"),
                ("ANTHROPIC_AUTH_TOKEN", "tok"),
            ],
        );
        assert!(matches!(&a.auth, Auth::ApiKey(k) if k == "sk-ant-env"));
        let a = adapter(
            ProviderParams::default(),
            &[("ANTHROPIC_AUTH_TOKEN", "tok")],
        );
        assert!(matches!(&a.auth, Auth::Bearer(k) if k == "tok"));
        let a = adapter(
            ProviderParams::default(),
            &[("ANTHROPIC_API_KEY", "sk-ant-oat01-x")],
        );
        assert!(matches!(&a.auth, Auth::OAuthToken(_)));
        assert!(matches!(
            adapter(ProviderParams::default(), &[]).auth,
            Auth::None
        ));
        // Debug output never carries the secret.
        assert!(!format!("{a:?}").contains("oat01"));
    }
}
