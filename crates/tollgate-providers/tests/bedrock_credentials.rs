//! Bedrock credentials beyond static keys, against a tiny AWS endpoint on 127.0.0.1 (no
//! network) standing in for STS, the ECS container endpoint and EC2 instance metadata: what
//! each flow sends, which credentials the Bedrock request is then signed with, the cache shared
//! by clones, refresh before expiry, profiles from the shared files, and refused STS calls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate_core::{ChatCompletionRequest, ChatMessage, Env, ErrorClass, ModelRef};
use tollgate_providers::{
    Adapter, AwsParams, CallOptions, HttpClient, ProviderParams, TransportOptions, UpstreamRequest,
};

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Responder = fn(&Seen, usize) -> (u16, String);

/// An AWS endpoint answering each request with `respond(request, n)`.
struct AwsServer {
    url: String,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl AwsServer {
    async fn start(respond: Responder) -> Self {
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
                    let (status, body) = respond(&seen, n);
                    s.lock().unwrap().push(seen);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
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
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&buf[head_end..]).to_string(),
    })
}

/// An STS answer whose credentials are numbered by `n` and expire at `expiration`.
fn sts_ok(action: &str, n: usize, expiration: &str) -> (u16, String) {
    (
        200,
        format!(
            r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result><Credentials><AccessKeyId>ASIASTS{n}</AccessKeyId><SecretAccessKey>secret{n}</SecretAccessKey><SessionToken>session{n}</SessionToken><Expiration>{expiration}</Expiration></Credentials></{action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"#
        ),
    )
}

fn json_creds(prefix: &str, n: usize) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"{prefix}{n}","SecretAccessKey":"s{n}","Token":"t{n}","Expiration":"2099-01-01T00:00:00Z"}}"#
        ),
    )
}

/// An environment with nothing of the process's AWS settings, plus `vars`.
fn env(vars: &[(&str, String)]) -> Env {
    let mut all: HashMap<String, String> = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ROLE_NAME",
        "AWS_SESSION_NAME",
        "AWS_PROFILE_NAME",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_STS_ENDPOINT",
        "AWS_EXTERNAL_ID",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_REGION_NAME",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_BEDROCK_RUNTIME_ENDPOINT",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect();
    all.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    all.insert("HOME".into(), "/nonexistent-tollgate-home".into());
    for (k, v) in vars {
        all.insert((*k).to_owned(), v.clone());
    }
    Env::with_overlay(all)
}

fn adapter(aws: AwsParams, env: &Env) -> Adapter {
    let params = ProviderParams {
        aws: AwsParams {
            region_name: Some("eu-west-1".into()),
            ..aws
        },
        ..ProviderParams::default()
    };
    Adapter::new(
        &ModelRef::parse("bedrock/anthropic.claude-3-haiku-20240307-v1:0", None).unwrap(),
        &params,
        env,
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

/// Authorizes a chat request; returns (access key it was signed with, security token).
async fn signed_with(a: &Adapter, http: &HttpClient) -> (String, Option<String>) {
    let mut r = chat(a);
    a.authorize(http, &mut r).await.unwrap();
    let auth = r.headers["authorization"].to_str().unwrap().to_owned();
    let key = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap()
        .to_owned();
    assert!(
        auth.contains("/eu-west-1/bedrock/aws4_request"),
        "signed for the deployment's region and service: {auth}"
    );
    let token = r
        .headers
        .get("x-amz-security-token")
        .map(|v| v.to_str().unwrap().to_owned());
    (key, token)
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-bedrock-creds-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn assume_role_is_signed_with_the_base_keys_cached_and_shared_by_clones() {
    let sts = AwsServer::start(|_, n| sts_ok("AssumeRole", n, "2099-01-01T00:00:00Z")).await;
    let a = adapter(
        AwsParams {
            access_key_id: Some("AKIDBASE".into()),
            secret_access_key: Some("base-secret".into()),
            role_name: Some("arn:aws:iam::123456789012:role/bedrock".into()),
            session_name: Some("my-session".into()),
            external_id: Some("ext-1".into()),
            sts_endpoint: Some(sts.url.clone()),
            ..AwsParams::default()
        },
        &env(&[]),
    );
    let http = http();
    // Translation stays pure: nothing is fetched or signed until authorize.
    assert!(chat(&a).headers.get("authorization").is_none());
    assert_eq!(sts.hits(), 0);

    assert_eq!(
        signed_with(&a, &http).await,
        ("ASIASTS0".into(), Some("session0".into()))
    );
    assert_eq!(
        signed_with(&a.clone(), &http).await,
        ("ASIASTS0".into(), Some("session0".into()))
    );
    assert_eq!(sts.hits(), 1);

    let seen = &sts.seen()[0];
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/"));
    let f = form(&seen.body);
    assert_eq!(f["Action"], "AssumeRole");
    assert_eq!(f["Version"], "2011-06-15");
    assert_eq!(
        f["RoleArn"],
        "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbedrock"
    );
    assert_eq!(f["RoleSessionName"], "my-session");
    assert_eq!(f["ExternalId"], "ext-1");
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDBASE/")
            && auth.contains("/eu-west-1/sts/aws4_request"),
        "{auth}"
    );
}

#[tokio::test]
async fn credentials_are_fetched_again_five_minutes_before_they_expire() {
    // Expiring in under five minutes (already past): every use fetches again.
    let sts = AwsServer::start(|_, n| sts_ok("AssumeRole", n, "2001-01-01T00:00:00Z")).await;
    let a = adapter(
        AwsParams {
            access_key_id: Some("AKIDBASE".into()),
            secret_access_key: Some("base-secret".into()),
            role_name: Some("arn:aws:iam::1:role/r".into()),
            sts_endpoint: Some(sts.url.clone()),
            ..AwsParams::default()
        },
        &env(&[]),
    );
    let http = http();
    assert_eq!(signed_with(&a, &http).await.0, "ASIASTS0");
    assert_eq!(signed_with(&a, &http).await.0, "ASIASTS1");
    assert_eq!(sts.hits(), 2);
    // Without a session name the default one is used.
    assert_eq!(
        form(&sts.seen()[0].body)["RoleSessionName"],
        "tollgate-session"
    );
}

#[tokio::test]
async fn web_identity_from_the_token_file_is_unsigned_and_reread() {
    let sts =
        AwsServer::start(|_, n| sts_ok("AssumeRoleWithWebIdentity", n, "2099-01-01T00:00:00Z"))
            .await;
    let token = temp_file("token", "eyJ.oidc.token\n");
    let e = env(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        ("AWS_ROLE_ARN", "arn:aws:iam::1:role/irsa".into()),
        ("AWS_ROLE_SESSION_NAME", "pod".into()),
        ("AWS_STS_ENDPOINT", sts.url.clone()),
    ]);
    let a = adapter(AwsParams::default(), &e);
    assert_eq!(
        signed_with(&a, &http()).await,
        ("ASIASTS0".into(), Some("session0".into()))
    );
    let seen = &sts.seen()[0];
    assert!(seen.header("authorization").is_none());
    let f = form(&seen.body);
    assert_eq!(f["Action"], "AssumeRoleWithWebIdentity");
    assert_eq!(f["RoleArn"], "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Firsa");
    assert_eq!(f["RoleSessionName"], "pod");
    assert_eq!(f["WebIdentityToken"], "eyJ.oidc.token");
}

#[tokio::test]
async fn web_identity_token_param_with_a_role() {
    let sts =
        AwsServer::start(|_, n| sts_ok("AssumeRoleWithWebIdentity", n, "2099-01-01T00:00:00Z"))
            .await;
    let a = adapter(
        AwsParams {
            web_identity_token: Some("tok.en".into()),
            role_name: Some("arn:aws:iam::1:role/w".into()),
            session_name: Some("s".into()),
            sts_endpoint: Some(sts.url.clone()),
            // Static keys lose to web identity, as in LiteLLM.
            access_key_id: Some("AKIDBASE".into()),
            secret_access_key: Some("x".into()),
            ..AwsParams::default()
        },
        &env(&[]),
    );
    assert_eq!(signed_with(&a, &http()).await.0, "ASIASTS0");
    assert_eq!(form(&sts.seen()[0].body)["WebIdentityToken"], "tok.en");
}

#[tokio::test]
async fn named_profiles_come_from_the_shared_files() {
    let creds = temp_file(
        "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\naws_session_token = devtoken\n",
    );
    let config = temp_file("config", "[profile other]\nregion = us-east-1\n");
    let e = env(&[
        ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ]);
    let a = adapter(
        AwsParams {
            profile_name: Some("dev".into()),
            ..AwsParams::default()
        },
        &e,
    );
    assert_eq!(
        signed_with(&a, &http()).await,
        ("AKIDDEV".into(), Some("devtoken".into()))
    );
    // Without any setting, the default chain reads the `default` profile.
    let a = adapter(AwsParams::default(), &e);
    assert_eq!(signed_with(&a, &http()).await, ("AKIDDEFAULT".into(), None));
    // A profile the files lack is an authentication error naming it.
    let a = adapter(
        AwsParams {
            profile_name: Some("nope".into()),
            ..AwsParams::default()
        },
        &e,
    );
    let mut r = chat(&a);
    let err = a.authorize(&http(), &mut r).await.unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(err.to_string().contains("\"nope\""), "{err}");
}

#[tokio::test]
async fn container_credentials_send_the_authorization_token() {
    let ecs = AwsServer::start(|_, n| json_creds("ASIAECS", n)).await;
    let e = env(&[
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v2/credentials/abc", ecs.url),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth".into()),
    ]);
    let a = adapter(AwsParams::default(), &e);
    assert_eq!(
        signed_with(&a, &http()).await,
        ("ASIAECS0".into(), Some("t0".into()))
    );
    let seen = &ecs.seen()[0];
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/v2/credentials/abc")
    );
    assert_eq!(seen.header("authorization"), Some("ecs-auth"));
}

#[tokio::test]
async fn instance_metadata_uses_an_imdsv2_session_token() {
    let imds = AwsServer::start(|seen, n| match (seen.method.as_str(), seen.path.as_str()) {
        ("PUT", "/latest/api/token") => (200, "imds-token".into()),
        (_, _) if seen.header("x-aws-ec2-metadata-token") != Some("imds-token") => {
            (401, String::new())
        }
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "bedrock-role\n".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/bedrock-role") => {
            json_creds("ASIAIMDS", n)
        }
        _ => (404, String::new()),
    })
    .await;
    let e = env(&[
        ("AWS_EC2_METADATA_DISABLED", String::new()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.clone()),
    ]);
    let a = adapter(AwsParams::default(), &e);
    assert_eq!(
        signed_with(&a, &http()).await,
        ("ASIAIMDS2".into(), Some("t2".into()))
    );
    let seen = imds.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
}

#[tokio::test]
async fn a_refused_assume_role_is_an_authentication_error() {
    let sts = AwsServer::start(|_, _| {
        (
            403,
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>x</RequestId></ErrorResponse>"#.into(),
        )
    })
    .await;
    let a = adapter(
        AwsParams {
            role_name: Some("arn:aws:iam::1:role/r".into()),
            sts_endpoint: Some(sts.url.clone()),
            ..AwsParams::default()
        },
        &env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV".into()),
            ("AWS_SECRET_ACCESS_KEY", "e".into()),
        ]),
    );
    let mut r = chat(&a);
    let err = a.authorize(&http(), &mut r).await.unwrap_err();
    assert_eq!(err.status(), 401);
    assert_eq!(err.class(), ErrorClass::Authentication);
    assert!(
        err.to_string()
            .contains("AccessDenied: User is not authorized to perform: sts:AssumeRole"),
        "{err}"
    );
    // The role was asked for with the environment's keys.
    assert!(
        sts.seen()[0]
            .header("authorization")
            .unwrap()
            .contains("Credential=AKIDENV/")
    );
}
