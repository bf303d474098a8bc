//! The loading pipeline: YAML → includes merged → `environment_variables` → `os.environ/`
//! resolved everywhere → sections typed and validated → deployments built.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_core::Env;

use crate::de::describe;
use crate::deployment::{DeploymentConfig, LitellmParams, ModelInfo};
use crate::error::{ConfigError, io_reason};
use crate::id::{deployment_id, py_str};
use crate::origin::{KeyPath, Origins};
use crate::settings::{
    CredentialConfig, GeneralSettings, KNOWN_UNTYPED_ROUTER_KEYS, LitellmSettings, RouterSettings,
};
use crate::{Config, yaml};

/// Top-level sections LiteLLM documents that Tollgate does not act on yet.
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "guardrails",
    "callback_settings",
    "search_tools",
    "mcp_servers",
    "vector_store_registry",
    "prompts",
    "assistant_settings",
    "finetune_settings",
    "files_settings",
];

/// The values LiteLLM allows for `LITELLM_ENVIRONMENT` and `supported_environments`.
const ENVIRONMENTS: &[&str] = &["development", "staging", "production"];

const ENVIRON_PREFIX: &str = "os.environ/";

pub(crate) fn from_yaml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let main = origin.display().to_string();
    let mut origins = Origins::new(main.clone());
    let mut warnings = Vec::new();

    let mut root = match yaml::parse(text, &main)? {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => return Err(not_a_config(&main, &other)),
    };
    let base = origin.parent().unwrap_or_else(|| Path::new(""));
    merge_includes(&mut root, base, &mut origins, &mut warnings)?;

    let environment_variables = take_environment_variables(&mut root, &origins, &mut warnings)?;
    let env = Env::with_overlay(environment_variables.clone().into_iter().collect());

    let mut unset = Vec::new();
    for (key, value) in root.iter_mut() {
        resolve_environ(value, &KeyPath::key(key), &env, &mut unset);
    }
    for (path, name) in unset {
        warnings.push(origins.warning(
            &path,
            &format!("{ENVIRON_PREFIX}{name} is not set; treated as absent"),
        ));
    }

    let credential_list = credentials(&mut root, &origins, &mut warnings)?;
    let litellm_settings: LitellmSettings = section(&mut root, "litellm_settings", &origins)?;
    for key in litellm_settings.extra.keys() {
        tracing::debug!(
            key,
            "litellm_settings key accepted but not used by Tollgate"
        );
    }
    let mut general_settings: GeneralSettings = section(&mut root, "general_settings", &origins)?;
    apply_env_fallbacks(&mut general_settings, &env, &origins, &mut warnings);
    let router_settings: RouterSettings = section(&mut root, "router_settings", &origins)?;
    for key in router_settings.extra.keys() {
        if !KNOWN_UNTYPED_ROUTER_KEYS.contains(&key.as_str()) {
            let path = KeyPath::key("router_settings").child(key);
            warnings.push(origins.warning(
                &path,
                "unknown key, ignored (not a LiteLLM Router argument)",
            ));
        }
    }
    let model_list = model_list(&mut root, &env, &credential_list, &origins, &mut warnings)?;

    let mut extra = Map::new();
    for (key, value) in root {
        let note = if UNSUPPORTED_SECTIONS.contains(&key.as_str()) {
            "not supported by Tollgate yet, ignored"
        } else {
            "unknown key, ignored"
        };
        warnings.push(origins.warning(&KeyPath::key(&key), note));
        extra.insert(key, value);
    }

    Ok(Config {
        model_list,
        litellm_settings,
        general_settings,
        router_settings,
        environment_variables,
        credential_list,
        env,
        warnings,
        extra,
    })
}

fn not_a_config(file: &str, got: &Value) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        path: KeyPath::default().to_string(),
        message: format!("expected a mapping of sections, got {}", describe(got)),
    }
}

/// Merges each `include`d file into `root`: lists are appended, mappings gain the keys they
/// lack, anything else keeps the first value seen. Included files' own `include` is not
/// followed (LiteLLM does not either).
fn merge_includes(
    root: &mut Map<String, Value>,
    base: &Path,
    origins: &mut Origins,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let Some(include) = root.shift_remove("include") else {
        return Ok(());
    };
    let at = KeyPath::key("include");
    let files = match include {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s],
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(origins.error(
                    &at.index(i),
                    format!("expected a file path, got {}", describe(&other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(origins.error(
                &at,
                format!("expected a list of file paths, got {}", describe(&other)),
            ));
        }
    };

    for relative in files {
        let path = base.join(&relative);
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Include {
            file: file.clone(),
            reason: io_reason(&e),
        })?;
        let added = match yaml::parse(&text, &file)? {
            Value::Null => continue,
            Value::Object(map) => map,
            other => return Err(not_a_config(&file, &other)),
        };
        for (key, value) in added {
            if key == "include" {
                warnings.push(format!(
                    "{file}: include: includes inside an included file are not followed; ignored"
                ));
                continue;
            }
            match root.get_mut(&key) {
                None | Some(Value::Null) => {
                    root.insert(key.clone(), value);
                    origins.record_section(&key, &file);
                }
                Some(Value::Array(list)) if value.is_array() => {
                    let Value::Array(items) = value else { continue };
                    origins.record_elements(&key, list.len(), &file, items.len());
                    list.extend(items);
                }
                Some(Value::Object(map)) if value.is_object() => {
                    let Value::Object(entries) = value else {
                        continue;
                    };
                    for (k, v) in entries {
                        let path = KeyPath::key(&key).child(&k);
                        if map.contains_key(&k) {
                            let (first, _) = origins.place(&path);
                            warnings.push(format!(
                                "{file}: {path}: already set in {first}; this value is ignored"
                            ));
                        } else {
                            map.insert(k.clone(), v);
                            origins.record_key(&key, &k, &file);
                        }
                    }
                }
                Some(_) => {
                    let (first, _) = origins.place(&KeyPath::key(&key));
                    warnings.push(format!(
                        "{file}: {key}: already set in {first}; this value is ignored"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `environment_variables`, stringified the way LiteLLM exports them (`str(value)`), with
/// `os.environ/` references resolved against what is already known.
fn take_environment_variables(
    root: &mut Map<String, Value>,
    origins: &Origins,
    warnings: &mut Vec<String>,
) -> Result<IndexMap<String, String>, ConfigError> {
    let at = KeyPath::key("environment_variables");
    let entries = match root.shift_remove("environment_variables") {
        None | Some(Value::Null) => return Ok(IndexMap::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(origins.error(
                &at,
                format!(
                    "expected a mapping of NAME: value, got {}",
                    describe(&other)
                ),
            ));
        }
    };
    let mut vars = IndexMap::new();
    for (name, value) in entries {
        let value = match value {
            Value::Null => {
                warnings.push(origins.warning(&at.child(&name), "no value; not set"));
                continue;
            }
            Value::String(s) => match s.strip_prefix(ENVIRON_PREFIX) {
                Some(source) => {
                    let known = Env::with_overlay(vars.clone().into_iter().collect());
                    match known.get(source) {
                        Some(v) => v,
                        None => {
                            warnings.push(origins.warning(
                                &at.child(&name),
                                &format!("{s} is not set; {name} is not set either"),
                            ));
                            continue;
                        }
                    }
                }
                None => s,
            },
            other => py_str(&other),
        };
        vars.insert(name, value);
    }
    Ok(vars)
}

/// Replaces every `os.environ/NAME` string with the variable's value, or `null` when unset.
fn resolve_environ(
    value: &mut Value,
    path: &KeyPath,
    env: &Env,
    unset: &mut Vec<(KeyPath, String)>,
) {
    match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix(ENVIRON_PREFIX) {
                match env.get(name) {
                    Some(v) => *value = Value::String(v),
                    None => {
                        unset.push((path.clone(), name.to_owned()));
                        *value = Value::Null;
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                resolve_environ(item, &path.index(i), env, unset);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                resolve_environ(item, &path.child(key), env, unset);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A mapping typed as `T`. `null` values count as absent, as in LiteLLM (an unset
/// `os.environ/` reference must not fail a field that is optional).
fn typed<T: DeserializeOwned>(
    map: Map<String, Value>,
    path: &KeyPath,
    origins: &Origins,
) -> Result<T, ConfigError> {
    let map: Map<String, Value> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
    serde_path_to_error::deserialize(Value::Object(map))
        .map_err(|e| origins.error(&path.join_serde(e.path()), e.inner().to_string()))
}

/// A top-level mapping section, typed; absent or `null` is all defaults.
fn section<T: DeserializeOwned>(
    root: &mut Map<String, Value>,
    name: &str,
    origins: &Origins,
) -> Result<T, ConfigError> {
    let path = KeyPath::key(name);
    let map = match root.shift_remove(name) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(origins.error(
                &path,
                format!("expected a mapping, got {}", describe(&other)),
            ));
        }
    };
    typed(map, &path, origins)
}

/// A top-level list section; absent or `null` is empty.
fn list_section(
    root: &mut Map<String, Value>,
    name: &str,
    origins: &Origins,
) -> Result<Vec<Value>, ConfigError> {
    match root.shift_remove(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(origins.error(
            &KeyPath::key(name),
            format!("expected a list, got {}", describe(&other)),
        )),
    }
}

/// Takes a key that must hold a string.
fn required_string(
    map: &Map<String, Value>,
    key: &str,
    at: &KeyPath,
    origins: &Origins,
) -> Result<String, ConfigError> {
    match map.get(key) {
        None | Some(Value::Null) => Err(origins.error(&at.child(key), "missing required key")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(origins.error(
            &at.child(key),
            format!("expected a string, got {}", describe(other)),
        )),
    }
}

fn entry_map(
    item: Value,
    at: &KeyPath,
    what: &str,
    origins: &Origins,
) -> Result<Map<String, Value>, ConfigError> {
    match item {
        Value::Object(map) => Ok(map),
        other => Err(origins.error(at, format!("expected {what}, got {}", describe(&other)))),
    }
}

fn credentials(
    root: &mut Map<String, Value>,
    origins: &Origins,
    warnings: &mut Vec<String>,
) -> Result<Vec<CredentialConfig>, ConfigError> {
    let mut out: Vec<CredentialConfig> = Vec::new();
    for (i, item) in list_section(root, "credential_list", origins)?
        .into_iter()
        .enumerate()
    {
        let at = KeyPath::key("credential_list").index(i);
        let map = entry_map(item, &at, "a mapping with credential_name", origins)?;
        let name = required_string(&map, "credential_name", &at, origins)?;
        let credential: CredentialConfig = typed(map, &at, origins)?;
        if out.iter().any(|c| c.credential_name == name) {
            warnings.push(origins.warning(
                &at.child("credential_name"),
                &format!("duplicate credential {name:?}; the first one is used"),
            ));
        }
        out.push(credential);
    }
    Ok(out)
}

fn apply_env_fallbacks(
    general: &mut GeneralSettings,
    env: &Env,
    origins: &Origins,
    warnings: &mut Vec<String>,
) {
    let mut master_key_at = Some(KeyPath::key("general_settings").child("master_key"));
    if general.master_key.is_none() {
        general.master_key = env.get("LITELLM_MASTER_KEY");
        master_key_at = None;
    }
    if general.database_url.is_none() {
        general.database_url = env.get("DATABASE_URL");
    }
    if let Some(key) = &general.master_key {
        if !key.starts_with("sk-") {
            let note = "does not start with \"sk-\" as LiteLLM's docs require; accepted anyway";
            warnings.push(match master_key_at {
                Some(path) => origins.warning(&path, note),
                None => format!("environment variable LITELLM_MASTER_KEY: {note}"),
            });
        }
    }
}

/// Every `model_list` entry as deployments.
fn model_list(
    root: &mut Map<String, Value>,
    env: &Env,
    credentials: &[CredentialConfig],
    origins: &Origins,
    warnings: &mut Vec<String>,
) -> Result<Vec<DeploymentConfig>, ConfigError> {
    let by_name: HashMap<&str, &CredentialConfig> = credentials
        .iter()
        .rev() // the first of duplicate names wins, as in LiteLLM's lookup
        .map(|c| (c.credential_name.as_str(), c))
        .collect();
    let mut out = Vec::new();
    for (i, item) in list_section(root, "model_list", origins)?
        .into_iter()
        .enumerate()
    {
        let at = KeyPath::key("model_list").index(i);
        let ctx = EntryCtx {
            at: &at,
            env,
            credentials: &by_name,
            origins,
        };
        out.extend(ctx.build(item, warnings)?);
    }
    Ok(out)
}

struct EntryCtx<'a> {
    at: &'a KeyPath,
    env: &'a Env,
    credentials: &'a HashMap<&'a str, &'a CredentialConfig>,
    origins: &'a Origins,
}

impl EntryCtx<'_> {
    fn err(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        self.origins.error(path, message)
    }

    /// One `model_list` entry → its deployments (none when filtered by environment, several
    /// for an `organization` list).
    fn build(
        &self,
        item: Value,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<DeploymentConfig>, ConfigError> {
        let at = self.at;
        let mut entry = entry_map(
            item,
            at,
            "a mapping with model_name and litellm_params",
            self.origins,
        )?;
        let model_name = required_string(&entry, "model_name", at, self.origins)?;
        entry.shift_remove("model_name");

        let params_at = at.child("litellm_params");
        let mut params = match entry.shift_remove("litellm_params") {
            None | Some(Value::Null) => return Err(self.err(&params_at, "missing required key")),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.err(
                    &params_at,
                    format!("expected a mapping, got {}", describe(&other)),
                ));
            }
        };
        if params.get("model").is_none_or(Value::is_null) {
            return Err(self.err(&params_at.child("model"), "missing required key"));
        }

        let info_at = at.child("model_info");
        let info_map = match entry.shift_remove("model_info") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(self.err(
                    &info_at,
                    format!("expected a mapping, got {}", describe(&other)),
                ));
            }
        };
        let mut model_info: ModelInfo = typed(info_map, &info_at, self.origins)?;
        if !self.active_in_environment(&model_info, &info_at)? {
            tracing::info!(
                model_name,
                "deployment skipped: LITELLM_ENVIRONMENT is not in its supported_environments"
            );
            return Ok(Vec::new());
        }

        // LiteLLM hashes the params as written (after os.environ/), before the entry-level
        // tpm/rpm, credentials or organization expansion touch them.
        let id = model_info
            .id
            .clone()
            .unwrap_or_else(|| deployment_id(&model_name, &params));
        model_info.id = Some(id.clone());

        for key in ["tpm", "rpm"] {
            if let Some(value) = entry.shift_remove(key).filter(|v| !v.is_null()) {
                if params.get(key).is_none_or(Value::is_null) {
                    params.insert(key.to_owned(), value);
                }
            }
        }
        for key in entry.keys() {
            warnings.push(self.origins.warning(&at.child(key), "unknown key, ignored"));
        }

        self.fill_credentials(&mut params, &params_at)?;

        let organizations = match params.get("organization") {
            Some(Value::Array(orgs)) => orgs.iter().cloned().map(Some).collect(),
            _ => vec![None],
        };
        if organizations.is_empty() {
            warnings.push(self.origins.warning(
                &params_at.child("organization"),
                "empty list: no deployment created",
            ));
        }
        // Every deployment of an organization list shares the id, as in LiteLLM (which
        // hashes the list once, before expanding it).
        organizations
            .into_iter()
            .map(|org| {
                let mut params = params.clone();
                if let Some(org) = org {
                    params.insert("organization".to_owned(), org);
                }
                Ok(DeploymentConfig {
                    model_name: model_name.clone(),
                    litellm_params: litellm_params(params, &params_at, self.origins)?,
                    model_info: model_info.clone(),
                    id: id.clone(),
                })
            })
            .collect()
    }

    /// `supported_environments`: load only where `LITELLM_ENVIRONMENT` is listed.
    fn active_in_environment(
        &self,
        info: &ModelInfo,
        info_at: &KeyPath,
    ) -> Result<bool, ConfigError> {
        let at = info_at.child("supported_environments");
        let listed = match info.extra.get("supported_environments") {
            None | Some(Value::Null) => return Ok(true),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.err(&at, format!("expected a list, got {}", describe(other))));
            }
        };
        let mut allowed = Vec::new();
        for (i, item) in listed.iter().enumerate() {
            match item.as_str() {
                Some(s) if ENVIRONMENTS.contains(&s) => allowed.push(s),
                _ => {
                    return Err(self.err(
                        &at.index(i),
                        format!(
                            "expected one of {}, got {}",
                            ENVIRONMENTS.join(", "),
                            describe(item)
                        ),
                    ));
                }
            }
        }
        let Some(current) = self.env.get("LITELLM_ENVIRONMENT") else {
            return Err(self.err(
                &at,
                "set, but environment variable LITELLM_ENVIRONMENT is not",
            ));
        };
        if !ENVIRONMENTS.contains(&current.as_str()) {
            return Err(self.err(
                &at,
                format!(
                    "environment variable LITELLM_ENVIRONMENT must be one of {}, got {current:?}",
                    ENVIRONMENTS.join(", ")
                ),
            ));
        }
        Ok(allowed.contains(&current.as_str()))
    }

    /// Values of the named credential fill the params the deployment does not set itself.
    fn fill_credentials(
        &self,
        params: &mut Map<String, Value>,
        params_at: &KeyPath,
    ) -> Result<(), ConfigError> {
        let at = params_at.child("litellm_credential_name");
        let name = match params.get("litellm_credential_name") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(self.err(&at, format!("expected a string, got {}", describe(other))));
            }
        };
        let Some(credential) = self.credentials.get(name.as_str()) else {
            return Err(self.err(
                &at,
                format!("no credential named {name:?} in credential_list"),
            ));
        };
        for (key, value) in &credential.credential_values {
            if !value.is_null() && params.get(key).is_none_or(Value::is_null) {
                params.insert(key.clone(), value.clone());
            }
        }
        Ok(())
    }
}

/// Typed `litellm_params`; `headers` (the older name) merges under `extra_headers`.
fn litellm_params(
    mut params: Map<String, Value>,
    at: &KeyPath,
    origins: &Origins,
) -> Result<LitellmParams, ConfigError> {
    if let Some(Value::Object(headers)) = params.get("headers").cloned() {
        let mut merged = headers;
        if let Some(Value::Object(extra)) = params.get("extra_headers") {
            merged.extend(extra.clone());
        }
        params.shift_remove("headers");
        params.insert("extra_headers".to_owned(), Value::Object(merged));
    }
    typed(params, at, origins)
}
