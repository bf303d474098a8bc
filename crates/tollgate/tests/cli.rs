//! The command line: config errors, check-config, quick start, version.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{Gateway, client, temp_dir};
use serde_json::{Value, json};
use tollgate_mock::MockServer;

fn tollgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_config_error_names_the_file_and_key_path_and_exits_non_zero() {
    let dir = temp_dir();
    let path = dir.join("broken.yaml");
    std::fs::write(&path, "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      rpm: ten\n").unwrap();
    for args in [
        vec!["--config", path.to_str().unwrap(), "--port", "0"],
        vec!["check-config", path.to_str().unwrap()],
    ] {
        let out = tollgate(&args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("broken.yaml") && err.contains("model_list[0].litellm_params.rpm"),
            "{err}"
        );
    }
    std::fs::write(
        &path,
        "model_list:\n  - model_name: a\n    litellm_params: {}\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&tollgate(&["check-config", path.to_str().unwrap()]).stderr)
        .into_owned();
    assert!(err.contains("model_list[0].litellm_params.model"), "{err}");
    let out = tollgate(&["--config", dir.join("missing.yaml").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));
}

#[test]
fn check_config_accepts_unknown_keys_with_warnings_and_flags_unimplemented_providers() {
    let dir = temp_dir();
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n  - model_name: b\n    litellm_params:\n      model: sagemaker/x\nlitellm_settings:\n  drop_params: true\n  some_new_setting: 1\nrouter_settings:\n  not_a_router_key: 2\nmystery_section: {}\n",
    )
    .unwrap();
    let out = tollgate(&["check-config", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("not_a_router_key") && stderr.contains("mystery_section"),
        "{stderr}"
    );
    assert!(
        stdout.contains("NOT USABLE") && stdout.contains("sagemaker"),
        "{stdout}"
    );
}

#[test]
fn check_config_reads_the_price_file_and_names_unpriced_deployments() {
    let dir = temp_dir();
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n  - model_name: b\n    litellm_params:\n      model: hosted_vllm/mine\n      api_base: http://127.0.0.1:9/v1\n  - model_name: c\n    litellm_params:\n      model: hosted_vllm/priced\n      api_base: http://127.0.0.1:9/v1\nlitellm_settings:\n  model_cost_map_url: prices.json\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("prices.json"),
        r#"{"hosted_vllm/priced": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}}"#,
    )
    .unwrap();
    let out = tollgate(&["check-config", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ->")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(!line("a").contains("no price"), "{stdout}");
    assert!(line("b").contains("no price"), "{stdout}");
    assert!(!line("c").contains("no price"), "{stdout}");

    std::fs::write(dir.join("prices.json"), "{not json").unwrap();
    let out = tollgate(&["check-config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prices.json"), "{stderr}");
}

#[test]
fn version_and_help() {
    let out = tollgate(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let help = String::from_utf8_lossy(&tollgate(&["--help"]).stdout).into_owned();
    for flag in [
        "--config",
        "--port",
        "--host",
        "--model",
        "--detailed_debug",
        "--json-logs",
        "check-config",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[tokio::test]
async fn quick_start_serves_one_model_without_a_config() {
    let mock = MockServer::start().await.unwrap();
    let gw = Gateway::start_with_args(
        &[
            "--model",
            "openai/gpt-4o-mini",
            "--api_base",
            &mock.base_url(),
        ],
        temp_dir(),
    );
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "openai/gpt-4o-mini");
}

#[tokio::test]
async fn embedded_defaults_pass_any_provider_model_through() {
    let mock = MockServer::start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .env("OPENAI_BASE_URL", mock.base_url())
        .env("OPENAI_API_KEY", "sk-from-env")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = format!("http://{}", line.trim().rsplit("http://").next().unwrap());
    let resp = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&json!({"model": "openai/gpt-4.1-nano", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(resp.status(), 200);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["model"], "gpt-4.1-nano");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-from-env"));
}
