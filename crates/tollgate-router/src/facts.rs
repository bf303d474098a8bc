//! What the router needs to know about a model it does not learn from calling it: the context
//! window (pre-call checks) and the price per token (cost-based routing). A price-table crate
//! plugs in through [`ModelFacts`]; the default reads LiteLLM's cost map (the built-in price
//! table) with the deployment's own `model_info`/`litellm_params` fields laid over it.

use tollgate_pricing::PriceTable;

use crate::Deployment;

/// Context windows and prices of deployments.
pub trait ModelFacts: Send + Sync {
    /// Prompt tokens the deployment accepts, when known.
    fn context_window(&self, deployment: &Deployment) -> Option<u64>;
    /// (input, output) USD per token, when known.
    fn cost_per_token(&self, deployment: &Deployment) -> Option<(f64, f64)>;
}

/// Reads `model_info.max_input_tokens` (else `max_tokens`) and
/// `litellm_params.input_cost_per_token`/`output_cost_per_token` from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigFacts;

impl ModelFacts for ConfigFacts {
    fn context_window(&self, deployment: &Deployment) -> Option<u64> {
        let info = &deployment.config.model_info;
        info.max_input_tokens.or(info.max_tokens)
    }

    fn cost_per_token(&self, deployment: &Deployment) -> Option<(f64, f64)> {
        let lp = &deployment.config.litellm_params;
        match (lp.input_cost_per_token, lp.output_cost_per_token) {
            (None, None) => None,
            (i, o) => Some((i.unwrap_or(0.0), o.unwrap_or(0.0))),
        }
    }
}

/// Context windows and prices from a price table (LiteLLM's cost map) under the deployment's
/// own fields; what the table does not know, the config may still say ([`ConfigFacts`]).
#[derive(Debug, Clone, Copy)]
pub struct PriceFacts {
    table: &'static PriceTable,
}

impl PriceFacts {
    /// Over the built-in table.
    pub fn builtin() -> Self {
        Self {
            table: PriceTable::shared_builtin(),
        }
    }

    /// Over a table loaded elsewhere (a `model_cost_map_url` file), kept for the process.
    pub fn new(table: &'static PriceTable) -> Self {
        Self { table }
    }
}

impl ModelFacts for PriceFacts {
    fn context_window(&self, deployment: &Deployment) -> Option<u64> {
        ConfigFacts.context_window(deployment).or_else(|| {
            let p = deployment.price(self.table, None).ok()?;
            p.max_input_tokens.or(p.max_tokens)
        })
    }

    fn cost_per_token(&self, deployment: &Deployment) -> Option<(f64, f64)> {
        deployment
            .price(self.table, None)
            .ok()
            .and_then(|p| p.per_token_f64())
            .or_else(|| ConfigFacts.cost_per_token(deployment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(yaml: &str) -> Deployment {
        let config =
            tollgate_config::Config::from_yaml_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        Deployment::new(&config.model_list[0], false, &config.env)
    }

    #[test]
    fn the_price_table_knows_windows_and_prices_and_the_config_wins() {
        let facts = PriceFacts::builtin();
        let known = deployment(
            "model_list:\n  - model_name: m\n    litellm_params: {model: openai/gpt-4o}\n",
        );
        assert!(facts.context_window(&known).unwrap() >= 100_000);
        let (input, output) = facts.cost_per_token(&known).unwrap();
        assert!(input > 0.0 && output > input);
        let custom = deployment(
            "model_list:\n  - model_name: m\n    litellm_params: {model: openai/unknown-x, input_cost_per_token: 0.5}\n    model_info: {max_input_tokens: 77}\n",
        );
        assert_eq!(facts.context_window(&custom), Some(77));
        assert_eq!(facts.cost_per_token(&custom), Some((0.5, 0.0)));
        let nothing = deployment(
            "model_list:\n  - model_name: m\n    litellm_params: {model: openai/unknown-y}\n",
        );
        assert_eq!(facts.context_window(&nothing), None);
        assert_eq!(facts.cost_per_token(&nothing), None);
    }
}
