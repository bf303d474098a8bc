//! Azure credentials: which one a deployment uses, and Entra ID (Azure AD) client-credentials
//! tokens, the one Azure credential that needs the network and the clock. Tokens are fetched
//! in [`crate::Adapter::authorize`], cached per deployment and refreshed five minutes before
//! they expire.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tollgate_core::{ErrorClass, GatewayError, UpstreamError};

use crate::transport::{HttpClient, UpstreamRequest};

/// Where Entra ID issues tokens when neither the deployment nor `AZURE_AUTHORITY_HOST` says.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The scope Azure OpenAI and Foundry accept, unless `azure_scope` / `AZURE_SCOPE` say otherwise.
pub const DEFAULT_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// A token is replaced this long before it expires, so no request leaves with one about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The token endpoint answers in milliseconds; a stuck one must not hold every request forever.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How a deployment proves who it is.
#[derive(Clone)]
pub(crate) enum Credential {
    /// `api-key: <key>` (Azure OpenAI deployment URLs, Foundry hosts).
    ApiKey(String),
    /// `Authorization: Bearer <token>` (the `/openai/v1` route, other hosts, static AD tokens).
    Bearer(String),
    /// Entra ID tokens minted from a tenant, client id and secret.
    ClientCredentials(ClientCredentials),
    /// The operator sends credentials in `extra_headers` (a gateway in front of Azure).
    FromExtraHeaders,
}

impl fmt::Debug for Credential {
    // Never print a key or token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ApiKey(_) => f.write_str("ApiKey(..)"),
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::ClientCredentials(c) => f.debug_tuple("ClientCredentials").field(c).finish(),
            Self::FromExtraHeaders => f.write_str("FromExtraHeaders"),
        }
    }
}

/// Entra ID client-credentials flow for one deployment. Clones share the cached token, so
/// every request a deployment serves reuses it.
#[derive(Clone)]
pub(crate) struct ClientCredentials {
    token_url: String,
    /// The form body, secret included.
    form: Bytes,
    provider: &'static str,
    cache: Arc<Mutex<Option<CachedToken>>>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

struct CachedToken {
    header: HeaderValue,
    refresh_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; a number from the v2 endpoint, a string from some older ones.
    #[serde(default)]
    expires_in: Option<Value>,
}

impl ClientCredentials {
    /// The flow against `{authority_host}/{tenant}/oauth2/v2.0/token`.
    pub(crate) fn new(
        authority_host: &str,
        tenant: &str,
        client_id: &str,
        client_secret: &str,
        scope: &str,
        provider: &'static str,
    ) -> Result<Self, GatewayError> {
        Self::with_form(
            authority_host,
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("scope", scope),
            ],
            provider,
        )
    }

    /// The resource-owner password grant (`azure_username` / `azure_password` with a
    /// public client id), as azure-identity's `UsernamePasswordCredential` does; the tenant
    /// defaults to `organizations` (any work or school account).
    pub(crate) fn password(
        authority_host: &str,
        tenant: Option<&str>,
        client_id: &str,
        username: &str,
        password: &str,
        scope: &str,
        provider: &'static str,
    ) -> Result<Self, GatewayError> {
        Self::with_form(
            authority_host,
            tenant.unwrap_or("organizations"),
            &[
                ("grant_type", "password"),
                ("client_id", client_id),
                ("username", username),
                ("password", password),
                ("scope", scope),
            ],
            provider,
        )
    }

    fn with_form(
        authority_host: &str,
        tenant: &str,
        form: &[(&str, &str)],
        provider: &'static str,
    ) -> Result<Self, GatewayError> {
        // The tenant becomes a path segment: a GUID or a domain name, nothing to escape.
        if tenant.is_empty()
            || !tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(GatewayError::invalid_request(
                format!("tenant_id {tenant:?} is not an Entra ID tenant (a GUID or a domain)"),
                Some("tenant_id".into()),
            ));
        }
        let host = authority_host.trim().trim_end_matches('/');
        let host = if host.contains("://") {
            host.to_owned()
        } else {
            format!("https://{host}")
        };
        Ok(Self {
            token_url: format!("{host}/{tenant}/oauth2/v2.0/token"),
            form: Bytes::from(form_encode(form)),
            provider,
            cache: Arc::new(Mutex::new(None)),
        })
    }

    /// The `Authorization` value to send: the cached token while it has more than five minutes
    /// left, else a fresh one. The lock is held during a fetch, so concurrent requests wait for
    /// one token instead of each asking for their own.
    pub(crate) async fn authorization(
        &self,
        http: &HttpClient,
    ) -> Result<HeaderValue, GatewayError> {
        let mut cached = self.cache.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.refresh_at {
                return Ok(token.header.clone());
            }
        }
        let fresh = self.fetch(http).await?;
        let header = fresh.header.clone();
        *cached = Some(fresh);
        Ok(header)
    }

    async fn fetch(&self, http: &HttpClient) -> Result<CachedToken, GatewayError> {
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let request = UpstreamRequest {
            method: Method::POST,
            url: self.token_url.clone(),
            headers,
            body: self.form.clone(),
        };
        // Lifetimes count from the request, not the answer: never later than the real expiry.
        let asked_at = Instant::now();
        let response = http.send(request, TOKEN_TIMEOUT, self.provider).await?;
        let status = response.status.as_u16();
        let body = response.bytes(TOKEN_TIMEOUT, self.provider).await?;
        if !(200..300).contains(&status) {
            return Err(token_error(self.provider, status, &body));
        }
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| GatewayError::InvalidUpstreamResponse {
                provider: self.provider.to_owned(),
                message: format!("the Azure AD token response is not a token: {e}"),
            })?;
        let lifetime = Duration::from_secs(token.expires_in.as_ref().map_or(0, seconds));
        let mut header =
            HeaderValue::from_str(&format!("Bearer {}", token.access_token)).map_err(|_| {
                GatewayError::InvalidUpstreamResponse {
                    provider: self.provider.to_owned(),
                    message: "the Azure AD access token has characters HTTP does not allow".into(),
                }
            })?;
        header.set_sensitive(true);
        Ok(CachedToken {
            header,
            refresh_at: asked_at + lifetime.saturating_sub(REFRESH_MARGIN),
        })
    }
}

fn seconds(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// A refused token request. Entra ID answers bad credentials with 400/401
/// (`{"error":"invalid_client","error_description":"AADSTS7000215: ..."}`): to the client that
/// is an authentication failure of the deployment, not a bad request of theirs. Throttling and
/// outages keep their status so routers retry them.
fn token_error(provider: &'static str, status: u16, body: &[u8]) -> GatewayError {
    let detail = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            match (text("error"), text("error_description")) {
                // The description continues with trace and correlation ids on further lines.
                (Some(e), Some(d)) => format!("{e}: {}", d.lines().next().unwrap_or_default()),
                (Some(e), None) => e,
                (None, Some(d)) => d,
                (None, None) => v.to_string(),
            }
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    };
    let message = format!("Azure AD token request failed (HTTP {status}): {detail}");
    let mut e = UpstreamError::new(status, provider, message);
    if matches!(status, 400 | 401 | 403) {
        e.status = 401;
        e.class = ErrorClass::Authentication;
    }
    GatewayError::Upstream(Box::new(e))
}

/// `application/x-www-form-urlencoded` (the WHATWG serializer's byte set).
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_encoded(&mut out, k);
        out.push('=');
        push_encoded(&mut out, v);
    }
    out
}

/// Percent-encodes `s` onto `out`, spaces as `+`.
pub(crate) fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_escape_what_the_spec_says() {
        assert_eq!(
            form_encode(&[("scope", "https://x/.default"), ("s", "a b+c&d=é~")]),
            "scope=https%3A%2F%2Fx%2F.default&s=a+b%2Bc%26d%3D%C3%A9%7E"
        );
    }

    #[test]
    fn token_url_and_tenant_validation() {
        let c = ClientCredentials::new(
            "login.example.test/",
            "contoso.onmicrosoft.com",
            "id",
            "secret",
            DEFAULT_SCOPE,
            "Azure",
        )
        .unwrap();
        assert_eq!(
            c.token_url,
            "https://login.example.test/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert!(!format!("{c:?}").contains("secret"));
        assert!(!format!("{:?}", Credential::ApiKey("k3y".into())).contains("k3y"));
        let err = ClientCredentials::new(DEFAULT_AUTHORITY_HOST, "a/b", "i", "s", "x", "Azure")
            .unwrap_err();
        assert!(err.to_string().contains("tenant_id"), "{err}");
    }

    #[test]
    fn the_password_grant_posts_the_user_and_defaults_the_tenant() {
        let c = ClientCredentials::password(
            DEFAULT_AUTHORITY_HOST,
            None,
            "public-app",
            "me@contoso.com",
            "p&ss word",
            DEFAULT_SCOPE,
            "Azure",
        )
        .unwrap();
        assert_eq!(
            c.token_url,
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
        );
        assert_eq!(
            c.form,
            "grant_type=password&client_id=public-app&username=me%40contoso.com&password=p%26ss+word&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
        );
        assert!(!format!("{c:?}").contains("p&ss"));
        let c = ClientCredentials::password("h", Some("t1"), "a", "u", "p", "s", "Azure").unwrap();
        assert_eq!(c.token_url, "https://h/t1/oauth2/v2.0/token");
    }

    #[test]
    fn refused_token_requests_are_authentication_errors_and_outages_stay_retryable() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1","error_codes":[7000215]}"#;
        let e = token_error("Azure", 400, body);
        assert_eq!(e.status(), 401);
        assert_eq!(e.class(), ErrorClass::Authentication);
        assert_eq!(
            e.to_string(),
            "litellm.AuthenticationError: AzureException - Azure AD token request failed (HTTP 400): invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        let e = token_error("Azure", 503, b"busy");
        assert_eq!(e.status(), 503);
        assert!(e.class().is_retryable());
    }

    #[test]
    fn lifetimes_come_as_numbers_or_strings() {
        assert_eq!(seconds(&serde_json::json!(3599)), 3599);
        assert_eq!(seconds(&serde_json::json!("3599")), 3599);
        assert_eq!(seconds(&serde_json::json!(null)), 0);
    }
}
