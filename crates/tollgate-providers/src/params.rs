//! What a deployment tells an adapter: credentials, endpoint and default parameters.

use std::borrow::Cow;

use serde_json::{Map, Value};
use tollgate_core::{ChatCompletionRequest, GatewayError};

/// Per-deployment provider settings (LiteLLM's `litellm_params`, minus routing keys).
#[derive(Debug, Clone, Default)]
pub struct ProviderParams {
    pub api_key: Option<String>,
    pub api_base: Option<String>,
    pub api_version: Option<String>,
    pub organization: Option<String>,
    /// Headers sent to the provider on every call.
    pub extra_headers: Vec<(String, String)>,
    /// Parameters sent on every call unless the request sets them (`temperature`, ...).
    pub default_params: Map<String, Value>,
    /// Drop OpenAI parameters the provider cannot take instead of refusing the request.
    pub drop_params: bool,
    /// Parameters always removed before the call.
    pub additional_drop_params: Vec<String>,
    /// Azure: an Entra ID (Azure AD) access token sent as `Authorization: Bearer`.
    pub azure_ad_token: Option<String>,
    /// Azure: Entra ID tenant for client-credentials tokens.
    pub tenant_id: Option<String>,
    /// Azure: Entra ID application (client) id for client-credentials tokens.
    pub client_id: Option<String>,
    /// Azure: Entra ID client secret for client-credentials tokens.
    pub client_secret: Option<String>,
    /// Azure: Entra ID user name for the resource-owner password grant (`azure_username`).
    pub azure_username: Option<String>,
    /// Azure: Entra ID password for the resource-owner password grant (`azure_password`).
    pub azure_password: Option<String>,
    /// Azure: the scope Entra ID tokens are requested for.
    pub azure_scope: Option<String>,
    /// Azure: the Entra ID authority host (sovereign clouds, or a local server in tests).
    pub azure_authority_host: Option<String>,
    /// Vertex AI project (`vertex_project` / `vertex_ai_project`).
    pub vertex_project: Option<String>,
    /// Vertex AI location (`vertex_location` / `vertex_ai_location`): a region, `us`/`eu`
    /// multi-regions or `global`.
    pub vertex_location: Option<String>,
    /// Vertex AI credentials (`vertex_credentials`): a path to a Google credentials JSON file,
    /// or the JSON itself.
    pub vertex_credentials: Option<String>,
    /// AWS credentials, region and endpoint (Bedrock), from the `aws_*` `litellm_params`.
    pub aws: AwsParams,
}

/// The `aws_*` (and `model_id`) `litellm_params` of a Bedrock deployment, as LiteLLM names
/// them. Unset fields fall back to the environment inside the adapter.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AwsParams {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region_name: Option<String>,
    /// `aws_bedrock_runtime_endpoint`: the runtime endpoint to call instead of the default.
    pub bedrock_runtime_endpoint: Option<String>,
    /// `model_id`: the id (often a provisioned-throughput or inference-profile ARN) put in
    /// the URL instead of the model name.
    pub model_id: Option<String>,
    /// STS, profile and web-identity settings (resolved in the Bedrock adapter's
    /// credential chain).
    pub role_name: Option<String>,
    pub session_name: Option<String>,
    pub profile_name: Option<String>,
    pub web_identity_token: Option<String>,
    pub sts_endpoint: Option<String>,
    pub external_id: Option<String>,
}

impl AwsParams {
    /// The `litellm_params` keys these fields come from, in field order.
    pub const KEYS: &'static [&'static str] = &[
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "aws_bedrock_runtime_endpoint",
        "model_id",
        "aws_role_name",
        "aws_session_name",
        "aws_profile_name",
        "aws_web_identity_token",
        "aws_sts_endpoint",
        "aws_external_id",
    ];

    /// Reads the fields from `litellm_params`-style key/value pairs; non-string and empty
    /// values count as unset.
    pub fn from_lookup<'a>(get: impl Fn(&str) -> Option<&'a serde_json::Value>) -> Self {
        let s = |key: &str| {
            get(key)
                .and_then(serde_json::Value::as_str)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned)
        };
        Self {
            access_key_id: s("aws_access_key_id"),
            secret_access_key: s("aws_secret_access_key"),
            session_token: s("aws_session_token"),
            region_name: s("aws_region_name"),
            bedrock_runtime_endpoint: s("aws_bedrock_runtime_endpoint"),
            model_id: s("model_id"),
            role_name: s("aws_role_name"),
            session_name: s("aws_session_name"),
            profile_name: s("aws_profile_name"),
            web_identity_token: s("aws_web_identity_token"),
            sts_endpoint: s("aws_sts_endpoint"),
            external_id: s("aws_external_id"),
        }
    }
}

// Secrets never reach logs: only whether they are set is shown.
impl std::fmt::Debug for AwsParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("AwsParams")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &set(&self.secret_access_key))
            .field("session_token", &set(&self.session_token))
            .field("region_name", &self.region_name)
            .field("bedrock_runtime_endpoint", &self.bedrock_runtime_endpoint)
            .field("model_id", &self.model_id)
            .field("role_name", &self.role_name)
            .field("session_name", &self.session_name)
            .field("profile_name", &self.profile_name)
            .field("web_identity_token", &set(&self.web_identity_token))
            .field("sts_endpoint", &self.sts_endpoint)
            .field("external_id", &self.external_id)
            .finish()
    }
}

/// Per-call switches the router decides.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Ask a streaming upstream for its usage chunk even if the client did not, so the call
    /// can be costed; the chunk is withheld from a client that did not ask for it.
    pub force_stream_usage: bool,
    /// Request-level `drop_params`.
    pub drop_params: bool,
}

impl ProviderParams {
    /// The request with the deployment's `default_params` filled in where it left them unset
    /// (the request wins) and its `additional_drop_params` removed; borrowed, at no cost, when
    /// the deployment has neither. Shared by every native adapter.
    pub fn apply_to<'r>(
        &self,
        req: &'r ChatCompletionRequest,
    ) -> Result<Cow<'r, ChatCompletionRequest>, GatewayError> {
        if self.default_params.is_empty() && self.additional_drop_params.is_empty() {
            return Ok(Cow::Borrowed(req));
        }
        let mut value = serde_json::to_value(req)
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        if let Some(obj) = value.as_object_mut() {
            for (k, v) in &self.default_params {
                if obj.get(k).is_none_or(Value::is_null) {
                    obj.insert(k.clone(), v.clone());
                }
            }
            for name in &self.additional_drop_params {
                obj.shift_remove(name);
            }
        }
        serde_json::from_value(value).map(Cow::Owned).map_err(|e| {
            GatewayError::invalid_request(
                format!("a default parameter of this deployment has the wrong type: {e}"),
                None,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};

    #[test]
    fn aws_params_come_from_litellm_params_keys() {
        let mut m = Map::new();
        for (i, key) in AwsParams::KEYS.iter().enumerate() {
            m.insert((*key).to_owned(), Value::String(format!("v{i}")));
        }
        let p = AwsParams::from_lookup(|k| m.get(k));
        assert_eq!(p.access_key_id.as_deref(), Some("v0"));
        assert_eq!(p.secret_access_key.as_deref(), Some("v1"));
        assert_eq!(p.session_token.as_deref(), Some("v2"));
        assert_eq!(p.region_name.as_deref(), Some("v3"));
        assert_eq!(p.bedrock_runtime_endpoint.as_deref(), Some("v4"));
        assert_eq!(p.model_id.as_deref(), Some("v5"));
        assert_eq!(p.role_name.as_deref(), Some("v6"));
        assert_eq!(p.external_id.as_deref(), Some("v11"));
        // Empty and non-string values (an unset `os.environ/` reference is null) are unset.
        m.insert("aws_region_name".into(), json!(""));
        m.insert("aws_access_key_id".into(), Value::Null);
        m.insert("model_id".into(), json!(7));
        let p = AwsParams::from_lookup(|k| m.get(k));
        assert!(p.region_name.is_none() && p.access_key_id.is_none() && p.model_id.is_none());
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("\"v1\"") && !shown.contains("\"v2\"") && !shown.contains("\"v9\""),
            "{shown}"
        );
    }
}
