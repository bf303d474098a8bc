//! What a call cost: [`PriceTableCoster`] prices calls from the price table (built in, or the
//! configured price file) with each deployment's own price fields laid over it;
//! [`DeploymentPrices`] reads only the deployment's own fields.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tollgate_config::DeploymentConfig;
use tollgate_core::Usage;
use tollgate_pricing::{CostError, ModelPrice, PriceTable};

/// Prices a call from its usage.
pub trait Coster: Send + Sync + std::fmt::Debug {
    /// USD for `usage` on `model` (the provider model actually called), served by `deployment`
    /// when known.
    fn cost(&self, model: &str, usage: &Usage, deployment: Option<&DeploymentConfig>) -> f64;
}

/// Prices from the deployment's `litellm_params` (`input_cost_per_token`,
/// `output_cost_per_token`, `cache_read_input_token_cost`); unknown prices cost 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeploymentPrices;

impl Coster for DeploymentPrices {
    fn cost(&self, _model: &str, usage: &Usage, deployment: Option<&DeploymentConfig>) -> f64 {
        let Some(d) = deployment else { return 0.0 };
        let lp = &d.litellm_params;
        let input = lp.input_cost_per_token.unwrap_or(0.0);
        let output = lp.output_cost_per_token.unwrap_or(0.0);
        let cached = usage.cached_tokens().min(usage.prompt_tokens);
        let cache_read = lp.cache_read_input_token_cost.unwrap_or(input);
        (usage.prompt_tokens - cached) as f64 * input
            + cached as f64 * cache_read
            + usage.completion_tokens as f64 * output
    }
}

/// Prices from the price table, as LiteLLM's `completion_cost`: the deployment's
/// `base_model` or the model called, its own price fields overriding the table's. A model
/// with no price anywhere costs 0 (logged), as in LiteLLM, so the call is still recorded.
#[derive(Debug)]
pub struct PriceTableCoster {
    table: Arc<PriceTable>,
    /// Resolved prices by (deployment id, model called); `None`: the model has no price.
    /// Resolving serialises the deployment's config to lay its fields over the table's, which
    /// measured 10 % of the gateway's CPU per request when done at admission and settlement.
    /// Deployments are fixed for the process's life, so entries never go stale.
    resolved: RwLock<HashMap<String, HashMap<String, Option<Arc<ModelPrice>>>>>,
}

/// Bound on the models remembered per deployment: a wildcard deployment sees client-chosen model
/// names, which must not grow memory without end (beyond it, prices are resolved each call).
const MAX_RESOLVED: usize = 4096;

impl PriceTableCoster {
    /// Prices from `table`.
    pub fn new(table: Arc<PriceTable>) -> Self {
        Self {
            table,
            resolved: RwLock::new(HashMap::new()),
        }
    }

    /// The deployment's price for `model`, resolved once.
    fn deployment_price(
        &self,
        d: &DeploymentConfig,
        model: &str,
    ) -> Result<Arc<ModelPrice>, CostError> {
        let unknown = || CostError::UnknownModel {
            model: model.to_owned(),
        };
        if let Ok(cache) = self.resolved.read()
            && let Some(hit) = cache.get(&d.id).and_then(|models| models.get(model))
        {
            return hit.clone().ok_or_else(unknown);
        }
        let resolved = match tollgate_router::config_price(d, &self.table, model) {
            Ok(p) => Some(Arc::new(p)),
            Err(CostError::UnknownModel { .. }) => None,
            // A malformed override is reported on every call rather than remembered.
            Err(e) => return Err(e),
        };
        if let Ok(mut cache) = self.resolved.write() {
            let models = cache.entry(d.id.clone()).or_default();
            if models.len() < MAX_RESOLVED {
                models.insert(model.to_owned(), resolved.clone());
            }
        }
        resolved.ok_or_else(unknown)
    }
}

impl Coster for PriceTableCoster {
    fn cost(&self, model: &str, usage: &Usage, deployment: Option<&DeploymentConfig>) -> f64 {
        let cost = match deployment {
            Some(d) => self
                .deployment_price(d, model)
                .and_then(|price| price.cost(usage)),
            None => self.table.cost(model, usage),
        };
        match cost {
            Ok(c) => c.total().to_f64(),
            Err(CostError::UnknownModel { .. }) => {
                tracing::debug!(model, "no price for this model: its spend is recorded as 0");
                0.0
            }
            Err(e) => {
                tracing::warn!(model, "cannot price the call, recorded as 0: {e}");
                0.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn deployment_prices_charge_cached_tokens_at_the_cache_rate() {
        let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      input_cost_per_token: 0.001\n      output_cost_per_token: \"0.002\"\n      cache_read_input_token_cost: 0.0001\n";
        let config =
            tollgate_config::Config::from_yaml_str(yaml, std::path::Path::new("c.yaml")).unwrap();
        let d = config.model_list[0].clone();
        let mut u = Usage::new(100, 10);
        assert!((DeploymentPrices.cost("x", &u, Some(&d)) - 0.12).abs() < 1e-12);
        u.prompt_tokens_details = Some(tollgate_core::usage::PromptTokensDetails {
            cached_tokens: Some(50),
            ..Default::default()
        });
        let want = 50.0 * 0.001 + 50.0 * 0.0001 + 10.0 * 0.002;
        assert!((DeploymentPrices.cost("x", &u, Some(&d)) - want).abs() < 1e-12);
        assert_eq!(DeploymentPrices.cost("x", &u, None), 0.0);
    }

    fn config(yaml: &str) -> tollgate_config::Config {
        tollgate_config::Config::from_yaml_str(yaml, std::path::Path::new("c.yaml")).unwrap()
    }

    #[test]
    fn the_price_table_prices_calls_with_cached_tokens_once() {
        let coster = PriceTableCoster::new(Arc::new(PriceTable::builtin()));
        let c = config(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n",
        );
        let mut u = Usage::new(1000, 100);
        u.prompt_tokens_details = Some(tollgate_core::usage::PromptTokensDetails {
            cached_tokens: Some(400),
            ..Default::default()
        });
        // gpt-4o: $2.50 in, $1.25 cached, $10 out per million tokens.
        let want = 600.0 * 2.5e-6 + 400.0 * 1.25e-6 + 100.0 * 10e-6;
        let got = coster.cost("gpt-4o", &u, Some(&c.model_list[0]));
        assert!((got - want).abs() < 1e-12, "{got} != {want}");
        // Without a deployment (the library's direct mode), the model alone is looked up.
        assert!((coster.cost("openai/gpt-4o", &u, None) - want).abs() < 1e-12);
    }

    #[test]
    fn deployment_price_fields_override_the_table_and_unknown_models_cost_nothing() {
        let coster = PriceTableCoster::new(Arc::new(PriceTable::builtin()));
        let c = config(
            "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/gpt-4o\n      input_cost_per_token: 0.001\n  - model_name: other\n    litellm_params:\n      model: openai/my-finetune\n",
        );
        let u = Usage::new(10, 10);
        let got = coster.cost("gpt-4o", &u, Some(&c.model_list[0]));
        assert!((got - (10.0 * 0.001 + 10.0 * 10e-6)).abs() < 1e-12, "{got}");
        assert_eq!(coster.cost("my-finetune", &u, Some(&c.model_list[1])), 0.0);
    }

    #[test]
    fn resolved_prices_are_remembered_per_deployment_and_model() {
        let coster = PriceTableCoster::new(Arc::new(PriceTable::builtin()));
        let c = config(
            "model_list:\n  - model_name: any\n    litellm_params:\n      model: openai/*\n",
        );
        let d = &c.model_list[0];
        let u = Usage::new(1_000_000, 1_000_000);
        // gpt-4o: $2.50 + $10; gpt-4o-mini: $0.15 + $0.60 (per million tokens).
        for _ in 0..2 {
            assert!((coster.cost("gpt-4o", &u, Some(d)) - 12.5).abs() < 1e-9);
            assert!((coster.cost("gpt-4o-mini", &u, Some(d)) - 0.75).abs() < 1e-9);
            assert_eq!(coster.cost("no-such-model", &u, Some(d)), 0.0);
        }
    }
}
