//! Rate limits shared by every instance through Redis: one Lua script checks and counts all of
//! a request's descriptors atomically, so limits are exact across instances. When Redis cannot
//! be reached the local limiter takes over (logged once); Redis is tried again after a pause and
//! used again as soon as it answers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use tollgate_config::Config;

use super::limits::{Exceeded, Headers, Limit, WINDOW_SECS};

/// Longest wait for Redis on the request path.
const TIMEOUT: Duration = Duration::from_millis(250);
/// How long to stay on local limits after Redis failed.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Checks every descriptor, then counts the request in each. Per descriptor: KEYS window hash,
/// parallel counter; ARGV rpm, tpm, parallel (-1 = unset). Returns `{0, req1, tok1, ...}` or
/// `{i, kind, limit}` for the first exceeded limit (kind 1 requests, 2 tokens, 3 parallel).
const ADMIT: &str = r"
local n = #KEYS / 2
for i = 1, n do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  local rpm, tpm, par = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local req = tonumber(redis.call('HGET', w, 'requests') or '0')
  local tok = tonumber(redis.call('HGET', w, 'tokens') or '0')
  if rpm >= 0 and req + 1 > rpm then return {i, 1, rpm} end
  if tpm >= 0 and tok >= tpm then return {i, 2, tpm} end
  if par >= 0 and tonumber(redis.call('GET', p) or '0') + 1 > par then return {i, 3, par} end
end
local out = {0}
for i = 1, n do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  local req = redis.call('HINCRBY', w, 'requests', 1)
  redis.call('EXPIRE', w, 180)
  if tonumber(ARGV[3*i]) >= 0 then
    redis.call('INCR', p)
    redis.call('EXPIRE', p, 3600)
  end
  out[#out+1] = req
  out[#out+1] = tonumber(redis.call('HGET', w, 'tokens') or '0')
end
return out
";

/// Adds a finished request's tokens and frees its parallel slot. ARGV tokens, then per
/// descriptor whether it holds a parallel slot (1/0).
const RELEASE: &str = r"
local n = #KEYS / 2
local tokens = tonumber(ARGV[1])
for i = 1, n do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  if tokens > 0 then
    redis.call('HINCRBY', w, 'tokens', tokens)
    redis.call('EXPIRE', w, 180)
  end
  if ARGV[i+1] == '1' then
    if tonumber(redis.call('DECR', p)) < 0 then redis.call('SET', p, 0) end
  end
end
return 0
";

/// Where Redis is: `router_settings` (`redis_url`, or `redis_host`/`redis_port`/
/// `redis_password`), else `REDIS_URL` / `REDIS_HOST`+`REDIS_PORT`(+`REDIS_PASSWORD`).
pub fn redis_url(config: &Config) -> Option<String> {
    let rs = serde_json::to_value(&config.router_settings).unwrap_or(Value::Null);
    let setting = |k: &str| -> Option<String> {
        match rs.get(k)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let env = &config.env;
    if let Some(url) = setting("redis_url").or_else(|| env.get("REDIS_URL")) {
        return Some(url);
    }
    let host = setting("redis_host").or_else(|| env.get("REDIS_HOST"))?;
    let port = setting("redis_port")
        .or_else(|| env.get("REDIS_PORT"))
        .unwrap_or_else(|| "6379".into());
    Some(
        match setting("redis_password").or_else(|| env.get("REDIS_PASSWORD")) {
            Some(p) => format!("redis://:{p}@{host}:{port}"),
            None => format!("redis://{host}:{port}"),
        },
    )
}

/// The Redis side of the limiter.
pub struct SharedLimiter {
    client: redis::Client,
    conn: AsyncMutex<Option<ConnectionManager>>,
    admit: redis::Script,
    release: redis::Script,
    down: AtomicBool,
    retry_at: Mutex<Option<Instant>>,
    /// Exchanges wanted and exchanges that failed, for monitoring.
    requests: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What Redis said.
pub enum Shared {
    Admitted(Headers),
    Refused(Exceeded),
    /// Redis unavailable: use local limits.
    Unavailable,
}

fn keys(limits: &[&Limit], index: i64) -> Vec<String> {
    limits
        .iter()
        .flat_map(|l| {
            // The `{...}` hash tag keeps a descriptor's keys in one Redis Cluster slot.
            let tag = format!("{{tollgate:{}:{}}}", l.descriptor, l.value);
            [format!("{tag}:w{index}"), format!("{tag}:parallel")]
        })
        .collect()
}

impl SharedLimiter {
    /// A limiter for `url`; connects on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: AsyncMutex::new(None),
            admit: redis::Script::new(ADMIT),
            release: redis::Script::new(RELEASE),
            down: AtomicBool::new(false),
            retry_at: Mutex::new(None),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// Whether Redis is currently being used.
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Whether Redis answers, and how many exchanges were wanted (including those skipped
    /// while it was known down) and failed.
    pub fn stats(&self) -> tollgate_router::RedisStats {
        tollgate_router::RedisStats {
            up: self.is_up(),
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Ok(at) = self.retry_at.lock() {
            if at.is_some_and(|t| Instant::now() < t) {
                return None;
            }
        }
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            match tokio::time::timeout(TIMEOUT * 4, ConnectionManager::new(self.client.clone()))
                .await
            {
                Ok(Ok(c)) => *guard = Some(c),
                Ok(Err(e)) => {
                    self.failed(&e.to_string());
                    return None;
                }
                Err(_) => {
                    self.failed("connect timed out");
                    return None;
                }
            }
        }
        guard.clone()
    }

    fn failed(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "Redis unavailable, rate limits are per instance until it returns: {why}"
            );
        }
        if let Ok(mut at) = self.retry_at.lock() {
            *at = Some(Instant::now() + RETRY_AFTER);
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis reachable again, rate limits are shared again");
        }
    }

    /// Checks and counts a request against the shared counters.
    pub async fn admit(&self, limits: &[Limit], now: DateTime<Utc>) -> Shared {
        let set: Vec<&Limit> = limits.iter().filter(|l| l.is_set()).collect();
        if set.is_empty() {
            return Shared::Admitted(Vec::new());
        }
        let Some(mut conn) = self.connection().await else {
            return Shared::Unavailable;
        };
        let index = now.timestamp().div_euclid(WINDOW_SECS);
        let mut inv = self.admit.prepare_invoke();
        for k in keys(&set, index) {
            inv.key(k);
        }
        for l in &set {
            inv.arg(l.rpm.unwrap_or(-1))
                .arg(l.tpm.unwrap_or(-1))
                .arg(l.parallel.unwrap_or(-1));
        }
        let result: Vec<i64> =
            match tokio::time::timeout(TIMEOUT, inv.invoke_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    self.failed(&e.to_string());
                    return Shared::Unavailable;
                }
                Err(_) => {
                    self.failed("timed out");
                    return Shared::Unavailable;
                }
            };
        self.succeeded();
        let resets_at = Utc
            .timestamp_opt((index + 1) * WINDOW_SECS, 0)
            .single()
            .unwrap_or(now);
        match result.first().copied() {
            Some(0) => {
                let mut headers = Vec::new();
                for (i, l) in set.iter().enumerate() {
                    let req = result.get(1 + 2 * i).copied().unwrap_or(0);
                    let tok = result.get(2 + 2 * i).copied().unwrap_or(0);
                    if let Some(rpm) = l.rpm {
                        headers.push((
                            format!("x-ratelimit-{}-limit-requests", l.descriptor),
                            rpm.to_string(),
                        ));
                        headers.push((
                            format!("x-ratelimit-{}-remaining-requests", l.descriptor),
                            (rpm - req).max(0).to_string(),
                        ));
                    }
                    if let Some(tpm) = l.tpm {
                        headers.push((
                            format!("x-ratelimit-{}-limit-tokens", l.descriptor),
                            tpm.to_string(),
                        ));
                        headers.push((
                            format!("x-ratelimit-{}-remaining-tokens", l.descriptor),
                            (tpm - tok).max(0).to_string(),
                        ));
                    }
                }
                Shared::Admitted(headers)
            }
            Some(i) if i >= 1 => {
                let l = set[(i as usize - 1).min(set.len() - 1)];
                let kind = match result.get(1) {
                    Some(1) => "requests",
                    Some(2) => "tokens",
                    _ => "max_parallel_requests",
                };
                Shared::Refused(Exceeded {
                    descriptor: l.descriptor,
                    value: l.value.clone(),
                    kind,
                    limit: result.get(2).copied().unwrap_or(0),
                    resets_at,
                    retry_after_secs: if kind == "max_parallel_requests" {
                        1
                    } else {
                        (resets_at - now).num_seconds().max(1) as u64
                    },
                })
            }
            _ => Shared::Unavailable,
        }
    }

    /// Adds tokens and frees parallel slots taken by [`SharedLimiter::admit`].
    pub async fn release(&self, limits: &[Limit], tokens: i64, started: DateTime<Utc>) {
        let set: Vec<&Limit> = limits.iter().filter(|l| l.is_set()).collect();
        if set.is_empty() {
            return;
        }
        let Some(mut conn) = self.connection().await else {
            return;
        };
        // Tokens count in the window the request was admitted in, like its request.
        let index = started.timestamp().div_euclid(WINDOW_SECS);
        let mut inv = self.release.prepare_invoke();
        for k in keys(&set, index) {
            inv.key(k);
        }
        inv.arg(tokens);
        for l in &set {
            inv.arg(if l.parallel.is_some() { "1" } else { "0" });
        }
        match tokio::time::timeout(TIMEOUT, inv.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => self.succeeded(),
            Ok(Err(e)) => self.failed(&e.to_string()),
            Err(_) => self.failed("timed out"),
        }
    }
}
