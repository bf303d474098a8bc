//! Tollgate's `config.yaml`: an unchanged LiteLLM proxy config, loaded and validated.
//!
//! What loading does, in order:
//!
//! 1. Parse the YAML (read like PyYAML reads it: YAML 1.1 booleans and octals, last duplicate
//!    key wins).
//! 2. Merge every file named by `include` (relative to the main file's directory): list
//!    sections are appended, mapping sections gain the keys they lack.
//! 3. Lay `environment_variables` over the process environment in [`Config::env`]. The process
//!    environment itself is never modified.
//! 4. Replace every string of the form `os.environ/NAME`, anywhere, with that variable; an unset
//!    variable makes the key absent.
//! 5. Type each section. Keys Tollgate does not name are kept in `extra` fields; the ones that
//!    would be silently ignored get a line in [`Config::warnings`].
//! 6. Build deployments: entry-level `tpm`/`rpm` moved into `litellm_params`, credentials from
//!    `credential_list` filled in, `organization` lists expanded, `supported_environments`
//!    honoured, and ids computed exactly as LiteLLM computes them ([`deployment_id`]).
//!
//! Every error names the file, the key path and the problem, e.g.
//! `config.yaml: model_list[1].litellm_params.model: missing required key`.

mod de;
mod deployment;
mod error;
mod id;
mod load;
mod origin;
mod settings;
mod yaml;

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};
use tollgate_core::Env;

pub use deployment::{DeploymentConfig, LitellmParams, ModelInfo};
pub use error::ConfigError;
pub use id::deployment_id;
pub use settings::{
    CredentialConfig, DEFAULT_CONNECT_TIMEOUT_SECS, Fallbacks, GeneralSettings, LitellmSettings,
    RouterSettings,
};

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Deployments, in config order (an `organization` list yields several in a row).
    pub model_list: Vec<DeploymentConfig>,
    /// `litellm_settings`.
    pub litellm_settings: LitellmSettings,
    /// `general_settings`, with `master_key`/`database_url` taken from the environment when
    /// the config has none.
    pub general_settings: GeneralSettings,
    /// `router_settings`.
    pub router_settings: RouterSettings,
    /// `environment_variables`, values stringified.
    pub environment_variables: IndexMap<String, String>,
    /// `credential_list`.
    pub credential_list: Vec<CredentialConfig>,
    /// The process environment under `environment_variables`; read variables through this.
    pub env: Env,
    /// Things accepted but worth telling the operator, one line each, in the same
    /// `file: key.path: message` shape as errors. Not logged here: the caller decides how.
    pub warnings: Vec<String>,
    /// Other top-level sections (`guardrails`, `callback_settings`, ...), kept as written for
    /// the parts of Tollgate that will read them.
    pub extra: Map<String, Value>,
}

impl Config {
    /// Reads and loads the config file at `path`, with its includes.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            file: path.display().to_string(),
            reason: error::io_reason(&e),
        })?;
        Self::from_yaml_str(&text, path)
    }

    /// Loads config text. `origin` names it in messages and its directory anchors `include`.
    pub fn from_yaml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        load::from_yaml_str(text, origin)
    }

    /// `tollgate --model openai/gpt-4o`: a single deployment named by the model string itself.
    pub fn quick_start(model: &str) -> Config {
        let mut params = Map::new();
        params.insert("model".to_owned(), Value::String(model.to_owned()));
        let id = deployment_id(model, &params);
        let mut config = Self::empty();
        config.model_list.push(DeploymentConfig {
            model_name: model.to_owned(),
            litellm_params: LitellmParams {
                model: model.to_owned(),
                ..LitellmParams::default()
            },
            model_info: ModelInfo {
                id: Some(id.clone()),
                ..ModelInfo::default()
            },
            id,
        });
        config
    }

    /// No config at all: every section at its default, environment fallbacks applied.
    pub fn empty() -> Config {
        // An empty document takes the same path as a real one, so fallbacks cannot drift.
        match load::from_yaml_str("", Path::new("(no config)")) {
            Ok(config) => config,
            Err(_) => Config {
                model_list: Vec::new(),
                litellm_settings: LitellmSettings::default(),
                general_settings: GeneralSettings::default(),
                router_settings: RouterSettings::default(),
                environment_variables: IndexMap::new(),
                credential_list: Vec::new(),
                env: Env::process(),
                warnings: Vec::new(),
                extra: Map::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
