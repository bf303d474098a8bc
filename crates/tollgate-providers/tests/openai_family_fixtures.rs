//! Replays every recorded OpenAI-format provider payload (`../shared/fixtures`: openai/,
//! openai_compat/*/, mistral/, ollama/openai_compat_chat.json) through the OpenAI-family
//! adapter and checks what a client would receive: responses, streams, errors and the upstream
//! request bodies. Azure fixtures are not served by this adapter yet and are skipped, as are
//! the Responses API recordings (a different wire format).
//!
//! Without the fixtures directory every test prints `skipping: ...` and passes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use tollgate_core::{
    ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest, EmbeddingsResponse,
    ErrorClass, FinishReason, GatewayError, Role, Usage, embeddings::EmbeddingVector,
};
use tollgate_providers::{Adapter, CallOptions, StreamEvent, openai_compat};

use common::{
    API_BASE, API_KEY, CLIENT_ALIAS, Fixtures, Transcript, XorShift, adapter,
    assert_nothing_dropped, data_payloads, decode_cut_at, decode_in_chunks, fingerprint, fixtures,
    splice_model,
};

// ---------------------------------------------------------------------------------------------
// The fixture inventory
// ---------------------------------------------------------------------------------------------

/// How the adapter hands a provider's answer to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Plain OpenAI: bytes forwarded, only `model` spliced; streams yield `Raw` events.
    Bytes,
    /// Family member with deviations: parsed, normalised and re-encoded; streams yield `Chunk`.
    Normalised,
}

/// A non-streaming 200 chat body, the model string that serves it, and its path.
struct ChatCase {
    file: &'static str,
    model: &'static str,
    path: Path,
    /// Keys allowed to differ between the recording and the re-encoded body (normalised only).
    normalised_keys: &'static [&'static str],
}

const CHAT_RESPONSES: &[ChatCase] = &[
    ChatCase {
        file: "openai/chat_completion.json",
        model: "openai/gpt-5-nano",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai/chat_tool_call.json",
        model: "openai/gpt-5-nano",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai/chat_parallel_tool_calls.json",
        model: "openai/gpt-5-nano",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai/chat_json_mode.json",
        model: "openai/gpt-5-nano",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai/chat_reasoning.json",
        model: "openai/gpt-5-nano",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/deepseek/chat_reasoning.json",
        model: "deepseek/deepseek-reasoner",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/deepseek/chat_tool_call.json",
        model: "deepseek/deepseek-reasoner",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/xai/chat_completion.json",
        model: "xai/grok-3-mini",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/xai/chat_tool_call.json",
        model: "xai/grok-3-mini",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/perplexity/chat_citations.json",
        model: "perplexity/sonar",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "ollama/openai_compat_chat.json",
        model: "openai/qwen3:0.6b",
        path: Path::Bytes,
        normalised_keys: &[],
    },
    ChatCase {
        file: "ollama/openai_compat_chat.json",
        model: "hosted_vllm/qwen3:0.6b",
        path: Path::Normalised,
        normalised_keys: &["reasoning"],
    },
    ChatCase {
        file: "openai_compat/groq/chat_parallel_tool_calls.json",
        model: "groq/llama-3.3-70b-versatile",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/groq/chat_reasoning.json",
        model: "groq/deepseek-r1-distill-llama-70b",
        path: Path::Normalised,
        normalised_keys: &["content"],
    },
    ChatCase {
        file: "openai_compat/openrouter/chat_tool_call.json",
        model: "openrouter/mistralai/mistral-small",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/openrouter/chat_usage.json",
        model: "openrouter/x-ai/grok-4",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "openai_compat/huggingface/chat.json",
        model: "huggingface/deepseek-ai/DeepSeek-R1",
        path: Path::Normalised,
        normalised_keys: &["content"],
    },
    ChatCase {
        file: "openai_compat/cerebras/chat.json",
        model: "cerebras/llama-3.3-70b",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "mistral/chat.json",
        model: "mistral/mistral-small-latest",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "mistral/chat_tool_call.json",
        model: "mistral/mistral-small-latest",
        path: Path::Normalised,
        normalised_keys: &[],
    },
    ChatCase {
        file: "mistral/chat_thinking.json",
        model: "mistral/magistral-medium-latest",
        path: Path::Normalised,
        normalised_keys: &["content"],
    },
];

/// A recorded stream, the model string that serves it, and its path.
const STREAMS: &[(&str, &str, Path)] = &[
    ("openai/chat_stream.sse", "openai/gpt-5-nano", Path::Bytes),
    (
        "openai/chat_stream_include_usage.sse",
        "openai/gpt-5-nano",
        Path::Bytes,
    ),
    (
        "openai/chat_stream_include_usage_text.sse",
        "openai/gpt-4o-mini",
        Path::Bytes,
    ),
    (
        "openai/chat_tool_call_stream.sse",
        "openai/gpt-4.1-mini",
        Path::Bytes,
    ),
    (
        "openai_compat/deepseek/chat_reasoning_tool_call_stream.sse",
        "deepseek/deepseek-reasoner",
        Path::Bytes,
    ),
    (
        "openai_compat/deepseek/chat_stream_cache_usage.sse",
        "deepseek/deepseek-chat",
        Path::Bytes,
    ),
    (
        "openai_compat/xai/chat_stream.sse",
        "xai/grok-3-mini",
        Path::Bytes,
    ),
    (
        "openai_compat/xai/chat_tool_call_stream.sse",
        "xai/grok-3-mini",
        Path::Bytes,
    ),
    (
        "openai_compat/perplexity/chat_stream.sse",
        "perplexity/sonar",
        Path::Bytes,
    ),
    (
        "openai_compat/groq/chat_stream.sse",
        "groq/allam-2-7b",
        Path::Normalised,
    ),
    (
        "openai_compat/groq/chat_tool_call_stream.sse",
        "groq/llama-3.3-70b-versatile",
        Path::Normalised,
    ),
    (
        "openai_compat/openrouter/chat_reasoning_stream.sse",
        "openrouter/anthropic/claude-sonnet-4.5",
        Path::Normalised,
    ),
    (
        MIDSTREAM_ERROR,
        "openrouter/minimax/minimax-m2:free",
        Path::Normalised,
    ),
    (
        "mistral/chat_stream.sse",
        "mistral/mistral-small-latest",
        Path::Normalised,
    ),
    (
        "mistral/chat_tool_call_stream.sse",
        "mistral/mistral-small-latest",
        Path::Normalised,
    ),
];

const MIDSTREAM_ERROR: &str = "openai_compat/openrouter/stream_midstream_error.sse";

/// An error body with the status it was recorded with (from the fixtures README) and what the
/// client must be told.
struct ErrorCase {
    file: &'static str,
    model: &'static str,
    status: u16,
    class: ErrorClass,
    provider: &'static str,
    message: &'static str,
    error_type: Option<&'static str>,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

const ERRORS: &[ErrorCase] = &[
    ErrorCase {
        file: "openai/error_400_unsupported_parameter.json",
        model: "openai/gpt-5-nano",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "OpenAI",
        message: "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        error_type: Some("invalid_request_error"),
        param: Some("max_tokens"),
        code: Some("unsupported_parameter"),
    },
    ErrorCase {
        file: "openai/error_401_invalid_api_key.json",
        model: "openai/gpt-5-nano",
        status: 401,
        class: ErrorClass::Authentication,
        provider: "OpenAI",
        message: "Incorrect API key provided: sk-inval**************-key. You can find your API key at https://platform.openai.com/account/api-keys.",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("invalid_api_key"),
    },
    ErrorCase {
        file: "openai/error_404_model_not_found.json",
        model: "openai/gpt-4.1-nano-wrong",
        status: 404,
        class: ErrorClass::NotFound,
        provider: "OpenAI",
        message: "The model `gpt-4.1-nano-wrong` does not exist or you do not have access to it.",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("model_not_found"),
    },
    ErrorCase {
        file: "openai/embeddings_error_400.json",
        model: "openai/text-embedding-3-small",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "OpenAI",
        message: "-1 is less than the minimum of 1 - 'dimensions'",
        error_type: Some("invalid_request_error"),
        param: None,
        code: None,
    },
    ErrorCase {
        file: "openai_compat/groq/error_400_tool_use_failed.json",
        model: "groq/llama-3.3-70b-versatile",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Groq",
        message: "Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name did not match schema: errors: [missing properties: 'name', additionalProperties 'foo' not allowed]",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("tool_use_failed"),
    },
    ErrorCase {
        file: "openai_compat/groq/error_401.json",
        model: "groq/llama-3.3-70b-versatile",
        status: 401,
        class: ErrorClass::Authentication,
        provider: "Groq",
        message: "Invalid API Key",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("invalid_api_key"),
    },
    ErrorCase {
        file: "openai_compat/groq/error_404.json",
        model: "groq/non-existent",
        status: 404,
        class: ErrorClass::NotFound,
        provider: "Groq",
        message: "The model `non-existent` does not exist or you do not have access to it.",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("model_not_found"),
    },
    ErrorCase {
        file: "openai_compat/deepseek/error_401.json",
        model: "deepseek/deepseek-chat",
        status: 401,
        class: ErrorClass::Authentication,
        provider: "Deepseek",
        message: "Authentication Fails, Your api key: ****-key is invalid",
        error_type: Some("authentication_error"),
        param: None,
        code: Some("invalid_request_error"),
    },
    ErrorCase {
        file: "openai_compat/deepseek/error_400_image_unsupported.json",
        model: "deepseek/deepseek-chat",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Deepseek",
        message: "Failed to deserialize the JSON body into the target type: messages[0]: unknown variant `image_url`, expected `text` at line 1 column 216",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("invalid_request_error"),
    },
    ErrorCase {
        file: "openai_compat/deepseek/error_400_unknown_model.json",
        model: "deepseek/deepseek-v9-nonexistent",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Deepseek",
        message: "The supported API model names are deepseek-v4-pro or deepseek-v4-flash, but you passed deepseek-v9-nonexistent.",
        error_type: Some("invalid_request_error"),
        param: None,
        code: Some("invalid_request_error"),
    },
    ErrorCase {
        file: "openai_compat/openrouter/error_429_provider.json",
        model: "openrouter/google/gemini-2.0-flash-exp:free",
        status: 429,
        class: ErrorClass::RateLimit,
        provider: "OpenRouter",
        message: "Provider returned error",
        error_type: None,
        param: None,
        code: Some("429"),
    },
    ErrorCase {
        file: "openai_compat/xai/error_400_auth.json",
        model: "xai/grok-3-mini",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Xai",
        message: "Incorrect API key provided. You can obtain an API key from https://console.x.ai.",
        error_type: None,
        param: None,
        code: Some("invalid-argument"),
    },
    ErrorCase {
        file: "mistral/error_400_invalid_model.json",
        model: "mistral/definitely-not-a-model",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Mistral",
        message: "Invalid model: definitely-not-a-model",
        error_type: Some("invalid_model"),
        param: None,
        code: Some("1500"),
    },
    ErrorCase {
        file: "mistral/embeddings_error_400.json",
        model: "mistral/no-such-embedding-model",
        status: 400,
        class: ErrorClass::BadRequest,
        provider: "Mistral",
        message: "Invalid model: no-such-embedding-model",
        error_type: Some("invalid_model"),
        param: None,
        code: Some("1500"),
    },
    ErrorCase {
        file: "mistral/error_401.json",
        model: "mistral/mistral-small-latest",
        status: 401,
        class: ErrorClass::Authentication,
        provider: "Mistral",
        message: "Invalid API Key",
        error_type: None,
        param: None,
        code: None,
    },
];

/// Chat request bodies as sent to the provider, and the model string that sends them.
const CHAT_REQUESTS: &[(&str, &str)] = &[
    (
        "openai/chat_completion_image_base64.request.json",
        "openai/gpt-5-nano",
    ),
    ("openai/chat_tools.request.json", "openai/gpt-5-nano"),
    (
        "mistral/chat_tool_call.request.json",
        "mistral/mistral-small-latest",
    ),
];

/// Embeddings request bodies as sent to the provider, and the model string that sends them.
const EMBEDDINGS_REQUESTS: &[(&str, &str)] = &[
    (
        "openai/embeddings.request.json",
        "openai/text-embedding-3-small",
    ),
    ("mistral/embeddings.request.json", "mistral/codestral-embed"),
];

/// Embeddings 200 bodies: file, model, vectors, dimensions (floats) or base64 length.
const EMBEDDINGS_RESPONSES: &[(&str, &str)] = &[
    (
        "openai/embeddings_float.json",
        "openai/text-embedding-3-small",
    ),
    (
        "openai/embeddings_base64.json",
        "openai/text-embedding-3-small",
    ),
    ("mistral/embeddings.json", "mistral/codestral-embed"),
];

/// OpenAI-format recordings deliberately not replayed here, with the reason.
const NOT_REPLAYED: &[(&str, &str)] = &[
    (
        "openai/responses.json",
        "Responses API, not Chat Completions",
    ),
    (
        "openai/responses_stream.sse",
        "Responses API, not Chat Completions",
    ),
];

fn upstream(e: &GatewayError) -> &tollgate_core::UpstreamError {
    match e {
        GatewayError::Upstream(u) => u,
        other => panic!("not an upstream error: {other:?}"),
    }
}

fn usage_of(v: &Value) -> Usage {
    serde_json::from_value(v["usage"].clone()).unwrap()
}

fn text(r: &ChatCompletionResponse) -> String {
    r.choices[0].message.text_content().unwrap_or_default()
}

fn parse(fx: &Fixtures, file: &str, model: &str) -> ChatCompletionResponse {
    adapter(model)
        .parse_chat_response(&fx.bytes(file))
        .unwrap_or_else(|e| panic!("{file} via {model}: {e}"))
}

fn transcript(fx: &Fixtures, file: &str) -> (Vec<StreamEvent>, Transcript) {
    let (_, model, _) = STREAMS
        .iter()
        .find(|(f, _, _)| *f == file)
        .unwrap_or_else(|| panic!("{file} is not in STREAMS"));
    let body = fx.bytes(file);
    let events = decode_in_chunks(&adapter(model), &body, body.len());
    let t = Transcript::from_events(&events);
    (events, t)
}

#[test]
fn every_openai_format_fixture_is_replayed_by_some_test() {
    let Some(fx) = fixtures() else { return };
    let mut known: Vec<&str> = Vec::new();
    known.extend(CHAT_RESPONSES.iter().map(|c| c.file));
    known.extend(STREAMS.iter().map(|s| s.0));
    known.extend(ERRORS.iter().map(|e| e.file));
    known.extend(CHAT_REQUESTS.iter().map(|r| r.0));
    known.extend(EMBEDDINGS_REQUESTS.iter().map(|r| r.0));
    known.extend(EMBEDDINGS_RESPONSES.iter().map(|r| r.0));
    known.extend(NOT_REPLAYED.iter().map(|r| r.0));
    let mut missing = Vec::new();
    for dir in ["openai", "openai_compat", "mistral"] {
        for file in fx.files_under(dir) {
            if !known.contains(&file.as_str()) {
                missing.push(file);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures no test replays (add them to a table): {missing:?}"
    );
    // And every file the tables name exists.
    for file in known {
        fx.bytes(file);
    }
}

// ---------------------------------------------------------------------------------------------
// Non-streaming chat responses
// ---------------------------------------------------------------------------------------------

#[test]
fn every_chat_response_parses_and_reaches_the_client_under_its_alias() {
    let Some(fx) = fixtures() else { return };
    for case in CHAT_RESPONSES {
        let ctx = format!("{} via {}", case.file, case.model);
        let a = adapter(case.model);
        let body = fx.bytes(case.file);
        let recorded: Value = serde_json::from_slice(&body).unwrap();
        let parsed = a
            .parse_chat_response(&body)
            .unwrap_or_else(|e| panic!("{ctx}: parse: {e}"));
        let (out, usage) = a
            .forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS)
            .unwrap_or_else(|e| panic!("{ctx}: forward: {e}"));
        let out_json: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{ctx}: forwarded body is not JSON: {e}"));

        assert_eq!(out_json["model"], CLIENT_ALIAS, "{ctx}");
        assert_eq!(parsed.model, recorded["model"].as_str().unwrap(), "{ctx}");
        assert!(!parsed.choices.is_empty(), "{ctx}: no choices");
        assert_eq!(
            parsed.choices[0].message.role,
            Role::Assistant,
            "{ctx}: role"
        );

        // The usage the gateway bills is the one the provider reported, extras included.
        let recorded_usage = usage_of(&recorded);
        assert_eq!(usage.as_ref(), Some(&recorded_usage), "{ctx}: usage");
        assert_eq!(parsed.usage.as_ref(), Some(&recorded_usage), "{ctx}: usage");
        assert_eq!(
            recorded_usage.total_tokens,
            recorded["usage"]["total_tokens"].as_u64().unwrap(),
            "{ctx}"
        );

        match case.path {
            Path::Bytes => {
                // Byte for byte what the provider sent, but for the model value.
                let model = recorded["model"].as_str().unwrap();
                assert_eq!(
                    out.as_ref(),
                    splice_model(&body, model, CLIENT_ALIAS).as_slice(),
                    "{ctx}: forwarded bytes differ beyond `model`"
                );
                let mut minus_model = out_json.clone();
                minus_model["model"] = recorded["model"].clone();
                assert_eq!(minus_model, recorded, "{ctx}");
                // Parsing (used by the router) loses nothing either.
                assert_nothing_dropped(
                    &recorded,
                    &serde_json::to_value(&parsed).unwrap(),
                    "$",
                    &[],
                );
            }
            Path::Normalised => {
                // Re-encoded from the parsed response, with only the documented fields changed.
                let mut expected = parsed.clone();
                expected.model = CLIENT_ALIAS.to_owned();
                let reparsed: ChatCompletionResponse = serde_json::from_value(out_json.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: re-encoded body does not parse: {e}"));
                assert_eq!(reparsed, expected, "{ctx}");
                let mut exempt = vec!["model"];
                exempt.extend_from_slice(case.normalised_keys);
                assert_nothing_dropped(&recorded, &out_json, "$", &exempt);
                // OpenAI's vocabulary only.
                for c in &parsed.choices {
                    assert!(
                        !matches!(c.finish_reason, Some(FinishReason::Other(_))),
                        "{ctx}: finish_reason {:?}",
                        c.finish_reason
                    );
                    assert!(
                        !c.message.extra.contains_key("reasoning"),
                        "{ctx}: `reasoning` left next to reasoning_content"
                    );
                }
            }
        }
    }
}

#[test]
fn openai_usage_reports_reasoning_and_cached_tokens() {
    let Some(fx) = fixtures() else { return };
    // file, prompt, completion, total, reasoning, cached
    for (file, p, c, t, r) in [
        ("openai/chat_completion.json", 8, 377, 385, 320),
        ("openai/chat_tool_call.json", 162, 287, 449, 256),
        ("openai/chat_parallel_tool_calls.json", 162, 219, 381, 192),
        ("openai/chat_json_mode.json", 21, 280, 301, 256),
        ("openai/chat_reasoning.json", 27, 267, 294, 192),
    ] {
        let a = adapter("openai/gpt-5-nano");
        let (_, usage) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap();
        let u = usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (p, c, t),
            "{file}"
        );
        assert_eq!(u.reasoning_tokens(), r, "{file}");
        assert_eq!(u.cached_tokens(), 0, "{file}");
        let details = u.completion_tokens_details.as_ref().unwrap();
        assert_eq!(details.accepted_prediction_tokens, Some(0), "{file}");
        assert_eq!(details.rejected_prediction_tokens, Some(0), "{file}");
        assert_eq!(details.audio_tokens, Some(0), "{file}");
        assert_eq!(
            u.prompt_tokens_details.as_ref().unwrap().audio_tokens,
            Some(0)
        );
    }
}

#[test]
fn openai_text_answers_keep_content_refusal_and_annotations() {
    let Some(fx) = fixtures() else { return };
    let r = parse(&fx, "openai/chat_completion.json", "openai/gpt-5-nano");
    assert_eq!(r.id, "chatcmpl-C4Gm9xikLXbgE8He0BHWeoM03aa72");
    assert_eq!(r.object, "chat.completion");
    assert_eq!(r.created, 1_755_133_833);
    assert_eq!(r.service_tier.as_deref(), Some("default"));
    assert_eq!(r.system_fingerprint, None);
    assert!(text(&r).starts_with("Hi there! How can I help you today?"));
    assert!(text(&r).ends_with("Tell me what you\u{2019}d like to do."));
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.choices[0].message.refusal, None);
    assert_eq!(r.choices[0].message.extra["annotations"], json!([]));
    assert_eq!(r.choices[0].message.reasoning_content, None);

    // Reasoning models show their reasoning only as a token count in Chat Completions.
    let r = parse(&fx, "openai/chat_reasoning.json", "openai/gpt-5-nano");
    assert!(text(&r).starts_with("Ball costs 5 cents."));
    assert_eq!(r.choices[0].message.reasoning_content, None);
    assert_eq!(r.usage.unwrap().reasoning_tokens(), 192);
}

#[test]
fn json_mode_content_is_the_json_document_as_a_string() {
    let Some(fx) = fixtures() else { return };
    let r = parse(&fx, "openai/chat_json_mode.json", "openai/gpt-5-nano");
    let doc: Value = serde_json::from_str(&text(&r)).unwrap();
    assert_eq!(
        doc,
        json!({"name": "Alex Smith", "age": 29, "city": "San Francisco"})
    );
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));

    // Ollama's OpenAI endpoint with a json_schema response_format, same shape.
    let r = parse(
        &fx,
        "ollama/openai_compat_chat.json",
        "hosted_vllm/qwen3:0.6b",
    );
    let doc: Value = serde_json::from_str(&text(&r)).unwrap();
    assert_eq!(doc, json!({"city": "Paris", "country": "France"}));
}

/// File, model, the calls `(id, name, parsed arguments)`, and the message content.
type ToolCallCase<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str, Value)],
    Option<&'a str>,
);

#[test]
fn tool_call_responses_keep_arguments_as_json_strings_and_finish_with_tool_calls() {
    let Some(fx) = fixtures() else { return };
    let cases: &[ToolCallCase<'_>] = &[
        (
            "openai/chat_tool_call.json",
            "openai/gpt-5-nano",
            &[(
                "call_8fxy20OEu9ulvvaa5b5CzVA4",
                "get_current_weather",
                json!({"location": "Boston, MA", "unit": "fahrenheit"}),
            )],
            None,
        ),
        (
            "openai/chat_parallel_tool_calls.json",
            "openai/gpt-5-nano",
            &[(
                "call_Xc4Aiih37EUJvqjoZlu4Vdoi",
                "get_current_weather",
                json!({"location": "San Francisco, CA"}),
            )],
            None,
        ),
        (
            "openai_compat/deepseek/chat_tool_call.json",
            "deepseek/deepseek-reasoner",
            &[(
                "call_00_9V0vrf86Pc9aelHCJMZqnJBo",
                "weather",
                json!({"location": "San Francisco"}),
            )],
            Some(""),
        ),
        (
            "openai_compat/xai/chat_tool_call.json",
            "xai/grok-3-mini",
            &[(
                "call_93562515",
                "weather",
                json!({"location": "San Francisco"}),
            )],
            Some(""),
        ),
        (
            "openai_compat/openrouter/chat_tool_call.json",
            "openrouter/mistralai/mistral-small",
            &[(
                "3sniiMddS",
                "divide",
                json!({"numerator": 123, "denominator": 456, "on_inf": "infinity"}),
            )],
            Some(""),
        ),
        (
            "openai_compat/groq/chat_parallel_tool_calls.json",
            "groq/llama-3.3-70b-versatile",
            &[
                ("call_REDACTED_1", "lookup_harbor_label", Value::Null),
                ("call_REDACTED_2", "lookup_orchard_label", Value::Null),
            ],
            None,
        ),
        (
            "mistral/chat_tool_call.json",
            "mistral/mistral-small-latest",
            &[
                ("call_REDACTED_1", "lookup_harbor_label", json!({})),
                ("call_REDACTED_2", "lookup_orchard_label", json!({})),
            ],
            Some(""),
        ),
    ];
    for (file, model, calls, content) in cases {
        let a = adapter(model);
        let body = fx.bytes(file);
        for r in [
            a.parse_chat_response(&body).unwrap(),
            // What the client receives, whichever path.
            serde_json::from_slice(
                &a.forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS)
                    .unwrap()
                    .0,
            )
            .unwrap(),
        ] {
            let choice = &r.choices[0];
            assert_eq!(
                choice.finish_reason,
                Some(FinishReason::ToolCalls),
                "{file}"
            );
            assert_eq!(choice.message.text_content().as_deref(), *content, "{file}");
            let got = choice.message.tool_calls.as_ref().unwrap();
            assert_eq!(got.len(), calls.len(), "{file}");
            for (call, (id, name, args)) in got.iter().zip(calls.iter()) {
                assert_eq!(call.id, *id, "{file}");
                assert_eq!(call.kind, "function", "{file}");
                assert_eq!(call.function.name, *name, "{file}");
                let parsed: Value = serde_json::from_str(&call.function.arguments)
                    .unwrap_or_else(|e| panic!("{file}: arguments not JSON: {e}"));
                assert_eq!(&parsed, args, "{file}");
            }
        }
    }
    // The recorded argument strings are kept exactly (spacing included), not re-encoded.
    let r = parse(
        &fx,
        "openai_compat/deepseek/chat_tool_call.json",
        "deepseek/deepseek-reasoner",
    );
    assert_eq!(
        r.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .arguments,
        "{\"location\": \"San Francisco\"}"
    );
    let r = parse(
        &fx,
        "openai_compat/groq/chat_parallel_tool_calls.json",
        "groq/llama-3.3-70b-versatile",
    );
    assert_eq!(
        r.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .arguments,
        "null"
    );
}

#[test]
fn deepseek_reasoning_content_and_cache_split_are_forwarded() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("deepseek/deepseek-reasoner");
    let r = parse(
        &fx,
        "openai_compat/deepseek/chat_reasoning.json",
        "deepseek/deepseek-reasoner",
    );
    let reasoning = r.choices[0].message.reasoning_content.as_deref().unwrap();
    assert!(reasoning.starts_with("Okay, the user is asking how to cross the street."));
    assert!(reasoning.ends_with("Need to present it clearly and concisely."));
    assert!(text(&r).starts_with("Crossing the street safely involves careful observation"));
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));

    let (_, usage) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("openai_compat/deepseek/chat_reasoning.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let u = usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens), (12, 789));
    assert_eq!(u.reasoning_tokens(), 415);
    assert_eq!(u.cached_tokens(), 0);
    assert_eq!(u.extra["prompt_cache_hit_tokens"], 0);
    assert_eq!(u.extra["prompt_cache_miss_tokens"], 12);

    let (_, usage) = a
        .forward_chat_response(
            Bytes::from(fx.bytes("openai_compat/deepseek/chat_tool_call.json")),
            CLIENT_ALIAS,
        )
        .unwrap();
    let u = usage.unwrap();
    assert_eq!(u.cached_tokens(), 320);
    assert_eq!(u.reasoning_tokens(), 48);
    assert_eq!(u.extra["prompt_cache_hit_tokens"], 320);
    assert_eq!(u.extra["prompt_cache_miss_tokens"], 19);
    let r = parse(
        &fx,
        "openai_compat/deepseek/chat_tool_call.json",
        "deepseek/deepseek-reasoner",
    );
    assert!(
        r.choices[0]
            .message
            .reasoning_content
            .as_deref()
            .unwrap()
            .starts_with("The user is asking for the weather in San Francisco.")
    );
}

#[test]
fn xai_reasoning_content_and_usage_extras_are_forwarded() {
    let Some(fx) = fixtures() else { return };
    let r = parse(
        &fx,
        "openai_compat/xai/chat_completion.json",
        "xai/grok-3-mini",
    );
    assert_eq!(text(&r), "Hello");
    assert!(
        r.choices[0]
            .message
            .reasoning_content
            .as_deref()
            .unwrap()
            .starts_with("First, the user said: \"Say a single word.\"")
    );
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 1, 241)
    );
    assert_eq!(u.cached_tokens(), 2);
    assert_eq!(u.reasoning_tokens(), 228);
    assert_eq!(u.extra["num_sources_used"], 0);
    assert_eq!(u.extra["cost_in_usd_ticks"], 1_176_500);
    assert_eq!(u.prompt_tokens_details.unwrap().extra["text_tokens"], 12);

    let r = parse(
        &fx,
        "openai_compat/xai/chat_tool_call.json",
        "xai/grok-3-mini",
    );
    let u = r.usage.unwrap();
    assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (244, 189));
}

#[test]
fn openrouter_reasoning_field_is_normalised_and_provider_fields_kept() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("openrouter/x-ai/grok-4");
    let body = fx.bytes("openai_compat/openrouter/chat_usage.json");
    let (out, usage) = a
        .forward_chat_response(Bytes::from(body), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let msg = &out["choices"][0]["message"];
    // `reasoning: null` is OpenRouter's spelling; the client sees no such field.
    assert!(msg.get("reasoning").is_none(), "{msg}");
    assert!(msg.get("reasoning_content").is_none(), "{msg}");
    assert!(
        msg["content"]
            .as_str()
            .unwrap()
            .starts_with("I'm Grok, a helpful and maximally truthful AI")
    );
    assert_eq!(out["provider"], "xAI");
    assert_eq!(out["choices"][0]["native_finish_reason"], "stop");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    let u = usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (687, 240, 927)
    );
    assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (682, 165));

    let r = parse(
        &fx,
        "openai_compat/openrouter/chat_tool_call.json",
        "openrouter/mistralai/mistral-small",
    );
    assert_eq!(r.extra["provider"], "Mistral");
    assert_eq!(r.choices[0].extra["native_finish_reason"], "tool_calls");
    assert_eq!(
        r.choices[0].message.tool_calls.as_ref().unwrap()[0].extra["index"],
        0
    );
}

#[test]
fn think_tags_in_content_are_split_into_reasoning_content() {
    let Some(fx) = fixtures() else { return };
    for (file, model, reasoning_start, reasoning_end, answer_start, answer_end) in [
        (
            "openai_compat/groq/chat_reasoning.json",
            "groq/deepseek-r1-distill-llama-70b",
            "Okay, so I want to make Uruguayan alfajores.",
            "I'm excited to try these Uruguayan alfajores!",
            "To make Uruguayan alfajores, follow these organized steps",
            "with a cup of coffee or tea!",
        ),
        (
            "openai_compat/huggingface/chat.json",
            "huggingface/deepseek-ai/DeepSeek-R1",
            "Hmm, the user just said \"hello\".",
            "Keeping it simple but friendly feels right here.",
            "Hello! \u{1f44b} How can I help you today?",
            "How can I help you today?",
        ),
    ] {
        let a = adapter(model);
        let (out, _) = a
            .forward_chat_response(Bytes::from(fx.bytes(file)), CLIENT_ALIAS)
            .unwrap();
        let r: ChatCompletionResponse = serde_json::from_slice(&out).unwrap();
        let m = &r.choices[0].message;
        let reasoning = m.reasoning_content.as_deref().unwrap();
        let answer = m.text_content().unwrap();
        assert!(
            reasoning.starts_with(reasoning_start),
            "{file}: {reasoning}"
        );
        assert!(reasoning.ends_with(reasoning_end), "{file}: {reasoning}");
        assert!(answer.starts_with(answer_start), "{file}: {answer}");
        assert!(answer.ends_with(answer_end), "{file}: {answer}");
        assert!(!answer.contains("<think>") && !answer.contains("</think>"));
        assert!(!reasoning.contains("<think>") && !reasoning.contains("</think>"));
        // Not a tool call just because `tool_calls: []` is present (Hugging Face).
        assert_eq!(
            r.choices[0].finish_reason,
            Some(FinishReason::Stop),
            "{file}"
        );
    }
    // The empty tool_calls list and the odd top-level fields survive.
    let r = parse(
        &fx,
        "openai_compat/huggingface/chat.json",
        "huggingface/deepseek-ai/DeepSeek-R1",
    );
    assert_eq!(r.choices[0].message.tool_calls.as_deref(), Some(&[][..]));
    assert_eq!(r.extra["prompt"], json!([]));
    assert_eq!(r.choices[0].extra["seed"], 3_859_899_181_302_555_600_u64);
    assert_eq!(r.usage.unwrap().extra["cached_tokens"], 0);
}

#[test]
fn groq_and_cerebras_timing_fields_survive_normalisation() {
    let Some(fx) = fixtures() else { return };
    let r = parse(
        &fx,
        "openai_compat/groq/chat_parallel_tool_calls.json",
        "groq/llama-3.3-70b-versatile",
    );
    let u = r.usage.clone().unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (359, 35, 394)
    );
    assert_eq!(u.extra["queue_time"], 0.302_659_935);
    assert_eq!(u.extra["completion_time"], 0.091_971_902);
    assert_eq!(r.extra["x_groq"]["seed"], 544_824_924);
    assert_eq!(r.service_tier.as_deref(), Some("on_demand"));
    // The assistant turn had no `content` key: it reaches the client as `content: null`.
    assert_eq!(r.choices[0].message.content, None);

    let r = parse(
        &fx,
        "openai_compat/cerebras/chat.json",
        "cerebras/llama-3.3-70b",
    );
    assert_eq!(text(&r), "2 + 2 = 4.");
    assert_eq!(r.extra["time_info"]["queue_time"], 0.043_074_91);
    assert_eq!(
        r.system_fingerprint.as_deref(),
        Some("fp_39d7524db11a51c65436")
    );
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (43, 9, 52)
    );
}

#[test]
fn perplexity_citations_are_forwarded_with_the_answer() {
    let Some(fx) = fixtures() else { return };
    let r = parse(
        &fx,
        "openai_compat/perplexity/chat_citations.json",
        "perplexity/sonar",
    );
    let citations = r.extra["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 7);
    assert_eq!(citations[1], "https://en.wikipedia.org/wiki/San_Francisco");
    assert!(text(&r).contains("[2][3][5][7]"));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (10, 251, 261)
    );
}

#[test]
fn mistral_responses_keep_cached_tokens_and_service_tier() {
    let Some(fx) = fixtures() else { return };
    let r = parse(&fx, "mistral/chat.json", "mistral/mistral-small-latest");
    assert_eq!(text(&r), "identity probe");
    assert_eq!(r.choices[0].message.tool_calls, None);
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (21, 3, 24)
    );
    assert_eq!(u.cached_tokens(), 0);
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(0));
    assert_eq!(u.extra["service_tier"], "standard");

    // Tool calls carry an `index`, kept; content is "" rather than null, kept.
    let r = parse(
        &fx,
        "mistral/chat_tool_call.json",
        "mistral/mistral-small-latest",
    );
    let calls = r.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[1].extra["index"], 1);
    assert_eq!(text(&r), "");
}

#[test]
fn magistral_thinking_chunks_flatten_to_reasoning_content_and_text() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("mistral/magistral-medium-latest");
    let body = fx.bytes("mistral/chat_thinking.json");
    let recorded: Value = serde_json::from_slice(&body).unwrap();
    let parts = &recorded["choices"][0]["message"]["content"];
    let thinking = parts[0]["thinking"][0]["text"].as_str().unwrap();
    let answer = parts[1]["text"].as_str().unwrap();

    let (out, usage) = a
        .forward_chat_response(Bytes::from(body), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let msg = &out["choices"][0]["message"];
    assert_eq!(msg["content"], answer, "content must be the plain answer");
    assert_eq!(msg["reasoning_content"], thinking);
    assert!(thinking.starts_with("**Analogizing crossing a river**"));
    assert!(answer.starts_with("Crossing a river is quite different from crossing a street"));
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    let u = usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (664, 747, 1411)
    );
}

#[test]
fn ollama_openai_endpoint_reasoning_is_forwarded_or_normalised_by_provider() {
    let Some(fx) = fixtures() else { return };
    let body = fx.bytes("ollama/openai_compat_chat.json");
    let recorded: Value = serde_json::from_slice(&body).unwrap();
    let reasoning = recorded["choices"][0]["message"]["reasoning"]
        .as_str()
        .unwrap();

    // `openai/` forwards the bytes: the field stays as Ollama spelled it.
    let (out, _) = adapter("openai/qwen3:0.6b")
        .forward_chat_response(Bytes::from(body.clone()), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["choices"][0]["message"]["reasoning"], reasoning);

    // A normalising OpenAI-compatible server (vLLM) moves it to `reasoning_content`.
    let (out, usage) = adapter("hosted_vllm/qwen3:0.6b")
        .forward_chat_response(Bytes::from(body), CLIENT_ALIAS)
        .unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    let msg = &out["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], reasoning);
    assert!(msg.get("reasoning").is_none());
    assert_eq!(out["system_fingerprint"], "fp_ollama");
    assert_eq!(usage.unwrap().total_tokens, 151);
}

// ---------------------------------------------------------------------------------------------
// Embeddings responses
// ---------------------------------------------------------------------------------------------

#[test]
fn embeddings_responses_parse_with_vectors_and_usage() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("openai/text-embedding-3-small");
    let r: EmbeddingsResponse = a
        .parse_embeddings_response(&fx.bytes("openai/embeddings_float.json"))
        .unwrap();
    assert_eq!(r.object, "list");
    assert_eq!(r.model, "text-embedding-3-small");
    assert_eq!(r.data.len(), 1);
    match &r.data[0].embedding {
        EmbeddingVector::Float(v) => {
            assert_eq!(v.len(), 1536);
            assert_eq!(v[0], 0.017_608_326);
            assert_eq!(v[1535], 0.012_453_826);
        }
        other => panic!("expected floats: {other:?}"),
    }
    let u = r.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.total_tokens), (7, 7));

    let r = a
        .parse_embeddings_response(&fx.bytes("openai/embeddings_base64.json"))
        .unwrap();
    match &r.data[0].embedding {
        // 256 little-endian f32 = 1024 bytes = 1368 base64 characters.
        EmbeddingVector::Base64(s) => {
            assert_eq!(s.len(), 1368);
            assert!(s.starts_with("UlenPPk5k71f"));
        }
        other => panic!("expected base64: {other:?}"),
    }
    assert_eq!(r.usage.unwrap().prompt_tokens, 5);

    let r = adapter("mistral/codestral-embed")
        .parse_embeddings_response(&fx.bytes("mistral/embeddings.json"))
        .unwrap();
    assert_eq!(r.model, "codestral-embed");
    assert_eq!(r.data.len(), 3);
    for (i, e) in r.data.iter().enumerate() {
        assert_eq!(e.index as usize, i);
        assert!(matches!(&e.embedding, EmbeddingVector::Float(v) if v.len() == 64));
    }
    assert!(r.extra.contains_key("id"));
    let u = r.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.total_tokens), (38, 38));
    assert_eq!(u.extra["prompt_audio_seconds"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// Piece sizes every stream is fed in; small files are additionally cut at every offset.
const PIECE_SIZES: &[usize] = &[1, 2, 3, 5, 7, 13, 64, 4096];

#[test]
fn every_stream_decodes_to_the_same_events_however_the_bytes_are_split() {
    let Some(fx) = fixtures() else { return };
    for (file, model, _) in STREAMS {
        let a = adapter(model);
        let body = fx.bytes(file);
        let whole = fingerprint(&decode_in_chunks(&a, &body, body.len()));
        assert!(whole.len() >= 3, "{file}: {whole:?}");
        for &size in PIECE_SIZES {
            assert_eq!(
                fingerprint(&decode_in_chunks(&a, &body, size)),
                whole,
                "{file}: pieces of {size} bytes"
            );
        }
        if body.len() <= 4096 {
            for cut in 0..=body.len() {
                assert_eq!(
                    fingerprint(&decode_cut_at(&a, &body, &[cut])),
                    whole,
                    "{file}: cut at byte {cut}"
                );
            }
        }
    }
}

#[test]
fn every_stream_ends_with_done_or_its_midstream_error() {
    let Some(fx) = fixtures() else { return };
    for (file, _, _) in STREAMS {
        let (events, t) = transcript(&fx, file);
        let dones = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Done))
            .count();
        if *file == MIDSTREAM_ERROR {
            assert_eq!(dones, 0, "{file}");
            assert!(
                matches!(events.last(), Some(StreamEvent::Error(_))),
                "{file}"
            );
            assert_eq!(t.errors.len(), 1, "{file}");
        } else {
            assert_eq!(dones, 1, "{file}");
            assert!(matches!(events.last(), Some(StreamEvent::Done)), "{file}");
            assert!(t.errors.is_empty(), "{file}: {:?}", t.errors);
            assert!(t.finish_reason().is_some(), "{file}: no finish reason");
        }
        assert_eq!(t.roles.first(), Some(&Role::Assistant), "{file}");
    }
}

#[test]
fn forwarded_streams_yield_exactly_the_recorded_data_payloads() {
    let Some(fx) = fixtures() else { return };
    for (file, _, path) in STREAMS {
        let body = fx.bytes(file);
        let (_, t) = transcript(&fx, file);
        let payloads = data_payloads(&body);
        match path {
            Path::Bytes => {
                assert_eq!(t.typed_events, 0, "{file}");
                let got: Vec<&[u8]> = t.raw_payloads.iter().map(|b| b.as_ref()).collect();
                let want: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                assert_eq!(
                    got, want,
                    "{file}: Raw bytes differ from the data: payloads"
                );
            }
            Path::Normalised => {
                assert!(t.raw_payloads.is_empty(), "{file}");
                // Each payload became one chunk (the error payload became the Error event,
                // preceded by a usage chunk when it reported usage), and every field of it
                // survived except the renamed `reasoning`.
                let all: Vec<Value> = payloads
                    .iter()
                    .map(|p| serde_json::from_slice(p).unwrap())
                    .collect();
                let errors_with_usage = all
                    .iter()
                    .filter(|v| v.get("error").is_some() && v.get("usage").is_some())
                    .count();
                let payloads: Vec<Value> = all
                    .into_iter()
                    .filter(|v| v.get("error").is_none())
                    .collect();
                assert_eq!(t.chunks.len(), payloads.len() + errors_with_usage, "{file}");
                for (i, (chunk, payload)) in t.chunks.iter().zip(&payloads).enumerate() {
                    let chunk = serde_json::to_value(chunk).unwrap();
                    assert_nothing_dropped(payload, &chunk, &format!("{file}#{i}"), &["reasoning"]);
                    for (c, pc) in chunk["choices"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .zip(payload["choices"].as_array().unwrap())
                    {
                        assert!(c["delta"].get("reasoning").is_none(), "{file}#{i}");
                        if let Some(r) = pc["delta"]["reasoning"].as_str() {
                            assert_eq!(c["delta"]["reasoning_content"], r, "{file}#{i}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn openai_text_stream_reassembles_its_answer_without_usage() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai/chat_stream.sse");
    assert_eq!(
        t.content,
        "Hi there! How can I help today? I can answer questions, explain concepts, help with \
         writing or brainstorming, code, plan something, and more. Tell me what you\u{2019}d like \
         to work on or a topic you\u{2019}re curious about."
    );
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    assert_eq!(t.usage, None, "no stream_options: no usage");
    assert_eq!(t.usage_only_raw, 0);
    assert_eq!(t.raw_payloads.len(), 50);
    // The padding field is forwarded like everything else.
    assert!(t.chunks.iter().all(|c| c.extra.contains_key("obfuscation")));
}

#[test]
fn include_usage_streams_end_with_a_usage_only_chunk() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai/chat_stream_include_usage.sse");
    assert_eq!(t.content, "");
    assert_eq!(t.finish_reasons, [FinishReason::Length]);
    assert_eq!((t.usage_only_raw, t.usage_reports), (1, 1));
    assert!(t.chunks.last().unwrap().choices.is_empty());
    // Every earlier chunk said `"usage": null`.
    assert!(
        t.chunks[..t.chunks.len() - 1]
            .iter()
            .all(|c| c.usage == Some(None))
    );
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 100, 112)
    );
    assert_eq!((u.reasoning_tokens(), u.cached_tokens()), (100, 0));

    let (_, t) = transcript(&fx, "openai/chat_stream_include_usage_text.sse");
    assert_eq!(t.content, "cobalt");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    assert_eq!(t.usage_only_raw, 1);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 2, 14)
    );
}

#[test]
fn parallel_tool_call_stream_reassembles_arguments_per_index() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai/chat_tool_call_stream.sse");
    assert_eq!(t.tool_calls.len(), 2);
    for (index, (id, name, args, value)) in [
        ("call_REDACTED_1", "alpha", "{\"value\": \"red\"}", "red"),
        ("call_REDACTED_2", "beta", "{\"value\": \"blue\"}", "blue"),
    ]
    .into_iter()
    .enumerate()
    {
        let call = &t.tool_calls[&(index as u32)];
        assert_eq!(call.id.as_deref(), Some(id));
        assert_eq!(call.kind.as_deref(), Some("function"));
        assert_eq!(call.name.as_deref(), Some(name));
        assert_eq!(call.arguments, args);
        let parsed: Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(parsed, json!({"value": value}));
    }
    assert_eq!(t.content, "");
    assert_eq!(t.finish_reasons, [FinishReason::ToolCalls]);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (90, 42, 132)
    );
}

#[test]
fn deepseek_streams_carry_reasoning_tool_calls_and_the_cache_split() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(
        &fx,
        "openai_compat/deepseek/chat_reasoning_tool_call_stream.sse",
    );
    assert_eq!(
        t.reasoning_content,
        "The user is asking for the weather in San Francisco. I need to use the weather tool to \
         get this information. Let me invoke the weather tool with the location parameter set to \
         \"San Francisco\"."
    );
    assert_eq!(t.content, "");
    let call = &t.tool_calls[&0];
    assert_eq!(t.tool_calls.len(), 1);
    assert_eq!(call.id.as_deref(), Some("call_00_ioIn7yN9p1ZOMNpDLwd4MgAF"));
    assert_eq!(call.name.as_deref(), Some("weather"));
    assert_eq!(call.arguments, "{\"location\": \"San Francisco\"}");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"location": "San Francisco"})
    );
    assert_eq!(t.finish_reasons, [FinishReason::ToolCalls]);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (339, 83, 422)
    );
    assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (320, 39));
    assert_eq!(u.extra["prompt_cache_hit_tokens"], 320);
    assert_eq!(u.extra["prompt_cache_miss_tokens"], 19);

    let (_, t) = transcript(&fx, "openai_compat/deepseek/chat_stream_cache_usage.sse");
    assert_eq!(t.content, "cached");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    // Usage rides on the finish chunk, not a separate `choices: []` chunk.
    assert_eq!((t.usage_reports, t.usage_only_raw), (1, 0));
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (900, 2, 902)
    );
    assert_eq!(u.cached_tokens(), 896);
    assert_eq!(u.extra["prompt_cache_hit_tokens"], 896);
    assert_eq!(u.extra["prompt_cache_miss_tokens"], 4);
}

#[test]
fn xai_streams_carry_reasoning_then_answer_and_a_usage_chunk() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai_compat/xai/chat_stream.sse");
    assert_eq!(t.reasoning_content, "First, the user said");
    assert_eq!(t.content, "Hello");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    assert_eq!(t.usage_only_raw, 1);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 1, 303)
    );
    assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (11, 290));
    assert_eq!(u.extra["cost_in_usd_ticks"], 1_466_250);
    assert_eq!(u.extra["num_sources_used"], 0);

    let (_, t) = transcript(&fx, "openai_compat/xai/chat_tool_call_stream.sse");
    assert_eq!(t.reasoning_content, "First, the user is");
    let call = &t.tool_calls[&0];
    assert_eq!(call.id.as_deref(), Some("call_55117580"));
    assert_eq!(call.name.as_deref(), Some("weather"));
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"location": "San Francisco"})
    );
    assert_eq!(t.finish_reasons, [FinishReason::ToolCalls]);
    assert_eq!(t.usage.unwrap().total_tokens, 513);
}

#[test]
fn perplexity_stream_repeats_usage_and_the_last_one_counts() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai_compat/perplexity/chat_stream.sse");
    assert_eq!(t.content, "**EcoVista Day**[1][5]");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    assert_eq!(t.usage_reports, 8, "every chunk repeats usage");
    assert_eq!(t.usage_only_raw, 0);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (11, 434, 445)
    );
    assert!(t.chunks.iter().all(|c| {
        c.extra["citations"]
            .as_array()
            .is_some_and(|a| a.len() == 5)
    }));
}

#[test]
fn groq_streams_are_normalised_chunks_with_usage_twice() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai_compat/groq/chat_stream.sse");
    assert_eq!(t.typed_events, 6);
    assert_eq!(t.content, "pong ");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    // On the finish chunk and again on the include_usage chunk.
    assert_eq!(t.usage_reports, 2);
    assert!(t.chunks.last().unwrap().choices.is_empty());
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (15, 4, 19)
    );
    assert_eq!(u.extra["queue_time"], 0.237_325_232);
    assert_eq!(t.chunks[0].extra["x_groq"]["seed"], 2_067_642_677);
    assert_eq!(
        t.chunks[4].extra["x_groq"]["usage"]["total_tokens"], 19,
        "x_groq.usage kept"
    );

    let (_, t) = transcript(&fx, "openai_compat/groq/chat_tool_call_stream.sse");
    assert_eq!(t.tool_calls.len(), 2);
    assert_eq!(
        t.tool_calls[&0].name.as_deref(),
        Some("lookup_harbor_label")
    );
    assert_eq!(
        t.tool_calls[&1].name.as_deref(),
        Some("lookup_orchard_label")
    );
    for call in t.tool_calls.values() {
        assert_eq!(call.arguments, "null");
        assert_eq!(
            serde_json::from_str::<Value>(&call.arguments).unwrap(),
            Value::Null
        );
    }
    assert_eq!(t.finish_reasons, [FinishReason::ToolCalls]);
    assert_eq!(t.usage.unwrap().total_tokens, 394);
}

#[test]
fn openrouter_stream_reasoning_becomes_reasoning_content() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "openai_compat/openrouter/chat_reasoning_stream.sse");
    assert_eq!(
        t.reasoning_content,
        "This is a simple arithmetic question. 2+2 equals 4."
    );
    assert_eq!(t.content, "2 + 2 = 4");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    // The `: OPENROUTER PROCESSING` comments produced nothing.
    assert_eq!(t.typed_events, 14);
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (43, 36, 79)
    );
    assert_eq!(u.reasoning_tokens(), 13);
    assert_eq!(u.extra["cost"], 0.000_669);
    assert_eq!(u.extra["is_byok"], false);
    // reasoning_details and native_finish_reason are provider fields, kept.
    assert!(t.chunks.iter().all(
        |c| c.choices[0].delta.extra.contains_key("reasoning_details") || c.usage().is_some()
    ));
    assert!(
        t.chunks
            .iter()
            .all(|c| c.choices[0].extra.contains_key("native_finish_reason"))
    );
}

#[test]
fn openrouter_midstream_error_ends_the_stream_with_its_status() {
    let Some(fx) = fixtures() else { return };
    let (events, t) = transcript(&fx, MIDSTREAM_ERROR);
    assert_eq!(events.len(), 5, "{events:?}");
    // The error chunk's usage (tokens OpenRouter billed) comes first, as a usage chunk, so
    // usage tracking and spend see it.
    let u = t.usage.as_ref().expect("usage of the failed stream");
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (43, 10, 53)
    );
    assert!(u.extra.contains_key("cost_details"), "{u:?}");
    assert!(
        matches!(&events[3], StreamEvent::Chunk(c) if c.choices.is_empty()
        && c.id == "gen-1762179802-UN8pkJI4AGZvryk0kFnb")
    );
    assert!(
        !t.done,
        "[DONE] after the error must not turn it into a success"
    );
    assert_eq!(
        t.reasoning_content,
        "We need to respond to a greeting. The user"
    );
    assert_eq!(
        t.finish_reasons,
        [FinishReason::Length, FinishReason::Length]
    );
    let e = &t.errors[0];
    assert_eq!(e.status(), 400);
    assert_eq!(e.class(), ErrorClass::BadRequest);
    assert_eq!(
        e.to_string(),
        "litellm.BadRequestError: OpenRouterException - Token limit reached"
    );
    let up = upstream(e);
    assert_eq!(up.code.as_deref(), Some("400"));
    assert_eq!(up.provider, "OpenRouter");
    let body = serde_json::to_value(e.to_body()).unwrap();
    assert_eq!(body["error"]["code"], "400");
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[test]
fn mistral_streams_carry_usage_on_the_finish_chunk() {
    let Some(fx) = fixtures() else { return };
    let (_, t) = transcript(&fx, "mistral/chat_stream.sse");
    assert_eq!(t.content, "Pong");
    assert_eq!(t.finish_reasons, [FinishReason::Stop]);
    let last = t.chunks.last().unwrap();
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(last.usage().map(|u| u.total_tokens), Some(26));
    assert_eq!(last.extra["p"], "abc", "padding field kept");
    let u = t.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.cached_tokens()),
        (23, 3, 0)
    );
    assert_eq!(u.extra["service_tier"], "standard");

    let (_, t) = transcript(&fx, "mistral/chat_tool_call_stream.sse");
    let call = &t.tool_calls[&0];
    assert_eq!(t.tool_calls.len(), 1);
    assert_eq!(call.id.as_deref(), Some("call_REDACTED_1"));
    assert_eq!(call.name.as_deref(), Some("lookup_city"));
    assert_eq!(call.arguments, "{\"city\": \"Paris\"}");
    assert_eq!(t.finish_reasons, [FinishReason::ToolCalls]);
    assert_eq!(t.usage.unwrap().total_tokens, 112);
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn recorded_error_bodies_become_openai_shaped_errors_with_the_upstream_status() {
    let Some(fx) = fixtures() else { return };
    for case in ERRORS {
        let ctx = case.file;
        let a = adapter(case.model);
        let mut headers = HeaderMap::new();
        if case.file.ends_with("error_400_unknown_model.json") {
            // Recorded with the wrong content type; the body is still JSON.
            headers.insert(
                http::header::CONTENT_TYPE,
                "application/octet-stream".parse().unwrap(),
            );
        }
        let e = a.parse_error(case.status, &headers, &fx.bytes(case.file));
        assert_eq!(e.status(), case.status, "{ctx}");
        assert_eq!(e.class(), case.class, "{ctx}");
        assert_eq!(e.retry_after(), None, "{ctx}");
        let up = upstream(&e);
        assert_eq!(up.provider, case.provider, "{ctx}");
        assert_eq!(up.message, case.message, "{ctx}");
        assert_eq!(up.error_type.as_deref(), case.error_type, "{ctx}");
        assert_eq!(up.param.as_deref(), case.param, "{ctx}");
        assert_eq!(up.code.as_deref(), case.code, "{ctx}");
        assert_eq!(
            e.to_string(),
            format!(
                "litellm.{}: {}Exception - {}",
                case.class.name(),
                case.provider,
                case.message
            ),
            "{ctx}"
        );

        // The client sees exactly {"error":{"message","type","param","code"}}, code = status.
        let body = serde_json::to_value(e.to_body()).unwrap();
        let obj = body.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["error"], "{ctx}");
        let inner = body["error"].as_object().unwrap();
        let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "message", "param", "type"], "{ctx}");
        assert_eq!(body["error"]["message"], e.to_string(), "{ctx}");
        assert_eq!(body["error"]["code"], case.status.to_string(), "{ctx}");
        assert_eq!(
            body["error"]["type"],
            case.error_type.unwrap_or(case.class.default_type()),
            "{ctx}"
        );
        assert_eq!(
            body["error"]["param"],
            case.param.map_or(Value::Null, Value::from),
            "{ctx}"
        );
    }
}

#[test]
fn retry_hints_on_a_recorded_rate_limit_reach_the_error() {
    let Some(fx) = fixtures() else { return };
    let a = adapter("openrouter/google/gemini-2.0-flash-exp:free");
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "3".parse().unwrap());
    let e = a.parse_error(
        429,
        &headers,
        &fx.bytes("openai_compat/openrouter/error_429_provider.json"),
    );
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(3)));
    assert!(e.class().is_retryable());
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

fn expected_upstream_model(provider_model: &str) -> String {
    let m = tollgate_core::ModelRef::parse(provider_model, None).unwrap();
    if m.provider == tollgate_core::Provider::FireworksAi {
        format!("accounts/fireworks/models/{}", m.model)
    } else {
        m.model
    }
}

fn assert_standard_headers(r: &tollgate_providers::UpstreamRequest, ctx: &str) {
    assert_eq!(r.method, http::Method::POST, "{ctx}");
    assert_eq!(
        r.headers[http::header::AUTHORIZATION],
        format!("Bearer {API_KEY}"),
        "{ctx}"
    );
    assert_eq!(
        r.headers[http::header::CONTENT_TYPE],
        "application/json",
        "{ctx}"
    );
}

#[test]
fn chat_request_fixtures_reach_the_upstream_with_nothing_dropped() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in CHAT_REQUESTS {
        let recorded = fx.json(file);
        let mut req: ChatCompletionRequest =
            serde_json::from_value(recorded.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Typed round trip loses nothing.
        assert_eq!(serde_json::to_value(&req).unwrap(), recorded, "{file}");
        // The client addressed an alias; the upstream gets the provider's model id.
        req.model = CLIENT_ALIAS.to_owned();
        let a = adapter(model);
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.url, format!("{API_BASE}/chat/completions"), "{file}");
        assert_standard_headers(&r, file);
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            sent, recorded,
            "{file}: upstream body differs from the recording"
        );

        // The edit path (forced stream usage) keeps everything too.
        req.stream = Some(true);
        let r = a
            .chat_request(
                &req,
                CallOptions {
                    force_stream_usage: true,
                    drop_params: false,
                },
            )
            .unwrap();
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        let mut expected = recorded.clone();
        expected["stream"] = json!(true);
        expected["stream_options"] = json!({"include_usage": true});
        assert_eq!(sent, expected, "{file}: forced-usage body");
    }
}

#[test]
fn chat_request_fixtures_reach_every_family_provider_intact() {
    let Some(fx) = fixtures() else { return };
    for (file, _) in CHAT_REQUESTS {
        let recorded = fx.json(file);
        let mut req: ChatCompletionRequest = serde_json::from_value(recorded.clone()).unwrap();
        req.model = CLIENT_ALIAS.to_owned();
        for provider in openai_compat::providers() {
            let model = format!(
                "{}/{}",
                provider.as_str(),
                recorded["model"].as_str().unwrap()
            );
            let ctx = format!("{file} via {model}");
            let r = adapter(&model)
                .chat_request(&req, CallOptions::default())
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert!(r.url.ends_with("/chat/completions"), "{ctx}: {}", r.url);
            let sent: Value = serde_json::from_slice(&r.body).unwrap();
            let mut expected = recorded.clone();
            expected["model"] = json!(expected_upstream_model(&model));
            assert_eq!(sent, expected, "{ctx}");
        }
    }
}

#[test]
fn embeddings_request_fixtures_reach_the_upstream_with_nothing_dropped() {
    let Some(fx) = fixtures() else { return };
    for (file, model) in EMBEDDINGS_REQUESTS {
        let recorded = fx.json(file);
        let mut req: EmbeddingsRequest =
            serde_json::from_value(recorded.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(serde_json::to_value(&req).unwrap(), recorded, "{file}");
        req.model = CLIENT_ALIAS.to_owned();
        let r = adapter(model).embeddings_request(&req).unwrap();
        assert_eq!(r.url, format!("{API_BASE}/embeddings"), "{file}");
        assert_standard_headers(&r, file);
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent, recorded, "{file}");
    }
    // Provider-specific knobs pass through untouched.
    let req: EmbeddingsRequest =
        serde_json::from_value(fx.json("mistral/embeddings.request.json")).unwrap();
    assert_eq!(req.extra["output_dimension"], 64);
    assert_eq!(req.input.len(), 3);
    let req: EmbeddingsRequest =
        serde_json::from_value(fx.json("openai/embeddings.request.json")).unwrap();
    assert_eq!(
        (req.dimensions, req.encoding_format.as_deref()),
        (Some(256), Some("base64"))
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests: random splits, corruption and truncation never panic
// ---------------------------------------------------------------------------------------------

/// Every stream the fuzzers use: the family streams plus the Responses API stream as foreign
/// (but SSE) input.
fn fuzz_streams(fx: &Fixtures) -> Vec<(String, Adapter, Vec<u8>)> {
    let mut out: Vec<(String, Adapter, Vec<u8>)> = STREAMS
        .iter()
        .map(|(file, model, _)| ((*file).to_owned(), adapter(model), fx.bytes(file)))
        .collect();
    out.push((
        "openai/responses_stream.sse".to_owned(),
        adapter("openai/gpt-4o"),
        fx.bytes("openai/responses_stream.sse"),
    ));
    out
}

fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    const SPECIAL: &[u8] = b"{}[]\":,\\\n\r :data[DONE]\xff\xc3";
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            v.push(SPECIAL[rng.below(SPECIAL.len())]);
            continue;
        }
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v[at] = (rng.next_u64() & 0xff) as u8,
            1 => v[at] = SPECIAL[rng.below(SPECIAL.len())],
            2 => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                let dup = v[at..end].to_vec();
                let to = rng.below(v.len());
                v.splice(to..to, dup);
            }
            4 => v.insert(at, SPECIAL[rng.below(SPECIAL.len())]),
            _ => v.truncate(at),
        }
    }
    v
}

/// What must hold for any input: the stream ends with exactly one terminal event (`Done` or
/// an error), nothing follows `Done`, and at most one `Done`.
fn assert_stream_terminates(events: &[StreamEvent], ctx: &str) {
    assert!(
        matches!(
            events.last(),
            Some(StreamEvent::Done | StreamEvent::Error(_))
        ),
        "{ctx}: stream did not end with Done or Error: {:?}",
        events.last()
    );
    let dones: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, StreamEvent::Done))
        .map(|(i, _)| i)
        .collect();
    assert!(dones.len() <= 1, "{ctx}: {} Done events", dones.len());
    if let Some(&i) = dones.first() {
        assert_eq!(i, events.len() - 1, "{ctx}: events after Done");
    }
}

#[test]
fn random_splits_never_change_a_stream() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5EED_0001);
    for (file, a, body) in fuzz_streams(&fx) {
        let whole = fingerprint(&decode_in_chunks(&a, &body, body.len()));
        for round in 0..48 {
            let max_piece = [1, 2, 4, 9, 33, 300][round % 6];
            let cuts = rng.cuts(body.len(), max_piece);
            assert_eq!(
                fingerprint(&decode_cut_at(&a, &body, &cuts)),
                whole,
                "{file}: round {round}, cuts {cuts:?}"
            );
        }
    }
}

#[test]
fn corrupted_or_truncated_streams_never_panic_and_always_terminate() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5EED_0002);
    for (file, a, body) in fuzz_streams(&fx) {
        // Every truncation point of the small streams, a sample of the large ones.
        let step = (body.len() / 512).max(1);
        for end in (0..=body.len()).step_by(step) {
            let events = decode_in_chunks(&a, &body[..end], 7);
            assert_stream_terminates(&events, &format!("{file}[..{end}]"));
        }
        for round in 0..150 {
            let input = mutate(&mut rng, &body);
            let max_piece = 1 + rng.below(200);
            let cuts = rng.cuts(input.len(), max_piece);
            let events = decode_cut_at(&a, &input, &cuts);
            let ctx = format!("{file}: mutation round {round}");
            assert_stream_terminates(&events, &ctx);
            // Split-invariance holds for garbage too.
            assert_eq!(
                fingerprint(&decode_in_chunks(&a, &input, input.len())),
                fingerprint(&events),
                "{ctx}"
            );
            for e in &events {
                if let StreamEvent::Error(err) = e {
                    let body = serde_json::to_value(err.to_body()).unwrap();
                    assert_eq!(body["error"]["code"], err.status().to_string(), "{ctx}");
                }
            }
        }
        // Feeding after the end, or finishing twice, does not panic.
        let mut d = a.stream_decoder();
        d.feed(&body);
        let _ = d.finish();
        let _ = d.feed(&body);
        let _ = d.finish();
    }
}

#[test]
fn corrupted_json_bodies_never_panic_any_parser() {
    let Some(fx) = fixtures() else { return };
    let mut rng = XorShift::new(0x5EED_0003);
    let mut bodies: Vec<(&str, &str)> = Vec::new();
    bodies.extend(CHAT_RESPONSES.iter().map(|c| (c.file, c.model)));
    bodies.extend(ERRORS.iter().map(|e| (e.file, e.model)));
    bodies.extend(EMBEDDINGS_RESPONSES.iter().copied());
    bodies.extend(CHAT_REQUESTS.iter().copied());
    bodies.extend(EMBEDDINGS_REQUESTS.iter().copied());
    const STATUSES: &[u16] = &[
        400, 401, 403, 404, 408, 413, 422, 429, 498, 500, 502, 503, 504, 529,
    ];
    for (file, model) in bodies {
        let a = adapter(model);
        let body = fx.bytes(file);
        for round in 0..120 {
            let input = if round % 4 == 0 {
                body[..rng.below(body.len() + 1)].to_vec()
            } else {
                mutate(&mut rng, &body)
            };
            let ctx = format!("{file}: round {round}");
            let _ = a.parse_chat_response(&input);
            let _ = a.parse_embeddings_response(&input);
            // Forwarding does not validate what it does not read (an upstream's invalid UTF-8
            // inside a string goes through as sent), but it must never break a valid body.
            let input_json = serde_json::from_slice::<Value>(&input).ok();
            if let (Ok((out, _)), Some(input_json)) = (
                a.forward_chat_response(Bytes::from(input.clone()), CLIENT_ALIAS),
                &input_json,
            ) {
                let v: Value = serde_json::from_slice(&out)
                    .unwrap_or_else(|e| panic!("{ctx}: forwarding broke a valid body: {e}"));
                if input_json["model"].is_string() {
                    assert_eq!(v["model"], CLIENT_ALIAS, "{ctx}");
                }
            }
            if let Some(out) =
                tollgate_providers::json_splice::replace_top_level_string(&input, "model", "x\"y")
            {
                if input_json.is_some() {
                    let v: Value = serde_json::from_slice(&out)
                        .unwrap_or_else(|e| panic!("{ctx}: splice broke valid JSON: {e}"));
                    assert_eq!(v["model"], "x\"y", "{ctx}");
                }
            }
            let status = STATUSES[rng.below(STATUSES.len())];
            let e = a.parse_error(status, &HeaderMap::new(), &input);
            let expected = if status == 504 { 408 } else { status };
            assert_eq!(e.status(), expected, "{ctx}");
            assert!(!upstream(&e).message.is_empty(), "{ctx}");
            let shaped = serde_json::to_value(e.to_body()).unwrap();
            assert_eq!(shaped["error"]["code"], expected.to_string(), "{ctx}");
            if let Ok(req) = serde_json::from_slice::<ChatCompletionRequest>(&input) {
                let _ = a.chat_request(&req, CallOptions::default());
            }
            if let Ok(req) = serde_json::from_slice::<EmbeddingsRequest>(&input) {
                let _ = a.embeddings_request(&req);
            }
        }
    }
    // Odd statuses and bodies that are not JSON at all.
    let a = adapter("openai/gpt-4o");
    for body in [
        &b""[..],
        b"   ",
        b"<html>502 Bad Gateway</html>",
        b"\xff\xfe",
        b"null",
        b"[]",
    ] {
        for status in [0, 99, 200, 302, 418, 599, 600, u16::MAX] {
            let e = a.parse_error(status, &HeaderMap::new(), body);
            assert!(!upstream(&e).message.is_empty());
            let _ = e.to_body();
        }
    }
}
