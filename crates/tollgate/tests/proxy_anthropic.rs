//! The real binary translating OpenAI-format requests to Anthropic's Messages API, against the
//! mock replaying recorded Anthropic responses.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, client, sse_data};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer};

fn fixtures_present() -> bool {
    let present =
        tollgate_mock::default_fixtures_dir().is_some_and(|d| d.join("anthropic").is_dir());
    if !present {
        eprintln!(
            "skipping: recorded fixtures not found (../shared/fixtures or TOLLGATE_FIXTURES_DIR)"
        );
    }
    present
}

async fn setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: anthropic/claude-sonnet-4-5\n      api_base: {}\n      api_key: sk-ant-upstream\n",
        mock.url("")
    ));
    (mock, gw)
}

#[tokio::test]
async fn chat_is_translated_both_ways() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    mock.push(MockScript::fixture("anthropic/message.json"));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "claude", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "The capital of France is Paris."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 20);
    assert_eq!(v["usage"]["completion_tokens"], 10);

    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-upstream"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.body["system"], "Be brief.");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert_eq!(sent.body["messages"][0]["role"], "user");
    assert!(sent.body["max_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn streamed_tool_use_reassembles_into_openai_tool_call_chunks() {
    if !fixtures_present() {
        return;
    }
    let (mock, gw) = setup().await;
    mock.push(MockScript::fixture("anthropic/tool_use_stream.sse"));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "claude", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "What is 2 - 3?"}],
            "tools": [{"type": "function", "function": {"name": "subtract", "parameters": {"type": "object"}}}]}))
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
    let mut args = String::new();
    let mut name = None;
    let mut finish = None;
    for c in &chunks {
        assert_eq!(c["model"], "claude");
        if let Some(choice) = c["choices"].get(0) {
            if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
                for call in calls {
                    if let Some(n) = call["function"]["name"].as_str() {
                        name = Some(n.to_owned());
                    }
                    args.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_owned());
            }
        }
    }
    assert!(name.is_some());
    let parsed: Value =
        serde_json::from_str(&args).unwrap_or_else(|e| panic!("arguments {args:?}: {e}"));
    assert!(parsed.is_object());
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    let usage = chunks.last().unwrap();
    assert!(usage["choices"].as_array().unwrap().is_empty());
    assert!(usage["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn anthropic_errors_keep_status_and_class() {
    let (mock, gw) = setup().await;
    mock.push(MockScript::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 529);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AnthropicException - Overloaded"),
        "{v}"
    );
    assert_eq!(v["error"]["code"], "529");
}
