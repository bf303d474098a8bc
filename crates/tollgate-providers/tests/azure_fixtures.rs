//! Replays every recorded Azure OpenAI payload (`../shared/fixtures/azure/`) through the Azure
//! adapter: the URLs we build against the recorded ones, responses forwarded byte for byte
//! with their filter results, the stream (prompt-filter chunk first) cut at every byte, the
//! content-filter error, and random splits and corruption.
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the other replays; not every helper is used here.
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use tollgate_core::{
    ChatCompletionRequest, ChatMessage, Env, ErrorClass, FinishReason, GatewayError, ModelRef,
    Role, UpstreamError, Usage,
};
use tollgate_providers::azure::provider_specific_fields;
use tollgate_providers::{Adapter, CallOptions, ProviderParams, StreamEvent};

use common::{
    CLIENT_ALIAS, Transcript, XorShift, assert_nothing_dropped, data_payloads, decode_cut_at,
    decode_in_chunks, fingerprint, fixtures, splice_model,
};

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// Non-streaming 200 bodies: file, the deployment it was recorded from, the base, the
/// `api-version` and the recorded URL.
const RESPONSES: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "azure/chat_completion.json",
        "azure/gpt-4o",
        "https://pydanticai7521574644.openai.azure.com",
        Some("2024-12-01-preview"),
        "https://pydanticai7521574644.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-12-01-preview",
    ),
    (
        "azure/chat_completion_gpt5.json",
        "azure/gpt-5-nano",
        "https://resource-name.cognitiveservices.azure.com",
        None,
        // The cassette stored the URL without its query string.
        "https://resource-name.cognitiveservices.azure.com/openai/deployments/gpt-5-nano/chat/completions",
    ),
];

/// Streams that end normally.
const STREAMS: &[&str] = &["azure/chat_stream.sse"];

/// Error bodies: file, status, class, message start.
const ERRORS: &[(&str, u16, ErrorClass, &str)] = &[(
    "azure/error_400_content_filter.json",
    400,
    ErrorClass::ContentPolicyViolation,
    "litellm.ContentPolicyViolationError: AzureException - The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
)];

#[test]
fn every_azure_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = RESPONSES.iter().map(|r| r.0).collect();
    known.extend(STREAMS);
    known.extend(ERRORS.iter().map(|e| e.0));
    let missing: Vec<String> = fx
        .files_under("azure")
        .into_iter()
        .filter(|f| !known.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "fixtures no test replays (add them to a table): {missing:?}"
    );
    for file in known {
        fx.bytes(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn azure(model: &str, base: &str, version: Option<&str>) -> Adapter {
    let params = ProviderParams {
        api_base: Some(base.into()),
        api_key: Some("azure-key".into()),
        api_version: version.map(str::to_owned),
        ..ProviderParams::default()
    };
    Adapter::new(
        &ModelRef::parse(model, None).unwrap(),
        &params,
        &Env::with_overlay(HashMap::new()),
    )
    .unwrap()
}

fn stream_adapter() -> Adapter {
    azure("azure/gpt-5-nano", "https://r.openai.azure.com", None)
}

fn upstream(e: &GatewayError) -> &UpstreamError {
    match e {
        GatewayError::Upstream(u) => u,
        other => panic!("not an upstream error: {other:?}"),
    }
}

fn recorded_usage(v: &Value) -> Usage {
    serde_json::from_value(v["usage"].clone()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

#[test]
fn we_call_the_recorded_urls_with_the_key_in_api_key() {
    let req = ChatCompletionRequest::new(CLIENT_ALIAS, vec![ChatMessage::user("hi")]);
    for (file, model, base, version, url) in RESPONSES {
        let a = azure(model, base, *version);
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        if version.is_some() {
            assert_eq!(&r.url, url, "{file}");
        } else {
            let (path, query) = r.url.split_once('?').unwrap();
            assert_eq!(&path, url, "{file}");
            assert_eq!(query, "api-version=2025-02-01-preview", "{file}");
        }
        assert_eq!(r.headers["api-key"], "azure-key");
        assert!(r.headers.get("authorization").is_none());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        // The deployment decides the model; LiteLLM sends the deployment name.
        assert_eq!(body["model"], model.trim_start_matches("azure/"), "{file}");
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[test]
fn responses_are_forwarded_byte_for_byte_under_the_alias_with_filter_results() {
    let Some(fx) = fixtures() else { return };
    for (file, model, base, version, _) in RESPONSES {
        let a = azure(model, base, *version);
        let original = fx.bytes(file);
        let recorded: Value = serde_json::from_slice(&original).unwrap();
        let (out, usage) = a
            .forward_chat_response(Bytes::from(original.clone()), CLIENT_ALIAS)
            .unwrap();
        let upstream_model = recorded["model"].as_str().unwrap();
        assert_eq!(
            out.as_ref(),
            splice_model(&original, upstream_model, CLIENT_ALIAS).as_slice(),
            "{file}"
        );
        assert_eq!(usage.unwrap(), recorded_usage(&recorded), "{file}");
        let out_json: Value = serde_json::from_slice(&out).unwrap();
        assert!(out_json["prompt_filter_results"].is_array(), "{file}");
        assert!(
            out_json["choices"][0]["content_filter_results"].is_object(),
            "{file}"
        );

        // The typed path keeps everything too.
        let parsed = a.parse_chat_response(&original).unwrap();
        assert_eq!(parsed.choices[0].finish_reason, Some(FinishReason::Stop));
        assert_eq!(parsed.choices[0].message.role, Role::Assistant);
        assert_eq!(
            parsed.choices[0].message.text_content().as_deref(),
            recorded["choices"][0]["message"]["content"].as_str(),
        );
        let reserialised = serde_json::to_value(&parsed).unwrap();
        assert_nothing_dropped(&recorded, &reserialised, file, &[]);
    }
}

#[test]
fn reasoning_tokens_of_a_gpt5_deployment_are_in_usage() {
    let Some(fx) = fixtures() else { return };
    let (file, model, base, version, _) = RESPONSES[1];
    let a = azure(model, base, version);
    let (_, usage) = a
        .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
        .unwrap();
    let usage = usage.unwrap();
    assert_eq!(usage.reasoning_tokens(), 192);
    assert_eq!(usage.cached_tokens(), 0);
    assert_eq!(usage.total_tokens, 279);
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn the_stream_reassembles_exactly_at_every_byte_boundary() {
    let Some(fx) = fixtures() else { return };
    let a = stream_adapter();
    for file in STREAMS {
        let body = fx.bytes(file);
        let whole = fingerprint(&decode_in_chunks(&a, &body, body.len()));
        for cut in 1..body.len() {
            let events = decode_cut_at(&a, &body, &[cut]);
            assert_eq!(fingerprint(&events), whole, "{file} cut at {cut}");
        }
        for size in [1, 2, 3, 7, 64, 512] {
            let events = decode_in_chunks(&a, &body, size);
            assert_eq!(fingerprint(&events), whole, "{file} in pieces of {size}");
        }
    }
}

#[test]
fn the_stream_says_what_was_recorded_without_the_prompt_filter_chunk() {
    let Some(fx) = fixtures() else { return };
    let a = stream_adapter();
    let body = fx.bytes(STREAMS[0]);
    let events = decode_in_chunks(&a, &body, 17);
    let t = Transcript::from_events(&events);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    assert!(t.done);
    assert_eq!(t.roles, [Role::Assistant]);
    assert_eq!(t.content, "Capital of Denmark.");
    assert_eq!(t.finish_reason(), Some(&FinishReason::Stop));
    assert_eq!(t.usage_only_raw, 1);
    assert_eq!(t.usage_reports, 1);
    let usage = t.usage.unwrap();
    assert_eq!(usage.total_tokens, 93);
    assert_eq!(usage.reasoning_tokens(), 64);
    // Every chunk but the prompt-filter one, byte for byte.
    let payloads = data_payloads(&body);
    assert!(payloads[0].starts_with(b"{\"choices\":[],\"created\":0,\"id\":\"\""));
    let forwarded: Vec<&[u8]> = t.raw_payloads.iter().map(|b| b.as_ref()).collect();
    let expected: Vec<&[u8]> = payloads[1..].iter().map(Vec::as_slice).collect();
    assert_eq!(forwarded, expected);
    // No chunk without an id reaches the client.
    assert!(t.chunks.iter().all(|c| !c.id.is_empty()));
    // Per-choice filter results are kept.
    assert_eq!(
        t.chunks[1].choices[0].extra["content_filter_results"]["hate"]["filtered"],
        false
    );
}

#[test]
fn a_stream_cut_before_its_finish_is_an_error() {
    let Some(fx) = fixtures() else { return };
    let a = stream_adapter();
    let body = fx.bytes(STREAMS[0]);
    let text = String::from_utf8(body.clone()).unwrap();
    let finish_end = text.find("\"finish_reason\":\"stop\"").unwrap();
    for len in 0..finish_end {
        let events = decode_in_chunks(&a, &body[..len], 97);
        assert!(
            matches!(events.last(), Some(StreamEvent::Error(_))),
            "cut at {len}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, StreamEvent::Done)),
            "cut at {len}"
        );
    }
}

#[test]
fn the_decoder_is_reached_through_the_adapter() {
    let a = stream_adapter();
    assert!(matches!(
        a.stream_decoder(),
        tollgate_providers::StreamDecoder::Azure(_)
    ));
    assert_eq!(a.provider_name(), "Azure");
    assert_eq!(a.api_base(), "https://r.openai.azure.com");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn the_recorded_content_filter_error() {
    let Some(fx) = fixtures() else { return };
    let a = stream_adapter();
    for (file, status, class, message) in ERRORS {
        let body = fx.bytes(file);
        let e = a.parse_error(*status, &HeaderMap::new(), &body);
        assert_eq!(e.status(), *status, "{file}");
        assert_eq!(e.class(), *class, "{file}");
        assert!(e.to_string().starts_with(message), "{file}: {e}");
        let up = upstream(&e);
        assert_eq!(up.param.as_deref(), Some("prompt"));
        assert_eq!(up.code.as_deref(), Some("content_filter"));
        let client = serde_json::to_value(e.to_body()).unwrap();
        assert_eq!(client["error"]["code"], "400");
        assert_eq!(client["error"]["param"], "prompt");
        assert_eq!(
            client["error"]["provider_specific_fields"]["innererror"]["code"],
            "ResponsibleAIPolicyViolation",
            "the client sees Azure's innererror, as LiteLLM returns it"
        );
        let fields = provider_specific_fields(&body).unwrap();
        assert_eq!(
            fields["innererror"]["code"], "ResponsibleAIPolicyViolation",
            "{file}"
        );
        assert_eq!(
            fields["innererror"]["content_filter_result"]["sexual"]["filtered"],
            true
        );
    }
}

#[test]
fn documented_azure_error_bodies() {
    // Shapes from providers.md §2.4 (reported, not recorded).
    let a = stream_adapter();
    let cases: &[(u16, &str, ErrorClass, &str)] = &[
        (
            401,
            r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."}}"#,
            ErrorClass::Authentication,
            "Access denied due to invalid subscription key",
        ),
        (
            404,
            r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}"#,
            ErrorClass::NotFound,
            "The API deployment for this resource does not exist.",
        ),
        (
            429,
            r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}"#,
            ErrorClass::RateLimit,
            "Requests to the ChatCompletions_Create Operation",
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            ErrorClass::ContextWindowExceeded,
            "This model's maximum context length",
        ),
    ];
    for (status, body, class, message) in cases {
        let e = a.parse_error(*status, &HeaderMap::new(), body.as_bytes());
        assert_eq!(e.status(), *status);
        assert_eq!(e.class(), *class, "{body}");
        let up = upstream(&e);
        assert!(up.message.starts_with(message), "{}", up.message);
        assert_eq!(up.provider, "Azure");
        if *status == 429 {
            assert_eq!(up.retry_after, Some(Duration::from_secs(6)));
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "2".parse().unwrap());
    let e = a.parse_error(429, &headers, cases[2].1.as_bytes());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
}

// ---------------------------------------------------------------------------------------------
// Fuzz-ish: random splits and corruption must never panic
// ---------------------------------------------------------------------------------------------

fn corrupt(rng: &mut XorShift, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    for _ in 0..=rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] = (rng.next_u64() & 0xff) as u8,
            1 => {
                let end = (at + rng.below(50)).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(80)).min(out.len());
                let dup = out[at..end].to_vec();
                out.splice(at..at, dup);
            }
            3 => out.truncate(at),
            4 => {
                let junk: &[u8] = match rng.below(5) {
                    0 => b"\n\n",
                    1 => b"data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n",
                    2 => b"data: {\"error\":{\"code\":\"content_filter\",\"message\":\"x\"}}\n\n",
                    3 => b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":18446744073709551615}}\n\n",
                    _ => b"\xff\xfe\r",
                };
                out.splice(at..at, junk.iter().copied());
            }
            _ => out[at] = b'"',
        }
    }
    out
}

#[test]
fn random_splits_and_corruption_never_panic_and_always_terminate() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x0a2e_5eed);
    let a = stream_adapter();
    for file in STREAMS {
        let original = fx.bytes(file);
        for round in 0..400 {
            let body = if round == 0 {
                original.clone()
            } else {
                corrupt(&mut rng, &original)
            };
            let max_piece = 1 + rng.below(200);
            let cuts = rng.cuts(body.len(), max_piece);
            let events = decode_cut_at(&a, &body, &cuts);
            let ctx = format!("{file} round {round}");
            // The engine stops at the first error; a `Done` is the very last event if any.
            assert!(
                matches!(
                    events.last(),
                    Some(StreamEvent::Done | StreamEvent::Error(_))
                ),
                "{ctx}: {events:?}"
            );
            let dones = events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Done))
                .count();
            assert!(dones <= 1, "{ctx}");
            assert_eq!(
                fingerprint(&decode_in_chunks(&a, &body, body.len())),
                fingerprint(&events),
                "{ctx}: split-invariance"
            );
            for e in &events {
                match e {
                    // Nothing without a choice and without usage gets through.
                    StreamEvent::Raw {
                        usage_only: true,
                        usage,
                        ..
                    } => assert!(usage.is_some(), "{ctx}"),
                    StreamEvent::Error(e) => {
                        let _ = e.to_body();
                    }
                    _ => {}
                }
            }
        }
    }
    let mut json_files: Vec<&str> = RESPONSES.iter().map(|r| r.0).collect();
    json_files.extend(ERRORS.iter().map(|e| e.0));
    for file in json_files {
        let original = fx.bytes(file);
        for _ in 0..300 {
            let body = corrupt(&mut rng, &original);
            let _ = a.parse_chat_response(&body);
            let _ = a.forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS);
            let _ = provider_specific_fields(&body);
            let e = a.parse_error(400 + rng.below(200) as u16, &HeaderMap::new(), &body);
            assert!(!upstream(&e).message.is_empty());
            let _ = e.to_body();
        }
    }
}
