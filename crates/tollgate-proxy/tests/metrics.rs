//! `GET /metrics` after real requests through the mock provider: LiteLLM's metric names,
//! labels and histogram buckets, parsed strictly as Prometheus text; the Redis-fallback
//! signal; off unless the `prometheus` callback is configured; optional auth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use common::TempDir;
use serde_json::{Value, json};
use tollgate_config::Config;
use tollgate_mock::{MockScript, MockServer};
use tollgate_proxy::AppState;
use tollgate_proxy::accounting::Accounting;
use tollgate_proxy::metrics::LATENCY_BUCKETS;

const MASTER: &str = "sk-master";

struct Gw {
    base: String,
    http: reqwest::Client,
    _dir: TempDir,
}

async fn start(yaml: &str, accounting: bool) -> Gw {
    let dir = TempDir::new("metrics");
    let config = Config::from_yaml_str(yaml, Path::new("config.yaml")).unwrap();
    let mut state = AppState::from_config(&config, "info").unwrap();
    if accounting {
        let acc = Accounting::open(
            &config,
            &format!("sqlite://{}/t.db", dir.0.display()),
            &dir.0.join("journal"),
            Arc::new(tollgate_store::SystemClock),
            Arc::new(tollgate_proxy::accounting::DeploymentPrices),
        )
        .await
        .unwrap();
        state = state.with_accounting(acc);
    }
    Gw {
        base: common::serve(state).await,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Gw {
    async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn scrape(&self) -> Scrape {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        Scrape::parse(&r.text().await.unwrap())
    }
}

/// One sample: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strictly parsed Prometheus text exposition (format 0.0.4): every line is a comment, a
/// `# HELP`/`# TYPE` line or a well-formed sample of a declared family; a family is declared
/// once; histograms have cumulative buckets ending in `+Inf` equal to `_count`.
#[derive(Debug)]
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_labels(s: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return (labels, r);
        }
        let eq = rest.find('=').expect("label without =");
        let name = &rest[..eq];
        assert!(valid_name(name), "bad label name {name:?}");
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .expect("unquoted label value");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("unterminated label value") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().expect("dangling escape").1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => panic!("bad escape \\{c}"),
                },
                (_, c) => value.push(c),
            }
        };
        assert!(
            labels.insert(name.to_owned(), value).is_none(),
            "duplicate label {name}"
        );
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}")),
    }
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(valid_name(name), "{line}");
                assert!(
                    matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ),
                    "{line}"
                );
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "family declared twice: {name}"
                );
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).expect("sample without value");
            let name = &line[..name_end];
            assert!(valid_name(name), "{line}");
            let (labels, rest) = match line[name_end..].strip_prefix('{') {
                Some(r) => parse_labels(r),
                None => (BTreeMap::new(), &line[name_end..]),
            };
            let mut parts = rest.trim_start().split(' ');
            let value = parse_value(parts.next().unwrap());
            let family = [
                name,
                name.trim_end_matches("_bucket"),
                name.trim_end_matches("_sum"),
                name.trim_end_matches("_count"),
            ];
            assert!(
                family.iter().any(|f| types.contains_key(*f)),
                "sample of an undeclared family: {line}"
            );
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        let s = Self { types, samples };
        s.check_histograms();
        s
    }

    fn check_histograms(&self) {
        for (name, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            let bucket = format!("{name}_bucket");
            let count = format!("{name}_count");
            for c in self.samples.iter().filter(|s| s.name == count) {
                let mut buckets: Vec<(f64, f64)> = self
                    .samples
                    .iter()
                    .filter(|s| s.name == bucket && same_series(&s.labels, &c.labels))
                    .map(|s| (parse_value(&s.labels["le"]), s.value))
                    .collect();
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{name}");
                assert_eq!(buckets.last().unwrap().0, f64::INFINITY, "{name}");
                assert_eq!(buckets.last().unwrap().1, c.value, "{name}: +Inf != count");
            }
        }
    }

    /// Samples named `name` whose labels include all of `want`.
    fn find(&self, name: &str, want: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && want
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The sum of the matching samples.
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.find(name, want).iter().map(|s| s.value).sum()
    }

    /// The one matching sample's value.
    fn one(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        let found = self.find(name, want);
        assert_eq!(found.len(), 1, "{name} {want:?}: {found:?}");
        found[0].value
    }

    fn kind(&self, family: &str) -> &str {
        self.types.get(family).map_or("", String::as_str)
    }
}

/// Same labels apart from `le`.
fn same_series(bucket: &BTreeMap<String, String>, count: &BTreeMap<String, String>) -> bool {
    bucket.len() == count.len() + 1 && count.iter().all(|(k, v)| bucket.get(k) == Some(v))
}

fn config(base: &str, extra: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: sk-up
      api_base: {base}
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
    model_info: {{id: good-1}}
  - model_name: broken
    litellm_params:
      model: openai/broken
      api_key: sk-up
      api_base: {base}
    model_info: {{id: bad-1}}
router_settings:
  num_retries: 0
  fallbacks: [{{broken: [gpt-4o]}}]
general_settings:
  master_key: {MASTER}
{extra}
"#
    )
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello metrics"}]})
}

/// Prompt and completion tokens of a JSON answer or of an SSE stream's usage chunk.
fn usage_of(text: &str) -> (u64, u64) {
    let from = |v: &Value| {
        let u = &v["usage"];
        u.is_object().then(|| {
            (
                u["prompt_tokens"].as_u64().unwrap(),
                u["completion_tokens"].as_u64().unwrap(),
            )
        })
    };
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return from(&v).unwrap();
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|v| from(&v))
        .expect("a usage chunk")
}

#[tokio::test]
async fn requests_show_in_litellms_metrics() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::status(503).for_model("broken").times(0));
    let base = mock.base_url();
    let gw = start(
        &config(&base, "litellm_settings:\n  callbacks: [\"prometheus\"]"),
        true,
    )
    .await;
    let r = gw
        .post(
            MASTER,
            "/team/new",
            json!({"team_alias": "team-a", "max_budget": 10}),
        )
        .await;
    let team: Value = r.json().await.unwrap();
    let team_id = team["team_id"].as_str().unwrap().to_owned();
    let r = gw
        .post(
            MASTER,
            "/key/generate",
            json!({"key_alias": "app-1", "team_id": team_id, "max_budget": 5}),
        )
        .await;
    let key: Value = r.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let hashed = tollgate_store::hash_key(&key);

    let (mut prompt, mut completion) = (0, 0);
    for _ in 0..2 {
        let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
        assert_eq!(r.status(), 200);
        let (p, c) = usage_of(&r.text().await.unwrap());
        prompt += p;
        completion += c;
    }
    let mut streamed = chat("gpt-4o");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let r = gw.post(&key, "/v1/chat/completions", streamed).await;
    assert_eq!(r.status(), 200);
    let (p, c) = usage_of(&r.text().await.unwrap());
    prompt += p;
    completion += c;
    // `broken` fails (503) and falls back to gpt-4o.
    let r = gw.post(&key, "/v1/chat/completions", chat("broken")).await;
    assert_eq!(r.status(), 200);
    let (p, c) = usage_of(&r.text().await.unwrap());
    prompt += p;
    completion += c;
    let r = gw.post(&key, "/v1/chat/completions", chat("nope")).await;
    assert_eq!(r.status(), 400);

    let m = gw.scrape().await;
    let who = [
        ("hashed_api_key", hashed.as_str()),
        ("api_key_alias", "app-1"),
        ("team", team_id.as_str()),
        ("team_alias", "team-a"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = who.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        m.kind("litellm_proxy_total_requests_metric_total"),
        "counter"
    );
    assert_eq!(
        m.one(
            "litellm_proxy_total_requests_metric_total",
            &with(&[
                ("requested_model", "gpt-4o"),
                ("status_code", "200"),
                ("route", "/chat/completions"),
                ("model_id", "good-1"),
            ])
        ),
        3.0
    );
    assert_eq!(
        m.one(
            "litellm_proxy_total_requests_metric_total",
            &with(&[("requested_model", "broken"), ("model_id", "good-1")])
        ),
        1.0
    );
    assert_eq!(
        m.one(
            "litellm_proxy_total_requests_metric_total",
            &with(&[("requested_model", "nope"), ("status_code", "400")])
        ),
        1.0
    );
    let failed = m.find(
        "litellm_proxy_failed_requests_metric_total",
        &with(&[("requested_model", "nope"), ("exception_status", "400")]),
    );
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].value, 1.0);
    assert!(!failed[0].labels["exception_class"].is_empty());
    assert_eq!(
        m.sum("litellm_proxy_failed_requests_metric_total", &[]),
        1.0
    );
    // Every label LiteLLM documents is present, even when empty.
    for label in [
        "end_user",
        "user",
        "user_email",
        "requested_model",
        "route",
        "model_id",
    ] {
        assert!(
            m.find("litellm_proxy_total_requests_metric_total", &[])
                .iter()
                .all(|s| s.labels.contains_key(label)),
            "{label}"
        );
    }

    // Tokens and spend agree with the answers and the deployment's prices.
    let tokens = with(&[("model", "openai/gpt-4o")]);
    assert_eq!(
        m.sum("litellm_input_tokens_metric_total", &tokens),
        prompt as f64
    );
    assert_eq!(
        m.sum("litellm_output_tokens_metric_total", &tokens),
        completion as f64
    );
    assert_eq!(
        m.sum("litellm_total_tokens_metric_total", &tokens),
        (prompt + completion) as f64
    );
    let spend = m.sum("litellm_spend_metric_total", &tokens);
    let expected = prompt as f64 * 0.001 + completion as f64 * 0.002;
    assert!((spend - expected).abs() < 1e-9, "{spend} != {expected}");
    let key_budget = [
        ("hashed_api_key", hashed.as_str()),
        ("api_key_alias", "app-1"),
    ];
    assert_eq!(m.one("litellm_api_key_max_budget_metric", &key_budget), 5.0);
    let remaining = m.one("litellm_remaining_api_key_budget_metric", &key_budget);
    assert!((remaining - (5.0 - spend)).abs() < 1e-9, "{remaining}");
    let team_labels = [("team", team_id.as_str()), ("team_alias", "team-a")];
    assert_eq!(m.one("litellm_team_max_budget_metric", &team_labels), 10.0);
    let remaining = m.one("litellm_remaining_team_budget_metric", &team_labels);
    assert!((remaining - (10.0 - spend)).abs() < 1e-9, "{remaining}");

    // Latency histograms: LiteLLM's buckets, one observation per answered call.
    assert_eq!(m.kind("litellm_request_total_latency_metric"), "histogram");
    let latency = with(&[("requested_model", "gpt-4o"), ("model_id", "good-1")]);
    assert_eq!(
        m.one("litellm_request_total_latency_metric_count", &latency),
        3.0
    );
    let mut les: Vec<f64> = m
        .find("litellm_request_total_latency_metric_bucket", &latency)
        .iter()
        .map(|s| parse_value(&s.labels["le"]))
        .collect();
    les.sort_by(f64::total_cmp);
    let mut want = LATENCY_BUCKETS.to_vec();
    want.push(f64::INFINITY);
    assert_eq!(les, want);
    assert_eq!(
        m.one(
            "litellm_llm_api_latency_metric_count",
            &with(&[("requested_model", "gpt-4o")])
        ),
        3.0
    );
    assert_eq!(
        m.one(
            "litellm_llm_api_time_to_first_token_metric_count",
            &with(&[("requested_model", "gpt-4o"), ("model_id", "good-1")])
        ),
        1.0
    );
    assert_eq!(m.one("litellm_in_flight_requests", &[]), 0.0);

    // The router's view: attempts per deployment, the cooldown, the fallback.
    let good = [("model_id", "good-1")];
    let bad = [("model_id", "bad-1")];
    assert_eq!(
        m.one("litellm_deployment_success_responses_total", &good),
        4.0
    );
    assert_eq!(m.one("litellm_deployment_total_requests_total", &good), 4.0);
    assert_eq!(m.one("litellm_deployment_total_requests_total", &bad), 1.0);
    assert_eq!(
        m.one(
            "litellm_deployment_failure_responses_total",
            &[("model_id", "bad-1"), ("exception_status", "503")]
        ),
        1.0
    );
    assert_eq!(
        m.one(
            "litellm_deployment_cooled_down_total",
            &[("model_id", "bad-1"), ("exception_status", "503")]
        ),
        1.0
    );
    assert_eq!(m.one("litellm_deployment_state", &good), 0.0);
    assert_eq!(m.one("litellm_deployment_state", &bad), 2.0);
    assert_eq!(
        m.one(
            "litellm_deployment_successful_fallbacks_total",
            &[
                ("requested_model", "broken"),
                ("fallback_model", "gpt-4o"),
                ("exception_status", "503"),
            ]
        ),
        1.0
    );
    assert!(
        m.find("litellm_deployment_failed_fallbacks_total", &[])
            .is_empty()
    );

    // Spend writer and budget alerts; no Redis configured, so no Redis series.
    assert!(m.one("litellm_in_memory_spend_update_queue_size", &[]) >= 0.0);
    assert_eq!(m.one("tollgate_database_up", &[]), 1.0);
    assert_eq!(m.one("tollgate_soft_budget_alerts_total", &[]), 0.0);
    assert_eq!(m.one("tollgate_budget_alerts_dropped_total", &[]), 0.0);
    assert!(m.find("tollgate_redis_up", &[]).is_empty());
}

#[tokio::test]
async fn refused_calls_are_counted_as_failures() {
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let gw = start(
        &config(&base, "litellm_settings:\n  callbacks: [\"prometheus\"]"),
        true,
    )
    .await;
    let r = gw
        .post(
            MASTER,
            "/key/generate",
            json!({"key_alias": "limited", "models": ["broken"]}),
        )
        .await;
    let key: Value = r.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
    assert_eq!(r.status(), 403);
    let m = gw.scrape().await;
    let labels = [
        ("api_key_alias", "limited"),
        ("requested_model", "gpt-4o"),
        ("exception_status", "403"),
    ];
    assert_eq!(
        m.one("litellm_proxy_failed_requests_metric_total", &labels),
        1.0
    );
    assert_eq!(m.one("litellm_in_flight_requests", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_client_abandons_is_in_flight_then_counted_as_cancelled() {
    let mock = MockServer::start().await.unwrap();
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": null}]});
    let mut script = tollgate_mock::StreamScript::events(vec![chunk; 50]);
    script.chunk_delay_ms = 100;
    mock.push(MockScript::stream(script));
    let gw = start(
        &config(
            &mock.base_url(),
            "litellm_settings:\n  callbacks: [\"prometheus\"]",
        ),
        true,
    )
    .await;
    let mut body = chat("gpt-4o");
    body["stream"] = json!(true);
    let mut r = gw.post(MASTER, "/v1/chat/completions", body).await;
    assert_eq!(r.status(), 200);
    assert!(r.chunk().await.unwrap().is_some());
    let m = gw.scrape().await;
    assert_eq!(m.one("litellm_in_flight_requests", &[]), 1.0);
    drop(r);
    let mut counted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let m = gw.scrape().await;
        if m.one("litellm_in_flight_requests", &[]) == 0.0 {
            let cancelled = [("status_code", "499"), ("model_id", "good-1")];
            assert_eq!(
                m.one("litellm_proxy_total_requests_metric_total", &cancelled),
                1.0
            );
            assert_eq!(
                m.one(
                    "litellm_proxy_failed_requests_metric_total",
                    &[("exception_class", "ClientDisconnected")]
                ),
                1.0
            );
            assert!(
                m.find("litellm_request_total_latency_metric_count", &[])
                    .is_empty()
            );
            counted = true;
            break;
        }
    }
    assert!(counted, "the abandoned stream stayed in flight");
}

#[tokio::test]
async fn redis_unreachable_shows_as_down() {
    // A port nothing listens on: bind, note the port, close.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let mut yaml = config(&base, "litellm_settings:\n  callbacks: [\"prometheus\"]");
    yaml = yaml.replace(
        "router_settings:\n",
        &format!("router_settings:\n  redis_url: redis://127.0.0.1:{closed}\n"),
    );
    let gw = start(&yaml, true).await;
    let r = gw
        .post(MASTER, "/key/generate", json!({"rpm_limit": 100}))
        .await;
    let key: Value = r.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    // Served anyway, on local limits and local router state.
    let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
    assert_eq!(r.status(), 200);
    let m = gw.scrape().await;
    for component in ["router", "rate_limiter"] {
        let labels = [("component", component)];
        assert_eq!(m.one("tollgate_redis_up", &labels), 0.0, "{component}");
        assert!(
            m.one("litellm_redis_failed_requests_total", &labels) >= 1.0,
            "{component}"
        );
        assert!(
            m.one("litellm_redis_total_requests_total", &labels)
                >= m.one("litellm_redis_failed_requests_total", &labels)
        );
    }
}

/// A TCP relay to a real Redis that a test can cut and restore (an outage without stopping
/// the server other tests share).
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            down,
            conns,
            _accept: accept,
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_and_recovery_show_in_the_gauge() {
    let Ok(redis) = std::env::var("TOLLGATE_TEST_REDIS_URL") else {
        eprintln!("skipped: TOLLGATE_TEST_REDIS_URL is not set (scripts/test.sh starts Redis)");
        return;
    };
    let target = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let relay = Relay::start(target).await;
    let mock = MockServer::start().await.unwrap();
    let yaml = config(
        &mock.base_url(),
        "litellm_settings:\n  callbacks: [\"prometheus\"]",
    )
    .replace(
        "router_settings:\n",
        &format!(
            "router_settings:\n  redis_url: redis://127.0.0.1:{}\n",
            relay.port
        ),
    );
    let gw = start(&yaml, true).await;
    let r = gw
        .post(MASTER, "/key/generate", json!({"rpm_limit": 1000}))
        .await;
    let key: Value = r.json().await.unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let up = |m: &Scrape, component: &'static str| {
        m.one("tollgate_redis_up", &[("component", component)])
    };
    let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
    assert_eq!(r.status(), 200);
    let m = gw.scrape().await;
    assert_eq!((up(&m, "router"), up(&m, "rate_limiter")), (1.0, 1.0));

    relay.cut();
    // The relay's connections close as their aborted tasks are next polled, so a call made at
    // once may still reach Redis: within a few calls both parts see the outage.
    let mut down = (1.0, 1.0);
    for _ in 0..20 {
        let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
        assert_eq!(r.status(), 200, "served on local state while Redis is away");
        let m = gw.scrape().await;
        down = (up(&m, "router"), up(&m, "rate_limiter"));
        if down == (0.0, 0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(down, (0.0, 0.0), "tollgate_redis_up shows the outage");

    // Redis is tried again a few seconds after a failure; the gauges recover by themselves.
    relay.restore();
    let mut recovered = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = gw.post(&key, "/v1/chat/completions", chat("gpt-4o")).await;
        assert_eq!(r.status(), 200);
        let m = gw.scrape().await;
        if (up(&m, "router"), up(&m, "rate_limiter")) == (1.0, 1.0) {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "tollgate_redis_up never returned to 1");
}

#[tokio::test]
async fn metrics_are_off_without_the_prometheus_callback() {
    let mock = MockServer::start().await.unwrap();
    let gw = start(&config(&mock.base_url(), ""), false).await;
    let r = gw
        .http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn metrics_without_a_database_and_with_required_auth() {
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let gw = start(
        &config(
            &base,
            "litellm_settings:\n  success_callback: [\"prometheus\"]\n  require_auth_for_metrics_endpoint: true",
        ),
        false,
    )
    .await;
    let r = gw
        .post(MASTER, "/v1/chat/completions", chat("gpt-4o"))
        .await;
    assert_eq!(r.status(), 200);
    // Without a database there is no cost header, as before metrics existed.
    assert!(r.headers().get("x-litellm-response-cost").is_none());
    let url = format!("{}/metrics", gw.base);
    let r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = gw.http.get(&url).bearer_auth(MASTER).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let m = Scrape::parse(&r.text().await.unwrap());
    assert_eq!(
        m.one(
            "litellm_proxy_total_requests_metric_total",
            &[
                ("hashed_api_key", tollgate_store::hash_key(MASTER).as_str()),
                ("requested_model", "gpt-4o"),
                ("status_code", "200"),
            ]
        ),
        1.0
    );
    assert_eq!(
        m.one(
            "litellm_deployment_total_requests_total",
            &[("model_id", "good-1")]
        ),
        1.0
    );
    assert!(
        m.find("litellm_in_memory_spend_update_queue_size", &[])
            .is_empty()
    );
}

#[test]
fn the_parser_rejects_malformed_text() {
    let ok = "# TYPE a_total counter\na_total{x=\"1\\\"\"} 2\n";
    assert_eq!(Scrape::parse(ok).one("a_total", &[("x", "1\"")]), 2.0);
    for bad in [
        "a_total 1\n",                        // undeclared
        "# TYPE a counter\na{x=1} 1\n",       // unquoted
        "# TYPE a counter\na{x=\"1\"} one\n", // value
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", // not cumulative
    ] {
        assert!(
            std::panic::catch_unwind(|| Scrape::parse(bad)).is_err(),
            "{bad}"
        );
    }
}
