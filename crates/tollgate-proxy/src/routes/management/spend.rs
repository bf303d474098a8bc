//! `/spend/logs`, `/global/spend`, `/global/spend/logs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use chrono::{Days, NaiveDate};
use serde_json::{Map, Value, json};
use tollgate_core::GatewayError;
use tollgate_store::{SpendFilter, SpendRow};

use super::{Call, object, run};
use crate::accounting::db_error;
use crate::auth::hash_key;
use crate::state::AppState;

/// `YYYY-MM-DD` as the stored timestamp text of that day's start (`plus_days` later).
fn day(call: &Call, name: &str, plus_days: u64) -> Result<Option<String>, GatewayError> {
    let Some(d) = call.query(name) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(d.get(..10).unwrap_or(&d), "%Y-%m-%d").map_err(|_| {
        GatewayError::invalid_request(
            format!("{name} must be YYYY-MM-DD, got {d}"),
            Some(name.to_owned()),
        )
    })?;
    let date = date.checked_add_days(Days::new(plus_days)).unwrap_or(date);
    Ok(Some(format!("{}T00:00:00.000", date.format("%Y-%m-%d"))))
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
