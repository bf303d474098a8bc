//! Who is calling. Keys are read from the headers LiteLLM reads, in LiteLLM's order; the master
//! key is compared in constant time, virtual keys are looked up by their SHA-256 in the
//! in-memory key cache ([`Accounting`]).

use std::sync::Arc;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_core::GatewayError;
use tollgate_store::KeyRow;

use crate::accounting::Accounting;

/// The caller, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// No master key is configured: the proxy is open (LiteLLM's behaviour).
    Anonymous,
    /// The master key: proxy admin.
    MasterKey,
    /// A virtual key (its stored row).
    Key(Arc<KeyRow>),
}

/// Checks presented keys.
#[derive(Debug, Clone)]
pub struct Authenticator {
    master_key: Option<String>,
    custom_header: Option<String>,
    accounting: Option<Arc<Accounting>>,
}

impl Authenticator {
    /// `master_key` from `general_settings` (or `LITELLM_MASTER_KEY`); `custom_header` is
    /// `general_settings.litellm_key_header_name`.
    pub fn new(master_key: Option<String>, custom_header: Option<String>) -> Self {
        Self {
            master_key: master_key.filter(|k| !k.is_empty()),
            custom_header: custom_header.map(|h| h.to_ascii_lowercase()),
            accounting: None,
        }
    }

    /// Accepts the virtual keys of `accounting` too.
    pub fn with_keys(mut self, accounting: Arc<Accounting>) -> Self {
        self.accounting = Some(accounting);
        self
    }

    /// `litellm_key_header_name`, lower-cased, when one is configured (pass-through must not
    /// forward it).
    pub fn key_header_name(&self) -> Option<&str> {
        self.custom_header.as_deref()
    }

    /// Whether any key is required.
    pub fn is_open(&self) -> bool {
        self.master_key.is_none()
    }

    /// Authenticates a request from its headers and query string. A virtual key missing from
    /// the cache is looked up in the database (then remembered either way).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Identity, GatewayError> {
        let Some(master) = &self.master_key else {
            return Ok(Identity::Anonymous);
        };
        let key = match self.presented_key(headers, query) {
            Presented::Missing => return Err(auth("Authentication Error, No api key passed in.")),
            Presented::Malformed => {
                return Err(auth(
                    "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix.",
                ));
            }
            Presented::Key(k) => k,
        };
        if bool::from(key.as_bytes().ct_eq(master.as_bytes())) {
            return Ok(Identity::MasterKey);
        }
        if let Some(acc) = &self.accounting {
            return virtual_key(acc, &key).await;
        }
        Err(auth(&format!(
            "Authentication Error, Invalid proxy server token passed. Received API Key = {}, Key Hash (Token) ={}. Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
            abbreviate(&key),
            hash_key(&key)
        )))
    }

    /// The stored row of the virtual key a request presented, when one exists even though it
    /// may not be used (blocked, expired): for the refused request's spend-log row. Read from
    /// the key cache only, never the database (this runs on refusals).
    pub fn presented_row(&self, headers: &HeaderMap, query: Option<&str>) -> Option<Arc<KeyRow>> {
        let acc = self.accounting.as_ref()?;
        match self.presented_key(headers, query) {
            Presented::Key(k) if k.starts_with("sk-") => acc.cached_key(&hash_key(&k)),
            _ => None,
        }
    }

    fn presented_key(&self, headers: &HeaderMap, query: Option<&str>) -> Presented {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let strip_bearer = |v: &str| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim()
                .to_owned()
        };
        if let Some(name) = &self.custom_header {
            if let Some(v) = header(name).filter(|v| !v.is_empty()) {
                return Presented::Key(strip_bearer(v));
            }
        }
        if let Some(v) = header("x-litellm-api-key").filter(|v| !v.is_empty()) {
            return Presented::Key(strip_bearer(v));
        }
        if let Some(v) = header("authorization") {
            if let Some(k) = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
            {
                let k = k.trim();
                return if k.is_empty() {
                    Presented::Malformed
                } else {
                    Presented::Key(k.to_owned())
                };
            }
            if v.strip_prefix("Basic ").is_some() || !v.is_empty() {
                // Any other scheme reads as no key; fall through to the other headers first.
                if let Some(k) = self.other_headers(headers, query) {
                    return Presented::Key(k);
                }
                return Presented::Malformed;
            }
        }
        match self.other_headers(headers, query) {
            Some(k) => Presented::Key(k),
            None => Presented::Missing,
        }
    }

    fn other_headers(&self, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
        for name in [
            "api-key",
            "x-api-key",
            "x-goog-api-key",
            "ocp-apim-subscription-key",
        ] {
            if let Some(v) = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                return Some(v.to_owned());
            }
        }
        query?
            .split('&')
            .find_map(|kv| kv.strip_prefix("key="))
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
    }
}

async fn virtual_key(acc: &Accounting, key: &str) -> Result<Identity, GatewayError> {
    if !key.starts_with("sk-") {
        return Err(auth(&format!(
            "Authentication Error, LiteLLM Virtual Key expected. Received={}, expected to start with 'sk-'.",
            abbreviate(key)
        )));
    }
    let hash = hash_key(key);
    let Some(row) = acc.key(&hash).await else {
        return Err(auth(&format!(
            "Authentication Error, Invalid proxy server token passed. Received API Key = {}, Key Hash (Token) ={hash}. Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
            abbreviate(key)
        )));
    };
    if row.blocked == Some(true) {
        return Err(auth(
            "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin.",
        ));
    }
    if let Some(expires) = row.expires {
        let now = acc.now();
        if expires < now {
            return Err(GatewayError::Denied {
                status: 401,
                error_type: "expired_key".into(),
                message: format!(
                    "Authentication Error - Expired Key. Key Expiry time {expires} and current time {now}"
                ),
                param: Some(abbreviate(key)),
                retry_after: None,
            });
        }
    }
    Ok(Identity::Key(row))
}

enum Presented {
    Missing,
    Malformed,
    Key(String),
}

fn auth(message: &str) -> GatewayError {
    GatewayError::Authentication {
        message: message.to_owned(),
    }
}

/// LiteLLM stores and logs keys as the hex SHA-256 of the whole key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new virtual key: `sk-` and 22 URL-safe characters from 128 random bits (LiteLLM's
/// `secrets.token_urlsafe(16)`).
pub fn new_key() -> String {
    use base64::Engine;
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut random = [0u8; 16];
    // v4 UUIDs fix 6 bits; a second one supplies full-entropy bytes for those positions.
    let other = uuid::Uuid::new_v4().into_bytes();
    for (i, b) in random.iter_mut().enumerate() {
        *b = bytes[i] ^ other[15 - i];
    }
    format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
}

/// `sk-...abcd`: enough to recognise a key, not to use it.
pub fn abbreviate(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if key.chars().count() <= 8 {
        "****".to_owned()
    } else {
        format!("sk-...{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[tokio::test]
    async fn every_litellm_key_header_is_accepted() {
        let a = Authenticator::new(Some("sk-master".into()), Some("X-My-Key".into()));
        for h in [
            headers(&[("authorization", "Bearer sk-master")]),
            headers(&[("x-litellm-api-key", "sk-master")]),
            headers(&[("x-litellm-api-key", "Bearer sk-master")]),
            headers(&[("api-key", "sk-master")]),
            headers(&[("x-api-key", "sk-master")]),
            headers(&[("x-goog-api-key", "sk-master")]),
            headers(&[("x-my-key", "sk-master")]),
        ] {
            assert_eq!(
                a.authenticate(&h, None).await.unwrap(),
                Identity::MasterKey,
                "{h:?}"
            );
        }
        assert_eq!(
            a.authenticate(&HeaderMap::new(), Some("alt=sse&key=sk-master"))
                .await
                .unwrap(),
            Identity::MasterKey
        );
    }

    #[tokio::test]
    async fn precedence_follows_litellm() {
        let a = Authenticator::new(Some("sk-master".into()), None);
        // x-litellm-api-key wins over Authorization (which may carry a provider key).
        let h = headers(&[
            ("x-litellm-api-key", "sk-master"),
            ("authorization", "Bearer sk-provider"),
        ]);
        assert!(a.authenticate(&h, None).await.is_ok());
        let h = headers(&[
            ("authorization", "Bearer sk-wrong"),
            ("x-api-key", "sk-master"),
        ]);
        assert!(a.authenticate(&h, None).await.is_err());
    }

    #[tokio::test]
    async fn failures_have_litellm_messages_and_hide_the_key() {
        let a = Authenticator::new(Some("sk-master".into()), None);
        let e = a.authenticate(&HeaderMap::new(), None).await.unwrap_err();
        assert_eq!(e.status(), 401);
        assert_eq!(e.to_string(), "Authentication Error, No api key passed in.");
        let e = a
            .authenticate(
                &headers(&[("authorization", "Bearer sk-abcdefgh1234")]),
                None,
            )
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("Invalid proxy server token passed") && msg.contains("sk-...1234"),
            "{msg}"
        );
        assert!(!msg.contains("sk-abcdefgh1234"));
        let e = a
            .authenticate(&headers(&[("authorization", "Token x")]), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("Malformed API Key"));
        assert_eq!(e.to_body().error.error_type.as_deref(), Some("auth_error"));
    }

    #[tokio::test]
    async fn no_master_key_means_open() {
        let a = Authenticator::new(None, None);
        assert_eq!(
            a.authenticate(&HeaderMap::new(), None).await.unwrap(),
            Identity::Anonymous
        );
    }
}
