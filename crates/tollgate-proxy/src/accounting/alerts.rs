//! LiteLLM's budget alerts: `general_settings.alerting: ["slack"]` posts a message to
//! `SLACK_WEBHOOK_URL` (or `alert_to_webhook_url.budget_alerts`), `["webhook"]` posts the
//! webhook event JSON (`budget_crossed`, `soft_budget_crossed`, `threshold_crossed` with
//! LiteLLM's CallInfo fields) to `WEBHOOK_URL`. Each entity alerts at most once per event per
//! `alerting_args.budget_alert_ttl` seconds (24 h by default; across instances when Redis is
//! configured). Alerts go through a bounded queue to one background sender, so a request never
//! waits on a webhook; a full queue drops the alert and a failed post is logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tollgate_config::Config;

use super::shared::SharedLimiter;

/// Alerts waiting to be sent; more are dropped (and counted).
const QUEUE: usize = 1024;
/// Longest wait for one webhook post.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// LiteLLM's `budget_alert_ttl` default.
const DEFAULT_TTL_SECS: i64 = 86_400;

/// Who spent: the fields of LiteLLM's CallInfo that describe the entity and its key.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// `key`, `user`, `team`, `team_member`, `end_user` or `proxy`.
    pub group: &'static str,
    /// The entity's id (key hash, user id, ...), for de-duplication.
    pub id: String,
    pub token: Option<String>,
    pub key_alias: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub team_alias: Option<String>,
    pub organization_id: Option<String>,
    pub customer_id: Option<String>,
}

#[derive(Debug)]
struct Alert {
    /// De-duplication key, for the cross-instance check.
    dedupe: String,
    event: Value,
    text: String,
}

/// The budget alerter.
#[derive(Debug)]
pub struct Alerter {
    tx: mpsc::Sender<Alert>,
    ttl_secs: i64,
    /// When each (entity, event) last alerted on this instance.
    sent: Mutex<HashMap<String, DateTime<Utc>>>,
    dropped: AtomicU64,
}

/// Where budget alerts go.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Targets {
    pub slack: Vec<String>,
    pub webhook: Vec<String>,
}

/// The budget alert targets configured, or `None` when budget alerting is off.
pub fn targets(config: &Config) -> Option<Targets> {
    let gs = &config.general_settings.extra;
    let names = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let alerting = names(gs.get("alerting"));
    if alerting.is_empty() {
        return None;
    }
    if let Some(types) = gs.get("alert_types")
        && !names(Some(types)).iter().any(|t| t == "budget_alerts")
    {
        return None;
    }
    let mut t = Targets::default();
    for a in &alerting {
        match a.as_str() {
            "slack" => {
                let per_type = names(
                    gs.get("alert_to_webhook_url")
                        .and_then(|m| m.get("budget_alerts")),
                );
                t.slack = if per_type.is_empty() {
                    config.env.get("SLACK_WEBHOOK_URL").into_iter().collect()
                } else {
                    per_type
                };
                if t.slack.is_empty() {
                    tracing::warn!("alerting: slack is on but SLACK_WEBHOOK_URL is not set");
                }
            }
            "webhook" => {
                t.webhook = config.env.get("WEBHOOK_URL").into_iter().collect();
                if t.webhook.is_empty() {
                    tracing::warn!("alerting: webhook is on but WEBHOOK_URL is not set");
                }
            }
            other => tracing::warn!("alerting: {other} alerts are not supported, ignored"),
        }
    }
    (!t.slack.is_empty() || !t.webhook.is_empty()).then_some(t)
}

/// LiteLLM's budget event for a spend: over the budget, over the soft budget, or within 5% /
/// 15% of the budget.
pub fn event(spend: f64, max: Option<f64>, soft: Option<f64>) -> Option<(&'static str, String)> {
    if let Some(max) = max
        && spend >= max
    {
        return Some((
            "budget_crossed",
            format!("Budget Crossed\nTotal Budget:`{max}`"),
        ));
    }
    if let Some(soft) = soft
        && spend >= soft
    {
        return Some((
            "soft_budget_crossed",
            format!("Soft Budget Crossed: Total Soft Budget:`{soft}`"),
        ));
    }
    let max = max.filter(|m| *m > 0.0)?;
    let left = (max - spend) / max;
    if left <= 0.05 {
        Some(("threshold_crossed", "5% Threshold Crossed ".to_owned()))
    } else if left <= 0.15 {
        Some(("threshold_crossed", "15% Threshold Crossed".to_owned()))
    } else {
        None
    }
}

impl Alerter {
    /// Starts the background sender. `shared` (Redis) de-duplicates across instances.
    pub fn start(config: &Config, targets: Targets, shared: Option<Arc<SharedLimiter>>) -> Self {
        let ttl_secs = config
            .general_settings
            .extra
            .get("alerting_args")
            .and_then(|a| a.get("budget_alert_ttl"))
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
            .map_or(DEFAULT_TTL_SECS, |s| s.max(0.0) as i64);
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(send_all(rx, targets, shared, ttl_secs));
        Self {
            tx,
            ttl_secs,
            sent: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Alerts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues an alert for `who` at `spend` if a budget event applies and it has not alerted
    /// within the TTL. Never waits.
    pub fn budget(
        &self,
        who: &Subject,
        spend: f64,
        max: Option<f64>,
        soft: Option<f64>,
        now: DateTime<Utc>,
    ) {
        let Some((name, message)) = event(spend, max, soft) else {
            return;
        };
        let dedupe = format!("{}:{}:{name}:{message}", who.group, who.id);
        {
            let Ok(mut sent) = self.sent.lock() else {
                return;
            };
            if sent
                .get(&dedupe)
                .is_some_and(|t| (now - *t).num_seconds() < self.ttl_secs)
            {
                return;
            }
            if sent.len() > 100_000 {
                sent.retain(|_, t| (now - *t).num_seconds() < self.ttl_secs);
            }
            sent.insert(dedupe.clone(), now);
        }
        let event = json!({
            "spend": spend,
            "max_budget": max,
            "soft_budget": soft,
            "token": who.token,
            "customer_id": who.customer_id,
            "user_id": who.user_id,
            "team_id": who.team_id,
            "team_alias": who.team_alias,
            "organization_id": who.organization_id,
            "user_email": Value::Null,
            "key_alias": who.key_alias,
            "projected_exceeded_date": Value::Null,
            "projected_spend": Value::Null,
            "event": name,
            "event_group": who.group,
            "event_message": message,
        });
        let mut text = format!("{message}\n\n*Spend:* `{spend}`");
        if let Some(m) = max {
            text.push_str(&format!("\n*Max Budget:* `{m}`"));
        }
        for (label, v) in [
            ("Entity", Some(format!("{} {}", who.group, who.id))),
            ("Key Alias", who.key_alias.clone()),
            ("User ID", who.user_id.clone()),
            ("Team ID", who.team_id.clone()),
            ("Team Alias", who.team_alias.clone()),
        ] {
            if let Some(v) = v {
                text.push_str(&format!("\n*{label}:* `{v}`"));
            }
        }
        if self
            .tx
            .try_send(Alert {
                dedupe,
                event,
                text,
            })
            .is_err()
        {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                tracing::warn!(dropped = n + 1, "budget alert queue full, alerts dropped");
            }
        }
    }
}

async fn send_all(
    mut rx: mpsc::Receiver<Alert>,
    targets: Targets,
    shared: Option<Arc<SharedLimiter>>,
    ttl_secs: i64,
) {
    let http = reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .build()
        .unwrap_or_default();
    while let Some(alert) = rx.recv().await {
        // Another instance may have sent the same alert within the TTL.
        if let Some(s) = &shared
            && ttl_secs > 0
            && s.claim(&format!("alert:{}", alert.dedupe), ttl_secs).await == Some(false)
        {
            continue;
        }
        let slack = json!({ "text": alert.text });
        let posts = targets
            .slack
            .iter()
            .map(|u| (u, &slack))
            .chain(targets.webhook.iter().map(|u| (u, &alert.event)));
        for (url, body) in posts {
            match http.post(url).json(body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(status = %r.status(), "budget alert post refused"),
                Err(e) => tracing::warn!("budget alert post failed: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn litellm_budget_events() {
        assert_eq!(
            event(10.0, Some(10.0), Some(5.0)).map(|e| e.0),
            Some("budget_crossed")
        );
        assert_eq!(
            event(6.0, Some(10.0), Some(5.0)).map(|e| e.0),
            Some("soft_budget_crossed")
        );
        assert_eq!(
            event(9.6, Some(10.0), None).map(|e| e.1),
            Some("5% Threshold Crossed ".to_owned())
        );
        assert_eq!(
            event(8.6, Some(10.0), None).map(|e| e.1),
            Some("15% Threshold Crossed".to_owned())
        );
        assert_eq!(event(8.0, Some(10.0), None), None);
        assert_eq!(event(4.0, None, Some(5.0)), None);
    }
}
