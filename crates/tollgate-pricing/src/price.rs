//! One model's prices and limits, read from an entry of LiteLLM's cost map.

use serde_json::{Map, Value};

use crate::error::PriceError;
use crate::money::Usd;

/// Rates that switch once the prompt is longer than a threshold
/// (`input_cost_per_token_above_200k_tokens`, ...). Unset rates keep the base rate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tier {
    /// The rates apply when the prompt has more tokens than this.
    pub above_tokens: u64,
    pub input: Option<Usd>,
    pub output: Option<Usd>,
    pub cache_read: Option<Usd>,
    pub cache_write: Option<Usd>,
    pub reasoning: Option<Usd>,
}

/// The fields of a cost-map entry that Tollgate acts on; [`ModelPrice::fields`] keeps the whole
/// entry (capabilities, `supports_*`, ...) for `/model/info`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelPrice {
    pub litellm_provider: Option<String>,
    /// `chat`, `embedding`, `rerank`, ...
    pub mode: Option<String>,
    pub max_tokens: Option<u64>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// Per prompt token not read from or written to a cache.
    pub input: Option<Usd>,
    /// Per completion token.
    pub output: Option<Usd>,
    /// Per prompt token read from the provider's cache.
    pub cache_read: Option<Usd>,
    /// Per prompt token written to the provider's cache (Anthropic's 5-minute writes).
    pub cache_write: Option<Usd>,
    /// Per prompt token written to a one-hour cache.
    pub cache_write_1h: Option<Usd>,
    /// Per reasoning token, when the model bills them apart from visible output.
    pub reasoning: Option<Usd>,
    /// Per audio prompt token (`prompt_tokens_details.audio_tokens`).
    pub audio_input: Option<Usd>,
    /// Per audio completion token (`completion_tokens_details.audio_tokens`).
    pub audio_output: Option<Usd>,
    /// Per second of call time (deployments billed by time, e.g. dedicated endpoints).
    pub input_per_second: Option<Usd>,
    pub output_per_second: Option<Usd>,
    /// Per search or query (rerank).
    pub per_query: Option<Usd>,
    /// Per character of input text (text-to-speech).
    pub input_per_character: Option<Usd>,
    /// Per generated image (`output_cost_per_image`, else `input_cost_per_image`).
    pub per_image: Option<Usd>,
    /// Per pixel of each generated image (`input_cost_per_pixel` + `output_cost_per_pixel`,
    /// as the DALL·E entries are priced).
    pub per_pixel: Option<Usd>,
    /// Long-prompt rates, ascending by threshold.
    pub tiers: Vec<Tier>,
    fields: Map<String, Value>,
}

/// Names of the fields each tier rate is the long-prompt variant of.
const TIER_BASES: &[&str] = &[
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
];

impl ModelPrice {
    /// Reads an entry; `model` only names the entry in errors.
    pub fn from_fields(model: &str, fields: Map<String, Value>) -> Result<Self, PriceError> {
        let usd = |field: &str| read_usd(model, &fields, field);
        let count = |field: &str| read_count(model, &fields, field);
        let text = |field: &str| fields.get(field).and_then(Value::as_str).map(str::to_owned);
        let mut tiers: Vec<Tier> = Vec::new();
        for key in fields.keys() {
            let Some((base, above)) = tier_key(key) else {
                continue;
            };
            let rate = read_usd(model, &fields, key)?;
            let pos = match tiers.iter().position(|t| t.above_tokens == above) {
                Some(p) => p,
                None => {
                    tiers.push(Tier {
                        above_tokens: above,
                        ..Tier::default()
                    });
                    tiers.len() - 1
                }
            };
            let Some(tier) = tiers.get_mut(pos) else {
                continue;
            };
            match base {
                "input_cost_per_token" => tier.input = rate,
                "output_cost_per_token" => tier.output = rate,
                "cache_read_input_token_cost" => tier.cache_read = rate,
                "cache_creation_input_token_cost" => tier.cache_write = rate,
                _ => tier.reasoning = rate,
            }
        }
        tiers.sort_by_key(|t| t.above_tokens);
        Ok(ModelPrice {
            litellm_provider: text("litellm_provider"),
            mode: text("mode"),
            max_tokens: count("max_tokens")?,
            max_input_tokens: count("max_input_tokens")?,
            max_output_tokens: count("max_output_tokens")?,
            input: usd("input_cost_per_token")?,
            output: usd("output_cost_per_token")?,
            cache_read: usd("cache_read_input_token_cost")?,
            cache_write: usd("cache_creation_input_token_cost")?,
            cache_write_1h: usd("cache_creation_input_token_cost_above_1hr")?,
            reasoning: usd("output_cost_per_reasoning_token")?,
            audio_input: usd("input_cost_per_audio_token")?,
            audio_output: usd("output_cost_per_audio_token")?,
            input_per_second: usd("input_cost_per_second")?,
            output_per_second: usd("output_cost_per_second")?,
            per_query: usd("input_cost_per_query")?,
            input_per_character: usd("input_cost_per_character")?,
            per_image: usd("output_cost_per_image")?.or(usd("input_cost_per_image")?),
            per_pixel: match (usd("input_cost_per_pixel")?, usd("output_cost_per_pixel")?) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(Usd::ZERO) + b.unwrap_or(Usd::ZERO)),
            },
            tiers,
            fields,
        })
    }

    /// The entry as given, every field kept (LiteLLM's JSON shape).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The prompt-side context window: `max_input_tokens`, else the legacy `max_tokens`.
    pub fn context_window(&self) -> Option<u64> {
        self.max_input_tokens.or(self.max_tokens)
    }

    /// Input and output price per token as floats (cost-based routing compares their sum);
    /// `None` when the entry has neither.
    pub fn per_token_f64(&self) -> Option<(f64, f64)> {
        if self.input.is_none() && self.output.is_none() {
            return None;
        }
        let f = |r: Option<Usd>| r.map_or(0.0, Usd::to_f64);
        Some((f(self.input), f(self.output)))
    }

    /// Whether this entry can price anything at all (a deployment's own prices may be all a
    /// model has).
    pub fn has_rates(&self) -> bool {
        self.input.is_some()
            || self.output.is_some()
            || self.input_per_second.is_some()
            || self.output_per_second.is_some()
            || self.per_query.is_some()
            || self.input_per_character.is_some()
            || self.per_image.is_some()
            || self.per_pixel.is_some()
    }

    /// This entry with `overrides`' fields laid over its own (a field at a time).
    pub fn overlaid(
        &self,
        model: &str,
        overrides: &Map<String, Value>,
    ) -> Result<Self, PriceError> {
        let mut fields = self.fields.clone();
        for (k, v) in overrides {
            fields.insert(k.clone(), v.clone());
        }
        ModelPrice::from_fields(model, fields)
    }
}

/// `input_cost_per_token_above_200k_tokens` → (`input_cost_per_token`, 200 000).
fn tier_key(key: &str) -> Option<(&'static str, u64)> {
    let (base, rest) = key.split_once("_above_")?;
    let base = TIER_BASES.iter().find(|b| **b == base)?;
    let amount = rest.strip_suffix("_tokens")?;
    let (digits, unit) = match amount.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => amount.split_at(i),
        None => (amount, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "m" | "M" => 1_000_000,
        _ => return None,
    };
    Some((base, n.checked_mul(factor)?))
}

fn read_usd(
    model: &str,
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<Usd>, PriceError> {
    let invalid = || PriceError::InvalidField {
        model: model.to_owned(),
        field: field.to_owned(),
    };
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        // The number's own text: serde_json prints the shortest round-trip form.
        Some(Value::Number(n)) => Usd::parse(&n.to_string()).map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => Usd::parse(s).map(Some).ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

fn read_count(
    model: &str,
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<u64>, PriceError> {
    let invalid = || PriceError::InvalidField {
        model: model.to_owned(),
        field: field.to_owned(),
    };
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) => Ok(Some(v)),
            // `1e6` or `8192.0`: whole numbers written as floats.
            None => n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                .map(|f| Some(f as u64))
                .ok_or_else(invalid),
        },
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(v: Value) -> ModelPrice {
        let Value::Object(m) = v else { unreachable!() };
        ModelPrice::from_fields("m", m).unwrap()
    }

    #[test]
    fn tiers_are_read_from_their_key_names() {
        let p = entry(json!({
            "input_cost_per_token": 1.25e-6,
            "input_cost_per_token_above_200k_tokens": 2.5e-6,
            "output_cost_per_token_above_200k_tokens": 1.5e-5,
            "input_cost_per_token_above_128k_tokens": 2e-6,
            "cache_read_input_token_cost_above_200k_tokens": "2.5e-7",
            "cache_creation_input_token_cost_above_1hr": 6e-6,
        }));
        assert_eq!(p.tiers.len(), 2);
        assert_eq!(p.tiers[0].above_tokens, 128_000);
        assert_eq!(p.tiers[1].above_tokens, 200_000);
        assert_eq!(p.tiers[1].input, Usd::parse("2.5e-6"));
        assert_eq!(p.tiers[1].output, Usd::parse("1.5e-5"));
        assert_eq!(p.tiers[1].cache_read, Usd::parse("2.5e-7"));
        assert_eq!(p.cache_write_1h, Usd::parse("6e-6"));
        assert_eq!(
            tier_key("input_cost_per_token_above_1m_tokens"),
            Some(("input_cost_per_token", 1_000_000))
        );
        assert_eq!(tier_key("input_cost_per_audio_token_above_1k_tokens"), None);
        assert_eq!(tier_key("input_cost_per_token_above_xk_tokens"), None);
    }

    #[test]
    fn a_bad_field_names_the_model_and_field() {
        let Value::Object(m) = json!({"input_cost_per_token": "cheap"}) else {
            unreachable!()
        };
        let err = ModelPrice::from_fields("gpt-x", m).unwrap_err();
        assert_eq!(
            err.to_string(),
            "price entry `gpt-x`: field `input_cost_per_token` is not a valid non-negative number"
        );
        let Value::Object(m) = json!({"max_input_tokens": -3}) else {
            unreachable!()
        };
        assert!(ModelPrice::from_fields("gpt-x", m).is_err());
        let Value::Object(m) = json!({"output_cost_per_token": [1]}) else {
            unreachable!()
        };
        assert!(ModelPrice::from_fields("gpt-x", m).is_err());
    }

    #[test]
    fn counts_accept_whole_floats_and_unknown_fields_are_kept() {
        let p = entry(
            json!({"max_tokens": 8192.0, "max_input_tokens": "128000", "supports_vision": true}),
        );
        assert_eq!(p.max_tokens, Some(8192));
        assert_eq!(p.context_window(), Some(128_000));
        assert_eq!(p.fields()["supports_vision"], true);
        assert!(!p.has_rates());
        assert_eq!(p.per_token_f64(), None);
        let p = entry(json!({"input_cost_per_token": 2.5e-6}));
        assert_eq!(p.per_token_f64(), Some((2.5e-6, 0.0)));
    }
}
