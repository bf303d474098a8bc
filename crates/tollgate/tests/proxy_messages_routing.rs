//! `/v1/messages` goes through the routing loop like chat: a failing Claude deployment falls
//! back natively to another Claude group, or through the chat bridge to a group that does not
//! speak Messages, and errors keep Anthropic's shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, client};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer};

fn config(mock: &MockServer) -> String {
    let base = mock.base_url();
    format!(
        r#"
model_list:
  - model_name: claude-main
    litellm_params: {{model: anthropic/claude-down, api_base: "{base}", api_key: k}}
  - model_name: claude-backup
    litellm_params: {{model: anthropic/claude-up, api_base: "{base}", api_key: k}}
  - model_name: claude-alone
    litellm_params: {{model: anthropic/claude-down, api_base: "{base}", api_key: k}}
  - model_name: gpt-backup
    litellm_params: {{model: openai/gpt-up, api_base: "{base}/v1", api_key: k}}
router_settings:
  fallbacks: [{{claude-main: [claude-backup]}}, {{claude-alone: [gpt-backup]}}]
  num_retries: 0
"#
    )
}

fn message(model: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": model,
           "content": [{"type": "text", "text": "Paris."}], "stop_reason": "end_turn",
           "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 2}})
}

fn overloaded() -> MockScript {
    MockScript::json(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
    .for_model("claude-down")
    .times(0)
}

async fn ask(gw: &Gateway, model: &str) -> reqwest::Response {
    client()
        .post(gw.url("/v1/messages"))
        .json(&json!({"model": model, "max_tokens": 16,
                      "messages": [{"role": "user", "content": "Capital of France?"}]}))
        .send()
        .await
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_failing_claude_group_falls_back_natively_to_another() {
    let mock = MockServer::start().await.unwrap();
    mock.push(overloaded());
    mock.push(MockScript::json(200, message("claude-up")).for_model("claude-up"));
    let gw = Gateway::start(&config(&mock));
    let resp = ask(&gw, "claude-main").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "claude-backup");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(
        v["model"], "claude-main",
        "the client's name, not the fallback's"
    );
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/messages", "/v1/messages"], "both native");

    // The primary is cooling now: the next call goes straight to the fallback.
    mock.push(MockScript::json(200, message("claude-up")).for_model("claude-up"));
    let resp = ask(&gw, "claude-main").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-model-group"), "claude-backup");
    assert_eq!(
        mock.requests().len(),
        3,
        "the cooling primary is not called"
    );
}

#[tokio::test]
async fn a_fallback_to_a_chat_model_goes_through_the_bridge_without_calling_the_primary_again() {
    let mock = MockServer::start().await.unwrap();
    mock.push(overloaded());
    mock.push(MockScript::reply("Paris, via GPT.").for_model("gpt-up"));
    let gw = Gateway::start(&config(&mock));
    let resp = ask(&gw, "claude-alone").await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["model"], "claude-alone");
    assert_eq!(v["content"][0]["text"], "Paris, via GPT.");
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(paths[0], "/v1/messages");
    assert!(paths[1].ends_with("/chat/completions"), "{paths:?}");
}

#[tokio::test]
async fn when_every_group_fails_the_error_is_anthropic_shaped() {
    let mock = MockServer::start().await.unwrap();
    mock.push(overloaded());
    mock.push(MockScript::status(503).for_model("claude-up").times(0));
    let gw = Gateway::start(&config(&mock));
    let resp = ask(&gw, "claude-main").await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert!(v["error"]["type"].is_string(), "{v}");
}

#[tokio::test]
async fn count_tokens_for_a_chat_model_uses_the_real_tokenizer() {
    let mock = MockServer::start().await.unwrap();
    let gw = Gateway::start(&config(&mock));
    let text = "Tokenizers split unfamiliar words like antidisestablishmentarianism.";
    let v: Value = client()
        .post(gw.url("/v1/messages/count_tokens"))
        .json(&json!({"model": "gpt-backup", "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Three framing tokens per message, as chat tokenizers count them, plus the BPE count.
    let want = 3 + tollgate_router::tokens::count_text_tokens("gpt-backup", text) as u64;
    assert_eq!(v["input_tokens"], want, "{v}");
    assert_ne!(
        want,
        3 + tollgate_bridge::messages::tokens::count_text(text),
        "the byte estimate would differ"
    );
    assert!(mock.requests().is_empty(), "counting calls no one");
}
