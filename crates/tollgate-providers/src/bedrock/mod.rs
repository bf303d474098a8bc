//! AWS Bedrock: chat through the Converse API (`/converse`, `/converse-stream`, whose stream is
//! the binary `application/vnd.amazon.eventstream`), embeddings through InvokeModel (Titan and
//! Cohere bodies).
//!
//! Same file names as every provider module: `request.rs` (our request to an HTTP request),
//! `response.rs` (response bytes to our types), `stream.rs` (event-stream frames to chunks),
//! `error.rs` (Bedrock exceptions to [`tollgate_core::GatewayError`]).
//!
//! Resolution follows LiteLLM (route prefix, region, endpoint and credential precedence are
//! documented on [`BedrockAdapter::new`]). Requests are signed with AWS SigV4 in
//! [`BedrockAdapter::authorize`], the one step that reads the clock, right before each send,
//! over the exact bytes sent. Translation is otherwise pure, except that Bedrock returns no
//! response id or timestamp: a translated response or stream gets a fresh `chatcmpl-` id and
//! the current time, read only by [`BedrockAdapter::parse_chat_response`] and
//! [`BedrockAdapter::stream_decoder`]; the `*_at` variants take both and are what tests use.

mod credentials;
mod error;
mod native;
mod operations;
mod request;
mod response;
mod stream;

pub use error::parse_error;
pub use native::InvokeStreamToSse;
pub use stream::{BedrockStreamDecoder, EventStreamFramer, Frame};

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::HeaderValue;
use tollgate_core::{Env, GatewayError, ModelRef, Provider};

use crate::params::ProviderParams;
use crate::transport::{HttpClient, UpstreamRequest};

/// Prefix of error messages: `BedrockException - ...`, as LiteLLM prints it.
pub const PROVIDER_NAME: &str = "Bedrock";
/// The SigV4 service name Bedrock Runtime signs with (not `bedrock-runtime`).
pub const SIGNING_SERVICE: &str = "bedrock";
/// LiteLLM's last-resort region.
pub const DEFAULT_REGION: &str = "us-west-2";
/// `maxTokens` added on top of a thinking budget when the client set no limit, so the budget
/// fits (the same default the Anthropic adapter uses).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
/// The forced tool that emulates `response_format` (LiteLLM's `RESPONSE_FORMAT_TOOL_NAME`).
pub const JSON_TOOL_NAME: &str = "json_tool_call";

/// Route prefixes LiteLLM knows that Tollgate does not implement; refused by name rather than
/// sent to Bedrock as part of a model id.
const UNSUPPORTED_ROUTES: &[&str] = &[
    "converse_like",
    "chat_completions",
    "openai",
    "mantle",
    "agent",
    "agentcore",
    "async_invoke",
    "nova",
    "nova-2",
    "claude_platform",
];

/// Which Bedrock API a model string asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// No route prefix.
    Default,
    /// `bedrock/converse/...`.
    Converse,
    /// `bedrock/invoke/...`.
    Invoke,
}

/// How calls authenticate.
#[derive(Clone)]
enum Auth {
    /// `Authorization: Bearer <Bedrock API key>`, no signature.
    Bearer(String),
    /// SigV4 with static credentials.
    SigV4(SigV4Credentials),
    /// SigV4 with credentials fetched (STS, profile, container, instance) and cached.
    Provider(credentials::CredentialProvider),
}

/// Static AWS credentials.
#[derive(Clone)]
pub struct SigV4Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

// Never print a credential.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::SigV4(c) => write!(
                f,
                "SigV4({}, session token: {})",
                c.access_key_id,
                c.session_token.is_some()
            ),
            Self::Provider(p) => p.fmt(f),
        }
    }
}

impl std::fmt::Debug for SigV4Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A resolved Bedrock deployment: endpoints, region, model id and credentials.
#[derive(Debug, Clone)]
pub struct BedrockAdapter {
    route: Route,
    /// The id as configured (route and region segments removed): the response `model`.
    model: String,
    /// The id put in URLs (`model_id` when configured), not yet percent-encoded.
    url_model: String,
    region: String,
    /// Endpoint for Converse (chat).
    chat_endpoint: String,
    /// Endpoint for InvokeModel (embeddings).
    invoke_endpoint: String,
    auth: Auth,
    params: ProviderParams,
}

impl BedrockAdapter {
    /// The adapter for a `bedrock/` model, or `None` for any other provider.
    ///
    /// Model string: `[converse/|invoke/][<region>/]<model id or ARN>`; chat always uses
    /// Converse. Region: `aws_region_name` > region in the path > region of the ARN (model or
    /// `model_id`) > `AWS_REGION_NAME` > `AWS_REGION` > `AWS_DEFAULT_REGION` > `us-west-2`.
    /// Endpoint (chat): `aws_bedrock_runtime_endpoint` > `AWS_BEDROCK_RUNTIME_ENDPOINT` >
    /// `api_base` > `https://bedrock-runtime.{region}.{partition suffix}`; for embeddings
    /// (InvokeModel) `api_base` comes first, as in LiteLLM. Credentials: `api_key` (Bearer) >
    /// `aws_access_key_id` + `aws_secret_access_key` (+ `aws_session_token`) >
    /// `AWS_BEARER_TOKEN_BEDROCK` (Bearer) > `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
    /// (+ `AWS_SESSION_TOKEN`) > the AWS default chain, with role, profile and web-identity
    /// settings first as in LiteLLM (see [`resolve_auth`]).
    pub fn new(
        model: &ModelRef,
        params: &ProviderParams,
        env: &Env,
    ) -> Result<Option<Self>, GatewayError> {
        if model.provider != Provider::Bedrock {
            return Ok(None);
        }
        let (route, path_region, id) = split_model(&model.model)?;
        let aws = &params.aws;
        let url_model = aws.model_id.clone().unwrap_or_else(|| id.clone());
        let region = aws
            .region_name
            .clone()
            .or(path_region)
            .or_else(|| arn_region(&url_model))
            .or_else(|| arn_region(&id))
            .or_else(|| env.first(&["AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let api_base = params.api_base.clone().filter(|b| !b.trim().is_empty());
        let runtime_endpoint = aws
            .bedrock_runtime_endpoint
            .clone()
            .or_else(|| env.get("AWS_BEDROCK_RUNTIME_ENDPOINT"));
        let default = default_endpoint(&region);
        let chat_endpoint = normalize_endpoint(
            runtime_endpoint
                .clone()
                .or_else(|| api_base.clone())
                .unwrap_or_else(|| default.clone()),
        );
        let invoke_endpoint = normalize_endpoint(api_base.or(runtime_endpoint).unwrap_or(default));
        let auth = resolve_auth(params, env, &region)?;
        let mut params = params.clone();
        // Resolved into `auth`; not kept twice (and never in `Debug` output).
        params.api_key = None;
        params.aws = crate::params::AwsParams::default();
        Ok(Some(Self {
            route,
            model: id,
            url_model,
            region,
            chat_endpoint,
            invoke_endpoint,
            auth,
            params,
        }))
    }

    /// The provider's display name for error messages.
    pub fn provider_name(&self) -> &'static str {
        PROVIDER_NAME
    }

    /// The base URL chat calls go to (reported in `x-litellm-model-api-base`).
    pub fn api_base(&self) -> &str {
        &self.chat_endpoint
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The route prefix the model string carried.
    pub fn route(&self) -> Route {
        self.route
    }

    /// `{endpoint}/model/{id}/converse` or `/converse-stream`.
    pub fn converse_url(&self, stream: bool) -> String {
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        format!(
            "{}/model/{}/{op}",
            self.chat_endpoint,
            encode_model_id(&self.url_model)
        )
    }

    /// `{endpoint}/model/{id}/invoke`.
    pub fn invoke_url(&self) -> String {
        format!(
            "{}/model/{}/invoke",
            self.invoke_endpoint,
            encode_model_id(&self.url_model)
        )
    }

    /// The model id with any cross-region prefix and ARN path removed, for family checks
    /// (`anthropic.claude-...`, `amazon.nova-...`, `cohere.embed-...`).
    pub(super) fn base_model(&self) -> &str {
        base_model(&self.url_model)
    }

    /// Signs `request` with SigV4 (or checks a Bearer key is there), fetching credentials
    /// first when they come from STS, a profile, the container or the instance (cached until
    /// five minutes before they expire). Called right before every send, so a retry gets a
    /// fresh date and signature.
    pub async fn authorize(
        &self,
        http: &HttpClient,
        request: &mut UpstreamRequest,
    ) -> Result<(), GatewayError> {
        if let Auth::Provider(p) = &self.auth {
            let creds = p.credentials(http).await?;
            return sign_request(
                request,
                &creds,
                &self.region,
                SIGNING_SERVICE,
                SystemTime::now(),
            );
        }
        self.authorize_at(request, SystemTime::now())
    }

    /// As [`Self::authorize`] for credentials known without I/O (Bearer keys and static
    /// keys), signing as of `time`; fetched credentials need [`Self::authorize`].
    pub fn authorize_at(
        &self,
        request: &mut UpstreamRequest,
        time: SystemTime,
    ) -> Result<(), GatewayError> {
        match &self.auth {
            Auth::Bearer(_) => Ok(()),
            Auth::SigV4(creds) => sign_request(request, creds, &self.region, SIGNING_SERVICE, time),
            Auth::Provider(_) => Err(GatewayError::Internal(
                "these AWS credentials are fetched: sign with authorize".into(),
            )),
        }
    }

    /// The Bearer key, if calls use one.
    fn bearer(&self) -> Option<&str> {
        match &self.auth {
            Auth::Bearer(k) => Some(k),
            _ => None,
        }
    }
}

/// Splits `[route/][region/]id`. Segments are only taken as route or region while something
/// remains after them, so an id is never consumed.
fn split_model(model: &str) -> Result<(Route, Option<String>, String), GatewayError> {
    let mut route = Route::Default;
    let mut region = None;
    let mut rest = model;
    while let Some((head, tail)) = rest.split_once('/') {
        if tail.is_empty() || rest.starts_with("arn:") {
            break;
        }
        if route == Route::Default && region.is_none() && head == "converse" {
            route = Route::Converse;
        } else if route == Route::Default && region.is_none() && head == "invoke" {
            route = Route::Invoke;
        } else if region.is_none() && is_region(head) {
            region = Some(head.to_owned());
        } else if route == Route::Default && region.is_none() && UNSUPPORTED_ROUTES.contains(&head)
        {
            return Err(GatewayError::invalid_request(
                format!(
                    "the Bedrock route bedrock/{head}/ is not supported by Tollgate; use bedrock/<model>, bedrock/converse/<model> or bedrock/invoke/<model>"
                ),
                Some("model".into()),
            ));
        } else {
            break;
        }
        rest = tail;
    }
    if rest.trim().is_empty() || rest.ends_with('/') {
        return Err(GatewayError::invalid_request(
            format!("model=bedrock/{model} names no Bedrock model"),
            Some("model".into()),
        ));
    }
    Ok((route, region, rest.to_owned()))
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-2`, `eu-isoe-west-1`, `cn-north-1`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The region field of `arn:<partition>:bedrock:<region>:<account>:<resource>`.
fn arn_region(id: &str) -> Option<String> {
    if !id.starts_with("arn:") {
        return None;
    }
    id.split(':')
        .nth(3)
        .filter(|r| is_region(r))
        .map(str::to_owned)
}

/// The id without ARN path or cross-region prefix.
fn base_model(id: &str) -> &str {
    let id = if id.starts_with("arn:") {
        id.rsplit('/').next().unwrap_or(id)
    } else {
        id
    };
    match id.split_once('.') {
        Some((prefix, rest))
            if ["us", "eu", "apac", "jp", "au", "global", "us-gov", "ca"].contains(&prefix) =>
        {
            rest
        }
        _ => id,
    }
}

/// The default runtime endpoint of a region, with its partition's DNS suffix.
fn default_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eu-isoe-") {
        "cloud.adc-e.uk"
    } else {
        "amazonaws.com"
    };
    format!("https://bedrock-runtime.{region}.{suffix}")
}

/// A configured endpoint without a trailing `/` (LiteLLM keeps it and sends `//model/...`, a
/// path SigV4 normalises differently from the server; that quirk is not copied) and with
/// `https://` when no scheme was given.
fn normalize_endpoint(endpoint: String) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    }
}

/// Percent-encodes the whole id with no safe characters, as LiteLLM's Converse path does
/// (`:` → `%3A`, an ARN's `/` → `%2F`); unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay,
/// so cross-region ids (`us.anthropic...`) go out as written.
pub fn encode_model_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Credential precedence, as LiteLLM's `BaseAWSLLM.get_credentials` (each `aws_*` setting
/// falling back to its upper-case environment variable), first match wins:
/// 1. `api_key` (Bearer);
/// 2. `aws_web_identity_token` + `aws_role_name` (AssumeRoleWithWebIdentity);
/// 3. `aws_role_name` (AssumeRole, signed with the static keys of `litellm_params` or the
///    environment, else `aws_profile_name`, else the default chain);
/// 4. `aws_profile_name`;
/// 5. static keys in `litellm_params`;
/// 6. `AWS_BEARER_TOKEN_BEDROCK`;
/// 7. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`;
/// 8. the default chain (web identity file, shared-file profile, container, IMDSv2).
fn resolve_auth(params: &ProviderParams, env: &Env, region: &str) -> Result<Auth, GatewayError> {
    use credentials::{CredentialProvider, SharedFiles, Source, WebToken};
    if let Some(key) = params.api_key.clone().filter(|k| !k.trim().is_empty()) {
        return Ok(Auth::Bearer(key));
    }
    let aws = &params.aws;
    let setting = |param: &Option<String>, var: &str| param.clone().or_else(|| env.get(var));
    let role = setting(&aws.role_name, "AWS_ROLE_NAME");
    let session_name = setting(&aws.session_name, "AWS_SESSION_NAME")
        .unwrap_or_else(|| credentials::DEFAULT_SESSION_NAME.to_owned());
    let profile = setting(&aws.profile_name, "AWS_PROFILE_NAME");
    let web_token = setting(&aws.web_identity_token, "AWS_WEB_IDENTITY_TOKEN");
    let external_id = setting(&aws.external_id, "AWS_EXTERNAL_ID");
    let sts = credentials::sts_endpoint(aws.sts_endpoint.as_deref(), env, region);
    let static_keys = match (&aws.access_key_id, &aws.secret_access_key) {
        (Some(id), Some(secret)) => Some(SigV4Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: aws.session_token.clone(),
        }),
        (None, None) if aws.session_token.is_none() => None,
        _ => {
            return Err(GatewayError::invalid_request(
                "aws_access_key_id and aws_secret_access_key must be set together (aws_session_token only with both)",
                None,
            ));
        }
    };
    let env_keys = || match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        // The environment's key, secret and token belong together: they are taken as a set.
        (Some(id), Some(secret)) => Some(SigV4Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env.get("AWS_SESSION_TOKEN"),
        }),
        _ => None,
    };
    let provider = |source| Ok(Auth::Provider(CredentialProvider::new(source)));
    if let Some(token) = web_token {
        let Some(role_arn) = role else {
            return Err(GatewayError::invalid_request(
                "aws_web_identity_token needs aws_role_name (the ARN of the role to assume)",
                Some("aws_role_name".into()),
            ));
        };
        return provider(Source::WebIdentity {
            token: WebToken::Value(token),
            role_arn,
            session_name,
            sts_endpoint: sts,
        });
    }
    if let Some(role_arn) = role {
        let base = match static_keys.or_else(env_keys) {
            Some(keys) => Source::Static(keys),
            None => match &profile {
                Some(name) => Source::Profile {
                    name: name.clone(),
                    files: SharedFiles::from_env(env),
                },
                None => Source::default_chain(env, region),
            },
        };
        return provider(Source::AssumeRole {
            base: Box::new(base),
            role_arn,
            session_name,
            external_id,
            sts_endpoint: sts,
            sts_region: region.to_owned(),
        });
    }
    if let Some(name) = profile {
        return provider(Source::Profile {
            name,
            files: SharedFiles::from_env(env),
        });
    }
    if let Some(keys) = static_keys {
        return Ok(Auth::SigV4(keys));
    }
    if let Some(token) = env.get("AWS_BEARER_TOKEN_BEDROCK") {
        return Ok(Auth::Bearer(token));
    }
    match env_keys() {
        Some(keys) => Ok(Auth::SigV4(keys)),
        None => provider(Source::default_chain(env, region)),
    }
}

/// Signs `request` in place with SigV4: removes any earlier signature, then adds `x-amz-date`,
/// `authorization` and, for temporary credentials, `x-amz-security-token` (signed). Every
/// header already on the request is signed, and the payload hash is over `request.body`, the
/// exact bytes sent. The URL must already be percent-encoded; SigV4 encodes its path again for
/// the canonical request (`%3A` → `%253A`), as every service but S3 expects.
pub fn sign_request(
    request: &mut UpstreamRequest,
    creds: &SigV4Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<(), GatewayError> {
    for name in [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
    ] {
        request.headers.remove(name);
    }
    let mut headers = Vec::with_capacity(request.headers.len());
    for (name, value) in &request.headers {
        let value = value.to_str().map_err(|_| {
            GatewayError::invalid_request(
                format!("header {name} is not ASCII and cannot be signed for AWS"),
                None,
            )
        })?;
        headers.push((name.as_str(), value));
    }
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "tollgate",
    )
    .into();
    let signing_params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| GatewayError::Internal(format!("SigV4 parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(
        request.method.as_str(),
        request.url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&request.body),
    )
    .map_err(|e| {
        GatewayError::invalid_request(format!("the Bedrock URL cannot be signed: {e}"), None)
    })?;
    let (instructions, _signature) = sign(signable, &signing_params)
        .map_err(|e| GatewayError::Internal(format!("SigV4 signing failed: {e}")))?
        .into_parts();
    let (new_headers, _query) = instructions.into_parts();
    for header in new_headers {
        let mut value = HeaderValue::from_str(header.value()).map_err(|_| {
            GatewayError::Internal(format!(
                "SigV4 produced an invalid {} header",
                header.name()
            ))
        })?;
        value.set_sensitive(header.sensitive() || header.name() == "authorization");
        request.headers.insert(header.name(), value);
    }
    Ok(())
}

/// A fresh OpenAI-style completion id (Bedrock sends none).
pub(crate) fn new_completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    use bytes::Bytes;
    use http::{HeaderMap, Method};
    use sha2::{Digest, Sha256};

    use crate::params::AwsParams;

    /// Unsets every variable resolution reads, so tests see only their own.
    const CLEAN: &[(&str, &str)] = &[
        ("AWS_REGION_NAME", ""),
        ("AWS_REGION", ""),
        ("AWS_DEFAULT_REGION", ""),
        ("AWS_BEDROCK_RUNTIME_ENDPOINT", ""),
        ("AWS_BEARER_TOKEN_BEDROCK", ""),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_ROLE_NAME", ""),
        ("AWS_PROFILE_NAME", ""),
        ("AWS_WEB_IDENTITY_TOKEN", ""),
        ("AWS_SESSION_NAME", ""),
        ("AWS_EXTERNAL_ID", ""),
        ("AWS_STS_ENDPOINT", ""),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
        ("AWS_ROLE_ARN", ""),
        ("AWS_PROFILE", ""),
        ("AWS_SHARED_CREDENTIALS_FILE", ""),
        ("AWS_CONFIG_FILE", ""),
        ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", ""),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", ""),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", ""),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", ""),
        // Off EC2 the metadata service never answers; unit tests must not wait for it.
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("HOME", "/nonexistent-tollgate-home"),
    ];

    fn env(vars: &[(&str, &str)]) -> Env {
        let mut all: HashMap<String, String> = CLEAN
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in vars {
            all.insert((*k).to_owned(), (*v).to_owned());
        }
        Env::with_overlay(all)
    }

    fn keys() -> AwsParams {
        AwsParams {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            ..AwsParams::default()
        }
    }

    fn build(model: &str, params: ProviderParams, vars: &[(&str, &str)]) -> BedrockAdapter {
        try_build(model, params, vars).unwrap()
    }

    fn try_build(
        model: &str,
        params: ProviderParams,
        vars: &[(&str, &str)],
    ) -> Result<BedrockAdapter, GatewayError> {
        let m = ModelRef::parse(model, None).unwrap();
        BedrockAdapter::new(&m, &params, &env(vars)).map(Option::unwrap)
    }

    fn with_aws(aws: AwsParams) -> ProviderParams {
        ProviderParams {
            aws,
            ..ProviderParams::default()
        }
    }

    #[test]
    fn other_providers_are_not_ours() {
        let m = ModelRef::parse("openai/gpt-4o", None).unwrap();
        assert!(
            BedrockAdapter::new(&m, &ProviderParams::default(), &env(&[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn routes_regions_and_ids_are_split_from_the_model_string() {
        let a = build(
            "bedrock/converse/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            ProviderParams::default(),
            &[],
        );
        assert_eq!(a.route(), Route::Converse);
        assert_eq!(a.region(), "us-west-2");
        assert_eq!(
            a.converse_url(false),
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            a.converse_url(true),
            "https://bedrock-runtime.us-west-2.amazonaws.com/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
        );
        assert_eq!(a.base_model(), "anthropic.claude-3-5-sonnet-20240620-v1:0");

        let a = build(
            "bedrock/invoke/eu-central-1/amazon.titan-embed-text-v2:0",
            ProviderParams::default(),
            &[],
        );
        assert_eq!(a.route(), Route::Invoke);
        assert_eq!(a.region(), "eu-central-1");
        assert_eq!(
            a.invoke_url(),
            "https://bedrock-runtime.eu-central-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"
        );

        let a = build(
            "bedrock/arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-sonnet-4-20250514-v1:0",
            ProviderParams::default(),
            &[("AWS_REGION", "us-east-1")],
        );
        assert_eq!(a.route(), Route::Default);
        assert_eq!(a.region(), "ap-northeast-1");
        assert_eq!(
            a.converse_url(false),
            "https://bedrock-runtime.ap-northeast-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aap-northeast-1%3A123456789012%3Ainference-profile%2Fapac.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
        );
        assert_eq!(a.base_model(), "anthropic.claude-sonnet-4-20250514-v1:0");

        let e = try_build("bedrock/agent/abc", ProviderParams::default(), &[]).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("bedrock/agent/"), "{e}");
        assert!(try_build("bedrock/converse/", ProviderParams::default(), &[]).is_err());
    }

    #[test]
    fn region_precedence() {
        let m = "bedrock/us-east-2/anthropic.claude-x";
        let all = [
            ("AWS_REGION_NAME", "eu-west-1"),
            ("AWS_REGION", "eu-west-2"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
        ];
        let param = with_aws(AwsParams {
            region_name: Some("sa-east-1".into()),
            ..AwsParams::default()
        });
        assert_eq!(build(m, param, &all).region(), "sa-east-1");
        assert_eq!(
            build(m, ProviderParams::default(), &all).region(),
            "us-east-2"
        );
        let m = "bedrock/anthropic.claude-x";
        assert_eq!(
            build(m, ProviderParams::default(), &all).region(),
            "eu-west-1"
        );
        assert_eq!(
            build(m, ProviderParams::default(), &all[1..]).region(),
            "eu-west-2"
        );
        assert_eq!(
            build(m, ProviderParams::default(), &all[2..]).region(),
            "eu-west-3"
        );
        assert_eq!(
            build(m, ProviderParams::default(), &[]).region(),
            "us-west-2"
        );
        // A model_id ARN names the region too, and replaces the id in the URL.
        let a = build(
            m,
            with_aws(AwsParams {
                model_id: Some(
                    "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc".into(),
                ),
                ..AwsParams::default()
            }),
            &all,
        );
        assert_eq!(a.region(), "us-east-1");
        assert_eq!(
            a.converse_url(false),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc/converse"
        );
    }

    #[test]
    fn endpoint_precedence_differs_between_converse_and_invoke() {
        let m = "bedrock/amazon.nova-micro-v1:0";
        let p = ProviderParams {
            api_base: Some("https://base.example/".into()),
            aws: AwsParams {
                bedrock_runtime_endpoint: Some("https://runtime.example".into()),
                ..AwsParams::default()
            },
            ..ProviderParams::default()
        };
        let a = build(
            m,
            p.clone(),
            &[("AWS_BEDROCK_RUNTIME_ENDPOINT", "https://env.example")],
        );
        assert_eq!(a.api_base(), "https://runtime.example");
        assert!(a.invoke_url().starts_with("https://base.example/model/"));
        let mut no_param = p.clone();
        no_param.aws.bedrock_runtime_endpoint = None;
        let a = build(
            m,
            no_param.clone(),
            &[("AWS_BEDROCK_RUNTIME_ENDPOINT", "https://env.example")],
        );
        assert_eq!(a.api_base(), "https://env.example");
        assert!(a.invoke_url().starts_with("https://base.example/model/"));
        let a = build(m, no_param, &[]);
        assert_eq!(a.api_base(), "https://base.example");
        let a = build(
            m,
            ProviderParams::default(),
            &[("AWS_BEDROCK_RUNTIME_ENDPOINT", "vpce.example")],
        );
        assert_eq!(a.api_base(), "https://vpce.example");
        assert!(a.invoke_url().starts_with("https://vpce.example/model/"));
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://bedrock-runtime.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            default_endpoint("us-iso-east-1"),
            "https://bedrock-runtime.us-iso-east-1.c2s.ic.gov"
        );
        assert_eq!(
            default_endpoint("us-isob-east-1"),
            "https://bedrock-runtime.us-isob-east-1.sc2s.sgov.gov"
        );
    }

    #[test]
    fn credential_precedence() {
        let m = "bedrock/anthropic.claude-x";
        let envkeys = [
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
        ];
        let a = build(
            m,
            ProviderParams {
                api_key: Some("bedrock-api-key".into()),
                aws: keys(),
                ..ProviderParams::default()
            },
            &envkeys,
        );
        assert_eq!(a.bearer(), Some("bedrock-api-key"));
        let a = build(m, with_aws(keys()), &[("AWS_BEARER_TOKEN_BEDROCK", "t")]);
        assert!(
            matches!(&a.auth, Auth::SigV4(c) if c.access_key_id == "AKIDEXAMPLE" && c.session_token.is_none())
        );
        let mut envs = envkeys.to_vec();
        envs.push(("AWS_BEARER_TOKEN_BEDROCK", "from-env"));
        assert_eq!(
            build(m, ProviderParams::default(), &envs).bearer(),
            Some("from-env")
        );
        let a = build(m, ProviderParams::default(), &envkeys);
        assert!(
            matches!(&a.auth, Auth::SigV4(c) if c.access_key_id == "ENVKEY" && c.session_token.as_deref() == Some("envtoken"))
        );
        assert!(matches!(
            build(m, ProviderParams::default(), &[]).auth,
            Auth::Provider(_)
        ));
        // Half a key pair is refused at once.
        let mut half = keys();
        half.secret_access_key = None;
        assert!(try_build(m, with_aws(half), &[]).is_err());
        // A role is assumed with the static keys, ahead of everything but api_key.
        let mut role = keys();
        role.role_name = Some("arn:aws:iam::1:role/r".into());
        let shown = format!("{:?}", build(m, with_aws(role.clone()), &envkeys).auth);
        assert!(
            shown.contains("AssumeRole(arn:aws:iam::1:role/r with Static(AKIDEXAMPLE))"),
            "{shown}"
        );
        // Without keys, with the environment's; AWS_ROLE_NAME stands in for the param.
        let shown = format!(
            "{:?}",
            build(
                m,
                ProviderParams::default(),
                &[
                    ("AWS_ROLE_NAME", "arn:aws:iam::1:role/e"),
                    envkeys[0],
                    envkeys[1]
                ]
            )
            .auth
        );
        assert!(
            shown.contains("AssumeRole(arn:aws:iam::1:role/e with Static(ENVKEY))"),
            "{shown}"
        );
        // Web identity wins over a plain role and needs one.
        role.web_identity_token = Some("oidc".into());
        assert!(
            format!("{:?}", build(m, with_aws(role), &[]).auth)
                .contains("WebIdentity(arn:aws:iam::1:role/r)")
        );
        let e = try_build(
            m,
            with_aws(AwsParams {
                web_identity_token: Some("oidc".into()),
                ..AwsParams::default()
            }),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("aws_role_name"), "{e}");
        // A profile comes before static keys.
        let shown = format!(
            "{:?}",
            build(m, with_aws(keys()), &[("AWS_PROFILE_NAME", "dev")]).auth
        );
        assert_eq!(shown, "CredentialProvider(Profile(dev))");
        // Debug output never carries a secret.
        let a = build(
            m,
            ProviderParams {
                aws: AwsParams {
                    session_token: Some("SECRET-TOKEN".into()),
                    ..keys()
                },
                ..ProviderParams::default()
            },
            &[],
        );
        let shown = format!("{a:?} {:?}", keys());
        assert!(
            !shown.contains("EXAMPLEKEY") && !shown.contains("SECRET-TOKEN"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn missing_credentials_fail_at_authorize() {
        let a = build("bedrock/anthropic.claude-x", ProviderParams::default(), &[]);
        let mut r = request(Method::POST, "https://h/model/x/converse", b"{}");
        let http = HttpClient::new(&crate::TransportOptions::default()).unwrap();
        let e = a.authorize(&http, &mut r).await.unwrap_err();
        assert_eq!(e.status(), 401);
        assert!(e.to_string().contains("aws_access_key_id"), "{e}");
    }

    #[test]
    fn model_ids_are_fully_percent_encoded() {
        assert_eq!(
            encode_model_id("us.amazon.nova-micro-v1:0"),
            "us.amazon.nova-micro-v1%3A0"
        );
        assert_eq!(encode_model_id("a b/c~d_e"), "a%20b%2Fc~d_e");
    }

    // ---- SigV4 ---------------------------------------------------------------------------

    fn request(method: Method, url: &str, body: &[u8]) -> UpstreamRequest {
        UpstreamRequest {
            method,
            url: url.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::copy_from_slice(body),
        }
    }

    /// 2015-08-30T12:36:00Z, the date of AWS's published SigV4 test suite.
    fn suite_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn suite_creds(token: Option<&str>) -> SigV4Credentials {
        SigV4Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn signature_of(r: &UpstreamRequest) -> String {
        let auth = r.headers["authorization"].to_str().unwrap();
        auth.rsplit("Signature=").next().unwrap().to_owned()
    }

    #[test]
    fn published_sigv4_test_vectors() {
        // AWS's SigV4 test suite: get-vanilla, post-vanilla, get-vanilla-with-session-token.
        let mut r = request(Method::GET, "https://example.amazonaws.com/", b"");
        sign_request(
            &mut r,
            &suite_creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            r.headers["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(r.headers["x-amz-date"], "20150830T123600Z");

        let mut r = request(Method::POST, "https://example.amazonaws.com/", b"");
        sign_request(
            &mut r,
            &suite_creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            signature_of(&r),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );

        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let mut r = request(Method::GET, "https://example.amazonaws.com/", b"");
        sign_request(
            &mut r,
            &suite_creds(Some(token)),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            signature_of(&r),
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
        assert!(
            r.headers["authorization"]
                .to_str()
                .unwrap()
                .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")
        );
        assert_eq!(r.headers["x-amz-security-token"], token);
        assert!(r.headers["x-amz-security-token"].is_sensitive());
        assert!(r.headers["authorization"].is_sensitive());
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        // RFC 2104 with SHA-256 (64-byte blocks), written out so the check is independent of
        // the signer under test.
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let mut h = Sha256::new();
        h.update(&inner);
        h.update(data);
        let inner_hash = h.finalize();
        let mut h = Sha256::new();
        h.update(&outer);
        h.update(inner_hash);
        h.finalize().to_vec()
    }

    #[test]
    fn a_bedrock_request_signature_matches_the_documented_algorithm() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600); // 2025-01-01
        let body =
            br#"{"messages":[{"role":"user","content":[{"text":"Hello!"}]}],"inferenceConfig":{}}"#;
        let a = build(
            "bedrock/us.amazon.nova-micro-v1:0",
            with_aws(AwsParams {
                session_token: Some("the-session-token".into()),
                region_name: Some("us-east-1".into()),
                ..keys()
            }),
            &[],
        );
        let mut r = request(Method::POST, &a.converse_url(false), body);
        r.headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        r.headers
            .insert("accept", HeaderValue::from_static("application/json"));
        // A stale signature from an earlier attempt is replaced, not kept beside the new one.
        r.headers
            .insert("authorization", HeaderValue::from_static("stale"));
        a.authorize_at(&mut r, time).unwrap();

        let canonical = [
            "POST",
            // Encoded once in the URL, once more for the canonical request.
            "/model/us.amazon.nova-micro-v1%253A0/converse",
            "",
            "accept:application/json",
            "content-type:application/json",
            "host:bedrock-runtime.us-east-1.amazonaws.com",
            "x-amz-date:20250101T000000Z",
            "x-amz-security-token:the-session-token",
            "",
            "accept;content-type;host;x-amz-date;x-amz-security-token",
            &hex::encode(Sha256::digest(body)),
        ]
        .join("\n");
        let scope = "20250101/us-east-1/bedrock/aws4_request";
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n20250101T000000Z\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20250101");
        for part in ["us-east-1", "bedrock", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        assert_eq!(
            r.headers["authorization"],
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature={expected}"
            )
            .as_str()
        );
        assert_eq!(r.headers.get_all("authorization").iter().count(), 1);
        assert_eq!(r.headers["x-amz-date"], "20250101T000000Z");
        assert_eq!(r.headers["x-amz-security-token"], "the-session-token");

        // Re-signing later (a retry) gives a new date and signature and nothing duplicated.
        let first = signature_of(&r);
        a.authorize_at(&mut r, time + Duration::from_secs(1))
            .unwrap();
        assert_ne!(signature_of(&r), first);
        assert_eq!(r.headers.get_all("x-amz-date").iter().count(), 1);
        assert_eq!(r.headers.get_all("x-amz-security-token").iter().count(), 1);

        // A changed body changes the signature: the bytes sent are the bytes signed.
        let mut other = request(Method::POST, &a.converse_url(false), b"{}");
        other
            .headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        other
            .headers
            .insert("accept", HeaderValue::from_static("application/json"));
        a.authorize_at(&mut other, time).unwrap();
        assert_ne!(signature_of(&other), expected);
    }

    #[test]
    fn bearer_auth_is_not_signed() {
        let a = build(
            "bedrock/anthropic.claude-x",
            ProviderParams {
                api_key: Some("k".into()),
                ..ProviderParams::default()
            },
            &[],
        );
        let mut r = request(Method::POST, "https://h/model/x/converse", b"{}");
        a.authorize_at(&mut r, SystemTime::now()).unwrap();
        assert!(r.headers.get("x-amz-date").is_none());
    }
}
