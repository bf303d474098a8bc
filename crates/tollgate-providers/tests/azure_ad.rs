//! Entra ID (Azure AD) client-credentials tokens for Azure deployments, against a tiny token
//! server on 127.0.0.1 (no network): the form we post, the `Authorization` header
//! `Adapter::authorize` adds, the per-deployment cache shared by clones, refresh five minutes
//! before expiry, one fetch for concurrent requests, and refused or failing token requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate_core::{ChatCompletionRequest, ChatMessage, Env, ErrorClass, ModelRef};
use tollgate_providers::{
    Adapter, CallOptions, HttpClient, ProviderParams, TransportOptions, UpstreamRequest,
};

/// One request the token server saw.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    content_type: String,
    body: String,
}

/// A token endpoint answering the n-th request (from 0) with `respond(n)`.
struct TokenServer {
    url: String,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TokenServer {
    async fn start(respond: fn(usize) -> (u16, String), delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (h, s) = (hits.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let (h, s) = (h.clone(), s.clone());
                tokio::spawn(async move {
                    let Some(seen) = read_request(&mut conn).await else {
                        return;
                    };
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    s.lock().unwrap().push(seen);
                    tokio::time::sleep(delay).await;
                    let (status, body) = respond(n);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        Self { url, hits, seen }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        request_line: head.lines().next().unwrap_or_default().to_owned(),
        content_type: header("content-type"),
        body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
    })
}

fn token(n: usize, expires_in: u64) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"token_type":"Bearer","expires_in":{expires_in},"ext_expires_in":{expires_in},"access_token":"tok-{n}"}}"#
        ),
    )
}

fn adapter(authority: &str, model: &str) -> Adapter {
    let base = if model.starts_with("azure_ai/") {
        "https://r.services.ai.azure.com"
    } else {
        "https://r.openai.azure.com"
    };
    let params = ProviderParams {
        api_base: Some(base.into()),
        tenant_id: Some("contoso.onmicrosoft.com".into()),
        client_id: Some("app-id".into()),
        client_secret: Some("s&cret=1".into()),
        azure_authority_host: Some(authority.into()),
        ..ProviderParams::default()
    };
    Adapter::new(
        &ModelRef::parse(model, None).unwrap(),
        &params,
        &Env::with_overlay(HashMap::new()),
    )
    .unwrap()
}

fn http() -> HttpClient {
    HttpClient::new(&TransportOptions::default()).unwrap()
}

fn chat(a: &Adapter) -> UpstreamRequest {
    let req = ChatCompletionRequest::new("alias", vec![ChatMessage::user("hi")]);
    a.chat_request(&req, CallOptions::default()).unwrap()
}

async fn bearer(a: &Adapter, http: &HttpClient) -> String {
    let mut r = chat(a);
    a.authorize(http, &mut r).await.unwrap();
    let value = &r.headers["authorization"];
    assert!(value.is_sensitive());
    value.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_token_is_minted_once_and_shared_by_every_clone_of_the_deployment() {
    let server = TokenServer::start(|n| token(n, 3599), Duration::ZERO).await;
    let a = adapter(&server.url, "azure/gpt-4o");
    let http = http();

    // Translation stays pure: no credential until authorize.
    let r = chat(&a);
    assert!(r.headers.get("authorization").is_none());
    assert!(r.headers.get("api-key").is_none());

    assert_eq!(bearer(&a, &http).await, "Bearer tok-0");
    // The engine clones the built adapter per call; the clones share the cache.
    assert_eq!(bearer(&a.clone(), &http).await, "Bearer tok-0");
    let mut e = a
        .embeddings_request(&tollgate_core::EmbeddingsRequest::new(
            "alias",
            vec!["x".into()],
        ))
        .unwrap();
    a.authorize(&http, &mut e).await.unwrap();
    assert_eq!(e.headers["authorization"], "Bearer tok-0");
    assert_eq!(server.hits(), 1);

    let seen = server.seen();
    assert_eq!(
        seen[0].request_line,
        "POST /contoso.onmicrosoft.com/oauth2/v2.0/token HTTP/1.1"
    );
    assert_eq!(seen[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        seen[0].body,
        "grant_type=client_credentials&client_id=app-id&client_secret=s%26cret%3D1&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
    );
}

#[tokio::test]
async fn tokens_are_replaced_five_minutes_before_they_expire() {
    // 200 s left is inside the margin: every request needs a fresh token.
    let server = TokenServer::start(|n| token(n, 200), Duration::ZERO).await;
    let a = adapter(&server.url, "azure/gpt-4o");
    let http = http();
    assert_eq!(bearer(&a, &http).await, "Bearer tok-0");
    assert_eq!(bearer(&a, &http).await, "Bearer tok-1");
    assert_eq!(server.hits(), 2);

    // 301 s is good for one more second.
    let server = TokenServer::start(|n| token(n, 301), Duration::ZERO).await;
    let a = adapter(&server.url, "azure/gpt-4o");
    assert_eq!(bearer(&a, &http).await, "Bearer tok-0");
    assert_eq!(bearer(&a, &http).await, "Bearer tok-0");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(bearer(&a, &http).await, "Bearer tok-1");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn concurrent_requests_wait_for_one_token() {
    let server = TokenServer::start(|n| token(n, 3599), Duration::from_millis(150)).await;
    let a = adapter(&server.url, "azure/gpt-4o");
    let http = http();
    let calls = (0..8).map(|_| {
        let (a, http) = (a.clone(), http.clone());
        tokio::spawn(async move { bearer(&a, &http).await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap(), "Bearer tok-0");
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn refused_and_failing_token_requests() {
    let server = TokenServer::start(
        |n| match n {
            0 => (
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x","error_codes":[7000215]}"#.into(),
            ),
            1 => (503, "Service Unavailable".into()),
            2 => (200, "not json".into()),
            n => token(n, 3599),
        },
        Duration::ZERO,
    )
    .await;
    let a = adapter(&server.url, "azure/gpt-4o");
    let http = http();
    let mut r = chat(&a);

    let e = a.authorize(&http, &mut r).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(e.class(), ErrorClass::Authentication);
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");
    assert!(!e.to_string().contains("s&cret"), "{e}");

    let e = a.authorize(&http, &mut r).await.unwrap_err();
    assert_eq!(e.status(), 503);
    assert!(e.class().is_retryable());

    let e = a.authorize(&http, &mut r).await.unwrap_err();
    assert!(e.to_string().contains("not a token"), "{e}");

    // Failures are not cached: the next request tries again and succeeds.
    a.authorize(&http, &mut r).await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer tok-3");
    assert!(r.headers.get("api-key").is_none());
}

#[tokio::test]
async fn an_unreachable_authority_is_a_connection_error() {
    // Bind and drop: nothing listens on the port.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let a = adapter(
        &format!("http://127.0.0.1:{port}"),
        "azure_ai/Mistral-large",
    );
    let mut r = chat(&a);
    let e = a.authorize(&http(), &mut r).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::ApiConnection);
    assert!(e.to_string().contains("Azure_ai"), "{e}");
}

#[tokio::test]
async fn key_deployments_need_no_network_to_authorize() {
    let params = ProviderParams {
        api_base: Some("https://r.openai.azure.com".into()),
        api_key: Some("k".into()),
        ..ProviderParams::default()
    };
    let a = Adapter::new(
        &ModelRef::parse("azure/d", None).unwrap(),
        &params,
        &Env::with_overlay(HashMap::new()),
    )
    .unwrap();
    let mut r = chat(&a);
    let before = format!("{:?}", r.headers);
    a.authorize(&http(), &mut r).await.unwrap();
    assert_eq!(format!("{:?}", r.headers), before);
    assert_eq!(r.headers["api-key"], "k");
}

#[tokio::test]
async fn username_and_password_mint_tokens_with_the_password_grant() {
    let server = TokenServer::start(|n| token(n, 3599), Duration::ZERO).await;
    let params = ProviderParams {
        api_base: Some("https://r.openai.azure.com".into()),
        client_id: Some("public-app".into()),
        azure_username: Some("me@contoso.com".into()),
        azure_password: Some("pa55 word".into()),
        azure_authority_host: Some(server.url.clone()),
        ..ProviderParams::default()
    };
    let a = Adapter::new(
        &ModelRef::parse("azure/gpt-4o", None).unwrap(),
        &params,
        &Env::with_overlay(HashMap::new()),
    )
    .unwrap();
    assert!(!format!("{a:?}").contains("pa55"));
    let http = http();
    assert_eq!(bearer(&a, &http).await, "Bearer tok-0");
    assert_eq!(bearer(&a.clone(), &http).await, "Bearer tok-0");
    assert_eq!(server.hits(), 1);
    let seen = server.seen();
    assert_eq!(
        seen[0].request_line,
        "POST /organizations/oauth2/v2.0/token HTTP/1.1"
    );
    assert_eq!(
        seen[0].body,
        "grant_type=password&client_id=public-app&username=me%40contoso.com&password=pa55+word&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
    );
    // Half of the pair is a configuration error naming what is missing.
    let half = ProviderParams {
        azure_password: None,
        ..params
    };
    let err = Adapter::new(
        &ModelRef::parse("azure/gpt-4o", None).unwrap(),
        &half,
        &Env::with_overlay(HashMap::new()),
    )
    .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("azure_password"), "{err}");
}
