//! LiteLLM's management API: `/key/*`, `/team/*`, `/user/*`, `/customer/*`, `/budget/*` and
//! the spend reports. Admin only (the master key, or a key whose user is `proxy_admin`).
//! Paths, fields and messages follow LiteLLM so its scripts and Terraform provider work.

pub mod keys;
pub mod orgs;
pub mod spend;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_core::GatewayError;
use tollgate_store::duration;

use super::{call_id, finish};
use crate::accounting::Accounting;
use crate::auth::Identity;
use crate::state::AppState;

/// Largest management request body.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// An authenticated admin call.
pub(crate) struct Call {
    pub acc: Arc<Accounting>,
    pub identity: Identity,
    pub parts: Parts,
    pub body: Map<String, Value>,
}

impl Call {
    /// Who made the change, for `created_by`/`updated_by`.
    pub fn actor(&self) -> String {
        match &self.identity {
            Identity::Key(k) => k.user_id.clone().unwrap_or_else(|| k.token.clone()),
            _ => "default_user_id".to_owned(),
        }
    }

    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        self.parts.uri.query().and_then(|q| {
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k == name).then(|| percent_decode(v))
            })
        })
    }

    /// A string field of the body.
    pub fn str(&self, name: &str) -> Option<String> {
        match self.body.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }

    /// A list-of-strings field of the body.
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.body.get(name) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Authenticates an admin and reads the JSON body (empty is `{}`).
pub(crate) async fn admin(state: &AppState, request: Request) -> Result<Call, GatewayError> {
    let (parts, body) = request.into_parts();
    let identity = state
        .auth
        .authenticate(&parts.headers, parts.uri.query())
        .await?;
    let Some(acc) = state.accounting.clone() else {
        return Err(GatewayError::Denied {
            status: 500,
            error_type: "internal_server_error".into(),
            message: "DB not connected. See https://docs.litellm.ai/docs/proxy/virtual_keys".into(),
            param: None,
            retry_after: None,
        });
    };
    if !acc.is_admin(&identity) {
        return Err(GatewayError::Denied {
            status: 403,
            error_type: "auth_error".into(),
            message: format!(
                "Authentication Error, Only proxy admin can be used to generate, delete, update info for new keys/users/teams. Route={}",
                parts.uri.path()
            ),
            param: None,
            retry_after: None,
        });
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| GatewayError::invalid_request(format!("cannot read body: {e}"), None))?;
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                return Err(GatewayError::invalid_request(
                    "Request body must be a JSON object",
                    None,
                ));
            }
            Err(e) => {
                return Err(GatewayError::invalid_request(
                    format!("Invalid JSON body: {e}"),
                    None,
                ));
            }
        }
    };
    Ok(Call {
        acc,
        identity,
        parts,
        body,
    })
}

/// Runs a management handler and renders its JSON (or error) with the common headers.
pub(crate) async fn run<F, Fut>(state: Arc<AppState>, request: Request, f: F) -> Response
where
    F: FnOnce(Call) -> Fut,
    Fut: std::future::Future<Output = Result<Value, GatewayError>>,
{
    let id = call_id(request.headers());
    let result = async {
        let call = admin(&state, request).await?;
        let value = f(call).await?;
        Ok((StatusCode::OK, axum::Json(value)).into_response())
    }
    .await;
    finish(&id, result)
}

/// Copies the named body fields onto a row (through JSON, so the row's own lenient readers
/// apply); fields absent from the body are left as they are.
pub(crate) fn merge<T: Serialize + DeserializeOwned>(
    row: &T,
    body: &Map<String, Value>,
    fields: &[&str],
) -> Result<T, GatewayError> {
    let mut v = serde_json::to_value(row).map_err(|e| GatewayError::Internal(e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        for f in fields {
            if let Some(x) = body.get(*f) {
                obj.insert((*f).to_owned(), x.clone());
            }
        }
    }
    serde_json::from_value(v).map_err(|e| GatewayError::invalid_request(e.to_string(), None))
}

/// 400 for negative budgets (LiteLLM refuses them).
pub(crate) fn check_budgets(body: &Map<String, Value>) -> Result<(), GatewayError> {
    for f in ["max_budget", "soft_budget", "max_budget_in_team"] {
        if body.get(f).and_then(Value::as_f64).is_some_and(|b| b < 0.0) {
            return Err(GatewayError::invalid_request(
                format!("{f} cannot be negative. Received {f}={}", body[f]),
                Some(f.to_owned()),
            ));
        }
    }
    Ok(())
}

/// The next reset for a `budget_duration`, if the body sets one.
pub(crate) fn reset_for(acc: &Accounting, body: &Map<String, Value>) -> Option<DateTime<Utc>> {
    let span = duration::parse(body.get("budget_duration")?.as_str()?)?;
    duration::next_reset(acc.now(), span, acc.timezone())
}

/// A 404 in LiteLLM's words.
pub(crate) fn not_found(what: &str, id: &str) -> GatewayError {
    GatewayError::Denied {
        status: 404,
        error_type: "not_found_error".into(),
        message: format!("{what} not found, passed {what}={id}"),
        param: None,
        retry_after: None,
    }
}

/// A 400 for a missing required field.
pub(crate) fn required(field: &str) -> GatewayError {
    GatewayError::invalid_request(format!("{field} is required"), Some(field.to_owned()))
}

/// Serialises a row as a JSON object.
pub(crate) fn object<T: Serialize>(row: &T) -> Map<String, Value> {
    match serde_json::to_value(row) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
