//! Provider pass-through routes and the native `/v1/responses` pass-through, through the real
//! binary against the mock: the gateway key is required and never forwarded, the provider
//! credential the gateway holds is added, and the answer comes back byte for byte. The usage
//! hook is exercised through the library.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{Gateway, client};
use serde_json::{Value, json};
use tollgate_mock::{MockScript, MockServer};

async fn setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let root = mock.url("");
    let gw = Gateway::start(&format!(
        r#"
model_list:
  - model_name: gpt-pt
    litellm_params: {{model: openai/gpt-4o, api_base: "{base}", api_key: sk-deploy-openai, use_in_pass_through: true}}
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o, api_base: "{base}", api_key: sk-upstream}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{root}", api_key: sk-ant-deploy}}
  - model_name: vertex
    litellm_params: {{model: vertex_ai/gemini-2.0-flash, api_base: "{root}", api_key: ya29.token, vertex_project: proj, use_in_pass_through: true}}
environment_variables:
  ANTHROPIC_API_KEY: sk-ant-env
  ANTHROPIC_API_BASE: "{root}"
  GEMINI_API_KEY: gm-env
  GEMINI_API_BASE: "{root}"
  COHERE_API_KEY: co-env
  COHERE_API_BASE: "{root}"
  MISTRAL_API_KEY: mi-env
  MISTRAL_API_BASE: "{base}"
  AZURE_API_KEY: az-env
  AZURE_API_BASE: "{root}"
  AWS_ACCESS_KEY_ID: AKIDEXAMPLE
  AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
  AWS_REGION_NAME: us-east-1
  AWS_BEDROCK_RUNTIME_ENDPOINT: "{root}"
general_settings:
  master_key: sk-master
"#
    ));
    (mock, gw)
}

fn anthropic_message() -> Value {
    json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 2}})
}

#[tokio::test]
async fn anthropic_passthrough_swaps_the_key_and_forwards_bytes() {
    let (mock, gw) = setup().await;
    mock.push(MockScript::json(200, anthropic_message()).header("request-id", "req_upstream"));
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}],"cache_control_probe":{"x":1}}"#;
    let resp = client()
        .post(gw.url("/anthropic/v1/messages?beta=true"))
        .header("x-api-key", "sk-master")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["request-id"],
        "req_upstream",
        "upstream headers kept"
    );
    assert!(resp.headers().contains_key("x-litellm-call-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        anthropic_message(),
        "the answer is the provider's, untouched"
    );
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.query.as_deref(), Some("beta=true"));
    assert_eq!(
        r.header("x-api-key"),
        Some("sk-ant-env"),
        "the gateway's credential, not the client's"
    );
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        r.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(r.body, serde_json::from_str::<Value>(body).unwrap());
    assert!(
        r.headers.values().all(|v| !v.contains("sk-master")),
        "gateway key leaked: {:?}",
        r.headers
    );

    // The call is logged with the usage the answer carried, priced from the body's model
    // (claude-sonnet-4-5: $3 in, $15 out per million tokens).
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = client()
            .get(gw.url("/spend/logs?summarize=false"))
            .bearer_auth("sk-master")
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["call_type"], "pass_through_endpoint");
    assert_eq!(row["prompt_tokens"], 5);
    assert_eq!(row["completion_tokens"], 2);
    let spend = row["spend"].as_f64().unwrap();
    assert!(
        (spend - (5.0 * 3e-6 + 2.0 * 15e-6)).abs() < 1e-12,
        "{spend}"
    );
}

#[tokio::test]
async fn streams_and_errors_pass_through_untouched() {
    let (mock, gw) = setup().await;
    let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let mut script = MockScript::json(200, Value::Null);
    script.json = None;
    script.body = Some(stream.to_owned());
    script.content_type = Some("text/event-stream".into());
    mock.push(script);
    let resp = client()
        .post(gw.url("/anthropic/v1/messages"))
        .bearer_auth("sk-master")
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":8,"stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(resp.text().await.unwrap(), stream, "byte for byte");

    let err = json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}});
    mock.push(MockScript::json(400, err.clone()));
    let resp = client()
        .post(gw.url("/anthropic/v1/messages"))
        .bearer_auth("sk-master")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        err,
        "the provider's own error body"
    );
}

#[tokio::test]
async fn a_gateway_key_is_required() {
    let (mock, gw) = setup().await;
    for path in [
        "/anthropic/v1/messages",
        "/openai/v1/models",
        "/gemini/v1beta/models",
    ] {
        let resp = client().post(gw.url(path)).body("{}").send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let resp = client()
            .post(gw.url(path))
            .bearer_auth("sk-wrong")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    assert!(mock.requests().is_empty());

    // LiteLLM's pass-through key header, for clients whose Authorization is the provider's.
    let resp = client()
        .post(gw.url("/anthropic/v1/messages"))
        .header("litellm_user_api_key", "sk-master")
        .header("authorization", "Bearer something-for-the-provider")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 401);
    let r = &mock.requests()[0];
    assert_eq!(
        r.header("litellm_user_api_key"),
        None,
        "the gateway key stays here"
    );
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("x-api-key"), Some("sk-ant-env"));
}

#[tokio::test]
async fn openai_passthrough_uses_the_opted_in_deployment() {
    let (mock, gw) = setup().await;
    let resp = client()
        .post(gw.url("/openai/v1/chat/completions"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "gpt-4o", "no model rewriting on pass-through");
    let r = &mock.requests()[0];
    assert_eq!(
        r.path, "/v1/chat/completions",
        "the base's /v1 is not doubled"
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk-deploy-openai"));

    // GET works too, and the chat alias route is still served by the router.
    mock.reset();
    let resp = client()
        .get(gw.url("/openai/v1/models"))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.requests()[0].method, "GET");
    let resp = client()
        .post(gw.url("/openai/deployments/gpt/chat/completions"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "ignored", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["model"], "gpt");
}

#[tokio::test]
async fn each_provider_gets_its_own_credential() {
    let (mock, gw) = setup().await;
    let call = |path: &'static str| {
        let url = gw.url(path);
        async move {
            let resp = client()
                .post(url)
                .bearer_auth("sk-master")
                .body(r#"{"contents":[]}"#)
                .send()
                .await
                .unwrap();
            assert!(
                resp.status().is_success() || resp.status() == 404,
                "{path}: {}",
                resp.status()
            );
        }
    };

    call("/gemini/v1beta/models/gemini-2.0-flash:generateContent?key=sk-master&alt=sse").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(r.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(
        r.query.as_deref(),
        Some("alt=sse"),
        "the gateway key is not forwarded"
    );
    assert_eq!(r.header("x-goog-api-key"), Some("gm-env"));
    assert_eq!(r.header("authorization"), None);

    call("/cohere/v2/chat").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(r.path, "/v2/chat");
    assert_eq!(r.header("authorization"), Some("Bearer co-env"));

    call("/mistral/v1/chat/completions").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some("Bearer mi-env"));

    call("/azure/openai/deployments/gpt4/chat/completions?api-version=2024-10-21").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(r.path, "/openai/deployments/gpt4/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.header("api-key"), Some("az-env"));

    call("/bedrock/model/anthropic.claude-3-haiku-20240307-v1:0/converse").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(
        r.path,
        "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"
    );
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/us-east-1/bedrock/aws4_request"),
        "re-signed with SigV4: {auth}"
    );
    assert!(r.header("x-amz-date").is_some());

    call("/vertex_ai/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent").await;
    let r = mock.requests().pop().unwrap();
    assert_eq!(
        r.path,
        "/v1/projects/proj/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(r.header("authorization"), Some("Bearer ya29.token"));
}

#[tokio::test]
async fn responses_go_natively_to_openai_and_through_the_bridge_elsewhere() {
    let (mock, gw) = setup().await;
    let body = json!({"model": "gpt", "input": "Say hi", "reasoning": {"effort": "low", "summary": "auto"},
        "include": ["reasoning.encrypted_content"], "store": true, "a_future_field": [1, 2]});
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth("sk-master")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-model-group"], "gpt");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response");
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_mock"), "the upstream's own id: {id}");
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/v1/responses");
    assert_eq!(r.header("authorization"), Some("Bearer sk-upstream"));
    let mut expected = body.clone();
    expected["model"] = json!("gpt-4o");
    assert_eq!(
        r.body, expected,
        "every field forwarded, only the model swapped"
    );

    // The gateway does not hold it: retrieving, listing and deleting ask the provider.
    mock.reset();
    let got: Value = client()
        .get(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], id.as_str());
    let r = &mock.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", format!("/v1/responses/{id}").as_str())
    );
    assert_eq!(
        r.header("authorization"),
        Some("Bearer sk-deploy-openai"),
        "the first OpenAI deployment"
    );
    let items = client()
        .get(gw.url(&format!("/v1/responses/{id}/input_items?order=asc")))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(items.status(), 200);
    assert_eq!(mock.requests()[1].query.as_deref(), Some("order=asc"));
    let deleted = client()
        .delete(gw.url(&format!("/v1/responses/{id}")))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(mock.requests()[2].method, "DELETE");
    let missing = client()
        .get(gw.url("/v1/responses/resp_nowhere"))
        .bearer_auth("sk-master")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A follow-up on the upstream's id is the upstream's to resolve.
    mock.reset();
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth("sk-master")
        .json(
            &json!({"model": "gpt", "input": "again", "previous_response_id": id, "stream": true}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("event: response.created\n"), "{text}");
    assert!(text.contains("event: response.completed\n"));
    let r = &mock.requests()[0];
    assert_eq!(r.path, "/v1/responses");
    assert_eq!(r.body["previous_response_id"], id);

    // Anthropic goes through the bridge; its stored conversation keeps the bridge even when
    // the follow-up names an OpenAI model.
    mock.reset();
    mock.push(MockScript::json(200, json!({"id": "msg_01", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 2}})));
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "claude", "input": "Say hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bridged: Value = resp.json().await.unwrap();
    assert_eq!(mock.requests()[0].path, "/v1/messages");
    mock.reset();
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "gpt", "input": "and now?", "previous_response_id": bridged["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = &mock.requests()[0];
    assert_eq!(
        r.path, "/v1/chat/completions",
        "the gateway's own conversation stays on the bridge"
    );
    assert_eq!(r.body["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn native_responses_errors_keep_the_upstream_status() {
    let (mock, gw) = setup().await;
    let err = json!({"error": {"message": "Previous response with id 'resp_x' not found.", "type": "invalid_request_error", "param": "previous_response_id", "code": "previous_response_not_found"}});
    mock.push(MockScript::json(404, err.clone()));
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth("sk-master")
        .json(&json!({"model": "gpt", "input": "x", "previous_response_id": "resp_x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.json::<Value>().await.unwrap(), err);
}

#[tokio::test]
async fn the_usage_hook_sees_json_and_streamed_usage() {
    let mock = MockServer::start().await.unwrap();
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: \"{}\", api_key: sk-ant, use_in_pass_through: true}}\n",
        mock.url("")
    );
    let config =
        tollgate_config::Config::from_yaml_str(&yaml, std::path::Path::new("t.yaml")).unwrap();
    let router = tollgate_router::Router::from_config(&config).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));

    mock.push(MockScript::json(200, anthropic_message()));
    let stream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\n";
    let mut script = MockScript::json(200, Value::Null);
    script.json = None;
    script.body = Some(stream.to_owned());
    script.content_type = Some("text/event-stream".into());
    mock.push(script);

    for _ in 0..2 {
        let sink_seen = Arc::clone(&seen);
        let call = tollgate_providers::operations::PassthroughCall {
            method: http::Method::POST,
            path: "/v1/messages".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from_static(b"{}"),
        };
        let reply = router
            .passthrough(
                tollgate_router::PassthroughProvider::Anthropic,
                call,
                &tollgate_router::CallContext::default(),
                Box::new(move |u| sink_seen.lock().unwrap().push(u)),
            )
            .await
            .unwrap();
        assert_eq!(reply.info.model_group, "claude", "the opted-in deployment");
        use futures::StreamExt;
        let _: Vec<_> = reply.body.collect().await;
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let json = seen[0].tokens.as_ref().unwrap();
    assert_eq!((json.prompt_tokens, json.completion_tokens), (5, 2));
    let streamed = seen[1].tokens.as_ref().unwrap();
    assert_eq!(
        (streamed.prompt_tokens, streamed.completion_tokens),
        (11, 6)
    );
    assert_eq!(mock.requests()[0].header("x-api-key"), Some("sk-ant"));
}
