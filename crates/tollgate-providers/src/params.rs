//! What a deployment tells an adapter: credentials, endpoint and default parameters.

use serde_json::{Map, Value};

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
