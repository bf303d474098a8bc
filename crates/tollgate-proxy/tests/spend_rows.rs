//! Spend rows of refused requests, metered prices of operation calls, per-model spend that
//! survives a restart, and which tokens count against `tpm_limit`: through the real HTTP
//! routes, in process, against SQLite and the mock provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, Utc};
use common::TempDir;
use serde_json::{Value, json};
use tollgate_config::Config;
use tollgate_mock::MockServer;
use tollgate_pricing::PriceTable;
use tollgate_proxy::accounting::{Accounting, Coster, DeploymentPrices, PriceTableCoster};
use tollgate_store::ManualClock;

const MASTER: &str = "sk-master";
/// `mock_response: "hello there"` is 10 prompt + 2 completion tokens: 10*0.001 + 2*0.002.
const COST: f64 = 0.014;

struct Gw {
    base: String,
    acc: Arc<Accounting>,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
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
  - model_name: dalle
    litellm_params:
      model: openai/dall-e-3
      api_key: sk-up
      api_base: {base}
  - model_name: pixels
    litellm_params:
      model: openai/my-image-model
      api_key: sk-up
      api_base: {base}
      input_cost_per_pixel: 0.00000001
  - model_name: whisper
    litellm_params:
      model: openai/whisper-1
      api_key: sk-up
      api_base: {base}
  - model_name: tts
    litellm_params:
      model: openai/tts-1
      api_key: sk-up
      api_base: {base}
  - model_name: tts-custom
    litellm_params:
      model: openai/tts-1
      api_key: sk-up
      api_base: {base}
      input_cost_per_character: 0.001
  - model_name: rerank
    litellm_params:
      model: cohere/rerank-v3.5
      api_key: sk-up
      api_base: {base}
general_settings:
  master_key: {MASTER}
{extra}"
    )
}

async fn start_in(dir: &Path, yaml: &str, coster: Arc<dyn Coster>) -> Gw {
    let config = Config::from_yaml_str(yaml, Path::new("config.yaml")).unwrap();
    let url = format!("sqlite://{}/t.db", dir.display());
    let clock = common::clock();
    let acc = Accounting::open(&config, &url, &dir.join("journal"), clock.clone(), coster)
        .await
        .unwrap();
    let base = common::serve_with_accounting(&config, acc.clone()).await;
    Gw {
        base,
        acc,
        clock,
        http: reqwest::Client::new(),
    }
}

impl Gw {
    async fn admin(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url).json(&body)
        };
        let r = req.bearer_auth(MASTER).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn key(&self, body: Value) -> String {
        let (s, v) = self.admin("POST", "/key/generate", body).await;
        assert_eq!(s, 200, "{v}");
        v["key"].as_str().unwrap().to_owned()
    }

    async fn post(&self, key: &str, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, key: &str, model: &str) -> reqwest::Response {
        self.post(key, "/v1/chat/completions", json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "mock_response": "hello there"}))
            .await
    }

    /// Every stored row of `key`, after the queue is written.
    async fn rows(&self, key: &str) -> Vec<Value> {
        assert!(self.acc.queue().flush().await);
        let (s, rows) = self
            .admin(
                "GET",
                &format!("/spend/logs?api_key={key}&summarize=false"),
                Value::Null,
            )
            .await;
        assert_eq!(s, 200, "{rows}");
        rows.as_array().unwrap().clone()
    }

    async fn total_rows(&self) -> i64 {
        assert!(self.acc.queue().flush().await);
        self.acc.store().spend_log_count().await.unwrap()
    }
}

fn cost_header(r: &reqwest::Response) -> f64 {
    r.headers()
        .get("x-litellm-response-cost")
        .unwrap_or_else(|| panic!("no cost header: {:?}", r.headers()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// The one failure row a refused request of `key` wrote.
fn refusal<'a>(rows: &'a [Value], status: u16, model: &str) -> &'a Value {
    let found: Vec<&Value> = rows
        .iter()
        .filter(|r| {
            r["metadata"]["error_information"]["error_code"]
                .as_str()
                .and_then(|c| c.parse::<u16>().ok())
                == Some(status)
                && r["model_group"] == model
        })
        .collect();
    assert_eq!(found.len(), 1, "{status} {model}: {rows:#?}");
    let r = found[0];
    assert_eq!(r["status"], "failure", "{r}");
    assert_eq!(r["spend"], 0.0, "{r}");
    assert_eq!(r["metadata"]["status"], "failure", "{r}");
    assert!(
        !r["metadata"]["error_information"]["error_message"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    r
}

#[tokio::test]
async fn every_refused_request_of_a_known_key_writes_one_failure_row() {
    let dir = TempDir::new("rows");
    let mock = MockServer::start().await.unwrap();
    let gw = start_in(&dir.0, &config(Some(&mock), ""), Arc::new(DeploymentPrices)).await;

    // Model not allowed (403), then a success of the same key.
    let key = gw
        .key(json!({"key_alias": "narrow", "models": ["cheap"]}))
        .await;
    let hash = tollgate_proxy::auth::hash_key(&key);
    assert_eq!(gw.chat(&key, "gpt-4o").await.status(), 403);
    // Bad bodies after auth (400): an empty `messages`, and a body that is not JSON.
    let r = gw
        .post(
            &key,
            "/v1/chat/completions",
            json!({"model": "cheap", "messages": []}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The same on /v1/messages and /v1/images/generations.
    let r = gw
        .post(&key, "/v1/messages", json!({"max_tokens": 5}))
        .await;
    assert_eq!(r.status(), 400);
    let r = gw
        .http
        .post(format!("{}/v1/images/generations", gw.base))
        .bearer_auth(&key)
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let rows = gw.rows(&key).await;
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let r = refusal(&rows, 403, "gpt-4o");
    assert_eq!(r["api_key"], hash);
    assert_eq!(r["call_type"], "acompletion");
    assert_eq!(r["metadata"]["user_api_key_alias"], "narrow");
    assert_eq!(
        r["metadata"]["error_information"]["error_class"],
        "PermissionDeniedError"
    );
    refusal(&rows, 400, "cheap");
    let bad: Vec<_> = rows.iter().filter(|r| r["model_group"] == "").collect();
    assert_eq!(bad.len(), 3, "{rows:#?}");
    assert!(bad.iter().any(|r| r["call_type"] == "anthropic_messages"));
    assert!(bad.iter().any(|r| r["call_type"] == "aimage_generation"));
    assert!(
        bad.iter()
            .all(|r| r["status"] == "failure" && r["api_key"] == hash)
    );

    // Budget exceeded (429): one row per refused request, none for the admitted one twice.
    let broke = gw.key(json!({"max_budget": 0.0})).await;
    assert_eq!(gw.chat(&broke, "gpt-4o").await.status(), 429);
    let rows = gw.rows(&broke).await;
    assert_eq!(rows.len(), 1);
    assert!(
        refusal(&rows, 429, "gpt-4o")["metadata"]["error_information"]["error_message"]
            .as_str()
            .unwrap()
            .contains("Budget has been exceeded")
    );

    // Rate limited (429): the admitted request's success row and the refusal's failure row.
    let limited = gw.key(json!({"rpm_limit": 1})).await;
    assert_eq!(gw.chat(&limited, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&limited, "gpt-4o").await.status(), 429);
    let rows = gw.rows(&limited).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows.iter().filter(|r| r["status"] == "success").count(), 1);
    refusal(&rows, 429, "gpt-4o");
    // The refusal cost nothing: the key's spend is the one success.
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={limited}"), Value::Null)
        .await;
    assert!(
        close(info["info"]["spend"].as_f64().unwrap(), COST),
        "{info}"
    );

    // A blocked and an expired key are known: their 401s are recorded under their hash.
    let blocked = gw.key(json!({"key_alias": "blocked"})).await;
    let (s, _) = gw
        .admin("POST", "/key/block", json!({"key": blocked}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(gw.chat(&blocked, "gpt-4o").await.status(), 401);
    let rows = gw.rows(&blocked).await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = refusal(&rows, 401, "gpt-4o");
    assert_eq!(r["api_key"], tollgate_proxy::auth::hash_key(&blocked));
    assert_eq!(r["metadata"]["user_api_key_alias"], "blocked");
    let expiring = gw.key(json!({"duration": "30s"})).await;
    gw.clock.advance(Duration::seconds(31));
    assert_eq!(gw.chat(&expiring, "gpt-4o").await.status(), 401);
    refusal(&gw.rows(&expiring).await, 401, "gpt-4o");

    // Unknown, missing and malformed keys write nothing.
    let before = gw.total_rows().await;
    assert_eq!(gw.chat("sk-not-a-real-key", "gpt-4o").await.status(), 401);
    assert_eq!(gw.chat("no-prefix", "gpt-4o").await.status(), 401);
    let r = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(gw.total_rows().await, before);
}

#[tokio::test]
async fn operation_calls_are_priced_by_their_units_and_count_against_the_budget() {
    let dir = TempDir::new("rows");
    let mock = MockServer::start().await.unwrap();
    let coster = Arc::new(PriceTableCoster::new(Arc::new(PriceTable::builtin())));
    let gw = start_in(&dir.0, &config(Some(&mock), ""), coster).await;
    let key = gw.key(json!({"max_budget": 0.5})).await;

    // DALL·E 3 from the built-in table: hd 1024x1792 is $0.12 an image.
    let r = gw
        .post(&key, "/v1/images/generations", json!({"model": "dalle", "prompt": "a cat", "n": 2, "size": "1024x1792", "quality": "hd"}))
        .await;
    assert_eq!(r.status(), 200);
    assert!(close(cost_header(&r), 0.24), "{:?}", r.headers());
    // No size or quality: OpenAI's defaults, standard 1024x1024 at $0.04.
    let r = gw
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dalle", "prompt": "a cat"}),
        )
        .await;
    assert!(close(cost_header(&r), 0.04));
    // A deployment's own per-pixel price: 512 × 512 pixels at $1e-8.
    let r = gw
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "pixels", "prompt": "a cat", "size": "512x512"}),
        )
        .await;
    assert!(close(cost_header(&r), 0.002_621_44), "{:?}", r.headers());

    // Whisper: $0.0001 a second; the mock's `json` answer reports 2 s, `verbose_json` 1.5 s.
    for (format, want) in [("json", 0.0002), ("verbose_json", 0.00015)] {
        let form = format!(
            "--X\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n\
             --X\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\n{format}\r\n\
             --X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
             Content-Type: audio/wav\r\n\r\nRIFF....\r\n--X--\r\n"
        );
        let r = gw
            .http
            .post(format!("{}/v1/audio/transcriptions", gw.base))
            .bearer_auth(&key)
            .header("content-type", "multipart/form-data; boundary=X")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(close(cost_header(&r), want), "{format}: {:?}", r.headers());
    }

    // Speech: per character of input (11), from the table and from a deployment override.
    for (model, want) in [("tts", 11.0 * 1.5e-5), ("tts-custom", 0.011)] {
        let r = gw
            .post(
                &key,
                "/v1/audio/speech",
                json!({"model": model, "input": "hello world", "voice": "alloy"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        assert!(close(cost_header(&r), want), "{model}: {:?}", r.headers());
        assert!(!r.bytes().await.unwrap().is_empty());
    }

    // Rerank: one search unit at $0.002.
    let r = gw
        .post(
            &key,
            "/v1/rerank",
            json!({"model": "rerank", "query": "cat", "documents": ["a cat", "a dog"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(close(cost_header(&r), 0.002), "{:?}", r.headers());

    // The spend rows carry the same costs, and they add up on the key.
    let rows = gw.rows(&key).await;
    let mut costs: Vec<f64> = rows.iter().map(|r| r["spend"].as_f64().unwrap()).collect();
    costs.sort_by(f64::total_cmp);
    let mut want = vec![
        0.24,
        0.04,
        0.002_621_44,
        0.0002,
        0.00015,
        11.0 * 1.5e-5,
        0.011,
        0.002,
    ];
    want.sort_by(f64::total_cmp);
    assert_eq!(costs.len(), want.len(), "{rows:#?}");
    assert!(
        costs.iter().zip(&want).all(|(a, b)| close(*a, *b)),
        "{costs:?}"
    );
    let total: f64 = want.iter().sum();
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={key}"), Value::Null)
        .await;
    assert!(
        close(info["info"]["spend"].as_f64().unwrap(), total),
        "{info}"
    );
    // $0.50 budget: two more hd images take it over, and then the key is refused.
    let r = gw
        .post(&key, "/v1/images/generations", json!({"model": "dalle", "prompt": "a cat", "n": 2, "size": "1024x1792", "quality": "hd"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = gw
        .post(
            &key,
            "/v1/images/generations",
            json!({"model": "dalle", "prompt": "a cat"}),
        )
        .await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn model_budgets_remember_their_spend_across_a_restart() {
    let dir = TempDir::new("rows");
    let mock = MockServer::start().await.unwrap();
    let yaml = config(Some(&mock), "litellm_settings:\n  timezone: UTC\n");
    let keys;
    {
        let gw = start_in(&dir.0, &yaml, Arc::new(DeploymentPrices)).await;
        let lifetime = gw
            .key(json!({"model_max_budget": {"gpt-4o": {"budget_limit": 0.02}}}))
            .await;
        let daily = gw
            .key(json!({"model_max_budget": {"gpt-4o": {"budget_limit": 0.02, "time_period": "1d"}}}))
            .await;
        for k in [&lifetime, &daily] {
            assert_eq!(gw.chat(k, "gpt-4o").await.status(), 200);
            assert_eq!(gw.chat(k, "gpt-4o").await.status(), 200);
            assert_eq!(gw.chat(k, "gpt-4o").await.status(), 429);
        }
        assert!(gw.acc.queue().flush().await);
        let (_, info) = gw
            .admin("GET", &format!("/key/info?key={lifetime}"), Value::Null)
            .await;
        let spent = info["info"]["model_spend"]["gpt-4o"].as_f64().unwrap();
        assert!(close(spent, 2.0 * COST), "{info}");
        keys = (lifetime, daily);
    }
    // A new process on the same database file: the per-model spend is still there.
    let gw = start_in(&dir.0, &yaml, Arc::new(DeploymentPrices)).await;
    let (lifetime, daily) = keys;
    let (s, e) = {
        let r = gw.chat(&lifetime, "gpt-4o").await;
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 429, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeded budget for model=gpt-4o"),
        "{e}"
    );
    assert_eq!(gw.chat(&daily, "gpt-4o").await.status(), 429);
    // Other models are not limited by it.
    assert_eq!(gw.chat(&lifetime, "cheap").await.status(), 200);
    // The daily budget's next window starts from zero, in memory and in the database.
    gw.clock.advance(Duration::days(1));
    assert_eq!(gw.chat(&daily, "gpt-4o").await.status(), 200);
    assert_eq!(gw.chat(&lifetime, "gpt-4o").await.status(), 429);
    assert!(gw.acc.queue().flush().await);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, info) = gw
        .admin("GET", &format!("/key/info?key={daily}"), Value::Null)
        .await;
    let spent = info["info"]["model_spend"]["gpt-4o"].as_f64().unwrap();
    assert!(close(spent, COST), "{info}");
}

/// How many chat calls of one key pass a `tpm_limit` of 11 before a 429, with
/// `token_rate_limit_type` set to `setting` (each call is 10 prompt + 2 completion tokens).
async fn calls_within_tpm(setting: &str) -> usize {
    let dir = TempDir::new("rows");
    let extra = if setting.is_empty() {
        String::new()
    } else {
        format!("  token_rate_limit_type: {setting}\n")
    };
    // The setting goes under the `general_settings` the base config opens last.
    let yaml = config(None, &extra);
    let gw = start_in(&dir.0, &yaml, Arc::new(DeploymentPrices)).await;
    let key = gw.key(json!({"tpm_limit": 11})).await;
    for n in 0..20 {
        let r = gw.chat(&key, "gpt-4o").await;
        if r.status() == 429 {
            return n;
        }
        assert_eq!(r.status(), 200);
    }
    panic!("the tpm limit never refused");
}

#[tokio::test]
async fn token_rate_limit_type_picks_the_tokens_tpm_counts() {
    // total (the default): 12 tokens a call, the second call is over 11.
    assert_eq!(calls_within_tpm("").await, 1);
    assert_eq!(calls_within_tpm("total").await, 1);
    // input: 10 a call, two calls.
    assert_eq!(calls_within_tpm("input").await, 2);
    // output: 2 a call, six calls (10 counted before the sixth).
    assert_eq!(calls_within_tpm("output").await, 6);
    // Anything else stops start-up.
    let dir = TempDir::new("rows");
    let yaml = config(None, "  token_rate_limit_type: prompt\n");
    let config = Config::from_yaml_str(&yaml, Path::new("config.yaml")).unwrap();
    let err = Accounting::open(
        &config,
        &format!("sqlite://{}/t.db", dir.0.display()),
        &dir.0.join("journal"),
        Arc::new(ManualClock::new(Utc::now())),
        Arc::new(DeploymentPrices),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("token_rate_limit_type"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_image_calls_reserve_their_price_and_cannot_overspend() {
    let dir = TempDir::new("rows");
    let mock = MockServer::start().await.unwrap();
    let coster = Arc::new(PriceTableCoster::new(Arc::new(PriceTable::builtin())));
    // Slow answers, so all ten calls are in flight at once.
    mock.push(
        tollgate_mock::MockScript::json(
            200,
            json!({"created": 1, "data": [{"url": "https://x/1.png"}]}),
        )
        .for_path_suffix("/images/generations")
        .delay_ms(300)
        .times(0),
    );
    let gw = Arc::new(start_in(&dir.0, &config(Some(&mock), ""), coster).await);
    // $0.05 left, images at $0.04: reservations let at most two of ten through.
    let key = gw.key(json!({"max_budget": 0.05})).await;
    let calls = (0..10).map(|_| {
        let (gw, key) = (gw.clone(), key.clone());
        tokio::spawn(async move {
            gw.post(
                &key,
                "/v1/images/generations",
                json!({"model": "dalle", "prompt": "a cat"}),
            )
            .await
            .status()
            .as_u16()
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!((1..=2).contains(&ok), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10 - ok,
        "{statuses:?}"
    );
    let rows = gw.rows(&key).await;
    let spent: f64 = rows.iter().map(|r| r["spend"].as_f64().unwrap()).sum();
    assert!(close(spent, ok as f64 * 0.04), "{spent}");
    assert!(
        spent < 0.05 + 0.04,
        "overspent by more than one call: {spent}"
    );
    assert_eq!(rows.len(), 10, "one row per call, refused or not");
}
