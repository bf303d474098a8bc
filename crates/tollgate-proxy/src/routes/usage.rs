//! Where the usage of operation and pass-through calls leaves the proxy: [`record`] is the
//! single call site a spend writer connects to.

use tollgate_router::OperationUsage;

use crate::state::AppState;

/// One call's usage with what identifies it for spend.
#[derive(Debug, Clone)]
pub struct UsageRecord {
    /// The client-facing route (`/v1/images/generations`, `/anthropic/v1/messages`).
    pub route: String,
    /// The model the client named, when it named one.
    pub model: Option<String>,
    /// The model group and deployment that served it (empty for pass-through credentials
    /// taken from the environment).
    pub model_group: String,
    pub deployment_id: String,
    /// Provider display name (`OpenAI`, `Anthropic`).
    pub provider: String,
    pub usage: OperationUsage,
}

/// Called once per successful call, as soon as its usage is known (for streams: when the
/// stream ends or the client leaves). Today it logs; spend recording plugs in here.
pub fn record(_state: &AppState, record: UsageRecord) {
    let tokens = record.usage.tokens.as_ref();
    tracing::debug!(
        route = %record.route,
        model = record.model.as_deref().unwrap_or(""),
        model_group = %record.model_group,
        model_id = %record.deployment_id,
        provider = %record.provider,
        prompt_tokens = tokens.map_or(0, |u| u.prompt_tokens),
        completion_tokens = tokens.map_or(0, |u| u.completion_tokens),
        images = record.usage.images.unwrap_or(0),
        characters = record.usage.characters.unwrap_or(0),
        search_units = record.usage.search_units.unwrap_or(0),
        audio_seconds = record.usage.audio_seconds.unwrap_or(0.0),
        "usage"
    );
}
