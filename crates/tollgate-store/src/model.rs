//! Rows of LiteLLM's tables, as JSON objects keyed by column name (what the API returns too).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::serde_util as su;

/// `LiteLLM_VerificationToken`: a virtual key, identified by the SHA-256 hex of the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyRow {
    pub token: String,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default)]
    pub key_alias: Option<String>,
    #[serde(default, deserialize_with = "su::bool_lenient")]
    pub soft_budget_cooldown: bool,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default, with = "su::opt_ts")]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub models: Vec<String>,
    #[serde(default, deserialize_with = "su::object")]
    pub aliases: Map<String, Value>,
    #[serde(default, deserialize_with = "su::object")]
    pub config: Map<String, Value>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default, deserialize_with = "su::object")]
    pub permissions: Map<String, Value>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub max_parallel_requests: Option<i64>,
    #[serde(default, deserialize_with = "su::object")]
    pub metadata: Map<String, Value>,
    #[serde(default, deserialize_with = "su::opt_bool")]
    pub blocked: Option<bool>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub tpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub rpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_f64")]
    pub max_budget: Option<f64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub allowed_cache_controls: Vec<String>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub allowed_routes: Vec<String>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_spend: Map<String, Value>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_max_budget: Map<String, Value>,
    #[serde(default)]
    pub budget_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// `LiteLLM_TeamTable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TeamRow {
    pub team_id: String,
    #[serde(default)]
    pub team_alias: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub admins: Vec<String>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub members: Vec<String>,
    #[serde(default, deserialize_with = "su::json_value")]
    pub members_with_roles: Value,
    #[serde(default, deserialize_with = "su::object")]
    pub metadata: Map<String, Value>,
    #[serde(default, deserialize_with = "su::opt_f64")]
    pub max_budget: Option<f64>,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default, deserialize_with = "su::string_list")]
    pub models: Vec<String>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub max_parallel_requests: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub tpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "su::bool_lenient")]
    pub blocked: bool,
    #[serde(default, with = "su::ts")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "su::ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_spend: Map<String, Value>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_max_budget: Map<String, Value>,
}

/// `LiteLLM_UserTable`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub user_id: String,
    #[serde(default)]
    pub user_alias: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub teams: Vec<String>,
    #[serde(default)]
    pub user_role: Option<String>,
    #[serde(default, deserialize_with = "su::opt_f64")]
    pub max_budget: Option<f64>,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default, deserialize_with = "su::string_list")]
    pub models: Vec<String>,
    #[serde(default, deserialize_with = "su::object")]
    pub metadata: Map<String, Value>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub max_parallel_requests: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub tpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub rpm_limit: Option<i64>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_spend: Map<String, Value>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_max_budget: Map<String, Value>,
    #[serde(default, with = "su::opt_ts")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, with = "su::opt_ts")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// `LiteLLM_EndUserTable`: the request's `user` (a customer of the app calling the gateway).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndUserRow {
    pub user_id: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default)]
    pub allowed_model_region: Option<String>,
    #[serde(default)]
    pub default_model: Option<String>,
    #[serde(default)]
    pub budget_id: Option<String>,
    #[serde(default, deserialize_with = "su::bool_lenient")]
    pub blocked: bool,
}

/// `LiteLLM_BudgetTable`: a budget shared by reference (end users, team members).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetRow {
    pub budget_id: String,
    #[serde(default, deserialize_with = "su::opt_f64")]
    pub max_budget: Option<f64>,
    #[serde(default, deserialize_with = "su::opt_f64")]
    pub soft_budget: Option<f64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub max_parallel_requests: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub tpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::opt_i64")]
    pub rpm_limit: Option<i64>,
    #[serde(default, deserialize_with = "su::object")]
    pub model_max_budget: Map<String, Value>,
    #[serde(default)]
    pub budget_duration: Option<String>,
    #[serde(default, with = "su::opt_ts")]
    pub budget_reset_at: Option<DateTime<Utc>>,
    #[serde(default, with = "su::ts")]
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: String,
    #[serde(default, with = "su::ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub updated_by: String,
}

/// `LiteLLM_TeamMembership`: a user's spend (and optional budget) inside one team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MembershipRow {
    pub user_id: String,
    pub team_id: String,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default)]
    pub budget_id: Option<String>,
}

/// `LiteLLM_SpendLogs`: one row per request, success or failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    pub request_id: String,
    pub call_type: String,
    #[serde(default)]
    pub api_key: String,
    #[serde(default, deserialize_with = "su::f64_or_zero")]
    pub spend: f64,
    #[serde(default)]
    pub total_tokens: i64,
    #[serde(default)]
    pub prompt_tokens: i64,
    #[serde(default)]
    pub completion_tokens: i64,
    #[serde(rename = "startTime", with = "su::ts")]
    pub start_time: DateTime<Utc>,
    #[serde(rename = "endTime", with = "su::ts")]
    pub end_time: DateTime<Utc>,
    #[serde(rename = "completionStartTime", default, with = "su::opt_ts")]
    pub completion_start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub request_duration_ms: Option<i64>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub model_group: Option<String>,
    #[serde(default)]
    pub custom_llm_provider: Option<String>,
    #[serde(default)]
    pub api_base: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default, deserialize_with = "su::json_value")]
    pub metadata: Value,
    #[serde(default)]
    pub cache_hit: Option<String>,
    #[serde(default)]
    pub cache_key: Option<String>,
    #[serde(default, deserialize_with = "su::json_value")]
    pub request_tags: Value,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub end_user: Option<String>,
    #[serde(default)]
    pub requester_ip_address: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}
