//! The price table: the built-in entries, price files merged over them, and lookup by the
//! model strings LiteLLM accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tollgate_core::{Env, Usage};

use crate::cost::{Cost, Metering};
use crate::error::{CostError, PriceError};
use crate::price::ModelPrice;

/// The built-in cost map, in LiteLLM's `model_prices_and_context_window.json` format.
const BUILTIN: &str = include_str!("../data/prices.json");

/// Bedrock cross-region inference-profile prefixes (`us.anthropic.claude-...`): the same model
/// at the same list price.
const BEDROCK_REGION_PREFIXES: &[&str] =
    &["us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"];

/// Bedrock route segments LiteLLM accepts between `bedrock/` and the model id.
const BEDROCK_ROUTES: &[&str] = &["converse/", "invoke/"];

/// OpenRouter's vendor namespaces and the table prefix of the vendor's own API: OpenRouter
/// bills first-party models at the vendor's list price.
const OPENROUTER_VENDORS: &[(&str, &str)] = &[
    ("openai", ""),
    ("anthropic", ""),
    ("google", "gemini/"),
    ("x-ai", "xai/"),
    ("mistralai", "mistral/"),
    ("deepseek", "deepseek/"),
];

/// Model entries by lower-cased key.
#[derive(Debug, Clone, Default)]
pub struct PriceTable {
    entries: HashMap<String, (String, ModelPrice)>,
}

impl PriceTable {
    /// The built-in table. Parse it once at start-up and share it.
    pub fn builtin() -> Self {
        // The embedded file is checked by a unit test; an entry that failed to read would be
        // missing rather than take the gateway down.
        let (table, _errors) = parse_lenient(BUILTIN);
        table
    }

    /// The built-in table, parsed on first use and shared by every caller.
    pub fn shared_builtin() -> &'static PriceTable {
        static TABLE: std::sync::OnceLock<PriceTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(PriceTable::builtin)
    }

    /// A table of only the entries of `json` (LiteLLM's format; `sample_spec` and non-object
    /// values are skipped).
    pub fn from_json_str(json: &str, origin: &Path) -> Result<Self, PriceError> {
        let value: Value = serde_json::from_str(json).map_err(|source| PriceError::Parse {
            path: origin.to_owned(),
            source,
        })?;
        let Value::Object(map) = value else {
            return Err(PriceError::NotAnObject {
                path: origin.to_owned(),
            });
        };
        let mut table = PriceTable::default();
        for (key, fields) in map {
            let Value::Object(fields) = fields else {
                continue;
            };
            if key == "sample_spec" {
                continue;
            }
            let price = ModelPrice::from_fields(&key, fields).map_err(|e| PriceError::Entry {
                path: origin.to_owned(),
                source: Box::new(e),
            })?;
            table.entries.insert(key.to_lowercase(), (key, price));
        }
        Ok(table)
    }

    /// The built-in table with the file at `path` merged over it: a model in both keeps the
    /// built-in fields the file does not set.
    pub fn load(path: &Path) -> Result<Self, PriceError> {
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file = PriceTable::from_json_str(&text, path)?;
        let mut table = PriceTable::builtin();
        table.merge(file)?;
        Ok(table)
    }

    /// The built-in table, with the price file the configuration names merged over it:
    /// `litellm_settings.model_cost_map_url`, else env `LITELLM_MODEL_COST_MAP_URL`; a plain
    /// path (relative to `config_dir`) or a `file://` URL.
    pub fn from_settings(
        setting: Option<&str>,
        env: &Env,
        config_dir: &Path,
    ) -> Result<Self, PriceError> {
        match cost_map_path(setting, env, config_dir)? {
            Some(path) => PriceTable::load(&path),
            None => Ok(PriceTable::builtin()),
        }
    }

    /// Lays `other`'s entries over these, field by field.
    pub fn merge(&mut self, other: PriceTable) -> Result<(), PriceError> {
        for (lower, (key, price)) in other.entries {
            let merged = match self.entries.get(&lower) {
                Some((_, old)) => old.overlaid(&key, price.fields())?,
                None => price,
            };
            self.entries.insert(lower, (key, merged));
        }
        Ok(())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry stored under exactly `key` (case-insensitive), no fallbacks.
    pub fn entry(&self, key: &str) -> Option<&ModelPrice> {
        self.entries.get(&key.to_lowercase()).map(|(_, p)| p)
    }

    /// The entry for a model string and the key it was found under, trying LiteLLM's key
    /// conventions in order: the string as given; without its `provider/` prefix; Bedrock's
    /// route segment and region prefix removed; a date or version suffix removed
    /// (`-2024-08-06`, `-20241022`, `@20240620`, `-0613`, `-002`); then the provider's catch-all
    /// entry (`ollama/*`).
    pub fn lookup(&self, model: &str) -> Option<(&str, &ModelPrice)> {
        candidates(model).into_iter().find_map(|c| {
            self.entries
                .get(&c.to_lowercase())
                .map(|(k, p)| (k.as_str(), p))
        })
    }

    /// The key of an image model's entry for one size and quality, in LiteLLM's conventions:
    /// `{quality}/{W-x-H}/{model}`, then `{W-x-H}/{model}` (the model with and without its
    /// provider prefix; quality `standard` when not given). `size` may be written `1024x1024`
    /// or `1024-x-1024`.
    pub fn image_key(&self, model: &str, size: &str, quality: Option<&str>) -> Option<&str> {
        let size = image_size_key(size)?;
        let bare = model.split_once('/').map_or(model, |(_, m)| m);
        let mut names = Vec::with_capacity(4);
        // OpenAI's default quality is `standard`, the key LiteLLM's DALL·E 3 entries use.
        let quality = quality.filter(|q| !q.is_empty()).unwrap_or("standard");
        for m in [model, bare] {
            names.push(format!("{quality}/{size}/{m}"));
            names.push(format!("{size}/{m}"));
        }
        names
            .iter()
            .find_map(|n| self.entries.get(&n.to_lowercase()).map(|(k, _)| k.as_str()))
    }

    /// The entry for a model string (see [`PriceTable::lookup`]).
    pub fn get(&self, model: &str) -> Option<&ModelPrice> {
        self.lookup(model).map(|(_, p)| p)
    }

    /// The prompt-side context window of a model.
    pub fn context_window(&self, model: &str) -> Option<u64> {
        self.get(model).and_then(ModelPrice::context_window)
    }

    /// The cost of one call to `model` that used `usage`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Result<Cost, CostError> {
        self.get(model)
            .ok_or_else(|| CostError::UnknownModel {
                model: model.to_owned(),
            })?
            .cost(usage)
    }

    /// The cost of one call with time and query metering too.
    pub fn cost_metered(&self, model: &str, m: &Metering<'_>) -> Result<Cost, CostError> {
        self.get(model)
            .ok_or_else(|| CostError::UnknownModel {
                model: model.to_owned(),
            })?
            .cost_metered(m)
    }

    /// A deployment's prices, in LiteLLM's order: the entry of `base_model` (model_info or
    /// litellm_params), else of the deployment's `model`, with the deployment's own price
    /// fields laid over it. A model the table lacks is priced by its own fields alone when it
    /// has some.
    pub fn deployment_price(
        &self,
        model: &str,
        base_model: Option<&str>,
        overrides: &PriceOverrides,
    ) -> Result<ModelPrice, CostError> {
        let found = base_model
            .and_then(|b| self.get(b))
            .or_else(|| self.get(model));
        let invalid = |e: PriceError| CostError::InvalidOverride(e.to_string());
        let price = match found {
            Some(p) if overrides.is_empty() => p.clone(),
            Some(p) => p.overlaid(model, &overrides.fields).map_err(invalid)?,
            None => ModelPrice::from_fields(model, overrides.fields.clone()).map_err(invalid)?,
        };
        if found.is_none() && !price.has_rates() {
            return Err(CostError::UnknownModel {
                model: base_model.unwrap_or(model).to_owned(),
            });
        }
        Ok(price)
    }
}

/// `1024x1792` or `1024-x-1792` → `1024-x-1792`; `None` for anything else.
fn image_size_key(size: &str) -> Option<String> {
    let (w, h) = image_dimensions(size)?;
    Some(format!("{w}-x-{h}"))
}

/// Width and height of an image size string (`1024x1792`, `1024-x-1792`).
pub fn image_dimensions(size: &str) -> Option<(u64, u64)> {
    let (w, h) = size.split_once("-x-").or_else(|| size.split_once('x'))?;
    Some((w.trim().parse().ok()?, h.trim().parse().ok()?))
}

/// A deployment's own price and context fields, from `litellm_params` and `model_info`
/// (LiteLLM copies both into the cost map under the deployment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceOverrides {
    fields: Map<String, Value>,
}

impl PriceOverrides {
    /// The price fields ([`is_price_key`]) and context sizes of `maps`, later maps winning;
    /// pass `model_info` then `litellm_params`.
    pub fn from_maps<'a>(maps: impl IntoIterator<Item = &'a Map<String, Value>>) -> Self {
        let mut fields = Map::new();
        for map in maps {
            for (k, v) in map {
                let context = matches!(k.as_str(), "max_input_tokens" | "max_output_tokens");
                if (is_price_key(k) || context) && !v.is_null() {
                    fields.insert(k.clone(), v.clone());
                }
            }
        }
        PriceOverrides { fields }
    }

    /// Sets one field, e.g. a typed `input_cost_per_token` the config already parsed.
    pub fn set(&mut self, field: &str, value: f64) {
        if let Some(n) = serde_json::Number::from_f64(value) {
            self.fields.insert(field.to_owned(), Value::Number(n));
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Whether a `litellm_params` key is a price (`input_cost_per_token`,
/// `cache_read_input_token_cost`, `input_cost_per_token_above_200k_tokens`,
/// `output_cost_per_second`, ...): the gateway's own bookkeeping, never sent upstream.
pub fn is_price_key(name: &str) -> bool {
    name.contains("cost_per_") || name.ends_with("_token_cost") || name.contains("_token_cost_")
}

/// Where the configured price file is, if one is configured.
pub fn cost_map_path(
    setting: Option<&str>,
    env: &Env,
    config_dir: &Path,
) -> Result<Option<PathBuf>, PriceError> {
    let Some(url) = setting
        .map(str::to_owned)
        .or_else(|| env.get("LITELLM_MODEL_COST_MAP_URL"))
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Some(PathBuf::from(path)));
    }
    if url.contains("://") {
        return Err(PriceError::RemoteUrl {
            url: url.to_owned(),
        });
    }
    Ok(Some(config_dir.join(url)))
}

/// Reads every entry it can; the errors of the others.
fn parse_lenient(json: &str) -> (PriceTable, Vec<PriceError>) {
    let mut table = PriceTable::default();
    let mut errors = Vec::new();
    match serde_json::from_str::<Map<String, Value>>(json) {
        Ok(map) => {
            for (key, fields) in map {
                if let Value::Object(fields) = fields {
                    match ModelPrice::from_fields(&key, fields) {
                        Ok(p) => {
                            table.entries.insert(key.to_lowercase(), (key, p));
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        Err(source) => errors.push(PriceError::Parse {
            path: PathBuf::from("builtin"),
            source,
        }),
    }
    (table, errors)
}

/// The keys to try for `model`, most specific first, without duplicates.
fn candidates(model: &str) -> Vec<String> {
    fn push(out: &mut Vec<String>, s: String) {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    let mut out: Vec<String> = Vec::new();
    let model = model.trim();
    push(&mut out, model.to_owned());
    let provider_rest = model.split_once('/');
    if let Some((provider, rest)) = provider_rest {
        let mut rest = rest;
        for route in BEDROCK_ROUTES {
            if let Some(r) = rest.strip_prefix(route) {
                rest = r;
            }
        }
        push(&mut out, format!("{provider}/{rest}"));
        push(&mut out, rest.to_owned());
        if let Some(bare) = strip_region(rest) {
            push(&mut out, format!("{provider}/{bare}"));
            push(&mut out, bare.to_owned());
        }
        if provider == "openrouter" {
            if let Some((vendor, id)) = rest.split_once('/') {
                if let Some((_, prefix)) = OPENROUTER_VENDORS.iter().find(|(v, _)| *v == vendor) {
                    push(&mut out, format!("{prefix}{id}"));
                    // `claude-sonnet-4.5` there, `claude-sonnet-4-5` at Anthropic.
                    if vendor == "anthropic" {
                        push(&mut out, id.replace('.', "-"));
                    }
                }
            }
        }
    } else if let Some(bare) = strip_region(model) {
        push(&mut out, bare.to_owned());
    }
    let exact = out.clone();
    for c in &exact {
        if let Some(base) = strip_version(c) {
            push(&mut out, base.to_owned());
        }
    }
    if let Some((provider, _)) = provider_rest {
        push(&mut out, format!("{provider}/*"));
    }
    out
}

/// `us.anthropic.claude-...` → `anthropic.claude-...`.
fn strip_region(id: &str) -> Option<&str> {
    let (first, rest) = id.split_once('.')?;
    (BEDROCK_REGION_PREFIXES.contains(&first) && rest.contains('.')).then_some(rest)
}

/// The id without a trailing date or version: `-2024-08-06`, `-20241022`, `@20240620`, `-0613`,
/// `-002`.
fn strip_version(id: &str) -> Option<&str> {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, date)) = id.rsplit_once('@') {
        if all_digits(date) {
            return Some(base);
        }
    }
    // -YYYY-MM-DD
    if id.len() > 11 {
        let (base, tail) = id.split_at(id.len() - 11);
        let b = tail.as_bytes();
        if b.first() == Some(&b'-')
            && b.get(5) == Some(&b'-')
            && b.get(8) == Some(&b'-')
            && all_digits(&tail[1..5])
            && all_digits(&tail[6..8])
            && all_digits(&tail[9..11])
        {
            return Some(base);
        }
    }
    let (base, tail) = id.rsplit_once('-')?;
    (matches!(tail.len(), 3 | 4 | 8) && all_digits(tail) && !base.is_empty()).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_file_reads_without_errors() {
        let (table, errors) = parse_lenient(BUILTIN);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!table.is_empty());
        let strict = PriceTable::from_json_str(BUILTIN, Path::new("prices.json")).unwrap();
        assert_eq!(strict.len(), table.len());
    }

    #[test]
    fn candidate_keys_follow_litellm_conventions() {
        assert_eq!(
            candidates("bedrock/converse/us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
            [
                "bedrock/converse/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
                "anthropic.claude-3-5-sonnet-20241022-v2:0",
                "bedrock/*",
            ]
        );
        assert_eq!(
            candidates("openai/gpt-4o-2024-08-06"),
            [
                "openai/gpt-4o-2024-08-06",
                "gpt-4o-2024-08-06",
                "openai/gpt-4o",
                "gpt-4o",
                "openai/*"
            ]
        );
        assert_eq!(
            candidates("vertex_ai/claude-3-5-sonnet-v2@20241022"),
            [
                "vertex_ai/claude-3-5-sonnet-v2@20241022",
                "claude-3-5-sonnet-v2@20241022",
                "vertex_ai/claude-3-5-sonnet-v2",
                "claude-3-5-sonnet-v2",
                "vertex_ai/*"
            ]
        );
    }

    #[test]
    fn versions_are_stripped_only_when_they_are_versions() {
        assert_eq!(
            strip_version("claude-3-5-haiku-20241022"),
            Some("claude-3-5-haiku")
        );
        assert_eq!(strip_version("gpt-4-0613"), Some("gpt-4"));
        assert_eq!(strip_version("gemini-1.5-pro-002"), Some("gemini-1.5-pro"));
        assert_eq!(strip_version("gpt-4o"), None);
        assert_eq!(strip_version("o3-mini"), None);
        assert_eq!(strip_version("llama3-70b-8192"), Some("llama3-70b"));
        assert_eq!(strip_version("-2024"), None);
        assert_eq!(
            strip_region("us.anthropic.claude"),
            Some("anthropic.claude")
        );
        assert_eq!(strip_region("gpt-4.1"), None);
        assert_eq!(strip_region("us.x"), None);
    }

    #[test]
    fn price_keys_are_recognised() {
        for k in [
            "input_cost_per_token",
            "output_cost_per_token",
            "input_cost_per_second",
            "output_cost_per_second",
            "cache_read_input_token_cost",
            "cache_creation_input_token_cost",
            "cache_creation_input_token_cost_above_1hr",
            "input_cost_per_token_above_200k_tokens",
            "cache_read_input_token_cost_above_200k_tokens",
            "output_cost_per_reasoning_token",
            "input_cost_per_query",
        ] {
            assert!(is_price_key(k), "{k}");
        }
        for k in [
            "temperature",
            "max_tokens",
            "base_model",
            "api_key",
            "reasoning_effort",
        ] {
            assert!(!is_price_key(k), "{k}");
        }
    }

    #[test]
    fn the_price_file_comes_from_the_setting_or_the_environment() {
        let dir = Path::new("/etc/tollgate");
        let env = Env::with_overlay(HashMap::from([(
            "LITELLM_MODEL_COST_MAP_URL".to_owned(),
            "file:///srv/prices.json".to_owned(),
        )]));
        assert_eq!(
            cost_map_path(None, &env, dir).unwrap(),
            Some(PathBuf::from("/srv/prices.json"))
        );
        assert_eq!(
            cost_map_path(Some("prices.json"), &env, dir).unwrap(),
            Some(PathBuf::from("/etc/tollgate/prices.json"))
        );
        let none = Env::with_overlay(HashMap::from([(
            "LITELLM_MODEL_COST_MAP_URL".to_owned(),
            String::new(),
        )]));
        assert_eq!(cost_map_path(None, &none, dir).unwrap(), None);
        let err = cost_map_path(Some("https://example.com/p.json"), &none, dir).unwrap_err();
        assert!(matches!(err, PriceError::RemoteUrl { .. }), "{err}");
    }
}
