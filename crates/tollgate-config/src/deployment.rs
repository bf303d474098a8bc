//! `model_list` entries: one deployment each (more with an `organization` list).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::de;

/// One deployment: a provider model behind a public model name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentConfig {
    /// The name clients ask for; deployments sharing it form a model group.
    pub model_name: String,
    /// How to call the provider.
    pub litellm_params: LitellmParams,
    /// Metadata; `model_info.id` is always set, to [`DeploymentConfig::id`].
    pub model_info: ModelInfo,
    /// `model_info.id` from the config (ints stringified), else LiteLLM's hash id
    /// ([`crate::deployment_id`]).
    #[serde(skip)]
    pub id: String,
}

/// `litellm_params`: the provider call. Keys not named here are default request params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LitellmParams {
    /// `provider/model` (or a bare name the provider is inferred from); may contain `*`.
    #[serde(deserialize_with = "de_model")]
    pub model: String,
    /// Overrides the provider inferred from `model`.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub custom_llm_provider: Option<String>,
    /// Provider API key.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key: Option<String>,
    /// Provider base URL, instead of the provider's default.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_base: Option<String>,
    /// API version (Azure).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_version: Option<String>,
    /// OpenAI organization. A list in YAML becomes one deployment per organization.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub organization: Option<String>,
    /// Requests per minute this deployment may take.
    #[serde(
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment may take.
    #[serde(
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub tpm: Option<u64>,
    /// Concurrent in-flight requests allowed.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_parallel_requests: Option<u32>,
    /// Relative weight in simple-shuffle.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub weight: Option<f64>,
    /// Priority tier; lower is preferred.
    #[serde(
        deserialize_with = "de::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub order: Option<i64>,
    /// Whole-call timeout in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<f64>,
    /// Streaming timeout in seconds.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub stream_timeout: Option<f64>,
    /// Retries inside one provider call.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_retries: Option<u32>,
    /// Router retries when this is the only deployment of its group.
    #[serde(
        deserialize_with = "de::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub num_retries: Option<u32>,
    /// Cooldown of this deployment in seconds (0: never).
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cooldown_time: Option<f64>,
    /// Answer with this text instead of calling the provider.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mock_response: Option<String>,
    /// Per-deployment `drop_params` (wins over `litellm_settings.drop_params`).
    #[serde(
        deserialize_with = "de::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub drop_params: Option<bool>,
    /// Request params always removed before calling this deployment.
    #[serde(
        deserialize_with = "de::opt_string_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_drop_params: Option<Vec<String>>,
    /// Headers sent to the provider (`extra_headers`, or its older name `headers`).
    #[serde(
        deserialize_with = "de::string_map",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    pub extra_headers: IndexMap<String, String>,
    /// Custom price of a prompt token, USD.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub input_cost_per_token: Option<f64>,
    /// Custom price of a completion token, USD.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub output_cost_per_token: Option<f64>,
    /// Custom price of a prompt token read from the provider's cache, USD.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_read_input_token_cost: Option<f64>,
    /// Custom price of a prompt token written to the provider's cache, USD.
    #[serde(
        deserialize_with = "de::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_creation_input_token_cost: Option<f64>,
    /// Name of a `credential_list` entry whose values fill absent fields.
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub litellm_credential_name: Option<String>,
    /// Every other key, in order: default params sent to the provider (`temperature`,
    /// `max_tokens`, `aws_*`, `vertex_*`, ...). Request values win over them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn de_model<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    de::opt_string(d)?.ok_or_else(|| D::Error::custom("missing required key"))
}

/// `model_info`: metadata about a deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    /// Deployment id; usable as `model` to target exactly this deployment.
    #[serde(
        deserialize_with = "de::opt_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// `chat` (default), `completion`, `embedding`, `image_generation`, ...
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<String>,
    /// Cost-map key for pricing and context window (needed for custom Azure names).
    #[serde(
        deserialize_with = "de::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub base_model: Option<String>,
    /// Overrides the cost map's `max_tokens`.
    #[serde(
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u64>,
    /// Context window, prompt side (enforced by pre-call checks).
    #[serde(
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_input_tokens: Option<u64>,
    /// Longest completion.
    #[serde(
        deserialize_with = "de::opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<u64>,
    /// Everything else (`access_groups`, `supports_*`, pricing, ...), returned by `/model/info`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
