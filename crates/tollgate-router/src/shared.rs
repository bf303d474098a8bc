//! Router state shared between gateway instances through Redis: cooldowns and this minute's
//! rpm/tpm per deployment, under LiteLLM's key names. Checks that must hold across instances
//! (rpm admission) are single Lua scripts, never read-then-write.
//!
//! Redis is an accelerator, not a dependency: when it cannot be reached the router serves on
//! its local state, logs that once, and tries Redis again a few seconds later.

use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;
use tollgate_config::Config;

/// Longest a routing decision waits on Redis before using local state.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);
/// After a failure, Redis is left alone this long (so an outage costs no latency per call).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Counters outlive their minute a little, for clocks that disagree.
const COUNTER_TTL_SECS: u64 = 120;
/// In-flight counts are forgotten after this long without a new call.
const IN_FLIGHT_TTL_SECS: u64 = 600;
/// LiteLLM's latency window `ttl` default: an hour.
const LATENCY_TTL_SECS: u64 = 3600;

/// Admits one request if the minute's count is below the limit (`ARGV[1]`, empty: no limit).
const RPM_SCRIPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and n >= tonumber(ARGV[1]) then return 0 end
n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// The Redis connection of a router.
pub(crate) struct Shared {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    down_until: Mutex<Option<Instant>>,
    down: AtomicBool,
    rpm_script: redis::Script,
    /// Exchanges wanted and exchanges that failed, for monitoring.
    requests: AtomicU64,
    failures: AtomicU64,
}

/// `redis_url`, else `redis_host` + `redis_port` (+ `redis_password`), from `router_settings`
/// or the `REDIS_*` environment variables, as LiteLLM reads them.
pub(crate) fn redis_url(config: &Config) -> Option<String> {
    let rs = &config.router_settings;
    let env = &config.env;
    if let Some(url) = rs.redis_url.clone().or_else(|| env.get("REDIS_URL")) {
        return Some(url);
    }
    let host = rs.redis_host.clone().or_else(|| env.get("REDIS_HOST"))?;
    let port = rs
        .redis_port
        .map(|p| p.to_string())
        .or_else(|| env.get("REDIS_PORT"))?;
    let password = rs
        .redis_password
        .clone()
        .or_else(|| env.get("REDIS_PASSWORD"));
    Some(match password {
        Some(p) if !p.is_empty() => format!("redis://:{p}@{host}:{port}"),
        _ => format!("redis://{host}:{port}"),
    })
}

/// LiteLLM's minute key suffix: the UTC `HH-MM`.
fn minute_key() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let minute = (secs / 60) % 1440;
    format!("{:02}-{:02}", minute / 60, minute % 60)
}

/// Time left until the next UTC minute starts.
pub(crate) fn until_next_minute() -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(60) - Duration::from_millis((now.as_millis() % 60_000) as u64)
}

impl Shared {
    /// A lazily connected handle; `None` for an unparsable URL (logged).
    pub(crate) fn new(url: &str) -> Option<Self> {
        match redis::Client::open(url) {
            Ok(client) => Some(Self {
                client,
                conn: tokio::sync::Mutex::new(None),
                down_until: Mutex::new(None),
                down: AtomicBool::new(false),
                rpm_script: redis::Script::new(RPM_SCRIPT),
                requests: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
            Err(e) => {
                tracing::warn!("router Redis URL is not usable, sharing nothing: {e}");
                None
            }
        }
    }

    async fn conn(&self) -> Option<ConnectionManager> {
        let until = *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if until.is_some_and(|u| Instant::now() < u) {
            return None;
        }
        let mut guard = self.conn.lock().await;
        if let Some(c) = &*guard {
            return Some(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        {
            Ok(Ok(c)) => {
                *guard = Some(c.clone());
                Some(c)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("connection timed out");
                None
            }
        }
    }

    /// Whether Redis answers, and how many exchanges were wanted and failed.
    pub(crate) fn stats(&self) -> crate::RedisStats {
        crate::RedisStats {
            up: !self.down.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    fn failed(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_AFTER_FAILURE);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "router Redis unreachable ({why}): serving on this instance's own state until it is back"
            );
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("router Redis reachable again: state is shared");
        }
    }

    /// Runs one Redis exchange with the call timeout; `None` (and the outage logic) on failure.
    async fn run<T, F, Fut>(&self, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let conn = self.conn().await?;
        match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("command timed out");
                None
            }
        }
    }

    /// Remaining cooldown of each deployment id, as other instances set them.
    pub(crate) async fn cooldowns(&self, ids: &[&str]) -> Option<Vec<Option<Duration>>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("PTTL").arg(format!("deployment:{id}:cooldown"));
        }
        let ttls: Vec<i64> = self
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        Some(
            ttls.into_iter()
                .map(|ms| (ms > 0).then(|| Duration::from_millis(ms as u64)))
                .collect(),
        )
    }

    /// Cools a deployment down for every instance.
    pub(crate) async fn set_cooldown(&self, id: &str, status: u16, d: Duration) {
        let key = format!("deployment:{id}:cooldown");
        let value = serde_json::json!({
            "status_code": status.to_string(),
            "timestamp": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |t| t.as_secs_f64()),
            "cooldown_time": d.as_secs_f64(),
        })
        .to_string();
        let ms = d.as_millis().max(1) as u64;
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }

    /// Admits one request against the deployment's rpm across every instance, atomically.
    /// `None` when Redis could not answer.
    pub(crate) async fn admit_rpm(&self, id: &str, limit: Option<u64>) -> Option<bool> {
        let key = format!("{id}:rpm:{}", minute_key());
        let limit = limit.map(|l| l.to_string()).unwrap_or_default();
        let script = &self.rpm_script;
        self.run(|mut c| async move {
            script
                .key(key)
                .arg(limit)
                .arg(COUNTER_TTL_SECS)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|n| n == 1)
    }

    /// Adds tokens to the deployment's tpm for this minute.
    pub(crate) async fn add_tpm(&self, id: &str, tokens: u64) {
        let key = format!("{id}:tpm:{}", minute_key());
        self.run(|mut c| async move {
            redis::pipe()
                .cmd("INCRBY")
                .arg(&key)
                .arg(tokens)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(COUNTER_TTL_SECS)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }

    /// Counts a call in flight on a deployment, across instances. The key expires so a crashed
    /// instance cannot leave a deployment looking busy for ever.
    pub(crate) async fn in_flight_start(&self, id: &str) {
        let key = format!("{id}:in_flight");
        self.run(|mut c| async move {
            redis::pipe()
                .cmd("INCR")
                .arg(&key)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(IN_FLIGHT_TTL_SECS)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }

    /// The call counted by [`Shared::in_flight_start`] ended.
    pub(crate) async fn in_flight_end(&self, id: &str) {
        let key = format!("{id}:in_flight");
        self.run(
            |mut c| async move { redis::cmd("DECR").arg(key).query_async::<()>(&mut c).await },
        )
        .await;
    }

    /// Adds a latency sample (ms) to the deployment's shared window of `window` samples.
    pub(crate) async fn record_latency(&self, id: &str, latency: Duration, window: usize) {
        let key = format!("{id}:latency");
        let ms = latency.as_secs_f64() * 1000.0;
        let last = window.max(1) as isize - 1;
        self.run(|mut c| async move {
            redis::pipe()
                .cmd("LPUSH")
                .arg(&key)
                .arg(ms)
                .ignore()
                .cmd("LTRIM")
                .arg(&key)
                .arg(0)
                .arg(last)
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(LATENCY_TTL_SECS)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await;
    }

    /// Calls in flight on each deployment, across instances.
    pub(crate) async fn in_flight(&self, ids: &[&str]) -> Option<Vec<u64>> {
        let keys: Vec<String> = ids.iter().map(|id| format!("{id}:in_flight")).collect();
        let values: Vec<Option<i64>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        Some(
            values
                .into_iter()
                .map(|v| v.unwrap_or(0).max(0) as u64)
                .collect(),
        )
    }

    /// The shared latency window of each deployment.
    pub(crate) async fn latencies(&self, ids: &[&str]) -> Option<Vec<Vec<Duration>>> {
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("LRANGE")
                .arg(format!("{id}:latency"))
                .arg(0)
                .arg(-1);
        }
        let lists: Vec<Vec<f64>> = self
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        Some(
            lists
                .into_iter()
                .map(|l| {
                    l.into_iter()
                        .filter_map(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                        .collect()
                })
                .collect(),
        )
    }

    /// This minute's (rpm, tpm) of each deployment id, across instances.
    pub(crate) async fn usage(&self, ids: &[&str]) -> Option<Vec<(u64, u64)>> {
        let minute = minute_key();
        let keys: Vec<String> = ids
            .iter()
            .flat_map(|id| [format!("{id}:rpm:{minute}"), format!("{id}:tpm:{minute}")])
            .collect();
        let values: Vec<Option<u64>> = self
            .run(|mut c| async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await })
            .await?;
        Some(
            values
                .chunks(2)
                .map(|p| {
                    (
                        p.first().copied().flatten().unwrap_or(0),
                        p.get(1).copied().flatten().unwrap_or(0),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str, env: &[(&str, &str)]) -> Config {
        let mut c = Config::from_yaml_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        c.env = tollgate_core::Env::with_overlay(
            env.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        c
    }

    #[test]
    fn redis_url_comes_from_settings_then_the_environment() {
        let c = config(
            "router_settings:\n  redis_host: h\n  redis_port: 6380\n  redis_password: pw\n",
            &[],
        );
        assert_eq!(redis_url(&c).as_deref(), Some("redis://:pw@h:6380"));
        let c = config("", &[("REDIS_HOST", "e"), ("REDIS_PORT", "1")]);
        assert_eq!(redis_url(&c).as_deref(), Some("redis://e:1"));
        let c = config("router_settings:\n  redis_host: only-host\n", &[]);
        assert_eq!(redis_url(&c), None, "LiteLLM needs host and port");
    }

    #[test]
    fn minute_keys_are_utc_hh_mm() {
        let k = minute_key();
        assert_eq!(k.len(), 5);
        assert_eq!(&k[2..3], "-");
        assert!(until_next_minute() <= Duration::from_secs(60));
    }

    #[tokio::test]
    async fn an_unreachable_redis_answers_none_quickly_and_is_left_alone() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let s = Shared::new(&format!("redis://127.0.0.1:{port}")).unwrap();
        assert!(s.admit_rpm("x", Some(1)).await.is_none());
        assert!(s.down.load(Ordering::Relaxed));
        let until = s.down_until.lock().unwrap().unwrap();
        assert!(until > Instant::now(), "Redis is left alone for a while");
        assert!(s.cooldowns(&["x"]).await.is_none());
    }
}
