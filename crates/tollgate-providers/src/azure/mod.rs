//! Azure OpenAI (`azure/<deployment>`) and Azure AI Foundry (`azure_ai/<model>`).
//!
//! Both speak the OpenAI Chat Completions format, so the body work (defaults, dropped params,
//! forced stream usage, byte forwarding, stream decoding) is done by an inner
//! [`OpenAiAdapter`]; this module owns what Azure does differently: the URL (deployment path and
//! `api-version`), the credential (`api-key`, Bearer keys and Entra ID tokens minted in
//! [`AzureAdapter::authorize`]), the prompt-filter chunk that opens every Azure stream, and
//! content-filter errors.
//!
//! Same file names as every provider module (`request.rs`, `response.rs`, `stream.rs`,
//! `error.rs`), plus `auth.rs` for the credential and the token cache.
//!
//! Resolution follows LiteLLM 1.106.2:
//! - `azure/`: base from the deployment, then `AZURE_API_BASE` (required); version from the
//!   deployment, then `AZURE_API_VERSION`, then `2025-02-01-preview`; key from the deployment,
//!   then `AZURE_OPENAI_API_KEY`, `AZURE_API_KEY`, sent as `api-key`. URL
//!   `{base}/openai/deployments/{deployment}/chat/completions?api-version=V` (and
//!   `/embeddings`); a base that already holds `/openai/deployments/...` is used as is; a
//!   Cloudflare AI Gateway base gets `/{deployment}/...`; versions `v1`, `latest` and `preview`
//!   use `{base}/openai/v1/chat/completions` with the key as a Bearer token.
//! - `azure_ai/`: base from the deployment, then `AZURE_AI_API_BASE` (required); key from the
//!   deployment, then `AZURE_AI_API_KEY`. Foundry hosts (`*.services.ai.azure.com`) get
//!   `/models/chat/completions`, other hosts `/chat/completions`, without repeating path
//!   segments the base already ends with; `api-version` only when configured. The key goes in
//!   `api-key` on Foundry and Azure OpenAI hosts and as a Bearer token elsewhere.
//! - Without a key, both fall back to Entra ID: the `azure_ad_token` param or `AZURE_AD_TOKEN`,
//!   else a client-credentials token from `tenant_id`/`client_id`/`client_secret` (or
//!   `AZURE_TENANT_ID`/`AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`) for `azure_scope` /
//!   `AZURE_SCOPE` / the Cognitive Services scope. An explicit `azure_ad_token` param wins over
//!   a key, as the Azure SDK lets it.

pub(crate) mod auth;
mod error;
mod operations;
mod request;
mod response;
mod stream;

pub use auth::{DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE};
pub use error::{parse_error, provider_specific_fields};
pub use stream::AzureStreamDecoder;

use http::HeaderValue;
use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::openai::OpenAiAdapter;
use crate::openai_compat::{Profile, UrlStyle};
use crate::params::ProviderParams;
use crate::transport::{HttpClient, UpstreamRequest};
use auth::{ClientCredentials, Credential};

/// The `api-version` LiteLLM sends when none is configured.
pub const DEFAULT_API_VERSION: &str = "2025-02-01-preview";

/// Azure OpenAI: the OpenAI format, byte-forwarded (Azure's additions, such as
/// `content_filter_results` and `prompt_filter_results`, reach the client as sent).
static AZURE_PROFILE: Profile = Profile {
    provider: Provider::Azure,
    name: "Azure",
    default_base: None,
    base_env: &["AZURE_API_BASE"],
    key_env: &["AZURE_OPENAI_API_KEY", "AZURE_API_KEY"],
    placeholder_key: None,
    url_style: UrlStyle::Append,
    embeddings: true,
    unsupported_params: &[],
    single_choice_only: false,
    normalize: false,
    model_prefix: None,
    fixed_headers: &[],
};

/// Azure AI Foundry serves other vendors' models (DeepSeek-R1, Mistral, Llama, Phi) through
/// the OpenAI format, with their reasoning fields and finish reasons: normalised like the rest
/// of the OpenAI-compatible family.
static AZURE_AI_PROFILE: Profile = Profile {
    provider: Provider::AzureAi,
    name: "Azure_ai",
    default_base: None,
    base_env: &["AZURE_AI_API_BASE"],
    key_env: &["AZURE_AI_API_KEY"],
    placeholder_key: None,
    url_style: UrlStyle::Append,
    embeddings: true,
    unsupported_params: &[],
    single_choice_only: false,
    normalize: true,
    model_prefix: None,
    fixed_headers: &[],
};

/// Which of Azure's APIs a deployment talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/openai/deployments/{deployment}/...?api-version=V` (dated versions).
    Deployment,
    /// `/openai/v1/...`, version-less.
    V1,
    /// `azure_ai/`: Foundry's model inference API or another OpenAI-format endpoint.
    Foundry,
}

/// A resolved Azure endpoint for one deployment.
#[derive(Debug, Clone)]
pub struct AzureAdapter {
    /// Builds bodies and reads responses in the OpenAI format.
    inner: OpenAiAdapter,
    route: Route,
    /// The base as configured, without a trailing slash.
    base: String,
    chat_url: String,
    embeddings_url: String,
    credential: Credential,
    /// The configured `api-version` (`None` on Foundry when none is set).
    api_version: Option<String>,
    /// The deployment (`azure/`) or model (`azure_ai/`) name, for error messages.
    upstream_model: String,
    /// The deployment's `drop_params`.
    drop_params: bool,
}

impl AzureAdapter {
    /// The adapter for an `azure/` or `azure_ai/` model, or `None` for any other provider.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        match model.provider {
            Provider::Azure => Self::azure_openai(model, params, env).map(Some),
            Provider::AzureAi => Self::foundry(model, params, env).map(Some),
            _ => Ok(None),
        }
    }

    fn azure_openai(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Self, GatewayError> {
        let base = required_base(model, params, env, &AZURE_PROFILE)?;
        let key = nonempty(&params.api_key).or_else(|| env.first(AZURE_PROFILE.key_env));
        Self::deployment(model, params, env, base, key)
    }

    /// `azure/` (and `azure_ai/` on an Azure OpenAI host): the deployment-scoped API.
    fn deployment(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
        base: String,
        key: Option<String>,
    ) -> Result<Self, GatewayError> {
        let version = nonempty(&params.api_version)
            .or_else(|| env.get("AZURE_API_VERSION"))
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        let deployment = model.model.as_str();
        let (path, query) = split_query(&base);
        let route;
        let (chat_url, embeddings_url);
        if is_v1_version(&version) {
            route = Route::V1;
            let root = if path.ends_with("/openai/v1") {
                path.to_owned()
            } else {
                format!("{path}/openai/v1")
            };
            chat_url = with_query(&format!("{root}/chat/completions"), query, None);
            embeddings_url = with_query(&format!("{root}/embeddings"), query, None);
        } else {
            route = Route::Deployment;
            let root = if path.contains("/openai/deployments") {
                // The base names its deployment already (LiteLLM uses it as the SDK's base
                // URL). A pasted full operation URL is cut back to the deployment rather than
                // doubled.
                let p = path.strip_suffix("/chat/completions").unwrap_or(path);
                p.strip_suffix("/embeddings").unwrap_or(p).to_owned()
            } else if host(path).ends_with("gateway.ai.cloudflare.com") {
                format!("{path}/{deployment}")
            } else {
                format!("{path}/openai/deployments/{deployment}")
            };
            chat_url = with_query(&format!("{root}/chat/completions"), query, Some(&version));
            embeddings_url = with_query(&format!("{root}/embeddings"), query, Some(&version));
        }
        // The deployment-scoped API takes keys in `api-key`; the v1 API is plain OpenAI.
        let key_as_bearer = route == Route::V1;
        let credential = credential(model, params, env, key, key_as_bearer, AZURE_PROFILE.name)?;
        Ok(Self {
            inner: OpenAiAdapter::with_profile(
                &AZURE_PROFILE,
                base.clone(),
                deployment.to_owned(),
                body_params(params),
            ),
            route,
            base,
            chat_url,
            embeddings_url,
            credential,
            api_version: Some(version),
            upstream_model: deployment.to_owned(),
            drop_params: params.drop_params,
        })
    }

    fn foundry(model: &ModelRef, params: &ProviderParams, env: &Env) -> Result<Self, GatewayError> {
        if model.model.to_ascii_lowercase().contains("claude") {
            return Err(GatewayError::invalid_request(
                format!(
                    "model={}: Claude on Azure AI Foundry is served through the Anthropic Messages API (/anthropic/v1/messages), which this Tollgate version does not support yet",
                    model.canonical()
                ),
                Some("model".into()),
            ));
        }
        let base = required_base(model, params, env, &AZURE_AI_PROFILE)?;
        let key = nonempty(&params.api_key).or_else(|| env.first(AZURE_AI_PROFILE.key_env));
        let host = host(split_query(&base).0);
        // An Azure OpenAI resource has no `/chat/completions` of its own: LiteLLM sends OpenAI
        // models named under `azure_ai/` to the `azure` provider, and on such a host every
        // model is an Azure OpenAI deployment.
        if host.ends_with(".openai.azure.com") {
            return Self::deployment(model, params, env, base, key);
        }
        let foundry_host = host.ends_with(".services.ai.azure.com");
        let (path, query) = split_query(&base);
        let version = nonempty(&params.api_version);
        let (chat_path, embeddings_path) = if foundry_host {
            ("models/chat/completions", "models/embeddings")
        } else {
            ("chat/completions", "embeddings")
        };
        let chat_url = with_query(&add_path(path, chat_path), query, version.as_deref());
        let embeddings_url =
            with_query(&add_path(path, embeddings_path), query, version.as_deref());
        let key_as_bearer = !(foundry_host || host.ends_with(".openai.azure.com"));
        let credential = credential(
            model,
            params,
            env,
            key,
            key_as_bearer,
            AZURE_AI_PROFILE.name,
        )?;
        Ok(Self {
            inner: OpenAiAdapter::with_profile(
                &AZURE_AI_PROFILE,
                base.clone(),
                model.model.clone(),
                body_params(params),
            ),
            route: Route::Foundry,
            base,
            chat_url,
            embeddings_url,
            credential,
            api_version: version,
            upstream_model: model.model.clone(),
            drop_params: params.drop_params,
        })
    }

    /// The display name for error messages: `Azure` (LiteLLM's `AzureException`) or `Azure_ai`.
    pub fn provider_name(&self) -> &'static str {
        self.inner.provider_name()
    }

    /// The base URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// The chat URL every call of this deployment posts to.
    pub fn chat_url(&self) -> &str {
        &self.chat_url
    }

    /// The embeddings URL of this deployment.
    pub fn embeddings_url(&self) -> &str {
        &self.embeddings_url
    }

    /// Adds an Entra ID token when the deployment mints them; static keys are already in the
    /// request. The token replaces any `Authorization` the request carries.
    pub async fn authorize(
        &self,
        http: &HttpClient,
        request: &mut UpstreamRequest,
    ) -> Result<(), GatewayError> {
        if let Credential::ClientCredentials(source) = &self.credential {
            let value = source.authorization(http).await?;
            request.headers.insert(http::header::AUTHORIZATION, value);
        }
        Ok(())
    }
}

/// The base, or a configuration error naming where to set it (Azure has no default host).
fn required_base(
    model: &ModelRef,
    params: &ProviderParams,
    env: &Env,
    profile: &Profile,
) -> Result<String, GatewayError> {
    nonempty(&params.api_base)
        .or_else(|| env.first(profile.base_env))
        .map(|b| b.trim().trim_end_matches('/').to_owned())
        .filter(|b| !b.is_empty())
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
        })
}

/// Picks the credential: an explicit `azure_ad_token` param, then the key, then
/// `AZURE_AD_TOKEN`, then client credentials. Nothing at all is a configuration error unless
/// the operator sends credentials in `extra_headers`.
fn credential(
    model: &ModelRef,
    params: &ProviderParams,
    env: &Env,
    key: Option<String>,
    key_as_bearer: bool,
    provider: &'static str,
) -> Result<Credential, GatewayError> {
    if let Some(token) = nonempty(&params.azure_ad_token) {
        return Ok(Credential::Bearer(token));
    }
    if let Some(key) = key {
        return Ok(if key_as_bearer {
            Credential::Bearer(key)
        } else {
            Credential::ApiKey(key)
        });
    }
    if let Some(token) = env.get("AZURE_AD_TOKEN") {
        return Ok(Credential::Bearer(token));
    }
    let tenant = nonempty(&params.tenant_id).or_else(|| env.get("AZURE_TENANT_ID"));
    let client_id = nonempty(&params.client_id).or_else(|| env.get("AZURE_CLIENT_ID"));
    let secret = nonempty(&params.client_secret).or_else(|| env.get("AZURE_CLIENT_SECRET"));
    let authority = || {
        nonempty(&params.azure_authority_host)
            .or_else(|| env.get("AZURE_AUTHORITY_HOST"))
            .unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_owned())
    };
    let scope = || {
        nonempty(&params.azure_scope)
            .or_else(|| env.get("AZURE_SCOPE"))
            .unwrap_or_else(|| DEFAULT_SCOPE.to_owned())
    };
    // After client credentials, as LiteLLM: a user name and password with a (public) client id.
    if secret.is_none() {
        let username = nonempty(&params.azure_username).or_else(|| env.get("AZURE_USERNAME"));
        let password = nonempty(&params.azure_password).or_else(|| env.get("AZURE_PASSWORD"));
        match (username, password, &client_id) {
            (Some(user), Some(password), Some(client_id)) => {
                return ClientCredentials::password(
                    &authority(),
                    tenant.as_deref(),
                    client_id,
                    &user,
                    &password,
                    &scope(),
                    provider,
                )
                .map(Credential::ClientCredentials);
            }
            (None, None, _) => {}
            (user, password, client_id) => {
                let missing: Vec<&str> = [
                    ("azure_username", user.is_none()),
                    ("azure_password", password.is_none()),
                    ("client_id", client_id.is_none()),
                ]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(n, _)| *n)
                .collect();
                return Err(GatewayError::invalid_request(
                    format!(
                        "{}: Azure AD username/password credentials for model={} lack {} (params or AZURE_USERNAME / AZURE_PASSWORD / AZURE_CLIENT_ID)",
                        model.provider,
                        model.canonical(),
                        missing.join(", ")
                    ),
                    missing.first().map(|m| (*m).to_owned()),
                ));
            }
        }
    }
    match (tenant, client_id, secret) {
        (Some(tenant), Some(client_id), Some(secret)) => ClientCredentials::new(
            &authority(),
            &tenant,
            &client_id,
            &secret,
            &scope(),
            provider,
        )
        .map(Credential::ClientCredentials),
        (None, None, None) => {
            let operator_auth = params.extra_headers.iter().any(|(h, _)| {
                ["api-key", "authorization", "ocp-apim-subscription-key"]
                    .iter()
                    .any(|n| h.eq_ignore_ascii_case(n))
            });
            if operator_auth {
                return Ok(Credential::FromExtraHeaders);
            }
            let key_env = if model.provider == Provider::AzureAi {
                "AZURE_AI_API_KEY"
            } else {
                "AZURE_OPENAI_API_KEY / AZURE_API_KEY"
            };
            Err(GatewayError::invalid_request(
                format!(
                    "{}: no credentials configured for model={}: set litellm_params.api_key (or {key_env}), azure_ad_token (or AZURE_AD_TOKEN), or tenant_id + client_id + client_secret (or AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
                    model.provider,
                    model.canonical()
                ),
                Some("api_key".into()),
            ))
        }
        (tenant, client_id, secret) => {
            let missing: Vec<&str> = [
                ("tenant_id", tenant.is_none()),
                ("client_id", client_id.is_none()),
                ("client_secret", secret.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            Err(GatewayError::invalid_request(
                format!(
                    "{}: Azure AD client credentials for model={} lack {} (params or AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
                    model.provider,
                    model.canonical(),
                    missing.join(", ")
                ),
                missing.first().map(|m| (*m).to_owned()),
            ))
        }
    }
}

/// What the inner adapter needs to build bodies: the params without the secrets, which live
/// only in the credential (and so never show up in a `Debug` of the adapter).
fn body_params(params: &ProviderParams) -> ProviderParams {
    ProviderParams {
        api_key: None,
        azure_ad_token: None,
        client_secret: None,
        azure_password: None,
        ..params.clone()
    }
}

fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `v1`, `latest` and `preview` select the version-less `/openai/v1` API.
fn is_v1_version(version: &str) -> bool {
    matches!(
        version.to_ascii_lowercase().as_str(),
        "v1" | "latest" | "preview"
    )
}

/// `(year, month, day)` of a dated `api-version` (`2024-10-21`, `2025-04-01-preview`).
fn version_date(version: &str) -> Option<(u16, u8, u8)> {
    let mut parts = version.splitn(4, '-');
    let year = parts.next()?;
    let month = parts.next()?;
    let day = parts.next()?;
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    Some((year.parse().ok()?, month.parse().ok()?, day.parse().ok()?))
}

/// The URL without and with its query string.
fn split_query(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((path, query)) => (path.trim_end_matches('/'), Some(query)),
        None => (url.trim_end_matches('/'), None),
    }
}

/// `url` with the base's query string and an `api-version` (unless the base has one).
fn with_query(url: &str, base_query: Option<&str>, api_version: Option<&str>) -> String {
    let base_query = base_query.filter(|q| !q.is_empty());
    let mut out = url.to_owned();
    let mut sep = '?';
    if let Some(q) = base_query {
        out.push(sep);
        out.push_str(q);
        sep = '&';
    }
    let has_version =
        base_query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("api-version=")));
    if let (Some(v), false) = (api_version, has_version) {
        out.push(sep);
        out.push_str("api-version=");
        auth::push_encoded(&mut out, v);
    }
    out
}

/// The lowercased host of a URL.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.to_ascii_lowercase()
}

/// Appends `ending` to the base's path without repeating segments the base already ends with
/// (`…/models` + `models/chat/completions` → `…/models/chat/completions`), as LiteLLM does.
fn add_path(base: &str, ending: &str) -> String {
    let (origin, path) = match base.find("://") {
        Some(i) => match base[i + 3..].find('/') {
            Some(j) => base.split_at(i + 3 + j),
            None => (base, ""),
        },
        None => ("", base),
    };
    let base_segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let end_segs: Vec<&str> = ending.split('/').filter(|s| !s.is_empty()).collect();
    let overlap = (0..base_segs.len()).find(|&i| {
        let tail = &base_segs[i..];
        tail.len() <= end_segs.len() && tail == &end_segs[..tail.len()]
    });
    let keep = overlap.unwrap_or(base_segs.len());
    let mut out = origin.to_owned();
    for seg in base_segs[..keep].iter().chain(&end_segs) {
        out.push('/');
        out.push_str(seg);
    }
    out
}

/// A credential as a header, unless the request already carries that header (an operator's
/// `extra_headers` win, as they do for every provider).
fn insert_credential(
    credential: &Credential,
    headers: &mut http::HeaderMap,
) -> Result<(), GatewayError> {
    let (name, value) = match credential {
        Credential::ApiKey(key) => (http::HeaderName::from_static("api-key"), key.clone()),
        Credential::Bearer(token) => (http::header::AUTHORIZATION, format!("Bearer {token}")),
        Credential::ClientCredentials(_) | Credential::FromExtraHeaders => return Ok(()),
    };
    if headers.contains_key(&name) {
        return Ok(());
    }
    // Never echo the credential in the error.
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        GatewayError::invalid_request(
            format!("the Azure credential for header {name} has characters HTTP does not allow"),
            None,
        )
    })?;
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::with_overlay(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    fn build(model: &str, params: ProviderParams, vars: &[(&str, &str)]) -> AzureAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        AzureAdapter::new(&m, &params, &env(vars)).unwrap().unwrap()
    }

    fn build_err(model: &str, params: ProviderParams, vars: &[(&str, &str)]) -> GatewayError {
        let m = ModelRef::parse(model, None).unwrap();
        AzureAdapter::new(&m, &params, &env(vars)).unwrap_err()
    }

    fn keyed(base: &str) -> ProviderParams {
        ProviderParams {
            api_base: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        }
    }

    #[test]
    fn deployment_urls_follow_litellm() {
        let a = build("azure/gpt-4o", keyed("https://r.openai.azure.com/"), &[]);
        assert_eq!(
            a.chat_url(),
            "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-02-01-preview"
        );
        assert_eq!(
            a.embeddings_url(),
            "https://r.openai.azure.com/openai/deployments/gpt-4o/embeddings?api-version=2025-02-01-preview"
        );
        assert_eq!(a.api_base(), "https://r.openai.azure.com");
        assert_eq!(a.provider_name(), "Azure");
        assert!(matches!(a.credential, Credential::ApiKey(_)));

        // Base and version from the environment; the param wins over both.
        let a = build(
            "azure/dep",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
            &[
                ("AZURE_API_BASE", "https://e.openai.azure.com"),
                ("AZURE_API_VERSION", "2024-10-21"),
            ],
        );
        assert_eq!(
            a.chat_url(),
            "https://e.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"
        );
        let mut p = keyed("https://p.openai.azure.com");
        p.api_version = Some("2024-12-01-preview".into());
        let a = build("azure/dep", p, &[("AZURE_API_BASE", "https://e.invalid")]);
        assert_eq!(
            a.chat_url(),
            "https://p.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-12-01-preview"
        );
    }

    #[test]
    fn special_bases() {
        // A base naming its deployment is used as is; its deployment wins.
        let a = build(
            "azure/ignored",
            keyed("https://r.openai.azure.com/openai/deployments/real"),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://r.openai.azure.com/openai/deployments/real/chat/completions?api-version=2025-02-01-preview"
        );
        let a = build(
            "azure/x",
            keyed(
                "https://r.openai.azure.com/openai/deployments/real/chat/completions?api-version=2024-06-01",
            ),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://r.openai.azure.com/openai/deployments/real/chat/completions?api-version=2024-06-01"
        );
        let a = build(
            "azure/dep",
            keyed("https://gateway.ai.cloudflare.com/v1/acct/gw/azure-openai/res"),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://gateway.ai.cloudflare.com/v1/acct/gw/azure-openai/res/dep/chat/completions?api-version=2025-02-01-preview"
        );
    }

    #[test]
    fn v1_versions_use_the_openai_route_with_a_bearer_key() {
        for v in ["v1", "latest", "preview"] {
            let mut p = keyed("https://r.openai.azure.com");
            p.api_version = Some(v.into());
            let a = build("azure/dep", p, &[]);
            assert_eq!(a.route, Route::V1);
            assert_eq!(
                a.chat_url(),
                "https://r.openai.azure.com/openai/v1/chat/completions"
            );
            assert_eq!(
                a.embeddings_url(),
                "https://r.openai.azure.com/openai/v1/embeddings"
            );
            assert!(matches!(a.credential, Credential::Bearer(_)));
        }
        let mut p = keyed("https://r.openai.azure.com/openai/v1/");
        p.api_version = Some("v1".into());
        assert_eq!(
            build("azure/dep", p, &[]).chat_url(),
            "https://r.openai.azure.com/openai/v1/chat/completions"
        );
    }

    #[test]
    fn keys_and_tokens_resolve_in_order() {
        let base = [("AZURE_API_BASE", "https://r.openai.azure.com")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let none = ProviderParams::default();
        let cred = |p: ProviderParams, vars: &[(&str, &str)]| {
            format!("{:?}", build("azure/d", p, vars).credential)
        };
        // AZURE_OPENAI_API_KEY beats AZURE_API_KEY.
        let a = build(
            "azure/d",
            none.clone(),
            &with(&[("AZURE_OPENAI_API_KEY", "one"), ("AZURE_API_KEY", "two")]),
        );
        assert!(matches!(&a.credential, Credential::ApiKey(k) if k == "one"));
        // A key beats AZURE_AD_TOKEN; an explicit azure_ad_token param beats a key.
        let a = build(
            "azure/d",
            none.clone(),
            &with(&[("AZURE_API_KEY", "two"), ("AZURE_AD_TOKEN", "tok")]),
        );
        assert!(matches!(&a.credential, Credential::ApiKey(k) if k == "two"));
        let p = ProviderParams {
            api_key: Some("k".into()),
            azure_ad_token: Some("tok".into()),
            ..Default::default()
        };
        assert!(
            matches!(&build("azure/d", p, &base).credential, Credential::Bearer(t) if t == "tok")
        );
        assert_eq!(
            cred(none.clone(), &with(&[("AZURE_AD_TOKEN", "t")])),
            "Bearer(..)"
        );
        // Client credentials from the environment.
        let c = cred(
            none.clone(),
            &with(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s"),
                ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9"),
            ]),
        );
        assert!(c.contains("http://127.0.0.1:9/t/oauth2/v2.0/token"), "{c}");
        // Half-configured client credentials name what is missing.
        let err = build_err(
            "azure/d",
            ProviderParams {
                tenant_id: Some("t".into()),
                ..Default::default()
            },
            &base,
        );
        assert!(
            err.to_string().contains("client_id, client_secret"),
            "{err}"
        );
        // Nothing at all is a configuration error ...
        let err = build_err("azure/d", none, &base);
        assert!(err.to_string().contains("no credentials"), "{err}");
        assert_eq!(err.status(), 400);
        // ... unless the operator sends them as headers.
        let p = ProviderParams {
            extra_headers: vec![("Ocp-Apim-Subscription-Key".into(), "x".into())],
            ..Default::default()
        };
        assert_eq!(cred(p, &base), "FromExtraHeaders");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let p = ProviderParams {
            api_base: Some("https://r.openai.azure.com".into()),
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some("hunter2".into()),
            ..Default::default()
        };
        let a = build("azure/d", p, &[]);
        assert!(!format!("{a:?}").contains("hunter2"));
        let a = build("azure/d", keyed("https://r.openai.azure.com"), &[]);
        assert!(!format!("{a:?}").contains("api_key: Some"));
    }

    #[test]
    fn a_missing_base_is_a_configuration_error() {
        let err = build_err(
            "azure/d",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
            &[],
        );
        assert!(err.to_string().contains("AZURE_API_BASE"), "{err}");
        let err = build_err("azure_ai/m", ProviderParams::default(), &[]);
        assert!(err.to_string().contains("AZURE_AI_API_BASE"), "{err}");
    }

    #[test]
    fn foundry_urls_and_key_headers_depend_on_the_host() {
        let a = build(
            "azure_ai/mistral-large",
            keyed("https://r.services.ai.azure.com"),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://r.services.ai.azure.com/models/chat/completions"
        );
        assert_eq!(
            a.embeddings_url(),
            "https://r.services.ai.azure.com/models/embeddings"
        );
        assert!(matches!(a.credential, Credential::ApiKey(_)));
        assert_eq!(a.provider_name(), "Azure_ai");

        let mut p = keyed("https://r.services.ai.azure.com/models/");
        p.api_version = Some("2024-05-01-preview".into());
        assert_eq!(
            build("azure_ai/m", p, &[]).chat_url(),
            "https://r.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
        );
        let a = build(
            "azure_ai/m",
            keyed("https://Mistral-x.eastus2.inference.ai.azure.com/v1/"),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://Mistral-x.eastus2.inference.ai.azure.com/v1/chat/completions"
        );
        assert!(matches!(a.credential, Credential::Bearer(_)));
        // Full URL as base: nothing repeated, its query kept.
        let a = build(
            "azure_ai/m",
            keyed(
                "https://r.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
            ),
            &[],
        );
        assert_eq!(
            a.chat_url(),
            "https://r.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview"
        );
        // Base and key from the environment.
        let a = build(
            "azure_ai/m",
            ProviderParams::default(),
            &[
                ("AZURE_AI_API_BASE", "https://r.services.ai.azure.com"),
                ("AZURE_AI_API_KEY", "fk"),
            ],
        );
        assert!(matches!(&a.credential, Credential::ApiKey(k) if k == "fk"));
    }

    #[test]
    fn foundry_on_an_azure_openai_host_is_a_deployment() {
        let a = build("azure_ai/gpt-4o", keyed("https://r.openai.azure.com"), &[]);
        assert_eq!(a.route, Route::Deployment);
        assert_eq!(
            a.chat_url(),
            "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-02-01-preview"
        );
        assert_eq!(a.provider_name(), "Azure");
    }

    #[test]
    fn foundry_claude_is_refused_by_name() {
        let err = build_err(
            "azure_ai/claude-sonnet-4-5",
            keyed("https://r.services.ai.azure.com"),
            &[],
        );
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string().contains("Claude on Azure AI Foundry"),
            "{err}"
        );
        assert!(
            err.to_string().contains("azure_ai/claude-sonnet-4-5"),
            "{err}"
        );
    }

    #[test]
    fn url_helpers() {
        assert_eq!(host("https://User@R.Example.com:443/x?y"), "r.example.com");
        assert_eq!(host("http://[::1]:80/"), "::1");
        assert_eq!(
            add_path("https://h", "models/chat/completions"),
            "https://h/models/chat/completions"
        );
        assert_eq!(
            add_path("https://h/models", "models/chat/completions"),
            "https://h/models/chat/completions"
        );
        assert_eq!(
            add_path("https://h/a/models/chat", "models/chat/completions"),
            "https://h/a/models/chat/completions"
        );
        assert_eq!(
            add_path("https://h/v1", "chat/completions"),
            "https://h/v1/chat/completions"
        );
        assert_eq!(version_date("2024-05-01-preview"), Some((2024, 5, 1)));
        assert_eq!(version_date("2024-10-21"), Some((2024, 10, 21)));
        assert_eq!(version_date("v1"), None);
        assert_eq!(
            with_query("u", Some("a=b"), Some("2024 x")),
            "u?a=b&api-version=2024+x"
        );
    }
}
