//! `Tollgate::messages` / `messages_stream` in-process against the mock: an OpenAI deployment
//! through the bridge, an Anthropic deployment natively.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use serde_json::{Value, json};
use tollgate::{Config, Tollgate};
use tollgate_mock::{MockScript, MockServer};

async fn client(mock: &MockServer) -> Tollgate {
    let base = mock.base_url();
    let root = base.trim_end_matches("/v1");
    let yaml = format!(
        "model_list:\n  - model_name: gpt\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {base}\n      api_key: sk-up\n  - model_name: claude\n    litellm_params:\n      model: anthropic/claude-sonnet-4-5\n      api_base: {root}\n      api_key: sk-ant\n"
    );
    let config = Config::from_yaml_str(&yaml, std::path::Path::new("inline.yaml")).unwrap();
    Tollgate::from_config(&config).unwrap()
}

fn request(model: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
           "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]})
}

#[tokio::test]
async fn bridge_answers_a_message_and_streams_tool_use() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let m = tg.messages(request("gpt")).await.unwrap();
    assert_eq!(m["type"], "message");
    assert_eq!(m["model"], "gpt");
    assert_eq!(m["content"][0]["text"], tollgate_mock::DEFAULT_REPLY);
    assert_eq!(m["stop_reason"], "end_turn");

    let args = json!({"city": "Paris", "days": [1, 2]});
    mock.push(MockScript::tool_call("get_weather", args.clone()));
    let events: Vec<Value> = tg
        .messages_stream(request("gpt"))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(events[0]["type"], "message_start");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    let partial: String = events
        .iter()
        .filter(|e| e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), args);
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn claude_deployments_are_called_natively() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    mock.push(MockScript::json(
        200,
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
               "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
               "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}),
    ));
    let mut req = request("claude");
    req["messages"][0]["content"] =
        json!([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]);
    let m = tg.messages(req.clone()).await.unwrap();
    assert_eq!(m["model"], "claude");
    assert_eq!(m["content"][0]["text"], "hello");
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    assert_eq!(sent.body["messages"], req["messages"]);
}
