//! `/key/generate`, `/key/update`, `/key/delete`, `/key/info`, `/key/list`, `/key/regenerate`,
//! `/key/block`, `/key/unblock`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tollgate_core::GatewayError;
use tollgate_store::{KeyRow, duration};

use super::{Call, check_budgets, merge, not_found, object, required, reset_for, run};
use crate::accounting::GRACE_TOKENS;
use crate::auth::{abbreviate, hash_key, new_key};
use crate::state::AppState;

/// Body fields stored as columns of the key row.
const COLUMNS: &[&str] = &[
    "key_alias",
    "models",
    "aliases",
    "config",
    "user_id",
    "team_id",
    "permissions",
    "max_parallel_requests",
    "metadata",
    "blocked",
    "tpm_limit",
    "rpm_limit",
    "max_budget",
    "budget_duration",
    "allowed_cache_controls",
    "allowed_routes",
    "model_max_budget",
    "budget_id",
    "organization_id",
];

/// Fields LiteLLM keeps inside the row's `metadata`.
const IN_METADATA: &[&str] = &[
    "model_rpm_limit",
    "model_tpm_limit",
    "rpm_limit_type",
    "tpm_limit_type",
    "tags",
    "guardrails",
    "prompts",
    "enforced_params",
    "soft_budget",
    "temp_budget_increase",
    "temp_budget_expiry",
];

/// Applies a generate/update body to a key row.
fn apply(call: &Call, row: &KeyRow) -> Result<KeyRow, GatewayError> {
    check_budgets(&call.body)?;
    check_temp_budget(call)?;
    let mut k = merge(row, &call.body, COLUMNS)?;
    if call.body.get("metadata").is_some_and(Value::is_object) {
        // `metadata` replaces the user part; the fields LiteLLM files there are re-added below.
        for f in IN_METADATA {
            if let Some(v) = row.metadata.get(*f) {
                k.metadata.entry((*f).to_owned()).or_insert(v.clone());
            }
        }
    }
    for f in IN_METADATA {
        if let Some(v) = call.body.get(*f) {
            k.metadata.insert((*f).to_owned(), v.clone());
        }
    }
    // Only `/key/regenerate` writes grace entries: a body cannot add or drop them.
    match row.metadata.get(GRACE_TOKENS) {
        Some(v) => k.metadata.insert(GRACE_TOKENS.to_owned(), v.clone()),
        None => k.metadata.remove(GRACE_TOKENS),
    };
    match call.body.get("duration") {
        Some(Value::String(d)) => {
            k.expires = duration::parse(d).and_then(|s| duration::add(call.acc.now(), s));
        }
        Some(Value::Null) => k.expires = None,
        _ => {}
    }
    if call.body.contains_key("budget_duration") {
        k.budget_reset_at = reset_for(&call.acc, &call.body);
    }
    k.updated_at = Some(call.acc.now());
    k.updated_by = Some(call.actor());
    Ok(k)
}

/// LiteLLM's rules for a temporary budget increase: both fields together, the increase not
/// negative, the expiry a time in the future.
fn check_temp_budget(call: &Call) -> Result<(), GatewayError> {
    let increase = call
        .body
        .get("temp_budget_increase")
        .filter(|v| !v.is_null());
    let expiry = call.body.get("temp_budget_expiry").filter(|v| !v.is_null());
    match (increase, expiry) {
        (None, None) => Ok(()),
        (Some(i), Some(e)) => {
            if i.as_f64().is_none_or(|i| i < 0.0) {
                return Err(GatewayError::invalid_request(
                    format!("temp_budget_increase must be a number >= 0, got {i}"),
                    Some("temp_budget_increase".into()),
                ));
            }
            let at = e.as_str().and_then(tollgate_store::serde_util::parse_ts);
            match at {
                Some(at) if at > call.acc.now() => Ok(()),
                Some(_) => Err(GatewayError::invalid_request(
                    "temp_budget_expiry must be in the future",
                    Some("temp_budget_expiry".into()),
                )),
                None => Err(GatewayError::invalid_request(
                    format!("temp_budget_expiry must be an ISO 8601 time, got {e}"),
                    Some("temp_budget_expiry".into()),
                )),
            }
        }
        _ => Err(GatewayError::invalid_request(
            "temp_budget_increase and temp_budget_expiry must be set together",
            Some("temp_budget_increase".into()),
        )),
    }
}

/// The key object LiteLLM returns from generate/regenerate.
fn generated(call: &Call, k: &KeyRow, plain: &str) -> Value {
    let mut out = object(k);
    for (f, v) in &call.body {
        out.entry(f.clone()).or_insert(v.clone());
    }
    out.insert("key".into(), json!(plain));
    out.insert("key_name".into(), json!(abbreviate(plain)));
    out.insert("token".into(), json!(k.token));
    out.insert("token_id".into(), json!(k.token));
    for f in IN_METADATA {
        if let Some(v) = k.metadata.get(*f) {
            out.insert((*f).to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// Finds a key given raw (`sk-...`) or hashed.
async fn find(call: &Call, key: &str) -> Result<KeyRow, GatewayError> {
    let hash = if key.starts_with("sk-") {
        hash_key(key)
    } else {
        key.to_owned()
    };
    match call.acc.store().get::<KeyRow>(&hash).await {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(not_found("Key", &abbreviate(key))),
        Err(e) => Err(crate::accounting::db_error(e)),
    }
}

/// `POST /key/generate`.
pub async fn generate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let plain = match call.str("key") {
            Some(k) if !k.starts_with("sk-") => {
                return Err(GatewayError::invalid_request(
                    "Invalid key format. LiteLLM Virtual Key must start with 'sk-'. Received="
                        .to_owned()
                        + &abbreviate(&k),
                    Some("key".into()),
                ));
            }
            Some(k) => k,
            None => new_key(),
        };
        let now = call.acc.now();
        let base = KeyRow {
            token: hash_key(&plain),
            key_name: Some(abbreviate(&plain)),
            created_at: Some(now),
            created_by: Some(call.actor()),
            spend: call
                .body
                .get("spend")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            ..KeyRow::default()
        };
        if call
            .acc
            .store()
            .get::<KeyRow>(&base.token)
            .await
            .ok()
            .flatten()
            .is_some()
        {
            return Err(GatewayError::invalid_request(
                "Unique key constraint failed: this key already exists",
                Some("key".into()),
            ));
        }
        let k = apply(&call, &base)?;
        call.acc.put_key(k.clone()).await?;
        Ok(generated(&call, &k, &plain))
    })
    .await
}

/// `POST /key/update`.
pub async fn update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let key = call.str("key").ok_or_else(|| required("key"))?;
        let row = find(&call, &key).await?;
        let k = apply(&call, &row)?;
        call.acc.put_key(k.clone()).await?;
        let mut out = Map::new();
        out.insert("key".into(), json!(key));
        for (f, v) in &call.body {
            out.insert(f.clone(), v.clone());
        }
        out.insert("expires".into(), json!(object(&k).get("expires")));
        Ok(Value::Object(out))
    })
    .await
}

/// `POST /key/delete`: `{"keys": [...], "key_aliases": [...]}`.
pub async fn delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let keys = call.list("keys");
        let aliases = call.list("key_aliases");
        if keys.is_empty() && aliases.is_empty() {
            return Err(GatewayError::invalid_request(
                "Either keys or key_aliases must be provided",
                Some("keys".into()),
            ));
        }
        let mut rows = Vec::new();
        for k in &keys {
            rows.push((k.clone(), find(&call, k).await?));
        }
        if !aliases.is_empty() {
            let all = call
                .acc
                .store()
                .all::<KeyRow>()
                .await
                .map_err(crate::accounting::db_error)?;
            for a in &aliases {
                let row = all
                    .iter()
                    .find(|k| k.key_alias.as_deref() == Some(a))
                    .ok_or_else(|| not_found("Key alias", a))?;
                rows.push((a.clone(), row.clone()));
            }
        }
        let actor = call.actor();
        let mut deleted = Vec::new();
        for (passed, row) in rows {
            call.acc.remove_key(&row, Some(&actor)).await?;
            deleted.push(json!(passed));
        }
        Ok(json!({ "deleted_keys": deleted }))
    })
    .await
}

/// `GET /key/info?key=...` (the caller's own key when omitted).
pub async fn info(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let key = match call.query("key") {
            Some(k) => k,
            None => match &call.identity {
                crate::auth::Identity::Key(k) => k.token.clone(),
                _ => return Err(required("key")),
            },
        };
        let row = find(&call, &key).await?;
        let mut info = object(&row);
        info.remove("token");
        Ok(json!({ "key": key, "info": info }))
    })
    .await
}

/// `GET /key/list`.
pub async fn list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let page: usize = call
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let size: usize = call
            .query("size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10)
            .clamp(1, 100);
        let full = call.query("return_full_object").as_deref() == Some("true");
        let filters = [
            "user_id",
            "team_id",
            "organization_id",
            "key_alias",
            "key_hash",
        ]
        .map(|f| (f, call.query(f)));
        let mut rows: Vec<KeyRow> = call
            .acc
            .store()
            .all::<KeyRow>()
            .await
            .map_err(crate::accounting::db_error)?
            .into_iter()
            .filter(|k| {
                filters.iter().all(|(f, want)| {
                    let Some(want) = want else { return true };
                    let have = match *f {
                        "user_id" => k.user_id.as_deref(),
                        "team_id" => k.team_id.as_deref(),
                        "organization_id" => k.organization_id.as_deref(),
                        "key_alias" => k.key_alias.as_deref(),
                        _ => Some(k.token.as_str()),
                    };
                    have == Some(want.as_str())
                })
            })
            .collect();
        rows.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        let total = rows.len();
        let keys: Vec<Value> = rows
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|k| {
                if full {
                    Value::Object(object(k))
                } else {
                    json!(k.token)
                }
            })
            .collect();
        Ok(json!({
            "keys": keys,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
        }))
    })
    .await
}

async fn regenerate_with(call: Call, key: String) -> Result<Value, GatewayError> {
    // The old key's logged calls reach its row first, so its spend carries over whole.
    call.acc.queue().flush().await;
    let row = find(&call, &key).await?;
    let plain = match call.str("new_key") {
        Some(k) if !k.starts_with("sk-") => {
            return Err(GatewayError::invalid_request(
                "New key must start with 'sk-'",
                Some("new_key".into()),
            ));
        }
        Some(k) => k,
        None => new_key(),
    };
    let grace = match call.body.get("grace_period") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) if g.is_empty() => None,
        Some(Value::String(g)) => Some(
            duration::parse(g)
                .and_then(|span| duration::add(call.acc.now(), span))
                .ok_or_else(|| {
                    GatewayError::invalid_request(
                        format!("Invalid grace_period={g}. Use a duration such as 30m, 24h, 7d"),
                        Some("grace_period".into()),
                    )
                })?,
        ),
        Some(other) => {
            return Err(GatewayError::invalid_request(
                format!("Invalid grace_period={other}. Use a duration such as 30m, 24h, 7d"),
                Some("grace_period".into()),
            ));
        }
    };
    let mut fresh = apply(&call, &row)?;
    fresh.token = hash_key(&plain);
    fresh.key_name = Some(abbreviate(&plain));
    // Keys this one replaced earlier keep their own grace; the ones that ran out are dropped.
    let now = call.acc.now();
    let mut tokens: Vec<Value> = fresh
        .metadata
        .get(GRACE_TOKENS)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|t| {
                    t.get("revoke_at")
                        .and_then(Value::as_str)
                        .and_then(tollgate_store::serde_util::parse_ts)
                        .is_some_and(|at| at > now)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some(at) = grace {
        tokens.push(json!({
            "token": row.token,
            "revoke_at": tollgate_store::serde_util::ts_string(&at),
        }));
    }
    if tokens.is_empty() {
        fresh.metadata.remove(GRACE_TOKENS);
    } else {
        fresh
            .metadata
            .insert(GRACE_TOKENS.into(), Value::Array(tokens));
    }
    call.acc.put_key(fresh.clone()).await?;
    call.acc.remove_key(&row, Some(&call.actor())).await?;
    Ok(generated(&call, &fresh, &plain))
}

/// `POST /key/regenerate` (`key` in the body).
pub async fn regenerate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let key = call.str("key").ok_or_else(|| required("key"))?;
        regenerate_with(call, key).await
    })
    .await
}

/// `POST /key/{key}/regenerate`.
pub async fn regenerate_path(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    run(state, request, |call| regenerate_with(call, key)).await
}

async fn set_blocked(call: Call, blocked: bool) -> Result<Value, GatewayError> {
    let key = call.str("key").ok_or_else(|| required("key"))?;
    let mut row = find(&call, &key).await?;
    row.blocked = Some(blocked);
    row.updated_at = Some(call.acc.now());
    call.acc.put_key(row.clone()).await?;
    Ok(Value::Object(object(&row)))
}

/// `POST /key/block`.
pub async fn block(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| set_blocked(call, true)).await
}

/// `POST /key/unblock`.
pub async fn unblock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| set_blocked(call, false)).await
}

/// `POST /key/{key}/reset_spend`: `{"reset_to": float}`, at least 0 and at most the current
/// spend (LiteLLM's rules). The database, this instance's ledger and the shared Redis budget
/// take the new value, so the next request is checked against it.
pub async fn reset_spend(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    run(state, request, |call| async move {
        let reset_to = match call.body.get("reset_to") {
            None | Some(Value::Null) => return Err(required("reset_to")),
            Some(v) => v.as_f64().ok_or_else(|| {
                GatewayError::invalid_request(
                    format!("reset_to must be a float, got {v}"),
                    Some("reset_to".into()),
                )
            })?,
        };
        if reset_to < 0.0 {
            return Err(GatewayError::invalid_request(
                format!("reset_to must be >= 0, got {reset_to}"),
                Some("reset_to".into()),
            ));
        }
        // Calls already logged count in the spend being reset.
        call.acc.queue().flush().await;
        let row = find(&call, &key).await?;
        let current = call
            .acc
            .live_spend(&format!("key:{}", row.token))
            .map_or(row.spend, |live| live.max(row.spend));
        if reset_to > current {
            return Err(GatewayError::invalid_request(
                format!("reset_to ({reset_to}) must be <= current spend ({current})"),
                Some("reset_to".into()),
            ));
        }
        if !call.acc.set_key_spend(&row, reset_to).await? {
            return Err(not_found("Key", &abbreviate(&key)));
        }
        Ok(json!({
            "key_hash": row.token,
            "spend": reset_to,
            "previous_spend": current,
            "max_budget": row.max_budget,
            "budget_reset_at": object(&row).get("budget_reset_at"),
        }))
    })
    .await
}

/// `GET /key/aliases`: the distinct `key_alias`es, paged (`page`, `size`), optionally only a
/// team's (`team_id`) or those containing `search`.
pub async fn aliases(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let page: usize = call
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let size: usize = call
            .query("size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let search = call.query("search").map(|s| s.to_lowercase());
        let team = call.query("team_id");
        let keys = call
            .acc
            .store()
            .all::<KeyRow>()
            .await
            .map_err(crate::accounting::db_error)?;
        let mut all: Vec<String> = keys
            .into_iter()
            .filter(|k| team.is_none() || k.team_id == team)
            .filter_map(|k| k.key_alias)
            .filter(|a| !a.is_empty())
            .filter(|a| {
                search
                    .as_deref()
                    .is_none_or(|s| a.to_lowercase().contains(s))
            })
            .collect();
        all.sort();
        all.dedup();
        let total = all.len();
        let page_rows: Vec<String> = all.into_iter().skip((page - 1) * size).take(size).collect();
        Ok(json!({
            "aliases": page_rows,
            "total_count": total,
            "current_page": page,
            "total_pages": total.div_ceil(size),
            "size": size,
        }))
    })
    .await
}

/// `POST /v2/key/info`: `{"keys": [...]}` (raw or hashed) → `{"key": [...], "info": [rows]}`;
/// unknown keys are left out.
pub async fn info_v2(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        if !matches!(call.body.get("keys"), Some(Value::Array(_))) {
            return Err(required("keys"));
        }
        let keys = call.list("keys");
        let mut info = Vec::new();
        for k in &keys {
            match find(&call, k).await {
                Ok(row) => info.push(Value::Object(object(&row))),
                Err(GatewayError::Denied { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(json!({ "key": keys, "info": info }))
    })
    .await
}
