//! The router seen through the real binary: retry and fallback headers on answers and errors,
//! the `x-litellm-num-retries` header, and the 429 when every deployment is cooling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, client};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer};

fn config(mock: &MockServer) -> String {
    let base = format!("{}/v1", mock.base_url());
    format!(
        r#"
model_list:
  - model_name: main
    litellm_params: {{model: openai/primary, api_base: "{base}", api_key: k}}
  - model_name: backup
    litellm_params: {{model: openai/secondary, api_base: "{base}", api_key: k}}
  - model_name: pair
    litellm_params: {{model: openai/p1, api_base: "{base}", api_key: k}}
  - model_name: pair
    litellm_params: {{model: openai/p2, api_base: "{base}", api_key: k}}
router_settings:
  fallbacks: [{{main: [backup]}}]
  num_retries: 3
  allowed_fails: 0
  cooldown_time: 60
"#
    )
}

async fn post(gw: &Gateway, model: &str, retries: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
    if let Some(n) = retries {
        req = req.header("x-litellm-num-retries", n);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn retry_and_fallback_headers_on_answers_and_errors() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(503).for_model("primary").times(0));
    let gw = Gateway::start(&config(&mock));

    let resp = post(&gw, "main", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "backup");
    assert_eq!(header(&resp, "x-litellm-max-retries"), "3");
    assert_eq!(header(&resp, "x-litellm-attempted-retries"), "0");

    // Both of a pair fail: one retry (the header's limit) moves to the other at once.
    mock.push(
        MockScript::status(500)
            .header("retry-after", "0")
            .for_model("p1")
            .times(0),
    );
    mock.push(
        MockScript::status(500)
            .header("retry-after", "0")
            .for_model("p2")
            .times(0),
    );
    let resp = post(&gw, "pair", Some("1")).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(header(&resp, "x-litellm-attempted-retries"), "1");
    assert_eq!(header(&resp, "x-litellm-max-retries"), "1");
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "0");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "500");

    // Both are cooling now (allowed_fails 0): LiteLLM's 429 without calling anyone.
    let before = mock.requests().len();
    let resp = post(&gw, "pair", None).await;
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = header(&resp, "retry-after").parse().unwrap();
    assert!((55..=60).contains(&retry_after), "{retry_after}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "429");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No deployments available for selected model, Try again in "),
        "{v}"
    );
    assert_eq!(mock.requests().len(), before);

    let resp = post(&gw, "pair", Some("many")).await;
    assert_eq!(
        resp.status(),
        400,
        "a bad x-litellm-num-retries is the client's error"
    );
}

#[tokio::test]
async fn token_counter_counts_with_the_deployments_tokenizer() {
    let mock = MockServer::start().await.unwrap();
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: smart\n    litellm_params: {{model: openai/gpt-4o, api_base: \"{}/v1\", api_key: k}}\n",
        mock.base_url()
    ));
    let v: Value = client()
        .post(gw.url("/utils/token_counter"))
        .json(&json!({"model": "smart", "messages": [{"role": "user", "content": "hello world"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total_tokens"], 9, "{v}");
    assert_eq!(v["request_model"], "smart");
    assert_eq!(v["model_used"], "gpt-4o");
    assert_eq!(v["tokenizer_type"], "openai_tokenizer");
    let v: Value = client()
        .post(gw.url("/utils/token_counter"))
        .json(&json!({"model": "smart", "prompt": "hello world"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total_tokens"], 2);
    let resp = client()
        .post(gw.url("/utils/token_counter"))
        .json(&json!({"model": "smart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        mock.requests().is_empty(),
        "counting never calls the provider"
    );
}
