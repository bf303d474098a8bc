//! Vertex AI (`vertex_ai/`, and bare `gemini-*` names): Gemini models in the Gemini format and
//! Claude models in the Anthropic Messages format, behind Google Cloud's URLs and OAuth.
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (the stream decoder), `error.rs`
//! (provider error to [`tollgate_core::GatewayError`]), plus `auth.rs` for access tokens.
//!
//! Nothing of either format is translated here: Gemini models go through the [`gemini`]
//! module's translation and Claude models through the [`anthropic`] module's; this module owns
//! what Vertex changes: the URL, the credentials, the Claude body's `anthropic_version` (no
//! `model`), `:predict` embeddings, and error names (`VertexAIException`, as LiteLLM prints).
//!
//! Resolution follows LiteLLM. Project: `vertex_project`/`vertex_ai_project`, then
//! `VERTEXAI_PROJECT`, then the credentials' project (for application-default credentials,
//! `GOOGLE_CLOUD_PROJECT` first, as google-auth does). Location: `vertex_location`/
//! `vertex_ai_location`, then `VERTEXAI_LOCATION`, then `us-central1`. Credentials:
//! `vertex_credentials`, then `VERTEXAI_CREDENTIALS` (a path or the JSON itself), then
//! `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's default file, then the metadata server. An
//! `api_key` on the deployment is sent as a ready-made Bearer token instead. The access token
//! is added in [`VertexAdapter::authorize`]; everything else is pure. The one read outside it:
//! when the project has to come from a credentials file, that file is read (once per process)
//! when the adapter is built.
//!
//! [`gemini`]: crate::gemini
//! [`anthropic`]: crate::anthropic

mod auth;
mod error;
mod native;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use stream::VertexStreamDecoder;

use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderValue;
use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::anthropic::AnthropicAdapter;
use crate::gemini::GeminiAdapter;
use crate::openai::OpenAiAdapter;
use crate::openai_compat::{Profile, UrlStyle};
use crate::params::ProviderParams;
use crate::transport::{HttpClient, UpstreamRequest};
use auth::{CredentialSource, TokenSource};

/// Prefix of error messages: `VertexAIException - ...`, as LiteLLM prints it.
pub const PROVIDER_NAME: &str = "VertexAI";
/// Location used when none is configured (LiteLLM's final fallback).
pub const DEFAULT_LOCATION: &str = "us-central1";
/// `anthropic_version` of Claude request bodies on Vertex.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// Which wire format the model speaks.
#[derive(Debug, Clone)]
enum Format {
    /// Gemini, Gemma and tuned endpoints: `generateContent`.
    Gemini(GeminiAdapter),
    /// Claude: Anthropic Messages via `rawPredict`.
    Anthropic(AnthropicAdapter),
    /// Partner models that speak the OpenAI Chat Completions format (boxed: it carries a
    /// whole OpenAI adapter).
    OpenAi(Box<OpenAiAdapter>, Partner),
}

/// Where an OpenAI-format partner model is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partner {
    /// Llama (Model-as-a-Service): `endpoints/openapi/chat/completions`, model in the body as
    /// `meta/...`.
    Llama,
    /// Mistral and Codestral: `publishers/mistralai/models/{m}:rawPredict` /
    /// `:streamRawPredict`.
    Mistral,
}

/// The OpenAI translation for partner models: errors as `VertexAIException`, responses
/// normalised (finish reasons, reasoning fields) rather than forwarded.
static PARTNER_PROFILE: Profile = Profile {
    provider: Provider::VertexAi,
    name: PROVIDER_NAME,
    default_base: None,
    base_env: &[],
    key_env: &[],
    placeholder_key: None,
    url_style: UrlStyle::Append,
    embeddings: false,
    unsupported_params: &[],
    single_choice_only: false,
    normalize: true,
    model_prefix: None,
    fixed_headers: &[],
};

/// How calls authenticate.
#[derive(Clone)]
enum Auth {
    /// OAuth access tokens minted from Google credentials.
    OAuth(Arc<TokenSource>),
    /// The deployment's `api_key`, sent as a Bearer token as it is.
    Bearer(String),
}

// Never print a credential.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OAuth(source) => write!(f, "OAuth({source:?})"),
            Self::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// A resolved Vertex AI endpoint for one deployment.
#[derive(Debug, Clone)]
pub struct VertexAdapter {
    format: Format,
    upstream_model: String,
    /// The base reported in `x-litellm-model-api-base`: the configured `api_base` or the
    /// location's host.
    base: String,
    /// Everything before `:{method}`: the model's resource URL.
    resource_url: String,
    auth: Auth,
    params: ProviderParams,
}

impl VertexAdapter {
    /// The adapter for a `vertex_ai/` model, or `None` for any other provider.
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        if model.provider != Provider::VertexAi {
            return Ok(None);
        }
        let upstream_model = model.model.trim().to_owned();
        // Credentials are resolved into `auth` below; the kept copy carries none (it is
        // printed by `Debug`).
        let mut kept = params.clone();
        kept.api_key = None;
        kept.vertex_credentials = None;
        let format = format_for(&upstream_model, model, &kept)?;
        let location = params
            .vertex_location
            .clone()
            .filter(|l| !l.trim().is_empty())
            .or_else(|| env.get("VERTEXAI_LOCATION"))
            .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());
        let location = location.trim().to_owned();
        if !valid_location(&location) {
            return Err(GatewayError::invalid_request(
                format!(
                    "vertex_location={location:?} is not a Vertex AI location (like us-central1, europe-west4, us, eu or global)"
                ),
                Some("vertex_location".into()),
            ));
        }
        let configured_base = params
            .api_base
            .clone()
            .filter(|b| !b.trim().is_empty())
            .or_else(|| env.get("VERTEXAI_API_BASE"))
            .map(|b| b.trim().trim_end_matches('/').to_owned());

        let explicit = params
            .vertex_credentials
            .clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| env.get("VERTEXAI_CREDENTIALS"));
        let application_default = explicit.is_none();
        let auth = match params.api_key.clone().filter(|k| !k.trim().is_empty()) {
            Some(key) => Auth::Bearer(key),
            None => Auth::OAuth(TokenSource::shared(CredentialSource::resolve(
                explicit,
                env.get("GOOGLE_APPLICATION_CREDENTIALS"),
                gcloud_config_dir(env),
                env.get("GCE_METADATA_HOST"),
            ))),
        };

        let publisher_path = |project: &str| -> String {
            format!(
                "projects/{project}/locations/{location}/{}",
                model_path(&format, &upstream_model)
            )
        };
        let (base, resource_url) = match configured_base {
            None => {
                let host = default_host(&location);
                let project = resolve_project(params, env, &auth, application_default)?;
                let url = format!("{host}/v1/{}", publisher_path(&project));
                (host, url)
            }
            Some(base) => match base_path(&base) {
                BasePath::Root => {
                    let project = resolve_project(params, env, &auth, application_default)?;
                    let url = format!("{base}/v1/{}", publisher_path(&project));
                    (base, url)
                }
                BasePath::Version => {
                    let project = resolve_project(params, env, &auth, application_default)?;
                    let url = format!("{base}/{}", publisher_path(&project));
                    (base, url)
                }
                // A full resource URL (a proxy or a private endpoint): used as it is.
                BasePath::Resource => (base.clone(), base),
            },
        };
        Ok(Some(Self {
            format,
            upstream_model,
            base,
            resource_url,
            auth,
            params: kept,
        }))
    }

    /// The display name used in error messages.
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The base URL calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// `{resource}:{method}`, with `?alt=sse` for Gemini streams.
    fn url(&self, method: &str) -> String {
        let query = if method == "streamGenerateContent" {
            "?alt=sse"
        } else {
            ""
        };
        format!("{}:{method}{query}", self.resource_url)
    }

    /// Adds `Authorization: Bearer <access token>` (minting or refreshing the token when the
    /// cached one is close to expiry) and, for user credentials with a quota project,
    /// `x-goog-user-project`.
    pub async fn authorize(
        &self,
        http: &HttpClient,
        request: &mut UpstreamRequest,
    ) -> Result<(), GatewayError> {
        let (token, quota_project) = match &self.auth {
            Auth::Bearer(key) => (key.clone(), None),
            Auth::OAuth(source) => {
                let t = source.access_token(http).await?;
                (t.value, t.quota_project)
            }
        };
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            GatewayError::Upstream(Box::new(tollgate_core::UpstreamError::new(
                401,
                PROVIDER_NAME,
                "the Vertex AI access token has characters HTTP does not allow",
            )))
        })?;
        request.headers.insert(http::header::AUTHORIZATION, bearer);
        if let Some(project) = quota_project {
            if let Ok(v) = HeaderValue::from_str(&project) {
                request.headers.insert("x-goog-user-project", v);
            }
        }
        Ok(())
    }
}

/// Claude models speak Anthropic's format; Llama (`meta/...`) and Mistral / Codestral the
/// OpenAI format at their own URLs; other publishers' models use formats not implemented yet;
/// everything else is Gemini's.
fn format_for(
    upstream_model: &str,
    model: &ModelRef,
    params: &ProviderParams,
) -> Result<Format, GatewayError> {
    if upstream_model.is_empty() {
        return Err(GatewayError::invalid_request(
            format!("model={} names no Vertex AI model", model.canonical()),
            Some("model".into()),
        ));
    }
    if upstream_model.starts_with("claude-") {
        return Ok(Format::Anthropic(AnthropicAdapter::for_vertex(
            upstream_model,
            params,
        )));
    }
    let lower = upstream_model.to_ascii_lowercase();
    if lower.starts_with("meta/") || lower.starts_with("llama") {
        // The MaaS endpoint names the model as `meta/<name>` in the body.
        let name = if lower.starts_with("meta/") {
            upstream_model.to_owned()
        } else {
            format!("meta/{upstream_model}")
        };
        return Ok(Format::OpenAi(
            Box::new(OpenAiAdapter::with_profile(
                &PARTNER_PROFILE,
                String::new(),
                name,
                params.clone(),
            )),
            Partner::Llama,
        ));
    }
    if lower.starts_with("mistral") || lower.starts_with("codestral") {
        // The URL keeps `@version`; the body names the model without it, as Mistral's API does.
        let name = upstream_model
            .split_once('@')
            .map_or(upstream_model, |(m, _)| m);
        return Ok(Format::OpenAi(
            Box::new(OpenAiAdapter::with_profile(
                &PARTNER_PROFILE,
                String::new(),
                name.to_owned(),
                params.clone(),
            )),
            Partner::Mistral,
        ));
    }
    const PARTNERS: &[&str] = &[
        "jamba", "deepseek", "qwen", "openai", "minimax", "moonshot", "kimi", "zai", "glm",
    ];
    let partner = PARTNERS.iter().any(|p| lower.starts_with(p));
    let other_publisher = upstream_model.contains('/') && endpoint_id(upstream_model).is_none();
    if partner || other_publisher {
        return Err(GatewayError::ProviderNotImplemented {
            provider: format!("{} (partner model {upstream_model})", Provider::VertexAi),
            model: model.canonical(),
        });
    }
    Ok(Format::Gemini(GeminiAdapter::for_vertex(
        upstream_model,
        params,
    )))
}

/// `publishers/{publisher}/models/{m}`, `endpoints/openapi` for Llama MaaS, or
/// `endpoints/{id}` for a deployed (tuned) model named by its numeric id (`123`, or
/// `gemini/123` as LiteLLM writes it).
fn model_path(format: &Format, model: &str) -> String {
    match format {
        Format::Anthropic(_) => format!("publishers/anthropic/models/{model}"),
        Format::OpenAi(_, Partner::Llama) => "endpoints/openapi".to_owned(),
        Format::OpenAi(_, Partner::Mistral) => format!("publishers/mistralai/models/{model}"),
        Format::Gemini(_) => match endpoint_id(model) {
            Some(id) => format!("endpoints/{id}"),
            None => format!("publishers/google/models/{model}"),
        },
    }
}

fn endpoint_id(model: &str) -> Option<&str> {
    let id = model.strip_prefix("gemini/").unwrap_or(model);
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// `^[a-z][a-z0-9-]*$` (which `global` matches too): the location goes into a host name.
fn valid_location(location: &str) -> bool {
    let mut bytes = location.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `global` → `aiplatform.googleapis.com`; a multi-region without a hyphen (`us`, `eu`) →
/// its regional endpoint `aiplatform.{loc}.rep.googleapis.com`; else `{loc}-aiplatform...`.
fn default_host(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else if !location.contains('-') {
        format!("https://aiplatform.{location}.rep.googleapis.com")
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// What the path of a configured `api_base` means.
#[derive(Debug, PartialEq, Eq)]
enum BasePath {
    /// No path: the default path is appended.
    Root,
    /// Exactly `/v1` or `/v1beta1`: the path after the version is appended.
    Version,
    /// Anything else: the base is the model's full resource URL.
    Resource,
}

fn base_path(base: &str) -> BasePath {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |i| &after_scheme[i..])
        .trim_end_matches('/');
    match path {
        "" => BasePath::Root,
        "/v1" | "/v1beta1" => BasePath::Version,
        _ => BasePath::Resource,
    }
}

/// gcloud's configuration directory: `CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
fn gcloud_config_dir(env: &Env) -> Option<PathBuf> {
    env.get("CLOUDSDK_CONFIG").map(PathBuf::from).or_else(|| {
        env.get("HOME")
            .map(|h| PathBuf::from(h).join(".config/gcloud"))
    })
}

/// The project, in LiteLLM's order; for application-default credentials google-auth lets
/// `GOOGLE_CLOUD_PROJECT` (or the legacy `GCLOUD_PROJECT`) name it before the file does.
fn resolve_project(
    params: &ProviderParams,
    env: &Env,
    auth: &Auth,
    application_default: bool,
) -> Result<String, GatewayError> {
    let configured = params
        .vertex_project
        .clone()
        .filter(|p| !p.trim().is_empty())
        .or_else(|| env.get("VERTEXAI_PROJECT"))
        .or_else(|| {
            application_default
                .then(|| env.first(&["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"]))
                .flatten()
        });
    let project = match configured {
        Some(p) => p,
        None => {
            let from_credentials = match auth {
                Auth::OAuth(source) => source
                    .credentials()?
                    .and_then(|c| c.project_id().map(str::to_owned)),
                Auth::Bearer(_) => None,
            };
            from_credentials.ok_or_else(|| {
                GatewayError::invalid_request(
                    "no Vertex AI project: set vertex_project (or VERTEXAI_PROJECT), or use service-account credentials that name a project_id",
                    Some("vertex_project".into()),
                )
            })?
        }
    };
    let project = project.trim().to_owned();
    // It goes into the URL path: refuse anything that would change the path.
    if project.is_empty()
        || !project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err(GatewayError::invalid_request(
            format!("vertex_project={project:?} is not a Google Cloud project id"),
            Some("vertex_project".into()),
        ));
    }
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::CallOptions;
    use serde_json::{Value, json};
    use std::collections::HashMap;
    use tollgate_core::ChatCompletionRequest;

    /// Every variable the adapter reads, unset, so tests see only their own.
    const CLEAN: &[(&str, &str)] = &[
        ("VERTEXAI_PROJECT", ""),
        ("VERTEXAI_LOCATION", ""),
        ("VERTEXAI_CREDENTIALS", ""),
        ("VERTEXAI_API_BASE", ""),
        ("GOOGLE_APPLICATION_CREDENTIALS", ""),
        ("GOOGLE_CLOUD_PROJECT", ""),
        ("GCLOUD_PROJECT", ""),
        ("CLOUDSDK_CONFIG", "/nonexistent-tollgate-test"),
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
    ];

    fn env(vars: &[(&str, &str)]) -> Env {
        let mut all: HashMap<String, String> = CLEAN
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Env::with_overlay(all)
    }

    fn build(
        model: &str,
        params: ProviderParams,
        vars: &[(&str, &str)],
    ) -> Result<VertexAdapter, GatewayError> {
        let m = ModelRef::parse(model, None).unwrap();
        VertexAdapter::new(&m, &params, &env(vars)).map(|a| a.unwrap())
    }

    fn with_project(project: &str) -> ProviderParams {
        ProviderParams {
            vertex_project: Some(project.into()),
            ..ProviderParams::default()
        }
    }

    #[test]
    fn other_providers_are_not_ours_and_bare_gemini_is() {
        let m = ModelRef::parse("gemini/gemini-2.5-flash", None).unwrap();
        assert!(
            VertexAdapter::new(&m, &ProviderParams::default(), &env(&[]))
                .unwrap()
                .is_none()
        );
        let a = build("gemini-2.5-flash", with_project("p"), &[]).unwrap();
        assert!(matches!(a.format, Format::Gemini(_)));
    }

    #[test]
    fn hosts_follow_the_location() {
        let url = |loc: &str| {
            let params = ProviderParams {
                vertex_location: Some(loc.into()),
                ..with_project("proj")
            };
            build("vertex_ai/gemini-2.5-flash", params, &[])
                .unwrap()
                .url("generateContent")
        };
        assert_eq!(
            url("us-central1"),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            url("global"),
            "https://aiplatform.googleapis.com/v1/projects/proj/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            url("eu"),
            "https://aiplatform.eu.rep.googleapis.com/v1/projects/proj/locations/eu/publishers/google/models/gemini-2.5-flash:generateContent"
        );
        for bad in [
            "US-CENTRAL1",
            "us-central1.evil.com",
            "1us",
            "",
            "us/central",
        ] {
            let params = ProviderParams {
                vertex_location: Some(bad.into()),
                ..with_project("proj")
            };
            if bad.is_empty() {
                continue; // empty means unset: the default applies
            }
            let e = build("vertex_ai/gemini-2.5-flash", params, &[]).unwrap_err();
            assert!(
                e.to_string().contains("not a Vertex AI location"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn project_and_location_precedence() {
        let vars = [
            ("VERTEXAI_PROJECT", "env-proj"),
            ("VERTEXAI_LOCATION", "europe-west4"),
            ("GOOGLE_CLOUD_PROJECT", "gcp-proj"),
        ];
        let a = build(
            "vertex_ai/gemini-2.0-flash",
            ProviderParams::default(),
            &vars,
        )
        .unwrap();
        assert!(
            a.resource_url
                .contains("/projects/env-proj/locations/europe-west4/"),
            "{}",
            a.resource_url
        );
        assert_eq!(
            a.api_base(),
            "https://europe-west4-aiplatform.googleapis.com"
        );
        let params = ProviderParams {
            vertex_location: Some("asia-northeast1".into()),
            ..with_project("param-proj")
        };
        let a = build("vertex_ai/gemini-2.0-flash", params, &vars).unwrap();
        assert!(
            a.resource_url
                .contains("/projects/param-proj/locations/asia-northeast1/")
        );
        // Application-default credentials: GOOGLE_CLOUD_PROJECT names the project.
        let a = build(
            "vertex_ai/gemini-2.0-flash",
            ProviderParams::default(),
            &vars[2..],
        )
        .unwrap();
        assert!(
            a.resource_url
                .contains("/projects/gcp-proj/locations/us-central1/")
        );
        // Nothing anywhere: a clear 400.
        let e = build("vertex_ai/gemini-2.0-flash", ProviderParams::default(), &[]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("no Vertex AI project"), "{e}");
        let e = build("vertex_ai/gemini-2.0-flash", with_project("a/b"), &[]).unwrap_err();
        assert!(
            e.to_string().contains("not a Google Cloud project id"),
            "{e}"
        );
    }

    #[test]
    fn the_project_can_come_from_inline_credentials() {
        let json =
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#;
        // User credentials name no project.
        let params = ProviderParams {
            vertex_credentials: Some(json.into()),
            ..ProviderParams::default()
        };
        let e = build(
            "vertex_ai/gemini-2.0-flash",
            params,
            &[("GOOGLE_CLOUD_PROJECT", "ignored")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("no Vertex AI project"), "{e}");
        let missing = ProviderParams {
            vertex_credentials: Some("/nonexistent/tollgate/sa.json".into()),
            ..ProviderParams::default()
        };
        let e = build("vertex_ai/gemini-2.0-flash", missing, &[]).unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(
            e.to_string()
                .contains("cannot read the Vertex AI credentials file"),
            "{e}"
        );
    }

    #[test]
    fn claude_endpoints_and_numeric_ids() {
        let a = build(
            "vertex_ai/claude-sonnet-4-5@20250929",
            with_project("p"),
            &[],
        )
        .unwrap();
        assert!(matches!(a.format, Format::Anthropic(_)));
        assert_eq!(
            a.url("rawPredict"),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
        );
        let a = build("vertex_ai/gemini/1234567890", with_project("p"), &[]).unwrap();
        assert_eq!(
            a.url("streamGenerateContent"),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/1234567890:streamGenerateContent?alt=sse"
        );
        let a = build("vertex_ai/987", with_project("p"), &[]).unwrap();
        assert!(a.resource_url.ends_with("/endpoints/987"));
        for partner in [
            "vertex_ai/jamba-1.5-large@001",
            "vertex_ai/deepseek-ai/deepseek-r1-0528-maas",
            "vertex_ai/openai/123abc",
        ] {
            let e = build(partner, with_project("p"), &[]).unwrap_err();
            assert!(
                matches!(e, GatewayError::ProviderNotImplemented { .. }),
                "{partner}: {e}"
            );
        }
    }

    fn partner_request(model: &str, stream: bool) -> (String, Value) {
        let a = build(model, with_project("p"), &[]).unwrap();
        let mut req =
            ChatCompletionRequest::new("alias", vec![tollgate_core::ChatMessage::user("hi")]);
        req.temperature = Some(0.5);
        if stream {
            req.stream = Some(true);
        }
        let up = a
            .chat_request(
                &req,
                CallOptions {
                    force_stream_usage: true,
                    drop_params: false,
                },
            )
            .unwrap();
        // The token comes in `authorize`, not from the translation.
        assert!(up.headers.get("authorization").is_none());
        (up.url, serde_json::from_slice(&up.body).unwrap())
    }

    #[test]
    fn llama_maas_uses_the_openapi_chat_completions_endpoint() {
        let (url, body) = partner_request("vertex_ai/meta/llama-3.1-405b-instruct-maas", false);
        assert_eq!(
            url,
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
        );
        assert_eq!(
            body,
            json!({"model": "meta/llama-3.1-405b-instruct-maas", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5})
        );
        // A bare llama name gets its publisher; streams go to the same URL, without forced
        // stream_options.
        let (url2, body) = partner_request("vertex_ai/llama-3.3-70b-instruct-maas", true);
        assert_eq!(url2, url);
        assert_eq!(body["model"], "meta/llama-3.3-70b-instruct-maas");
        assert_eq!(body["stream"], true);
        assert!(body.get("stream_options").is_none(), "{body}");
    }

    #[test]
    fn mistral_uses_raw_predict_with_the_openai_body() {
        let (url, body) = partner_request("vertex_ai/mistral-large@2407", false);
        assert_eq!(
            url,
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/mistralai/models/mistral-large@2407:rawPredict"
        );
        assert_eq!(body["model"], "mistral-large");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
        let (url, body) = partner_request("vertex_ai/codestral-2501", true);
        assert!(
            url.ends_with("/publishers/mistralai/models/codestral-2501:streamRawPredict"),
            "{url}"
        );
        assert_eq!(body["model"], "codestral-2501");
    }

    #[test]
    fn partner_responses_and_streams_are_openai_format() {
        let a = build(
            "vertex_ai/meta/llama-3.1-8b-instruct-maas",
            with_project("p"),
            &[],
        )
        .unwrap();
        let r = a
            .parse_chat_response(
                br#"{"id":"c1","object":"chat.completion","created":1,"model":"meta/llama-3.1-8b-instruct-maas","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
            )
            .unwrap();
        assert_eq!(
            r.choices[0].message.text_content().as_deref(),
            Some("Hello")
        );
        assert_eq!(r.usage.as_ref().map(|u| u.total_tokens), Some(4));
        let mut d = a.stream_decoder();
        let mut events = d.feed(b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\ndata: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n");
        events.extend(d.finish());
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            matches!(&events[0], crate::StreamEvent::Chunk(c) if c.choices[0].delta.content.as_deref() == Some("Hi"))
        );
        assert!(
            matches!(&events[1], crate::StreamEvent::Chunk(c) if c.usage().map(|u| u.total_tokens) == Some(4))
        );
        assert!(matches!(events[2], crate::StreamEvent::Done));
        // Embeddings are not theirs.
        let e = a
            .embeddings_request(&tollgate_core::EmbeddingsRequest::new(
                "x",
                vec!["a".into()],
            ))
            .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn api_base_rules() {
        let with_base = |base: &str| ProviderParams {
            api_base: Some(base.into()),
            ..with_project("p")
        };
        let a = build(
            "vertex_ai/gemini-2.5-pro",
            with_base("https://gw.example/"),
            &[],
        )
        .unwrap();
        assert_eq!(
            a.url("generateContent"),
            "https://gw.example/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
        );
        assert_eq!(a.api_base(), "https://gw.example");
        let a = build(
            "vertex_ai/gemini-2.5-pro",
            with_base("https://gw.example/v1beta1"),
            &[],
        )
        .unwrap();
        assert_eq!(
            a.url("generateContent"),
            "https://gw.example/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
        );
        let a = build(
            "vertex_ai/gemini-2.5-pro",
            with_base("https://psc.example/v1/projects/x/locations/y/endpoints/42"),
            &[],
        )
        .unwrap();
        assert_eq!(
            a.url("streamGenerateContent"),
            "https://psc.example/v1/projects/x/locations/y/endpoints/42:streamGenerateContent?alt=sse"
        );
        // A full resource URL needs no project.
        let params = ProviderParams {
            api_base: Some("https://proxy.example/custom/model".into()),
            ..ProviderParams::default()
        };
        let a = build("vertex_ai/gemini-2.5-pro", params, &[]).unwrap();
        assert_eq!(
            a.url("generateContent"),
            "https://proxy.example/custom/model:generateContent"
        );
        let a = build(
            "vertex_ai/gemini-2.5-pro",
            ProviderParams::default(),
            &[
                ("VERTEXAI_API_BASE", "http://127.0.0.1:8080"),
                ("VERTEXAI_PROJECT", "p"),
            ],
        )
        .unwrap();
        assert!(
            a.url("generateContent")
                .starts_with("http://127.0.0.1:8080/v1/projects/p/")
        );
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let params = ProviderParams {
            api_key: Some("ya29.secret-token".into()),
            ..with_project("p")
        };
        let a = build("vertex_ai/gemini-2.5-pro", params, &[]).unwrap();
        assert!(!format!("{a:?}").contains("secret-token"));
    }
}
