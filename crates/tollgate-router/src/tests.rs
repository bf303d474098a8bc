//! Model resolution, listing and timeout precedence.

use super::*;

fn router(yaml: &str) -> Router {
    let config = Config::from_yaml_str(yaml, std::path::Path::new("test.yaml")).unwrap();
    Router::from_config(&config).unwrap()
}

const CONFIG: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: "http://a/v1"}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: "http://b/v1"}
    model_info: {id: fixed-id}
  - model_name: "openai/*"
    litellm_params: {model: "openai/*", api_base: "http://w/v1"}
  - model_name: "openai/gpt-4*"
    litellm_params: {model: "openai/gpt-4*", api_base: "http://specific/v1"}
  - model_name: "llmengine/*"
    litellm_params: {model: "groq/*"}
  - model_name: local
    litellm_params: {model: hosted_vllm/qwen, api_base: "http://vllm:8000/v1"}
  - model_name: later
    litellm_params: {model: sagemaker/my-endpoint}
router_settings:
  model_group_alias:
    smart: gpt-4o
    secret: {model: local, hidden: true}
"#;

fn resolve(r: &Router, name: &str) -> (String, String, String) {
    let t = r.resolve(name, "/chat/completions").unwrap();
    (
        t.group,
        t.deployment.id.clone(),
        t.adapter.api_base().to_owned(),
    )
}

#[test]
fn resolution_follows_litellm_order() {
    let r = router(CONFIG);
    assert_eq!(
        resolve(&r, "fixed-id").2,
        "http://b/v1",
        "a deployment id targets that deployment"
    );
    let bases: Vec<String> = (0..64).map(|_| resolve(&r, "gpt-4o").2).collect();
    assert!(bases.contains(&"http://a/v1".to_owned()) && bases.contains(&"http://b/v1".to_owned()));
    assert_eq!(
        resolve(&r, "smart").0,
        "gpt-4o",
        "aliases resolve to their group"
    );
    assert_eq!(resolve(&r, "secret").0, "local");
    assert_eq!(
        resolve(&r, "openai/gpt-4.1").2,
        "http://specific/v1",
        "most specific wildcard wins"
    );
    assert_eq!(resolve(&r, "openai/o3").2, "http://w/v1");
    assert_eq!(
        resolve(&r, "o3-mini").2,
        "http://w/v1",
        "bare names match via their inferred provider"
    );
    assert_eq!(
        resolve(&r, "hosted_vllm/qwen").0,
        "local",
        "litellm_params.model matches last"
    );
    let err = r.resolve("nothing", "/chat/completions").err().unwrap();
    assert_eq!(err.status(), 400);
    assert!(
        err.to_string()
            .starts_with("/chat/completions: Invalid model name passed in model=nothing")
    );
}

#[test]
fn hidden_aliases_and_wildcards_are_listed_as_litellm_does() {
    let names = router(CONFIG).model_names();
    assert!(names.contains(&"smart".to_owned()));
    assert!(!names.contains(&"secret".to_owned()));
    assert_eq!(names.iter().filter(|n| *n == "gpt-4o").count(), 1);
}

#[test]
fn unimplemented_providers_fail_per_call_with_a_clear_message() {
    let r = router(CONFIG);
    let err = r.resolve("later", "/chat/completions").err().unwrap();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("sagemaker"), "{err}");
}

#[test]
fn timeouts_follow_litellm_precedence() {
    let r = router(
        "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, timeout: 5, stream_timeout: 2}\nrouter_settings:\n  timeout: 30\n",
    );
    let t = r.resolve("m", "").unwrap();
    let none = RequestOptions::default();
    let ctx = CallContext::default();
    assert_eq!(
        r.timeout_for(&t, &none, &ctx, false),
        Duration::from_secs(5)
    );
    assert_eq!(r.timeout_for(&t, &none, &ctx, true), Duration::from_secs(2));
    let header = CallContext {
        timeout: Some(Duration::from_secs(1)),
        ..CallContext::default()
    };
    assert_eq!(
        r.timeout_for(&t, &none, &header, false),
        Duration::from_secs(1)
    );
    let r = router("model_list:\n  - model_name: m\n    litellm_params: {model: openai/x}\n");
    let t = r.resolve("m", "").unwrap();
    assert_eq!(r.timeout_for(&t, &none, &ctx, false), DEFAULT_TIMEOUT);
}

#[test]
fn simple_shuffle_honours_weights_within_statistical_bounds() {
    let r = router(
        "model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_base: \"http://heavy/v1\", weight: 9}\n  - model_name: g\n    litellm_params: {model: openai/x, api_base: \"http://light/v1\", weight: 1}\n",
    );
    let n = 20_000;
    let heavy = (0..n)
        .filter(|_| resolve(&r, "g").2 == "http://heavy/v1")
        .count();
    // Expected share 0.9, sd ~0.0021: 0.885..0.915 is more than 7 sd wide.
    let share = heavy as f64 / n as f64;
    assert!((0.885..0.915).contains(&share), "share {share}");
}

#[test]
fn simple_shuffle_falls_back_to_rpm_as_the_weight() {
    let r = router(
        "model_list:\n  - model_name: g\n    litellm_params: {model: openai/x, api_base: \"http://a/v1\", rpm: 1000}\n  - model_name: g\n    litellm_params: {model: openai/x, api_base: \"http://b/v1\", rpm: 0}\n",
    );
    assert!((0..200).all(|_| resolve(&r, "g").2 == "http://a/v1"));
}
