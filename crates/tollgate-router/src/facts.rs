//! What the router needs to know about a model it does not learn from calling it: the context
//! window (pre-call checks) and the price per token (cost-based routing). A price-table crate
//! plugs in through [`ModelFacts`]; the default reads the config.

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
