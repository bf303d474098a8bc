//! Three real gateway processes sharing router state through a real redis-server: a cooldown
//! set by one is honoured by all, and an rpm limit holds across them exactly.
//!
//! Needs `TOLLGATE_TEST_REDIS_URL` (scripts/test.sh starts a server and sets it); without it
//! the tests say so and pass without running.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Gateway, client};
use serde_json::json;
use tollgate_mock::{MockScript, MockServer};

fn redis_url() -> Option<String> {
    let url = std::env::var("TOLLGATE_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
    }
    url
}

/// A key prefix of its own per test run, so runs and tests never share counters.
fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}-{nanos}", std::process::id())
}

fn hits(mock: &MockServer, model: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.body.get("model").and_then(|m| m.as_str()) == Some(model))
        .count()
}

async fn post(gw: &Gateway, model: &str) -> u16 {
    client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_deployment_cooled_by_one_instance_is_skipped_by_all() {
    let Some(redis) = redis_url() else { return };
    let mock = MockServer::start().await.unwrap();
    let tag = unique();
    let bad = format!("bad-{tag}");
    let good = format!("good-{tag}");
    mock.push(MockScript::status(500).for_model(&bad).times(0));
    let base = format!("{}/v1", mock.base_url());
    // model_info.id keeps the ids unique to this run (they key the shared cooldown).
    let config = format!(
        r#"
model_list:
  - model_name: g
    litellm_params: {{model: "openai/{bad}", api_base: "{base}", api_key: k}}
    model_info: {{id: "bad-{tag}"}}
  - model_name: g
    litellm_params: {{model: "openai/{good}", api_base: "{base}", api_key: k}}
    model_info: {{id: "good-{tag}"}}
router_settings:
  redis_url: "{redis}"
  allowed_fails: 0
  cooldown_time: 120
"#
    );
    let gateways: Vec<Gateway> = (0..3).map(|_| Gateway::start(&config)).collect();
    // Until the bad deployment has failed once, calls may reach it; the first failure cools
    // it for everyone.
    let mut calls = 0;
    while hits(&mock, &bad) == 0 {
        assert_eq!(post(&gateways[calls % 3], "g").await, 200);
        calls += 1;
        assert!(calls < 200, "the bad deployment was never picked");
    }
    for round in 0..5 {
        for gw in &gateways {
            assert_eq!(post(gw, "g").await, 200, "round {round}");
        }
    }
    assert_eq!(
        hits(&mock, &bad),
        1,
        "after one failure no instance called the cooled deployment"
    );
}

#[tokio::test]
async fn an_rpm_limit_admits_exactly_that_many_across_three_instances() {
    let Some(redis) = redis_url() else { return };
    // The limit is per UTC minute: start early enough in a minute to finish inside it.
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let mock = MockServer::start().await.unwrap();
    let tag = unique();
    let base = format!("{}/v1", mock.base_url());
    let config = format!(
        r#"
model_list:
  - model_name: limited
    litellm_params: {{model: "openai/m-{tag}", api_base: "{base}", api_key: k, rpm: 10}}
    model_info: {{id: "rpm-{tag}"}}
router_settings:
  redis_url: "{redis}"
  routing_strategy: usage-based-routing-v2
"#
    );
    let gateways: Vec<Gateway> = (0..3).map(|_| Gateway::start(&config)).collect();
    let mut requests = Vec::new();
    for i in 0..30 {
        let gw = &gateways[i % 3];
        requests.push(post(gw, "limited"));
    }
    let statuses = futures::future::join_all(requests).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (10, 20), "{statuses:?}");
    assert_eq!(mock.requests().len(), 10);
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_gateway_serving() {
    let mock = MockServer::start().await.unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!(
        "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/x, api_base: \"{}/v1\", api_key: k}}\nrouter_settings:\n  redis_host: 127.0.0.1\n  redis_port: {port}\n",
        mock.base_url()
    );
    let gw = Gateway::start(&config);
    for _ in 0..3 {
        assert_eq!(post(&gw, "g").await, 200);
    }
}
