//! `litellm_settings`, `general_settings`, `router_settings` and `credential_list` entries.
//!
//! Each struct names the keys Tollgate acts on and keeps every other key, in order, in `extra`:
//! LiteLLM accepts far more keys than any one component uses, and a config must load unchanged.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::de;

/// `[{model_group: [fallback_group, ...]}, ...]`, tried in list order.
pub type Fallbacks = Vec<IndexMap<String, Vec<String>>>;

/// `litellm_settings`: module-level settings of the LiteLLM library.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LitellmSettings {
    /// Drop OpenAI params a provider does not support instead of failing with 400.
    #[serde(deserialize_with = "de::flag")]
    pub drop_params: bool,
    /// Whole-call timeout in seconds (LiteLLM's default is 6000).
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<f64>,
    /// Retries within a model group (router default when `router_settings` has none).
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_retries: Option<u32>,
    /// Log as JSON lines.
    #[serde(deserialize_with = "de::flag")]
    pub json_logs: bool,
    /// Deprecated verbose switch, still seen in configs.
    #[serde(deserialize_with = "de::flag")]
    pub set_verbose: bool,
    /// Fallbacks on any error.
    #[serde(deserialize_with = "de::fallbacks")]
    pub fallbacks: Fallbacks,
    /// Fallbacks when the prompt exceeds the context window.
    #[serde(deserialize_with = "de::fallbacks")]
    pub context_window_fallbacks: Fallbacks,
    /// Fallbacks when the provider refuses on content policy.
    #[serde(deserialize_with = "de::fallbacks")]
    pub content_policy_fallbacks: Fallbacks,
    /// Groups to try for any model group that has no fallbacks of its own.
    #[serde(
        deserialize_with = "de::opt_string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_fallbacks: Option<Vec<String>>,
    /// Failures per minute before a deployment cools down.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_fails: Option<u32>,
    /// Cooldown in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown_time: Option<f64>,
    /// Response cache on.
    #[serde(deserialize_with = "de::flag")]
    pub cache: bool,
    /// Cache backend settings (`type`, `host`, `ttl`, ...).
    #[serde(deserialize_with = "de::object")]
    pub cache_params: Map<String, Value>,
    /// Callbacks run on success.
    #[serde(deserialize_with = "de::string_list")]
    pub success_callback: Vec<String>,
    /// Callbacks run on failure.
    #[serde(deserialize_with = "de::string_list")]
    pub failure_callback: Vec<String>,
    /// Callbacks run on both.
    #[serde(deserialize_with = "de::string_list")]
    pub callbacks: Vec<String>,
    /// Proxy-wide budget in USD.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_budget: Option<f64>,
    /// Proxy-wide budget period (`30d`, `1h`, ...).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub budget_duration: Option<String>,
    /// IANA zone for budget resets (UTC when unset).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timezone: Option<String>,
    /// Request model name → model name, applied before routing.
    #[serde(deserialize_with = "de::string_map")]
    pub model_alias_map: IndexMap<String, String>,
    /// Price file in LiteLLM's `model_prices_and_context_window.json` format, merged over the
    /// built-in table: a local path (relative to the config) or `file://` URL. When unset, env
    /// `LITELLM_MODEL_COST_MAP_URL`.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub model_cost_map_url: Option<String>,
    /// Every other key. LiteLLM sets each as a module global, so none is an error.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Seconds to establish an upstream TCP/TLS connection when `connect_timeout` is unset.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: f64 = 10.0;

/// `general_settings`: the proxy server's own settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneralSettings {
    /// Admin key. When the config has none, env `LITELLM_MASTER_KEY`.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub master_key: Option<String>,
    /// Postgres URL. When the config has none, env `DATABASE_URL`.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub database_url: Option<String>,
    /// Largest accepted request body, in MB.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_request_size_mb: Option<f64>,
    /// Largest accepted upstream response, in MB.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_response_size_mb: Option<f64>,
    /// Extra header that may carry the virtual key.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub litellm_key_header_name: Option<String>,
    /// Tollgate's own: seconds to establish an upstream TCP/TLS connection
    /// (see [`GeneralSettings::connect_timeout_secs`]).
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<f64>,
    /// Forward the client's request headers to the provider.
    #[serde(deserialize_with = "de::flag")]
    pub forward_client_headers_to_llm_api: bool,
    /// Force `stream_options.include_usage` on every streamed request.
    #[serde(deserialize_with = "de::flag")]
    pub always_include_stream_usage: bool,
    /// Every other key (alerting, pass-through endpoints, ...), kept for the parts that use them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GeneralSettings {
    /// `connect_timeout`, or [`DEFAULT_CONNECT_TIMEOUT_SECS`].
    pub fn connect_timeout_secs(&self) -> f64 {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS)
    }
}

/// `router_settings`: arguments of LiteLLM's `Router`; they win over same-named
/// `litellm_settings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterSettings {
    /// `simple-shuffle` (default), `least-busy`, `usage-based-routing(-v2)`,
    /// `latency-based-routing`, `cost-based-routing`.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub routing_strategy: Option<String>,
    /// Retries within a model group.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_retries: Option<u32>,
    /// Whole-call timeout in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<f64>,
    /// Timeout of streaming calls in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_timeout: Option<f64>,
    /// Failures per minute before a deployment cools down.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_fails: Option<u32>,
    /// Cooldown in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown_time: Option<f64>,
    /// Minimum seconds between retries.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<f64>,
    /// Fallbacks on any error.
    #[serde(deserialize_with = "de::fallbacks")]
    pub fallbacks: Fallbacks,
    /// Fallbacks when the prompt exceeds the context window.
    #[serde(deserialize_with = "de::fallbacks")]
    pub context_window_fallbacks: Fallbacks,
    /// Fallbacks when the provider refuses on content policy.
    #[serde(deserialize_with = "de::fallbacks")]
    pub content_policy_fallbacks: Fallbacks,
    /// Groups to try for any model group that has no fallbacks of its own.
    #[serde(
        deserialize_with = "de::opt_string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_fallbacks: Option<Vec<String>>,
    /// Alias → group: a string, or `{model: group, hidden: bool}`.
    #[serde(deserialize_with = "de::value_map")]
    pub model_group_alias: IndexMap<String, Value>,
    /// Filter deployments by context window, rpm/tpm and region before picking.
    #[serde(deserialize_with = "de::flag")]
    pub enable_pre_call_checks: bool,
    /// Redis host for state shared between replicas.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub redis_host: Option<String>,
    /// Redis port.
    #[serde(
        deserialize_with = "de::opt_u16",
        skip_serializing_if = "Option::is_none"
    )]
    pub redis_port: Option<u16>,
    /// Redis password.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub redis_password: Option<String>,
    /// Redis URL (wins over host/port).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub redis_url: Option<String>,
    /// Every other key. LiteLLM drops keys that are not `Router` arguments without a word;
    /// Tollgate keeps them here and warns about the ones LiteLLM would drop.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Router` arguments LiteLLM accepts that Tollgate does not type (yet): these are kept in
/// `extra` silently; any other key there gets a warning.
pub(crate) const KNOWN_UNTYPED_ROUTER_KEYS: &[&str] = &[
    "routing_strategy_args",
    "max_fallbacks",
    "allowed_fails_policy",
    "disable_cooldowns",
    "retry_policy",
    "model_group_retry_policy",
    "optional_pre_call_checks",
    "enable_tag_filtering",
    "tag_filtering_match_any",
    "redis_db",
    "cache_kwargs",
    "cache_responses",
    "caching_groups",
    "client_ttl",
    "default_max_parallel_requests",
    "default_litellm_params",
    "provider_budget_config",
    "polling_interval",
    "default_priority",
    "ignore_invalid_deployments",
    "set_verbose",
    "debug_level",
    "alerting_config",
    "router_general_settings",
    "assistants_config",
    "search_tools",
    "guardrail_list",
    "model_group_affinity_config",
    "deployment_affinity_ttl_seconds",
    // Tollgate's own: the share of calls retries may add (see the README's Router section).
    "retry_budget_ratio",
];

/// One `credential_list` entry: named provider credentials that deployments refer to with
/// `litellm_params.litellm_credential_name`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialConfig {
    /// The name deployments use.
    pub credential_name: String,
    /// `api_key`, `api_base`, `api_version`, ... filled into deployments that lack them.
    #[serde(default, deserialize_with = "de::object")]
    pub credential_values: Map<String, Value>,
    /// Free-form description (`custom_llm_provider`, ...).
    #[serde(default, deserialize_with = "de::object")]
    pub credential_info: Map<String, Value>,
}
