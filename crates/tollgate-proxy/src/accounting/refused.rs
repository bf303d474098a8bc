//! Spend-log rows of requests refused before their model call: by access rules, budgets or
//! limits (in [`Accounting::admit`]), or by the route (a bad body, a blocked or expired key).
//! Each writes one `failure` row costing 0, with LiteLLM's `error_information`, so a refused
//! request is as visible in `/spend/logs` as a failed one. Requests that present no known key
//! write none: they have no owner to attribute the row to, and an unauthenticated flood must
//! not be able to grow the database.

use serde_json::{Value, json};
use tollgate_core::GatewayError;
use tollgate_store::{KeyRow, SpendRow};

use super::{Accounting, CallSpec};
use crate::auth::Identity;

impl Accounting {
    /// Queues the one spend-log row of a request refused before its call, by an authenticated
    /// `identity`.
    pub fn record_refused(&self, identity: &Identity, spec: &CallSpec, error: &GatewayError) {
        let (key, hash) = match identity {
            Identity::Key(k) => (Some(&**k), k.token.clone()),
            Identity::MasterKey => (None, self.master_hash.clone().unwrap_or_default()),
            Identity::Anonymous => (None, String::new()),
        };
        self.queue.record(self.refused_row(key, hash, spec, error));
    }

    /// Queues the row of a request whose key exists but may not be used (blocked, expired).
    pub fn record_refused_key(&self, key: &KeyRow, spec: &CallSpec, error: &GatewayError) {
        self.queue
            .record(self.refused_row(Some(key), key.token.clone(), spec, error));
    }

    fn refused_row(
        &self,
        k: Option<&KeyRow>,
        key_hash: String,
        spec: &CallSpec,
        error: &GatewayError,
    ) -> SpendRow {
        let now = self.clock.now();
        let metadata = json!({
            "user_api_key": key_hash,
            "user_api_key_alias": k.and_then(|k| k.key_alias.clone()),
            "user_api_key_team_id": k.and_then(|k| k.team_id.clone()),
            "user_api_key_org_id": k.and_then(|k| k.organization_id.clone()),
            "user_api_key_user_id": k.and_then(|k| k.user_id.clone()),
            "spend_logs_metadata": spec.metadata.clone(),
            "status": "failure",
            "usage_object": Value::Null,
            "error_information": {
                "error_code": error.status().to_string(),
                "error_class": error.class().name(),
                "llm_provider": Value::Null,
                "error_message": error.to_string(),
            },
        });
        SpendRow {
            request_id: spec.call_id.clone(),
            call_type: spec.call_type.to_owned(),
            api_key: key_hash,
            spend: 0.0,
            total_tokens: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            start_time: now,
            end_time: now,
            completion_start_time: None,
            request_duration_ms: Some(0),
            model: spec.model.clone(),
            model_id: None,
            model_group: Some(spec.model.clone()),
            custom_llm_provider: None,
            api_base: None,
            user: k.and_then(|k| k.user_id.clone()),
            metadata,
            cache_hit: Some("False".into()),
            cache_key: None,
            request_tags: Value::Array(spec.tags.iter().cloned().map(Value::String).collect()),
            team_id: k.and_then(|k| k.team_id.clone()),
            organization_id: k.and_then(|k| k.organization_id.clone()),
            end_user: spec.end_user.clone(),
            requester_ip_address: None,
            session_id: None,
            status: Some("failure".into()),
        }
    }
}
