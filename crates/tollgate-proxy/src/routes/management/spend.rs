//! `/spend/logs`, `/spend/keys`, `/spend/users`, `/spend/tags`, `/global/spend`,
//! `/global/spend/logs`, `/global/spend/keys`, `/global/spend/teams`, `/global/spend/models`,
//! `/global/spend/end_users`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use chrono::{Days, NaiveDate};
use serde_json::{Map, Value, json};
use tollgate_core::GatewayError;
use tollgate_store::{KeyRow, SpendBy, SpendFilter, SpendRow, SpendTotal, UserRow};

use super::{Call, object, run};
use crate::accounting::db_error;
use crate::auth::hash_key;
use crate::state::AppState;

/// `YYYY-MM-DD` as the stored timestamp text of that day's start (`plus_days` later).
fn day(call: &Call, name: &str, plus_days: u64) -> Result<Option<String>, GatewayError> {
    match call.query(name) {
        Some(d) => day_text(name, &d, plus_days).map(Some),
        None => Ok(None),
    }
}

/// [`day`] for a value already read.
fn day_text(name: &str, d: &str, plus_days: u64) -> Result<String, GatewayError> {
    let date = NaiveDate::parse_from_str(d.get(..10).unwrap_or(d), "%Y-%m-%d").map_err(|_| {
        GatewayError::invalid_request(
            format!("{name} must be YYYY-MM-DD, got {d}"),
            Some(name.to_owned()),
        )
    })?;
    let date = date.checked_add_days(Days::new(plus_days)).unwrap_or(date);
    Ok(format!("{}T00:00:00.000", date.format("%Y-%m-%d")))
}

fn filter(call: &Call) -> Result<SpendFilter, GatewayError> {
    let api_key = call.query("api_key").map(|k| {
        if k.starts_with("sk-") {
            hash_key(&k)
        } else {
            k
        }
    });
    Ok(SpendFilter {
        api_key,
        user_id: call.query("user_id"),
        team_id: call.query("team_id"),
        model: call.query("model"),
        end_user: call.query("end_user").or_else(|| call.query("customer_id")),
        request_id: call.query("request_id"),
        start: day(call, "start_date", 0)?,
        // `end_date` is inclusive.
        end: day(call, "end_date", 1)?,
        limit: call
            .query("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(10_000),
    })
}

/// Per day: total, spend per model, spend per user.
type PerDay = BTreeMap<String, (f64, Map<String, Value>, Map<String, Value>)>;

fn by_day(rows: &[SpendRow]) -> PerDay {
    let mut days = PerDay::new();
    for r in rows {
        let d = r.start_time.format("%Y-%m-%d").to_string();
        let e = days.entry(d).or_default();
        e.0 += r.spend;
        let add = |m: &mut Map<String, Value>, k: &str| {
            let v = m.get(k).and_then(Value::as_f64).unwrap_or(0.0) + r.spend;
            m.insert(k.to_owned(), json!(v));
        };
        add(&mut e.1, r.model_group.as_deref().unwrap_or(&r.model));
        add(&mut e.2, r.user.as_deref().unwrap_or(""));
    }
    days
}

/// `GET /spend/logs`: rows (newest first), or per-day totals when a date range is given and
/// `summarize` is not `false`.
pub async fn logs(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let f = filter(&call)?;
        let rows = call.acc.store().spend_logs(&f).await.map_err(db_error)?;
        let summarize = call.query("summarize").as_deref() != Some("false");
        if summarize && (f.start.is_some() || f.end.is_some()) {
            let out: Vec<Value> = by_day(&rows)
                .into_iter()
                .map(|(d, (spend, models, users))| {
                    json!({"startTime": d, "spend": spend, "models": models, "users": users})
                })
                .collect();
            return Ok(Value::Array(out));
        }
        Ok(Value::Array(
            rows.iter().map(|r| Value::Object(object(r))).collect(),
        ))
    })
    .await
}

/// `GET /global/spend`: total spend and the proxy budget.
pub async fn global(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let spend = call
            .acc
            .store()
            .total_spend(None, None)
            .await
            .map_err(db_error)?;
        Ok(json!({ "spend": spend, "max_budget": call.acc.global_max_budget() }))
    })
    .await
}

/// `GET /global/spend/logs`: spend per day, optionally for one `api_key`.
pub async fn global_logs(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let f = filter(&call)?;
        let rows = call.acc.store().spend_logs(&f).await.map_err(db_error)?;
        let out: Vec<Value> = by_day(&rows)
            .into_iter()
            .map(|(d, (spend, models, _))| json!({"date": d, "spend": spend, "models": models}))
            .collect();
        Ok(Value::Array(out))
    })
    .await
}

/// The aggregate's groups for the query's `start_date`, `end_date` (inclusive), `api_key` and
/// `limit` (default `default_limit`).
async fn totals(
    call: &Call,
    by: SpendBy,
    default_limit: i64,
) -> Result<Vec<SpendTotal>, GatewayError> {
    let mut f = filter(call)?;
    f.limit = call
        .query("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l: &i64| *l > 0)
        .unwrap_or(default_limit);
    call.acc
        .store()
        .spend_totals(by, &f)
        .await
        .map_err(db_error)
}

/// `GET /spend/keys`: every key row, highest spend first.
pub async fn keys(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let mut rows = call.acc.store().all::<KeyRow>().await.map_err(db_error)?;
        rows.sort_by(|a, b| b.spend.total_cmp(&a.spend));
        Ok(Value::Array(
            rows.iter().map(|k| Value::Object(object(k))).collect(),
        ))
    })
    .await
}

/// `GET /spend/users`: user rows (one with `user_id`), highest spend first.
pub async fn users(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let only = call.query("user_id");
        let mut rows: Vec<UserRow> = call
            .acc
            .store()
            .all::<UserRow>()
            .await
            .map_err(db_error)?
            .into_iter()
            .filter(|u| only.as_deref().is_none_or(|id| u.user_id == id))
            .collect();
        rows.sort_by(|a, b| b.spend.total_cmp(&a.spend));
        Ok(Value::Array(
            rows.iter().map(|u| Value::Object(object(u))).collect(),
        ))
    })
    .await
}

/// `GET /spend/tags`: spend per request tag.
pub async fn tags(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = totals(&call, SpendBy::Tag, 1000).await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|t| {
                    json!({
                        "individual_request_tag": t.id,
                        "log_count": t.count,
                        "total_spend": t.spend,
                    })
                })
                .collect(),
        ))
    })
    .await
}

/// `GET /global/spend/keys`: spend per key, highest first (`limit`).
pub async fn global_keys(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = totals(&call, SpendBy::Key, 1000).await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|t| {
                    json!({
                        "api_key": t.id,
                        "total_spend": t.spend,
                        "key_alias": t.alias,
                        "key_name": t.name,
                    })
                })
                .collect(),
        ))
    })
    .await
}

/// `GET /global/spend/models`: spend per model, highest first (`limit`).
pub async fn global_models(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = totals(&call, SpendBy::Model, 1000).await?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|t| json!({"model": t.id, "total_spend": t.spend}))
                .collect(),
        ))
    })
    .await
}

/// `GET /global/spend/teams`: spend per team per day, in LiteLLM's chart shape
/// (`daily_spend` rows keyed by team alias, the `teams`, and `total_spend_per_team`).
pub async fn global_teams(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let rows = totals(&call, SpendBy::TeamDay, 100_000).await?;
        let mut days: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        let mut per_team: BTreeMap<String, f64> = BTreeMap::new();
        for t in rows {
            let team = t.alias.or(t.id).unwrap_or_default();
            let day = t.day.unwrap_or_default();
            let entry = days.entry(day.clone()).or_default();
            entry.insert("date".into(), json!(day));
            let before = entry.get(&team).and_then(Value::as_f64).unwrap_or(0.0);
            entry.insert(team.clone(), json!(before + t.spend));
            *per_team.entry(team).or_default() += t.spend;
        }
        let mut ranked: Vec<(String, f64)> = per_team.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(json!({
            "daily_spend": days.into_values().collect::<Vec<_>>(),
            "teams": ranked.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
            "total_spend_per_team": ranked
                .iter()
                .map(|(t, s)| json!({"team_id": t, "total_spend": s}))
                .collect::<Vec<_>>(),
        }))
    })
    .await
}

/// `GET`/`POST /global/spend/end_users`: spend per end user, highest first (at most 100 as in
/// LiteLLM, or `limit`); `api_key`, `startTime` and `endTime` (inclusive days) from the body
/// as LiteLLM takes them, or the query's `api_key`, `start_date`, `end_date`.
pub async fn global_end_users(State(state): State<Arc<AppState>>, request: Request) -> Response {
    run(state, request, |call| async move {
        let mut f = filter(&call)?;
        f.limit = call
            .query("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l: &i64| *l > 0)
            .unwrap_or(100);
        if let Some(k) = call.str("api_key") {
            f.api_key = Some(if k.starts_with("sk-") {
                hash_key(&k)
            } else {
                k
            });
        }
        if let Some(d) = call.str("startTime") {
            f.start = Some(day_text("startTime", &d, 0)?);
        }
        if let Some(d) = call.str("endTime") {
            f.end = Some(day_text("endTime", &d, 1)?);
        }
        let rows = call
            .acc
            .store()
            .spend_totals(SpendBy::EndUser, &f)
            .await
            .map_err(db_error)?;
        Ok(Value::Array(
            rows.into_iter()
                .map(|t| {
                    json!({
                        "end_user": t.id,
                        "total_count": t.count,
                        "total_spend": t.spend,
                    })
                })
                .collect(),
        ))
    })
    .await
}
