#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::{Duration, TimeZone, Timelike, Utc};
use serde_json::json;
use tollgate_store::{
    BudgetRow, EndUserRow, KeyRow, SpendFilter, SpendQueue, SpendRow, Store, TeamRow, UserRow,
    hash_key,
};

fn key(token: &str) -> KeyRow {
    KeyRow {
        token: token.to_owned(),
        key_alias: Some("alias".into()),
        models: vec!["gpt-4o".into(), "openai/*".into()],
        metadata: json!({"team": "x", "nested": {"a": 1}})
            .as_object()
            .unwrap()
            .clone(),
        max_budget: Some(1.5),
        rpm_limit: Some(10),
        blocked: Some(false),
        expires: Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()),
        user_id: Some("u1".into()),
        team_id: Some("t1".into()),
        created_at: Some(Utc::now()),
        ..KeyRow::default()
    }
}

fn spend_row(id: &str, api_key: &str, cost: f64) -> SpendRow {
    let now = Utc::now();
    SpendRow {
        request_id: id.to_owned(),
        call_type: "acompletion".into(),
        api_key: api_key.to_owned(),
        spend: cost,
        total_tokens: 30,
        prompt_tokens: 10,
        completion_tokens: 20,
        start_time: now,
        end_time: now + Duration::milliseconds(5),
        model: "gpt-4o".into(),
        model_group: Some("gpt-4o".into()),
        user: Some("u1".into()),
        team_id: Some("t1".into()),
        end_user: Some("customer-1".into()),
        metadata: json!({"status": "success"}),
        request_tags: json!(["a"]),
        status: Some("success".into()),
        ..SpendRow::default()
    }
}

async fn roundtrip(store: &Store) {
    let token = hash_key(&format!("sk-{}", uuid::Uuid::new_v4()));
    let mut k = key(&token);
    store.upsert(&k).await.unwrap();
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert_eq!(got.models, k.models);
    assert_eq!(got.metadata, k.metadata);
    assert_eq!(got.expires, k.expires);
    assert_eq!(got.rpm_limit, Some(10));
    assert_eq!(got.blocked, Some(false));
    // An update never overwrites the running spend.
    store
        .write_spend(&[spend_row(&uuid::Uuid::new_v4().to_string(), &token, 0.25)])
        .await
        .unwrap();
    k.blocked = Some(true);
    k.spend = 99.0;
    store.upsert(&k).await.unwrap();
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert_eq!(got.blocked, Some(true));
    assert!((got.spend - 0.25).abs() < 1e-9, "{}", got.spend);
    assert!(
        store
            .all::<KeyRow>()
            .await
            .unwrap()
            .iter()
            .any(|r| r.token == token)
    );
    assert!(store.delete::<KeyRow>(&token).await.unwrap());
    assert!(store.get::<KeyRow>(&token).await.unwrap().is_none());

    let team = TeamRow {
        team_id: format!("team-{}", uuid::Uuid::new_v4()),
        models: vec!["a".into()],
        members_with_roles: json!([{"role": "user", "user_id": "u1"}]),
        max_budget: Some(2.0),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        ..TeamRow::default()
    };
    store.upsert(&team).await.unwrap();
    let got: TeamRow = store.get(&team.team_id).await.unwrap().unwrap();
    assert_eq!(got.members_with_roles, team.members_with_roles);
    let user = UserRow {
        user_id: format!("user-{}", uuid::Uuid::new_v4()),
        user_role: Some("internal_user".into()),
        teams: vec![team.team_id.clone()],
        ..UserRow::default()
    };
    store.upsert(&user).await.unwrap();
    let got: UserRow = store.get(&user.user_id).await.unwrap().unwrap();
    assert_eq!(got.teams, user.teams);
    store
        .upsert_member(&user.user_id, &team.team_id, None)
        .await
        .unwrap();
    assert!(
        store
            .members()
            .await
            .unwrap()
            .iter()
            .any(|m| m.user_id == user.user_id)
    );
}

async fn exactly_once(store: &Store) {
    let token = hash_key(&format!("sk-{}", uuid::Uuid::new_v4()));
    store.upsert(&key(&token)).await.unwrap();
    // 37 rows: SQLite writes them as two 16-row statements and five single rows.
    let rows: Vec<SpendRow> = (0..37)
        .map(|i| spend_row(&format!("{token}-{i}"), &token, 0.1))
        .collect();
    assert_eq!(store.write_spend(&rows[..10]).await.unwrap(), 10);
    // The same rows again (a retry after an unknown outcome) add nothing; a batch that
    // overlaps adds only its new rows.
    assert_eq!(store.write_spend(&rows[..10]).await.unwrap(), 0);
    assert_eq!(store.write_spend(&rows).await.unwrap(), 27);
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert!((got.spend - 3.7).abs() < 1e-9, "{}", got.spend);
    let logs = store
        .spend_logs(&SpendFilter {
            api_key: Some(token.clone()),
            ..SpendFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 37);
    assert_eq!(logs[0].request_tags, json!(["a"]));
    assert_eq!(logs[0].metadata, json!({"status": "success"}));
    let first = logs
        .iter()
        .find(|r| r.request_id == rows[0].request_id)
        .unwrap();
    assert_eq!(
        (first.start_time, first.end_time),
        (
            rows[0]
                .start_time
                .with_nanosecond(rows[0].start_time.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap(),
            rows[0]
                .end_time
                .with_nanosecond(rows[0].end_time.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap(),
        ),
        "times keep their milliseconds"
    );
    assert_eq!(
        (
            first.total_tokens,
            first.model_group.as_deref(),
            first.team_id.as_deref(),
            first.status.as_deref()
        ),
        (30, Some("gpt-4o"), Some("t1"), Some("success"))
    );
    let end_user: EndUserRow = store.get("customer-1").await.unwrap().unwrap();
    assert!(end_user.spend >= 3.7 - 1e-9);
    let future = (Utc::now() + Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let none = store
        .spend_logs(&SpendFilter {
            api_key: Some(token.clone()),
            start: Some(future),
            ..SpendFilter::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(store.total_spend(None, None).await.unwrap() >= 3.7 - 1e-9);
}

async fn responses_round_trip(store: &Store) {
    let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
    assert_eq!(store.get_response(&id).await.unwrap(), None);
    store.put_response(&id, r#"{"v":1}"#, 1).await.unwrap();
    store.put_response(&id, r#"{"v":2}"#, 2).await.unwrap();
    assert_eq!(
        store.get_response(&id).await.unwrap().as_deref(),
        Some(r#"{"v":2}"#)
    );
    assert!(store.delete_response(&id).await.unwrap());
    assert!(!store.delete_response(&id).await.unwrap());
    assert_eq!(store.get_response(&id).await.unwrap(), None);
}

/// `model_spend` on keys and teams: per model group, added once per new row, reset per key.
async fn model_spend(store: &Store) {
    let token = hash_key(&format!("sk-{}", uuid::Uuid::new_v4()));
    let team = format!("team-{}", uuid::Uuid::new_v4());
    let mut k = key(&token);
    k.team_id = Some(team.clone());
    store.upsert(&k).await.unwrap();
    store
        .upsert(&TeamRow {
            team_id: team.clone(),
            members_with_roles: json!([]),
            ..TeamRow::default()
        })
        .await
        .unwrap();
    let row = |cost: f64, model: &str| {
        let mut r = spend_row(&uuid::Uuid::new_v4().to_string(), &token, cost);
        r.team_id = Some(team.clone());
        r.model_group = Some(model.to_owned());
        r
    };
    let first = row(0.25, "gpt-4o");
    let batch = [
        first.clone(),
        row(0.5, "gpt-4o"),
        row(0.125, "claude.v2:1/x"),
        row(1.0, "bad\"name"),
    ];
    store.write_spend(&batch).await.unwrap();
    // A row written again counts nothing again.
    store
        .write_spend(&[first, row(0.25, "gpt-4o")])
        .await
        .unwrap();
    // (PostgreSQL's JSONB writes 1.0 as 1: numbers are compared as numbers.)
    let spent = |m: &serde_json::Map<String, serde_json::Value>, model: &str| {
        m.get(model).and_then(serde_json::Value::as_f64)
    };
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert_eq!(got.model_spend.len(), 2, "{:?}", got.model_spend);
    assert_eq!(spent(&got.model_spend, "gpt-4o"), Some(1.0));
    assert_eq!(spent(&got.model_spend, "claude.v2:1/x"), Some(0.125));
    let t: TeamRow = store.get(&team).await.unwrap().unwrap();
    assert_eq!(spent(&t.model_spend, "gpt-4o"), Some(1.0));
    // The running key total still counts every row, whatever its model name.
    assert!((got.spend - 2.125).abs() < 1e-9, "{}", got.spend);
    // A window reset keeps only what was logged since the window began: nothing, then the
    // rows that started after it, whichever was written first.
    let later = Utc::now() + Duration::hours(1);
    store
        .reset_model_spend(&token, "gpt-4o", &later)
        .await
        .unwrap();
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert_eq!(spent(&got.model_spend, "gpt-4o"), Some(0.0));
    assert_eq!(spent(&got.model_spend, "claude.v2:1/x"), Some(0.125));
    let mut next = row(0.5, "gpt-4o");
    next.start_time = later + Duration::minutes(1);
    store.write_spend(&[next]).await.unwrap();
    store
        .reset_model_spend(&token, "gpt-4o", &later)
        .await
        .unwrap();
    let got: KeyRow = store.get(&token).await.unwrap().unwrap();
    assert_eq!(spent(&got.model_spend, "gpt-4o"), Some(0.5));
}

#[tokio::test]
async fn sqlite_model_spend_is_kept_per_model() {
    let (url, _dir) = common::sqlite_url();
    model_spend(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_model_spend_is_kept_per_model() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    model_spend(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_stored_responses_round_trip() {
    let (url, _dir) = common::sqlite_url();
    responses_round_trip(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_stored_responses_round_trip() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    responses_round_trip(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_rows_round_trip() {
    let (url, _dir) = common::sqlite_url();
    roundtrip(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_spend_is_counted_exactly_once() {
    let (url, _dir) = common::sqlite_url();
    exactly_once(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_rows_round_trip() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    roundtrip(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_spend_is_counted_exactly_once() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    exactly_once(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_concurrent_start_up_migrates_once() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await })
        })
        .collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn migration_failure_is_an_error() {
    let dir = common::TempDir::new();
    // A directory where the database file should be cannot be opened.
    std::fs::create_dir_all(dir.0.join("t.db")).unwrap();
    assert!(
        Store::open(&format!("sqlite://{}/t.db", dir.0.display()))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn spend_queue_reports_its_backlog() {
    let (url, dir) = common::sqlite_url();
    let store = Store::open(&url).await.unwrap();
    let token = hash_key("sk-backlog");
    store.upsert(&key(&token)).await.unwrap();
    let (queue, _task) = SpendQueue::start(store, dir.0.join("spend.jsonl"))
        .await
        .unwrap();
    assert_eq!(queue.backlog(), 0);
    for i in 0..5 {
        queue.record(spend_row(&format!("backlog-{i}"), &token, 0.01));
    }
    // Nothing is written before the writer's linger: the rows are all still waiting.
    assert_eq!(queue.backlog(), 5);
    assert!(queue.flush().await);
    assert_eq!(queue.backlog(), 0);
    assert!(queue.database_up());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_loses_and_duplicates_no_spend_row() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    let (template, target) = common::via_relay(&url);
    let relay = common::Relay::start(target).await;
    let store = Store::open(&template.replace("{PORT}", &relay.port.to_string()))
        .await
        .unwrap();
    let direct = Store::open(&url).await.unwrap();
    let token = hash_key("sk-outage");
    store.upsert(&key(&token)).await.unwrap();
    let dir = common::TempDir::new();
    let journal = dir.0.join("spend.jsonl");
    let (queue, task) = SpendQueue::start(store.clone(), journal.clone())
        .await
        .unwrap();
    let total = 300;
    for i in 0..total {
        queue.record(spend_row(&format!("outage-{i}"), &token, 0.01));
        if i == 100 {
            relay.cut();
        }
        if i % 20 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // While the database is unreachable the rows wait in the journal.
    assert!(!queue.flush().await);
    assert!(std::fs::metadata(&journal).unwrap().len() > 0);
    assert!(!queue.database_up());
    assert!(queue.backlog() > 0 && queue.backlog() <= total as u64);
    // A restart while the database is down keeps them too.
    drop(queue);
    task.await.unwrap();
    let (queue, _task) = SpendQueue::start(store.clone(), journal.clone())
        .await
        .unwrap();
    relay.restore();
    let mut ok = false;
    for _ in 0..100 {
        if queue.flush().await {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "queue never drained after the database came back");
    assert_eq!(queue.backlog(), 0);
    assert!(queue.database_up());
    let logs = direct
        .spend_logs(&SpendFilter {
            api_key: Some(token.clone()),
            limit: 10_000,
            ..SpendFilter::default()
        })
        .await
        .unwrap();
    let mut ids: Vec<String> = logs.iter().map(|r| r.request_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "every request has exactly one row");
    assert_eq!(logs.len(), total);
    let k: KeyRow = direct.get(&token).await.unwrap().unwrap();
    assert!(
        (k.spend - 0.01 * total as f64).abs() < 1e-6,
        "key spend counts each row once: {}",
        k.spend
    );
    assert_eq!(std::fs::metadata(&journal).unwrap().len(), 0);
}

/// Every kind of budget due at `now` is reset once even when two instances run the job at the
/// same moment, and spend already logged in the new period survives the reset.
async fn budget_resets(url: &str) {
    let (a, b) = (
        Store::open(url).await.unwrap(),
        Store::open(url).await.unwrap(),
    );
    let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, 5, h, m, 0).unwrap();
    let boundary = at(0, 0);
    let due = |mut k: KeyRow| {
        k.budget_duration = Some("1d".into());
        k.budget_reset_at = Some(boundary);
        k
    };
    let token = hash_key("sk-reset-due");
    a.upsert(&due(key(&token))).await.unwrap();
    let later = hash_key("sk-reset-later");
    let mut k = due(key(&later));
    k.budget_reset_at = Some(at(0, 0) + Duration::days(1));
    a.upsert(&k).await.unwrap();
    a.upsert(&TeamRow {
        team_id: "t1".into(),
        members_with_roles: json!([]),
        budget_duration: Some("1d".into()),
        budget_reset_at: Some(boundary),
        ..TeamRow::default()
    })
    .await
    .unwrap();
    a.upsert(&UserRow {
        user_id: "u1".into(),
        budget_duration: Some("1d".into()),
        budget_reset_at: Some(boundary),
        ..UserRow::default()
    })
    .await
    .unwrap();
    a.upsert(&BudgetRow {
        budget_id: "b1".into(),
        budget_duration: Some("1d".into()),
        budget_reset_at: Some(boundary),
        ..BudgetRow::default()
    })
    .await
    .unwrap();
    a.upsert(&EndUserRow {
        user_id: "customer-1".into(),
        budget_id: Some("b1".into()),
        ..EndUserRow::default()
    })
    .await
    .unwrap();
    a.upsert_member("u1", "t1", Some("b1")).await.unwrap();
    // $1 in the old period, $0.25 in the new one, on each key (and so on every owner).
    let mut rows = Vec::new();
    for (tok, n) in [(&token, "a"), (&later, "b")] {
        let mut old = spend_row(&format!("{n}-old"), tok, 1.0);
        old.start_time = boundary - Duration::hours(3);
        let mut new = spend_row(&format!("{n}-new"), tok, 0.25);
        new.start_time = boundary + Duration::minutes(30);
        rows.extend([old, new]);
    }
    a.write_spend(&rows).await.unwrap();
    let now = at(1, 0);
    let (ra, rb) = tokio::join!(
        a.reset_budgets(now, chrono_tz::Tz::UTC),
        b.reset_budgets(now, chrono_tz::Tz::UTC)
    );
    assert_eq!(
        ra.unwrap() + rb.unwrap(),
        4,
        "key, user, team and budget b1, each reset by one instance"
    );
    let k: KeyRow = a.get(&token).await.unwrap().unwrap();
    assert!(
        (k.spend - 0.25).abs() < 1e-9,
        "new period's spend kept: {}",
        k.spend
    );
    assert_eq!(k.budget_reset_at, Some(boundary + Duration::days(1)));
    let k: KeyRow = a.get(&later).await.unwrap().unwrap();
    assert!((k.spend - 1.25).abs() < 1e-9, "not due: untouched");
    let u: UserRow = a.get("u1").await.unwrap().unwrap();
    let t: TeamRow = a.get("t1").await.unwrap().unwrap();
    let e: EndUserRow = a.get("customer-1").await.unwrap().unwrap();
    let m = a.members().await.unwrap();
    let b1: BudgetRow = a.get("b1").await.unwrap().unwrap();
    // Both keys' new-period calls belong to u1, t1 and customer-1.
    for (what, spend) in [
        ("user", u.spend),
        ("team", t.spend),
        ("end user", e.spend),
        ("member", m[0].spend),
    ] {
        assert!((spend - 0.5).abs() < 1e-9, "{what}: {spend}");
    }
    assert_eq!(b1.budget_reset_at, Some(boundary + Duration::days(1)));
    // Nothing is due any more; a call logged after the reset adds as usual.
    assert_eq!(a.reset_budgets(now, chrono_tz::Tz::UTC).await.unwrap(), 0);
    a.write_spend(&[spend_row("a-after", &token, 0.5)])
        .await
        .unwrap();
    let k: KeyRow = a.get(&token).await.unwrap().unwrap();
    assert!((k.spend - 0.75).abs() < 1e-9);
}

#[tokio::test]
async fn sqlite_budget_resets_once_across_instances() {
    let (url, _dir) = common::sqlite_url();
    budget_resets(&url).await;
}

#[tokio::test]
async fn postgres_budget_resets_once_across_instances() {
    let Some(url) = common::pg_url().await else {
        return;
    };
    budget_resets(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_spend_waiting_on_a_busy_database_is_kept_on_disk() {
    use sqlx::Connection;
    let dir = common::TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("busy.db").display());
    let store = Store::open(&url).await.unwrap();
    let journal = dir.0.join("spend.jsonl");
    let (queue, _task) = SpendQueue::start(store.clone(), journal.clone())
        .await
        .unwrap();
    let journal_len = || std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
    queue.record(spend_row("healthy-1", "k", 0.01));
    assert!(queue.flush().await);
    assert_eq!(
        journal_len(),
        0,
        "a healthy database leaves the journal alone"
    );

    // Another process holds the write lock: the batch waits for it, on disk.
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    queue.record(spend_row("waiting-1", "k", 0.01));
    let mut on_disk = false;
    for _ in 0..50 {
        if std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains("waiting-1")
        {
            on_disk = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(on_disk, "a row waiting for a busy database is journaled");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert!(queue.flush().await);
    assert_eq!(store.spend_log_count().await.unwrap(), 2);
    assert_eq!(journal_len(), 0, "emptied once the database has the rows");
}
