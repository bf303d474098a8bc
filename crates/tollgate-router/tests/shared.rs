//! Two routers (two "instances") sharing state through a real Redis: in-flight counts for
//! least-busy routing and latency windows for latency routing.
//!
//! Needs `TOLLGATE_TEST_REDIS_URL` (scripts/test.sh starts a server and sets it); without it
//! the tests say so and pass without running.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tollgate_config::Config;
use tollgate_core::{ChatCompletionRequest, ChatMessage};
use tollgate_mock::{MockScript, MockServer};
use tollgate_router::{CallContext, Router};

fn redis_url() -> Option<String> {
    let url = std::env::var("TOLLGATE_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
    }
    url
}

/// Two deployments of group `g` with ids unique to this run, and the given strategy.
fn config(mock: &MockServer, redis: &str, strategy: &str) -> (Config, String) {
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let base = mock.base_url();
    let yaml = format!(
        r#"
model_list:
  - model_name: g
    litellm_params: {{model: "openai/a-{tag}", api_base: "{base}", api_key: k}}
    model_info: {{id: "a-{tag}"}}
  - model_name: g
    litellm_params: {{model: "openai/b-{tag}", api_base: "{base}", api_key: k}}
    model_info: {{id: "b-{tag}"}}
router_settings:
  redis_url: "{redis}"
  routing_strategy: {strategy}
"#
    );
    (
        Config::from_yaml_str(&yaml, std::path::Path::new("t.yaml")).unwrap(),
        tag,
    )
}

fn chat() -> ChatCompletionRequest {
    ChatCompletionRequest::new("g".to_owned(), vec![ChatMessage::user("hi")])
}

fn hits(mock: &MockServer, model: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.body.get("model").and_then(|m| m.as_str()) == Some(model))
        .count()
}

#[tokio::test]
async fn least_busy_sees_the_calls_in_flight_on_another_instance() {
    let Some(redis) = redis_url() else { return };
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::reply("held").delay_ms(30_000));
    let (config, _) = config(&mock, &redis, "least-busy");
    let first = Router::from_config(&config).unwrap();
    let second = Router::from_config(&config).unwrap();
    let held = tokio::spawn(async move { first.chat_bytes(chat(), &CallContext::default()).await });
    while mock.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let busy = mock.requests()[0].body["model"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..6 {
        second
            .chat_bytes(chat(), &CallContext::default())
            .await
            .unwrap();
    }
    held.abort();
    assert_eq!(
        hits(&mock, &busy),
        1,
        "the second instance avoided the deployment busy on the first"
    );
}

#[tokio::test]
async fn latency_routing_uses_what_another_instance_measured() {
    let Some(redis) = redis_url() else { return };
    let mock = MockServer::start().await.unwrap();
    let (config, tag) = config(&mock, &redis, "latency-based-routing");
    let slow = format!("a-{tag}");
    mock.push(
        MockScript::reply("slow")
            .delay_ms(150)
            .for_model(&slow)
            .times(0),
    );
    let first = Router::from_config(&config).unwrap();
    // The first instance measures both (each unmeasured deployment is tried once).
    for _ in 0..4 {
        first
            .chat_bytes(chat(), &CallContext::default())
            .await
            .unwrap();
    }
    assert_eq!(hits(&mock, &slow), 1);
    let second = Router::from_config(&config).unwrap();
    for _ in 0..6 {
        second
            .chat_bytes(chat(), &CallContext::default())
            .await
            .unwrap();
    }
    assert_eq!(
        hits(&mock, &slow),
        1,
        "the second instance never measured the slow one itself"
    );
}
