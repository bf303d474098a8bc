//! Rate limits and budgets shared by every instance through Redis: one Lua script checks all of
//! a request's budgets and descriptors and then reserves and counts them atomically, so limits
//! are exact and budgets hold across instances (each budget period has a Redis hash of settled
//! spend and open reservations, raised to the database's spend whenever that is higher). When
//! Redis cannot be reached the local limiter and ledger take over (logged once); Redis is tried
//! again after a pause and used again as soon as it answers.

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

/// Sums a budget hash's open reservations (fields `r<minute>`, one per minute of admission)
/// and drops those older than `stale` minutes: a reservation whose release never came (Redis
/// went away meanwhile) stops counting then, even on a budget that never goes idle.
const RESERVED_FN: &str = r"
local function reserved(b, minute, stale)
  local flat = redis.call('HGETALL', b)
  local sum = 0
  for f = 1, #flat, 2 do
    local name = flat[f]
    if string.sub(name, 1, 1) == 'r' then
      if tonumber(string.sub(name, 2)) < minute - stale then
        redis.call('HDEL', b, name)
      else
        sum = sum + tonumber(flat[f+1])
      end
    end
  end
  return sum
end
";

/// Checks every budget, then every rate-limit descriptor, then reserves and counts. KEYS: per
/// descriptor its window hash and parallel counter, then per budget its hash. ARGV[1] the
/// number of descriptors, ARGV[2] the budget hashes' time to live, ARGV[3] the current minute,
/// ARGV[4] the minutes after which a reservation is dropped, then per descriptor rpm, tpm,
/// parallel (-1 = unset), then per budget max (-1 = unset), floor, reservation. A budget's
/// spend is raised to its floor (the instance's view from the database) before the check, so
/// spend that reached the database without Redis (fallback, other tools) is never forgotten.
/// Returns `{0, req1, tok1, ...}`, `{i, kind, limit}` for the first exceeded limit (kind 1
/// requests, 2 tokens, 3 parallel), or `{-j, spend_plus_reserved}` for an exhausted budget.
const ADMIT: &str = r"
local nl = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local minute, stale = tonumber(ARGV[3]), tonumber(ARGV[4])
local nb = #KEYS - 2 * nl
local a = 4 + 3 * nl
for j = 1, nb do
  local b = KEYS[2*nl+j]
  local max, floor = tonumber(ARGV[a+3*j-2]), tonumber(ARGV[a+3*j-1])
  local spend = tonumber(redis.call('HGET', b, 'spend') or '0')
  if floor > spend then
    redis.call('HSET', b, 'spend', ARGV[a+3*j-1])
    redis.call('EXPIRE', b, ttl)
    spend = floor
  end
  local used = spend + reserved(b, minute, stale)
  if max >= 0 and used >= max then return {-j, tostring(used)} end
end
for i = 1, nl do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  local rpm, tpm, par = tonumber(ARGV[3*i+2]), tonumber(ARGV[3*i+3]), tonumber(ARGV[3*i+4])
  local req = tonumber(redis.call('HGET', w, 'requests') or '0')
  local tok = tonumber(redis.call('HGET', w, 'tokens') or '0')
  if rpm >= 0 and req + 1 > rpm then return {i, 1, rpm} end
  if tpm >= 0 and tok >= tpm then return {i, 2, tpm} end
  if par >= 0 and tonumber(redis.call('GET', p) or '0') + 1 > par then return {i, 3, par} end
end
local out = {0}
for i = 1, nl do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  local req = redis.call('HINCRBY', w, 'requests', 1)
  redis.call('EXPIRE', w, 180)
  if tonumber(ARGV[3*i+4]) >= 0 then
    redis.call('INCR', p)
    redis.call('EXPIRE', p, 3600)
  end
  out[#out+1] = req
  out[#out+1] = tonumber(redis.call('HGET', w, 'tokens') or '0')
end
for j = 1, nb do
  local b = KEYS[2*nl+j]
  redis.call('HINCRBYFLOAT', b, 'r' .. minute, ARGV[a+3*j])
  redis.call('EXPIRE', b, ttl)
end
return out
";

/// Adds a finished request's tokens, frees its parallel slots and turns its budget
/// reservations into spend. KEYS as [`ADMIT`]'s. ARGV[1] the number of descriptors, ARGV[2]
/// the budgets' time to live, ARGV[3] tokens, ARGV[4] the minute of admission, then per
/// descriptor whether it holds a parallel slot (1/0), then per budget the reservation and the
/// real cost. Returns each budget's spend after this call (as text: Lua would truncate it).
const RELEASE: &str = r"
local nl = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local field = 'r' .. ARGV[4]
local nb = #KEYS - 2 * nl
for i = 1, nl do
  local w, p = KEYS[2*i-1], KEYS[2*i]
  if tokens > 0 then
    redis.call('HINCRBY', w, 'tokens', tokens)
    redis.call('EXPIRE', w, 180)
  end
  if ARGV[4+i] == '1' then
    if tonumber(redis.call('DECR', p)) < 0 then redis.call('SET', p, 0) end
  end
end
local out = {}
local a = 4 + nl
for j = 1, nb do
  local b = KEYS[2*nl+j]
  if redis.call('HEXISTS', b, field) == 1 then
    local r = tonumber(redis.call('HINCRBYFLOAT', b, field, '-' .. ARGV[a+2*j-1]))
    if r < 1e-12 then redis.call('HDEL', b, field) end
  end
  if tonumber(ARGV[a+2*j]) > 0 then
    out[j] = redis.call('HINCRBYFLOAT', b, 'spend', ARGV[a+2*j])
  else
    out[j] = redis.call('HGET', b, 'spend') or '0'
  end
  redis.call('EXPIRE', b, ttl)
end
return out
";

/// Minutes after which an unreleased budget reservation stops counting (longer than any call
/// should take; a stream running longer merely stops holding its reservation).
const STALE_RESERVATION_MINUTES: i64 = 15;

/// How long an idle budget counter lives in Redis: long enough that every instance's spend of
/// the period has reached the database (which then provides the floor) before it expires.
const BUDGET_TTL_SECS: i64 = 3600;

/// One budget a request is checked against in Redis.
#[derive(Debug, Clone)]
pub struct SharedBudget {
    /// The ledger id (`key:<hash>`, `team:<id>`, `global`, ...).
    pub id: String,
    /// The budget period, as the Unix time it ends (0: no period): each period counts apart.
    pub period: i64,
    /// `max_budget`, if any (else the budget is only tracked, for soft-budget alerts).
    pub max: Option<f64>,
    /// This instance's view of the period's settled spend (database plus its own calls).
    pub floor: f64,
    /// The request's reservation.
    pub amount: f64,
}

impl SharedBudget {
    fn key(&self) -> String {
        budget_key(&self.id, self.period)
    }
}

/// The Redis hash of budget `id` in `period`.
fn budget_key(id: &str, period: i64) -> String {
    format!("{{tollgate:budget:{id}}}:{period}")
}

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
    /// The `index`-th budget is used up: settled spend plus reservations is `spent`.
    OverBudget {
        index: usize,
        spent: f64,
    },
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
            admit: redis::Script::new(&format!("{RESERVED_FN}{ADMIT}")),
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
                "Redis unavailable, rate limits and budgets are per instance until it returns: {why}"
            );
        }
        if let Ok(mut at) = self.retry_at.lock() {
            *at = Some(Instant::now() + RETRY_AFTER);
        }
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis reachable again, rate limits and budgets are shared again");
        }
    }

    /// Checks a request's budgets and limits against the shared counters and, when all pass,
    /// reserves its budgets and counts it, in one round trip.
    pub async fn admit(
        &self,
        limits: &[Limit],
        budgets: &[SharedBudget],
        now: DateTime<Utc>,
    ) -> Shared {
        let set: Vec<&Limit> = limits.iter().filter(|l| l.is_set()).collect();
        if set.is_empty() && budgets.is_empty() {
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
        for b in budgets {
            inv.key(b.key());
        }
        inv.arg(set.len())
            .arg(BUDGET_TTL_SECS)
            .arg(now.timestamp().div_euclid(60))
            .arg(STALE_RESERVATION_MINUTES);
        for l in &set {
            inv.arg(l.rpm.unwrap_or(-1))
                .arg(l.tpm.unwrap_or(-1))
                .arg(l.parallel.unwrap_or(-1));
        }
        for b in budgets {
            inv.arg(b.max.unwrap_or(-1.0).to_string())
                .arg(b.floor.to_string())
                .arg(b.amount.to_string());
        }
        let reply: Vec<redis::Value> =
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
        if let Some(j) = reply.first().map(number).filter(|j| *j < 0.0) {
            return Shared::OverBudget {
                index: (-j) as usize - 1,
                spent: reply.get(1).map_or(0.0, number),
            };
        }
        let result: Vec<i64> = reply.iter().map(|v| number(v) as i64).collect();
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

    /// Adds tokens, frees parallel slots and settles the budget reservations taken by
    /// [`SharedLimiter::admit`] (`costs[j]` is budget j's real cost). Returns each budget's
    /// spend after this call, or `None` when Redis could not be reached.
    pub async fn release(
        &self,
        limits: &[Limit],
        tokens: i64,
        started: DateTime<Utc>,
        budgets: &[SharedBudget],
        cost: f64,
    ) -> Option<Vec<f64>> {
        let set: Vec<&Limit> = limits.iter().filter(|l| l.is_set()).collect();
        if set.is_empty() && budgets.is_empty() {
            return Some(Vec::new());
        }
        let mut conn = self.connection().await?;
        // Tokens count in the window the request was admitted in, like its request.
        let index = started.timestamp().div_euclid(WINDOW_SECS);
        let mut inv = self.release.prepare_invoke();
        for k in keys(&set, index) {
            inv.key(k);
        }
        for b in budgets {
            inv.key(b.key());
        }
        inv.arg(set.len())
            .arg(BUDGET_TTL_SECS)
            .arg(tokens)
            .arg(started.timestamp().div_euclid(60));
        for l in &set {
            inv.arg(if l.parallel.is_some() { "1" } else { "0" });
        }
        for b in budgets {
            inv.arg(b.amount.to_string()).arg(cost.to_string());
        }
        match tokio::time::timeout(TIMEOUT, inv.invoke_async::<Vec<redis::Value>>(&mut conn)).await
        {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v.iter().map(number).collect())
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("timed out");
                None
            }
        }
    }
}

impl SharedLimiter {
    /// Sets the settled spend of budget `id` in `period` (see [`SharedBudget`]) to `spend`,
    /// for an administrator's reset; open reservations stay. Whether Redis took it.
    pub async fn set_spend(&self, id: &str, period: i64, spend: f64) -> bool {
        let Some(mut conn) = self.connection().await else {
            return false;
        };
        let mut cmd = redis::cmd("HSET");
        cmd.arg(budget_key(id, period))
            .arg("spend")
            .arg(spend.to_string());
        match tokio::time::timeout(TIMEOUT * 4, cmd.query_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {
                self.succeeded();
                true
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                false
            }
            Err(_) => {
                self.failed("timed out");
                false
            }
        }
    }

    /// Sets `key` for `ttl_secs` unless it exists (`SET NX EX`): whether this call set it, or
    /// `None` when Redis could not be reached. Off the request path (alert de-duplication).
    pub async fn claim(&self, key: &str, ttl_secs: i64) -> Option<bool> {
        let mut conn = self.connection().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{{tollgate:{key}}}"))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl_secs);
        let set = cmd.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(TIMEOUT * 4, set).await {
            Ok(Ok(v)) => Some(v.is_some()),
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => None,
        }
    }
}

/// A script reply element as a number (integers, or floats sent as text).
fn number(v: &redis::Value) -> f64 {
    match v {
        redis::Value::Int(i) => *i as f64,
        redis::Value::Double(d) => *d,
        redis::Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
        redis::Value::SimpleString(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}
