//! Virtual keys, budgets, rate limits and spend. Keys, teams, users, end users and budgets are
//! served from memory (loaded at start-up, refreshed every few seconds for other instances'
//! changes, and updated at once by this instance's management calls), so a request never waits
//! on the database; spend rows go to the durable queue behind the response.
//!
//! Budgets hold under concurrency by reserving each request's estimated cost before the call
//! and settling the real cost after it: a request is admitted only while settled spend plus
//! open reservations is below the budget. With Redis the settled spend and reservations of
//! each budget period are kept there too (see [`shared`]), so the budget holds across
//! instances; without it each instance sees the others' spend at its next refresh.

pub mod alerts;
pub mod cost;
pub mod limits;
mod model_spend;
mod refused;
pub mod shared;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use tollgate_config::{Config, DeploymentConfig};
use tollgate_core::{GatewayError, Usage};
use tollgate_router::CallInfo;
use tollgate_store::duration::{self, Span};
use tollgate_store::{
    BudgetRow, Clock, EndUserRow, KeyRow, MembershipRow, Owner, SpendQueue, SpendRow, Store,
    TeamRow, UserRow,
};

pub use cost::{Coster, DeploymentPrices, PriceTableCoster, Units};
use limits::{Limit, Limiter};
use model_spend::KEY_MODEL;
use shared::{Shared, SharedBudget, SharedLimiter};

use crate::auth::Identity;
use crate::metrics::CallMetrics;

/// How often the cache is reloaded from the database (other instances' changes).
const REFRESH: Duration = Duration::from_secs(5);
/// How long an unknown key is remembered as unknown before the database is asked again.
const NEGATIVE_TTL_SECS: i64 = 5;
/// Output tokens assumed for a request that sets no `max_tokens`, for its reservation.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 1024;

/// In-memory copies of the tables the hot path reads.
#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, Arc<KeyRow>>,
    teams: HashMap<String, Arc<TeamRow>>,
    users: HashMap<String, Arc<UserRow>>,
    end_users: HashMap<String, Arc<EndUserRow>>,
    budgets: HashMap<String, Arc<BudgetRow>>,
    members: HashMap<(String, String), MembershipRow>,
    /// Keys replaced by `/key/regenerate` with a `grace_period`: old hash → (the new key's
    /// hash, when the old one stops working).
    grace: HashMap<String, (String, DateTime<Utc>)>,
}

/// Where a regenerated key keeps the keys it replaced during their `grace_period`, in its
/// metadata: `[{"token": <old hash>, "revoke_at": <time>}]`; auth accepts them until then.
pub const GRACE_TOKENS: &str = "deprecated_tokens";

/// The grace entries a key row carries.
fn grace_of(k: &KeyRow) -> impl Iterator<Item = (String, (String, DateTime<Utc>))> + '_ {
    k.metadata
        .get(GRACE_TOKENS)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let old = t.get("token")?.as_str()?;
            let at = tollgate_store::serde_util::parse_ts(t.get("revoke_at")?.as_str()?)?;
            Some((old.to_owned(), (k.token.clone(), at)))
        })
}

#[derive(Debug, Default, Clone, Copy)]
struct Ledger {
    spend: f64,
    reserved: f64,
    reset_at: Option<DateTime<Utc>>,
}

/// A request's hold on one budget, from admission to settlement.
#[derive(Debug, Clone)]
struct Reservation {
    /// The ledger id.
    id: String,
    amount: f64,
    max: Option<f64>,
    soft: Option<f64>,
    label: String,
    /// Whether this budget's reservation is also held in Redis.
    shared: bool,
}

/// One budget a request is checked against.
#[derive(Debug, Clone)]
struct BudgetCheck {
    id: String,
    owner: Option<Owner>,
    max: Option<f64>,
    soft: Option<f64>,
    span: Option<Span>,
    stored_spend: f64,
    stored_reset: Option<DateTime<Utc>>,
    exceeded: fn(&str, f64, f64) -> String,
    label: String,
}

/// Keys, budgets, limits and spend for the proxy.
#[derive(Debug)]
pub struct Accounting {
    store: Store,
    queue: SpendQueue,
    cache: RwLock<Cache>,
    ledger: Mutex<HashMap<String, Ledger>>,
    unknown: Mutex<HashMap<String, DateTime<Utc>>>,
    limiter: Limiter,
    shared: Option<Arc<SharedLimiter>>,
    clock: Arc<dyn Clock>,
    tz: Tz,
    coster: Arc<dyn Coster>,
    /// Soft-budget crossings so far (each logged as a warning when it happens).
    soft_budget_alerts: AtomicU64,
    /// Whether a budget reset pass is running (one at a time per instance).
    resetting: AtomicBool,
    /// Budget alerts (`general_settings.alerting`), when configured.
    alerter: Option<alerts::Alerter>,
    deployments: HashMap<String, DeploymentConfig>,
    groups: HashMap<String, Vec<DeploymentConfig>>,
    access_groups: HashMap<String, Vec<String>>,
    global_budget: Option<(f64, Option<Span>)>,
    master_hash: Option<String>,
    /// Which tokens count against `tpm_limit`s (`general_settings.token_rate_limit_type`).
    tpm_tokens: TokenRateLimitType,
}

/// `general_settings.token_rate_limit_type`: the tokens a finished request adds to its
/// `tpm_limit` windows. Tollgate's default is `total`, as LiteLLM's docs say (LiteLLM's v3
/// limiter code counts `output` when the setting is absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenRateLimitType {
    /// Prompt plus completion tokens.
    #[default]
    Total,
    /// Prompt tokens only.
    Input,
    /// Completion tokens only.
    Output,
}

impl TokenRateLimitType {
    /// The setting from `general_settings`; an unknown value is a start-up error.
    pub fn from_config(config: &Config) -> Result<Self, GatewayError> {
        match config.general_settings.extra.get("token_rate_limit_type") {
            None | Some(Value::Null) => Ok(Self::default()),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "total" => Ok(Self::Total),
                "input" => Ok(Self::Input),
                "output" => Ok(Self::Output),
                _ => Err(bad_token_type(s)),
            },
            Some(other) => Err(bad_token_type(&other.to_string())),
        }
    }

    /// The tokens of `usage` this setting counts.
    pub fn count(self, usage: &Usage) -> u64 {
        match self {
            Self::Total => usage.total_tokens,
            Self::Input => usage.prompt_tokens,
            Self::Output => usage.completion_tokens,
        }
    }
}

fn bad_token_type(value: &str) -> GatewayError {
    GatewayError::Internal(format!(
        "general_settings.token_rate_limit_type must be total, input or output, not {value}"
    ))
}

/// LiteLLM's `call_type` of provider pass-through calls.
pub const PASS_THROUGH_CALL_TYPE: &str = "pass_through_endpoint";

/// Where the database is: `general_settings.database_url` (or `DATABASE_URL`, which the config
/// loader already applies), else `tollgate.db` beside the config file.
pub fn database_url(config: &Config, config_dir: Option<&Path>) -> Option<String> {
    if let Some(url) = config
        .general_settings
        .database_url
        .clone()
        .filter(|u| !u.is_empty())
    {
        return Some(url);
    }
    config_dir.map(|d| format!("sqlite://{}", d.join("tollgate.db").display()))
}

impl Accounting {
    /// Opens the database (running migrations; an error here must stop start-up), loads the
    /// cache, and starts the spend writer and the cache refresher. `coster` prices calls
    /// ([`DeploymentPrices`] reads only the deployments' own prices).
    pub async fn open(
        config: &Config,
        url: &str,
        journal: &Path,
        clock: Arc<dyn Clock>,
        coster: Arc<dyn Coster>,
    ) -> Result<Arc<Self>, GatewayError> {
        let store = Store::open(url)
            .await
            .map_err(|e| GatewayError::Internal(format!("database {}: {e}", redact(url))))?;
        let (queue, _writer) = SpendQueue::start(store.clone(), journal.to_path_buf())
            .await
            .map_err(|e| GatewayError::Internal(format!("spend journal: {e}")))?;
        let mut deployments = HashMap::new();
        let mut groups: HashMap<String, Vec<DeploymentConfig>> = HashMap::new();
        let mut access_groups: HashMap<String, Vec<String>> = HashMap::new();
        for d in &config.model_list {
            deployments.insert(d.id.clone(), d.clone());
            groups
                .entry(d.model_name.clone())
                .or_default()
                .push(d.clone());
            if let Some(Value::Array(gs)) = d.model_info.extra.get("access_groups") {
                for g in gs.iter().filter_map(Value::as_str) {
                    access_groups
                        .entry(g.to_owned())
                        .or_default()
                        .push(d.model_name.clone());
                }
            }
        }
        let ls = &config.litellm_settings;
        let global_budget = ls
            .max_budget
            .map(|m| (m, ls.budget_duration.as_deref().and_then(duration::parse)));
        let tpm_tokens = TokenRateLimitType::from_config(config)?;
        let shared = match shared::redis_url(config) {
            Some(url) => match SharedLimiter::new(&url) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    return Err(GatewayError::Internal(format!("Redis settings: {e}")));
                }
            },
            None => None,
        };
        let alerter =
            alerts::targets(config).map(|t| alerts::Alerter::start(config, t, shared.clone()));
        let this = Arc::new(Self {
            store,
            queue,
            cache: RwLock::default(),
            ledger: Mutex::default(),
            unknown: Mutex::default(),
            limiter: Limiter::default(),
            shared,
            clock,
            tz: duration::zone(ls.timezone.as_deref()),
            coster,
            soft_budget_alerts: AtomicU64::new(0),
            resetting: AtomicBool::new(false),
            alerter,
            deployments,
            groups,
            access_groups,
            global_budget,
            master_hash: config
                .general_settings
                .master_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(tollgate_store::hash_key),
            tpm_tokens,
        });
        this.refresh()
            .await
            .map_err(|e| GatewayError::Internal(format!("loading keys: {e}")))?;
        if global_budget.is_some_and(|(_, span)| span.is_none()) {
            let spent = this.store.total_spend(None, None).await.unwrap_or(0.0);
            this.ledger_entry("global", spent, None);
        }
        let (min, max) = reset_interval(config);
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            loop {
                // Jittered, so instances started together do not all reset at once (the
                // reset is safe either way; this only spreads the load).
                let secs = min + fastrand::f64() * (max - min);
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                let Some(acc) = weak.upgrade() else { return };
                if let Err(e) = acc.reset_budgets().await {
                    tracing::warn!("cannot reset budgets: {e}");
                }
            }
        });
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(acc) = weak.upgrade() else { return };
                if let Err(e) = acc.refresh().await {
                    tracing::warn!("cannot refresh keys from the database: {e}");
                }
            }
        });
        Ok(this)
    }

    /// How many times a key, user, team or end user crossed its `soft_budget` (each crossing
    /// counts once: the call that took spend from below to at or above it).
    pub fn soft_budget_alerts(&self) -> u64 {
        self.soft_budget_alerts.load(Ordering::Relaxed)
    }

    /// The rate limiter's Redis connection, when Redis is configured.
    pub fn redis_stats(&self) -> Option<tollgate_router::RedisStats> {
        self.shared.as_deref().map(SharedLimiter::stats)
    }

    /// Every cached team.
    pub fn teams(&self) -> Vec<Arc<TeamRow>> {
        self.cache
            .read()
            .map(|c| c.teams.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The spend queue (for tests and shutdown).
    pub fn queue(&self) -> &SpendQueue {
        &self.queue
    }

    /// Now, by the accounting clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `litellm_settings.max_budget`.
    pub fn global_max_budget(&self) -> Option<f64> {
        self.global_budget.map(|(m, _)| m)
    }

    /// The zone budget resets align to.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Starts a new period for every stored budget whose `budget_reset_at` has passed (keys,
    /// users, teams, and the end users and team members of a budget), then reloads the cache.
    /// Runs every `general_settings.proxy_budget_rescheduler_min_time`..`_max_time` seconds
    /// and as soon as a request finds a period over. Returns how many rows were reset.
    pub async fn reset_budgets(&self) -> Result<usize, tollgate_store::StoreError> {
        let n = self.store.reset_budgets(self.clock.now(), self.tz).await?;
        if n > 0 {
            tracing::info!(budgets = n, "budget periods reset");
            self.refresh().await?;
        }
        Ok(n)
    }

    /// Runs [`Accounting::reset_budgets`] in the background unless a pass is running.
    fn spawn_reset(self: &Arc<Self>) {
        if self.resetting.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.resetting.store(false, Ordering::Release);
            return;
        };
        let acc = self.clone();
        rt.spawn(async move {
            if let Err(e) = acc.reset_budgets().await {
                tracing::warn!("cannot reset budgets: {e}");
            }
            acc.resetting.store(false, Ordering::Release);
        });
    }

    /// Reloads every cached table.
    pub async fn refresh(&self) -> Result<(), tollgate_store::StoreError> {
        let keys = self.store.all::<KeyRow>().await?;
        let teams = self.store.all::<TeamRow>().await?;
        let users = self.store.all::<UserRow>().await?;
        let end_users = self.store.all::<EndUserRow>().await?;
        let budgets = self.store.all::<BudgetRow>().await?;
        let members = self.store.members().await?;
        {
            let Ok(mut ledger) = self.ledger.lock() else {
                return Ok(());
            };
            let mut sync = |id: String, spend: f64, stored_reset: Option<DateTime<Utc>>| {
                let Some(e) = ledger.get_mut(&id) else { return };
                match (stored_reset, e.reset_at) {
                    // The database is in a later period (the reset job started it): its
                    // spend is the new period's.
                    (Some(db), Some(mine)) if db > mine => {
                        e.spend = spend;
                        e.reset_at = Some(db);
                    }
                    // The database still holds a period this instance has left.
                    (Some(db), Some(mine)) if db < mine => {}
                    // Other instances' spend arrives through the database.
                    _ => e.spend = e.spend.max(spend),
                }
            };
            let budget_reset = |id: &Option<String>| {
                id.as_deref()
                    .and_then(|id| budgets.iter().find(|b| b.budget_id == id))
                    .and_then(|b| b.budget_reset_at)
            };
            keys.iter().for_each(|k| {
                sync(format!("key:{}", k.token), k.spend, k.budget_reset_at);
            });
            teams.iter().for_each(|t| {
                sync(format!("team:{}", t.team_id), t.spend, t.budget_reset_at);
            });
            users.iter().for_each(|u| {
                sync(format!("user:{}", u.user_id), u.spend, u.budget_reset_at);
            });
            end_users.iter().for_each(|u| {
                let at = budget_reset(&u.budget_id);
                sync(format!("end_user:{}", u.user_id), u.spend, at);
            });
            members.iter().for_each(|m| {
                let at = budget_reset(&m.budget_id);
                sync(format!("member:{}:{}", m.user_id, m.team_id), m.spend, at);
            });
            // Per-model spend has no stored window: the larger value wins, as for spend.
            model_spend::sync(&keys, &mut |id, spend| sync(id, spend, None));
        }
        let grace = keys.iter().flat_map(grace_of).collect();
        let cache = Cache {
            grace,
            keys: keys
                .into_iter()
                .map(|k| (k.token.clone(), Arc::new(k)))
                .collect(),
            teams: teams
                .into_iter()
                .map(|t| (t.team_id.clone(), Arc::new(t)))
                .collect(),
            users: users
                .into_iter()
                .map(|u| (u.user_id.clone(), Arc::new(u)))
                .collect(),
            end_users: end_users
                .into_iter()
                .map(|u| (u.user_id.clone(), Arc::new(u)))
                .collect(),
            budgets: budgets
                .into_iter()
                .map(|b| (b.budget_id.clone(), Arc::new(b)))
                .collect(),
            members: members
                .into_iter()
                .map(|m| ((m.user_id.clone(), m.team_id.clone()), m))
                .collect(),
        };
        if let Ok(mut c) = self.cache.write() {
            *c = cache;
        }
        Ok(())
    }

    // ---- cache access for auth and management ----

    /// A key by its hash: from memory, else (once in a while for unknown hashes) the database.
    pub async fn key(&self, token: &str) -> Option<Arc<KeyRow>> {
        let now = self.clock.now();
        {
            let c = self.cache.read().ok()?;
            if let Some(k) = c.keys.get(token) {
                return Some(k.clone());
            }
            // A key regenerated with a grace period still works, as the key that replaced it.
            if let Some((new, until)) = c.grace.get(token) {
                if now < *until {
                    return c.keys.get(new).cloned();
                }
            }
        }
        if let Ok(unknown) = self.unknown.lock() {
            if unknown
                .get(token)
                .is_some_and(|t| (now - *t).num_seconds() < NEGATIVE_TTL_SECS)
            {
                return None;
            }
        }
        match self.store.get::<KeyRow>(token).await {
            Ok(Some(k)) => {
                let k = Arc::new(k);
                if let Ok(mut c) = self.cache.write() {
                    c.keys.insert(token.to_owned(), k.clone());
                }
                Some(k)
            }
            Ok(None) => {
                if let Ok(mut unknown) = self.unknown.lock() {
                    if unknown.len() > 100_000 {
                        unknown.clear();
                    }
                    unknown.insert(token.to_owned(), now);
                }
                None
            }
            Err(e) => {
                tracing::warn!("key lookup failed: {e}");
                None
            }
        }
    }

    /// A key by its hash, from memory only.
    pub fn cached_key(&self, token: &str) -> Option<Arc<KeyRow>> {
        self.cache.read().ok()?.keys.get(token).cloned()
    }

    /// Cached rows.
    pub fn team(&self, id: &str) -> Option<Arc<TeamRow>> {
        self.cache.read().ok()?.teams.get(id).cloned()
    }

    /// A cached user.
    pub fn user(&self, id: &str) -> Option<Arc<UserRow>> {
        self.cache.read().ok()?.users.get(id).cloned()
    }

    /// A cached end user.
    pub fn end_user(&self, id: &str) -> Option<Arc<EndUserRow>> {
        self.cache.read().ok()?.end_users.get(id).cloned()
    }

    /// A cached budget.
    pub fn budget(&self, id: &str) -> Option<Arc<BudgetRow>> {
        self.cache.read().ok()?.budgets.get(id).cloned()
    }

    /// Every cached key.
    pub fn keys(&self) -> Vec<Arc<KeyRow>> {
        self.cache
            .read()
            .map(|c| c.keys.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every cached team membership of `team_id`.
    pub fn members_of(&self, team_id: &str) -> Vec<MembershipRow> {
        self.cache
            .read()
            .map(|c| {
                c.members
                    .values()
                    .filter(|m| m.team_id == team_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores a key and serves it at once.
    pub async fn put_key(&self, k: KeyRow) -> Result<(), GatewayError> {
        self.store.upsert(&k).await.map_err(db_error)?;
        if let Ok(mut u) = self.unknown.lock() {
            u.remove(&k.token);
        }
        if let Ok(mut c) = self.cache.write() {
            let token = k.token.clone();
            c.grace.retain(|_, (new, _)| *new != token);
            c.grace.extend(grace_of(&k));
            c.keys.insert(token, Arc::new(k));
        }
        Ok(())
    }

    /// Sets a key's spend (`/key/{key}/reset_spend`): in the database, the cached row, this
    /// instance's ledger and, with Redis, the shared budget of the current period. Whether the
    /// key exists.
    pub async fn set_key_spend(&self, k: &KeyRow, spend: f64) -> Result<bool, GatewayError> {
        if !self
            .store
            .set_key_spend(&k.token, spend)
            .await
            .map_err(db_error)?
        {
            return Ok(false);
        }
        let id = format!("key:{}", k.token);
        let period = self.ledger.lock().ok().and_then(|mut l| {
            let e = l.get_mut(&id)?;
            e.spend = spend;
            Some(e.reset_at)
        });
        if let Ok(mut c) = self.cache.write() {
            if let Some(row) = c.keys.get_mut(&k.token) {
                Arc::make_mut(row).spend = spend;
            }
        }
        if let Some(shared) = &self.shared {
            let period = period.unwrap_or(k.budget_reset_at);
            if !shared
                .set_spend(&id, period.map_or(0, |t| t.timestamp()), spend)
                .await
            {
                tracing::warn!(key = %k.token, "spend reset not written to Redis (unreachable)");
            }
        }
        Ok(true)
    }

    /// Deletes a key (a copy goes to `LiteLLM_DeletedVerificationToken`).
    pub async fn remove_key(&self, k: &KeyRow, by: Option<&str>) -> Result<(), GatewayError> {
        self.store
            .record_deleted_key(k, by)
            .await
            .map_err(db_error)?;
        self.store
            .delete::<KeyRow>(&k.token)
            .await
            .map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.keys.remove(&k.token);
            c.grace.retain(|_, (new, _)| *new != k.token);
        }
        Ok(())
    }

    /// Stores a team.
    pub async fn put_team(&self, t: TeamRow) -> Result<(), GatewayError> {
        self.store.upsert(&t).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.teams.insert(t.team_id.clone(), Arc::new(t));
        }
        Ok(())
    }

    /// Deletes a team.
    pub async fn remove_team(&self, id: &str) -> Result<bool, GatewayError> {
        let found = self.store.delete::<TeamRow>(id).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.teams.remove(id);
        }
        Ok(found)
    }

    /// Stores a user.
    pub async fn put_user(&self, u: UserRow) -> Result<(), GatewayError> {
        self.store.upsert(&u).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.users.insert(u.user_id.clone(), Arc::new(u));
        }
        Ok(())
    }

    /// Deletes a user.
    pub async fn remove_user(&self, id: &str) -> Result<bool, GatewayError> {
        let found = self.store.delete::<UserRow>(id).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.users.remove(id);
        }
        Ok(found)
    }

    /// Stores an end user.
    pub async fn put_end_user(&self, u: EndUserRow) -> Result<(), GatewayError> {
        self.store.upsert(&u).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.end_users.insert(u.user_id.clone(), Arc::new(u));
        }
        Ok(())
    }

    /// Deletes an end user.
    pub async fn remove_end_user(&self, id: &str) -> Result<bool, GatewayError> {
        let found = self
            .store
            .delete::<EndUserRow>(id)
            .await
            .map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.end_users.remove(id);
        }
        Ok(found)
    }

    /// Stores a budget.
    pub async fn put_budget(&self, b: BudgetRow) -> Result<(), GatewayError> {
        self.store.upsert(&b).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.budgets.insert(b.budget_id.clone(), Arc::new(b));
        }
        Ok(())
    }

    /// Deletes a budget.
    pub async fn remove_budget(&self, id: &str) -> Result<bool, GatewayError> {
        let found = self.store.delete::<BudgetRow>(id).await.map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.budgets.remove(id);
        }
        Ok(found)
    }

    /// Adds a team membership.
    pub async fn put_member(&self, m: MembershipRow) -> Result<(), GatewayError> {
        self.store
            .upsert_member(&m.user_id, &m.team_id, m.budget_id.as_deref())
            .await
            .map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.members.insert((m.user_id.clone(), m.team_id.clone()), m);
        }
        Ok(())
    }

    /// Removes a team membership.
    pub async fn remove_member(&self, user_id: &str, team_id: &str) -> Result<(), GatewayError> {
        self.store
            .delete_member(user_id, team_id)
            .await
            .map_err(db_error)?;
        if let Ok(mut c) = self.cache.write() {
            c.members.remove(&(user_id.to_owned(), team_id.to_owned()));
        }
        Ok(())
    }

    /// The in-memory spend of an owner (settled, this instance's view), if tracked.
    pub fn live_spend(&self, id: &str) -> Option<f64> {
        self.ledger.lock().ok()?.get(id).map(|l| l.spend)
    }

    /// Whether the identity may call management routes: the master key, or a key whose user
    /// is a `proxy_admin`.
    pub fn is_admin(&self, identity: &Identity) -> bool {
        match identity {
            Identity::MasterKey | Identity::Anonymous => true,
            Identity::Key(k) => k
                .user_id
                .as_deref()
                .and_then(|u| self.user(u))
                .is_some_and(|u| u.user_role.as_deref() == Some("proxy_admin")),
        }
    }

    fn ledger_entry(&self, id: &str, spend: f64, reset_at: Option<DateTime<Utc>>) {
        if let Ok(mut l) = self.ledger.lock() {
            l.entry(id.to_owned()).or_insert(Ledger {
                spend,
                reserved: 0.0,
                reset_at,
            });
        }
    }

    // ---- the request path ----

    /// Checks model access, budgets and rate limits for a request and, when it may proceed,
    /// reserves its estimated cost and counts it against the limits. A refused request writes
    /// its one spend-log row (a `failure` costing 0) here.
    pub async fn admit(
        self: &Arc<Self>,
        identity: &Identity,
        spec: CallSpec,
    ) -> Result<Admission, Refused> {
        match self.check_and_reserve(identity, &spec).await {
            Ok(mut admission) => {
                admission.spec = spec;
                Ok(admission)
            }
            Err(refused) => {
                self.record_refused(identity, &spec, &refused.error);
                Err(refused)
            }
        }
    }

    async fn check_and_reserve(
        self: &Arc<Self>,
        identity: &Identity,
        spec: &CallSpec,
    ) -> Result<Admission, Refused> {
        let now = self.clock.now();
        let key = match identity {
            Identity::Key(k) => Some(k.clone()),
            _ => None,
        };
        let key_hash = match identity {
            Identity::Key(k) => k.token.clone(),
            Identity::MasterKey => self.master_hash.clone().unwrap_or_default(),
            Identity::Anonymous => String::new(),
        };
        let team = key
            .as_ref()
            .and_then(|k| k.team_id.as_deref())
            .and_then(|t| self.team(t));
        let user = key
            .as_ref()
            .and_then(|k| k.user_id.as_deref())
            .and_then(|u| self.user(u));
        let end_user = spec.end_user.as_deref().and_then(|e| self.end_user(e));
        // Calls that name no model (provider pass-through, moderations without one) are not
        // subject to model allow-lists; budgets and limits still apply.
        if let Some(k) = &key
            && !spec.model.is_empty()
            && spec.call_type != PASS_THROUGH_CALL_TYPE
        {
            self.check_models(k, team.as_deref(), user.as_deref(), &spec.model)?;
        }
        if let Some(t) = &team {
            if t.blocked {
                return Err(denied(
                    401,
                    "team_blocked",
                    format!(
                        "Team={} is blocked. Update via `/team/unblock` if you're an admin.",
                        t.team_id
                    ),
                    None,
                )
                .into());
            }
        }
        if let Some(e) = &end_user {
            if e.blocked {
                return Err(denied(
                    403,
                    "blocked_end_user",
                    format!("Blocked End User={}", e.user_id),
                    Some("user"),
                )
                .into());
            }
        }
        let checks = self.budget_checks(
            key.as_deref(),
            team.as_deref(),
            user.as_deref(),
            end_user.as_deref(),
            spec,
        );
        let estimate = self.estimate(spec);
        let mut reserved = Vec::new();
        let mut shared_budgets = Vec::new();
        let mut reset_due = false;
        {
            let Ok(mut ledger) = self.ledger.lock() else {
                return Err(GatewayError::Internal("budget ledger poisoned".into()).into());
            };
            for c in &checks {
                let e = ledger.entry(c.id.clone()).or_insert(Ledger {
                    spend: c.stored_spend,
                    reserved: 0.0,
                    reset_at: c.stored_reset,
                });
                if let Some(span) = c.span {
                    match e.reset_at {
                        Some(at) if now >= at => {
                            e.spend = 0.0;
                            e.reset_at = duration::next_reset(now, span, self.tz);
                            // The stored row is reset by the job, at once rather than at its
                            // next run, so other instances and `/key/info` see it too.
                            reset_due |= c.owner.is_some();
                            self.persist_model_reset(&c.id, at);
                        }
                        None => e.reset_at = duration::next_reset(now, span, self.tz),
                        _ => {}
                    }
                }
                if let Some(max) = c.max {
                    if e.spend + e.reserved >= max {
                        let spent = e.spend + e.reserved;
                        return Err(denied(
                            429,
                            "budget_exceeded",
                            (c.exceeded)(&c.label, spent, max),
                            None,
                        )
                        .into());
                    }
                }
            }
            for c in checks
                .iter()
                .filter(|c| c.max.is_some() || c.soft.is_some() || c.owner.is_some())
            {
                if let Some(e) = ledger.get_mut(&c.id) {
                    e.reserved += estimate;
                    // Only budgets with a limit or an alert need the other instances' spend.
                    let shared = self.shared.is_some() && (c.max.is_some() || c.soft.is_some());
                    if shared {
                        shared_budgets.push(SharedBudget {
                            id: c.id.clone(),
                            period: e.reset_at.map_or(0, |t| t.timestamp()),
                            max: c.max,
                            floor: e.spend,
                            amount: estimate,
                        });
                    }
                    reserved.push(Reservation {
                        id: c.id.clone(),
                        amount: estimate,
                        max: c.max,
                        soft: c.soft,
                        label: c.label.clone(),
                        shared,
                    });
                }
            }
        }
        if reset_due {
            self.spawn_reset();
        }
        let limits = self.limits(
            key.as_deref(),
            team.as_deref(),
            user.as_deref(),
            end_user.as_deref(),
            spec,
        );
        // Redis when configured and reachable (exact across instances), else this instance's.
        let (verdict, shared) = match &self.shared {
            Some(s) => match s.admit(&limits, &shared_budgets, now).await {
                Shared::Admitted(h) => (Ok(h), Some(s.clone())),
                Shared::Refused(x) => (Err(x), Some(s.clone())),
                Shared::OverBudget { index, spent } => {
                    self.release_reservations(&reserved);
                    let check = shared_budgets
                        .get(index)
                        .and_then(|b| checks.iter().find(|c| c.id == b.id));
                    let (message, max) = match check {
                        Some(c) => {
                            let max = c.max.unwrap_or(0.0);
                            ((c.exceeded)(&c.label, spent, max), max)
                        }
                        None => (String::new(), 0.0),
                    };
                    tracing::debug!(spent, max, "budget exhausted across instances");
                    return Err(denied(429, "budget_exceeded", message, None).into());
                }
                Shared::Unavailable => {
                    shared_budgets.clear();
                    (self.limiter.admit(&limits, now), None)
                }
            },
            None => (self.limiter.admit(&limits, now), None),
        };
        let headers = match verdict {
            Ok(h) => h,
            Err(x) => {
                self.release_reservations(&reserved);
                let mut headers = vec![
                    ("rate_limit_type".to_owned(), x.kind.to_owned()),
                    ("reset_at".to_owned(), x.resets_at.to_rfc3339()),
                    (
                        format!("x-ratelimit-{}-remaining-{}", x.descriptor, x.kind),
                        "0".to_owned(),
                    ),
                    (
                        format!("x-ratelimit-{}-limit-{}", x.descriptor, x.kind),
                        x.limit.to_string(),
                    ),
                ];
                headers.retain(|(k, _)| !k.is_empty());
                return Err(Refused {
                    error: GatewayError::Denied {
                        status: 429,
                        error_type: "rate_limit_error".into(),
                        message: x.message(),
                        param: None,
                        retry_after: Some(Duration::from_secs(x.retry_after_secs)),
                    },
                    headers,
                });
            }
        };
        Ok(Admission {
            acc: Some(self.clone()),
            metrics: None,
            key,
            key_hash,
            // The caller moves the request's spec in (no copy on the hot path).
            spec: CallSpec::default(),
            started: now,
            reserved,
            shared_budgets,
            limits,
            shared,
            headers,
            done: false,
        })
    }

    fn check_models(
        &self,
        k: &KeyRow,
        team: Option<&TeamRow>,
        user: Option<&UserRow>,
        model: &str,
    ) -> Result<(), Refused> {
        let deny = |kind: &str, who: &str, list: &[String]| -> Refused {
            denied(
                403,
                &format!("{kind}_model_access_denied"),
                format!(
                    "{who} not allowed to access model. This {who} can only access models={}. Tried to access {model}",
                    py_list(list)
                ),
                Some("model"),
            )
            .into()
        };
        let key_models: Vec<String> = if k.models.iter().any(|m| m == "all-team-models") {
            team.map(|t| t.models.clone()).unwrap_or_default()
        } else {
            k.models.clone()
        };
        if !self.allowed(&key_models, model) {
            return Err(deny("key", "key", &key_models));
        }
        if let Some(t) = team {
            if !self.allowed(&t.models, model) {
                return Err(deny("team", "team", &t.models));
            }
        } else if let Some(u) = user {
            if !self.allowed(&u.models, model) {
                return Err(deny("user", "user", &u.models));
            }
        }
        Ok(())
    }

    /// LiteLLM's model allow-list: empty is everything; entries are names, `*` patterns,
    /// access groups (`model_info.access_groups`), or `all-proxy-models`.
    fn allowed(&self, list: &[String], model: &str) -> bool {
        list.is_empty()
            || list.iter().any(|a| {
                a == model
                    || a == "*"
                    || a == "all-proxy-models"
                    || a.strip_suffix('*')
                        .is_some_and(|prefix| model.starts_with(prefix))
                    || self
                        .access_groups
                        .get(a)
                        .is_some_and(|ms| ms.iter().any(|m| m == model))
            })
    }

    fn budget_checks(
        &self,
        key: Option<&KeyRow>,
        team: Option<&TeamRow>,
        user: Option<&UserRow>,
        end_user: Option<&EndUserRow>,
        spec: &CallSpec,
    ) -> Vec<BudgetCheck> {
        let span = |d: &Option<String>| d.as_deref().and_then(duration::parse);
        let mut out = Vec::new();
        if let Some(k) = key {
            let linked = k.budget_id.as_deref().and_then(|b| self.budget(b));
            out.push(BudgetCheck {
                id: format!("key:{}", k.token),
                owner: Some(Owner::Key(k.token.clone())),
                max: k
                    .max_budget
                    .or(linked.as_ref().and_then(|b| b.max_budget))
                    .map(|max| max + temp_budget_increase(k, self.clock.now())),
                soft: linked
                    .as_ref()
                    .and_then(|b| b.soft_budget)
                    .or_else(|| k.metadata.get("soft_budget").and_then(Value::as_f64)),
                span: span(&k.budget_duration),
                stored_spend: k.spend,
                stored_reset: k.budget_reset_at,
                exceeded: |_, spend, max| {
                    format!("Budget has been exceeded! Current cost: {spend}, Max budget: {max}")
                },
                label: k.token.clone(),
            });
            if let Some(Value::Object(per_model)) = k.model_max_budget.get(&spec.model) {
                let max = per_model
                    .get("budget_limit")
                    .or_else(|| per_model.get("max_budget"))
                    .and_then(Value::as_f64);
                let span = per_model
                    .get("time_period")
                    .or_else(|| per_model.get("budget_duration"))
                    .and_then(Value::as_str)
                    .and_then(duration::parse);
                out.push(BudgetCheck {
                    id: format!("{KEY_MODEL}{}:{}", k.token, spec.model),
                    owner: None,
                    max,
                    soft: None,
                    span,
                    stored_spend: k
                        .model_spend
                        .get(&spec.model)
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                    stored_reset: None,
                    exceeded: |label, _, _| label.to_owned(),
                    label: format!(
                        "LiteLLM Virtual Key: {}, key_alias: {}, exceeded budget for model={}",
                        k.token,
                        k.key_alias.as_deref().unwrap_or("None"),
                        spec.model
                    ),
                });
            }
        }
        if let Some(u) = user {
            out.push(BudgetCheck {
                id: format!("user:{}", u.user_id),
                owner: Some(Owner::User(u.user_id.clone())),
                max: u.max_budget,
                soft: None,
                span: span(&u.budget_duration),
                stored_spend: u.spend,
                stored_reset: u.budget_reset_at,
                exceeded: |id, spend, max| {
                    format!("ExceededBudget: User={id} over budget. Spend={spend}, Budget={max}")
                },
                label: u.user_id.clone(),
            });
        }
        if let Some(t) = team {
            out.push(BudgetCheck {
                id: format!("team:{}", t.team_id),
                owner: Some(Owner::Team(t.team_id.clone())),
                max: t.max_budget,
                soft: t.metadata.get("soft_budget").and_then(Value::as_f64),
                span: span(&t.budget_duration),
                stored_spend: t.spend,
                stored_reset: t.budget_reset_at,
                exceeded: |id, spend, max| {
                    format!("Budget has been exceeded! Team={id} Current cost: {spend}, Max budget: {max}")
                },
                label: t.team_id.clone(),
            });
            if let Some(uid) = key.and_then(|k| k.user_id.as_deref()) {
                let member = self
                    .cache
                    .read()
                    .ok()
                    .and_then(|c| c.members.get(&(uid.to_owned(), t.team_id.clone())).cloned());
                if let Some(m) = member {
                    let b = m.budget_id.as_deref().and_then(|b| self.budget(b));
                    out.push(BudgetCheck {
                        id: format!("member:{}:{}", m.user_id, m.team_id),
                        owner: Some(Owner::Member(m.user_id.clone(), m.team_id.clone())),
                        max: b.as_ref().and_then(|b| b.max_budget),
                        soft: None,
                        span: b.as_ref().and_then(|b| span(&b.budget_duration)),
                        stored_spend: m.spend,
                        stored_reset: b.as_ref().and_then(|b| b.budget_reset_at),
                        exceeded: |label, spend, max| {
                            format!("Budget has been exceeded! {label} Current cost: {spend}, Max budget: {max}")
                        },
                        label: format!("User={} in Team={}", m.user_id, m.team_id),
                    });
                }
            }
        }
        if let Some(e) = end_user {
            let b = e.budget_id.as_deref().and_then(|b| self.budget(b));
            out.push(BudgetCheck {
                id: format!("end_user:{}", e.user_id),
                owner: Some(Owner::EndUser(e.user_id.clone())),
                max: b.as_ref().and_then(|b| b.max_budget),
                soft: b.as_ref().and_then(|b| b.soft_budget),
                span: b.as_ref().and_then(|b| span(&b.budget_duration)),
                stored_spend: e.spend,
                stored_reset: b.as_ref().and_then(|b| b.budget_reset_at),
                exceeded: |id, spend, max| {
                    format!(
                        "ExceededBudget: End User={id} over budget. Spend={spend}, Budget={max}"
                    )
                },
                label: e.user_id.clone(),
            });
        }
        if let Some((max, span)) = self.global_budget {
            out.push(BudgetCheck {
                id: "global".into(),
                owner: None,
                max: Some(max),
                soft: None,
                span,
                stored_spend: 0.0,
                stored_reset: None,
                exceeded: |_, spend, max| {
                    format!("ExceededBudget: LiteLLM Proxy has exceeded its budget. Current spend: {spend}; Max Budget: {max}")
                },
                label: String::new(),
            });
        }
        out
    }

    fn limits(
        &self,
        key: Option<&KeyRow>,
        team: Option<&TeamRow>,
        user: Option<&UserRow>,
        end_user: Option<&EndUserRow>,
        spec: &CallSpec,
    ) -> Vec<Limit> {
        let mut out = Vec::new();
        if let Some(k) = key {
            out.push(Limit {
                descriptor: "api_key",
                value: k.token.clone(),
                rpm: k.rpm_limit,
                tpm: k.tpm_limit,
                parallel: k.max_parallel_requests,
            });
            let per_model = |name: &str| {
                k.metadata
                    .get(name)
                    .and_then(|m| m.get(&spec.model))
                    .and_then(Value::as_i64)
            };
            out.push(Limit {
                descriptor: "model_per_key",
                value: format!("{}:{}", k.token, spec.model),
                rpm: per_model("model_rpm_limit"),
                tpm: per_model("model_tpm_limit"),
                parallel: None,
            });
        }
        if let Some(u) = user {
            out.push(Limit {
                descriptor: "user",
                value: u.user_id.clone(),
                rpm: u.rpm_limit,
                tpm: u.tpm_limit,
                parallel: u.max_parallel_requests,
            });
        }
        if let Some(t) = team {
            out.push(Limit {
                descriptor: "team",
                value: t.team_id.clone(),
                rpm: t.rpm_limit,
                tpm: t.tpm_limit,
                parallel: t.max_parallel_requests,
            });
            // `/team/member_update`'s tpm/rpm limits live in the membership's budget row.
            if let Some(uid) = key.and_then(|k| k.user_id.as_deref()) {
                let budget = self
                    .cache
                    .read()
                    .ok()
                    .and_then(|c| {
                        c.members
                            .get(&(uid.to_owned(), t.team_id.clone()))
                            .and_then(|m| m.budget_id.clone())
                    })
                    .and_then(|b| self.budget(&b));
                if let Some(b) = budget.filter(|b| b.rpm_limit.is_some() || b.tpm_limit.is_some()) {
                    out.push(Limit {
                        descriptor: "team_member",
                        value: format!("{}:{uid}", t.team_id),
                        rpm: b.rpm_limit,
                        tpm: b.tpm_limit,
                        parallel: None,
                    });
                }
            }
        }
        if let Some(e) = end_user {
            let b = e.budget_id.as_deref().and_then(|b| self.budget(b));
            out.push(Limit {
                descriptor: "end_user",
                value: e.user_id.clone(),
                rpm: b.as_ref().and_then(|b| b.rpm_limit),
                tpm: b.as_ref().and_then(|b| b.tpm_limit),
                parallel: b.as_ref().and_then(|b| b.max_parallel_requests),
            });
        }
        out
    }

    /// The reservation: the prompt (about four bytes a token) and the requested output (or
    /// [`DEFAULT_OUTPUT_ESTIMATE`]) priced on the group's first deployment; a call priced by
    /// its units, by the units it asks for.
    fn estimate(&self, spec: &CallSpec) -> f64 {
        let Some(d) = self.groups.get(&spec.model).and_then(|g| g.first()) else {
            return 0.0;
        };
        if let Some(units) = &spec.units {
            return self
                .coster
                .cost_units(&d.litellm_params.model, None, units, Some(d));
        }
        let usage = Usage::new(
            spec.prompt_bytes as u64 / 4 + 1,
            spec.max_output_tokens.unwrap_or(DEFAULT_OUTPUT_ESTIMATE),
        );
        self.coster.cost(&d.litellm_params.model, &usage, Some(d))
    }

    fn release_reservations(&self, reserved: &[Reservation]) {
        if let Ok(mut l) = self.ledger.lock() {
            for r in reserved {
                if let Some(e) = l.get_mut(&r.id) {
                    e.reserved = (e.reserved - r.amount).max(0.0);
                }
            }
        }
    }

    /// A settled call moved a budget's spend from `before` to `after` (the spend every
    /// instance sees when Redis counted it, else this instance's): counts and logs a
    /// `soft_budget` crossing and hands the new spend to the budget alerts.
    fn spent(
        &self,
        r: &Reservation,
        before: f64,
        after: f64,
        key: Option<&KeyRow>,
        end_user: Option<&str>,
    ) {
        if let Some(soft) = r.soft {
            if before < soft && after >= soft {
                self.soft_budget_alerts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(owner = %r.label, spend = after, soft_budget = soft, "soft budget crossed");
            }
        }
        // The event is checked first so that calls far from any threshold build nothing.
        if let Some(alerter) = &self.alerter
            && after > before
            && alerts::event(after, r.max, r.soft).is_some()
            && let Some(who) = self.subject(&r.id, key, end_user)
        {
            alerter.budget(&who, after, r.max, r.soft, self.clock.now());
        }
    }

    /// LiteLLM's CallInfo for the owner of ledger entry `id` (none for per-model budgets).
    fn subject(
        &self,
        id: &str,
        key: Option<&KeyRow>,
        end_user: Option<&str>,
    ) -> Option<alerts::Subject> {
        let (group, entity) = match id.split_once(':') {
            Some(("key", e)) => ("key", e),
            Some(("user", e)) => ("user", e),
            Some(("team", e)) => ("team", e),
            Some(("member", e)) => ("team_member", e),
            Some(("end_user", e)) => ("end_user", e),
            None if id == "global" => ("proxy", "litellm-proxy"),
            _ => return None,
        };
        let team_id = key.and_then(|k| k.team_id.clone());
        Some(alerts::Subject {
            group,
            id: entity.to_owned(),
            token: key.map(|k| k.token.clone()),
            key_alias: key.and_then(|k| k.key_alias.clone()),
            user_id: key.and_then(|k| k.user_id.clone()),
            team_alias: team_id
                .as_deref()
                .and_then(|t| self.team(t))
                .and_then(|t| t.team_alias.clone()),
            team_id,
            organization_id: key.and_then(|k| k.organization_id.clone()),
            customer_id: end_user.map(str::to_owned),
        })
    }

    /// Budget alerts dropped because their queue was full.
    pub fn budget_alerts_dropped(&self) -> u64 {
        self.alerter.as_ref().map_or(0, alerts::Alerter::dropped)
    }
}

/// A key's `temp_budget_increase` while its `temp_budget_expiry` has not passed (LiteLLM keeps
/// both in the key's metadata), else 0.
fn temp_budget_increase(k: &KeyRow, now: DateTime<Utc>) -> f64 {
    let Some(increase) = k
        .metadata
        .get("temp_budget_increase")
        .and_then(Value::as_f64)
    else {
        return 0.0;
    };
    let until = k
        .metadata
        .get("temp_budget_expiry")
        .and_then(Value::as_str)
        .and_then(tollgate_store::serde_util::parse_ts);
    match until {
        Some(until) if now < until => increase.max(0.0),
        _ => 0.0,
    }
}

/// What a route tells accounting about a request before calling the model.
#[derive(Debug, Clone, Default)]
pub struct CallSpec {
    /// `x-litellm-call-id`: the spend log's `request_id`.
    pub call_id: String,
    /// LiteLLM's `call_type` (`acompletion`, `aembedding`, `aresponses`, `anthropic_messages`).
    pub call_type: &'static str,
    /// The model the client asked for.
    pub model: String,
    /// The end user (`user` field or `x-litellm-end-user-id`).
    pub end_user: Option<String>,
    /// Request tags (`tags` or `metadata.tags`).
    pub tags: Vec<String>,
    /// Client metadata (`metadata`), kept in the spend log as `spend_logs_metadata`.
    pub metadata: Option<Value>,
    /// Size of the request body, for the cost estimate.
    pub prompt_bytes: usize,
    /// `max_tokens`/`max_completion_tokens`.
    pub max_output_tokens: Option<u64>,
    /// For a call priced by its units, what the request asks for (images of a size, the
    /// characters to speak, one rerank search): its reservation is priced from them.
    pub units: Option<Units>,
}

/// A refused request: the error and any `x-ratelimit-*` headers.
#[derive(Debug)]
pub struct Refused {
    pub error: GatewayError,
    pub headers: Vec<(String, String)>,
}

impl From<GatewayError> for Refused {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            headers: Vec::new(),
        }
    }
}

fn denied(status: u16, error_type: &str, message: String, param: Option<&str>) -> GatewayError {
    GatewayError::Denied {
        status,
        error_type: error_type.to_owned(),
        message,
        param: param.map(str::to_owned),
        retry_after: None,
    }
}

/// What the call did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome<'a> {
    pub usage: Option<&'a Usage>,
    /// What an operation call used besides tokens (images, seconds, characters, searches).
    pub units: Option<&'a Units>,
    pub info: Option<&'a CallInfo>,
    pub error: Option<&'a GatewayError>,
    pub cancelled: bool,
}

/// The settled call, for response headers.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub cost: f64,
    /// The key's spend including this call.
    pub key_spend: Option<f64>,
}

/// An admitted request: holds its reservations and limit slots until [`Admission::finish`]
/// (or drop, which records a cancelled call) settles them and queues its spend-log row.
#[derive(Debug)]
pub struct Admission {
    /// `None` when there is no database: the admission only carries the call's metrics.
    acc: Option<Arc<Accounting>>,
    metrics: Option<CallMetrics>,
    key: Option<Arc<KeyRow>>,
    key_hash: String,
    spec: CallSpec,
    started: DateTime<Utc>,
    reserved: Vec<Reservation>,
    /// The budgets reserved in Redis (empty when Redis did not count this request).
    shared_budgets: Vec<SharedBudget>,
    limits: Vec<Limit>,
    /// Set when Redis counted this request (its release goes there too).
    shared: Option<Arc<SharedLimiter>>,
    headers: Vec<(String, String)>,
    done: bool,
}

impl Admission {
    /// An admission without accounting (no database), which only measures the call.
    pub(crate) fn untracked(spec: CallSpec, metrics: CallMetrics) -> Self {
        Self {
            acc: None,
            metrics: Some(metrics),
            key: None,
            key_hash: String::new(),
            spec,
            started: Utc::now(),
            reserved: Vec::new(),
            shared_budgets: Vec::new(),
            limits: Vec::new(),
            shared: None,
            headers: Vec::new(),
            done: false,
        }
    }

    /// Measures the call for `/metrics` too.
    pub(crate) fn measure(&mut self, metrics: CallMetrics) {
        self.metrics = Some(metrics);
    }

    /// The call is answered as a stream (its upstream time is the time to first token).
    pub(crate) fn mark_stream(&mut self) {
        if let Some(m) = &mut self.metrics {
            m.stream = true;
        }
    }

    /// `x-ratelimit-*` headers for the response.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Settles the call: real cost replaces the reservation, tokens count against the limits,
    /// and one spend-log row is queued; then the call's metrics are recorded. `None` without
    /// accounting.
    pub fn finish(mut self, outcome: Outcome<'_>) -> Option<Settled> {
        self.settle(outcome)
    }

    fn settle(&mut self, o: Outcome<'_>) -> Option<Settled> {
        self.done = true;
        let settled = self.acc.clone().map(|acc| self.settle_accounts(&acc, o));
        if let Some(m) = &mut self.metrics {
            m.record(&o, settled.map_or(0.0, |s| s.cost));
        }
        settled
    }

    fn settle_accounts(&mut self, acc: &Arc<Accounting>, o: Outcome<'_>) -> Settled {
        let now = acc.clock.now();
        let deployment = o.info.and_then(|i| acc.deployments.get(&i.deployment_id));
        let model = deployment
            .map(|d| d.litellm_params.model.clone())
            .unwrap_or_else(|| self.spec.model.clone());
        let success = o.error.is_none() && !o.cancelled;
        let cost = match (o.usage, o.units) {
            _ if o.error.is_some() => 0.0,
            (usage, Some(units)) => acc.coster.cost_units(&model, usage, units, deployment),
            (Some(u), None) => acc.coster.cost(&model, u, deployment),
            (None, None) => 0.0,
        };
        let mut key_spend = None;
        // Each reservation's (before, after) spend in this instance's ledger.
        let mut local = Vec::with_capacity(self.reserved.len());
        if let Ok(mut ledger) = acc.ledger.lock() {
            for r in &self.reserved {
                if let Some(e) = ledger.get_mut(&r.id) {
                    e.reserved = (e.reserved - r.amount).max(0.0);
                    let before = e.spend;
                    e.spend += cost;
                    local.push((before, e.spend));
                    if r.id.starts_with("key:") {
                        key_spend = Some(e.spend);
                    }
                } else {
                    local.push((0.0, 0.0));
                }
            }
        }
        let tokens = o.usage.map_or(0, |u| acc.tpm_tokens.count(u) as i64);
        match (self.shared.take(), tokio::runtime::Handle::try_current()) {
            (Some(s), Ok(rt)) => {
                let limits = std::mem::take(&mut self.limits);
                let budgets = std::mem::take(&mut self.shared_budgets);
                let reserved = std::mem::take(&mut self.reserved);
                let started = self.started;
                let acc = acc.clone();
                let key = self.key.clone();
                let end_user = self.spec.end_user.clone();
                rt.spawn(async move {
                    let after = s.release(&limits, tokens, started, &budgets, cost).await;
                    // Shared budgets are judged on the spend of every instance, the rest locally.
                    let mut shared = budgets.iter().zip(after.unwrap_or_default());
                    for (r, (lb, la)) in reserved.iter().zip(local) {
                        match r.shared.then(|| shared.next()).flatten() {
                            Some((b, a)) => {
                                // The other instances' spend, for this one's view (its
                                // fallback when Redis goes away, `x-litellm-key-spend`).
                                if let Ok(mut l) = acc.ledger.lock()
                                    && let Some(e) = l.get_mut(&r.id)
                                    && e.reset_at.map_or(0, |t| t.timestamp()) == b.period
                                {
                                    e.spend = e.spend.max(a);
                                }
                                acc.spent(r, a - cost, a, key.as_deref(), end_user.as_deref());
                            }
                            None => acc.spent(r, lb, la, key.as_deref(), end_user.as_deref()),
                        }
                    }
                });
            }
            _ => {
                acc.limiter.release(&self.limits, tokens, now);
                for (r, (before, after)) in self.reserved.iter().zip(local) {
                    acc.spent(
                        r,
                        before,
                        after,
                        self.key.as_deref(),
                        self.spec.end_user.as_deref(),
                    );
                }
            }
        }
        let k = self.key.as_deref();
        let mut metadata = json!({
            "user_api_key": self.key_hash,
            "user_api_key_alias": k.and_then(|k| k.key_alias.clone()),
            "user_api_key_team_id": k.and_then(|k| k.team_id.clone()),
            "user_api_key_org_id": k.and_then(|k| k.organization_id.clone()),
            "user_api_key_user_id": k.and_then(|k| k.user_id.clone()),
            "spend_logs_metadata": self.spec.metadata.clone(),
            "status": if success { "success" } else { "failure" },
            "usage_object": o.usage,
        });
        if let (Some(e), Some(m)) = (o.error, metadata.as_object_mut()) {
            m.insert(
                "error_information".into(),
                json!({
                    "error_code": e.status().to_string(),
                    "error_class": e.class().name(),
                    "llm_provider": o.info.map(|i| i.provider.clone()),
                    "error_message": e.to_string(),
                }),
            );
        }
        if o.cancelled {
            if let Some(m) = metadata.as_object_mut() {
                m.insert("cancelled".into(), Value::Bool(true));
            }
        }
        let u = o.usage;
        acc.queue.record(SpendRow {
            request_id: self.spec.call_id.clone(),
            call_type: self.spec.call_type.to_owned(),
            api_key: self.key_hash.clone(),
            spend: cost,
            total_tokens: u.map_or(0, |u| u.total_tokens as i64),
            prompt_tokens: u.map_or(0, |u| u.prompt_tokens as i64),
            completion_tokens: u.map_or(0, |u| u.completion_tokens as i64),
            start_time: self.started,
            end_time: now,
            completion_start_time: None,
            request_duration_ms: Some((now - self.started).num_milliseconds()),
            model,
            model_id: o.info.map(|i| i.deployment_id.clone()),
            model_group: Some(
                o.info
                    .map_or_else(|| self.spec.model.clone(), |i| i.model_group.clone()),
            ),
            custom_llm_provider: o.info.map(|i| i.provider.clone()),
            api_base: o.info.map(|i| i.api_base.clone()),
            user: k.and_then(|k| k.user_id.clone()),
            metadata,
            cache_hit: Some("False".into()),
            cache_key: None,
            request_tags: Value::Array(self.spec.tags.iter().cloned().map(Value::String).collect()),
            team_id: k.and_then(|k| k.team_id.clone()),
            organization_id: k.and_then(|k| k.organization_id.clone()),
            end_user: self.spec.end_user.clone(),
            requester_ip_address: None,
            session_id: None,
            status: Some(if success { "success" } else { "failure" }.into()),
        });
        Settled { cost, key_spend }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !self.done {
            self.settle(Outcome {
                cancelled: true,
                ..Outcome::default()
            });
        }
    }
}

/// `['a', 'b']`, as LiteLLM prints a Python list in its messages.
fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
    format!("[{}]", inner.join(", "))
}

/// The reset job's pause range in seconds: `general_settings.proxy_budget_rescheduler_min_time`
/// and `_max_time`, LiteLLM's settings (597 and 605 by default).
fn reset_interval(config: &Config) -> (f64, f64) {
    let setting = |name: &str, default: f64| {
        config
            .general_settings
            .extra
            .get(name)
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
            .filter(|s| *s > 0.0)
            .unwrap_or(default)
    };
    let min = setting("proxy_budget_rescheduler_min_time", 597.0);
    let max = setting("proxy_budget_rescheduler_max_time", 605.0).max(min);
    (min, max)
}

/// A database error on a management call: LiteLLM's 500.
pub fn db_error(e: tollgate_store::StoreError) -> GatewayError {
    tracing::error!("database: {e}");
    GatewayError::Internal(format!("database error: {e}"))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// A JSON object, for building responses.
pub type Object = Map<String, Value>;
