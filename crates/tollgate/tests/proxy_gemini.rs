//! The real binary translating OpenAI-format requests to Gemini (AI Studio), against the mock
//! replaying recorded Gemini responses.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::{Gateway, client, sse_data};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer};

fn fixtures_present() -> bool {
    let present = tollgate_mock::default_fixtures_dir().is_some_and(|d| d.join("gemini").is_dir());
    if !present {
        eprintln!(
            "skipping: recorded fixtures not found (../shared/fixtures or TOLLGATE_FIXTURES_DIR)"
        );
    }
    present
}

async fn setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let base = mock.url("/v1beta");
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: gem\n    litellm_params:\n      model: gemini/gemini-2.0-flash\n      api_base: {base}\n      api_key: goog-upstream\n  - model_name: gem-embed\n    litellm_params:\n      model: gemini/gemini-embedding-001\n      api_base: {base}\n      api_key: goog-upstream\n"
    ));
    (mock, gw)
}

#[tokio::test]
async fn chat_is_translated_both_ways() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    mock.push(MockScript::fixture("gemini/generate_content.json"));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gem", "temperature": 0.2, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "gem");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The capital of France is Paris.\n"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(sent.header("x-goog-api-key"), Some("goog-upstream"));
    assert_eq!(
        sent.body["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(sent.body["contents"][0]["role"], "user");
    assert_eq!(sent.body["generationConfig"]["temperature"], 0.2);
}

#[tokio::test]
async fn stream_is_translated_to_openai_chunks() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    mock.push(MockScript::fixture("gemini/stream_generate_content.sse"));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gem", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let data = sse_data(&text);
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"]
                .get(0)
                .and_then(|ch| ch["delta"]["content"].as_str())
        })
        .collect();
    assert!(!content.is_empty());
    assert!(chunks.iter().any(|c| {
        c["choices"]
            .get(0)
            .is_some_and(|ch| ch["finish_reason"] == "stop")
    }));
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty()),
        "usage chunk only when asked"
    );
    assert_eq!(
        mock.requests().pop().unwrap().path,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    );
}

#[tokio::test]
async fn embeddings_in_base64_as_the_openai_sdk_asks() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    mock.push(MockScript::fixture("gemini/embed_content_batch.json"));
    let resp = client()
        .post(gw.url("/v1/embeddings"))
        .json(&json!({"model": "gem-embed", "input": ["a", "b"], "encoding_format": "base64"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let first = f32::from_le_bytes(bytes[..4].try_into().unwrap());
    assert!((first - -0.004_573_147).abs() < 1e-9, "{first}");
    assert_eq!(v["model"], "gem-embed");
}

#[tokio::test]
async fn gemini_errors_keep_status_and_retry_delay() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    let body: Value = serde_json::from_str(
        &std::fs::read_to_string(
            tollgate_mock::default_fixtures_dir()
                .unwrap()
                .join("gemini/error_429_resource_exhausted.json"),
        )
        .unwrap(),
    )
    .unwrap();
    mock.push(MockScript::json(429, body));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        // One error, not the router's retries after Gemini's retryDelay.
        .header("x-litellm-num-retries", "0")
        .json(&json!({"model": "gem", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("litellm.RateLimitError"),
        "{v}"
    );
}

#[tokio::test]
async fn grounding_and_safety_metadata_reach_the_client() {
    let (mock, gw) = setup().await;
    let grounding = json!({"webSearchQueries": ["euro 2024 winner"],
        "groundingChunks": [{"web": {"uri": "https://example.com/euro", "title": "example.com"}}]});
    let safety = json!([{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]);
    let answer = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Spain."}]},
        "finishReason": "STOP", "index": 0, "groundingMetadata": grounding, "safetyRatings": safety}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}});
    mock.push(MockScript::json(200, answer.clone()));
    let v: Value = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gem", "messages": [{"role": "user", "content": "Who won?"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["vertex_ai_grounding_metadata"], json!([grounding]));
    assert_eq!(v["vertex_ai_safety_results"], json!([safety]));

    // Streamed, the metadata rides on a chunk the client receives.
    mock.push(MockScript::stream(tollgate_mock::StreamScript {
        done: false,
        ..tollgate_mock::StreamScript::events(vec![answer])
    }));
    let body = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gem", "stream": true, "messages": [{"role": "user", "content": "Who won?"}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let chunks: Vec<Value> = sse_data(&body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let carrying: Vec<&Value> = chunks
        .iter()
        .filter(|c| c.get("vertex_ai_grounding_metadata").is_some())
        .collect();
    assert_eq!(carrying.len(), 1, "{body}");
    assert_eq!(
        carrying[0]["vertex_ai_grounding_metadata"],
        json!([grounding])
    );
}
