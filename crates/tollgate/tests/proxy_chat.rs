//! The real binary in front of the mock provider: chat, streams, headers and auth.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, client, config_for, sse_data};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer, StreamScript};

async fn setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let gw = Gateway::start(&config_for(&mock.base_url()));
    (mock, gw)
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]})
}

#[tokio::test]
async fn chat_is_forwarded_with_the_upstream_model_and_key_and_answered_with_the_alias() {
    let (mock, gw) = setup().await;
    let mut body = chat_body("gpt-alias");
    body["temperature"] = json!(0.3);
    body["some_future_param"] = json!({"x": [1]});
    body["metadata"] = json!({"tags": ["a"]});
    body["num_retries"] = json!(2);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .header("x-litellm-call-id", "call-123")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["x-litellm-call-id"], "call-123");
    assert_eq!(h["x-litellm-model-group"], "gpt-test");
    assert_eq!(h["x-litellm-model-api-base"], mock.base_url().as_str());
    assert_eq!(h["x-litellm-model-id"].len(), 64);
    assert!(h.contains_key("x-litellm-version"));
    let overhead: f64 = h["x-litellm-overhead-duration-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(overhead >= 0.0);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "gpt-alias");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        tollgate_mock::DEFAULT_REPLY
    );
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-upstream-secret")
    );
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["some_future_param"], json!({"x": [1]}));
    assert!(
        sent.body.get("metadata").is_none(),
        "gateway fields are not forwarded"
    );
    assert!(sent.body.get("num_retries").is_none());
}

#[tokio::test]
async fn stream_frames_match_openai_with_and_without_usage() {
    let (_mock, gw) = setup().await;
    for include_usage in [false, true] {
        let mut body = chat_body("gpt-test");
        body["stream"] = json!(true);
        if include_usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        let resp = client()
            .post(gw.url("/chat/completions"))
            .bearer_auth("sk-master")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "text/event-stream; charset=utf-8"
        );
        assert!(resp.headers().contains_key("x-litellm-model-id"));
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
        assert_eq!(content, tollgate_mock::DEFAULT_REPLY);
        assert!(chunks.iter().all(|c| c["model"] == "gpt-test"));
        let usage_chunks: Vec<&Value> = chunks
            .iter()
            .filter(|c| c["choices"].as_array().unwrap().is_empty())
            .collect();
        if include_usage {
            assert_eq!(usage_chunks.len(), 1);
            assert!(usage_chunks[0]["usage"]["total_tokens"].as_u64().unwrap() > 0);
            assert!(
                chunks[..chunks.len() - 1]
                    .iter()
                    .all(|c| c["usage"].is_null())
            );
        } else {
            assert!(usage_chunks.is_empty(), "no usage chunk unless asked");
            assert!(
                chunks.iter().all(|c| c.get("usage").is_none()),
                "no usage field unless asked: {text}"
            );
        }
    }
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_is_a_plain_json_error() {
    let (mock, gw) = setup().await;
    mock.push(MockScript::json(429, json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})).header("retry-after", "7"));
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .header("x-litellm-num-retries", "0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "429");
    assert_eq!(v["error"]["type"], "requests");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("litellm.RateLimitError: OpenAIException - slow down")
    );
}

#[tokio::test]
async fn a_stream_broken_mid_way_ends_with_one_error_event_and_no_done() {
    let (mock, gw) = setup().await;
    let events: Vec<Value> = (0..4)
        .map(|i| json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": format!("p{i}")}, "finish_reason": null}]}))
        .collect();
    let mut script = StreamScript::events(events);
    script.truncate_after = Some(2);
    mock.push(MockScript::stream(script));
    let mut body = chat_body("gpt-test");
    body["stream"] = json!(true);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap_or_default();
    let data = sse_data(&text);
    assert_eq!(data.len(), 3, "{text}");
    let last: Value = serde_json::from_str(&data[2]).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("APIConnectionError"),
        "{last}"
    );
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn upstream_errors_keep_litellm_status_and_class() {
    let (mock, gw) = setup().await;
    let cases = [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (404, "NotFoundError"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailableError"),
    ];
    for (status, class) in cases {
        mock.push(MockScript::status(status));
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth("sk-master")
            .header("x-litellm-num-retries", "0")
            .json(&chat_body("gpt-test"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], status.to_string());
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with(&format!("litellm.{class}: OpenAIException - ")),
            "{msg}"
        );
        assert!(!msg.contains("sk-upstream-secret"));
    }
}

#[tokio::test]
async fn timeouts_and_unreachable_upstreams() {
    let (mock, gw) = setup().await;
    mock.push(MockScript::hang());
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .header("x-litellm-num-retries", "0")
        .json(&chat_body("slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 408);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Timeout"),
        "{v}"
    );

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .json(&chat_body("unreachable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("litellm.APIConnectionError"),
        "{v}"
    );

    // The request's own timeout wins over the deployment's.
    mock.push(MockScript::reply("late").delay_ms(1500));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .header("x-litellm-timeout", "0.3")
        .header("x-litellm-num-retries", "0")
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 408);
}

#[tokio::test]
async fn auth_is_required_and_failures_are_openai_shaped() {
    let (_mock, gw) = setup().await;
    let c = client();
    let no_key = c
        .post(gw.url("/v1/chat/completions"))
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    assert!(no_key.headers().contains_key("x-litellm-call-id"));
    let v: Value = no_key.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "Authentication Error, No api key passed in."
    );
    assert_eq!(v["error"]["code"], "401");

    let wrong = c
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-wrong-key-1234")
        .json(&chat_body("gpt-test"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let text = wrong.text().await.unwrap();
    assert!(
        text.contains("Invalid proxy server token passed") && !text.contains("sk-wrong-key-1234"),
        "{text}"
    );

    for (header, value) in [
        ("x-api-key", "sk-master"),
        ("api-key", "sk-master"),
        ("x-litellm-api-key", "Bearer sk-master"),
    ] {
        let ok = c
            .post(gw.url("/v1/chat/completions"))
            .header(header, value)
            .json(&chat_body("gpt-test"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{header}");
    }
    assert_eq!(
        c.get(gw.url("/v1/models")).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        c.get(gw.url("/health/liveliness"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(gw.url("/health/readiness"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_400_and_never_reaches_the_provider() {
    let (mock, gw) = setup().await;
    let c = client();
    let cases: [(&str, u16, &str); 6] = [
        ("{not json", 400, "Invalid JSON"),
        (
            r#"{"messages":[{"role":"user","content":"x"}]}"#,
            400,
            "'model'",
        ),
        (r#"{"model":"gpt-test"}"#, 400, "'messages'"),
        (
            r#"{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            400,
            "'temperature'",
        ),
        (r#"{"model":"gpt-test","messages":[]}"#, 400, "messages"),
        (
            r#"{"model":"nope","messages":[{"role":"user","content":"x"}]}"#,
            400,
            "/chat/completions: Invalid model name passed in model=nope",
        ),
    ];
    for (body, status, text) in cases {
        let resp = c
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth("sk-master")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(text),
            "{body}: {v}"
        );
        assert_eq!(v["error"]["code"], status.to_string());
    }
    assert!(mock.requests().is_empty());
    let resp = c.get(gw.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    let resp = c.post(gw.url("/v1/nothing-here")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "404");
}

#[tokio::test]
async fn body_over_the_configured_limit_is_413() {
    let mock = MockServer::start().await.unwrap();
    let config = format!(
        "{}\n  max_request_size_mb: 0.001\n",
        config_for(&mock.base_url()).replace(
            "router_settings:\n  model_group_alias:\n    gpt-alias: gpt-test\n",
            ""
        )
    );
    let gw = Gateway::start(&config);
    let mut body = chat_body("gpt-test");
    body["messages"][0]["content"] = json!("x".repeat(5000));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("sk-master")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "413");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn embeddings_models_and_model_info() {
    let (mock, gw) = setup().await;
    let c = client();
    let resp = c
        .post(gw.url("/v1/embeddings"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "embed-test", "input": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "embed-test");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        mock.requests().last().unwrap().body["model"],
        "text-embedding-3-small"
    );

    let models: Value = c
        .get(gw.url("/v1/models"))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["gpt-test", "embed-test", "slow", "unreachable", "gpt-alias"]
    );
    assert_eq!(models["data"][0]["created"], 1_677_610_602);
    assert_eq!(models["data"][0]["owned_by"], "openai");

    let info: Value = c
        .get(gw.url("/v1/model/info"))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &info["data"][0];
    assert_eq!(first["model_name"], "gpt-test");
    assert_eq!(first["model_info"]["litellm_provider"], "openai");
    assert!(
        first["litellm_params"].get("api_key").is_none(),
        "secrets are never shown: {first}"
    );
    assert!(!info.to_string().contains("sk-upstream-secret"));
}

#[tokio::test]
async fn engines_and_deployment_routes_take_the_model_from_the_path() {
    let (mock, gw) = setup().await;
    for path in [
        "/engines/gpt-test/chat/completions",
        "/openai/deployments/gpt-test/chat/completions",
    ] {
        let resp = client()
            .post(gw.url(path))
            .bearer_auth("sk-master")
            .json(&chat_body("ignored"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["model"], "gpt-test");
    }
    assert_eq!(mock.requests().len(), 2);
}
