//! What the router remembers about each deployment in this process: cooldowns, this minute's
//! successes, failures, requests and tokens, in-flight calls and recent latencies.
//!
//! Time is `tokio::time::Instant`, so tests drive it with `tokio::time::pause`/`advance`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

const MINUTE: Duration = Duration::from_secs(60);

/// Counts for the current one-minute window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Minute {
    pub successes: u64,
    pub failures: u64,
    pub requests: u64,
    pub tokens: u64,
}

#[derive(Debug)]
struct Inner {
    window_start: Instant,
    minute: Minute,
    cooldown_until: Option<Instant>,
    /// Counter logic (`allowed_fails`): failures while the counter lives, and when it expires.
    fails: u32,
    fails_expire: Option<Instant>,
    latencies: VecDeque<Duration>,
    /// Another instance filled the rpm (Redis said so) until then.
    rpm_blocked_until: Option<Instant>,
}

/// Per-deployment local state.
#[derive(Debug)]
pub(crate) struct DeploymentState {
    inner: Mutex<Inner>,
    in_flight: AtomicU64,
    /// Calls in flight on every instance together, as Redis last said.
    shared_in_flight: AtomicU64,
    /// `max_parallel_requests`: callers wait for a permit instead of being rejected.
    pub(crate) permits: Option<Arc<Semaphore>>,
}

impl DeploymentState {
    pub(crate) fn new(max_parallel: Option<u32>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                window_start: Instant::now(),
                minute: Minute::default(),
                cooldown_until: None,
                fails: 0,
                fails_expire: None,
                latencies: VecDeque::new(),
                rpm_blocked_until: None,
            }),
            in_flight: AtomicU64::new(0),
            shared_in_flight: AtomicU64::new(0),
            permits: max_parallel.map(|n| Arc::new(Semaphore::new(n as usize))),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner, Instant) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(g.window_start) >= MINUTE {
            g.window_start = now;
            g.minute = Minute::default();
        }
        f(&mut g, now)
    }

    /// Remaining cooldown, if cooling.
    pub(crate) fn cooling(&self) -> Option<Duration> {
        self.with(|s, now| match s.cooldown_until {
            Some(until) if until > now => Some(until - now),
            _ => None,
        })
    }

    pub(crate) fn cool_down(&self, d: Duration) {
        self.with(|s, now| {
            let until = now + d;
            if s.cooldown_until.is_none_or(|u| u < until) {
                s.cooldown_until = Some(until);
            }
            s.fails = 0;
            s.fails_expire = None;
        });
    }

    /// This minute's counts; requests are "full" while another instance filled the rpm.
    pub(crate) fn minute(&self) -> Minute {
        self.with(|s, now| {
            let mut m = s.minute;
            if s.rpm_blocked_until.is_some_and(|u| u > now) {
                m.requests = u64::MAX;
            }
            m
        })
    }

    /// Marks the rpm as filled elsewhere for `d`.
    pub(crate) fn block_rpm(&self, d: Duration) {
        self.with(|s, now| s.rpm_blocked_until = Some(now + d));
    }

    /// Counts a request admitted elsewhere (by Redis) against the local mirror.
    pub(crate) fn record_request(&self) {
        self.with(|s, _| s.minute.requests += 1);
    }

    /// Raises the local counts to what every instance used together.
    pub(crate) fn observe(&self, requests: u64, tokens: u64) {
        self.with(|s, _| {
            s.minute.requests = s.minute.requests.max(requests);
            s.minute.tokens = s.minute.tokens.max(tokens);
        });
    }

    /// Counts a request only if the minute still has room under `rpm` (atomic check-and-add).
    pub(crate) fn try_record_request(&self, rpm: Option<u64>) -> bool {
        self.with(|s, _| {
            if rpm.is_some_and(|limit| s.minute.requests >= limit) {
                return false;
            }
            s.minute.requests += 1;
            true
        })
    }

    /// Counts tokens against this minute's tpm.
    pub(crate) fn add_tokens(&self, tokens: u64) {
        self.with(|s, _| s.minute.tokens += tokens);
    }

    pub(crate) fn record_success(&self, tokens: u64, latency: Duration, window: usize) {
        self.with(|s, _| {
            s.minute.successes += 1;
            s.minute.tokens += tokens;
            s.latencies.push_back(latency);
            while s.latencies.len() > window.max(1) {
                s.latencies.pop_front();
            }
        });
    }

    /// Records a failure; a failed call counts as a long latency so latency routing avoids it.
    pub(crate) fn record_failure(&self, penalty: Duration, window: usize) {
        self.with(|s, _| {
            s.minute.failures += 1;
            s.latencies.push_back(penalty);
            while s.latencies.len() > window.max(1) {
                s.latencies.pop_front();
            }
        });
    }

    /// LiteLLM's counter logic: true when this failure exceeds `allowed` within `ttl`.
    pub(crate) fn count_fail(&self, allowed: u32, ttl: Duration) -> bool {
        self.with(|s, now| {
            if s.fails_expire.is_some_and(|e| e <= now) {
                s.fails = 0;
            }
            if s.fails + 1 > allowed {
                return true;
            }
            s.fails += 1;
            s.fails_expire = Some(now + ttl);
            false
        })
    }

    /// Mean recent latency, `None` without data.
    pub(crate) fn mean_latency(&self) -> Option<Duration> {
        self.with(|s, _| {
            let n = s.latencies.len() as u32;
            (n > 0).then(|| s.latencies.iter().sum::<Duration>() / n)
        })
    }

    /// Calls in flight: this instance's, or all instances' when Redis told more.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight
            .load(Ordering::Relaxed)
            .max(self.shared_in_flight.load(Ordering::Relaxed))
    }

    /// Records the all-instances in-flight count.
    pub(crate) fn observe_in_flight(&self, n: u64) {
        self.shared_in_flight.store(n, Ordering::Relaxed);
    }

    /// Replaces the latency window with the all-instances one (when it has data).
    pub(crate) fn observe_latencies(&self, samples: Vec<Duration>) {
        if samples.is_empty() {
            return;
        }
        self.with(|s, _| s.latencies = samples.into());
    }

    /// Marks a call in flight until the guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// Decrements the in-flight count on drop, whichever way the call ends.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<DeploymentState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The retry budget: retries in a 10 s window may not exceed `floor + ratio * first attempts`,
/// so retries cannot multiply the load on a provider that is already failing.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    inner: Mutex<(Instant, u64, u64)>,
}

const BUDGET_WINDOW: Duration = Duration::from_secs(10);

impl RetryBudget {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut u64, &mut u64) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(g.0) >= BUDGET_WINDOW {
            *g = (now, 0, 0);
        }
        let (_, calls, retries) = &mut *g;
        f(calls, retries)
    }

    pub(crate) fn record_call(&self) {
        self.with(|calls, _| *calls += 1);
    }

    /// Takes one retry from the budget, false when it is spent.
    pub(crate) fn try_retry(&self, floor: u64, ratio: f64) -> bool {
        self.with(|calls, retries| {
            let allowed = floor + (*calls as f64 * ratio) as u64;
            if *retries >= allowed {
                return false;
            }
            *retries += 1;
            true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cooldown_expires_with_time() {
        let s = DeploymentState::new(None);
        assert!(s.cooling().is_none());
        s.cool_down(Duration::from_secs(5));
        assert_eq!(s.cooling(), Some(Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(s.cooling(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(s.cooling().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn fail_counter_trips_after_allowed_and_forgets_after_ttl() {
        let s = DeploymentState::new(None);
        let ttl = Duration::from_secs(5);
        assert!(!s.count_fail(2, ttl));
        assert!(!s.count_fail(2, ttl));
        assert!(s.count_fail(2, ttl));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(
            !s.count_fail(2, ttl),
            "the counter lives only for the cooldown time"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_admits_exactly_the_limit_per_minute() {
        let s = DeploymentState::new(None);
        let admitted = (0..25).filter(|_| s.try_record_request(Some(10))).count();
        assert_eq!(admitted, 10);
        tokio::time::advance(MINUTE).await;
        assert!(s.try_record_request(Some(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_budget_caps_retries_relative_to_calls() {
        let b = RetryBudget::new();
        for _ in 0..100 {
            b.record_call();
        }
        let granted = (0..1000).filter(|_| b.try_retry(10, 0.2)).count();
        assert_eq!(granted, 30);
        tokio::time::advance(BUDGET_WINDOW).await;
        assert!(b.try_retry(10, 0.2));
    }

    #[tokio::test]
    async fn in_flight_guard_decrements_on_drop() {
        let s = Arc::new(DeploymentState::new(None));
        let a = s.start();
        let b = s.start();
        assert_eq!(s.in_flight(), 2);
        drop(a);
        drop(b);
        assert_eq!(s.in_flight(), 0);
    }
}
