//! `router_settings` (and their `litellm_settings` fallbacks) read once into the values the
//! routing loop consults: retries, retry policies, fallbacks, cooldown rules, strategy.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};
use tollgate_config::{Config, Fallbacks};
use tollgate_core::ErrorClass;

/// LiteLLM's router default when neither `router_settings` nor `litellm_settings` set it.
pub(crate) const DEFAULT_NUM_RETRIES: u32 = 2;
/// LiteLLM's `ROUTER_MAX_FALLBACKS`.
pub(crate) const DEFAULT_MAX_FALLBACKS: u32 = 5;
/// LiteLLM's default `allowed_fails` (a config equal to it keeps the default cooldown logic).
pub(crate) const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// LiteLLM's default `cooldown_time`.
pub(crate) const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5);

/// The load-balancing strategy of a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Random, weighted by `weight`, else `rpm`, else `tpm`.
    SimpleShuffle,
    /// Fewest in-flight requests.
    LeastBusy,
    /// Lowest tokens used this minute, within each deployment's rpm/tpm.
    UsageBased,
    /// Lowest average latency (time to first token for streams).
    LatencyBased,
    /// Lowest price per token.
    CostBased,
}

impl Strategy {
    /// Reads LiteLLM's strategy names; unknown names fall back to `simple-shuffle`.
    pub fn parse(name: Option<&str>) -> Self {
        match name.unwrap_or("simple-shuffle") {
            "least-busy" => Self::LeastBusy,
            "usage-based-routing" | "usage-based-routing-v2" => Self::UsageBased,
            "latency-based-routing" => Self::LatencyBased,
            "cost-based-routing" => Self::CostBased,
            _ => Self::SimpleShuffle,
        }
    }
}

/// Per-error-class counts (`retry_policy`, `allowed_fails_policy`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClassCounts {
    by_class: HashMap<&'static str, u32>,
}

impl ClassCounts {
    /// Reads `{"RateLimitErrorRetries": 3, ...}` with the key suffix `suffix`.
    fn parse(v: Option<&Value>, suffix: &str) -> Option<Self> {
        let obj = v?.as_object()?;
        let mut by_class = HashMap::new();
        for (k, v) in obj {
            let Some(class) = k.strip_suffix(suffix) else {
                continue;
            };
            let Some(n) = v.as_u64().and_then(|n| u32::try_from(n).ok()) else {
                continue;
            };
            if let Some(name) = policy_class_name(class) {
                by_class.insert(name, n);
            }
        }
        Some(Self { by_class })
    }

    /// The count for an error class; content-policy errors are checked before bad requests.
    pub(crate) fn get(&self, class: ErrorClass) -> Option<u32> {
        let key = match class {
            ErrorClass::ContentPolicyViolation => "ContentPolicyViolationError",
            ErrorClass::BadRequest
            | ErrorClass::UnsupportedParams
            | ErrorClass::ContextWindowExceeded
            | ErrorClass::PayloadTooLarge
            | ErrorClass::UnprocessableEntity => "BadRequestError",
            ErrorClass::Authentication | ErrorClass::PermissionDenied => "AuthenticationError",
            ErrorClass::Timeout => "TimeoutError",
            ErrorClass::RateLimit => "RateLimitError",
            ErrorClass::NotFound => "NotFoundError",
            ErrorClass::ApiConnection | ErrorClass::InternalServer => "InternalServerError",
            ErrorClass::BadGateway => "BadGatewayError",
            ErrorClass::ServiceUnavailable => "ServiceUnavailableError",
        };
        self.by_class
            .get(key)
            .or_else(|| match class {
                ErrorClass::ContentPolicyViolation => self.by_class.get("BadRequestError"),
                ErrorClass::BadGateway | ErrorClass::ServiceUnavailable => {
                    self.by_class.get("InternalServerError")
                }
                _ => None,
            })
            .or_else(|| self.by_class.get("Default"))
            .copied()
    }
}

fn policy_class_name(prefix: &str) -> Option<&'static str> {
    Some(match prefix {
        "BadRequestError" => "BadRequestError",
        "AuthenticationError" => "AuthenticationError",
        "TimeoutError" => "TimeoutError",
        "RateLimitError" => "RateLimitError",
        "ContentPolicyViolationError" => "ContentPolicyViolationError",
        "InternalServerError" => "InternalServerError",
        "ServiceUnavailableError" => "ServiceUnavailableError",
        "BadGatewayError" => "BadGatewayError",
        "NotFoundError" => "NotFoundError",
        "Default" => "Default",
        _ => return None,
    })
}

/// The routing policy of one router.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub strategy: Strategy,
    pub num_retries: u32,
    pub max_fallbacks: u32,
    pub retry_after: Duration,
    pub retry_policy: Option<ClassCounts>,
    pub group_retry_policy: HashMap<String, ClassCounts>,
    pub fallbacks: HashMap<String, Vec<String>>,
    pub context_window_fallbacks: HashMap<String, Vec<String>>,
    pub content_policy_fallbacks: HashMap<String, Vec<String>>,
    pub allowed_fails: u32,
    pub allowed_fails_policy: Option<ClassCounts>,
    pub cooldown_time: Duration,
    pub disable_cooldowns: bool,
    pub pre_call_checks: bool,
    pub default_max_parallel: Option<u32>,
    /// `routing_strategy_args.lowest_latency_buffer`.
    pub latency_buffer: f64,
    /// `routing_strategy_args.max_latency_list_size`.
    pub latency_window: usize,
    /// Retries may add at most this share of first attempts (plus [`RETRY_BUDGET_FLOOR`]).
    pub retry_budget_ratio: f64,
}

/// Retries always allowed per budget window, so a quiet router can still retry.
pub(crate) const RETRY_BUDGET_FLOOR: u64 = 10;

fn fallback_map(list: &Fallbacks) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for entry in list {
        for (group, targets) in entry {
            out.insert(group.clone(), targets.clone());
        }
    }
    out
}

fn number(extra: &Map<String, Value>, key: &str) -> Option<f64> {
    match extra.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn seconds(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

impl Policy {
    /// Reads the policy; `router_settings` wins over the same key in `litellm_settings`.
    pub(crate) fn from_config(config: &Config) -> Self {
        let rs = &config.router_settings;
        let ls = &config.litellm_settings;
        let pick = |a: &Fallbacks, b: &Fallbacks| {
            if a.is_empty() {
                fallback_map(b)
            } else {
                fallback_map(a)
            }
        };
        let mut fallbacks = pick(&rs.fallbacks, &ls.fallbacks);
        if let Some(default) = rs
            .default_fallbacks
            .as_ref()
            .or(ls.default_fallbacks.as_ref())
        {
            fallbacks
                .entry("*".to_owned())
                .or_insert_with(|| default.clone());
        }
        let args = rs
            .extra
            .get("routing_strategy_args")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let group_retry_policy = rs
            .extra
            .get("model_group_retry_policy")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(g, v)| Some((g.clone(), ClassCounts::parse(Some(v), "Retries")?)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            strategy: Strategy::parse(rs.routing_strategy.as_deref()),
            num_retries: rs
                .num_retries
                .or(ls.num_retries)
                .unwrap_or(DEFAULT_NUM_RETRIES),
            max_fallbacks: number(&rs.extra, "max_fallbacks")
                .filter(|n| *n >= 0.0)
                .map_or(DEFAULT_MAX_FALLBACKS, |n| n as u32),
            retry_after: seconds(rs.retry_after).unwrap_or(Duration::ZERO),
            retry_policy: ClassCounts::parse(rs.extra.get("retry_policy"), "Retries"),
            group_retry_policy,
            fallbacks,
            context_window_fallbacks: pick(
                &rs.context_window_fallbacks,
                &ls.context_window_fallbacks,
            ),
            content_policy_fallbacks: pick(
                &rs.content_policy_fallbacks,
                &ls.content_policy_fallbacks,
            ),
            allowed_fails: rs
                .allowed_fails
                .or(ls.allowed_fails)
                .unwrap_or(DEFAULT_ALLOWED_FAILS),
            allowed_fails_policy: ClassCounts::parse(
                rs.extra.get("allowed_fails_policy"),
                "AllowedFails",
            ),
            cooldown_time: seconds(rs.cooldown_time.or(ls.cooldown_time))
                .unwrap_or(DEFAULT_COOLDOWN),
            disable_cooldowns: rs
                .extra
                .get("disable_cooldowns")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            pre_call_checks: rs.enable_pre_call_checks,
            default_max_parallel: number(&rs.extra, "default_max_parallel_requests")
                .filter(|n| *n >= 1.0)
                .map(|n| n as u32),
            latency_buffer: number(&args, "lowest_latency_buffer")
                .filter(|b| b.is_finite() && *b >= 0.0)
                .unwrap_or(0.0),
            latency_window: number(&args, "max_latency_list_size")
                .filter(|n| *n >= 1.0)
                .map_or(10, |n| n as usize),
            retry_budget_ratio: number(&rs.extra, "retry_budget_ratio")
                .filter(|r| r.is_finite() && *r >= 0.0)
                .unwrap_or(0.5),
        }
    }

    /// Whether the counter logic (rather than LiteLLM's default failure-rate logic) decides
    /// cooldowns.
    pub(crate) fn counts_fails(&self) -> bool {
        self.allowed_fails_policy.is_some() || self.allowed_fails != DEFAULT_ALLOWED_FAILS
    }

    /// Generic fallbacks for a group: exact key, then provider-stripped key, then `"*"`.
    pub(crate) fn generic_fallbacks(&self, group: &str) -> Option<&Vec<String>> {
        self.fallbacks
            .get(group)
            .or_else(|| {
                group
                    .split_once('/')
                    .and_then(|(_, rest)| self.fallbacks.get(rest))
            })
            .or_else(|| self.fallbacks.get("*"))
    }

    /// Whether a group has any fallback configured (the outage rule keys on it).
    pub(crate) fn has_fallbacks(&self, group: &str) -> bool {
        self.generic_fallbacks(group).is_some_and(|f| !f.is_empty())
            || self.context_window_fallbacks.contains_key(group)
            || self.content_policy_fallbacks.contains_key(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Policy {
        let config = Config::from_yaml_str(yaml, std::path::Path::new("t.yaml")).unwrap();
        Policy::from_config(&config)
    }

    #[test]
    fn defaults_match_litellm() {
        let p = policy("");
        assert_eq!(p.num_retries, 2);
        assert_eq!(p.max_fallbacks, 5);
        assert_eq!(p.cooldown_time, Duration::from_secs(5));
        assert_eq!(p.strategy, Strategy::SimpleShuffle);
        assert!(!p.counts_fails());
    }

    #[test]
    fn router_settings_are_read() {
        let p = policy(
            r#"
router_settings:
  routing_strategy: latency-based-routing
  routing_strategy_args: {lowest_latency_buffer: 0.5}
  num_retries: 4
  max_fallbacks: 1
  allowed_fails: 1
  cooldown_time: 30
  disable_cooldowns: true
  retry_policy: {RateLimitErrorRetries: 7, BadRequestErrorRetries: 0}
  model_group_retry_policy: {g: {TimeoutErrorRetries: 9}}
  fallbacks: [{a: [b, c]}]
  default_fallbacks: [d]
  context_window_fallbacks: [{a: [big]}]
"#,
        );
        assert_eq!(p.strategy, Strategy::LatencyBased);
        assert_eq!(p.latency_buffer, 0.5);
        assert_eq!(p.num_retries, 4);
        assert_eq!(p.max_fallbacks, 1);
        assert!(p.counts_fails());
        assert!(p.disable_cooldowns);
        assert_eq!(p.cooldown_time, Duration::from_secs(30));
        let rp = p.retry_policy.as_ref().unwrap();
        assert_eq!(rp.get(ErrorClass::RateLimit), Some(7));
        assert_eq!(rp.get(ErrorClass::ContentPolicyViolation), Some(0));
        assert_eq!(rp.get(ErrorClass::Timeout), None);
        assert_eq!(p.group_retry_policy["g"].get(ErrorClass::Timeout), Some(9));
        assert_eq!(p.generic_fallbacks("a").unwrap(), &["b", "c"]);
        assert_eq!(p.generic_fallbacks("openai/a").unwrap(), &["b", "c"]);
        assert_eq!(p.generic_fallbacks("zzz").unwrap(), &["d"]);
        assert_eq!(p.context_window_fallbacks["a"], ["big"]);
    }
}
