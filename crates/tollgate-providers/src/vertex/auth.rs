//! Google OAuth access tokens for Vertex AI: the one part of this provider that needs the clock
//! and the network, used only from [`super::VertexAdapter::authorize`].
//!
//! Credentials are what LiteLLM (through google-auth) accepts: a service-account key (a JWT
//! signed locally with its RS256 key is exchanged at its `token_uri` for an access token, the
//! `jwt-bearer` grant), a gcloud user credentials file (`authorized_user`, the `refresh_token`
//! grant), or, when nothing is configured, gcloud's application-default file and then the
//! GCE/GKE/Cloud Run metadata server. Tokens are cached per credential source for the whole
//! process (adapters for wildcard deployments are built per request, so a per-adapter cache
//! would mint a token per call) and refreshed five minutes before they expire.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::{GatewayError, UpstreamError};

use super::PROVIDER_NAME;
use crate::transport::{HttpClient, UpstreamRequest};

/// The OAuth scope Vertex AI needs (LiteLLM asks for the same).
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for credentials that do not name one.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The metadata server's name inside Google Cloud (`GCE_METADATA_HOST` overrides it).
const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";
/// How long before expiry a cached token is replaced: a request signed with it still has
/// minutes of validity left when it reaches Google, even after retries.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Lifetime asked for in the signed assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// Upper bound for one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a token is kept, whatever its response claims.
const MAX_CACHED_SECS: u64 = 24 * 3600;
/// Assumed lifetime of a token whose response gives none.
const DEFAULT_EXPIRES_IN: u64 = 3600;
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Where the credentials come from, resolved from configuration alone (no I/O).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum CredentialSource {
    /// The credentials JSON itself (`vertex_credentials` or `VERTEXAI_CREDENTIALS` as text).
    Json(String),
    /// A credentials file (`vertex_credentials`, `VERTEXAI_CREDENTIALS` or
    /// `GOOGLE_APPLICATION_CREDENTIALS` as a path).
    File(PathBuf),
    /// Nothing configured: gcloud's application-default credentials file if it exists, else
    /// the metadata server.
    Default {
        adc_file: Option<PathBuf>,
        metadata_host: String,
    },
}

// The JSON form holds a private key: never print it.
impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(_) => f.write_str("Json(..)"),
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::Default {
                adc_file,
                metadata_host,
            } => write!(f, "Default({adc_file:?}, {metadata_host})"),
        }
    }
}

impl CredentialSource {
    /// `vertex_credentials` or `VERTEXAI_CREDENTIALS` (a path, or JSON when it starts with
    /// `{`), else `GOOGLE_APPLICATION_CREDENTIALS` (a path), else the defaults.
    pub(crate) fn resolve(
        explicit: Option<String>,
        adc_path: Option<String>,
        gcloud_config_dir: Option<PathBuf>,
        metadata_host: Option<String>,
    ) -> Self {
        if let Some(value) = explicit.filter(|v| !v.trim().is_empty()) {
            return if value.trim_start().starts_with('{') {
                Self::Json(value)
            } else {
                Self::File(PathBuf::from(value.trim()))
            };
        }
        if let Some(path) = adc_path.filter(|p| !p.trim().is_empty()) {
            return Self::File(PathBuf::from(path.trim()));
        }
        Self::Default {
            adc_file: gcloud_config_dir.map(|d| d.join("application_default_credentials.json")),
            metadata_host: metadata_host
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_METADATA_HOST.to_owned()),
        }
    }

    /// What the source is, for error messages (never the JSON text).
    fn describe(&self) -> String {
        match self {
            Self::Json(_) => "the Vertex AI credentials JSON".to_owned(),
            Self::File(p) => format!("the credentials file {}", p.display()),
            Self::Default { adc_file, .. } => match adc_file {
                Some(p) => format!("the application-default credentials file {}", p.display()),
                None => "the application-default credentials".to_owned(),
            },
        }
    }
}

/// Parsed Google credentials.
pub(crate) enum GoogleCredentials {
    /// A service-account key.
    ServiceAccount(ServiceAccount),
    /// gcloud user credentials (`gcloud auth application-default login`).
    AuthorizedUser(AuthorizedUser),
}

/// A service-account key: enough to sign the JWT assertion.
pub(crate) struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: Option<String>,
    pub key: EncodingKey,
    pub token_uri: String,
    pub project_id: Option<String>,
}

/// gcloud user credentials: a refresh token and the OAuth client that issued it.
pub(crate) struct AuthorizedUser {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub token_uri: String,
    pub quota_project_id: Option<String>,
}

impl GoogleCredentials {
    /// Parses a credentials JSON document.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            client_email: Option<String>,
            #[serde(default)]
            private_key: Option<String>,
            #[serde(default)]
            private_key_id: Option<String>,
            #[serde(default)]
            token_uri: Option<String>,
            #[serde(default)]
            project_id: Option<String>,
            #[serde(default)]
            client_id: Option<String>,
            #[serde(default)]
            client_secret: Option<String>,
            #[serde(default)]
            refresh_token: Option<String>,
            #[serde(default)]
            quota_project_id: Option<String>,
        }
        // serde's message would quote the offending input, which may be the private key.
        let raw: Raw = serde_json::from_str(text).map_err(|e| {
            format!(
                "it is not a valid credentials JSON document (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let token_uri = non_empty(raw.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
        match raw.kind.as_deref() {
            Some("service_account") => {
                let client_email = non_empty(raw.client_email)
                    .ok_or("the service account has no client_email")?;
                let pem = non_empty(raw.private_key).ok_or("the service account has no private_key")?;
                let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    format!("the service account's private_key is not an RSA key in PEM form ({e})")
                })?;
                Ok(Self::ServiceAccount(ServiceAccount {
                    client_email,
                    private_key_id: non_empty(raw.private_key_id),
                    key,
                    token_uri,
                    project_id: non_empty(raw.project_id),
                }))
            }
            Some("authorized_user") => Ok(Self::AuthorizedUser(AuthorizedUser {
                client_id: non_empty(raw.client_id).ok_or("the user credentials have no client_id")?,
                client_secret: non_empty(raw.client_secret)
                    .ok_or("the user credentials have no client_secret")?,
                refresh_token: non_empty(raw.refresh_token)
                    .ok_or("the user credentials have no refresh_token")?,
                token_uri,
                quota_project_id: non_empty(raw.quota_project_id),
            })),
            Some(other) => Err(format!(
                "credentials of type {other:?} are not supported; use a service-account key (type \"service_account\") or gcloud user credentials (type \"authorized_user\")"
            )),
            None => Err("the document has no \"type\" (expected \"service_account\" or \"authorized_user\")".to_owned()),
        }
    }

    /// The project the credentials belong to, if they say.
    pub(crate) fn project_id(&self) -> Option<&str> {
        match self {
            Self::ServiceAccount(sa) => sa.project_id.as_deref(),
            Self::AuthorizedUser(_) => None,
        }
    }
}

/// An access token and when to stop using it.
#[derive(Clone)]
struct CachedToken {
    value: String,
    /// The project billed for user credentials (`x-goog-user-project`).
    quota_project: Option<String>,
    refresh_at: Instant,
}

/// What `authorize` adds to a request.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AccessToken {
    pub value: String,
    pub quota_project: Option<String>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"..")
            .field("quota_project", &self.quota_project)
            .finish()
    }
}

/// One credential source with its parsed credentials and cached token, shared by every
/// adapter that uses the same source.
pub(crate) struct TokenSource {
    source: CredentialSource,
    /// Loaded on first use; failures are not kept, so a file put in place later is picked up.
    credentials: Mutex<Option<Arc<GoogleCredentials>>>,
    /// Held across a refresh, so concurrent calls wait for one token request instead of
    /// each making their own.
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// The process-wide token source for `source`.
    pub(crate) fn shared(source: CredentialSource) -> Arc<Self> {
        static REGISTRY: OnceLock<Mutex<HashMap<CredentialSource, Arc<TokenSource>>>> =
            OnceLock::new();
        let registry = REGISTRY.get_or_init(Mutex::default);
        let mut map = registry.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(source.clone())
            .or_insert_with(|| {
                Arc::new(Self {
                    source,
                    credentials: Mutex::new(None),
                    token: tokio::sync::Mutex::new(None),
                })
            })
            .clone()
    }

    /// The parsed credentials, reading the file the first time; `None` when nothing is
    /// configured and gcloud's default file does not exist (the metadata server then).
    pub(crate) fn credentials(&self) -> Result<Option<Arc<GoogleCredentials>>, GatewayError> {
        let mut slot = self
            .credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(Some(c.clone()));
        }
        let text = match &self.source {
            CredentialSource::Json(text) => text.clone(),
            CredentialSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                credentials_error(format!(
                    "cannot read the Vertex AI credentials file {}: {e}",
                    path.display()
                ))
            })?,
            CredentialSource::Default { adc_file, .. } => {
                match adc_file.as_ref().map(std::fs::read_to_string) {
                    Some(Ok(text)) => text,
                    Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(credentials_error(format!(
                            "cannot read {}: {e}",
                            self.source.describe()
                        )));
                    }
                    _ => return Ok(None),
                }
            }
        };
        let parsed = GoogleCredentials::parse(&text).map_err(|why| {
            credentials_error(format!(
                "cannot use {} for Vertex AI: {why}",
                self.source.describe()
            ))
        })?;
        let parsed = Arc::new(parsed);
        *slot = Some(parsed.clone());
        Ok(Some(parsed))
    }

    /// A valid access token: the cached one while it has more than [`REFRESH_MARGIN`] left,
    /// else a new one from Google.
    pub(crate) async fn access_token(
        &self,
        http: &HttpClient,
    ) -> Result<AccessToken, GatewayError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(AccessToken {
                value: t.value.clone(),
                quota_project: t.quota_project.clone(),
            });
        }
        // Measured before the request: the token's lifetime starts no later than this.
        let requested_at = Instant::now();
        let credentials = self.credentials()?;
        let from_metadata = credentials.is_none();
        let (request, endpoint, quota_project) = match credentials.as_deref() {
            Some(creds) => match creds {
                GoogleCredentials::ServiceAccount(sa) => (
                    jwt_bearer_request(sa, unix_now())?,
                    sa.token_uri.clone(),
                    None,
                ),
                GoogleCredentials::AuthorizedUser(user) => (
                    refresh_token_request(user),
                    user.token_uri.clone(),
                    user.quota_project_id.clone(),
                ),
            },
            None => {
                let CredentialSource::Default { metadata_host, .. } = &self.source else {
                    return Err(GatewayError::Internal(
                        "configured Vertex AI credentials were not loaded".into(),
                    ));
                };
                let request = metadata_request(metadata_host);
                let endpoint = request.url.clone();
                (request, endpoint, None)
            }
        };
        let (value, expires_in) = fetch(http, request, &endpoint, from_metadata).await?;
        // An absurd lifetime is capped rather than trusted (and cannot overflow the clock).
        let lifetime = Duration::from_secs(expires_in.min(MAX_CACHED_SECS));
        let token = CachedToken {
            value: value.clone(),
            quota_project: quota_project.clone(),
            refresh_at: requested_at + lifetime.saturating_sub(REFRESH_MARGIN),
        };
        *cached = Some(token);
        Ok(AccessToken {
            value,
            quota_project,
        })
    }
}

/// The claims of the service-account assertion.
#[derive(Debug, Serialize)]
pub(crate) struct AssertionClaims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// The signed JWT a service account trades for an access token, issued at `now`.
pub(crate) fn assertion(sa: &ServiceAccount, now: u64) -> Result<String, GatewayError> {
    // The crate picks its RSA backend from features; installing it explicitly keeps signing
    // working even if feature unification elsewhere enables a second backend. Failing means a
    // provider is installed already, which is as good.
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    );
    let mut header = Header::new(Algorithm::RS256);
    header.kid = sa.private_key_id.clone();
    let claims = AssertionClaims {
        iss: sa.client_email.clone(),
        scope: SCOPE.to_owned(),
        aud: sa.token_uri.clone(),
        iat: now,
        exp: now + ASSERTION_LIFETIME_SECS,
    };
    jsonwebtoken::encode(&header, &claims, &sa.key).map_err(|e| {
        credentials_error(format!(
            "cannot sign the token request for {}: {e}",
            sa.client_email
        ))
    })
}

fn jwt_bearer_request(sa: &ServiceAccount, now: u64) -> Result<UpstreamRequest, GatewayError> {
    let jwt = assertion(sa, now)?;
    let body = form_encode(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &jwt)]);
    Ok(form_post(&sa.token_uri, body))
}

fn refresh_token_request(user: &AuthorizedUser) -> UpstreamRequest {
    let body = form_encode(&[
        ("grant_type", "refresh_token"),
        ("client_id", &user.client_id),
        ("client_secret", &user.client_secret),
        ("refresh_token", &user.refresh_token),
    ]);
    form_post(&user.token_uri, body)
}

fn form_post(url: &str, body: String) -> UpstreamRequest {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    UpstreamRequest {
        method: Method::POST,
        url: url.to_owned(),
        headers,
        body: Bytes::from(body),
    }
}

/// The default service account's token from the metadata server.
fn metadata_request(host: &str) -> UpstreamRequest {
    let host = host.trim().trim_end_matches('/');
    let base = if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert("metadata-flavor", HeaderValue::from_static("Google"));
    UpstreamRequest {
        method: Method::GET,
        url: format!(
            "{base}/computeMetadata/v1/instance/service-accounts/default/token?{}",
            form_encode(&[("scopes", SCOPE)])
        ),
        headers,
        body: Bytes::new(),
    }
}

/// Sends a token request and reads `access_token` and `expires_in` from the answer.
async fn fetch(
    http: &HttpClient,
    request: UpstreamRequest,
    endpoint: &str,
    from_metadata: bool,
) -> Result<(String, u64), GatewayError> {
    let response = match http.send(request, TOKEN_TIMEOUT, PROVIDER_NAME).await {
        Ok(r) => r,
        // Nothing configured and not on Google Cloud: say what to configure.
        Err(GatewayError::Connection { message, .. }) if from_metadata => {
            return Err(credentials_error(format!(
                "no Google credentials found: set vertex_credentials, VERTEXAI_CREDENTIALS or GOOGLE_APPLICATION_CREDENTIALS (the metadata server at {endpoint} could not be reached: {message})"
            )));
        }
        Err(e) => return Err(e),
    };
    let status = response.status.as_u16();
    let body = response.bytes(TOKEN_TIMEOUT, PROVIDER_NAME).await?;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if !(200..300).contains(&status) {
        let detail = parsed
            .as_ref()
            .and_then(|v| {
                let error = v.get("error").and_then(Value::as_str)?;
                Some(match v.get("error_description").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("{error}: {d}"),
                    _ => error.to_owned(),
                })
            })
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&body).trim().to_owned();
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    text
                }
            });
        let message = format!("could not get a Google access token from {endpoint}: {detail}");
        // A refused grant (bad key, revoked user, wrong audience) is the deployment's
        // credentials being wrong: a 401. Google's own failures keep their status.
        let status = if (400..500).contains(&status) && status != 429 {
            401
        } else {
            status
        };
        return Err(GatewayError::Upstream(Box::new(UpstreamError::new(
            status,
            PROVIDER_NAME,
            message,
        ))));
    }
    let invalid = |what: &str| GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message: format!("the token endpoint {endpoint} answered without {what}"),
    };
    let v = parsed.ok_or_else(|| invalid("a JSON body"))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("an access_token"))?
        .to_owned();
    let expires_in = v
        .get("expires_in")
        .and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))
        .unwrap_or(DEFAULT_EXPIRES_IN);
    Ok((token, expires_in))
}

/// A 401 naming the credentials problem (the deployment's, not the client's).
fn credentials_error(message: String) -> GatewayError {
    GatewayError::Upstream(Box::new(UpstreamError::new(401, PROVIDER_NAME, message)))
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones escaped.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode(k, &mut out);
        out.push('=');
        percent_encode(v, &mut out);
    }
    out
}

fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Seconds since the Unix epoch, for the assertion's `iat`.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_in_litellm_order() {
        let s = CredentialSource::resolve(
            Some(" {\"type\":\"service_account\"}".into()),
            Some("/adc.json".into()),
            None,
            None,
        );
        assert!(matches!(s, CredentialSource::Json(_)));
        let s = CredentialSource::resolve(
            Some("/sa.json".into()),
            Some("/adc.json".into()),
            None,
            None,
        );
        assert_eq!(s, CredentialSource::File("/sa.json".into()));
        let s = CredentialSource::resolve(Some("  ".into()), Some("/adc.json".into()), None, None);
        assert_eq!(s, CredentialSource::File("/adc.json".into()));
        let s = CredentialSource::resolve(None, None, Some("/home/u/.config/gcloud".into()), None);
        assert_eq!(
            s,
            CredentialSource::Default {
                adc_file: Some(
                    "/home/u/.config/gcloud/application_default_credentials.json".into()
                ),
                metadata_host: "metadata.google.internal".into(),
            }
        );
        // The JSON text (a private key) never shows in Debug output.
        let s = CredentialSource::Json("{\"private_key\":\"secret\"}".into());
        assert!(!format!("{s:?}").contains("secret"));
    }

    #[test]
    fn unsupported_and_broken_credentials_are_explained() {
        let e = GoogleCredentials::parse(r#"{"type":"external_account"}"#)
            .err()
            .unwrap();
        assert!(e.contains("external_account"), "{e}");
        let e = GoogleCredentials::parse(r#"{"client_email":"x"}"#)
            .err()
            .unwrap();
        assert!(e.contains("no \"type\""), "{e}");
        let e = GoogleCredentials::parse(
            r#"{"type":"service_account","client_email":"a@b","private_key":"not a key"}"#,
        )
        .err()
        .unwrap();
        assert!(e.contains("not an RSA key"), "{e}");
        let e = GoogleCredentials::parse("{\"private_key\": \"-----BEGIN")
            .err()
            .unwrap();
        assert!(!e.contains("BEGIN"), "the key must not be echoed: {e}");
        let user = GoogleCredentials::parse(
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"1//r","quota_project_id":"q"}"#,
        )
        .unwrap();
        match user {
            GoogleCredentials::AuthorizedUser(u) => {
                assert_eq!(u.token_uri, DEFAULT_TOKEN_URI);
                assert_eq!(u.quota_project_id.as_deref(), Some("q"));
            }
            GoogleCredentials::ServiceAccount(_) => panic!("wrong kind"),
        }
    }

    #[test]
    fn forms_escape_everything_but_unreserved_bytes() {
        assert_eq!(
            form_encode(&[("grant_type", JWT_BEARER_GRANT), ("a b", "1//x+y=z~.-_")]),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&a%20b=1%2F%2Fx%2By%3Dz~.-_"
        );
    }

    #[test]
    fn metadata_requests_ask_for_the_cloud_platform_scope() {
        let r = metadata_request("169.254.169.254");
        assert_eq!(r.method, Method::GET);
        assert_eq!(
            r.url,
            "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
        );
        assert_eq!(r.headers["metadata-flavor"], "Google");
        let r = metadata_request("http://127.0.0.1:9/");
        assert!(r.url.starts_with("http://127.0.0.1:9/computeMetadata/"));
    }
}
