//! `/team/*`, `/user/*`, `/customer/*` (end users) and `/budget/*`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};
use tollgate_core::GatewayError;
use tollgate_store::{BudgetRow, EndUserRow, KeyRow, MembershipRow, TeamRow, UserRow};

use super::{Call, check_budgets, merge, not_found, object, required, reset_for, run};
use crate::accounting::db_error;
use crate::auth::{hash_key, new_key};
use crate::state::AppState;

const TEAM_FIELDS: &[&str] = &[
    "team_alias",
    "organization_id",
    "models",
    "max_budget",
    "budget_duration",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "members_with_roles",
    "metadata",
    "blocked",
    "model_max_budget",
];

const USER_FIELDS: &[&str] = &[
    "user_email",
    "user_alias",
    "user_role",
    "teams",
    "max_budget",
    "budget_duration",
    "models",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "metadata",
    "organization_id",
    "model_max_budget",
];

const BUDGET_FIELDS: &[&str] = &[
    "max_budget",
    "soft_budget",
    "max_parallel_requests",
    "tpm_limit",
    "rpm_limit",
    "budget_duration",
    "model_max_budget",
];

fn team_object(call: &Call, t: &TeamRow) -> Value {
    let mut o = object(t);
    if let Some(soft) = t.metadata.get("soft_budget") {
        o.insert("soft_budget".into(), soft.clone());
    }
    let _ = call;
    Value::Object(o)
}

fn apply_team(call: &Call, row: &TeamRow) -> Result<TeamRow, GatewayError> {
    check_budgets(&call.body)?;
    let mut t = merge(row, &call.body, TEAM_FIELDS)?;
    if let Some(soft) = call.body.get("soft_budget") {
        t.metadata.insert("soft_budget".into(), soft.clone());
    }
    if call.body.contains_key("budget_duration") {
        t.budget_reset_at = reset_for(&call.acc, &call.body);
    }
    if t.members_with_roles.is_null() {
        t.members_with_roles = json!([]);
    }
    t.updated_at = call.acc.now();
    Ok(t)
}

async fn team_of(call: &Call, id: &str) -> Result<TeamRow, GatewayError> {
    call.acc
        .store()
        .get::<TeamRow>(id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found("Team", id))
}

/// `POST /team/new`.
pub async fn team_new(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call
            .str("team_id")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if call
            .acc
            .store()
            .get::<TeamRow>(&id)
            .await
            .map_err(db_error)?
            .is_some()
        {
            return Err(GatewayError::invalid_request(
                format!("Team id = {id} already exists. Please use a different team id."),
                Some("team_id".into()),
            ));
        }
        let now = call.acc.now();
        let base = TeamRow {
            team_id: id,
            created_at: now,
            members_with_roles: json!([]),
            ..TeamRow::default()
        };
        let mut t = apply_team(&call, &base)?;
        let members = member_list(&t.members_with_roles);
        t.members = members.iter().map(|(u, _)| u.clone()).collect();
        call.acc.put_team(t.clone()).await?;
        for (user_id, _) in members {
            add_member(&call, &t.team_id, &user_id, None).await?;
        }
        Ok(team_object(&call, &t))
    })
    .await
}

/// `(user_id, role)` pairs of `members_with_roles`.
fn member_list(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    let user = m.get("user_id").and_then(Value::as_str)?;
                    let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
                    Some((user.to_owned(), role.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /team/update`.
pub async fn team_update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
        let row = team_of(&call, &id).await?;
        let t = apply_team(&call, &row)?;
        call.acc.put_team(t.clone()).await?;
        Ok(json!({ "team_id": id, "data": team_object(&call, &t) }))
    })
    .await
}

/// `POST /team/delete`: `{"team_ids": [...]}`.
pub async fn team_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let ids = call.list("team_ids");
        if ids.is_empty() {
            return Err(required("team_ids"));
        }
        for id in &ids {
            team_of(&call, id).await?;
        }
        for id in &ids {
            call.acc.remove_team(id).await?;
        }
        Ok(json!({ "deleted_teams": ids }))
    })
    .await
}

/// `GET /team/info?team_id=`.
pub async fn team_info(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call.query("team_id").ok_or_else(|| required("team_id"))?;
        let t = team_of(&call, &id).await?;
        let keys: Vec<Value> = call
            .acc
            .keys()
            .iter()
            .filter(|k| k.team_id.as_deref() == Some(id.as_str()))
            .map(|k| Value::Object(object(&**k)))
            .collect();
        let members: Vec<Value> = call
            .acc
            .members_of(&id)
            .iter()
            .map(|m| {
                let mut o = object(m);
                o.insert(
                    "litellm_budget_table".into(),
                    m.budget_id
                        .as_deref()
                        .and_then(|b| call.acc.budget(b))
                        .map_or(Value::Null, |b| Value::Object(object(&*b))),
                );
                Value::Object(o)
            })
            .collect();
        Ok(json!({
            "team_id": id,
            "team_info": team_object(&call, &t),
            "keys": keys,
            "team_memberships": members,
        }))
    })
    .await
}

/// `GET /team/list`.
pub async fn team_list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let teams = call.acc.store().all::<TeamRow>().await.map_err(db_error)?;
        Ok(Value::Array(
            teams.iter().map(|t| team_object(&call, t)).collect(),
        ))
    })
    .await
}

async fn add_member(
    call: &Call,
    team_id: &str,
    user_id: &str,
    budget: Option<f64>,
) -> Result<MembershipRow, GatewayError> {
    let mut user = call
        .acc
        .store()
        .get::<UserRow>(user_id)
        .await
        .map_err(db_error)?
        .unwrap_or_else(|| UserRow {
            user_id: user_id.to_owned(),
            user_role: Some("internal_user".into()),
            created_at: Some(call.acc.now()),
            ..UserRow::default()
        });
    if !user.teams.iter().any(|t| t == team_id) {
        user.teams.push(team_id.to_owned());
    }
    user.updated_at = Some(call.acc.now());
    call.acc.put_user(user).await?;
    let budget_id = match budget {
        Some(max) => {
            let b = BudgetRow {
                budget_id: uuid::Uuid::new_v4().to_string(),
                max_budget: Some(max),
                created_at: call.acc.now(),
                updated_at: call.acc.now(),
                created_by: call.actor(),
                updated_by: call.actor(),
                ..BudgetRow::default()
            };
            call.acc.put_budget(b.clone()).await?;
            Some(b.budget_id)
        }
        None => None,
    };
    let m = MembershipRow {
        user_id: user_id.to_owned(),
        team_id: team_id.to_owned(),
        spend: 0.0,
        budget_id,
    };
    call.acc.put_member(m.clone()).await?;
    Ok(m)
}

/// `POST /team/member_add`: `{team_id, member: {role, user_id|user_email} | [...],
/// max_budget_in_team?}`.
pub async fn team_member_add(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
        let mut t = team_of(&call, &id).await?;
        let members: Vec<Value> = match call.body.get("member") {
            Some(Value::Array(a)) => a.clone(),
            Some(m @ Value::Object(_)) => vec![m.clone()],
            _ => return Err(required("member")),
        };
        let budget = call.body.get("max_budget_in_team").and_then(Value::as_f64);
        let mut roles = t.members_with_roles.as_array().cloned().unwrap_or_default();
        let mut memberships = Vec::new();
        let mut users = Vec::new();
        for m in &members {
            let user_id = m
                .get("user_id")
                .and_then(Value::as_str)
                .or_else(|| m.get("user_email").and_then(Value::as_str))
                .ok_or_else(|| required("member.user_id"))?
                .to_owned();
            let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
            if member_list(&Value::Array(roles.clone()))
                .iter()
                .any(|(u, _)| *u == user_id)
            {
                return Err(GatewayError::invalid_request(
                    format!(
                        "User={user_id} already in team. Existing members={}",
                        json!(t.members)
                    ),
                    Some("member".into()),
                ));
            }
            roles
                .push(json!({"role": role, "user_id": user_id, "user_email": m.get("user_email")}));
            if !t.members.contains(&user_id) {
                t.members.push(user_id.clone());
            }
            memberships.push(Value::Object(object(
                &add_member(&call, &id, &user_id, budget).await?,
            )));
            users.push(json!({"user_id": user_id}));
        }
        t.members_with_roles = Value::Array(roles);
        t.updated_at = call.acc.now();
        call.acc.put_team(t.clone()).await?;
        let mut out = match team_object(&call, &t) {
            Value::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        out.insert("updated_users".into(), Value::Array(users));
        out.insert("updated_team_memberships".into(), Value::Array(memberships));
        Ok(Value::Object(out))
    })
    .await
}

/// `POST /team/member_delete`: `{team_id, user_id|user_email}`.
pub async fn team_member_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
        let user_id = call
            .str("user_id")
            .or_else(|| call.str("user_email"))
            .ok_or_else(|| required("user_id"))?;
        let mut t = team_of(&call, &id).await?;
        let before = member_list(&t.members_with_roles).len();
        t.members_with_roles = Value::Array(
            t.members_with_roles
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|m| {
                    m.get("user_id").and_then(Value::as_str) != Some(user_id.as_str())
                        && m.get("user_email").and_then(Value::as_str) != Some(user_id.as_str())
                })
                .collect(),
        );
        if member_list(&t.members_with_roles).len() == before {
            return Err(not_found("User", &format!("{user_id} in team {id}")));
        }
        t.members.retain(|m| *m != user_id);
        call.acc.put_team(t.clone()).await?;
        call.acc.remove_member(&user_id, &id).await?;
        if let Some(u) = call
            .acc
            .store()
            .get::<UserRow>(&user_id)
            .await
            .map_err(db_error)?
        {
            let mut u = u;
            u.teams.retain(|x| *x != id);
            call.acc.put_user(u).await?;
        }
        Ok(team_object(&call, &t))
    })
    .await
}

// ---- users ----

fn apply_user(call: &Call, row: &UserRow) -> Result<UserRow, GatewayError> {
    check_budgets(&call.body)?;
    let mut u = merge(row, &call.body, USER_FIELDS)?;
    if call.body.contains_key("budget_duration") {
        u.budget_reset_at = reset_for(&call.acc, &call.body);
    }
    u.updated_at = Some(call.acc.now());
    Ok(u)
}

async fn user_of(call: &Call, id: &str) -> Result<UserRow, GatewayError> {
    call.acc
        .store()
        .get::<UserRow>(id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found("User", id))
}

/// `POST /user/new`; with `auto_create_key` (default true) the answer carries a new `key`.
pub async fn user_new(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call
            .str("user_id")
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let base = UserRow {
            user_id: id.clone(),
            user_role: Some("internal_user".into()),
            created_at: Some(call.acc.now()),
            ..UserRow::default()
        };
        let u = apply_user(&call, &base)?;
        call.acc.put_user(u.clone()).await?;
        let mut out = object(&u);
        if call.body.get("auto_create_key").and_then(Value::as_bool) != Some(false) {
            let plain = new_key();
            let mut k = KeyRow {
                token: hash_key(&plain),
                key_name: Some(crate::auth::abbreviate(&plain)),
                user_id: Some(id.clone()),
                models: u.models.clone(),
                created_at: Some(call.acc.now()),
                created_by: Some(call.actor()),
                ..KeyRow::default()
            };
            if let Some(tokio_duration) = call.str("duration") {
                k.expires = tollgate_store::duration::parse(&tokio_duration)
                    .and_then(|s| tollgate_store::duration::add(call.acc.now(), s));
            }
            call.acc.put_key(k.clone()).await?;
            out.insert("key".into(), json!(plain));
            out.insert("token".into(), json!(k.token));
            out.insert(
                "expires".into(),
                object(&k).get("expires").cloned().unwrap_or(Value::Null),
            );
        }
        Ok(Value::Object(out))
    })
    .await
}

/// `POST /user/update` (`user_id` or `user_email`).
pub async fn user_update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let row = match call.str("user_id") {
            Some(id) => user_of(&call, &id).await?,
            None => {
                let email = call.str("user_email").ok_or_else(|| required("user_id"))?;
                call.acc
                    .store()
                    .all::<UserRow>()
                    .await
                    .map_err(db_error)?
                    .into_iter()
                    .find(|u| u.user_email.as_deref() == Some(email.as_str()))
                    .ok_or_else(|| not_found("User", &email))?
            }
        };
        let u = apply_user(&call, &row)?;
        call.acc.put_user(u.clone()).await?;
        Ok(Value::Object(object(&u)))
    })
    .await
}

/// `POST /user/delete`: `{"user_ids": [...]}`.
pub async fn user_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let ids = call.list("user_ids");
        if ids.is_empty() {
            return Err(required("user_ids"));
        }
        for id in &ids {
            call.acc.remove_user(id).await?;
        }
        Ok(json!({ "deleted_users": ids }))
    })
    .await
}

/// `GET /user/info?user_id=`.
pub async fn user_info(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call.query("user_id").ok_or_else(|| required("user_id"))?;
        let u = user_of(&call, &id).await?;
        let keys: Vec<Value> = call
            .acc
            .keys()
            .iter()
            .filter(|k| k.user_id.as_deref() == Some(id.as_str()))
            .map(|k| Value::Object(object(&**k)))
            .collect();
        let teams: Vec<Value> = u
            .teams
            .iter()
            .filter_map(|t| call.acc.team(t))
            .map(|t| team_object(&call, &t))
            .collect();
        Ok(json!({ "user_id": id, "user_info": object(&u), "keys": keys, "teams": teams }))
    })
    .await
}

/// `GET /user/list`.
pub async fn user_list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let page: usize = call
            .query("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let size: usize = call
            .query("page_size")
            .and_then(|p| p.parse().ok())
            .unwrap_or(25)
            .clamp(1, 100);
        let mut users = call.acc.store().all::<UserRow>().await.map_err(db_error)?;
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        let total = users.len();
        let page_rows: Vec<Value> = users
            .iter()
            .skip((page - 1) * size)
            .take(size)
            .map(|u| Value::Object(object(u)))
            .collect();
        Ok(json!({
            "users": page_rows,
            "total": total,
            "page": page,
            "page_size": size,
            "total_pages": total.div_ceil(size),
        }))
    })
    .await
}

// ---- customers (end users) ----

async fn customer_object(call: &Call, e: &EndUserRow) -> Value {
    let mut o = object(e);
    o.insert(
        "litellm_budget_table".into(),
        e.budget_id
            .as_deref()
            .and_then(|b| call.acc.budget(b))
            .map_or(Value::Null, |b| Value::Object(object(&*b))),
    );
    Value::Object(o)
}

/// Creates or updates the end user's own budget row from `max_budget` & co.
async fn customer_budget(call: &Call, e: &mut EndUserRow) -> Result<(), GatewayError> {
    let limits = [
        "max_budget",
        "budget_duration",
        "tpm_limit",
        "rpm_limit",
        "soft_budget",
        "max_parallel_requests",
    ];
    if !limits.iter().any(|f| call.body.contains_key(*f)) {
        return Ok(());
    }
    if call.body.contains_key("max_budget") && call.body.contains_key("budget_id") {
        return Err(GatewayError::invalid_request(
            "Cannot set both max_budget and budget_id",
            Some("budget_id".into()),
        ));
    }
    let existing = e.budget_id.as_deref().and_then(|b| call.acc.budget(b));
    let base = existing.map(|b| (*b).clone()).unwrap_or_else(|| BudgetRow {
        budget_id: uuid::Uuid::new_v4().to_string(),
        created_at: call.acc.now(),
        created_by: call.actor(),
        ..BudgetRow::default()
    });
    let mut b = merge(&base, &call.body, BUDGET_FIELDS)?;
    if call.body.contains_key("budget_duration") {
        b.budget_reset_at = reset_for(&call.acc, &call.body);
    }
    b.updated_at = call.acc.now();
    b.updated_by = call.actor();
    call.acc.put_budget(b.clone()).await?;
    e.budget_id = Some(b.budget_id);
    Ok(())
}

/// `POST /customer/new`.
pub async fn customer_new(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let id = call.str("user_id").ok_or_else(|| required("user_id"))?;
        if call
            .acc
            .store()
            .get::<EndUserRow>(&id)
            .await
            .map_err(db_error)?
            .is_some()
        {
            return Err(GatewayError::invalid_request(
                format!("Customer already exists, passed user_id={id}. Use /customer/update."),
                Some("user_id".into()),
            ));
        }
        let base = EndUserRow {
            user_id: id,
            ..EndUserRow::default()
        };
        let mut e = merge(
            &base,
            &call.body,
            &[
                "alias",
                "blocked",
                "allowed_model_region",
                "default_model",
                "budget_id",
            ],
        )?;
        customer_budget(&call, &mut e).await?;
        call.acc.put_end_user(e.clone()).await?;
        Ok(customer_object(&call, &e).await)
    })
    .await
}

/// `POST /customer/update`.
pub async fn customer_update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let id = call.str("user_id").ok_or_else(|| required("user_id"))?;
        let row = call
            .acc
            .store()
            .get::<EndUserRow>(&id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| not_found("Customer", &id))?;
        let mut e = merge(
            &row,
            &call.body,
            &[
                "alias",
                "blocked",
                "allowed_model_region",
                "default_model",
                "budget_id",
            ],
        )?;
        customer_budget(&call, &mut e).await?;
        call.acc.put_end_user(e.clone()).await?;
        Ok(customer_object(&call, &e).await)
    })
    .await
}

/// `GET /customer/info?end_user_id=`.
pub async fn customer_info(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call
            .query("end_user_id")
            .ok_or_else(|| required("end_user_id"))?;
        let e = call
            .acc
            .store()
            .get::<EndUserRow>(&id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| not_found("Customer", &id))?;
        Ok(customer_object(&call, &e).await)
    })
    .await
}

/// `GET /customer/list`.
pub async fn customer_list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = call
            .acc
            .store()
            .all::<EndUserRow>()
            .await
            .map_err(db_error)?;
        let mut out = Vec::new();
        for e in &rows {
            out.push(customer_object(&call, e).await);
        }
        Ok(Value::Array(out))
    })
    .await
}

/// `POST /customer/delete`: `{"user_ids": [...]}`.
pub async fn customer_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let ids = call.list("user_ids");
        if ids.is_empty() {
            return Err(required("user_ids"));
        }
        for id in &ids {
            call.acc.remove_end_user(id).await?;
        }
        Ok(json!({ "deleted_customers": ids }))
    })
    .await
}

async fn customer_block(call: Call, blocked: bool) -> Result<Value, GatewayError> {
    let ids = call.list("user_ids");
    if ids.is_empty() {
        return Err(required("user_ids"));
    }
    for id in &ids {
        let mut e = call
            .acc
            .store()
            .get::<EndUserRow>(id)
            .await
            .map_err(db_error)?
            .unwrap_or_else(|| EndUserRow {
                user_id: id.clone(),
                ..EndUserRow::default()
            });
        e.blocked = blocked;
        call.acc.put_end_user(e).await?;
    }
    Ok(json!({ if blocked { "blocked_users" } else { "unblocked_users" }: ids }))
}

/// `POST /customer/block`.
pub async fn customer_block_route(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    run(state, request, |call| customer_block(call, true)).await
}

/// `POST /customer/unblock`.
pub async fn customer_unblock_route(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    run(state, request, |call| customer_block(call, false)).await
}

// ---- budgets ----

/// `POST /budget/new`.
pub async fn budget_new(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let base = BudgetRow {
            budget_id: call
                .str("budget_id")
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            created_at: call.acc.now(),
            created_by: call.actor(),
            ..BudgetRow::default()
        };
        let mut b = merge(&base, &call.body, BUDGET_FIELDS)?;
        b.budget_reset_at = reset_for(&call.acc, &call.body);
        b.updated_at = call.acc.now();
        b.updated_by = call.actor();
        call.acc.put_budget(b.clone()).await?;
        Ok(Value::Object(object(&b)))
    })
    .await
}

/// `POST /budget/update`.
pub async fn budget_update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let id = call.str("budget_id").ok_or_else(|| required("budget_id"))?;
        let row = call
            .acc
            .store()
            .get::<BudgetRow>(&id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| not_found("Budget", &id))?;
        let mut b = merge(&row, &call.body, BUDGET_FIELDS)?;
        if call.body.contains_key("budget_duration") {
            b.budget_reset_at = reset_for(&call.acc, &call.body);
        }
        b.updated_at = call.acc.now();
        b.updated_by = call.actor();
        call.acc.put_budget(b.clone()).await?;
        Ok(Value::Object(object(&b)))
    })
    .await
}

/// `POST /budget/info`: `{"budgets": [...]}`.
pub async fn budget_info(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let ids = call.list("budgets");
        let mut out = Vec::new();
        for id in &ids {
            if let Some(b) = call
                .acc
                .store()
                .get::<BudgetRow>(id)
                .await
                .map_err(db_error)?
            {
                out.push(Value::Object(object(&b)));
            }
        }
        Ok(Value::Array(out))
    })
    .await
}

/// `GET /budget/list`.
pub async fn budget_list(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = call
            .acc
            .store()
            .all::<BudgetRow>()
            .await
            .map_err(db_error)?;
        Ok(Value::Array(
            rows.iter().map(|b| Value::Object(object(b))).collect(),
        ))
    })
    .await
}

/// `POST /budget/delete`: `{"id": ...}`.
pub async fn budget_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let id = call.str("id").ok_or_else(|| required("id"))?;
        if !call.acc.remove_budget(&id).await? {
            return Err(not_found("Budget", &id));
        }
        Ok(json!({ "id": id, "deleted": true }))
    })
    .await
}

// ---- team block, member update, models ----

async fn team_set_blocked(call: Call, blocked: bool) -> Result<Value, GatewayError> {
    let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
    let mut t = team_of(&call, &id).await?;
    t.blocked = blocked;
    t.updated_at = call.acc.now();
    call.acc.put_team(t.clone()).await?;
    Ok(team_object(&call, &t))
}

/// `POST /team/block`: `{team_id}`; the team's keys get 401 until `/team/unblock`.
pub async fn team_block(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| team_set_blocked(call, true)).await
}

/// `POST /team/unblock`: `{team_id}`.
pub async fn team_unblock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| team_set_blocked(call, false)).await
}

/// `POST /team/member_update`: `{team_id, user_id|user_email, max_budget_in_team?, role?,
/// tpm_limit?, rpm_limit?}`. Budget and limits live in the membership's budget row, as in
/// LiteLLM (created on first use); the role in the team's `members_with_roles`.
pub async fn team_member_update(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        check_budgets(&call.body)?;
        let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
        let mut t = team_of(&call, &id).await?;
        let wanted = call
            .str("user_id")
            .or_else(|| call.str("user_email"))
            .ok_or_else(|| required("user_id"))?;
        // A member may have been added by e-mail only: find the entry either way.
        let mut roles = t.members_with_roles.as_array().cloned().unwrap_or_default();
        let entry = roles.iter_mut().find(|m| {
            m.get("user_id").and_then(Value::as_str) == Some(wanted.as_str())
                || m.get("user_email").and_then(Value::as_str) == Some(wanted.as_str())
        });
        let Some(entry) = entry else {
            return Err(not_found("User", &format!("{wanted} in team {id}")));
        };
        let user_id = entry
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or(&wanted)
            .to_owned();
        let user_email = entry.get("user_email").cloned().unwrap_or(Value::Null);
        if let Some(role) = call.str("role") {
            if role != "admin" && role != "user" {
                return Err(GatewayError::invalid_request(
                    format!("Invalid role={role}. Must be one of 'admin', 'user'"),
                    Some("role".into()),
                ));
            }
            if let Some(o) = entry.as_object_mut() {
                o.insert("role".into(), json!(role));
            }
            t.members_with_roles = Value::Array(roles);
            t.updated_at = call.acc.now();
            call.acc.put_team(t.clone()).await?;
        }
        let limits = ["max_budget_in_team", "tpm_limit", "rpm_limit"];
        let mut membership = call
            .acc
            .members_of(&id)
            .into_iter()
            .find(|m| m.user_id == user_id)
            .unwrap_or_else(|| MembershipRow {
                user_id: user_id.clone(),
                team_id: id.clone(),
                spend: 0.0,
                budget_id: None,
            });
        let mut budget = None;
        if limits.iter().any(|f| call.body.contains_key(*f)) {
            let existing = membership
                .budget_id
                .as_deref()
                .and_then(|b| call.acc.budget(b));
            let mut b = existing.map(|b| (*b).clone()).unwrap_or_else(|| BudgetRow {
                budget_id: uuid::Uuid::new_v4().to_string(),
                created_at: call.acc.now(),
                created_by: call.actor(),
                ..BudgetRow::default()
            });
            let mut fields = call.body.clone();
            if let Some(max) = fields.remove("max_budget_in_team") {
                fields.insert("max_budget".into(), max);
            }
            b = merge(&b, &fields, &["max_budget", "tpm_limit", "rpm_limit"])?;
            b.updated_at = call.acc.now();
            b.updated_by = call.actor();
            call.acc.put_budget(b.clone()).await?;
            membership.budget_id = Some(b.budget_id.clone());
            call.acc.put_member(membership.clone()).await?;
            budget = Some(b);
        } else if let Some(b) = membership
            .budget_id
            .as_deref()
            .and_then(|b| call.acc.budget(b))
        {
            budget = Some((*b).clone());
        }
        Ok(json!({
            "team_id": id,
            "user_id": user_id,
            "user_email": user_email,
            "max_budget_in_team": budget.as_ref().and_then(|b| b.max_budget),
            "tpm_limit": budget.as_ref().and_then(|b| b.tpm_limit),
            "rpm_limit": budget.as_ref().and_then(|b| b.rpm_limit),
        }))
    })
    .await
}

async fn team_models(call: Call, add: bool) -> Result<Value, GatewayError> {
    let id = call.str("team_id").ok_or_else(|| required("team_id"))?;
    if !call.body.contains_key("models") {
        return Err(required("models"));
    }
    let models = call.list("models");
    let mut t = team_of(&call, &id).await?;
    if add {
        for m in models {
            if !t.models.contains(&m) {
                t.models.push(m);
            }
        }
    } else {
        t.models.retain(|m| !models.contains(m));
    }
    t.updated_at = call.acc.now();
    call.acc.put_team(t.clone()).await?;
    Ok(team_object(&call, &t))
}

/// `POST /team/model/add`: `{team_id, models}` adds to the team's allow-list.
pub async fn team_model_add(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| team_models(call, true)).await
}

/// `POST /team/model/delete`: `{team_id, models}` removes from the team's allow-list.
pub async fn team_model_delete(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| team_models(call, false)).await
}
