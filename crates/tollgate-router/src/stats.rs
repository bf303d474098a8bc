//! What the routing loop did, counted for monitoring: per deployment its successes, failures
//! and cooldowns, per fallback pair its outcomes. Plain atomics and small maps, read by
//! whoever renders metrics (the proxy's `/metrics`); nothing here knows a metrics format.
//!
//! Successes are one atomic add per attempt. Failures, cooldowns and fallbacks are rare and
//! keyed by status and class, so they sit behind a mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tollgate_core::GatewayError;

/// Counters of one deployment.
#[derive(Debug, Default)]
struct DeploymentCounters {
    successes: AtomicU64,
    /// `(status, LiteLLM exception class)` -> count.
    failures: Mutex<HashMap<(u16, &'static str), u64>>,
    /// Status of the failure that started the cooldown -> count.
    cooldowns: Mutex<HashMap<u16, u64>>,
    /// The last attempt on it failed (LiteLLM's "partial outage" until the next success).
    last_failed: AtomicBool,
}

/// A fallback from the requested group to another, by the error that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FallbackKey {
    /// The model group the client asked for.
    pub requested_model: String,
    /// The group fallen back to.
    pub fallback_model: String,
    /// Status of the error that caused the fallback.
    pub exception_status: u16,
    /// LiteLLM exception class of that error.
    pub exception_class: &'static str,
}

/// How many fallbacks of one kind answered and how many failed too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FallbackCounts {
    pub successful: u64,
    pub failed: u64,
}

/// The router's event counters (one per router, shared by its clones).
#[derive(Debug)]
pub(crate) struct RouterStats {
    deployments: Vec<DeploymentCounters>,
    fallbacks: Mutex<HashMap<FallbackKey, FallbackCounts>>,
}

impl RouterStats {
    pub(crate) fn new(deployments: usize) -> Self {
        Self {
            deployments: (0..deployments)
                .map(|_| DeploymentCounters::default())
                .collect(),
            fallbacks: Mutex::default(),
        }
    }

    pub(crate) fn success(&self, idx: usize) {
        if let Some(d) = self.deployments.get(idx) {
            d.successes.fetch_add(1, Ordering::Relaxed);
            d.last_failed.store(false, Ordering::Relaxed);
        }
    }

    pub(crate) fn failure(&self, idx: usize, e: &GatewayError) {
        if let Some(d) = self.deployments.get(idx) {
            d.last_failed.store(true, Ordering::Relaxed);
            *lock(&d.failures)
                .entry((e.status(), e.class().name()))
                .or_default() += 1;
        }
    }

    pub(crate) fn cooled_down(&self, idx: usize, status: u16) {
        if let Some(d) = self.deployments.get(idx) {
            *lock(&d.cooldowns).entry(status).or_default() += 1;
        }
    }

    pub(crate) fn fallback(&self, requested: &str, fallback: &str, cause: &GatewayError, ok: bool) {
        let key = FallbackKey {
            requested_model: requested.to_owned(),
            fallback_model: fallback.to_owned(),
            exception_status: cause.status(),
            exception_class: cause.class().name(),
        };
        let mut map = lock(&self.fallbacks);
        let c = map.entry(key).or_default();
        if ok {
            c.successful += 1;
        } else {
            c.failed += 1;
        }
    }

    pub(crate) fn successes(&self, idx: usize) -> u64 {
        self.deployments
            .get(idx)
            .map_or(0, |d| d.successes.load(Ordering::Relaxed))
    }

    pub(crate) fn failures(&self, idx: usize) -> Vec<((u16, &'static str), u64)> {
        self.deployments.get(idx).map_or_else(Vec::new, |d| {
            lock(&d.failures).iter().map(|(k, v)| (*k, *v)).collect()
        })
    }

    pub(crate) fn cooldowns(&self, idx: usize) -> Vec<(u16, u64)> {
        self.deployments.get(idx).map_or_else(Vec::new, |d| {
            lock(&d.cooldowns).iter().map(|(k, v)| (*k, *v)).collect()
        })
    }

    pub(crate) fn last_failed(&self, idx: usize) -> bool {
        self.deployments
            .get(idx)
            .is_some_and(|d| d.last_failed.load(Ordering::Relaxed))
    }

    pub(crate) fn fallbacks(&self) -> Vec<(FallbackKey, FallbackCounts)> {
        lock(&self.fallbacks)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// Counters stay usable after a panic elsewhere: they are plain numbers.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// LiteLLM's `litellm_deployment_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentHealth {
    /// Last attempt answered (or none made yet): 0.
    Healthy = 0,
    /// Last attempt failed, not cooling down: 1.
    PartialOutage = 1,
    /// Cooling down: 2.
    Outage = 2,
}

/// One deployment's counters and health, for rendering.
#[derive(Debug, Clone)]
pub struct DeploymentStats<'a> {
    /// Model group (`model_name`).
    pub model_group: &'a str,
    /// Deployment id.
    pub model_id: &'a str,
    /// `litellm_params.model`.
    pub litellm_model_name: &'a str,
    /// The deployment's API base (empty when it has no fixed adapter).
    pub api_base: &'a str,
    /// Provider display name (empty when it has no fixed adapter).
    pub api_provider: &'static str,
    pub health: DeploymentHealth,
    /// Attempts that answered.
    pub successes: u64,
    /// Failed attempts by `(status, exception class)`.
    pub failures: Vec<((u16, &'static str), u64)>,
    /// Cooldowns started, by the status of the failure that caused them.
    pub cooldowns: Vec<(u16, u64)>,
}

/// The state of the router's Redis connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisStats {
    /// Redis answered the last exchange (or none was tried yet).
    pub up: bool,
    /// Exchanges tried (including those skipped while it was known down).
    pub requests: u64,
    /// Exchanges that failed or timed out.
    pub failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_deployment_status_and_class() {
        let s = RouterStats::new(2);
        s.success(0);
        s.success(0);
        let e = GatewayError::Upstream(Box::new(tollgate_core::UpstreamError::new(
            503, "OpenAI", "down",
        )));
        s.failure(1, &e);
        s.failure(1, &e);
        s.cooled_down(1, 503);
        s.failure(7, &e); // out of range: ignored, no panic
        assert_eq!(s.successes(0), 2);
        assert!(!s.last_failed(0));
        assert!(s.last_failed(1));
        assert_eq!(s.failures(1), vec![((503, "ServiceUnavailableError"), 2)]);
        assert_eq!(s.cooldowns(1), vec![(503, 1)]);
        s.success(1);
        assert!(!s.last_failed(1));
        s.fallback("a", "b", &e, true);
        s.fallback("a", "b", &e, false);
        s.fallback("a", "b", &e, true);
        let f = s.fallbacks();
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].1,
            FallbackCounts {
                successful: 2,
                failed: 1
            }
        );
        assert_eq!(f[0].0.exception_status, 503);
    }
}
