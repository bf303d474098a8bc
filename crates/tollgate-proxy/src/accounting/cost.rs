//! What a call cost. The price table lives elsewhere; this is the seam it plugs into, with a
//! default that reads a deployment's own `input_cost_per_token`/`output_cost_per_token`.

use tollgate_config::DeploymentConfig;
use tollgate_core::Usage;

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
}
