//! The management routes beyond key and team basics: team block and member/model updates,
//! key spend resets, aliases, `/v2/key/info`, grace periods, temporary budget increases, and
//! the spend reports, through the real HTTP routes with a controllable clock, against SQLite
//! (always) and PostgreSQL (when `TOLLGATE_TEST_DATABASE_URL` is set; scripts/test.sh starts
//! one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::Duration;
use common::TempDir;
use serde_json::{Value, json};
use tollgate_config::Config;
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
}

const CONFIG: &str = "model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-up
      api_base: http://127.0.0.1:1
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
  - model_name: cheap
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: sk-up
      api_base: http://127.0.0.1:1
      input_cost_per_token: 0.0001
      output_cost_per_token: 0.0002
general_settings:
  master_key: sk-master
";

async fn start(url: Option<String>) -> Gw {
    start_with(url, "").await
}

/// A gateway on `url` (else a fresh SQLite file) with `extra` YAML after the config.
async fn start_with(url: Option<String>, extra: &str) -> Gw {
    let dir = TempDir::new("mgmt");
    let yaml = format!("{CONFIG}{extra}");
    let config = Config::from_yaml_str(&yaml, Path::new("config.yaml")).unwrap();
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
    }
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

    /// A chat request; its status and (for errors) the `error` object.
    async fn chat_body(&self, key: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "mock_response": "hello there"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json::<Value>().await.unwrap()["error"].clone())
    }

    async fn chat(&self, key: &str) -> (u16, Value) {
        self.chat_body(key, json!({})).await
    }

    async fn key(&self, body: Value) -> String {
        let (s, v) = self.admin("POST", "/key/generate", body).await;
        assert_eq!(s, 200, "{v}");
        v["key"].as_str().unwrap().to_owned()
    }

    async fn spend_of(&self, key: &str) -> f64 {
        assert!(self.acc.queue().flush().await);
        let (s, v) = self
            .admin("GET", &format!("/key/info?key={key}"), Value::Null)
            .await;
        assert_eq!(s, 200, "{v}");
        v["info"]["spend"].as_f64().unwrap()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn new_routes_are_admin_only() {
    let gw = start(None).await;
    let key = gw.key(json!({})).await;
    for (method, path) in [
        ("POST", "/team/block"),
        ("POST", "/team/unblock"),
        ("POST", "/team/member_update"),
        ("POST", "/team/model/add"),
        ("POST", "/team/model/delete"),
        ("POST", "/key/sk-x/reset_spend"),
        ("GET", "/key/aliases"),
        ("POST", "/v2/key/info"),
        ("POST", "/end_user/block"),
        ("GET", "/spend/keys"),
        ("GET", "/spend/users"),
        ("GET", "/spend/tags"),
        ("GET", "/global/spend/keys"),
        ("GET", "/global/spend/teams"),
        ("GET", "/global/spend/models"),
        ("POST", "/global/spend/end_users"),
    ] {
        let (s, v) = gw.call(&key, method, path, json!({})).await;
        assert_eq!(s, 403, "{path}: {v}");
        assert_eq!(v["error"]["type"], "auth_error", "{path}");
        let (s, v) = gw.call("sk-unknown-key", method, path, json!({})).await;
        assert_eq!(s, 401, "{path}: {v}");
    }
}

#[tokio::test]
async fn a_blocked_team_is_refused_until_unblocked() {
    let gw = start(None).await;
    let (s, _) = gw
        .admin("POST", "/team/new", json!({"team_id": "t-blk"}))
        .await;
    assert_eq!(s, 200);
    let key = gw.key(json!({"team_id": "t-blk"})).await;
    assert_eq!(gw.chat(&key).await.0, 200);

    let (s, t) = gw
        .admin("POST", "/team/block", json!({"team_id": "t-blk"}))
        .await;
    assert_eq!((s, t["blocked"].clone()), (200, json!(true)), "{t}");
    let (s, e) = gw.chat(&key).await;
    assert_eq!(s, 401);
    assert_eq!(e["type"], "team_blocked");
    assert_eq!(
        e["message"],
        "Team=t-blk is blocked. Update via `/team/unblock` if you're an admin."
    );
    let (_, info) = gw
        .admin("GET", "/team/info?team_id=t-blk", Value::Null)
        .await;
    assert_eq!(info["team_info"]["blocked"], true);

    let (s, t) = gw
        .admin("POST", "/team/unblock", json!({"team_id": "t-blk"}))
        .await;
    assert_eq!((s, t["blocked"].clone()), (200, json!(false)));
    assert_eq!(gw.chat(&key).await.0, 200);

    let (s, v) = gw
        .admin("POST", "/team/block", json!({"team_id": "nope"}))
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = gw.admin("POST", "/team/block", json!({})).await;
    assert_eq!((s, v["error"]["param"].clone()), (400, json!("team_id")));
}

#[tokio::test]
async fn member_update_sets_budget_limits_and_role() {
    let gw = start(None).await;
    gw.admin("POST", "/team/new", json!({"team_id": "t-m", "members_with_roles": [{"role": "user", "user_id": "ann"}, {"role": "user", "user_id": "bob"}]}))
        .await;
    let ann = gw.key(json!({"team_id": "t-m", "user_id": "ann"})).await;
    let bob = gw.key(json!({"team_id": "t-m", "user_id": "bob"})).await;
    assert_eq!(gw.chat(&ann).await.0, 200);

    // A budget in the team: the next request after it is spent is refused.
    let (s, v) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "ann", "max_budget_in_team": 0.02, "role": "admin"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["team_id"], "t-m");
    assert_eq!(v["user_id"], "ann");
    assert_eq!(v["max_budget_in_team"], 0.02);
    assert_eq!(gw.chat(&ann).await.0, 200);
    let (s, e) = gw.chat(&ann).await;
    assert_eq!(s, 429, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("User=ann in Team=t-m"),
        "{e}"
    );
    let (_, info) = gw.admin("GET", "/team/info?team_id=t-m", Value::Null).await;
    let roles = info["team_info"]["members_with_roles"].as_array().unwrap();
    let ann_role = roles.iter().find(|m| m["user_id"] == "ann").unwrap();
    assert_eq!(ann_role["role"], "admin");
    let m = info["team_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == "ann")
        .unwrap()
        .clone();
    assert_eq!(m["litellm_budget_table"]["max_budget"], 0.02);

    // Raising it lets the member through again; the budget row is updated, not replaced.
    let (s, v) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "ann", "max_budget_in_team": 1.0}),
        )
        .await;
    assert_eq!((s, v["max_budget_in_team"].clone()), (200, json!(1.0)));
    assert_eq!(gw.chat(&ann).await.0, 200);
    let (_, info) = gw.admin("GET", "/team/info?team_id=t-m", Value::Null).await;
    let m2 = info["team_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == "ann")
        .unwrap()
        .clone();
    assert_eq!(m2["budget_id"], m["budget_id"]);

    // A per-member rpm limit.
    let (s, v) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "bob", "rpm_limit": 1, "tpm_limit": 1000}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["rpm_limit"].clone(), v["tpm_limit"].clone()),
        (json!(1), json!(1000))
    );
    assert_eq!(gw.chat(&bob).await.0, 200);
    let (s, e) = gw.chat(&bob).await;
    assert_eq!(s, 429, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit exceeded for team_member: t-m:bob. Limit type: requests."),
        "{e}"
    );

    let (s, _) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "zed", "max_budget_in_team": 1.0}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, v) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "ann", "max_budget_in_team": -1.0}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = gw
        .admin(
            "POST",
            "/team/member_update",
            json!({"team_id": "t-m", "user_id": "ann", "role": "owner"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn team_models_are_added_and_removed() {
    let gw = start(None).await;
    gw.admin(
        "POST",
        "/team/new",
        json!({"team_id": "t-mod", "models": ["gpt-4o"]}),
    )
    .await;
    let key = gw.key(json!({"team_id": "t-mod"})).await;
    let cheap = json!({"model": "cheap"});
    let (s, e) = gw.chat_body(&key, cheap.clone()).await;
    assert_eq!(
        (s, e["type"].clone()),
        (403, json!("team_model_access_denied"))
    );

    let (s, t) = gw
        .admin(
            "POST",
            "/team/model/add",
            json!({"team_id": "t-mod", "models": ["cheap", "gpt-4o"]}),
        )
        .await;
    assert_eq!((s, t["models"].clone()), (200, json!(["gpt-4o", "cheap"])));
    assert_eq!(gw.chat_body(&key, cheap.clone()).await.0, 200);

    let (s, t) = gw
        .admin(
            "POST",
            "/team/model/delete",
            json!({"team_id": "t-mod", "models": ["gpt-4o"]}),
        )
        .await;
    assert_eq!((s, t["models"].clone()), (200, json!(["cheap"])));
    let (s, e) = gw.chat(&key).await;
    assert_eq!(s, 403, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("This team can only access models=['cheap']"),
        "{e}"
    );
    let (s, _) = gw
        .admin("POST", "/team/model/add", json!({"team_id": "t-mod"}))
        .await;
    assert_eq!(s, 400);
    let (s, _) = gw
        .admin(
            "POST",
            "/team/model/add",
            json!({"team_id": "nope", "models": ["x"]}),
        )
        .await;
    assert_eq!(s, 404);
}

async fn reset_spend(url: Option<String>) {
    let gw = start(url).await;
    let key = gw.key(json!({"max_budget": 0.02})).await;
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 429);
    let path = format!("/key/{key}/reset_spend");

    let (s, v) = gw.admin("POST", &path, json!({"reset_to": 1.0})).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("reset_to (1) must be <= current spend (0.028"),
        "{v}"
    );
    let (s, _) = gw.admin("POST", &path, json!({"reset_to": -0.5})).await;
    assert_eq!(s, 400);
    let (s, _) = gw.admin("POST", &path, json!({"reset_to": "x"})).await;
    assert_eq!(s, 400);
    let (s, _) = gw.admin("POST", &path, json!({})).await;
    assert_eq!(s, 400);
    let (s, _) = gw
        .admin(
            "POST",
            "/key/sk-nope-nope/reset_spend",
            json!({"reset_to": 0}),
        )
        .await;
    assert_eq!(s, 404);

    let (s, v) = gw.admin("POST", &path, json!({"reset_to": 0.01})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["spend"], 0.01);
    assert!(
        close(v["previous_spend"].as_f64().unwrap(), 2.0 * COST),
        "{v}"
    );
    assert_eq!(v["key_hash"], tollgate_proxy::auth::hash_key(&key));
    // The next request sees the new spend: 0.01 + one call fits under 0.02... once.
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 429);
    assert!(close(gw.spend_of(&key).await, 0.01 + COST));

    // By hash too, down to zero.
    let hash = tollgate_proxy::auth::hash_key(&key);
    let (s, _) = gw
        .admin(
            "POST",
            &format!("/key/{hash}/reset_spend"),
            json!({"reset_to": 0}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(close(gw.spend_of(&key).await, 0.0));
    assert_eq!(gw.chat(&key).await.0, 200);
    assert!(close(gw.spend_of(&key).await, COST));
}

#[tokio::test]
async fn sqlite_key_spend_reset() {
    reset_spend(None).await;
}

#[tokio::test]
async fn postgres_key_spend_reset() {
    if let Some(url) = pg_database().await {
        reset_spend(Some(url)).await;
    }
}

/// With Redis the budget is checked against the shared hash of the period's spend: the reset
/// has to reach it too, or the next call is still refused.
#[tokio::test]
async fn with_redis_a_spend_reset_reaches_the_shared_budget() {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let gw = start_with(None, &format!("router_settings:\n  redis_url: {redis}\n")).await;
    let key = gw.key(json!({"max_budget": 0.05})).await;
    // Small reservations (`max_tokens: 2`); a release still in flight may refuse a call a
    // little early, so spend until refused.
    let small = json!({"max_tokens": 2});
    let mut ok = 0;
    while gw.chat_body(&key, small.clone()).await.0 == 200 {
        ok += 1;
        assert!(ok < 10, "the budget never refused");
    }
    assert!(ok >= 2, "{ok}");
    let (s, v) = gw
        .admin(
            "POST",
            &format!("/key/{key}/reset_spend"),
            json!({"reset_to": 0}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(gw.chat_body(&key, small).await.0, 200);
    assert!(close(gw.spend_of(&key).await, COST));
}

#[tokio::test]
async fn key_aliases_and_v2_info() {
    let gw = start(None).await;
    gw.admin("POST", "/team/new", json!({"team_id": "t-a"}))
        .await;
    let a = gw.key(json!({"key_alias": "beta-app"})).await;
    let b = gw
        .key(json!({"key_alias": "alpha-app", "team_id": "t-a"}))
        .await;
    gw.key(json!({"key_alias": "gamma"})).await;
    gw.key(json!({})).await;

    let (s, v) = gw.admin("GET", "/key/aliases", Value::Null).await;
    assert_eq!(s, 200);
    assert_eq!(v["aliases"], json!(["alpha-app", "beta-app", "gamma"]));
    assert_eq!(v["total_count"], 3);
    let (_, v) = gw
        .admin("GET", "/key/aliases?search=APP&size=1&page=2", Value::Null)
        .await;
    assert_eq!(v["aliases"], json!(["beta-app"]));
    assert_eq!(
        (v["total_count"].clone(), v["total_pages"].clone()),
        (json!(2), json!(2))
    );
    let (_, v) = gw
        .admin("GET", "/key/aliases?team_id=t-a", Value::Null)
        .await;
    assert_eq!(v["aliases"], json!(["alpha-app"]));

    let hash_b = tollgate_proxy::auth::hash_key(&b);
    let (s, v) = gw
        .admin(
            "POST",
            "/v2/key/info",
            json!({"keys": [a, hash_b, "sk-not-a-key"]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["key"].as_array().unwrap().len(), 3);
    let info = v["info"].as_array().unwrap();
    assert_eq!(info.len(), 2);
    assert_eq!(info[0]["key_alias"], "beta-app");
    assert_eq!(info[1]["key_alias"], "alpha-app");
    assert_eq!(info[1]["team_id"], "t-a");
    let (s, _) = gw.admin("POST", "/v2/key/info", json!({})).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn end_user_routes_alias_customer_routes() {
    let gw = start(None).await;
    let (s, _) = gw
        .admin("POST", "/end_user/new", json!({"user_id": "eu-1"}))
        .await;
    assert_eq!(s, 200);
    let key = gw.key(json!({})).await;
    let as_eu = json!({"user": "eu-1"});
    let (s, v) = gw
        .admin("POST", "/end_user/block", json!({"user_ids": ["eu-1"]}))
        .await;
    assert_eq!((s, v["blocked_users"].clone()), (200, json!(["eu-1"])));
    assert_eq!(gw.chat_body(&key, as_eu.clone()).await.0, 403);
    let (s, _) = gw
        .admin("POST", "/end_user/unblock", json!({"user_ids": ["eu-1"]}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(gw.chat_body(&key, as_eu).await.0, 200);
    let (s, v) = gw
        .admin("GET", "/end_user/info?end_user_id=eu-1", Value::Null)
        .await;
    assert_eq!((s, v["blocked"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn a_regenerated_key_keeps_working_for_its_grace_period() {
    let gw = start(None).await;
    let old = gw.key(json!({"key_alias": "rotating"})).await;
    assert_eq!(gw.chat(&old).await.0, 200);
    let (s, v) = gw
        .admin(
            "POST",
            "/key/regenerate",
            json!({"key": old, "grace_period": "24h"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let new = v["key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // Both work during the grace period; the old key's calls count on the new key.
    assert_eq!(gw.chat(&old).await.0, 200);
    assert_eq!(gw.chat(&new).await.0, 200);
    assert!(close(gw.spend_of(&new).await, 3.0 * COST));
    // Updating the new key keeps the old one's grace.
    let (s, _) = gw
        .admin(
            "POST",
            "/key/update",
            json!({"key": new, "metadata": {"owner": "x"}}),
        )
        .await;
    assert_eq!(s, 200);
    gw.clock.advance(Duration::hours(23));
    assert_eq!(gw.chat(&old).await.0, 200);
    gw.clock.advance(Duration::hours(2));
    let (s, e) = gw.chat(&old).await;
    assert_eq!(s, 401, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Authentication Error, Invalid proxy server token passed."),
        "{e}"
    );
    assert_eq!(gw.chat(&new).await.0, 200);

    // Without a grace period the old key stops at once.
    let (_, v) = gw
        .admin("POST", &format!("/key/{new}/regenerate"), json!({}))
        .await;
    let newer = v["key"].as_str().unwrap().to_owned();
    assert_eq!(gw.chat(&new).await.0, 401);
    assert_eq!(gw.chat(&newer).await.0, 200);
    // A body cannot plant a grace entry of its own.
    let other = gw.key(json!({})).await;
    let (s, _) = gw
        .admin("POST", "/key/update", json!({"key": newer, "metadata": {"deprecated_tokens": [{"token": tollgate_proxy::auth::hash_key("sk-forged-key-0000"), "revoke_at": "2030-01-01T00:00:00"}]}}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(gw.chat("sk-forged-key-0000").await.0, 401);
    assert_eq!(gw.chat(&other).await.0, 200);

    let (s, v) = gw
        .admin(
            "POST",
            "/key/regenerate",
            json!({"key": newer, "grace_period": "soon"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["param"].clone()),
        (400, json!("grace_period"))
    );
    assert_eq!(gw.chat(&newer).await.0, 200);
}

#[tokio::test]
async fn a_temporary_budget_increase_lasts_until_its_expiry() {
    let gw = start(None).await;
    let key = gw.key(json!({"max_budget": 0.02})).await;
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 429);
    let (s, v) = gw
        .admin(
            "POST",
            "/key/update",
            json!({"key": key, "temp_budget_increase": 0.02, "temp_budget_expiry": "2026-03-04T12:00:00"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    assert_eq!(info["info"]["metadata"]["temp_budget_increase"], 0.02);
    assert_eq!(info["info"]["max_budget"], 0.02);
    // 0.028 spent of 0.02 + 0.02.
    assert_eq!(gw.chat(&key).await.0, 200);
    assert_eq!(gw.chat(&key).await.0, 429);
    gw.clock.advance(Duration::hours(3));
    let (s, e) = gw.chat(&key).await;
    assert_eq!(s, 429);
    assert!(
        e["message"].as_str().unwrap().ends_with("Max budget: 0.02"),
        "{e}"
    );

    for body in [
        json!({"key": key, "temp_budget_increase": 1.0}),
        json!({"key": key, "temp_budget_expiry": "2030-01-01T00:00:00"}),
        json!({"key": key, "temp_budget_increase": -1.0, "temp_budget_expiry": "2030-01-01T00:00:00"}),
        json!({"key": key, "temp_budget_increase": 1.0, "temp_budget_expiry": "2026-03-04T12:00:00"}),
        json!({"key": key, "temp_budget_increase": 1.0, "temp_budget_expiry": "tomorrow"}),
    ] {
        let (s, v) = gw.admin("POST", "/key/update", body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
    }
}

async fn spend_reports(url: Option<String>) {
    let gw = start(url).await;
    gw.admin(
        "POST",
        "/team/new",
        json!({"team_id": "t-1", "team_alias": "Prod"}),
    )
    .await;
    gw.admin(
        "POST",
        "/user/new",
        json!({"user_id": "u-1", "auto_create_key": false}),
    )
    .await;
    let a = gw
        .key(json!({"key_alias": "a", "team_id": "t-1", "user_id": "u-1"}))
        .await;
    let b = gw.key(json!({"key_alias": "b"})).await;
    let hash_a = tollgate_proxy::auth::hash_key(&a);
    let hash_b = tollgate_proxy::auth::hash_key(&b);
    // Day 1: a spends 2 gpt-4o calls (one tagged), b one cheap call for end user e-1.
    assert_eq!(
        gw.chat_body(&a, json!({"tags": ["alpha", "beta"]})).await.0,
        200
    );
    assert_eq!(
        gw.chat_body(&a, json!({"metadata": {"tags": ["alpha"]}}))
            .await
            .0,
        200
    );
    assert_eq!(
        gw.chat_body(&b, json!({"model": "cheap", "user": "e-1"}))
            .await
            .0,
        200
    );
    // Day 2: a once more, for end user e-2.
    gw.clock.advance(Duration::days(1));
    assert_eq!(gw.chat_body(&a, json!({"user": "e-2"})).await.0, 200);
    assert!(gw.acc.queue().flush().await);
    let cheap = 10.0 * 0.0001 + 2.0 * 0.0002;

    let (s, v) = gw.admin("GET", "/global/spend/keys", Value::Null).await;
    assert_eq!(s, 200, "{v}");
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["api_key"], hash_a);
    assert_eq!(rows[0]["key_alias"], "a");
    assert!(rows[0]["key_name"].as_str().unwrap().starts_with("sk-..."));
    assert!(close(rows[0]["total_spend"].as_f64().unwrap(), 3.0 * COST));
    assert_eq!(rows[1]["api_key"], hash_b);
    assert!(close(rows[1]["total_spend"].as_f64().unwrap(), cheap));
    let (_, v) = gw
        .admin("GET", "/global/spend/keys?limit=1", Value::Null)
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = gw
        .admin(
            "GET",
            "/global/spend/keys?start_date=2026-03-05&end_date=2026-03-05",
            Value::Null,
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(close(v[0]["total_spend"].as_f64().unwrap(), COST));

    let (_, v) = gw.admin("GET", "/global/spend/models", Value::Null).await;
    assert_eq!(v[0]["model"], "openai/gpt-4o", "{v}");
    assert!(close(v[0]["total_spend"].as_f64().unwrap(), 3.0 * COST));
    assert_eq!(v[1]["model"], "openai/gpt-4o-mini");

    let (_, v) = gw.admin("GET", "/global/spend/teams", Value::Null).await;
    assert_eq!(v["teams"], json!(["Prod"]), "{v}");
    assert_eq!(v["daily_spend"].as_array().unwrap().len(), 2);
    assert_eq!(v["daily_spend"][0]["date"], "2026-03-04");
    assert!(close(
        v["daily_spend"][0]["Prod"].as_f64().unwrap(),
        2.0 * COST
    ));
    assert!(close(v["daily_spend"][1]["Prod"].as_f64().unwrap(), COST));
    assert_eq!(v["total_spend_per_team"][0]["team_id"], "Prod");
    assert!(close(
        v["total_spend_per_team"][0]["total_spend"]
            .as_f64()
            .unwrap(),
        3.0 * COST
    ));

    let (_, v) = gw.admin("POST", "/global/spend/end_users", json!({})).await;
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["end_user"], "e-2");
    assert_eq!(rows[0]["total_count"], 1);
    let (_, v) = gw
        .admin(
            "POST",
            "/global/spend/end_users",
            json!({"api_key": b, "startTime": "2026-03-04", "endTime": "2026-03-04"}),
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["end_user"], "e-1");
    let (_, v) = gw
        .admin(
            "GET",
            "/global/spend/end_users?start_date=2026-03-05",
            Value::Null,
        )
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");

    let (_, v) = gw.admin("GET", "/spend/tags", Value::Null).await;
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["individual_request_tag"], "alpha");
    assert_eq!(rows[0]["log_count"], 2);
    assert!(close(rows[0]["total_spend"].as_f64().unwrap(), 2.0 * COST));
    assert_eq!(rows[1]["individual_request_tag"], "beta");
    let (_, v) = gw
        .admin("GET", "/spend/tags?start_date=2026-03-05", Value::Null)
        .await;
    assert_eq!(v, json!([]));

    let (_, v) = gw.admin("GET", "/spend/keys", Value::Null).await;
    assert_eq!(v[0]["token"], hash_a, "{v}");
    assert!(close(v[0]["spend"].as_f64().unwrap(), 3.0 * COST));
    let (_, v) = gw
        .admin("GET", "/spend/users?user_id=u-1", Value::Null)
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert!(close(v[0]["spend"].as_f64().unwrap(), 3.0 * COST));

    let (s, v) = gw
        .admin(
            "GET",
            "/global/spend/keys?start_date=03/04/2026",
            Value::Null,
        )
        .await;
    assert_eq!((s, v["error"]["param"].clone()), (400, json!("start_date")));
}

#[tokio::test]
async fn sqlite_spend_reports() {
    spend_reports(None).await;
}

#[tokio::test]
async fn postgres_spend_reports() {
    if let Some(url) = pg_database().await {
        spend_reports(Some(url)).await;
    }
}
