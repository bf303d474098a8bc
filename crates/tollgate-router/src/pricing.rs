//! A deployment's prices: the price-table entry of its base model or model, with the price
//! fields of its own `litellm_params` and `model_info` laid over it.

use serde_json::{Map, Value};
use tollgate_config::DeploymentConfig;
use tollgate_pricing::{CostError, ModelPrice, PriceOverrides, PriceTable};

use crate::Deployment;

impl Deployment {
    /// This deployment's prices and context window, as LiteLLM looks them up:
    /// `model_info.base_model` (or `litellm_params.base_model`), else `model` — the upstream
    /// model actually called, which a wildcard deployment captures per request — else its
    /// `litellm_params.model`; then its own price fields override the table's.
    pub fn price(&self, table: &PriceTable, model: Option<&str>) -> Result<ModelPrice, CostError> {
        config_price(&self.config, table, model.unwrap_or(&self.litellm_model))
    }
}

/// [`Deployment::price`] from the deployment's configuration alone, for callers that hold the
/// config rather than the engine's deployment (spend accounting): `model` is the upstream model
/// actually called.
pub fn config_price(
    cfg: &DeploymentConfig,
    table: &PriceTable,
    model: &str,
) -> Result<ModelPrice, CostError> {
    let base_model = cfg.model_info.base_model.as_deref().or_else(|| {
        cfg.litellm_params
            .extra
            .get("base_model")
            .and_then(Value::as_str)
    });
    // Serialised, the typed price fields sit beside the untyped ones again.
    let as_map = |v: Result<Value, serde_json::Error>| match v {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let info = as_map(serde_json::to_value(&cfg.model_info));
    let params = as_map(serde_json::to_value(&cfg.litellm_params));
    let overrides = PriceOverrides::from_maps([&info, &params]);
    table.deployment_price(model, base_model, &overrides)
}

#[cfg(test)]
mod tests {
    use tollgate_config::Config;
    use tollgate_core::{Env, Usage};
    use tollgate_pricing::Usd;

    use super::*;

    fn deployments(yaml: &str) -> Vec<Deployment> {
        let config = Config::from_yaml_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        let env = Env::with_overlay(Default::default());
        config
            .model_list
            .iter()
            .map(|c| Deployment::new(c, false, &env))
            .collect()
    }

    #[test]
    fn deployments_are_priced_through_base_model_and_their_own_fields() {
        let d = deployments(
            r#"
model_list:
  - model_name: prod
    litellm_params:
      model: azure/prod-gpt4o
      api_key: k
      api_base: https://r.openai.azure.com
    model_info:
      base_model: azure/gpt-4o
  - model_name: cheap
    litellm_params:
      model: openai/gpt-4o
      input_cost_per_token: 0.000001
      output_cost_per_reasoning_token: 0.00002
    model_info:
      max_input_tokens: 4096
  - model_name: own
    litellm_params:
      model: hosted_vllm/llama
      api_base: http://vllm:8000/v1
      input_cost_per_token: 0.0000002
      output_cost_per_token: 0.0000004
  - model_name: "openai/*"
    litellm_params:
      model: "openai/*"
  - model_name: mystery
    litellm_params:
      model: hosted_vllm/unknown
      api_base: http://vllm:8000/v1
"#,
        );
        let table = PriceTable::builtin();
        let u = Usage::new(1000, 1000);
        let total = |p: ModelPrice| p.cost(&u).unwrap().total();
        let usd = |s: &str| Usd::parse(s).unwrap();

        assert_eq!(total(d[0].price(&table, None).unwrap()), usd("0.0125"));
        let cheap = d[1].price(&table, None).unwrap();
        assert_eq!(cheap.input, Some(usd("0.000001")));
        assert_eq!(cheap.output, Some(usd("0.00001")));
        assert_eq!(cheap.reasoning, Some(usd("0.00002")));
        assert_eq!(cheap.context_window(), Some(4096));
        assert_eq!(total(d[2].price(&table, None).unwrap()), usd("0.0006"));
        assert_eq!(
            total(d[3].price(&table, Some("openai/gpt-4o-mini")).unwrap()),
            usd("0.00075")
        );
        assert!(matches!(
            d[4].price(&table, None),
            Err(CostError::UnknownModel { .. })
        ));
    }
}
