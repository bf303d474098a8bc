//! Vertex AI: replays every recorded Vertex payload (`../shared/fixtures/vertex/`) and the
//! Gemini and Anthropic payloads whose formats Vertex serves (`gemini/`, `anthropic/`) through
//! the Vertex adapter, and exercises OAuth token minting against a local token server (a
//! `tokio` listener on 127.0.0.1; nothing here reaches the network).
//!
//! Without the fixtures directory the replay tests print `skipping: ...` and pass; the token
//! tests need no fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Helpers shared with the other replays; not every one is needed here.
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate_core::{
    ChatCompletionRequest, EmbeddingsRequest, Env, ErrorClass, FinishReason, GatewayError,
    ModelRef, embeddings::EmbeddingVector,
};
use tollgate_providers::{
    Adapter, CallOptions, HttpClient, ProviderParams, StreamEvent, TransportOptions,
    UpstreamRequest,
};

use common::{CLIENT_ALIAS, Transcript, XorShift, decode_cut_at, decode_in_chunks, fixtures};

// ---------------------------------------------------------------------------------------------
// A throwaway RSA key pair for these tests only. It signs nothing outside this file and grants
// access to nothing: it was generated with `openssl genrsa 2048` for the test suite.
// ---------------------------------------------------------------------------------------------

/// TEST-ONLY private key (PKCS#8, the form Google's service-account files use).
const TEST_ONLY_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCq5o2F/CxGKZb+\n9+p4Jcuf9KohckLvTWMZ+n+6hqnMYBXdPgp9PljPY2G0K/9Rl5I64IEjwFBKsgCl\nzIuenJ4dhlocKb8AinGZVA5Fj9GgH7QFL5v+Dxa9tFDssDT81sDj3WAwqBw0jXwV\ntx8kvJXgDzRvnxTRf4YJVG559du0zaP5QIHJjxfqje5wfqxGXLXm/ztQrE4hTjjA\n7DUQuI6UN0plSPUSjGKqgcRS3cpN3POPl3FMS+ZhuAUG8oHd13Svn7iZ2WmL90rB\nDhZl/BJMbgRbGg4PZtswiJ8RrO54424eNxHxH4S2brYhnrgIvSYSz2Ce1Nek9ZNO\nOFxOz8OxAgMBAAECggEAESvzQmgxJqedJWdRptrdV+gkhBHQCe1zrLOPy/Ul8IQj\nDkTilu0BzWzF722QTOl25vWR5D65kpfKGt6vlLNV68+JFFVZfLtsaKSafoDR5k3p\nL7A181Qey9bnXrDh0hnd7cdbl+f8VYd11VS+C1nrkUTV1vVcCSTQGfXi19xNRCBP\ncr47Vao9dGtIxmiJ9RbxwJH+mXCk7Cgztnyk8oj2/I04nzlywA17xCCL8zIsAWiE\nfu7YepBDeyjPxC7gbKDF92r5vdSmVszatpg849F4RRCc9xo6+LIfjrai4PwpCaD+\nfCAZoXntzt+m6RmlGUwiA9w2Q2u76Opst5amuJf+QQKBgQDWS3fU8RssDr4uDvQk\nQfbmZzUsIGwaU+EY8Z0PFAd4VBuWOpq7mizolCKm567ptbxARh8jH7XcbCNGpGzz\nvErf0at+bnmgLf4bhOWN9k48ThVbL5h4lFnJkpOh/NnvMskjVC+tSAgxoEdzlZMK\nMzRLHJhHQx6uQJe9/a1viznCWQKBgQDMKRybHzleeqGPGRBKS9ExXplNS7oQtHZ/\nnOlkdEdIzu5x8XO3fMu3I2IHEymfBr/JHi/6xMvrbM2VaNViJHUJzJ4SQEY9AaKC\naaU6pIlnzCli2pjeLp3feRhD48LI7tz62uDgV5+nBysKEcwR3Wrenc1F7LhTbk5M\nCsjNxSbxGQKBgQDB2TrpMcG2tQ9scrJ/KfzCp5H9/MZNepshCU9eGGw5eTwLRbA7\nDFibe4VtHh+n4nIMYmJAT6sfXeL7QDoesbG5jd1oXV9Aetpm4m0VYj2bZ7cB6agv\nS2N9aE6MNkKekn5IqxsF0Sc4XRjFggSlMXSYjaFitWDHmD6r6xI82ODC4QKBgBtt\n5pb8wfNsnGoiXursdsWgRQ56fxwhcs5AYacKbE1e5/BNFVPwo1oOmewDahMgkAHQ\nWXfimtcdfh11wT13UnYnlJE1K3qkzpWg5f8T/hYA+wp5/hHTx4gvt8/fONtQJEZb\nw9zASQXi06h9raI00lfocZzUagtjhYd353Sl6U55AoGBALvJ8ifMPswcTLbHChKs\nj/I4C4Ihq2kWm4DHmlyDIsY2x3r5NGjEFeRDMggHEwFNJNgdl8J6iOGnm9XN81vo\nBxoVyA3flfdjxaxQ06L4sCN3Ywu+yx8GXD0+1mZYJm/wmNwEEs915LQ2VoNSh4lo\ngPZn9+W4jCbSf/QHCPtpj+85\n-----END PRIVATE KEY-----";

/// The public half of [`TEST_ONLY_PRIVATE_KEY`], to verify the signed assertion.
const TEST_ONLY_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAquaNhfwsRimW/vfqeCXL\nn/SqIXJC701jGfp/uoapzGAV3T4KfT5Yz2NhtCv/UZeSOuCBI8BQSrIApcyLnpye\nHYZaHCm/AIpxmVQORY/RoB+0BS+b/g8WvbRQ7LA0/NbA491gMKgcNI18FbcfJLyV\n4A80b58U0X+GCVRuefXbtM2j+UCByY8X6o3ucH6sRly15v87UKxOIU44wOw1ELiO\nlDdKZUj1EoxiqoHEUt3KTdzzj5dxTEvmYbgFBvKB3dd0r5+4mdlpi/dKwQ4WZfwS\nTG4EWxoOD2bbMIifEazueONuHjcR8R+Etm62IZ64CL0mEs9gntTXpPWTTjhcTs/D\nsQIDAQAB\n-----END PUBLIC KEY-----";

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

const VERTEX_FILES: &[&str] = &[
    "vertex/generate_content.json",
    "vertex/predict_embedding.json",
    "vertex/predict_embedding.request.json",
];

/// Gemini-format bodies Vertex serves the same way: responses and streams.
const GEMINI_RESPONSES: &[(&str, &str)] = &[
    ("gemini/generate_content.json", "vertex_ai/gemini-2.0-flash"),
    ("gemini/function_call.json", "vertex_ai/gemini-2.5-flash"),
    ("gemini/thinking_hidden.json", "vertex_ai/gemini-2.5-pro"),
    (
        "gemini/thinking_signature.json",
        "vertex_ai/gemini-3-pro-preview",
    ),
];

const GEMINI_STREAMS: &[(&str, &str)] = &[
    (
        "gemini/stream_generate_content.sse",
        "vertex_ai/gemini-2.0-flash",
    ),
    (
        "gemini/function_call_stream.sse",
        "vertex_ai/gemini-3-pro-preview",
    ),
    ("gemini/thinking_stream.sse", "vertex_ai/gemini-2.5-flash"),
];

const GEMINI_ERRORS: &[(&str, u16, u16, ErrorClass)] = &[
    (
        "gemini/error_429_resource_exhausted.json",
        429,
        429,
        ErrorClass::RateLimit,
    ),
    (
        "gemini/error_400_api_key_invalid.json",
        400,
        401,
        ErrorClass::Authentication,
    ),
    (
        "gemini/error_404_model_not_found_stream.json",
        404,
        404,
        ErrorClass::NotFound,
    ),
    (
        "gemini/embed_error_404.json",
        404,
        404,
        ErrorClass::NotFound,
    ),
];

/// Claude on Vertex streams Anthropic's events unchanged.
const ANTHROPIC_STREAMS: &[&str] = &[
    "anthropic/message_stream.sse",
    "anthropic/thinking_stream.sse",
    "anthropic/tool_use_stream.sse",
    "anthropic/thinking_tool_use_stream.sse",
    "anthropic/stream_error_overloaded.sse",
];

#[test]
fn every_vertex_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let missing: Vec<String> = fx
        .files_under("vertex")
        .into_iter()
        .filter(|f| !VERTEX_FILES.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "vertex fixtures no test replays: {missing:?}"
    );
    let shared = GEMINI_RESPONSES
        .iter()
        .map(|r| r.0)
        .chain(GEMINI_STREAMS.iter().map(|s| s.0))
        .chain(GEMINI_ERRORS.iter().map(|e| e.0))
        .chain(ANTHROPIC_STREAMS.iter().copied());
    for file in VERTEX_FILES.iter().copied().chain(shared) {
        fx.bytes(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Every variable the adapter reads, unset (an empty overlay value means unset), plus a
/// metadata host nobody listens on, so no test ever reaches Google.
fn clean_env(vars: &[(&str, &str)]) -> Env {
    let mut all: HashMap<String, String> = [
        "VERTEXAI_PROJECT",
        "VERTEXAI_LOCATION",
        "VERTEXAI_CREDENTIALS",
        "VERTEXAI_API_BASE",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GCLOUD_PROJECT",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect();
    all.insert(
        "CLOUDSDK_CONFIG".into(),
        "/nonexistent/tollgate-vertex-test".into(),
    );
    all.insert("GCE_METADATA_HOST".into(), "127.0.0.1:9".into());
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Env::with_overlay(all)
}

fn build(model: &str, params: ProviderParams, vars: &[(&str, &str)]) -> Adapter {
    let m = ModelRef::parse(model, None).unwrap();
    Adapter::new(&m, &params, &clean_env(vars)).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// A Vertex adapter with a project, the `global` location and a static token: what the
/// replay tests use.
fn vertex(model: &str) -> Adapter {
    build(
        model,
        ProviderParams {
            api_key: Some("ya29.static".into()),
            vertex_project: Some("pydantic-ai".into()),
            vertex_location: Some("global".into()),
            ..ProviderParams::default()
        },
        &[],
    )
}

fn plain(model: &str) -> Adapter {
    let m = ModelRef::parse(model, None).unwrap();
    let params = ProviderParams {
        api_key: Some("test-key".into()),
        api_base: Some("http://fixture.invalid/v1".into()),
        ..ProviderParams::default()
    };
    Adapter::new(&m, &params, &clean_env(&[])).unwrap()
}

fn chat(v: Value) -> ChatCompletionRequest {
    serde_json::from_value(v).unwrap()
}

fn json_of(r: &UpstreamRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Events with `created` zeroed, rendered for comparison (`created` is the decoder's clock).
fn stable(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            StreamEvent::Chunk(c) => {
                let mut c = (**c).clone();
                c.created = 0;
                format!("{c:?}")
            }
            other => format!("{other:?}"),
        })
        .collect()
}

/// The Gemini request body reduced to what the API reads (the recording spells out an empty
/// `generationConfig` and the ignored `systemInstruction.role`).
fn normalise_gemini(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    if o.get("generationConfig").is_some_and(|g| g == &json!({})) {
        o.remove("generationConfig");
    }
    if let Some(Value::Object(s)) = o.get_mut("systemInstruction") {
        s.remove("role");
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Vertex fixtures
// ---------------------------------------------------------------------------------------------

#[test]
fn the_recorded_vertex_call_is_rebuilt_and_its_response_translated() {
    let Some(fx) = fixtures() else { return };
    let request = chat(json!({"model": CLIENT_ALIAS, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"}
    ]}));
    let a = vertex("vertex_ai/gemini-2.0-flash");
    let r = a.chat_request(&request, CallOptions::default()).unwrap();
    assert_eq!(
        r.url,
        "https://aiplatform.googleapis.com/v1/projects/pydantic-ai/locations/global/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    // The body is the shared Gemini format: the AI Studio recording of the same question.
    assert_eq!(
        json_of(&r),
        normalise_gemini(&fx.json("gemini/generate_content.request.json"))
    );
    // With a `/v1beta1` base the URL is the recorded one exactly.
    let beta = build(
        "vertex_ai/gemini-2.0-flash",
        ProviderParams {
            api_key: Some("t".into()),
            api_base: Some("https://aiplatform.googleapis.com/v1beta1".into()),
            ..ProviderParams::default()
        },
        &[
            ("VERTEXAI_PROJECT", "pydantic-ai"),
            ("VERTEXAI_LOCATION", "global"),
        ],
    );
    assert_eq!(
        beta.chat_request(&request, CallOptions::default())
            .unwrap()
            .url,
        "https://aiplatform.googleapis.com/v1beta1/projects/pydantic-ai/locations/global/publishers/google/models/gemini-2.0-flash:generateContent"
    );

    let body = fx.bytes("vertex/generate_content.json");
    let resp = a.parse_chat_response(&body).unwrap();
    assert_eq!(resp.id, "1VpeaKq4CfH_2PgPh_z--AY");
    assert_eq!(resp.model, "gemini-2.0-flash");
    let choice = &resp.choices[0];
    assert_eq!(
        choice.message.text_content().as_deref(),
        Some("The capital of France is Paris.\n")
    );
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    let usage = resp.usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (13, 8, 21)
    );
    let (out, usage) = a
        .forward_chat_response(Bytes::from(body), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["model"], CLIENT_ALIAS);
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(usage.unwrap().total_tokens, 21);
}

#[test]
fn the_recorded_predict_embedding_is_rebuilt_and_translated() {
    let Some(fx) = fixtures() else { return };
    let a = build(
        "vertex_ai/gemini-embedding-001",
        ProviderParams {
            api_key: Some("t".into()),
            api_base: Some("https://aiplatform.googleapis.com/v1beta1".into()),
            vertex_project: Some("pydantic-ai".into()),
            vertex_location: Some("global".into()),
            ..ProviderParams::default()
        },
        &[],
    );
    let mut req = EmbeddingsRequest::new(CLIENT_ALIAS, vec!["Hello, world!".into()]);
    req.extra
        .insert("task_type".into(), Value::String("RETRIEVAL_QUERY".into()));
    let r = a.embeddings_request(&req).unwrap();
    assert_eq!(
        r.url,
        "https://aiplatform.googleapis.com/v1beta1/projects/pydantic-ai/locations/global/publishers/google/models/gemini-embedding-001:predict"
    );
    assert_eq!(
        json_of(&r),
        fx.json("vertex/predict_embedding.request.json")
    );

    let body = fx.bytes("vertex/predict_embedding.json");
    let recorded = fx.json("vertex/predict_embedding.json");
    let parsed = a.parse_embeddings_response(&body).unwrap();
    assert_eq!(parsed.data.len(), 1);
    let EmbeddingVector::Float(values) = &parsed.data[0].embedding else {
        panic!("floats expected")
    };
    let expected: Vec<f32> = recorded["predictions"][0]["embeddings"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(values, &expected);
    assert_eq!(parsed.usage.as_ref().unwrap().prompt_tokens, 4);
    let (out, usage) = a
        .forward_embeddings_response(Bytes::from(body), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["model"], CLIENT_ALIAS);
    assert_eq!(out["usage"]["total_tokens"], 4);
    assert_eq!(usage.unwrap().prompt_tokens, 4);
}

// ---------------------------------------------------------------------------------------------
// The shared Gemini format
// ---------------------------------------------------------------------------------------------

#[test]
fn gemini_responses_translate_as_they_do_for_ai_studio() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in GEMINI_RESPONSES {
        let body = fx.bytes(file);
        let via_vertex = vertex(model).parse_chat_response(&body).unwrap();
        let studio_model = model.replace("vertex_ai/", "gemini/");
        let via_studio = plain(&studio_model).parse_chat_response(&body).unwrap();
        let strip = |mut v: Value| {
            v["created"] = json!(0);
            v
        };
        let (a, b) = (
            strip(serde_json::to_value(&via_vertex).unwrap()),
            strip(serde_json::to_value(&via_studio).unwrap()),
        );
        assert_eq!(a, b, "{file}");
    }
}

#[test]
fn gemini_streams_split_at_every_byte_reassemble_exactly() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in GEMINI_STREAMS {
        let body = fx.bytes(file);
        let a = vertex(model);
        let whole = stable(&decode_cut_at(&a, &body, &[]));
        let t = Transcript::from_events(&decode_cut_at(&a, &body, &[]));
        assert!(t.done, "{file}: no Done");
        assert!(t.errors.is_empty(), "{file}: {:?}", t.errors);
        assert_eq!(
            t.roles.first(),
            Some(&tollgate_core::Role::Assistant),
            "{file}"
        );
        assert!(t.finish_reason().is_some(), "{file}");
        let last = t.chunks.last().unwrap();
        assert!(
            last.choices.is_empty() && last.usage().is_some(),
            "{file}: usage chunk last"
        );
        for cut in 1..body.len() {
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &[cut])),
                whole,
                "{file} split at {cut}"
            );
        }
        for size in [1, 2, 3, 7, 64] {
            assert_eq!(
                stable(&decode_in_chunks(&a, &body, size)),
                whole,
                "{file} by {size}"
            );
        }
        // Same chunks as AI Studio's decoder produces.
        let studio = plain(&model.replace("vertex_ai/", "gemini/"));
        assert_eq!(stable(&decode_cut_at(&studio, &body, &[])), whole, "{file}");
    }
}

#[test]
fn a_stream_cut_short_is_an_error() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("gemini/stream_generate_content.sse");
    let a = vertex("vertex_ai/gemini-2.0-flash");
    let first_event = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut d = a.stream_decoder();
    let mut events = d.feed(&body[..first_event]);
    events.extend(d.finish());
    let t = Transcript::from_events(&events);
    assert!(!t.done);
    assert_eq!(t.errors.len(), 1);
    assert!(
        t.errors[0].to_string().contains("VertexAIException"),
        "{}",
        t.errors[0]
    );
}

#[test]
fn gemini_errors_keep_status_class_and_name_vertex() {
    let Some(fx) = fixtures() else { return };
    for (file, recorded, status, class) in GEMINI_ERRORS {
        let a = vertex("vertex_ai/gemini-2.5-flash");
        let e = a.parse_error(*recorded, &HeaderMap::new(), &fx.bytes(file));
        assert_eq!(e.status(), *status, "{file}");
        assert_eq!(e.class(), *class, "{file}");
        assert!(
            e.to_string()
                .starts_with(&format!("litellm.{}: VertexAIException - ", class.name())),
            "{file}: {e}"
        );
        assert_eq!(e.to_body().error.code, Some(json!(status.to_string())));
    }
    let mut h = HeaderMap::new();
    h.insert("retry-after", "7".parse().unwrap());
    let e = vertex("vertex_ai/gemini-2.5-flash").parse_error(
        429,
        &h,
        &fx.bytes("gemini/error_429_resource_exhausted.json"),
    );
    assert!(e.retry_after().is_some());
}

// ---------------------------------------------------------------------------------------------
// Claude on Vertex: the Anthropic format
// ---------------------------------------------------------------------------------------------

#[test]
fn claude_bodies_are_anthropic_bodies_without_model_plus_the_vertex_version() {
    let request = chat(json!({"model": CLIENT_ALIAS, "stream": true,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "reasoning_effort": "low", "max_tokens": 3000}));
    let v = vertex("vertex_ai/claude-sonnet-4-5@20250929");
    let r = v.chat_request(&request, CallOptions::default()).unwrap();
    assert_eq!(
        r.url,
        "https://aiplatform.googleapis.com/v1/projects/pydantic-ai/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    );
    let direct = plain("anthropic/claude-sonnet-4-5@20250929")
        .chat_request(&request, CallOptions::default())
        .unwrap();
    let mut expected = json_of(&direct);
    let o = expected.as_object_mut().unwrap();
    o.remove("model");
    o.insert("anthropic_version".into(), json!("vertex-2023-10-16"));
    assert_eq!(json_of(&r), expected);
    assert_eq!(r.headers["anthropic-version"], "2023-06-01");
    assert!(r.headers.get("x-api-key").is_none());
}

#[test]
fn claude_streams_decode_as_anthropic_streams_with_vertex_errors() {
    let Some(fx) = fixtures() else { return };
    for file in ANTHROPIC_STREAMS {
        let body = fx.bytes(file);
        let a = vertex("vertex_ai/claude-sonnet-4-5");
        let whole = stable(&decode_cut_at(&a, &body, &[]));
        // Every boundary of the small streams; the 16 KiB thinking stream (quadratic here, and
        // split at every byte by the Anthropic replay already) gets every 97th.
        let step = if body.len() > 4096 { 97 } else { 1 };
        for cut in (1..body.len()).step_by(step) {
            assert_eq!(
                stable(&decode_cut_at(&a, &body, &[cut])),
                whole,
                "{file} split at {cut}"
            );
        }
        let t = Transcript::from_events(&decode_cut_at(&a, &body, &[]));
        let direct = Transcript::from_events(&decode_cut_at(
            &plain("anthropic/claude-sonnet-4-5"),
            &body,
            &[],
        ));
        assert_eq!(t.content, direct.content, "{file}");
        assert_eq!(t.reasoning_content, direct.reasoning_content, "{file}");
        assert_eq!(t.tool_calls, direct.tool_calls, "{file}");
        assert_eq!(t.finish_reasons, direct.finish_reasons, "{file}");
        assert_eq!(t.done, direct.done, "{file}");
        assert_eq!(t.errors.len(), direct.errors.len(), "{file}");
        for (e, d) in t.errors.iter().zip(&direct.errors) {
            assert_eq!((e.status(), e.class()), (d.status(), d.class()), "{file}");
            assert!(e.to_string().contains("VertexAIException"), "{file}: {e}");
        }
    }
}

#[test]
fn claude_responses_and_errors() {
    let Some(fx) = fixtures() else { return };
    let a = vertex("vertex_ai/claude-sonnet-4-5");
    for file in [
        "anthropic/message.json",
        "anthropic/tool_use.json",
        "anthropic/thinking.json",
    ] {
        let r = a.parse_chat_response(&fx.bytes(file)).unwrap();
        assert!(!r.choices.is_empty(), "{file}");
    }
    let e = a.parse_error(
        529,
        &HeaderMap::new(),
        &fx.bytes("anthropic/error_529_overloaded.json"),
    );
    assert_eq!(
        (e.status(), e.class()),
        (529, ErrorClass::ServiceUnavailable)
    );
    assert!(e.to_string().contains("VertexAIException"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------------

#[test]
fn random_splits_and_corruption_never_panic() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x7e47_e3a1);
    let cases = GEMINI_STREAMS.iter().map(|(f, m)| (*f, *m)).chain(
        ANTHROPIC_STREAMS
            .iter()
            .map(|f| (*f, "vertex_ai/claude-sonnet-4-5")),
    );
    for (file, model) in cases {
        let body = fx.bytes(file);
        let a = vertex(model);
        let whole = stable(&decode_cut_at(&a, &body, &[]));
        for _ in 0..100 {
            let cuts = rng.cuts(body.len(), 40);
            assert_eq!(stable(&decode_cut_at(&a, &body, &cuts)), whole, "{file}");
            let mut broken = body.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(broken.len());
                broken[at] = (rng.next_u64() & 0xff) as u8;
            }
            let cut = rng.below(broken.len());
            broken.truncate(cut.max(1));
            let _ = decode_cut_at(&a, &broken, &rng.cuts(broken.len(), 16));
            let _ = a.parse_chat_response(&broken);
            let _ = a.parse_error(500, &HeaderMap::new(), &broken);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OAuth: a local token server
// ---------------------------------------------------------------------------------------------

/// One request the token server received.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A one-route HTTP/1.1 server on 127.0.0.1 answering the n-th request with the n-th
/// response (the last one repeated) and closing each connection after answering.
struct TokenServer {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenServer {
    async fn start(responses: Vec<(u16, Value)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let served = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break 0,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                if head_end == 0 {
                    continue;
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or_default().split(' ');
                let method = first.next().unwrap_or_default().to_owned();
                let target = first.next().unwrap_or_default().to_owned();
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers
                    .get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                log.lock().unwrap().push(Received {
                    method,
                    target,
                    headers,
                    body,
                });
                let n = served.fetch_add(1, Ordering::SeqCst);
                let (status, reply) = responses[n.min(responses.len() - 1)].clone();
                let reply = reply.to_string();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self {
            base,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn http() -> HttpClient {
    HttpClient::new(&TransportOptions::default()).unwrap()
}

fn service_account(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "test-kid-1",
        "private_key": TEST_ONLY_PRIVATE_KEY,
        "client_email": "tollgate-test@sa-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
    .to_string()
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn authorized(a: &Adapter, http: &HttpClient) -> Result<UpstreamRequest, GatewayError> {
    let mut r = a
        .chat_request(
            &chat(json!({"model": CLIENT_ALIAS, "messages": [{"role": "user", "content": "hi"}]})),
            CallOptions::default(),
        )
        .unwrap();
    a.authorize(http, &mut r).await?;
    Ok(r)
}

#[tokio::test]
async fn service_account_tokens_are_signed_minted_and_cached() {
    let server = TokenServer::start(vec![(
        200,
        json!({"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"}),
    )])
    .await;
    let token_uri = format!("{}/token", server.base);
    let params = ProviderParams {
        vertex_credentials: Some(service_account(&token_uri)),
        ..ProviderParams::default()
    };
    let a = build("vertex_ai/gemini-2.5-flash", params.clone(), &[]);
    let http = http();
    let r = authorized(&a, &http).await.unwrap();
    // The project came from the credentials.
    assert!(
        r.url
            .contains("/projects/sa-project/locations/us-central1/"),
        "{}",
        r.url
    );
    assert_eq!(r.headers["authorization"], "Bearer ya29.first");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        req.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let f = form(&req.body);
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let jwt = &f["assertion"];

    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("test-kid-1"));
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_uri.as_str()]);
    validation.set_issuer(&["tollgate-test@sa-project.iam.gserviceaccount.com"]);
    let key = DecodingKey::from_rsa_pem(TEST_ONLY_PUBLIC_KEY.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key, &validation)
        .expect("the assertion verifies with the public key")
        .claims;
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    // A tampered signature does not verify: the check above is real.
    let mut forged = jwt.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(jsonwebtoken::decode::<Map<String, Value>>(&forged, &key, &validation).is_err());

    // Cached: the same adapter, a clone and a freshly built one reuse the token.
    authorized(&a, &http).await.unwrap();
    authorized(&a.clone(), &http).await.unwrap();
    let again = build("vertex_ai/claude-sonnet-4-5", params, &[]);
    let r = authorized(&again, &http).await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer ya29.first");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn tokens_close_to_expiry_are_refreshed() {
    // 200 s left is inside the five-minute margin: every call needs a new token.
    let server = TokenServer::start(vec![
        (200, json!({"access_token": "ya29.a", "expires_in": 200})),
        (200, json!({"access_token": "ya29.b", "expires_in": "200"})),
    ])
    .await;
    let params = ProviderParams {
        vertex_credentials: Some(service_account(&format!("{}/token", server.base))),
        ..ProviderParams::default()
    };
    let a = build("vertex_ai/gemini-2.5-flash", params, &[]);
    let http = http();
    let first = authorized(&a, &http).await.unwrap();
    let second = authorized(&a, &http).await.unwrap();
    assert_eq!(first.headers["authorization"], "Bearer ya29.a");
    assert_eq!(second.headers["authorization"], "Bearer ya29.b");
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let server = TokenServer::start(vec![(
        200,
        json!({"access_token": "ya29.shared", "expires_in": 3600}),
    )])
    .await;
    let params = ProviderParams {
        vertex_credentials: Some(service_account(&format!("{}/token", server.base))),
        ..ProviderParams::default()
    };
    let a = build("vertex_ai/gemini-2.5-flash", params, &[]);
    let http = http();
    let results = futures::future::join_all((0..8).map(|_| authorized(&a, &http))).await;
    for r in results {
        assert_eq!(r.unwrap().headers["authorization"], "Bearer ya29.shared");
    }
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn refused_grants_are_authentication_errors_and_not_cached() {
    let server = TokenServer::start(vec![
        (
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        ),
        (
            200,
            json!({"access_token": "ya29.later", "expires_in": 3600}),
        ),
    ])
    .await;
    let params = ProviderParams {
        vertex_credentials: Some(service_account(&format!("{}/token", server.base))),
        ..ProviderParams::default()
    };
    let a = build("vertex_ai/gemini-2.5-flash", params, &[]);
    let http = http();
    let e = authorized(&a, &http).await.unwrap_err();
    assert_eq!(e.status(), 401);
    assert_eq!(e.class(), ErrorClass::Authentication);
    let msg = e.to_string();
    assert!(
        msg.starts_with("litellm.AuthenticationError: VertexAIException - "),
        "{msg}"
    );
    assert!(
        msg.contains("invalid_grant: Invalid JWT Signature."),
        "{msg}"
    );
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");
    // The next call tries again.
    let r = authorized(&a, &http).await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer ya29.later");
}

#[tokio::test]
async fn user_credentials_from_a_file_use_the_refresh_token_grant() {
    let server = TokenServer::start(vec![(
        200,
        json!({"access_token": "ya29.user", "expires_in": 3600}),
    )])
    .await;
    let path = std::env::temp_dir().join(format!(
        "tollgate-vertex-user-{}-{}.json",
        std::process::id(),
        server.base.rsplit(':').next().unwrap()
    ));
    std::fs::write(
        &path,
        json!({
            "type": "authorized_user",
            "client_id": "client.apps.googleusercontent.com",
            "client_secret": "d-secret",
            "refresh_token": "1//refresh+token",
            "quota_project_id": "billing-project",
            "token_uri": format!("{}/oauth/token", server.base),
        })
        .to_string(),
    )
    .unwrap();
    // Through GOOGLE_APPLICATION_CREDENTIALS, with the project from the environment.
    let a = build(
        "vertex_ai/gemini-2.5-flash",
        ProviderParams::default(),
        &[
            ("GOOGLE_APPLICATION_CREDENTIALS", path.to_str().unwrap()),
            ("GOOGLE_CLOUD_PROJECT", "user-project"),
        ],
    );
    let r = authorized(&a, &http()).await.unwrap();
    std::fs::remove_file(&path).ok();
    assert!(r.url.contains("/projects/user-project/"), "{}", r.url);
    assert_eq!(r.headers["authorization"], "Bearer ya29.user");
    assert_eq!(r.headers["x-goog-user-project"], "billing-project");
    let got = server.received();
    assert_eq!(got[0].target, "/oauth/token");
    let f = form(&got[0].body);
    assert_eq!(f["grant_type"], "refresh_token");
    assert_eq!(f["refresh_token"], "1//refresh+token");
    assert_eq!(f["client_id"], "client.apps.googleusercontent.com");
    assert_eq!(f["client_secret"], "d-secret");
}

#[tokio::test]
async fn without_credentials_the_metadata_server_is_asked() {
    let server = TokenServer::start(vec![(
        200,
        json!({"access_token": "ya29.gce", "expires_in": 3599, "token_type": "Bearer"}),
    )])
    .await;
    let host = server.base.trim_start_matches("http://").to_owned();
    let a = build(
        "vertex_ai/gemini-2.5-flash",
        ProviderParams {
            vertex_project: Some("gce-project".into()),
            ..ProviderParams::default()
        },
        &[("GCE_METADATA_HOST", &host)],
    );
    let r = authorized(&a, &http()).await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer ya29.gce");
    let got = server.received();
    assert_eq!(got[0].method, "GET");
    assert_eq!(
        got[0].target,
        "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
    );
    assert_eq!(got[0].headers["metadata-flavor"], "Google");
}

#[tokio::test]
async fn no_credentials_anywhere_is_a_clear_401() {
    // A port nobody listens on: the metadata server is unreachable, as off Google Cloud.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = closed.local_addr().unwrap().to_string();
    drop(closed);
    let a = build(
        "vertex_ai/gemini-2.5-flash",
        ProviderParams {
            vertex_project: Some("p".into()),
            ..ProviderParams::default()
        },
        &[("GCE_METADATA_HOST", &host)],
    );
    let e = authorized(&a, &http()).await.unwrap_err();
    assert_eq!(e.status(), 401);
    let msg = e.to_string();
    assert!(msg.contains("no Google credentials found"), "{msg}");
    assert!(msg.contains("vertex_credentials"), "{msg}");
}

#[tokio::test]
async fn an_api_key_is_sent_as_a_bearer_token_without_minting() {
    let a = vertex("vertex_ai/claude-sonnet-4-5");
    let r = authorized(&a, &http()).await.unwrap();
    assert_eq!(r.headers["authorization"], "Bearer ya29.static");
}

#[tokio::test]
async fn absurd_lifetimes_are_capped_not_trusted() {
    let server = TokenServer::start(vec![(
        200,
        json!({"access_token": "ya29.forever", "expires_in": u64::MAX}),
    )])
    .await;
    let params = ProviderParams {
        vertex_credentials: Some(service_account(&format!("{}/token", server.base))),
        ..ProviderParams::default()
    };
    let a = build("vertex_ai/gemini-2.5-flash", params, &[]);
    let http = http();
    for _ in 0..2 {
        let r = authorized(&a, &http).await.unwrap();
        assert_eq!(r.headers["authorization"], "Bearer ya29.forever");
    }
    assert_eq!(server.received().len(), 1);
}
