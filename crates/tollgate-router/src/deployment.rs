//! A deployment: one configured upstream model with its adapter built once at start-up.

use std::time::Duration;

use serde_json::{Map, Value};
use tollgate_config::DeploymentConfig;
use tollgate_core::{Env, GatewayError, ModelRef};
use tollgate_providers::{Adapter, AwsParams, ProviderParams};

use crate::wildcard::WildcardPattern;

/// `litellm_params` keys LiteLLM consumes itself; everything else unknown is a default
/// parameter for the provider call.
const ROUTING_AND_CREDENTIAL_KEYS: &[&str] = &[
    "region_name",
    "tags",
    "tag_regex",
    "base_model",
    "use_in_pass_through",
    "configurable_clientside_auth_params",
    "max_budget",
    "budget_duration",
    "default_api_key_tpm_limit",
    "default_api_key_rpm_limit",
    "merge_reasoning_content_in_choices",
    "allowed_openai_params",
    "model_info",
    "litellm_trace_id",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region_name",
    "aws_session_name",
    "aws_profile_name",
    "aws_role_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "aws_external_id",
    "aws_bedrock_runtime_endpoint",
    "vertex_project",
    "vertex_location",
    "vertex_credentials",
    "vertex_ai_project",
    "vertex_ai_location",
    "azure_ad_token",
    "tenant_id",
    "client_id",
    "client_secret",
    "azure_username",
    "azure_password",
    "azure_scope",
    "azure_authority_host",
    "watsonx_region_name",
    "model_id",
    "use_psc_endpoint_format",
    "health_check_model",
];

/// One configured deployment.
#[derive(Debug)]
pub struct Deployment {
    /// The public name (the model group).
    pub model_name: String,
    /// LiteLLM's deployment id (hash or `model_info.id`).
    pub id: String,
    /// `litellm_params.model`.
    pub litellm_model: String,
    pub custom_llm_provider: Option<String>,
    pub params: ProviderParams,
    pub timeout: Option<Duration>,
    pub stream_timeout: Option<Duration>,
    /// The config entry, for `/model/info`.
    pub config: DeploymentConfig,
    /// For wildcard deployments the adapter is built per request from the captured name.
    pub pattern: Option<WildcardPattern>,
    /// Built once; an error (say, a provider not implemented) is reported on each call.
    pub adapter: Option<Result<Adapter, GatewayError>>,
}

/// The first of `keys` set in `litellm_params` as a non-empty string. A mapping (credentials
/// written inline as YAML) is taken as its JSON text.
fn extra_string(extra: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match extra.get(*k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        v @ Value::Object(_) => Some(v.to_string()),
        _ => None,
    })
}

impl Deployment {
    /// Builds the deployment and, for a fixed model, its adapter.
    pub fn new(config: &DeploymentConfig, global_drop_params: bool, env: &Env) -> Self {
        let lp = &config.litellm_params;
        let mut default_params = Map::new();
        for (k, v) in &lp.extra {
            if !ROUTING_AND_CREDENTIAL_KEYS.contains(&k.as_str())
                && !tollgate_pricing::is_price_key(k)
                && !v.is_null()
            {
                default_params.insert(k.clone(), v.clone());
            }
        }
        let params = ProviderParams {
            api_key: lp.api_key.clone(),
            api_base: lp.api_base.clone(),
            api_version: lp.api_version.clone(),
            organization: lp.organization.clone(),
            extra_headers: lp
                .extra_headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            default_params,
            drop_params: lp.drop_params.unwrap_or(global_drop_params),
            additional_drop_params: lp.additional_drop_params.clone().unwrap_or_default(),
            azure_ad_token: extra_string(&lp.extra, &["azure_ad_token"]),
            tenant_id: extra_string(&lp.extra, &["tenant_id"]),
            client_id: extra_string(&lp.extra, &["client_id"]),
            client_secret: extra_string(&lp.extra, &["client_secret"]),
            azure_username: extra_string(&lp.extra, &["azure_username"]),
            azure_password: extra_string(&lp.extra, &["azure_password"]),
            azure_scope: extra_string(&lp.extra, &["azure_scope"]),
            azure_authority_host: extra_string(&lp.extra, &["azure_authority_host"]),
            vertex_project: extra_string(&lp.extra, &["vertex_project", "vertex_ai_project"]),
            vertex_location: extra_string(&lp.extra, &["vertex_location", "vertex_ai_location"]),
            vertex_credentials: extra_string(&lp.extra, &["vertex_credentials"]),
            // Deny-listed above as credentials, so they reach the adapter only here.
            aws: AwsParams::from_lookup(|k| lp.extra.get(k)),
        };
        let pattern = WildcardPattern::new(&config.model_name);
        let mut d = Self {
            model_name: config.model_name.clone(),
            id: config.id.clone(),
            litellm_model: lp.model.clone(),
            custom_llm_provider: lp.custom_llm_provider.clone(),
            params,
            timeout: lp
                .timeout
                .filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(t).ok()),
            stream_timeout: lp
                .stream_timeout
                .filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(t).ok()),
            config: config.clone(),
            pattern,
            adapter: None,
        };
        if d.pattern.is_none() || !d.litellm_model.contains('*') {
            d.adapter = Some(d.build_adapter(&d.litellm_model, env));
        }
        d
    }

    /// The adapter for a call; `upstream_model` is the wildcard-substituted model string.
    pub fn adapter_for(
        &self,
        upstream_model: Option<&str>,
        env: &Env,
    ) -> Result<Adapter, GatewayError> {
        match (&self.adapter, upstream_model) {
            (Some(built), _) => built.clone(),
            (None, Some(model)) => self.build_adapter(model, env),
            (None, None) => self.build_adapter(&self.litellm_model, env),
        }
    }

    fn build_adapter(&self, model: &str, env: &Env) -> Result<Adapter, GatewayError> {
        let model_ref = ModelRef::parse(model, self.custom_llm_provider.as_deref())?;
        Adapter::new(&model_ref, &self.params, env)
    }

    /// `litellm_params` as `/model/info` shows them: credentials removed.
    pub fn public_params(&self) -> Value {
        let mut v = serde_json::to_value(&self.config.litellm_params).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.retain(|k, _| {
                !matches!(
                    k.as_str(),
                    "api_key"
                        | "aws_secret_access_key"
                        | "aws_session_token"
                        | "vertex_credentials"
                        | "client_secret"
                        | "azure_ad_token"
                        | "azure_password"
                        | "aws_access_key_id"
                )
            });
            obj.retain(|_, v| !v.is_null());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_credentials_reach_the_adapter_and_never_the_request_body() {
        let config = tollgate_config::Config::from_yaml_str(
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: azure/dep\n      api_base: https://r.openai.azure.com\n      tenant_id: contoso.onmicrosoft.com\n      client_id: app\n      client_secret: s3cret\n      azure_scope: api://x/.default\n      azure_authority_host: http://127.0.0.1:9\n      azure_ad_token: null\n      temperature: 0.5\n",
            std::path::Path::new("test.yaml"),
        )
        .unwrap();
        let d = Deployment::new(
            &config.model_list[0],
            false,
            &Env::with_overlay(Default::default()),
        );
        assert_eq!(
            d.params.tenant_id.as_deref(),
            Some("contoso.onmicrosoft.com")
        );
        assert_eq!(d.params.client_id.as_deref(), Some("app"));
        assert_eq!(d.params.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(d.params.azure_scope.as_deref(), Some("api://x/.default"));
        assert_eq!(
            d.params.azure_authority_host.as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(d.params.azure_ad_token, None);
        let keys: Vec<&String> = d.params.default_params.keys().collect();
        assert_eq!(keys, ["temperature"]);
        assert!(d.adapter_for(None, &Env::process()).is_ok());
    }
}

#[cfg(test)]
mod vertex_params_tests {
    use super::*;
    use tollgate_config::Config;

    #[test]
    fn vertex_settings_reach_the_adapter_and_never_the_request() {
        let yaml = r#"
model_list:
  - model_name: gemini
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_ai_project: my-project
      vertex_location: europe-west4
      vertex_credentials: {type: authorized_user, client_id: c, client_secret: s, refresh_token: r}
      temperature: 0.2
"#;
        let config = Config::from_yaml_str(yaml, std::path::Path::new("test.yaml")).unwrap();
        let d = Deployment::new(&config.model_list[0], false, &config.env);
        assert_eq!(d.params.vertex_project.as_deref(), Some("my-project"));
        assert_eq!(d.params.vertex_location.as_deref(), Some("europe-west4"));
        let creds: Value =
            serde_json::from_str(d.params.vertex_credentials.as_deref().unwrap()).unwrap();
        assert_eq!(creds["type"], "authorized_user");
        assert_eq!(
            d.params.default_params.len(),
            1,
            "{:?}",
            d.params.default_params
        );
        let adapter = d.adapter_for(None, &config.env).unwrap();
        assert_eq!(
            adapter.api_base(),
            "https://europe-west4-aiplatform.googleapis.com"
        );
    }
}

#[cfg(test)]
mod price_key_tests {
    use super::*;

    #[test]
    fn price_fields_are_never_sent_upstream() {
        let yaml = "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/gpt-4o\n      temperature: 0.5\n      input_cost_per_token: 0.000001\n      input_cost_per_second: 0.001\n      output_cost_per_reasoning_token: 0.00002\n      input_cost_per_token_above_200k_tokens: 0.000006\n      cache_creation_input_token_cost_above_1hr: 0.000006\n";
        let config =
            tollgate_config::Config::from_yaml_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        let d = Deployment::new(
            &config.model_list[0],
            false,
            &Env::with_overlay(Default::default()),
        );
        let keys: Vec<&String> = d.params.default_params.keys().collect();
        assert_eq!(keys, ["temperature"]);
    }
}
