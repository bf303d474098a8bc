//! Retries, fallbacks, cooldowns, timeouts, strategies and pre-call checks against the
//! scriptable mock provider.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use tollgate_config::Config;
use tollgate_core::{ChatCompletionRequest, ChatMessage, GatewayError};
use tollgate_mock::{MockScript, MockServer};
use tollgate_router::{CallContext, Router, RouterError};

/// A config whose `{base}` placeholders point at the mock.
fn router(mock: &MockServer, yaml: &str) -> Router {
    let yaml = yaml.replace("{base}", &format!("{}/v1", mock.base_url()));
    let config = Config::from_yaml_str(&yaml, std::path::Path::new("test.yaml")).unwrap();
    Router::from_config(&config).unwrap()
}

fn chat(model: &str) -> ChatCompletionRequest {
    ChatCompletionRequest::new(model.to_owned(), vec![ChatMessage::user("hi")])
}

fn ctx() -> CallContext {
    CallContext {
        route: "/chat/completions",
        ..CallContext::default()
    }
}

/// Requests the mock received for upstream model `model`.
fn hits(mock: &MockServer, model: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.body.get("model").and_then(|m| m.as_str()) == Some(model))
        .count()
}

fn deployment(name: &str, model: &str, extra: &str) -> String {
    format!(
        "  - model_name: {name}\n    litellm_params: {{model: openai/{model}, api_base: \"{{base}}\", api_key: k{extra}}}\n"
    )
}

#[tokio::test]
async fn a_failed_attempt_is_retried_at_once_on_another_healthy_deployment() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(500).for_model("bad").times(0));
    let yaml = format!(
        "model_list:\n{}{}",
        deployment("g", "bad", ""),
        deployment("g", "good", "")
    );
    let r = router(&mock, &yaml);
    for _ in 0..12 {
        let out = r.chat_bytes(chat("g"), &ctx()).await.unwrap();
        assert!(out.info.api_base.starts_with("http://127.0.0.1"));
        assert!(out.info.attempts.attempted_retries <= 1);
        assert_eq!(out.info.attempts.max_retries, 2);
    }
    assert_eq!(hits(&mock, "good"), 12, "every call ends on the good one");
    assert!(
        hits(&mock, "bad") <= 12,
        "never more than one try on the bad one per call"
    );
}

#[tokio::test]
async fn retries_run_out_and_the_original_error_is_returned_with_counts() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::status(429)
            .header("retry-after", "0")
            .for_model("busy")
            .times(0),
    );
    let r = router(
        &mock,
        &format!("model_list:\n{}", deployment("g", "busy", "")),
    );
    let err: RouterError = r.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert_eq!(err.error.status(), 429);
    assert_eq!(err.attempts.attempted_retries, 2);
    assert_eq!(err.attempts.max_retries, 2);
    assert_eq!(hits(&mock, "busy"), 3, "first attempt plus num_retries");
}

#[tokio::test]
async fn num_retries_from_the_request_wins_over_the_router() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::status(503)
            .header("retry-after", "0")
            .for_model("m")
            .times(0),
    );
    let r = router(
        &mock,
        &format!(
            "model_list:\n{}router_settings:\n  num_retries: 5\n",
            deployment("g", "m", "")
        ),
    );
    let header = CallContext {
        num_retries: Some(1),
        ..ctx()
    };
    let err = r.chat_bytes(chat("g"), &header).await.unwrap_err();
    assert_eq!(err.attempts.max_retries, 1);
    assert_eq!(hits(&mock, "m"), 2);
    let mut body = chat("g");
    body.extra.insert("num_retries".into(), json!(0));
    r.chat_bytes(body, &ctx()).await.unwrap_err();
    assert_eq!(
        hits(&mock, "m"),
        3,
        "num_retries 0 in the body: one attempt"
    );
}

#[tokio::test]
async fn bad_requests_are_not_retried_unless_the_retry_policy_says_so() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::status(400)
            .header("retry-after", "0")
            .for_model("m")
            .times(0),
    );
    let r = router(&mock, &format!("model_list:\n{}", deployment("g", "m", "")));
    assert_eq!(
        r.chat_bytes(chat("g"), &ctx())
            .await
            .unwrap_err()
            .error
            .status(),
        400
    );
    assert_eq!(hits(&mock, "m"), 1);
    let r = router(
        &mock,
        &format!(
            "model_list:\n{}router_settings:\n  retry_policy: {{BadRequestErrorRetries: 1}}\n",
            deployment("g", "m", "")
        ),
    );
    r.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert_eq!(hits(&mock, "m"), 3);
}

#[tokio::test]
async fn fallbacks_serve_when_the_group_fails_and_an_outage_skips_the_primary() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(500).for_model("primary").times(0));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  fallbacks: [{{main: [backup]}}]\n  cooldown_time: 60\n",
        deployment("main", "primary", ""),
        deployment("backup", "second", "")
    );
    let r = router(&mock, &yaml);
    let out = r.chat_bytes(chat("main"), &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "backup");
    assert_eq!(out.info.attempts.attempted_fallbacks, 1);
    assert_eq!(
        hits(&mock, "primary"),
        1,
        "the outage rule: no retry chain on a failing primary that has fallbacks"
    );
    for _ in 0..5 {
        let out = r.chat_bytes(chat("main"), &ctx()).await.unwrap();
        assert_eq!(out.info.model_group, "backup");
    }
    assert_eq!(hits(&mock, "primary"), 1, "the cooling primary is skipped");
    assert_eq!(hits(&mock, "second"), 6);
}

#[tokio::test]
async fn context_window_errors_use_their_own_fallbacks_without_retrying() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::json(
            400,
            json!({"error": {"message": "This model's maximum context length is 10 tokens", "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}}),
        )
        .for_model("small")
        .times(0),
    );
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  context_window_fallbacks: [{{s: [big]}}]\n  fallbacks: [{{s: [other]}}]\n",
        deployment("s", "small", ""),
        deployment("big", "large", ""),
        deployment("other", "wrong", "")
    );
    let r = router(&mock, &yaml);
    let out = r.chat_bytes(chat("s"), &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "big");
    assert_eq!(hits(&mock, "small"), 1);
    assert_eq!(hits(&mock, "wrong"), 0);
}

#[tokio::test]
async fn client_side_fallbacks_and_default_fallbacks() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(500).for_model("down").times(0));
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  default_fallbacks: [d]\n  num_retries: 0\n",
        deployment("a", "down", ""),
        deployment("c", "client-choice", ""),
        deployment("d", "default-choice", "")
    );
    let r = router(&mock, &yaml);
    let mut req = chat("a");
    req.extra.insert("fallbacks".into(), json!(["c"]));
    let out = r.chat_bytes(req, &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "c");
    // A fresh router: the first one cooled `a` down, which would not change the answer but
    // this checks the default list on its own.
    let r = router(&mock, &yaml);
    let out = r.chat_bytes(chat("a"), &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "d");
    let mut req = chat("a");
    req.extra.insert("disable_fallbacks".into(), json!(true));
    let r = router(&mock, &yaml);
    assert_eq!(
        r.chat_bytes(req, &ctx()).await.unwrap_err().error.status(),
        500
    );
}

#[tokio::test]
async fn fallbacks_follow_their_own_fallbacks_down_to_max_fallbacks() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(500).times(0));
    let mut yaml = String::from("model_list:\n");
    for n in ["a", "b", "c", "d", "e"] {
        yaml += &deployment(n, n, "");
    }
    yaml += "router_settings:\n  fallbacks: [{a: [b, c]}, {c: [d, a]}, {d: [e]}]\n  max_fallbacks: 2\n  num_retries: 0\n";
    let r = router(&mock, &yaml);
    let err = r.chat_bytes(chat("a"), &ctx()).await.unwrap_err();
    assert_eq!(err.attempts.attempted_fallbacks, 2);
    for (model, calls) in [("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 0)] {
        assert_eq!(
            hits(&mock, model),
            calls,
            "{model}: depth 3 is beyond max_fallbacks"
        );
    }
    mock.reset();
    mock.push(MockScript::status(500).for_model("a").times(0));
    mock.push(MockScript::status(500).for_model("c").times(0));
    let r = router(&mock, &yaml);
    let mut req = chat("c");
    req.extra.insert("num_retries".into(), json!(0));
    let out = r.chat_bytes(req, &ctx()).await.unwrap();
    assert_eq!(
        out.info.model_group, "d",
        "a cycle back to `a` is skipped, `d` answers"
    );
    assert_eq!(out.info.attempts.attempted_fallbacks, 1);
}

#[tokio::test]
async fn cooled_groups_answer_429_with_litellms_message() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(429).header("retry-after", "0").times(0));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  allowed_fails: 0\n  cooldown_time: 30\n  num_retries: 1\n",
        deployment("g", "x", ""),
        deployment("g", "y", "")
    );
    let r = router(&mock, &yaml);
    let first = r.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert_eq!(first.error.status(), 429);
    assert_eq!(hits(&mock, "x") + hits(&mock, "y"), 2);
    let err = r.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert!(
        matches!(err.error, GatewayError::NoDeploymentsAvailable { .. }),
        "{:?}",
        err.error
    );
    assert_eq!(err.error.status(), 429);
    let msg = err.error.to_string();
    assert!(
        msg.starts_with("No deployments available for selected model, Try again in "),
        "{msg}"
    );
    assert!(err.error.retry_after().unwrap().as_secs() >= 29);
    assert_eq!(hits(&mock, "x") + hits(&mock, "y"), 2, "no upstream call");
}

#[tokio::test]
async fn disable_cooldowns_keeps_failing_deployments_in_rotation() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(429).header("retry-after", "0").times(0));
    let yaml = format!(
        "model_list:\n{}router_settings:\n  allowed_fails: 0\n  disable_cooldowns: true\n  num_retries: 0\n",
        deployment("g", "x", "")
    );
    let r = router(&mock, &yaml);
    for _ in 0..3 {
        assert_eq!(
            r.chat_bytes(chat("g"), &ctx())
                .await
                .unwrap_err()
                .error
                .status(),
            429
        );
    }
    assert_eq!(hits(&mock, "x"), 3);
}

#[tokio::test]
async fn a_timeout_is_retried_on_another_deployment() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::hang().for_model("slow").times(0));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  timeout: 0.2\n",
        deployment("g", "slow", ""),
        deployment("g", "fast", "")
    );
    let r = router(&mock, &yaml);
    for _ in 0..4 {
        let out = r.chat_bytes(chat("g"), &ctx()).await.unwrap();
        assert!(out.info.attempts.attempted_retries <= 1);
    }
    let only_slow = router(
        &mock,
        &format!(
            "model_list:\n{}router_settings:\n  num_retries: 0\n",
            deployment("g", "slow", ", timeout: 0.1")
        ),
    );
    let err = only_slow.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert_eq!(err.error.status(), 408, "{}", err.error);
}

#[tokio::test]
async fn a_stream_that_fails_before_its_first_chunk_falls_back() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(502).for_model("broken").times(0));
    mock.push(MockScript::hang().for_model("stuck").times(0));
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  fallbacks: [{{a: [b]}}, {{b: [c]}}]\n  stream_timeout: 0.2\n  num_retries: 0\n",
        deployment("a", "broken", ""),
        deployment("b", "stuck", ""),
        deployment("c", "works", "")
    );
    let r = router(&mock, &yaml);
    let mut req = chat("a");
    req.stream = Some(true);
    let stream = r.chat_stream(req, &ctx()).await.unwrap();
    assert_eq!(
        stream.info.model_group, "c",
        "a's fallback b hangs; b's own fallback c answers"
    );
    assert_eq!(stream.info.attempts.attempted_fallbacks, 2);
    let mut req = chat("b");
    req.stream = Some(true);
    let stream = r.chat_stream(req, &ctx()).await.unwrap();
    assert_eq!(stream.info.model_group, "c");
}

#[tokio::test]
async fn order_tiers_are_tried_lowest_first_and_escalate() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(500).for_model("tier1").times(0));
    let yaml = format!(
        "model_list:\n{}{}{}",
        deployment("g", "tier1", ", order: 1"),
        deployment("g", "tier2", ", order: 2"),
        deployment("g", "tier3", ", order: 3")
    );
    let r = router(&mock, &yaml);
    let out = r.chat_bytes(chat("g"), &ctx()).await.unwrap();
    assert_eq!(out.info.attempts.attempted_retries, 1);
    assert_eq!(hits(&mock, "tier1"), 1);
    assert_eq!(hits(&mock, "tier2"), 1);
    assert_eq!(hits(&mock, "tier3"), 0);
}

#[tokio::test]
async fn pre_call_checks_skip_deployments_whose_context_window_is_too_small() {
    let mock = MockServer::start().await.unwrap();
    let yaml = format!(
        "model_list:\n{}    model_info: {{max_input_tokens: 50}}\n{}    model_info: {{max_input_tokens: 1000}}\n{}router_settings:\n  enable_pre_call_checks: true\n  context_window_fallbacks: [{{g: [huge]}}]\n",
        deployment("g", "small", ""),
        deployment("g", "large", ""),
        deployment("huge", "huge", "")
    );
    let r = router(&mock, &yaml);
    let long = ChatCompletionRequest::new(
        "g".to_owned(),
        vec![ChatMessage::user("lorem ipsum dolor ".repeat(40))],
    );
    for _ in 0..6 {
        let out = r.chat_bytes(long.clone(), &ctx()).await.unwrap();
        assert_eq!(out.info.model_group, "g");
    }
    assert_eq!(hits(&mock, "small"), 0);
    assert_eq!(hits(&mock, "large"), 6);
    let too_long = ChatCompletionRequest::new(
        "g".to_owned(),
        vec![ChatMessage::user("lorem ipsum dolor ".repeat(600))],
    );
    let out = r.chat_bytes(too_long, &ctx()).await.unwrap();
    assert_eq!(
        out.info.model_group, "huge",
        "too long for every deployment: a context-window error, then its fallback"
    );
}

#[tokio::test]
async fn usage_based_routing_respects_rpm() {
    let mock = MockServer::start().await.unwrap();
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: usage-based-routing-v2\n",
        deployment("g", "a", ", rpm: 2"),
        deployment("g", "b", ", rpm: 3")
    );
    let r = router(&mock, &yaml);
    for _ in 0..5 {
        r.chat_bytes(chat("g"), &ctx()).await.unwrap();
    }
    let err = r.chat_bytes(chat("g"), &ctx()).await.unwrap_err();
    assert_eq!(err.error.status(), 429);
    assert_eq!(hits(&mock, "a"), 2);
    assert_eq!(hits(&mock, "b"), 3);
}

#[tokio::test]
async fn latency_based_routing_prefers_the_faster_deployment() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::reply("slow")
            .delay_ms(150)
            .for_model("slow")
            .times(0),
    );
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: latency-based-routing\n",
        deployment("g", "slow", ""),
        deployment("g", "fast", "")
    );
    let r = router(&mock, &yaml);
    for _ in 0..12 {
        r.chat_bytes(chat("g"), &ctx()).await.unwrap();
    }
    assert_eq!(
        hits(&mock, "slow"),
        1,
        "measured once, then avoided while it is slower"
    );
}

#[tokio::test]
async fn cost_based_routing_picks_the_cheapest() {
    let mock = MockServer::start().await.unwrap();
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: cost-based-routing\n",
        deployment(
            "g",
            "pricey",
            ", input_cost_per_token: 0.01, output_cost_per_token: 0.03"
        ),
        deployment(
            "g",
            "cheap",
            ", input_cost_per_token: 0.000001, output_cost_per_token: 0.000002"
        )
    );
    let r = router(&mock, &yaml);
    for _ in 0..5 {
        r.chat_bytes(chat("g"), &ctx()).await.unwrap();
    }
    assert_eq!(hits(&mock, "cheap"), 5);
}

#[tokio::test]
async fn least_busy_routing_avoids_the_deployment_with_calls_in_flight() {
    let mock = MockServer::start().await.unwrap();
    // The first request, whichever deployment takes it, is held.
    mock.push(MockScript::reply("held").delay_ms(30_000));
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: least-busy\n",
        deployment("g", "a", ""),
        deployment("g", "b", "")
    );
    let r = router(&mock, &yaml);
    let r2 = r.clone();
    let held = tokio::spawn(async move { r2.chat_bytes(chat("g"), &ctx()).await });
    while mock.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let busy = mock.requests()[0].body["model"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..6 {
        r.chat_bytes(chat("g"), &ctx()).await.unwrap();
    }
    held.abort();
    assert_eq!(
        hits(&mock, &busy),
        1,
        "every other call went to the idle one"
    );
}

#[tokio::test]
async fn max_parallel_requests_makes_excess_calls_wait_not_fail() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::hang().times(1));
    let yaml = format!(
        "model_list:\n{}router_settings:\n  num_retries: 0\n",
        deployment("g", "m", ", max_parallel_requests: 1, timeout: 0.5")
    );
    let r = router(&mock, &yaml);
    let held = {
        let r = r.clone();
        tokio::spawn(async move {
            let result = r.chat_bytes(chat("g"), &ctx()).await;
            (result, std::time::Instant::now())
        })
    };
    while mock.requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let waiting = {
        let r = r.clone();
        tokio::spawn(async move {
            let result = r.chat_bytes(chat("g"), &ctx()).await;
            (result, std::time::Instant::now())
        })
    };
    let (first, first_done) = held.await.unwrap();
    let (second, second_done) = waiting.await.unwrap();
    assert_eq!(first.unwrap_err().error.status(), 408);
    assert!(second.is_ok(), "the waiting call was served, not rejected");
    assert!(
        second_done > first_done,
        "the second call reached the deployment only after the first let go"
    );
    assert_eq!(hits(&mock, "m"), 2);
}

#[tokio::test]
async fn a_content_filter_finish_uses_the_content_policy_fallback() {
    let mock = MockServer::start().await.unwrap();
    mock.push(
        MockScript::json(
            200,
            json!({"id": "x", "object": "chat.completion", "created": 1, "model": "strict",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": null},
                                "finish_reason": "content_filter"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}),
        )
        .for_model("strict")
        .times(0),
    );
    let base = format!(
        "model_list:\n{}{}",
        deployment("s", "strict", ""),
        deployment("lenient", "lenient", "")
    );
    let r = router(&mock, &base);
    let out = r.chat_bytes(chat("s"), &ctx()).await.unwrap();
    assert_eq!(
        out.info.model_group, "s",
        "without a fallback the filtered answer stands"
    );
    let r = router(
        &mock,
        &format!("{base}router_settings:\n  content_policy_fallbacks: [{{s: [lenient]}}]\n"),
    );
    let out = r.chat_bytes(chat("s"), &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "lenient");
    assert_eq!(
        hits(&mock, "strict"),
        2,
        "no retry of a content-policy refusal"
    );
}

#[tokio::test]
async fn mock_testing_flags_fail_the_requested_group_to_exercise_fallbacks() {
    let mock = MockServer::start().await.unwrap();
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  fallbacks: [{{a: [b]}}]\n  context_window_fallbacks: [{{a: [big]}}]\n",
        deployment("a", "a", ""),
        deployment("b", "b", ""),
        deployment("big", "big", "")
    );
    let r = router(&mock, &yaml);
    let mut req = chat("a");
    req.extra
        .insert("mock_testing_fallbacks".into(), json!(true));
    let out = r.chat_bytes(req, &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "b");
    let mut req = chat("a");
    req.extra
        .insert("mock_testing_context_fallbacks".into(), json!(true));
    let out = r.chat_bytes(req, &ctx()).await.unwrap();
    assert_eq!(out.info.model_group, "big");
    assert_eq!(hits(&mock, "a"), 0, "the flagged group is never called");
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.body.get("mock_testing_fallbacks").is_none()),
        "the flag never reaches the provider"
    );
}
