//! Per-instance rate limits: fixed 60-second windows per descriptor (LiteLLM's v3 limiter),
//! plus in-flight counters for `max_parallel_requests`. Checked and counted under one lock, so
//! concurrent requests never both take the last slot.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};

/// LiteLLM's `LITELLM_RATE_LIMIT_WINDOW_SIZE`.
pub const WINDOW_SECS: i64 = 60;

/// One descriptor's limits for a request (`api_key`, `user`, `team`, `end_user`,
/// `model_per_key`).
#[derive(Debug, Clone)]
pub struct Limit {
    pub descriptor: &'static str,
    pub value: String,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub parallel: Option<i64>,
}

impl Limit {
    fn key(&self) -> String {
        format!("{}:{}", self.descriptor, self.value)
    }

    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some() || self.parallel.is_some()
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone)]
pub struct Exceeded {
    pub descriptor: &'static str,
    pub value: String,
    /// `requests`, `tokens` or `max_parallel_requests`.
    pub kind: &'static str,
    pub limit: i64,
    pub resets_at: DateTime<Utc>,
    pub retry_after_secs: u64,
}

impl Exceeded {
    /// LiteLLM's v3 limiter message.
    pub fn message(&self) -> String {
        format!(
            "Rate limit exceeded for {}: {}. Limit type: {}. Current limit: {}, Remaining: 0. Limit resets at: {}",
            self.descriptor,
            self.value,
            self.kind,
            self.limit,
            self.resets_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    index: i64,
    requests: i64,
    tokens: i64,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<String, Window>,
    parallel: HashMap<String, i64>,
}

/// The local limiter.
#[derive(Debug, Default)]
pub struct Limiter {
    state: Mutex<State>,
}

/// `x-ratelimit-*` header pairs.
pub type Headers = Vec<(String, String)>;

impl Limiter {
    /// Checks every limit and, when all pass, counts the request (and a parallel slot).
    pub fn admit(&self, limits: &[Limit], now: DateTime<Utc>) -> Result<Headers, Exceeded> {
        let index = now.timestamp().div_euclid(WINDOW_SECS);
        let resets_at = Utc
            .timestamp_opt((index + 1) * WINDOW_SECS, 0)
            .single()
            .unwrap_or(now);
        let retry_after_secs = (resets_at - now).num_seconds().max(1) as u64;
        let Ok(mut st) = self.state.lock() else {
            return Ok(Vec::new());
        };
        let exceeded = |l: &Limit, kind: &'static str, limit: i64| Exceeded {
            descriptor: l.descriptor,
            value: l.value.clone(),
            kind,
            limit,
            resets_at,
            retry_after_secs,
        };
        for l in limits.iter().filter(|l| l.is_set()) {
            let w = current(&mut st, &l.key(), index);
            if let Some(rpm) = l.rpm {
                if w.requests + 1 > rpm {
                    return Err(exceeded(l, "requests", rpm));
                }
            }
            if let Some(tpm) = l.tpm {
                if w.tokens >= tpm {
                    return Err(exceeded(l, "tokens", tpm));
                }
            }
            if let Some(max) = l.parallel {
                if st.parallel.get(&l.key()).copied().unwrap_or(0) + 1 > max {
                    return Err(Exceeded {
                        retry_after_secs: 1,
                        ..exceeded(l, "max_parallel_requests", max)
                    });
                }
            }
        }
        let mut headers = Vec::new();
        for l in limits.iter().filter(|l| l.is_set()) {
            let key = l.key();
            let w = st.windows.entry(key.clone()).or_default();
            w.requests += 1;
            let w = *w;
            if let Some(rpm) = l.rpm {
                headers.push((
                    format!("x-ratelimit-{}-limit-requests", l.descriptor),
                    rpm.to_string(),
                ));
                headers.push((
                    format!("x-ratelimit-{}-remaining-requests", l.descriptor),
                    (rpm - w.requests).max(0).to_string(),
                ));
            }
            if let Some(tpm) = l.tpm {
                headers.push((
                    format!("x-ratelimit-{}-limit-tokens", l.descriptor),
                    tpm.to_string(),
                ));
                headers.push((
                    format!("x-ratelimit-{}-remaining-tokens", l.descriptor),
                    (tpm - w.tokens).max(0).to_string(),
                ));
            }
            if l.parallel.is_some() {
                *st.parallel.entry(key).or_default() += 1;
            }
        }
        Ok(headers)
    }

    /// Counts a finished request's tokens and frees its parallel slot.
    pub fn release(&self, limits: &[Limit], tokens: i64, now: DateTime<Utc>) {
        let index = now.timestamp().div_euclid(WINDOW_SECS);
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        for l in limits.iter().filter(|l| l.is_set()) {
            let key = l.key();
            if l.tpm.is_some() && tokens > 0 {
                current(&mut st, &key, index).tokens += tokens;
            }
            if l.parallel.is_some() {
                if let Some(n) = st.parallel.get_mut(&key) {
                    *n = (*n - 1).max(0);
                }
            }
        }
    }
}

fn current<'a>(st: &'a mut State, key: &str, index: i64) -> &'a mut Window {
    let w = st.windows.entry(key.to_owned()).or_default();
    if w.index != index {
        *w = Window {
            index,
            ..Window::default()
        };
    }
    w
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limit(rpm: Option<i64>, tpm: Option<i64>, parallel: Option<i64>) -> Vec<Limit> {
        vec![Limit {
            descriptor: "api_key",
            value: "h".into(),
            rpm,
            tpm,
            parallel,
        }]
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn rpm_resets_with_the_window() {
        let l = Limiter::default();
        let lim = limit(Some(2), None, None);
        // 1_800_000_000 is a multiple of 60: the window runs to +60.
        let h = l.admit(&lim, t(0)).unwrap();
        assert!(h.contains(&("x-ratelimit-api_key-remaining-requests".into(), "1".into())));
        l.admit(&lim, t(1)).unwrap();
        let e = l.admit(&lim, t(2)).unwrap_err();
        assert_eq!(e.kind, "requests");
        assert_eq!(e.retry_after_secs, 58);
        assert!(e.message().starts_with("Rate limit exceeded for api_key: h. Limit type: requests. Current limit: 2, Remaining: 0."));
        l.admit(&lim, t(60)).unwrap();
    }

    #[test]
    fn tpm_counts_finished_tokens() {
        let l = Limiter::default();
        let lim = limit(None, Some(100), None);
        l.admit(&lim, t(0)).unwrap();
        l.release(&lim, 100, t(1));
        assert_eq!(l.admit(&lim, t(2)).unwrap_err().kind, "tokens");
        l.admit(&lim, t(61)).unwrap();
    }

    #[test]
    fn parallel_slots_are_freed() {
        let l = Limiter::default();
        let lim = limit(None, None, Some(1));
        l.admit(&lim, t(0)).unwrap();
        assert_eq!(
            l.admit(&lim, t(0)).unwrap_err().kind,
            "max_parallel_requests"
        );
        l.release(&lim, 0, t(0));
        l.admit(&lim, t(0)).unwrap();
    }

    #[test]
    fn a_refused_request_is_not_counted() {
        let l = Limiter::default();
        let lims = vec![
            Limit {
                descriptor: "api_key",
                value: "k".into(),
                rpm: Some(10),
                tpm: None,
                parallel: None,
            },
            Limit {
                descriptor: "team",
                value: "t".into(),
                rpm: Some(1),
                tpm: None,
                parallel: None,
            },
        ];
        l.admit(&lims, t(0)).unwrap();
        for _ in 0..5 {
            assert_eq!(l.admit(&lims, t(1)).unwrap_err().descriptor, "team");
        }
        let h = l.admit(&lims[..1], t(2)).unwrap();
        assert!(h.contains(&("x-ratelimit-api_key-remaining-requests".into(), "8".into())));
    }
}
