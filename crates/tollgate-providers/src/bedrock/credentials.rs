//! AWS credentials that are not static keys: STS AssumeRole and AssumeRoleWithWebIdentity,
//! named profiles from the shared files, ECS container credentials and EC2 instance metadata
//! (IMDSv2). Everything here needs the network, files or the clock, so it runs only inside
//! [`crate::Adapter::authorize`]. Resolved credentials are cached per deployment (clones share
//! the cache) and fetched again five minutes before they expire.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use tokio::sync::Mutex;
use tollgate_core::{Env, ErrorClass, GatewayError, UpstreamError};

use super::{PROVIDER_NAME, SigV4Credentials, sign_request};
use crate::azure::auth::form_encode;
use crate::transport::{HttpClient, UpstreamRequest};

/// Credentials are replaced this long before they expire, so no request is signed with a key
/// about to lapse (the margin the AWS SDKs use).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// STS and container endpoints answer in milliseconds; a stuck one must not hold requests.
const STS_TIMEOUT: Duration = Duration::from_secs(30);

/// The instance metadata service is link-local: off EC2 it never answers, so give up fast
/// (as the AWS SDKs do) instead of stalling every request of a misconfigured deployment.
const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";
const ECS_RELATIVE_HOST: &str = "http://169.254.170.2";

/// `RoleSessionName` when neither `aws_session_name` nor `AWS_SESSION_NAME` gives one.
pub(super) const DEFAULT_SESSION_NAME: &str = "tollgate-session";

/// Where one deployment's credentials come from.
#[derive(Clone)]
pub(super) enum Source {
    /// Keys given outright (litellm_params or the environment).
    Static(SigV4Credentials),
    /// STS `AssumeRole`, signed with the credentials of `base`.
    AssumeRole {
        base: Box<Source>,
        role_arn: String,
        session_name: String,
        external_id: Option<String>,
        sts_endpoint: String,
        sts_region: String,
    },
    /// STS `AssumeRoleWithWebIdentity` (unsigned: the OIDC token is the proof).
    WebIdentity {
        token: WebToken,
        role_arn: String,
        session_name: String,
        sts_endpoint: String,
    },
    /// A profile of `~/.aws/credentials` / `~/.aws/config`.
    Profile { name: String, files: SharedFiles },
    /// ECS / EKS Pod Identity container credentials.
    Container {
        url: String,
        token: Option<String>,
        token_file: Option<PathBuf>,
    },
    /// EC2 instance metadata, IMDSv2 (session token first).
    Imds { endpoint: String },
    /// The SDKs' default chain after environment keys: web identity from
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, the `AWS_PROFILE` (or `default`)
    /// profile when the shared files have it, container credentials, instance metadata.
    Chain(Vec<Source>),
}

/// The OIDC token for web identity: given as a value, or a file re-read at every fetch
/// (Kubernetes rotates projected tokens).
#[derive(Clone)]
pub(super) enum WebToken {
    Value(String),
    File(PathBuf),
}

/// The two shared files, as the environment names them.
#[derive(Clone, Debug)]
pub(super) struct SharedFiles {
    credentials: Option<PathBuf>,
    config: Option<PathBuf>,
}

impl SharedFiles {
    /// `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, else `~/.aws/credentials` / `config`.
    pub(super) fn from_env(env: &Env) -> Self {
        let home = env
            .get("HOME")
            .or_else(|| env.get("USERPROFILE"))
            .map(PathBuf::from);
        let under_home = |name: &str| home.as_ref().map(|h| h.join(".aws").join(name));
        Self {
            credentials: env
                .get("AWS_SHARED_CREDENTIALS_FILE")
                .map(PathBuf::from)
                .or_else(|| under_home("credentials")),
            config: env
                .get("AWS_CONFIG_FILE")
                .map(PathBuf::from)
                .or_else(|| under_home("config")),
        }
    }
}

impl fmt::Debug for Source {
    // Never print a key or token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(c) => write!(f, "Static({})", c.access_key_id),
            Self::AssumeRole { base, role_arn, .. } => {
                write!(f, "AssumeRole({role_arn} with {base:?})")
            }
            Self::WebIdentity { role_arn, .. } => write!(f, "WebIdentity({role_arn})"),
            Self::Profile { name, .. } => write!(f, "Profile({name})"),
            Self::Container { url, .. } => write!(f, "Container({url})"),
            Self::Imds { endpoint } => write!(f, "Imds({endpoint})"),
            Self::Chain(c) => f.debug_tuple("Chain").field(c).finish(),
        }
    }
}

impl Source {
    /// The SDK default chain (after environment keys, which the caller checked), from what the
    /// environment says at construction. The files are only read when credentials are needed.
    pub(super) fn default_chain(env: &Env, region: &str) -> Self {
        let mut chain = Vec::new();
        if let (Some(file), Some(role_arn)) = (
            env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
            env.get("AWS_ROLE_ARN"),
        ) {
            chain.push(Self::WebIdentity {
                token: WebToken::File(PathBuf::from(file)),
                role_arn,
                session_name: env
                    .get("AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned()),
                sts_endpoint: sts_endpoint(None, env, region),
            });
        }
        chain.push(Self::Profile {
            name: env
                .get("AWS_PROFILE")
                .unwrap_or_else(|| "default".to_owned()),
            files: SharedFiles::from_env(env),
        });
        if let Some(url) = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI").or_else(|| {
            env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                .map(|rel| format!("{ECS_RELATIVE_HOST}{rel}"))
        }) {
            chain.push(Self::Container {
                url,
                token: env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                token_file: env
                    .get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                    .map(PathBuf::from),
            });
        }
        let imds_disabled = env
            .get("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !imds_disabled {
            chain.push(Self::Imds {
                endpoint: env
                    .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                    .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned())
                    .trim_end_matches('/')
                    .to_owned(),
            });
        }
        Self::Chain(chain)
    }
}

/// `aws_sts_endpoint` > `AWS_STS_ENDPOINT` > the regional endpoint.
pub(super) fn sts_endpoint(param: Option<&str>, env: &Env, region: &str) -> String {
    param
        .map(str::to_owned)
        .or_else(|| env.get("AWS_STS_ENDPOINT"))
        .unwrap_or_else(|| {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://sts.{region}.{suffix}")
        })
}

/// Credentials from a [`Source`], cached. Clones share the cache.
#[derive(Clone)]
pub(super) struct CredentialProvider {
    source: Arc<Source>,
    cache: Arc<Mutex<Option<Cached>>>,
}

impl fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CredentialProvider")
            .field(&self.source)
            .finish()
    }
}

#[derive(Clone)]
struct Cached {
    creds: SigV4Credentials,
    /// `None`: never expires (keys from a profile).
    refresh_at: Option<SystemTime>,
}

impl CredentialProvider {
    pub(super) fn new(source: Source) -> Self {
        Self {
            source: Arc::new(source),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// Current credentials: the cached ones while they have more than five minutes left,
    /// else fresh ones. The lock is held during a fetch, so concurrent requests wait for one
    /// STS call instead of each making their own.
    pub(super) async fn credentials(
        &self,
        http: &HttpClient,
    ) -> Result<SigV4Credentials, GatewayError> {
        let mut cached = self.cache.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.refresh_at.is_none_or(|at| SystemTime::now() < at) {
                return Ok(c.creds.clone());
            }
        }
        let fresh = resolve(http, &self.source).await?;
        let creds = fresh.creds.clone();
        *cached = Some(fresh);
        Ok(creds)
    }
}

/// Fetched credentials and when they lapse.
struct Fetched {
    creds: SigV4Credentials,
    expires: Option<SystemTime>,
}

impl From<Fetched> for Cached {
    fn from(f: Fetched) -> Self {
        Self {
            creds: f.creds,
            refresh_at: f
                .expires
                .map(|e| e.checked_sub(REFRESH_MARGIN).unwrap_or(UNIX_EPOCH)),
        }
    }
}

async fn resolve(http: &HttpClient, source: &Source) -> Result<Cached, GatewayError> {
    fetch(http, source).await.map(Cached::from)
}

fn fetch<'a>(
    http: &'a HttpClient,
    source: &'a Source,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Fetched, GatewayError>> + Send + 'a>> {
    Box::pin(async move {
        match source {
            Source::Static(c) => Ok(Fetched {
                creds: c.clone(),
                expires: None,
            }),
            Source::AssumeRole {
                base,
                role_arn,
                session_name,
                external_id,
                sts_endpoint,
                sts_region,
            } => {
                let base = fetch(http, base).await?;
                let mut form = vec![
                    ("Action", "AssumeRole"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", role_arn.as_str()),
                    ("RoleSessionName", session_name.as_str()),
                ];
                if let Some(id) = external_id {
                    form.push(("ExternalId", id));
                }
                let mut request = sts_request(sts_endpoint, &form)?;
                sign_request(
                    &mut request,
                    &base.creds,
                    sts_region,
                    "sts",
                    SystemTime::now(),
                )?;
                sts_call(http, request, "AssumeRole").await
            }
            Source::WebIdentity {
                token,
                role_arn,
                session_name,
                sts_endpoint,
            } => {
                let token = match token {
                    WebToken::Value(t) => t.clone(),
                    WebToken::File(path) => read_file(path, "AWS_WEB_IDENTITY_TOKEN_FILE")
                        .await?
                        .trim()
                        .to_owned(),
                };
                let form = [
                    ("Action", "AssumeRoleWithWebIdentity"),
                    ("Version", "2011-06-15"),
                    ("RoleArn", role_arn.as_str()),
                    ("RoleSessionName", session_name.as_str()),
                    ("WebIdentityToken", token.as_str()),
                ];
                let request = sts_request(sts_endpoint, &form)?;
                sts_call(http, request, "AssumeRoleWithWebIdentity").await
            }
            Source::Profile { name, files } => {
                let source = profile_source(name, files).await?.ok_or_else(|| {
                    no_credentials(&format!(
                        "the AWS profile {name:?} is in neither {} nor {}",
                        show(files.credentials.as_ref()),
                        show(files.config.as_ref())
                    ))
                })?;
                fetch(http, &source).await
            }
            Source::Container {
                url,
                token,
                token_file,
            } => {
                let token = match (token_file, token) {
                    (Some(path), _) => Some(
                        read_file(path, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                            .await?
                            .trim()
                            .to_owned(),
                    ),
                    (None, t) => t.clone(),
                };
                let mut headers = HeaderMap::new();
                if let Some(t) = token {
                    headers.insert(http::header::AUTHORIZATION, header(&t)?);
                }
                let body = get(http, Method::GET, url, headers, STS_TIMEOUT, "container").await?;
                json_credentials(&body, "the container credentials endpoint")
            }
            Source::Imds { endpoint } => imds(http, endpoint).await,
            Source::Chain(chain) => {
                let mut reasons = Vec::new();
                for s in chain {
                    // A profile the files do not have is simply not this link of the chain.
                    if let Source::Profile { name, files } = s {
                        match profile_source(name, files).await {
                            Ok(Some(p)) => return fetch(http, &p).await,
                            Ok(None) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    match fetch(http, s).await {
                        Ok(f) => return Ok(f),
                        Err(e) => reasons.push(format!("{s:?}: {e}")),
                    }
                }
                Err(no_credentials(&if reasons.is_empty() {
                    "no source of the default chain is configured".to_owned()
                } else {
                    reasons.join("; ")
                }))
            }
        }
    })
}

fn show(p: Option<&PathBuf>) -> String {
    p.map_or_else(
        || "(no home directory)".to_owned(),
        |p| p.display().to_string(),
    )
}

fn no_credentials(why: &str) -> GatewayError {
    GatewayError::Authentication {
        message: format!(
            "{PROVIDER_NAME}Exception - no AWS credentials for this deployment ({why}): set aws_access_key_id and aws_secret_access_key, aws_role_name, aws_profile_name or aws_web_identity_token (or api_key for a Bedrock API key) in litellm_params, or the standard AWS environment variables"
        ),
    }
}

async fn read_file(path: &PathBuf, setting: &str) -> Result<String, GatewayError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|e| GatewayError::Authentication {
            message: format!(
                "{PROVIDER_NAME}Exception - cannot read {} ({setting}): {e}",
                path.display()
            ),
        })
}

fn header(value: &str) -> Result<HeaderValue, GatewayError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| GatewayError::Authentication {
        message: format!(
            "{PROVIDER_NAME}Exception - an AWS credential token has characters HTTP does not allow"
        ),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn sts_request(endpoint: &str, form: &[(&str, &str)]) -> Result<UpstreamRequest, GatewayError> {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    let url = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    };
    // SigV4 signs the host header; reqwest would add it unsigned after us otherwise.
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
        .ok_or_else(|| {
            GatewayError::invalid_request(
                format!("aws_sts_endpoint {endpoint:?} is not a URL"),
                Some("aws_sts_endpoint".into()),
            )
        })?;
    headers.insert(http::header::HOST, header(&host)?);
    Ok(UpstreamRequest {
        method: Method::POST,
        url,
        headers,
        body: Bytes::from(form_encode(form)),
    })
}

async fn sts_call(
    http: &HttpClient,
    request: UpstreamRequest,
    action: &str,
) -> Result<Fetched, GatewayError> {
    let response = http.send(request, STS_TIMEOUT, PROVIDER_NAME).await?;
    let status = response.status.as_u16();
    let body = response.bytes(STS_TIMEOUT, PROVIDER_NAME).await?;
    if !(200..300).contains(&status) {
        return Err(sts_error(action, status, &body));
    }
    parse_sts_credentials(&body).map_err(|why| GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message: format!("the STS {action} response has no credentials: {why}"),
    })
}

/// `<...Result><Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/><Expiration/>`.
fn parse_sts_credentials(body: &[u8]) -> Result<Fetched, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let creds = doc
        .descendants()
        .find(|n| n.has_tag_name("Credentials"))
        .ok_or("no <Credentials>")?;
    let field = |name: &str| {
        creds
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err("no AccessKeyId / SecretAccessKey".into());
    };
    Ok(Fetched {
        creds: SigV4Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: field("SessionToken"),
        },
        expires: field("Expiration").as_deref().and_then(parse_timestamp),
    })
}

/// `<ErrorResponse><Error><Code/><Message/></Error>`: refused credentials are an
/// authentication failure of the deployment; throttling and outages keep their status.
fn sts_error(action: &str, status: u16, body: &[u8]) -> GatewayError {
    let text = String::from_utf8_lossy(body);
    let detail = roxmltree::Document::parse(&text)
        .ok()
        .and_then(|doc| {
            let get = |name: &str| {
                doc.descendants()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
                    .map(str::to_owned)
            };
            match (get("Code"), get("Message")) {
                (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                (c, m) => c.or(m),
            }
        })
        .unwrap_or_else(|| text.trim().to_owned());
    let mut e = UpstreamError::new(
        status,
        PROVIDER_NAME,
        format!("STS {action} failed (HTTP {status}): {detail}"),
    );
    if matches!(status, 400 | 401 | 403) {
        e.status = 401;
        e.class = ErrorClass::Authentication;
    }
    GatewayError::Upstream(Box::new(e))
}

async fn get(
    http: &HttpClient,
    method: Method,
    url: &str,
    headers: HeaderMap,
    timeout: Duration,
    what: &str,
) -> Result<Bytes, GatewayError> {
    let request = UpstreamRequest {
        method,
        url: url.to_owned(),
        headers,
        body: Bytes::new(),
    };
    let response = http.send(request, timeout, PROVIDER_NAME).await?;
    let status = response.status.as_u16();
    let body = response.bytes(timeout, PROVIDER_NAME).await?;
    if !(200..300).contains(&status) {
        return Err(GatewayError::Authentication {
            message: format!(
                "{PROVIDER_NAME}Exception - the {what} credentials endpoint answered HTTP {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ),
        });
    }
    Ok(body)
}

/// IMDSv2: a session token (PUT), the instance role's name, then its credentials.
async fn imds(http: &HttpClient, endpoint: &str) -> Result<Fetched, GatewayError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-aws-ec2-metadata-token-ttl-seconds",
        HeaderValue::from_static("21600"),
    );
    let token = get(
        http,
        Method::PUT,
        &format!("{endpoint}/latest/api/token"),
        headers,
        IMDS_TIMEOUT,
        "instance metadata",
    )
    .await?;
    let token = String::from_utf8_lossy(&token).trim().to_owned();
    let mut headers = HeaderMap::new();
    headers.insert("x-aws-ec2-metadata-token", header(&token)?);
    let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
    let roles = get(
        http,
        Method::GET,
        &base,
        headers.clone(),
        IMDS_TIMEOUT,
        "instance metadata",
    )
    .await?;
    let roles = String::from_utf8_lossy(&roles);
    let role = roles
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| no_credentials("the instance has no IAM role"))?;
    let body = get(
        http,
        Method::GET,
        &format!("{base}{role}"),
        headers,
        IMDS_TIMEOUT,
        "instance metadata",
    )
    .await?;
    json_credentials(&body, "instance metadata")
}

/// The JSON shape container and instance credentials share.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

fn json_credentials(body: &[u8], what: &str) -> Result<Fetched, GatewayError> {
    let c: JsonCredentials =
        serde_json::from_slice(body).map_err(|e| GatewayError::InvalidUpstreamResponse {
            provider: PROVIDER_NAME.to_owned(),
            message: format!("{what} did not answer with credentials: {e}"),
        })?;
    Ok(Fetched {
        creds: SigV4Credentials {
            access_key_id: c.access_key_id,
            secret_access_key: c.secret_access_key,
            session_token: c.token.filter(|t| !t.is_empty()),
        },
        expires: c.expiration.as_deref().and_then(parse_timestamp),
    })
}

/// The source a profile describes: its keys, or a role assumed with its `source_profile`'s
/// credentials. `None` when neither file has the profile.
async fn profile_source(name: &str, files: &SharedFiles) -> Result<Option<Source>, GatewayError> {
    let credentials = read_optional(files.credentials.as_ref()).await;
    let config = read_optional(files.config.as_ref()).await;
    Ok(profile_from_files(name, &credentials, &config, 0))
}

async fn read_optional(path: Option<&PathBuf>) -> String {
    match path {
        Some(p) => tokio::fs::read_to_string(p).await.unwrap_or_default(),
        None => String::new(),
    }
}

fn profile_from_files(name: &str, credentials: &str, config: &str, depth: u8) -> Option<Source> {
    // The credentials file names sections `[name]`; the config file `[profile name]`, except
    // `[default]`. Keys in the credentials file win.
    let mut settings = ini_section(config, &format!("profile {name}"));
    if name == "default" {
        settings.extend(ini_section(config, "default"));
    }
    let found_in_config = !settings.is_empty();
    let from_credentials = ini_section(credentials, name);
    let found = found_in_config || !from_credentials.is_empty();
    settings.extend(from_credentials);
    if !found {
        return None;
    }
    let get = |k: &str| {
        settings
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
        return Some(Source::Static(SigV4Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: get("aws_session_token"),
        }));
    }
    let role_arn = get("role_arn")?;
    let session_name = get("role_session_name").unwrap_or_else(|| DEFAULT_SESSION_NAME.to_owned());
    let region = get("region").unwrap_or_else(|| "us-east-1".to_owned());
    if let Some(token_file) = get("web_identity_token_file") {
        return Some(Source::WebIdentity {
            token: WebToken::File(PathBuf::from(token_file)),
            role_arn,
            session_name,
            sts_endpoint: format!("https://sts.{region}.amazonaws.com"),
        });
    }
    // A cycle of source profiles must end, not recurse forever.
    let source = get("source_profile").filter(|_| depth < 4)?;
    let base = profile_from_files(&source, credentials, config, depth + 1)?;
    Some(Source::AssumeRole {
        base: Box::new(base),
        role_arn,
        session_name,
        external_id: get("external_id"),
        sts_endpoint: format!("https://sts.{region}.amazonaws.com"),
        sts_region: region,
    })
}

/// The `key = value` pairs of `[section]` in an INI text, in order.
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = header.split_whitespace().collect::<Vec<_>>().join(" ") == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
    }
    out
}

/// An ISO 8601 UTC timestamp (`2026-12-07T08:00:00Z`, fractional seconds and `+00:00`
/// allowed) as a `SystemTime`; `None` if it is anything else (then the credentials are
/// fetched again at every use rather than trusted forever).
fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let time = time
        .strip_suffix('Z')
        .or_else(|| time.strip_suffix('z'))
        .or_else(|| time.strip_suffix("+00:00"))?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let time = time.split('.').next()?;
    let mut t = time.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_utc() {
        assert_eq!(
            parse_timestamp("1970-01-02T00:00:01Z"),
            Some(UNIX_EPOCH + Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_timestamp("2026-12-07T08:00:00.123Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_630_400))
        );
        assert_eq!(
            parse_timestamp("2024-02-29T12:00:00+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_208_000))
        );
        assert_eq!(parse_timestamp("2024-02-29 12:00:00+02:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn sts_xml_is_read_and_errors_become_authentication_failures() {
        let body = br#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser>
    <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sec</SecretAccessKey>
      <SessionToken>tok</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>
  </AssumeRoleResult></AssumeRoleResponse>"#;
        let f = parse_sts_credentials(body).unwrap();
        assert_eq!(f.creds.access_key_id, "ASIAX");
        assert_eq!(f.creds.secret_access_key, "sec");
        assert_eq!(f.creds.session_token.as_deref(), Some("tok"));
        assert_eq!(f.expires, parse_timestamp("2030-01-01T00:00:00Z"));
        assert!(parse_sts_credentials(b"<x/>").is_err());
        assert!(parse_sts_credentials(b"not xml").is_err());

        let e = sts_error(
            "AssumeRole",
            403,
            br#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>"#,
        );
        assert_eq!(e.status(), 401);
        assert_eq!(e.class(), ErrorClass::Authentication);
        assert!(
            e.to_string()
                .contains("STS AssumeRole failed (HTTP 403): AccessDenied: not allowed"),
            "{e}"
        );
        let e = sts_error("AssumeRole", 503, b"busy");
        assert_eq!(e.status(), 503);
    }

    #[test]
    fn profiles_come_from_both_files() {
        let credentials = "[default]\naws_access_key_id = AKD\naws_secret_access_key = SD\n\n[dev]\naws_access_key_id=AK1\naws_secret_access_key=S1\naws_session_token=T1\n";
        let config = "[default]\nregion = eu-west-1\n[profile cfg]\naws_access_key_id = AKC\naws_secret_access_key = SC\n[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = dev\nregion = eu-west-3\nexternal_id = ext\n[profile loop]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = loop\n";
        let keys = |s: Option<Source>| match s {
            Some(Source::Static(c)) => (c.access_key_id, c.session_token),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            keys(profile_from_files("dev", credentials, config, 0)),
            ("AK1".into(), Some("T1".into()))
        );
        assert_eq!(
            keys(profile_from_files("default", credentials, config, 0)),
            ("AKD".into(), None)
        );
        assert_eq!(
            keys(profile_from_files("cfg", credentials, config, 0)),
            ("AKC".into(), None)
        );
        match profile_from_files("role", credentials, config, 0) {
            Some(Source::AssumeRole {
                base,
                role_arn,
                external_id,
                sts_endpoint,
                ..
            }) => {
                assert_eq!(role_arn, "arn:aws:iam::1:role/r");
                assert_eq!(external_id.as_deref(), Some("ext"));
                assert_eq!(sts_endpoint, "https://sts.eu-west-3.amazonaws.com");
                assert!(matches!(*base, Source::Static(ref c) if c.access_key_id == "AK1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(profile_from_files("loop", credentials, config, 0).is_none());
        assert!(profile_from_files("missing", credentials, config, 0).is_none());
    }
}
