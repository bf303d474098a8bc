//! Behaviour of the whole loader, from YAML text (and files) to [`Config`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;

const FULL_CONFIG: &str = include_str!("../tests/fixtures/config.yaml");
const MORE_MODELS: &str = include_str!("../tests/fixtures/more_models.yaml");

/// A fresh directory under the system temp dir, removed on drop. Unique per call: tests run
/// as parallel threads of one process.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("tollgate-config-{pid}-{n}-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_str(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml_str(text, Path::new("config.yaml"))
}

fn error_of(text: &str) -> String {
    load_str(text).unwrap_err().to_string()
}

fn load_full() -> (TempDir, Config) {
    let dir = TempDir::new("full");
    dir.write("more_models.yaml", MORE_MODELS);
    let main = dir.write("config.yaml", FULL_CONFIG);
    let config = Config::load(&main).unwrap();
    (dir, config)
}

#[test]
fn full_config_builds_every_deployment_in_order() {
    let (_dir, c) = load_full();
    let names: Vec<_> = c.model_list.iter().map(|d| d.model_name.as_str()).collect();
    // dev-only is filtered out by supported_environments; gpt-4o is expanded per organization;
    // the included file's model comes last.
    assert_eq!(
        names,
        ["gpt-4o", "gpt-4o", "azure-gpt", "claude", "local-llama"]
    );
}

#[test]
fn full_config_resolves_os_environ_through_environment_variables() {
    let (_dir, c) = load_full();
    let gpt = &c.model_list[0].litellm_params;
    assert_eq!(gpt.api_key.as_deref(), Some("sk-openai-test"));
    let azure = &c.model_list[2].litellm_params;
    assert_eq!(
        azure.api_base.as_deref(),
        Some("https://example-eu.openai.azure.com")
    );
    assert_eq!(azure.api_key, None, "unset variable behaves as absent");
    assert_eq!(
        azure.timeout,
        Some(45.0),
        "numeric string from the environment"
    );
    assert_eq!(c.router_settings.redis_port, Some(6380));
    assert_eq!(c.environment_variables["TG_TEST_PORT"], "6380");
    assert_eq!(
        c.env.get("TG_TEST_OPENAI_KEY").as_deref(),
        Some("sk-openai-test")
    );
}

#[test]
fn full_config_types_deployment_fields_and_keeps_extras() {
    let (_dir, c) = load_full();
    let gpt = &c.model_list[0];
    assert_eq!(gpt.litellm_params.model, "openai/gpt-4o");
    assert_eq!(
        gpt.litellm_params.tpm,
        Some(100_000),
        "entry-level tpm moved in"
    );
    assert_eq!(gpt.litellm_params.extra["temperature"], json!(0.2));

    let azure = &c.model_list[2];
    assert_eq!(azure.id, "42");
    assert_eq!(azure.model_info.id.as_deref(), Some("42"));
    assert_eq!(azure.model_info.base_model.as_deref(), Some("azure/gpt-4o"));
    assert_eq!(azure.model_info.max_input_tokens, Some(128_000));
    assert_eq!(azure.litellm_params.rpm, Some(600));
    assert_eq!(
        azure.litellm_params.api_version.as_deref(),
        Some("2024-06-01")
    );
    assert_eq!(azure.litellm_params.extra_headers["X-Team"], "ml");
    assert!(!azure.litellm_params.extra.contains_key("headers"));

    let claude = &c.model_list[3];
    assert_eq!(claude.litellm_params.extra["max_tokens"], json!(4096));
    assert_eq!(claude.model_info.extra["access_groups"], json!(["beta"]));

    let llama = &c.model_list[4];
    assert_eq!(llama.litellm_params.weight, Some(2.0));
    assert_eq!(
        llama.litellm_params.api_base.as_deref(),
        Some("http://vllm:8000/v1")
    );
}

#[test]
fn organization_list_gives_one_deployment_per_org_sharing_litellms_id() {
    let (_dir, c) = load_full();
    let (a, b) = (&c.model_list[0], &c.model_list[1]);
    assert_eq!(a.litellm_params.organization.as_deref(), Some("org-a"));
    assert_eq!(b.litellm_params.organization.as_deref(), Some("org-b"));
    // LiteLLM hashes the params once, with the list, before expanding it. Python:
    // sha256(("gpt-4o" + "model" + "openai/gpt-4o" + "api_key" + "sk-openai-test"
    //         + "organization" + str(["org-a", "org-b"]) + "temperature" + str(0.2)).encode())
    let want = "8b6666dea37f2a3dd3682246ec16c94b9df1484f99092686bc9495ba76224af8";
    assert_eq!(a.id, want);
    assert_eq!(b.id, want);
}

#[test]
fn deployment_ids_match_litellm_for_the_full_config() {
    let (_dir, c) = load_full();
    // sha256(("claude" + "model" + "anthropic/claude-sonnet-4-5" + "litellm_credential_name"
    //         + "anthropic-main" + "max_tokens" + str(4096)).encode()).hexdigest()
    // Credential values are filled in after hashing, as LiteLLM resolves them per call.
    assert_eq!(
        c.model_list[3].id,
        "039b6b0b370b79be2bd2c5f270a81466fb333a8d7b9d85b1470177bd8f30b89a"
    );
    // sha256(("local-llama" + "model" + "hosted_vllm/meta-llama/Llama-3.1-8B" + "api_base"
    //         + "http://vllm:8000/v1" + "weight" + str(2)).encode()).hexdigest()
    assert_eq!(
        c.model_list[4].id,
        "51d9ea5ea299b04df36262b90bc1382bf8c6cfce0c1f07c28e896601a27b0900"
    );
    assert_eq!(
        c.model_list[4].model_info.id.as_deref(),
        Some(c.model_list[4].id.as_str())
    );
}

#[test]
fn id_is_hashed_after_os_environ_resolution_with_unset_as_none() {
    let c = load_str(
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      \
         api_key: os.environ/TG_TEST_UNSET_KEY_FOR_ID\n      timeout: 1.0\n      \
         vertex_credentials: {type: service_account, n: [1, 2.5]}\n",
    )
    .unwrap();
    // p = {"model": "openai/x", "api_key": None, "timeout": 1.0,
    //      "vertex_credentials": {"type": "service_account", "n": [1, 2.5]}}
    // sha256(("m" + "".join(k + (v if isinstance(v, str) else json.dumps(v)
    //         if isinstance(v, dict) else str(v)) for k, v in p.items())).encode())
    assert_eq!(
        c.model_list[0].id,
        "93db78539ddcc7c56c2971dd47c19b8f0db4f10de6861a24470655aa5266f786"
    );
}

#[test]
fn credentials_fill_only_absent_params() {
    let (_dir, c) = load_full();
    let claude = &c.model_list[3].litellm_params;
    assert_eq!(claude.api_key.as_deref(), Some("sk-ant-test"));
    assert_eq!(
        claude.api_base.as_deref(),
        Some("https://api.anthropic.com")
    );
    assert_eq!(
        c.credential_list[0].credential_info["description"],
        "main Anthropic account"
    );

    let c = load_str(
        "credential_list:\n  - credential_name: k\n    credential_values: {api_key: from-cred, \
         api_version: v1}\nmodel_list:\n  - model_name: m\n    litellm_params:\n      \
         model: azure/x\n      api_key: own\n      litellm_credential_name: k\n",
    )
    .unwrap();
    let p = &c.model_list[0].litellm_params;
    assert_eq!(p.api_key.as_deref(), Some("own"));
    assert_eq!(p.api_version.as_deref(), Some("v1"));
}

#[test]
fn full_config_types_settings_sections() {
    let (_dir, c) = load_full();
    let l = &c.litellm_settings;
    assert!(l.drop_params);
    assert_eq!(
        l.num_retries,
        Some(3),
        "the main file wins over the include"
    );
    assert!(l.cache, "the include adds keys the main file lacks");
    assert_eq!(l.request_timeout, Some(600.0));
    assert_eq!(l.fallbacks[0]["gpt-4o"], vec!["claude"]);
    assert_eq!(l.success_callback, vec!["prometheus"]);
    assert_eq!(l.extra["some_future_global"], json!(1));

    let g = &c.general_settings;
    assert_eq!(g.master_key.as_deref(), Some("sk-1234"));
    assert_eq!(g.max_request_size_mb, Some(32.0));
    assert_eq!(g.extra["alerting"], json!(["slack"]));
    assert_eq!(g.connect_timeout_secs(), DEFAULT_CONNECT_TIMEOUT_SECS);
    if std::env::var_os("DATABASE_URL").is_none() {
        assert_eq!(g.database_url, None);
    }

    let r = &c.router_settings;
    assert_eq!(
        r.routing_strategy.as_deref(),
        Some("usage-based-routing-v2")
    );
    assert_eq!(r.num_retries, Some(2), "from the include");
    assert!(r.enable_pre_call_checks);
    assert_eq!(r.redis_host.as_deref(), Some("localhost"));
    assert_eq!(r.model_group_alias["gpt4"], json!("gpt-4o"));
    assert_eq!(
        r.model_group_alias["secret"],
        json!({"model": "claude", "hidden": true})
    );
    assert_eq!(r.extra["routing_strategy_args"], json!({"ttl": 60}));

    assert_eq!(c.extra["guardrails"][0]["guardrail_name"], "pii");
}

#[test]
fn a_price_file_setting_is_read() {
    let c =
        load_str("model_list: []\nlitellm_settings:\n  model_cost_map_url: prices/custom.json\n")
            .unwrap();
    assert_eq!(
        c.litellm_settings.model_cost_map_url.as_deref(),
        Some("prices/custom.json")
    );
    assert!(!c.litellm_settings.extra.contains_key("model_cost_map_url"));
    let c = load_str("model_list: []\n").unwrap();
    assert_eq!(c.litellm_settings.model_cost_map_url, None);
}

#[test]
fn full_config_warns_about_what_would_be_silently_ignored() {
    let (dir, c) = load_full();
    let main = dir.0.join("config.yaml").display().to_string();
    let more = dir.0.join("more_models.yaml").display().to_string();
    let expected = [
        format!(
            "{main}: model_list[1].litellm_params.api_key: \
             os.environ/TG_TEST_UNSET_AZURE_KEY is not set; treated as absent"
        ),
        format!(
            "{main}: general_settings.database_url: \
             os.environ/TG_TEST_UNSET_DATABASE_URL is not set; treated as absent"
        ),
        format!(
            "{more}: litellm_settings.num_retries: already set in {main}; this value is ignored"
        ),
        format!(
            "{main}: router_settings.made_up_router_key: \
             unknown key, ignored (not a LiteLLM Router argument)"
        ),
        format!("{main}: guardrails: not supported by Tollgate yet, ignored"),
        format!("{main}: totally_unknown: unknown key, ignored"),
    ];
    for want in &expected {
        assert!(
            c.warnings.contains(want),
            "missing {want:?} in {:#?}",
            c.warnings
        );
    }
    assert_eq!(c.warnings.len(), expected.len(), "{:#?}", c.warnings);
}

#[test]
fn missing_required_keys_name_file_and_path() {
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n  \
             - litellm_params: {model: openai/b}\n"
        ),
        "config.yaml: model_list[1].model_name: missing required key"
    );
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n  \
             - model_name: b\n    litellm_params: {api_key: x}\n"
        ),
        "config.yaml: model_list[1].litellm_params.model: missing required key"
    );
    assert_eq!(
        error_of("model_list:\n  - model_name: a\n"),
        "config.yaml: model_list[0].litellm_params: missing required key"
    );
    assert_eq!(
        error_of("credential_list:\n  - credential_values: {api_key: x}\n"),
        "config.yaml: credential_list[0].credential_name: missing required key"
    );
}

#[test]
fn model_from_an_unset_variable_is_missing() {
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params:\n      \
             model: os.environ/TG_TEST_UNSET_MODEL\n"
        ),
        "config.yaml: model_list[0].litellm_params.model: missing required key"
    );
}

#[test]
fn type_errors_name_file_path_and_value() {
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, rpm: ten}\n"
        ),
        "config.yaml: model_list[0].litellm_params.rpm: expected an integer, got \"ten\""
    );
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n    model_info: {max_tokens: [1]}\n"
        ),
        "config.yaml: model_list[0].model_info.max_tokens: expected an integer, got a list"
    );
    assert_eq!(
        error_of("litellm_settings:\n  num_retries: lots\n"),
        "config.yaml: litellm_settings.num_retries: expected an integer, got \"lots\""
    );
    assert_eq!(
        error_of("router_settings:\n  redis_port: 99999\n"),
        "config.yaml: router_settings.redis_port: expected an integer from 0 to 65535, got 99999"
    );
    assert_eq!(
        error_of("general_settings:\n  forward_client_headers_to_llm_api: sometimes\n"),
        "config.yaml: general_settings.forward_client_headers_to_llm_api: \
         expected true or false, got \"sometimes\""
    );
    assert_eq!(
        error_of("model_list: {a: 1}\n"),
        "config.yaml: model_list: expected a list, got a mapping"
    );
    assert_eq!(
        error_of("- a\n- b\n"),
        "config.yaml: top level: expected a mapping of sections, got a list"
    );
}

#[test]
fn yaml_syntax_errors_name_file_line_and_column() {
    let err = error_of("model_list:\n  - model_name: a\n   bad: [\n");
    assert!(err.starts_with("config.yaml: line "), "{err}");
    assert!(err.contains("YAML syntax error: "), "{err}");
}

#[test]
fn errors_inside_an_included_file_name_that_file_and_its_own_index() {
    let dir = TempDir::new("include-error");
    dir.write(
        "more.yaml",
        "model_list:\n  - model_name: b\n    litellm_params: {model: openai/b, rpm: ten}\n",
    );
    let main = dir.write(
        "config.yaml",
        "include: [more.yaml]\nmodel_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n",
    );
    let err = Config::load(&main).unwrap_err().to_string();
    let more = dir.0.join("more.yaml").display().to_string();
    assert_eq!(
        err,
        format!("{more}: model_list[0].litellm_params.rpm: expected an integer, got \"ten\"")
    );
}

#[test]
fn missing_included_file_is_an_error_naming_it() {
    let dir = TempDir::new("include-missing");
    let main = dir.write("config.yaml", "include:\n  - nowhere.yaml\n");
    let err = Config::load(&main).unwrap_err();
    let missing = dir.0.join("nowhere.yaml").display().to_string();
    assert_eq!(
        err.to_string(),
        format!("{missing}: cannot read included file: No such file or directory")
    );
    assert!(matches!(err, ConfigError::Include { .. }));
}

#[test]
fn missing_config_file_is_an_error_naming_it() {
    let dir = TempDir::new("main-missing");
    let path = dir.0.join("absent.yaml");
    assert_eq!(
        Config::load(&path).unwrap_err().to_string(),
        format!(
            "{}: cannot read config file: No such file or directory",
            path.display()
        )
    );
}

#[test]
fn environment_variables_are_stringified_like_python() {
    let c = load_str(
        "environment_variables:\n  A: 5\n  B: 0.5\n  C: true\n  D: text\n  \
         E: os.environ/D\nmodel_list: []\n",
    )
    .unwrap();
    let got: Vec<_> = c
        .environment_variables
        .values()
        .map(String::as_str)
        .collect();
    assert_eq!(got, ["5", "0.5", "True", "text", "text"]);
    assert_eq!(c.env.get("C").as_deref(), Some("True"));
}

#[test]
fn os_environ_is_resolved_anywhere_in_the_config() {
    let c = load_str(
        "environment_variables: {TG_TEST_R: redis.internal, TG_TEST_KEY: sk-abc}\n\
         litellm_settings:\n  cache_params: {type: redis, host: os.environ/TG_TEST_R}\n\
         general_settings: {master_key: os.environ/TG_TEST_KEY}\n",
    )
    .unwrap();
    assert_eq!(c.litellm_settings.cache_params["host"], "redis.internal");
    assert_eq!(c.general_settings.master_key.as_deref(), Some("sk-abc"));
}

#[test]
fn supported_environments_filter_deployments() {
    let yaml = |env: &str| {
        format!(
            "environment_variables: {{LITELLM_ENVIRONMENT: {env}}}\nmodel_list:\n  \
             - model_name: a\n    litellm_params: {{model: openai/a}}\n    \
             model_info: {{supported_environments: [staging]}}\n"
        )
    };
    assert_eq!(load_str(&yaml("staging")).unwrap().model_list.len(), 1);
    assert_eq!(load_str(&yaml("production")).unwrap().model_list.len(), 0);
    assert_eq!(
        error_of(&yaml("qa")),
        "config.yaml: model_list[0].model_info.supported_environments: environment variable \
         LITELLM_ENVIRONMENT must be one of development, staging, production, got \"qa\""
    );
}

#[test]
fn supported_environments_without_litellm_environment_is_an_error() {
    if std::env::var_os("LITELLM_ENVIRONMENT").is_some() {
        return; // the process environment decides here; nothing to test
    }
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n    \
             model_info: {supported_environments: [production]}\n"
        ),
        "config.yaml: model_list[0].model_info.supported_environments: \
         set, but environment variable LITELLM_ENVIRONMENT is not"
    );
}

#[test]
fn unknown_credential_name_is_an_error() {
    assert_eq!(
        error_of(
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/a\n      \
             litellm_credential_name: nope\n"
        ),
        "config.yaml: model_list[0].litellm_params.litellm_credential_name: \
         no credential named \"nope\" in credential_list"
    );
}

#[test]
fn entry_level_rpm_is_copied_only_when_absent_and_not_hashed() {
    let c = load_str(
        "model_list:\n  - model_name: a\n    rpm: 10\n    tpm: 20\n    \
         litellm_params: {model: openai/a, rpm: 5}\n",
    )
    .unwrap();
    let d = &c.model_list[0];
    assert_eq!(d.litellm_params.rpm, Some(5));
    assert_eq!(d.litellm_params.tpm, Some(20));
    let mut written = Map::new();
    written.insert("model".into(), json!("openai/a"));
    written.insert("rpm".into(), json!(5));
    assert_eq!(d.id, deployment_id("a", &written));
}

#[test]
fn master_key_without_sk_prefix_is_only_a_warning() {
    let c = load_str("general_settings: {master_key: hunter2}\n").unwrap();
    assert_eq!(c.general_settings.master_key.as_deref(), Some("hunter2"));
    assert_eq!(
        c.warnings,
        [
            "config.yaml: general_settings.master_key: does not start with \"sk-\" as LiteLLM's \
          docs require; accepted anyway"
        ]
    );
}

#[test]
fn litellm_settings_unknown_keys_are_kept_without_warning() {
    let c = load_str("litellm_settings: {turn_off_message_logging: true, foo_bar: 1}\n").unwrap();
    assert_eq!(c.litellm_settings.extra["foo_bar"], json!(1));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn model_info_integer_id_wins_and_is_stringified() {
    let c = load_str(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a}\n    \
         model_info: {id: 7}\n  - model_name: b\n    litellm_params: {model: openai/b}\n    \
         model_info: {id: my-id}\n",
    )
    .unwrap();
    assert_eq!(c.model_list[0].id, "7");
    assert_eq!(c.model_list[1].id, "my-id");
}

#[test]
fn empty_document_is_an_empty_config() {
    let c = load_str("").unwrap();
    assert!(c.model_list.is_empty());
    assert!(!c.litellm_settings.drop_params);
}

#[test]
fn quick_start_is_one_deployment_named_by_the_model_string() {
    let c = Config::quick_start("openai/gpt-4o");
    assert_eq!(c.model_list.len(), 1);
    let d = &c.model_list[0];
    assert_eq!(d.model_name, "openai/gpt-4o");
    assert_eq!(d.litellm_params.model, "openai/gpt-4o");
    // sha256(("openai/gpt-4o" + "model" + "openai/gpt-4o").encode()).hexdigest()
    assert_eq!(
        d.id,
        "8fc37b6303f7cb0b90247d05f4b86e8c2c8e11c7a70918c0bd0dd1bd7d98dc1d"
    );
}

#[test]
fn empty_config_has_no_deployments_and_default_settings() {
    let c = Config::empty();
    assert!(c.model_list.is_empty());
    assert!(c.environment_variables.is_empty());
    assert_eq!(c.router_settings, RouterSettings::default());
    assert_eq!(
        c.general_settings.master_key,
        std::env::var("LITELLM_MASTER_KEY")
            .ok()
            .filter(|v| !v.is_empty())
    );
}

#[test]
fn deployments_serialise_with_extras_flattened() {
    let c = load_str(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/a, temperature: 0.1, \
         rpm: 3}\n    model_info: {id: x, mode: chat}\n",
    )
    .unwrap();
    let v = serde_json::to_value(&c.model_list[0]).unwrap();
    assert_eq!(
        v,
        json!({"model_name": "a",
               "litellm_params": {"model": "openai/a", "rpm": 3, "temperature": 0.1},
               "model_info": {"id": "x", "mode": "chat"}})
    );
}
