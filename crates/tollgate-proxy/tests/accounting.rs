//! Keys, budgets, rate limits and spend through the real HTTP routes, in process, with a
//! controllable clock, against SQLite (always) and PostgreSQL (when
//! `TOLLGATE_TEST_DATABASE_URL` is set; scripts/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use common::TempDir;
use serde_json::{Value, json};
use tollgate_config::Config;
use tollgate_mock::MockServer;
use tollgate_proxy::accounting::Accounting;
use tollgate_store::ManualClock;

const MASTER: &str = "sk-master";
/// `mock_response: "hello there"` is 10 prompt + 2 completion tokens: 10*0.001 + 2*0.002.
const COST: f64 = 0.014;

struct Gw {
    base: String,
    acc: Arc<Accounting>,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    _dir: TempDir,
    _mock: Option<MockServer>,
}

fn config(mock: Option<&MockServer>, extra: &str) -> String {
    let base = mock.map_or("http://127.0.0.1:1".to_owned(), MockServer::base_url);
    format!(
        "model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-up
      api_base: {base}
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: cheap
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-up
      api_base: {base}
    model_info:
      access_groups: [\"beta\"]
general_settings:
  master_key: {MASTER}
{extra}"
    )
}

async fn start_with(yaml: &str, url: Option<String>, mock: Option<MockServer>) -> Gw {
    let dir = TempDir::new("acc");
    let config = Config::from_yaml_str(yaml, Path::new("config.yaml")).unwrap();
    let url = url.unwrap_or_else(|| format!("sqlite://{}/t.db", dir.0.display()));
    let clock = common::clock();
    let acc = Accounting::open(
        &config,
        &url,
        &dir.0.join("journal"),
        clock.clone(),
        Arc::new(tollgate_proxy::accounting::DeploymentPrices),
    )
    .await
    .unwrap();
    let base = common::serve_with_accounting(&config, acc.clone()).await;
    Gw {
        base,
        acc,
        clock,
        http: reqwest::Client::new(),
        _dir: dir,
        _mock: mock,
    }
}

async fn start(extra: &str) -> Gw {
    start_with(&config(None, extra), None, None).await
}

impl Gw {
    async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(MASTER, method, path, body).await
    }

    async fn call(&self, key: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url).json(&body)
        };
        let r = req.bearer_auth(key).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn chat(&self, key: &str, model: &str) -> reqwest::Response {
        self.chat_body(key, json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "mock_response": "hello there"}))
            .await
    }

    async fn chat_body(&self, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn key(&self, body: Value) -> String {
        let (s, v) = self.admin("POST", "/key/generate", body).await;
        assert_eq!(s, 200, "{v}");
        v["key"].as_str().unwrap().to_owned()
    }

    async fn flushed(&self) {
        assert!(self.acc.queue().flush().await);
    }
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json::<Value>().await.unwrap()["error"].clone())
}

#[tokio::test]
async fn key_lifecycle_through_the_management_api() {
    let gw = start("").await;
    let (s, v) = gw
        .admin("POST", "/key/generate", json!({"key_alias": "app", "models": ["gpt-4o"], "metadata": {"team": "x"}, "model_rpm_limit": {"gpt-4o": 100}}))
        .await;
    assert_eq!(s, 200);
    let key = v["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sk-") && key.len() > 20);
    assert_eq!(
        v["token"].as_str().unwrap(),
        tollgate_proxy::auth::hash_key(&key)
    );
    assert_eq!(v["key_name"], format!("sk-...{}", &key[key.len() - 4..]));
    assert_eq!(v["model_rpm_limit"], json!({"gpt-4o": 100}));

    let r = gw.chat(&key, "gpt-4o").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-litellm-response-cost"],
        COST.to_string().as_str()
    );
    assert_eq!(
        r.headers()["x-litellm-key-spend"],
        COST.to_string().as_str()
    );
    gw.flushed().await;

    let (s, info) = gw
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    assert_eq!(s, 200);
    assert_eq!(info["key"], key);
    assert!((info["info"]["spend"].as_f64().unwrap() - COST).abs() < 1e-9);
    assert_eq!(info["info"]["key_alias"], "app");
    assert_eq!(info["info"]["metadata"]["team"], "x");
    assert!(info["info"].get("token").is_none());

    // Model allow-list: 403 with LiteLLM's type and message.
    let (s, e) = error_of(gw.chat(&key, "cheap").await).await;
    assert_eq!(s, 403);
    assert_eq!(e["type"], "key_model_access_denied");
    assert_eq!(
        e["message"],
        "key not allowed to access model. This key can only access models=['gpt-4o']. Tried to access cheap"
    );

    // Update: an access group opens `cheap`.
    let (s, _) = gw
        .admin(
            "POST",
            "/key/update",
            json!({"key": key, "models": ["gpt-4o", "beta"]}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(gw.chat(&key, "cheap").await.status(), 200);

    // Block / unblock.
    let (s, v) = gw.admin("POST", "/key/block", json!({"key": key})).await;
    assert_eq!((s, v["blocked"].clone()), (200, json!(true)));
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 401);
    assert_eq!(
        e["message"],
        "Authentication Error, Key is blocked. Update via `/key/unblock` if you're an admin."
    );
    gw.admin("POST", "/key/unblock", json!({"key": key})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);

    // List.
    let (s, l) = gw
        .admin("GET", "/key/list?key_alias=app", Value::Null)
        .await;
    assert_eq!(s, 200);
    assert_eq!(l["total_count"], 1);
    assert_eq!(l["keys"][0], tollgate_proxy::auth::hash_key(&key));

    // Regenerate: the old key stops working, the new one keeps the settings.
    let (s, v) = gw
        .admin("POST", "/key/regenerate", json!({"key": key}))
        .await;
    assert_eq!(s, 200);
    let new = v["key"].as_str().unwrap().to_owned();
    assert_ne!(new, key);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 401);
    assert_eq!(gw.chat(&new, "cheap").await.status(), 200);

    // Delete.
    let (s, v) = gw
        .admin("POST", "/key/delete", json!({"keys": [new]}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["deleted_keys"], json!([new]));
    let (s, e) = error_of(gw.chat(&new, "gpt-4o").await).await;
    assert_eq!(s, 401);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Invalid proxy server token passed")
    );
}

#[tokio::test]
async fn bad_keys_get_litellm_errors() {
    let gw = start("").await;
    let (s, e) = error_of(gw.chat("not-a-virtual-key", "gpt-4o").await).await;
    assert_eq!(s, 401);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("LiteLLM Virtual Key expected"),
        "{e}"
    );
    let (s, _) = error_of(gw.chat("sk-unknown-key-123", "gpt-4o").await).await;
    assert_eq!(s, 401);
    // Expiry follows the accounting clock.
    let key = gw.key(json!({"duration": "30s"})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    gw.clock.advance(Duration::seconds(31));
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 401);
    assert_eq!(e["type"], "expired_key");
    // Management needs an admin: a plain key gets 403, no key 401.
    let plain = gw.key(json!({})).await;
    let (s, _) = gw.call(&plain, "POST", "/key/generate", json!({})).await;
    assert_eq!(s, 403);
    let r = gw
        .http
        .post(format!("{}/key/generate", gw.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Negative budgets are refused.
    let (s, _) = gw
        .admin("POST", "/key/generate", json!({"max_budget": -1}))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn key_budget_is_enforced_and_resets_on_the_calendar() {
    let gw = start("litellm_settings:\n  timezone: UTC\n").await;
    let key = gw
        .key(json!({"max_budget": 0.02, "budget_duration": "1d"}))
        .await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert_eq!(e["type"], "budget_exceeded");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Budget has been exceeded! Current cost: 0.028"),
        "{e}"
    );
    // Still the same day: still refused.
    gw.clock.advance(Duration::hours(13));
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 429);
    // Past midnight the budget starts again.
    gw.clock.advance(Duration::hours(1));
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    gw.flushed().await;
}

/// A fresh database on the test PostgreSQL server, when one is configured.
async fn pg_database() -> Option<String> {
    let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!(
            "skipped: TOLLGATE_TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    Some(format!("{}/{name}", base.rsplit_once('/').unwrap().0))
}

/// The reset job (every 0.2-0.3 s here) starts the new period in the database by itself:
/// `/key/info` shows it without any request on the key.
async fn budget_reset_job(url: Option<String>) {
    let yaml = config(
        None,
        "  proxy_budget_rescheduler_min_time: 0.2\n  proxy_budget_rescheduler_max_time: 0.3\n",
    );
    let gw = start_with(&yaml, url, None).await;
    let key = gw
        .key(json!({"max_budget": 1.0, "budget_duration": "1d"}))
        .await;
    for _ in 0..2 {
        assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    }
    gw.flushed().await;
    let info = || async {
        gw.admin("GET", &format!("/key/info?key={key}"), Value::Null)
            .await
            .1["info"]
            .clone()
    };
    let before = info().await;
    assert!(
        (before["spend"].as_f64().unwrap() - 2.0 * COST).abs() < 1e-9,
        "{before}"
    );
    assert!(
        before["budget_reset_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-03-05T00:00:00")
    );
    // Several job runs on the same day change nothing.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(info().await["spend"], before["spend"]);
    gw.clock.advance(Duration::hours(15));
    let mut after = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = info().await;
        if after["spend"].as_f64() == Some(0.0) {
            break;
        }
    }
    assert_eq!(after["spend"].as_f64(), Some(0.0), "{after}");
    assert!(
        after["budget_reset_at"]
            .as_str()
            .unwrap()
            .starts_with("2026-03-06T00:00:00"),
        "{after}"
    );
    // The instance's own ledger follows: the whole budget is available again.
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    gw.flushed().await;
    assert!((info().await["spend"].as_f64().unwrap() - COST).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_budget_reset_job_resets_without_a_request() {
    budget_reset_job(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_budget_reset_job_resets_without_a_request() {
    let Some(url) = pg_database().await else {
        return;
    };
    budget_reset_job(Some(url)).await;
}

#[tokio::test]
async fn crossing_a_soft_budget_alerts_once_and_does_not_refuse() {
    let gw = start("").await;
    // Each call costs 0.014: the second takes the key from 0.014 to 0.028, past 0.02.
    let key = gw
        .key(json!({"soft_budget": 0.02, "max_budget": 1.0}))
        .await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.acc.soft_budget_alerts(), 0);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.acc.soft_budget_alerts(), 1);
    assert_eq!(
        gw.chat(&key, "gpt-4o").await.status(),
        200,
        "soft budgets only warn"
    );
    assert_eq!(gw.acc.soft_budget_alerts(), 1, "one alert per crossing");
    gw.flushed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_cannot_overspend_a_budget() {
    let gw = Arc::new(start("").await);
    let key = gw.key(json!({"max_budget": 0.01})).await;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let gw = gw.clone();
            let key = key.clone();
            tokio::spawn(async move { gw.chat(&key, "gpt-4o").await.status().as_u16() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 1, "one request fits in $0.01 of room");
    gw.flushed().await;
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!(spend <= 0.01 + COST + 1e-9, "overspent: {spend}");
}

#[tokio::test]
async fn rate_limits_per_key_model_team_and_end_user() {
    let gw = start("").await;
    let key = gw.key(json!({"rpm_limit": 2})).await;
    let r = gw.chat(&key, "gpt-4o").await;
    assert_eq!(r.headers()["x-ratelimit-api_key-remaining-requests"], "1");
    assert_eq!(r.headers()["x-ratelimit-api_key-limit-requests"], "2");
    gw.chat(&key, "gpt-4o").await;
    let r = gw.chat(&key, "gpt-4o").await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    assert_eq!(r.headers()["x-ratelimit-api_key-remaining-requests"], "0");
    let (_, e) = error_of(r).await;
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded for api_key: "),
        "{e}"
    );
    // A new window.
    gw.clock.advance(Duration::seconds(60));
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);

    // Tokens: 12 per call.
    let key = gw.key(json!({"tpm_limit": 20})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Limit type: tokens"),
        "{e}"
    );

    // Per model per key.
    let key = gw.key(json!({"model_rpm_limit": {"gpt-4o": 1}})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"].as_str().unwrap().contains("model_per_key"),
        "{e}"
    );
    assert_eq!(gw.chat(&key, "cheap").await.status(), 200);

    // Team.
    let (s, t) = gw
        .admin(
            "POST",
            "/team/new",
            json!({"team_alias": "t", "rpm_limit": 1}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let key = gw.key(json!({"team_id": t["team_id"]})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded for team: "),
        "{e}"
    );

    // End user, through a customer budget.
    let (s, _) = gw
        .admin(
            "POST",
            "/customer/new",
            json!({"user_id": "cust-1", "rpm_limit": 1}),
        )
        .await;
    assert_eq!(s, 200);
    let key = gw.key(json!({})).await;
    let body = json!({"model": "gpt-4o", "user": "cust-1", "messages": [{"role": "user", "content": "hi"}], "mock_response": "hello there"});
    assert_eq!(gw.chat_body(&key, body.clone()).await.status(), 200);
    let (s, e) = error_of(gw.chat_body(&key, body).await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"].as_str().unwrap().contains("end_user: cust-1"),
        "{e}"
    );
}

#[tokio::test]
async fn team_user_and_end_user_budgets() {
    let gw = start("").await;
    let (_, t) = gw
        .admin(
            "POST",
            "/team/new",
            json!({"team_id": "team-b", "max_budget": 0.01}),
        )
        .await;
    assert_eq!(t["team_id"], "team-b");
    let key = gw.key(json!({"team_id": "team-b"})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"].as_str().unwrap().contains("Team=team-b"),
        "{e}"
    );

    let (s, u) = gw
        .admin(
            "POST",
            "/user/new",
            json!({"user_id": "u-1", "max_budget": 0.01}),
        )
        .await;
    assert_eq!(s, 200);
    let ukey = u["key"].as_str().unwrap().to_owned();
    assert_eq!(gw.chat(&ukey, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&ukey, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("ExceededBudget: User=u-1 over budget."),
        "{e}"
    );

    gw.admin(
        "POST",
        "/customer/new",
        json!({"user_id": "c-1", "max_budget": 0.01}),
    )
    .await;
    let key = gw.key(json!({})).await;
    let body = json!({"model": "gpt-4o", "user": "c-1", "messages": [{"role": "user", "content": "hi"}], "mock_response": "hello there"});
    assert_eq!(gw.chat_body(&key, body.clone()).await.status(), 200);
    let (s, e) = error_of(gw.chat_body(&key, body).await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"].as_str().unwrap().contains("End User=c-1"),
        "{e}"
    );

    // Team member budget, through /team/member_add.
    let (_, t) = gw
        .admin("POST", "/team/new", json!({"team_id": "team-m"}))
        .await;
    assert_eq!(t["team_id"], "team-m");
    let (s, v) = gw
        .admin("POST", "/team/member_add", json!({"team_id": "team-m", "member": {"role": "user", "user_id": "mem-1"}, "max_budget_in_team": 0.01}))
        .await;
    assert_eq!(s, 200, "{v}");
    let key = gw
        .key(json!({"team_id": "team-m", "user_id": "mem-1"}))
        .await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("User=mem-1 in Team=team-m"),
        "{e}"
    );
    let (_, info) = gw
        .admin("GET", "/team/info?team_id=team-m", Value::Null)
        .await;
    assert_eq!(info["team_memberships"][0]["user_id"], "mem-1");
    assert_eq!(
        info["team_memberships"][0]["litellm_budget_table"]["max_budget"],
        0.01
    );
    let (s, _) = gw
        .admin(
            "POST",
            "/team/member_delete",
            json!({"team_id": "team-m", "user_id": "mem-1"}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn global_budget_and_model_budget() {
    let gw = start("litellm_settings:\n  max_budget: 0.02\n").await;
    let key = gw.key(json!({"model_max_budget": {"cheap": {"budget_limit": 0.0000001, "time_period": "1d"}}})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!(s, 429);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("LiteLLM Proxy has exceeded its budget"),
        "{e}"
    );
}

#[tokio::test]
async fn management_endpoints_for_teams_users_customers_and_budgets() {
    let gw = start("").await;
    let (s, t) = gw.admin("POST", "/team/new", json!({"team_alias": "alpha", "models": ["gpt-4o"], "members_with_roles": [{"role": "admin", "user_id": "ann"}]})).await;
    assert_eq!(s, 200);
    let id = t["team_id"].as_str().unwrap().to_owned();
    let (s, v) = gw
        .admin(
            "POST",
            "/team/update",
            json!({"team_id": id, "max_budget": 5.0}),
        )
        .await;
    assert_eq!((s, v["data"]["max_budget"].clone()), (200, json!(5.0)));
    let (_, l) = gw.admin("GET", "/team/list", Value::Null).await;
    assert!(
        l.as_array()
            .unwrap()
            .iter()
            .any(|x| x["team_alias"] == "alpha")
    );
    let (_, u) = gw.admin("GET", "/user/info?user_id=ann", Value::Null).await;
    assert_eq!(u["user_info"]["teams"], json!([id]));
    // A team key cannot reach models outside the team's list.
    let key = gw.key(json!({"team_id": id})).await;
    let (s, e) = error_of(gw.chat(&key, "cheap").await).await;
    assert_eq!(
        (s, e["type"].clone()),
        (403, json!("team_model_access_denied"))
    );
    let (s, _) = gw
        .admin("POST", "/team/delete", json!({"team_ids": [id]}))
        .await;
    assert_eq!(s, 200);
    let (s, _) = gw
        .admin("GET", &format!("/team/info?team_id={id}"), Value::Null)
        .await;
    assert_eq!(s, 404);

    let (s, u) = gw
        .admin(
            "POST",
            "/user/new",
            json!({"user_email": "a@b.c", "auto_create_key": false}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(u.get("key").is_none());
    let uid = u["user_id"].as_str().unwrap().to_owned();
    let (s, u) = gw
        .admin(
            "POST",
            "/user/update",
            json!({"user_email": "a@b.c", "user_role": "proxy_admin"}),
        )
        .await;
    assert_eq!((s, u["user_role"].clone()), (200, json!("proxy_admin")));
    // A key of a proxy_admin user may manage.
    let admin_key = gw.key(json!({"user_id": uid})).await;
    let (s, _) = gw
        .call(&admin_key, "POST", "/key/generate", json!({}))
        .await;
    assert_eq!(s, 200);
    let (_, l) = gw.admin("GET", "/user/list", Value::Null).await;
    assert!(l["total"].as_u64().unwrap() >= 1);
    let (s, _) = gw
        .admin("POST", "/user/delete", json!({"user_ids": [uid]}))
        .await;
    assert_eq!(s, 200);

    let (s, c) = gw
        .admin(
            "POST",
            "/customer/new",
            json!({"user_id": "end-1", "max_budget": 3.0, "alias": "E"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(c["litellm_budget_table"]["max_budget"], 3.0);
    let (s, _) = gw
        .admin("POST", "/customer/new", json!({"user_id": "end-1"}))
        .await;
    assert_eq!(s, 400);
    gw.admin("POST", "/customer/block", json!({"user_ids": ["end-1"]}))
        .await;
    let key = gw.key(json!({})).await;
    let body = json!({"model": "gpt-4o", "user": "end-1", "messages": [{"role": "user", "content": "hi"}], "mock_response": "x"});
    assert_eq!(gw.chat_body(&key, body.clone()).await.status(), 403);
    gw.admin("POST", "/customer/unblock", json!({"user_ids": ["end-1"]}))
        .await;
    assert_eq!(gw.chat_body(&key, body).await.status(), 200);
    let (_, info) = gw
        .admin("GET", "/customer/info?end_user_id=end-1", Value::Null)
        .await;
    assert_eq!(info["alias"], "E");
    let (_, l) = gw.admin("GET", "/customer/list", Value::Null).await;
    assert_eq!(l.as_array().unwrap().len(), 1);
    let (s, _) = gw
        .admin("POST", "/customer/delete", json!({"user_ids": ["end-1"]}))
        .await;
    assert_eq!(s, 200);

    let (s, b) = gw
        .admin(
            "POST",
            "/budget/new",
            json!({"budget_id": "b1", "max_budget": 2.0, "rpm_limit": 5}),
        )
        .await;
    assert_eq!((s, b["max_budget"].clone()), (200, json!(2.0)));
    let (_, b) = gw
        .admin(
            "POST",
            "/budget/update",
            json!({"budget_id": "b1", "max_budget": 4.0}),
        )
        .await;
    assert_eq!(b["max_budget"], 4.0);
    let (_, l) = gw
        .admin("POST", "/budget/info", json!({"budgets": ["b1"]}))
        .await;
    assert_eq!(l[0]["rpm_limit"], 5);
    let (_, l) = gw.admin("GET", "/budget/list", Value::Null).await;
    assert!(l.as_array().unwrap().iter().any(|b| b["budget_id"] == "b1"));
    let (s, _) = gw
        .admin("POST", "/budget/delete", json!({"id": "b1"}))
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn every_request_writes_one_spend_row_including_failures_and_streams() {
    let mock = MockServer::start().await.unwrap();
    let yaml = config(Some(&mock), "");
    let gw = start_with(&yaml, None, Some(mock)).await;
    let key = gw.key(json!({"key_alias": "spender"})).await;
    let hash = tollgate_proxy::auth::hash_key(&key);
    // Success (real upstream), streamed success, and a failure.
    let r = gw
        .chat_body(&key, json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tags": ["t1"]}))
        .await;
    assert_eq!(r.status(), 200);
    let r = gw
        .chat_body(&key, json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("[DONE]"));
    let r = gw
        .chat_body(&key, json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "mock_response": "litellm.RateLimitError"}))
        .await;
    let failed_status = r.status();
    gw.flushed().await;
    let (s, rows) = gw
        .admin("GET", &format!("/spend/logs?api_key={key}"), Value::Null)
        .await;
    assert_eq!(s, 200);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let ok: Vec<_> = rows.iter().filter(|r| r["status"] == "success").collect();
    assert_eq!(ok.len(), if failed_status == 200 { 3 } else { 2 });
    for r in &ok {
        assert_eq!(r["api_key"], hash);
        assert!(r["spend"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["total_tokens"].as_i64().unwrap() > 0, "{r}");
        assert_eq!(r["model_group"], "gpt-4o");
        assert_eq!(r["metadata"]["user_api_key_alias"], "spender");
    }
    assert!(rows.iter().any(|r| r["request_tags"] == json!(["t1"])));
    let (_, g) = gw.admin("GET", "/global/spend", Value::Null).await;
    let total: f64 = ok.iter().map(|r| r["spend"].as_f64().unwrap()).sum();
    assert!((g["spend"].as_f64().unwrap() - total).abs() < 1e-9);
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    assert!((info["info"]["spend"].as_f64().unwrap() - total).abs() < 1e-9);
    let (_, days) = gw.admin("GET", "/global/spend/logs", Value::Null).await;
    assert_eq!(days.as_array().unwrap().len(), 1);
    let (_, none) = gw
        .admin(
            "GET",
            "/spend/logs?api_key=nope&summarize=false",
            Value::Null,
        )
        .await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_failure_row_with_zero_cost() {
    let gw = start("").await;
    let key = gw.key(json!({})).await;
    let r = gw
        .chat_body(
            &key,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 500);
    gw.flushed().await;
    let (_, rows) = gw
        .admin(
            "GET",
            &format!("/spend/logs?api_key={key}&summarize=false"),
            Value::Null,
        )
        .await;
    assert_eq!(rows[0]["status"], "failure");
    assert_eq!(rows[0]["spend"], 0.0);
    assert_eq!(
        rows[0]["metadata"]["error_information"]["error_code"],
        "500"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_keys_and_spend_through_postgres() {
    let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!(
            "skipped: TOLLGATE_TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        return;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let yaml = config(None, "");
    let (a, b) = tokio::join!(
        start_with(&yaml, Some(url.clone()), None),
        start_with(&yaml, Some(url.clone()), None)
    );
    // Made on A, used on B at once (B looks the unknown hash up in the database).
    let key = a.key(json!({"max_budget": 10.0})).await;
    for i in 0..10 {
        let gw = if i % 2 == 0 { &a } else { &b };
        assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    }
    a.flushed().await;
    b.flushed().await;
    let (_, info) = a
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    assert!(
        (info["info"]["spend"].as_f64().unwrap() - 10.0 * COST).abs() < 1e-9,
        "{info}"
    );
    let (_, rows) = b
        .admin(
            "GET",
            &format!("/spend/logs?api_key={key}&summarize=false"),
            Value::Null,
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 10);
    // A block on A reaches B after its refresh.
    a.admin("POST", "/key/block", json!({"key": key})).await;
    b.acc.refresh().await.unwrap();
    assert_eq!(b.chat(&key, "gpt-4o").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_limits_are_exact_across_instances() {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tollgate-redis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/shared.db", dir.display());
    let yaml = config(None, &format!("router_settings:\n  redis_url: {redis}\n"));
    let a = start_with(&yaml, Some(db.clone()), None).await;
    let b = start_with(&yaml, Some(db), None).await;
    let key = a.key(json!({"rpm_limit": 4})).await;
    let mut ok = 0;
    for i in 0..8 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = gw.chat(&key, "gpt-4o").await;
        if r.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(r.status(), 429);
        }
    }
    assert_eq!(ok, 4, "the two instances share one limit of 4");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two instances on one database and one Redis, a key with $0.1 left, 60 concurrent calls split
/// across both: without shared spend each instance would let about $0.1 through on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_a_budget_holds_across_instances() {
    budget_across_instances(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_a_budget_holds_across_instances_on_postgres() {
    if std::env::var("TOLLGATE_TEST_REDIS_URL").is_err() {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    }
    let Some(url) = pg_database().await else {
        return;
    };
    budget_across_instances(Some(url)).await;
}

/// `db`: a PostgreSQL database, else one SQLite file shared by both instances.
async fn budget_across_instances(db: Option<String>) {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tollgate-redis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = db.unwrap_or_else(|| format!("sqlite://{}/shared.db", dir.display()));
    let yaml = config(None, &format!("router_settings:\n  redis_url: {redis}\n"));
    let a = Arc::new(start_with(&yaml, Some(db.clone()), None).await);
    let b = Arc::new(start_with(&yaml, Some(db), None).await);
    let max = 0.1;
    let key = a.key(json!({"max_budget": max})).await;
    // `max_tokens: 2` keeps each reservation near the real cost, so several calls are in
    // flight at once on each instance.
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
        "mock_response": "hello there", "max_tokens": 2});
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let gw = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            let body = body.clone();
            tokio::spawn(async move { gw.chat_body(&key, body).await.status().as_u16() })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // Sequential calls after the burst, alternating, before any cache refresh: still refused.
    for i in 0..6 {
        let gw = if i % 2 == 0 { &a } else { &b };
        if gw.chat_body(&key, body.clone()).await.status() == 200 {
            ok += 1;
        }
    }
    a.flushed().await;
    b.flushed().await;
    let (_, info) = a
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    let spend = info["info"]["spend"].as_f64().unwrap();
    assert!(
        (spend - ok as f64 * COST).abs() < 1e-9,
        "{spend} vs {ok} calls"
    );
    // Not refusing everything either (a release still in flight may refuse a call early).
    assert!(ok >= 5, "the budget lets about $0.1 through: {ok} calls");
    assert!(
        spend <= max + 2.0 * COST + 1e-9,
        "two instances overspent: {spend} for a budget of {max}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_local_limits() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = start(&format!(
        "router_settings:\n  redis_url: redis://127.0.0.1:{port}\n"
    ))
    .await;
    let key = gw.key(json!({"rpm_limit": 1})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 429);
    // Budgets fall back to this instance's ledger too.
    let key = gw.key(json!({"max_budget": 0.02})).await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let (s, e) = error_of(gw.chat(&key, "gpt-4o").await).await;
    assert_eq!((s, e["type"].as_str()), (429, Some("budget_exceeded")));
}

/// A local HTTP server that records every JSON post as (path, body).
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<(String, Value)>>>) {
    let posts: Arc<std::sync::Mutex<Vec<(String, Value)>>> = Arc::default();
    let seen = posts.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, axum::Json(body): axum::Json<Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((uri.path().to_owned(), body));
                "ok"
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, posts)
}

/// Waits until `n` posts arrived (or a few seconds passed) and returns them.
async fn posts_after(
    posts: &std::sync::Mutex<Vec<(String, Value)>>,
    n: usize,
) -> Vec<(String, Value)> {
    for _ in 0..50 {
        if posts.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Anything beyond `n` would be a duplicate: give it a moment to show up.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    posts.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_alerts_go_to_slack_and_the_webhook_once_per_ttl() {
    let (base, posts) = receiver().await;
    let gw = start(&format!(
        "  alerting: [\"slack\", \"webhook\"]
  alert_to_webhook_url:
    budget_alerts: {base}/slack
  alerting_args:
    budget_alert_ttl: 3600
environment_variables:
  WEBHOOK_URL: {base}/webhook
"
    ))
    .await;
    // 0.014 a call: the 2nd passes the soft budget, the 4th the budget.
    let key = gw
        .key(json!({"soft_budget": 0.02, "max_budget": 0.05, "key_alias": "alerted"}))
        .await;
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert!(
        posts_after(&posts, 1).await.is_empty(),
        "no event at 28% of the budget"
    );
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let got = posts_after(&posts, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let webhook = &got.iter().find(|(p, _)| p == "/webhook").unwrap().1;
    assert_eq!(webhook["event"], "soft_budget_crossed");
    assert_eq!(webhook["event_group"], "key");
    assert_eq!(webhook["key_alias"], "alerted");
    assert_eq!(webhook["token"], tollgate_store::hash_key(&key));
    assert_eq!(webhook["soft_budget"], 0.02);
    assert_eq!(webhook["max_budget"], 0.05);
    assert!((webhook["spend"].as_f64().unwrap() - 2.0 * COST).abs() < 1e-9);
    let slack = &got.iter().find(|(p, _)| p == "/slack").unwrap().1;
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("Soft Budget Crossed"),
        "{slack}"
    );
    // Still over the soft budget: the same alert is not sent again within the TTL.
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    assert_eq!(posts_after(&posts, 3).await.len(), 2);
    // Over the budget: a new event.
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
    let got = posts_after(&posts, 4).await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got[2].1["event"].as_str().or(got[3].1["event"].as_str()),
        Some("budget_crossed")
    );
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 429);

    // After the TTL the alert may repeat.
    let soft_only = gw.key(json!({"soft_budget": 0.02})).await;
    posts.lock().unwrap().clear();
    for _ in 0..3 {
        assert_eq!(gw.chat(&soft_only, "gpt-4o").await.status(), 200);
    }
    assert_eq!(posts_after(&posts, 2).await.len(), 2);
    gw.clock.advance(Duration::hours(2));
    assert_eq!(gw.chat(&soft_only, "gpt-4o").await.status(), 200);
    assert_eq!(posts_after(&posts, 4).await.len(), 4);
    assert_eq!(gw.acc.budget_alerts_dropped(), 0);
}

/// With Redis, two instances judge a soft budget on their combined spend and send its alert
/// once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_instances_alert_once_on_their_combined_spend() {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let (base, posts) = receiver().await;
    let dir = std::env::temp_dir().join(format!("tollgate-redis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/shared.db", dir.display());
    let yaml = config(
        None,
        &format!(
            "  alerting: [\"webhook\"]
router_settings:
  redis_url: {redis}
environment_variables:
  WEBHOOK_URL: {base}/webhook
"
        ),
    );
    let a = start_with(&yaml, Some(db.clone()), None).await;
    let b = start_with(&yaml, Some(db), None).await;
    // Neither instance alone passes 0.04 in four calls (2 x 0.014 each); together they do.
    let key = a.key(json!({"soft_budget": 0.04})).await;
    for i in 0..4 {
        let gw = if i % 2 == 0 { &a } else { &b };
        assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 200);
        // Let the release (and its shared spend) land before the next call.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = posts_after(&posts, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1["event"], "soft_budget_crossed");
    assert!((got[0].1["spend"].as_f64().unwrap() - 3.0 * COST).abs() < 1e-9);
    assert_eq!(a.acc.soft_budget_alerts() + b.acc.soft_budget_alerts(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reservation whose release never reached Redis stops holding the budget after a while,
/// even while the budget is in use.
#[tokio::test]
async fn with_redis_a_stranded_reservation_expires() {
    use tollgate_proxy::accounting::shared::{Shared, SharedBudget, SharedLimiter};
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let s = SharedLimiter::new(&redis).unwrap();
    let budget = [SharedBudget {
        id: format!("key:{}", uuid::Uuid::new_v4()),
        period: 0,
        max: Some(1.0),
        floor: 0.0,
        amount: 0.6,
    }];
    let t = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
    let admitted = |r: &Shared| matches!(r, Shared::Admitted(_));
    assert!(admitted(&s.admit(&[], &budget, t).await));
    assert!(admitted(&s.admit(&[], &budget, t).await));
    match s.admit(&[], &budget, t).await {
        Shared::OverBudget { index, spent } => {
            assert_eq!(index, 0);
            assert!((spent - 1.2).abs() < 1e-9, "{spent}");
        }
        _ => panic!("two open reservations of 0.6 fill a budget of 1"),
    }
    // One is settled at its real cost, the other is never released.
    let after = s.release(&[], 0, t, &budget, 0.1).await.unwrap();
    assert!((after[0] - 0.1).abs() < 1e-9);
    assert!(admitted(
        &s.admit(&[], &budget, t + Duration::minutes(5)).await
    ));
    // 16 minutes on, only the settled spend and the 5-minute-old reservation still count.
    let later = t + Duration::minutes(16);
    let small = [SharedBudget {
        amount: 0.05,
        ..budget[0].clone()
    }];
    assert!(admitted(&s.admit(&[], &small, later).await));
    match s.admit(&[], &small, later).await {
        Shared::Admitted(_) => {}
        _ => panic!("the stranded reservation still counts"),
    }
}
