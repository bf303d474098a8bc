//! The one routing loop every call type goes through: pick a deployment (cooldowns, `order`
//! tiers, pre-call checks, strategy, `max_parallel_requests`), call it, retry with backoff,
//! cool failing deployments down, then fall back to other groups — LiteLLM's order.
//!
//! Outage rule (Tollgate's improvement on LiteLLM): in a group that has fallbacks, a
//! cooldown-worthy failure of the last healthy deployment cools it down at once, and a group
//! with no healthy deployment is not retried. During an outage requests therefore go straight
//! to the fallback; once the cooldown ends, one request probes the primary again. Conversely a
//! deployment alone in its group with no fallbacks is never cooled down: the client gets the
//! provider's own error instead of a 429.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tollgate_core::{ErrorClass, GatewayError, UpstreamError};

use crate::policy::{RETRY_BUDGET_FLOOR, Strategy};
use crate::state::DeploymentState;
use crate::{CallContext, CallInfo, RequestOptions, Router, Target, info};

/// Longest provider `Retry-After` honoured between retries, like the OpenAI SDK.
const MAX_HONOURED_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Latency charged to a failed call, so latency routing moves away from it.
const FAILURE_LATENCY_PENALTY: Duration = Duration::from_secs(1000);

/// How many retries and fallbacks a call took (the `x-litellm-attempted-*` headers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Retries made within the group that answered (or the last one tried).
    pub attempted_retries: u32,
    /// The retry limit that applied.
    pub max_retries: u32,
    /// Fallback groups tried.
    pub attempted_fallbacks: u32,
}

/// A routed result with the deployment that produced it.
#[derive(Debug)]
pub struct Routed<T> {
    pub value: T,
    pub info: CallInfo,
}

/// A failed routed call; carries what the response headers need. `?` turns it into the
/// [`GatewayError`] it wraps.
#[derive(Debug, Clone)]
pub struct RouterError {
    pub error: GatewayError,
    pub attempts: Attempts,
}

impl std::fmt::Display for RouterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for RouterError {}

impl From<GatewayError> for RouterError {
    fn from(error: GatewayError) -> Self {
        Self {
            error,
            attempts: Attempts::default(),
        }
    }
}

impl From<RouterError> for GatewayError {
    fn from(e: RouterError) -> Self {
        e.error
    }
}

/// The deployment chosen for one attempt, handed to the call's `attempt` closure.
#[derive(Debug)]
pub struct Pick<'a> {
    pub target: Target<'a>,
    /// The timeout this attempt gets (LiteLLM's precedence, stream or not).
    pub timeout: Duration,
    state: Arc<DeploymentState>,
}

impl Pick<'_> {
    /// Counts tokens against the deployment's tpm (usage-based routing).
    pub fn add_tokens(&self, tokens: u64) {
        self.state.add_tokens(tokens);
    }
}

/// The deployments a requested name may be served by.
pub(crate) struct Candidates {
    pub group: String,
    /// Deployment index and, for a wildcard, the substituted upstream model.
    pub members: Vec<(usize, Option<String>)>,
}

impl Router {
    /// Calls `attempt` on deployments chosen for `model` until one succeeds, retrying and
    /// falling back per the router policy. `attempt` performs exactly one upstream call.
    pub async fn route<'a, T, F, Fut>(
        &'a self,
        model: &str,
        ctx: &CallContext,
        mut attempt: F,
    ) -> Result<Routed<T>, RouterError>
    where
        F: FnMut(Pick<'a>) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let mut attempts = Attempts::default();
        self.inner.budget.record_call();
        let original = match self
            .route_group(model, ctx, &mut attempt, &mut attempts)
            .await
        {
            Ok(routed) => return Ok(with_attempts(routed, attempts)),
            Err(e) => e,
        };
        if ctx.disable_fallbacks
            || matches!(
                original,
                GatewayError::InvalidModel { .. } | GatewayError::InvalidRequest { .. }
            )
        {
            return Err(RouterError {
                error: original,
                attempts,
            });
        }
        let group = self
            .candidates(model, ctx.route)
            .map(|c| c.group)
            .unwrap_or_else(|_| model.to_owned());
        // Depth first, as LiteLLM: each fallback group gets its own retries and, when it fails
        // too, its own fallbacks one level deeper, down to `max_fallbacks` levels.
        let max = self.inner.policy.max_fallbacks;
        let mut stack: Vec<(Vec<String>, usize, u32)> = vec![(
            self.fallbacks_for(&group, &original, ctx.fallbacks.as_ref()),
            0,
            1,
        )];
        let mut visited = vec![group.clone()];
        let mut last = original;
        while let Some((list, next, depth)) = stack.last_mut() {
            let depth = *depth;
            let Some(fallback) = list.get(*next).cloned() else {
                stack.pop();
                continue;
            };
            *next += 1;
            if depth > max || visited.contains(&fallback) {
                continue;
            }
            visited.push(fallback.clone());
            attempts.attempted_fallbacks = attempts.attempted_fallbacks.max(depth);
            tracing::debug!(model_group = %group, fallback = %fallback, error = %last, "falling back");
            let mut inner = Attempts::default();
            let outcome = self
                .route_group(&fallback, ctx, &mut attempt, &mut inner)
                .await;
            self.inner
                .stats
                .fallback(&group, &fallback, &last, outcome.is_ok());
            match outcome {
                Ok(routed) => {
                    attempts.attempted_fallbacks = depth;
                    attempts.attempted_retries = inner.attempted_retries;
                    attempts.max_retries = inner.max_retries;
                    return Ok(with_attempts(routed, attempts));
                }
                Err(e) => {
                    if depth < max && !matches!(e, GatewayError::InvalidModel { .. }) {
                        let fallback_group = self
                            .candidates(&fallback, ctx.route)
                            .map_or(fallback, |c| c.group);
                        let nested = self.fallbacks_for(&fallback_group, &e, None);
                        if !nested.is_empty() {
                            stack.push((nested, 0, depth + 1));
                        }
                    }
                    last = e;
                }
            }
        }
        Err(RouterError {
            error: last,
            attempts,
        })
    }

    /// The fallback groups for a failure, LiteLLM's choice: client-side list, then the
    /// context-window or content-policy list for those errors, then generic fallbacks.
    fn fallbacks_for(
        &self,
        group: &str,
        e: &GatewayError,
        client: Option<&Vec<String>>,
    ) -> Vec<String> {
        if let Some(client) = client {
            return client.clone();
        }
        let policy = &self.inner.policy;
        let special = match e.class() {
            ErrorClass::ContextWindowExceeded => policy.context_window_fallbacks.get(group),
            ErrorClass::ContentPolicyViolation => policy.content_policy_fallbacks.get(group),
            _ => None,
        };
        special
            .or_else(|| policy.generic_fallbacks(group))
            .cloned()
            .unwrap_or_default()
    }

    /// Retries within one model group. Returns the original error when retries run out.
    async fn route_group<'a, T, F, Fut>(
        &'a self,
        model: &str,
        ctx: &CallContext,
        attempt: &mut F,
        attempts: &mut Attempts,
    ) -> Result<Routed<T>, GatewayError>
    where
        F: FnMut(Pick<'a>) -> Fut,
        Fut: Future<Output = Result<T, GatewayError>>,
    {
        let cands = self.candidates(model, ctx.route)?;
        let policy = &self.inner.policy;
        let single = match cands.members.as_slice() {
            [(i, _)] => self.inner.deployments[*i].config.litellm_params.num_retries,
            _ => None,
        };
        let base_retries = ctx.num_retries.or(single).unwrap_or(policy.num_retries);
        attempts.max_retries = base_retries;
        attempts.attempted_retries = 0;
        let mut tried: Vec<usize> = Vec::new();
        let mut original: Option<GatewayError> = None;
        let mut retries = 0u32;
        loop {
            self.sync_shared(&cands).await;
            let (idx, target) = match self.select(&cands, ctx, &tried) {
                Ok(p) => p,
                Err(e) => return Err(original.unwrap_or(e)),
            };
            tried.push(idx);
            let state = Arc::clone(&self.inner.states[idx]);
            // Where rpm is enforced, count the request atomically before sending; losing the
            // race to a concurrent call means picking again (the full one is filtered out).
            let enforce = policy.pre_call_checks || policy.strategy == Strategy::UsageBased;
            let rpm = target
                .deployment
                .config
                .litellm_params
                .rpm
                .filter(|_| enforce);
            let shared_admit = match &self.inner.shared {
                Some(shared) => shared.admit_rpm(&target.deployment.id, rpm).await,
                None => None,
            };
            match shared_admit {
                Some(true) => state.record_request(),
                Some(false) => {
                    state.block_rpm(crate::shared::until_next_minute());
                    continue;
                }
                None => {
                    if !state.try_record_request(rpm) {
                        continue;
                    }
                }
            }
            let timeout = self.timeout_for(&target, &RequestOptions::default(), ctx, ctx.stream);
            let _permit = match &state.permits {
                Some(sem) => Arc::clone(sem).acquire_owned().await.ok(),
                None => None,
            };
            let _in_flight = state.start();
            let _shared_in_flight = self.shared_in_flight(&target.deployment.id).await;
            let started = tokio::time::Instant::now();
            let call_info = info(&target, Duration::ZERO);
            let pick = Pick {
                target,
                timeout,
                state: Arc::clone(&state),
            };
            match attempt(pick).await {
                Ok(value) => {
                    let elapsed = started.elapsed();
                    self.inner.stats.success(idx);
                    state.record_success(0, elapsed, policy.latency_window);
                    self.share_latency(idx, elapsed).await;
                    attempts.attempted_retries = retries;
                    return Ok(Routed {
                        value,
                        info: CallInfo {
                            upstream: elapsed,
                            ..call_info
                        },
                    });
                }
                Err(e) => {
                    self.inner.stats.failure(idx, &e);
                    state.record_failure(FAILURE_LATENCY_PENALTY, policy.latency_window);
                    self.share_latency(idx, FAILURE_LATENCY_PENALTY).await;
                    if let Some(cooldown) = self.after_failure(idx, &cands, &e) {
                        self.inner.stats.cooled_down(idx, e.status());
                        if let Some(shared) = &self.inner.shared {
                            shared
                                .set_cooldown(&self.inner.deployments[idx].id, e.status(), cooldown)
                                .await;
                        }
                    }
                    tracing::debug!(model_id = %self.inner.deployments[idx].id, error = %e, "attempt failed");
                    let allowed = self.retries_for(&cands.group, &e, base_retries);
                    attempts.max_retries = allowed;
                    attempts.attempted_retries = retries;
                    let healthy = self.healthy_count(&cands);
                    let original_err = original.get_or_insert_with(|| e.clone());
                    if retries >= allowed
                        || !self.should_retry(&e, &cands, healthy)
                        || !self
                            .inner
                            .budget
                            .try_retry(RETRY_BUDGET_FLOOR, policy.retry_budget_ratio)
                    {
                        return Err(original_err.clone());
                    }
                    let untried_healthy = cands.members.iter().any(|(i, _)| {
                        !tried.contains(i) && self.inner.states[*i].cooling().is_none()
                    });
                    let delay = if untried_healthy {
                        policy.retry_after
                    } else {
                        backoff(retries, e.retry_after()).max(policy.retry_after)
                    };
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    retries += 1;
                }
            }
        }
    }

    /// Retries for this error: the class's `model_group_retry_policy`/`retry_policy` entry,
    /// else the call's limit when the class is worth retrying, else none.
    fn retries_for(&self, group: &str, e: &GatewayError, base: u32) -> u32 {
        let policy = &self.inner.policy;
        let class = e.class();
        if crate::is_mock_failure(e) {
            return 0;
        }
        if let Some(n) = policy
            .group_retry_policy
            .get(group)
            .and_then(|p| p.get(class))
            .or_else(|| policy.retry_policy.as_ref().and_then(|p| p.get(class)))
        {
            return n;
        }
        // A request the provider rejected as malformed fails the same way again; LiteLLM
        // retries it anyway, which only adds latency.
        let retryable = class.is_retryable() || class == ErrorClass::Authentication;
        if retryable { base } else { 0 }
    }

    /// Counts the call in flight in Redis (least-busy routing only) until the guard drops.
    async fn shared_in_flight(&self, id: &str) -> Option<SharedInFlight> {
        let shared = self.inner.shared.as_ref()?;
        if self.inner.policy.strategy != Strategy::LeastBusy {
            return None;
        }
        shared.in_flight_start(id).await;
        Some(SharedInFlight {
            router: self.clone(),
            id: id.to_owned(),
        })
    }

    /// Adds a latency sample to the shared window (latency routing only).
    async fn share_latency(&self, idx: usize, latency: Duration) {
        if let Some(shared) = &self.inner.shared
            && self.inner.policy.strategy == Strategy::LatencyBased
        {
            let id = &self.inner.deployments[idx].id;
            shared
                .record_latency(id, latency, self.inner.policy.latency_window)
                .await;
        }
    }

    /// LiteLLM's "go straight to fallbacks" rules.
    fn should_retry(&self, e: &GatewayError, cands: &Candidates, healthy: usize) -> bool {
        let policy = &self.inner.policy;
        let group = cands.group.as_str();
        match e.class() {
            ErrorClass::ContextWindowExceeded
                if policy.context_window_fallbacks.contains_key(group) =>
            {
                return false;
            }
            ErrorClass::ContentPolicyViolation
                if policy.content_policy_fallbacks.contains_key(group) =>
            {
                return false;
            }
            ErrorClass::NotFound => return false,
            ErrorClass::RateLimit if healthy == 0 && policy.has_fallbacks(group) => return false,
            ErrorClass::Authentication if cands.members.len() <= 1 => return false,
            _ => {}
        }
        if matches!(e, GatewayError::NoDeploymentsAvailable { .. }) {
            return false;
        }
        healthy > 0
    }

    fn healthy_count(&self, cands: &Candidates) -> usize {
        cands
            .members
            .iter()
            .filter(|(i, _)| self.inner.states[*i].cooling().is_none())
            .count()
    }

    /// Records a failure and cools the deployment down when LiteLLM would (plus the outage
    /// rule in the module docs).
    fn after_failure(&self, idx: usize, cands: &Candidates, e: &GatewayError) -> Option<Duration> {
        let policy = &self.inner.policy;
        let d = &self.inner.deployments[idx];
        let state = &self.inner.states[idx];
        let cooldown = d
            .config
            .litellm_params
            .cooldown_time
            .filter(|t| t.is_finite() && *t >= 0.0)
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            // A `Retry-After: 0` is "retry now", not "never cool down".
            .or_else(|| e.retry_after().filter(|d| !d.is_zero()))
            .unwrap_or(policy.cooldown_time);
        if policy.disable_cooldowns
            || cooldown.is_zero()
            || d.pattern.is_some()
            || crate::is_mock_failure(e)
        {
            return None;
        }
        let status = e.status();
        let worthy = !matches!(e, GatewayError::Connection { .. })
            && (matches!(status, 401 | 404 | 408 | 429) || status >= 500);
        if !worthy {
            return None;
        }
        let group_size = cands.members.len();
        let has_fallbacks = policy.has_fallbacks(&cands.group);
        // Alone in its group with nowhere to fall back to, a cooled deployment would only turn
        // the provider's own error into a 429 "No deployments available".
        if group_size <= 1 && !has_fallbacks {
            return None;
        }
        let others_healthy = cands
            .members
            .iter()
            .any(|(i, _)| *i != idx && self.inner.states[*i].cooling().is_none());
        let cool = if policy.counts_fails() {
            let allowed = policy
                .allowed_fails_policy
                .as_ref()
                .and_then(|p| p.get(e.class()))
                .unwrap_or(policy.allowed_fails);
            state.count_fail(allowed, cooldown)
        } else {
            let m = state.minute();
            let total = m.successes + m.failures;
            (status == 429 && group_size > 1)
                || (m.successes == 0 && total >= 1000)
                || (group_size > 1 && total >= 5 && m.failures * 2 > total)
                || matches!(status, 401 | 404)
        };
        let outage = !others_healthy && has_fallbacks;
        if cool || outage {
            tracing::warn!(model_id = %d.id, model_group = %cands.group, seconds = cooldown.as_secs_f64(), error = %e, "deployment cooling down");
            state.cool_down(cooldown);
            return Some(cooldown);
        }
        None
    }

    /// Pulls the other instances' cooldowns (and, for usage routing, rpm/tpm) into the local
    /// mirror before a pick. Without Redis, or when it does not answer, local state stands.
    async fn sync_shared(&self, cands: &Candidates) {
        let Some(shared) = &self.inner.shared else {
            return;
        };
        let inner = &*self.inner;
        let ids: Vec<&str> = cands
            .members
            .iter()
            .map(|(i, _)| inner.deployments[*i].id.as_str())
            .collect();
        if let Some(cooldowns) = shared.cooldowns(&ids).await {
            for ((i, _), remaining) in cands.members.iter().zip(cooldowns) {
                if let Some(d) = remaining {
                    inner.states[*i].cool_down(d);
                }
            }
        }
        match inner.policy.strategy {
            Strategy::LeastBusy => {
                if let Some(counts) = shared.in_flight(&ids).await {
                    for ((i, _), n) in cands.members.iter().zip(counts) {
                        inner.states[*i].observe_in_flight(n);
                    }
                }
            }
            Strategy::LatencyBased => {
                if let Some(lists) = shared.latencies(&ids).await {
                    for ((i, _), l) in cands.members.iter().zip(lists) {
                        inner.states[*i].observe_latencies(l);
                    }
                }
            }
            _ => {}
        }
        let needs_usage =
            inner.policy.strategy == Strategy::UsageBased || inner.policy.pre_call_checks;
        if needs_usage && let Some(usage) = shared.usage(&ids).await {
            for ((i, _), (rpm, tpm)) in cands.members.iter().zip(usage) {
                inner.states[*i].observe(rpm, tpm);
            }
        }
    }

    /// One deployment for the next attempt: healthy, untried if possible, lowest `order`
    /// tier, passing pre-call checks, then chosen by the strategy.
    pub(crate) fn select(
        &self,
        cands: &Candidates,
        ctx: &CallContext,
        tried: &[usize],
    ) -> Result<(usize, Target<'_>), GatewayError> {
        let inner = &*self.inner;
        let mut healthy: Vec<&(usize, Option<String>)> = cands
            .members
            .iter()
            .filter(|(i, _)| inner.states[*i].cooling().is_none())
            .collect();
        if healthy.is_empty() {
            return Err(self.all_cooling(cands, ctx));
        }
        if healthy.iter().any(|(i, _)| !tried.contains(i)) {
            healthy.retain(|(i, _)| !tried.contains(i));
        }
        let order = |i: usize| {
            let d = &inner.deployments[i];
            d.config.litellm_params.order.or_else(|| {
                d.config
                    .model_info
                    .extra
                    .get("order")
                    .and_then(serde_json::Value::as_i64)
            })
        };
        if let Some(lowest) = healthy.iter().filter_map(|(i, _)| order(*i)).min() {
            healthy.retain(|(i, _)| order(*i) == Some(lowest));
        }
        if inner.policy.pre_call_checks {
            healthy = self.pre_call_checks(healthy, ctx)?;
        }
        if inner.policy.strategy == Strategy::UsageBased {
            let prompt = ctx.prompt_tokens.unwrap_or(0);
            healthy.retain(|(i, _)| {
                let lp = &inner.deployments[*i].config.litellm_params;
                let m = inner.states[*i].minute();
                lp.tpm.is_none_or(|t| m.tokens + prompt <= t)
                    && lp.rpm.is_none_or(|r| m.requests < r)
            });
            if healthy.is_empty() {
                return Err(GatewayError::NoDeploymentsAvailable {
                    message: format!(
                        "No deployments available for selected model, passed model={}. Every deployment is at its rpm/tpm limit.",
                        cands.group
                    ),
                    retry_after: Some(Duration::from_secs(60)),
                });
            }
        }
        let chosen = crate::strategy::choose(self, &healthy);
        let (i, upstream) = healthy[chosen];
        let d = &inner.deployments[*i];
        Ok((
            *i,
            self.target(d, upstream.as_deref(), cands.group.clone())?,
        ))
    }

    fn pre_call_checks<'c>(
        &self,
        mut healthy: Vec<&'c (usize, Option<String>)>,
        ctx: &CallContext,
    ) -> Result<Vec<&'c (usize, Option<String>)>, GatewayError> {
        let inner = &*self.inner;
        let before = healthy.len();
        let mut too_small: Option<(usize, u64)> = None;
        if let Some(tokens) = ctx.prompt_tokens {
            healthy.retain(|(i, _)| {
                let window = inner.facts.context_window(&inner.deployments[*i]);
                match window {
                    Some(w) if w < tokens => {
                        too_small = Some((*i, w));
                        false
                    }
                    _ => true,
                }
            });
            if healthy.is_empty()
                && let Some((i, w)) = too_small
            {
                let mut up = UpstreamError::new(
                    400,
                    "LiteLLM",
                    format!(
                        "Context Window exceeded for given call. Model={}, Max Input Tokens={w}, Got={tokens}",
                        inner.deployments[i].litellm_model
                    ),
                );
                up.class = ErrorClass::ContextWindowExceeded;
                return Err(GatewayError::Upstream(Box::new(up)));
            }
        }
        healthy.retain(|(i, _)| {
            let rpm = inner.deployments[*i].config.litellm_params.rpm;
            rpm.is_none_or(|r| inner.states[*i].minute().requests < r)
        });
        if healthy.is_empty() && before > 0 {
            return Err(GatewayError::NoDeploymentsAvailable {
                message: "No deployments available for selected model.".into(),
                retry_after: Some(Duration::from_secs(60)),
            });
        }
        Ok(healthy)
    }

    fn all_cooling(&self, cands: &Candidates, _ctx: &CallContext) -> GatewayError {
        let inner = &*self.inner;
        let remaining = cands
            .members
            .iter()
            .filter_map(|(i, _)| inner.states[*i].cooling())
            .min()
            .unwrap_or_default();
        let ids: Vec<String> = cands
            .members
            .iter()
            .map(|(i, _)| format!("'{}'", inner.deployments[*i].id))
            .collect();
        let secs = remaining.as_secs_f64().ceil().max(1.0) as u64;
        GatewayError::NoDeploymentsAvailable {
            message: format!(
                "No deployments available for selected model, Try again in {secs} seconds. Passed model={}. pre-call-checks={}, cooldown_list=[{}]",
                cands.group,
                if inner.policy.pre_call_checks {
                    "True"
                } else {
                    "False"
                },
                ids.join(", ")
            ),
            retry_after: Some(Duration::from_secs(secs)),
        }
    }
}

/// Decrements the shared in-flight count when the call ends, however it ends (a client that
/// disconnects drops the call's future mid-way).
struct SharedInFlight {
    router: Router,
    id: String,
}

impl Drop for SharedInFlight {
    fn drop(&mut self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let router = self.router.clone();
            let id = std::mem::take(&mut self.id);
            rt.spawn(async move {
                if let Some(shared) = &router.inner.shared {
                    shared.in_flight_end(&id).await;
                }
            });
        }
    }
}

fn with_attempts<T>(mut routed: Routed<T>, attempts: Attempts) -> Routed<T> {
    routed.info.attempts = attempts;
    routed
}

/// The OpenAI SDK's backoff: the provider's `Retry-After` when it is at most a minute, else
/// `min(0.5 * 2^n, 8)` seconds less up to 25 % jitter.
pub(crate) fn backoff(retry: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after.filter(|a| *a <= MAX_HONOURED_RETRY_AFTER) {
        return after;
    }
    let base = (0.5 * 2f64.powi(retry.min(16) as i32)).min(8.0);
    let jitter = 1.0 - 0.25 * fastrand::f64();
    Duration::from_secs_f64(base * jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_honours_retry_after_and_caps_growth() {
        assert_eq!(
            backoff(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        let long = backoff(0, Some(Duration::from_secs(120)));
        assert!(long <= Duration::from_millis(500), "{long:?}");
        for n in 0..20 {
            let d = backoff(n, None);
            let base = (0.5 * 2f64.powi(n.min(16) as i32)).min(8.0);
            assert!(
                d.as_secs_f64() <= base && d.as_secs_f64() >= base * 0.75,
                "{n}: {d:?}"
            );
        }
    }

    #[test]
    fn router_error_converts_to_its_gateway_error() {
        let e = RouterError {
            error: GatewayError::Internal("x".into()),
            attempts: Attempts {
                attempted_retries: 2,
                max_retries: 2,
                attempted_fallbacks: 1,
            },
        };
        let g: GatewayError = e.into();
        assert_eq!(g.to_string(), "Internal error: x");
    }
}
