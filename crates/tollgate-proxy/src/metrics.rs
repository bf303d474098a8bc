//! Prometheus `GET /metrics` under LiteLLM's metric names and labels (on when `prometheus` is
//! one of `litellm_settings.callbacks`, `success_callback` or `failure_callback`).
//!
//! Per-request metrics are recorded once, when a call settles ([`CallMetrics::record`], reached
//! from `Admission` for every model route: answered, failed, streamed, refused or cancelled).
//! Label values are `Arc<str>`, made once per request and shared by every family, so a request
//! costs a handful of small allocations and one hashed lookup per family. Everything else
//! (deployment health and counters, fallbacks, Redis, the spend queue, budgets) is read from
//! its owner at scrape time.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tollgate_config::Config;
use tollgate_router::{CallInfo, Router};

use crate::accounting::{Accounting, CallSpec, Outcome, PASS_THROUGH_CALL_TYPE};
use crate::auth::Identity;

/// A label value.
type Lv = Arc<str>;

/// Distinct `requested_model` values kept as their own label; later ones are counted as
/// [`OTHER_MODEL`]. The value is whatever a client sends (wildcard deployments accept any),
/// and every distinct value is a new series in every family that carries it.
const MAX_REQUESTED_MODELS: usize = 1000;
/// The `requested_model` of calls beyond [`MAX_REQUESTED_MODELS`].
const OTHER_MODEL: &str = "__other__";

/// A label whose values come from clients: interned, and bounded in number.
#[derive(Debug)]
struct BoundedLabel {
    seen: std::sync::RwLock<std::collections::HashSet<Lv>>,
    cap: usize,
    other: Lv,
}

impl BoundedLabel {
    fn new(cap: usize) -> Self {
        Self {
            seen: Default::default(),
            cap,
            other: Lv::from(OTHER_MODEL),
        }
    }

    /// `value`'s label: itself while fewer than `cap` values are known, else [`OTHER_MODEL`].
    fn get(&self, value: &str) -> Lv {
        if let Ok(seen) = self.seen.read()
            && let Some(v) = seen.get(value)
        {
            return v.clone();
        }
        let Ok(mut seen) = self.seen.write() else {
            return self.other.clone();
        };
        if let Some(v) = seen.get(value) {
            return v.clone();
        }
        if seen.len() >= self.cap {
            return self.other.clone();
        }
        let v = Lv::from(value);
        seen.insert(v.clone());
        v
    }
}

/// LiteLLM's `LATENCY_BUCKETS` (seconds); `+Inf` is added by the histogram.
pub const LATENCY_BUCKETS: [f64; 35] = [
    0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0, 180.0,
    240.0, 300.0,
];

/// Status recorded for a call the client abandoned (nginx's "client closed request").
const CANCELLED_STATUS: u16 = 499;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    requested_model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    status_code: u16,
    user_email: Lv,
    route: &'static str,
    model_id: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailedLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    requested_model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    user_email: Lv,
    exception_status: u16,
    exception_class: &'static str,
    route: &'static str,
    model_id: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TotalLatencyLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    requested_model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    model: Lv,
    model_id: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLatencyLabels {
    model: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    team: Lv,
    team_alias: Lv,
    requested_model: Lv,
    end_user: Lv,
    user: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TtftLabels {
    model: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    team: Lv,
    team_alias: Lv,
    requested_model: Lv,
    end_user: Lv,
    user: Lv,
    model_id: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpendLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    requested_model: Lv,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LegacyRequestLabels {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    model: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    user_email: Lv,
}

/// Builds LiteLLM's latency histogram for a new label set.
#[derive(Debug, Clone, Copy)]
struct LatencyHistogram;

impl MetricConstructor<Histogram> for LatencyHistogram {
    fn new_metric(&self) -> Histogram {
        Histogram::new(LATENCY_BUCKETS)
    }
}

type Histograms<L> = Family<L, Histogram, LatencyHistogram>;

/// The proxy's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    total_requests: Family<RequestLabels, Counter>,
    failed_requests: Family<FailedLabels, Counter>,
    requests: Family<LegacyRequestLabels, Counter>,
    total_latency: Histograms<TotalLatencyLabels>,
    api_latency: Histograms<ApiLatencyLabels>,
    ttft: Histograms<TtftLabels>,
    spend: Family<SpendLabels, Counter<f64, AtomicU64>>,
    input_tokens: Family<TokenLabels, Counter>,
    output_tokens: Family<TokenLabels, Counter>,
    total_tokens: Family<TokenLabels, Counter>,
    in_flight: Gauge,
    /// Deployment id -> (`model_id`, `model`) label values, made once.
    deployments: HashMap<String, (Lv, Lv)>,
    /// SHA-256 of the master key: LiteLLM's `hashed_api_key` of master-key calls.
    master_hash: Lv,
    /// `enable_end_user_cost_tracking_prometheus_only`: without it `end_user` stays empty.
    end_user_labels: bool,
    /// `require_auth_for_metrics_endpoint`.
    pub require_auth: bool,
    empty: Lv,
    /// The `requested_model` values seen (bounded: clients choose them).
    requested_models: BoundedLabel,
}

/// `true` for a YAML boolean `true` or the strings `true`/`True`.
fn setting_on(config: &Config, name: &str) -> bool {
    match config.litellm_settings.extra.get(name) {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl Metrics {
    /// The metrics when the config turns them on (`prometheus` among the callbacks), else
    /// `None`: no `/metrics` route and no per-request cost.
    pub fn from_config(config: &Config, router: &Router) -> Option<Arc<Self>> {
        let ls = &config.litellm_settings;
        let on = ls
            .callbacks
            .iter()
            .chain(&ls.success_callback)
            .chain(&ls.failure_callback)
            .any(|c| c == "prometheus");
        on.then(|| Arc::new(Self::new(config, router)))
    }

    /// Metrics for `config`, on regardless of its callbacks.
    pub fn new(config: &Config, router: &Router) -> Self {
        let mut registry = Registry::default();
        let total_requests = Family::default();
        registry.register(
            "litellm_proxy_total_requests_metric",
            "Total number of requests made to the proxy server",
            total_requests.clone(),
        );
        let failed_requests = Family::default();
        registry.register(
            "litellm_proxy_failed_requests_metric",
            "Total number of failed responses from proxy",
            failed_requests.clone(),
        );
        let requests = Family::default();
        registry.register(
            "litellm_requests_metric",
            "Total number of LLM calls to litellm",
            requests.clone(),
        );
        let total_latency: Histograms<TotalLatencyLabels> =
            Family::new_with_constructor(LatencyHistogram);
        registry.register(
            "litellm_request_total_latency_metric",
            "Total latency (seconds) for a request to LiteLLM",
            total_latency.clone(),
        );
        let api_latency: Histograms<ApiLatencyLabels> =
            Family::new_with_constructor(LatencyHistogram);
        registry.register(
            "litellm_llm_api_latency_metric",
            "Total latency (seconds) for a models LLM API call",
            api_latency.clone(),
        );
        let ttft: Histograms<TtftLabels> = Family::new_with_constructor(LatencyHistogram);
        registry.register(
            "litellm_llm_api_time_to_first_token_metric",
            "Time to first token for a models LLM API call",
            ttft.clone(),
        );
        let spend = Family::default();
        registry.register(
            "litellm_spend_metric",
            "Total spend on LLM requests",
            spend.clone(),
        );
        let input_tokens = Family::default();
        registry.register(
            "litellm_input_tokens_metric",
            "Total number of input tokens from LLM requests",
            input_tokens.clone(),
        );
        let output_tokens = Family::default();
        registry.register(
            "litellm_output_tokens_metric",
            "Total number of output tokens from LLM requests",
            output_tokens.clone(),
        );
        let total_tokens = Family::default();
        registry.register(
            "litellm_total_tokens_metric",
            "Total number of input + output tokens from LLM requests",
            total_tokens.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "litellm_in_flight_requests",
            "Model calls being served right now",
            in_flight.clone(),
        );
        let deployments = router
            .deployments()
            .iter()
            .map(|d| {
                (
                    d.id.clone(),
                    (Lv::from(d.id.as_str()), Lv::from(d.litellm_model.as_str())),
                )
            })
            .collect();
        let master_hash = config
            .general_settings
            .master_key
            .as_deref()
            .filter(|k| !k.is_empty())
            .map(tollgate_store::hash_key)
            .unwrap_or_default();
        Self {
            registry,
            total_requests,
            failed_requests,
            requests,
            total_latency,
            api_latency,
            ttft,
            spend,
            input_tokens,
            output_tokens,
            total_tokens,
            in_flight,
            deployments,
            master_hash: Lv::from(master_hash),
            end_user_labels: setting_on(config, "enable_end_user_cost_tracking_prometheus_only"),
            require_auth: setting_on(config, "require_auth_for_metrics_endpoint"),
            empty: Lv::from(""),
            requested_models: BoundedLabel::new(MAX_REQUESTED_MODELS),
        }
    }

    fn lv(&self, v: Option<&str>) -> Lv {
        match v {
            Some(s) if !s.is_empty() => Lv::from(s),
            _ => self.empty.clone(),
        }
    }

    /// Who makes a call, as labels.
    pub(crate) fn caller(
        &self,
        identity: &Identity,
        acc: Option<&Accounting>,
        spec: &CallSpec,
    ) -> Caller {
        let (hashed_api_key, key) = match identity {
            Identity::Key(k) => (self.lv(Some(&k.token)), Some(k)),
            Identity::MasterKey => (self.master_hash.clone(), None),
            Identity::Anonymous => (self.empty.clone(), None),
        };
        let team_id = key.and_then(|k| k.team_id.as_deref());
        let user_id = key.and_then(|k| k.user_id.as_deref());
        let team = team_id.and_then(|t| acc.and_then(|a| a.team(t)));
        let user = user_id.and_then(|u| acc.and_then(|a| a.user(u)));
        Caller {
            end_user: if self.end_user_labels {
                self.lv(spec.end_user.as_deref())
            } else {
                self.empty.clone()
            },
            hashed_api_key,
            api_key_alias: self.lv(key.and_then(|k| k.key_alias.as_deref())),
            team: self.lv(team_id),
            team_alias: self.lv(team.as_ref().and_then(|t| t.team_alias.as_deref())),
            user: self.lv(user_id),
            user_email: self.lv(user.as_ref().and_then(|u| u.user_email.as_deref())),
            requested_model: if spec.model.is_empty() {
                self.empty.clone()
            } else {
                self.requested_models.get(&spec.model)
            },
            route: route_of(spec.call_type),
        }
    }

    /// The text exposition: the per-request families, then what the router, accounting and
    /// spend writer report right now.
    pub fn render(&self, router: &Router, acc: Option<&Accounting>) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_text::encode(&mut out, &scrape_registry(router, acc));
        out
    }

    /// Content type of [`Metrics::render`].
    pub const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;
}

/// LiteLLM's route for a call type.
fn route_of(call_type: &str) -> &'static str {
    match call_type {
        "acompletion" => "/chat/completions",
        "aembedding" => "/embeddings",
        "anthropic_messages" => "/v1/messages",
        "aresponses" => "/v1/responses",
        "atext_completion" => "/completions",
        "aimage_generation" => "/images/generations",
        "atranscription" => "/audio/transcriptions",
        "aspeech" => "/audio/speech",
        "amoderation" => "/moderations",
        "arerank" => "/rerank",
        PASS_THROUGH_CALL_TYPE => "pass_through",
        _ => "",
    }
}

/// A call's caller labels (see [`Metrics::caller`]).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    end_user: Lv,
    hashed_api_key: Lv,
    api_key_alias: Lv,
    team: Lv,
    team_alias: Lv,
    user: Lv,
    user_email: Lv,
    requested_model: Lv,
    route: &'static str,
}

/// One call being measured: counted in flight until [`CallMetrics::record`].
#[derive(Debug)]
pub(crate) struct CallMetrics {
    metrics: Arc<Metrics>,
    caller: Caller,
    started: Instant,
    /// Answered as a stream: the upstream time in its `CallInfo` is the time to first token.
    pub(crate) stream: bool,
    recorded: bool,
}

impl CallMetrics {
    /// Starts measuring a call.
    pub(crate) fn start(metrics: Arc<Metrics>, caller: Caller) -> Self {
        metrics.in_flight.inc();
        Self {
            metrics,
            caller,
            started: Instant::now(),
            stream: false,
            recorded: false,
        }
    }

    /// Records how the call ended; only the first call counts.
    pub(crate) fn record(&mut self, o: &Outcome<'_>, cost: f64) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let m = &*self.metrics;
        m.in_flight.dec();
        let (model_id, model) = o
            .info
            .and_then(|i| m.deployments.get(&i.deployment_id))
            .cloned()
            .unwrap_or_else(|| (m.empty.clone(), m.empty.clone()));
        record_outcome(
            m,
            &self.caller,
            o.error.map(|e| (e.status(), e.class().name())),
            o.cancelled,
            &model_id,
        );
        let c = &self.caller;
        m.requests
            .get_or_create(&LegacyRequestLabels {
                end_user: c.end_user.clone(),
                hashed_api_key: c.hashed_api_key.clone(),
                api_key_alias: c.api_key_alias.clone(),
                model: model.clone(),
                team: c.team.clone(),
                team_alias: c.team_alias.clone(),
                user: c.user.clone(),
                user_email: c.user_email.clone(),
            })
            .inc();
        if o.error.is_some() || o.cancelled {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        m.total_latency
            .get_or_create(&TotalLatencyLabels {
                end_user: c.end_user.clone(),
                hashed_api_key: c.hashed_api_key.clone(),
                api_key_alias: c.api_key_alias.clone(),
                requested_model: c.requested_model.clone(),
                team: c.team.clone(),
                team_alias: c.team_alias.clone(),
                user: c.user.clone(),
                model: model.clone(),
                model_id: model_id.clone(),
            })
            .observe(elapsed);
        // Operation and pass-through calls settle without a measured upstream time.
        if let Some(info) = o.info.filter(|i| !i.upstream.is_zero()) {
            self.record_api_latency(info, &model, &model_id, elapsed);
        }
        if let Some(u) = o.usage {
            let labels = TokenLabels {
                end_user: c.end_user.clone(),
                hashed_api_key: c.hashed_api_key.clone(),
                api_key_alias: c.api_key_alias.clone(),
                model: model.clone(),
                team: c.team.clone(),
                team_alias: c.team_alias.clone(),
                user: c.user.clone(),
                requested_model: c.requested_model.clone(),
            };
            m.input_tokens
                .get_or_create(&labels)
                .inc_by(u.prompt_tokens);
            m.output_tokens
                .get_or_create(&labels)
                .inc_by(u.completion_tokens);
            m.total_tokens.get_or_create(&labels).inc_by(u.total_tokens);
        }
        if cost > 0.0 {
            m.spend
                .get_or_create(&SpendLabels {
                    end_user: c.end_user.clone(),
                    hashed_api_key: c.hashed_api_key.clone(),
                    api_key_alias: c.api_key_alias.clone(),
                    model,
                    team: c.team.clone(),
                    team_alias: c.team_alias.clone(),
                    user: c.user.clone(),
                })
                .inc_by(cost);
        }
    }

    fn record_api_latency(&self, info: &CallInfo, model: &Lv, model_id: &Lv, elapsed: f64) {
        let m = &*self.metrics;
        let c = &self.caller;
        let upstream = info.upstream.as_secs_f64();
        // A stream's upstream time ends at its first event; its whole API time is (within the
        // gateway's own microseconds) the call's.
        let api = if self.stream { elapsed } else { upstream };
        m.api_latency
            .get_or_create(&ApiLatencyLabels {
                model: model.clone(),
                hashed_api_key: c.hashed_api_key.clone(),
                api_key_alias: c.api_key_alias.clone(),
                team: c.team.clone(),
                team_alias: c.team_alias.clone(),
                requested_model: c.requested_model.clone(),
                end_user: c.end_user.clone(),
                user: c.user.clone(),
            })
            .observe(api);
        if self.stream {
            m.ttft
                .get_or_create(&TtftLabels {
                    model: model.clone(),
                    hashed_api_key: c.hashed_api_key.clone(),
                    api_key_alias: c.api_key_alias.clone(),
                    team: c.team.clone(),
                    team_alias: c.team_alias.clone(),
                    requested_model: c.requested_model.clone(),
                    end_user: c.end_user.clone(),
                    user: c.user.clone(),
                    model_id: model_id.clone(),
                })
                .observe(upstream);
        }
    }
}

impl Drop for CallMetrics {
    fn drop(&mut self) {
        // Never left counted in flight, even if no outcome was recorded.
        if !self.recorded {
            self.metrics.in_flight.dec();
        }
    }
}

/// Counts a call in `litellm_proxy_total_requests_metric` and, when it failed, in
/// `litellm_proxy_failed_requests_metric`.
fn record_outcome(
    m: &Metrics,
    c: &Caller,
    error: Option<(u16, &'static str)>,
    cancelled: bool,
    model_id: &Lv,
) {
    let failure = match error {
        Some(e) => Some(e),
        None if cancelled => Some((CANCELLED_STATUS, "ClientDisconnected")),
        None => None,
    };
    m.total_requests
        .get_or_create(&RequestLabels {
            end_user: c.end_user.clone(),
            hashed_api_key: c.hashed_api_key.clone(),
            api_key_alias: c.api_key_alias.clone(),
            requested_model: c.requested_model.clone(),
            team: c.team.clone(),
            team_alias: c.team_alias.clone(),
            user: c.user.clone(),
            status_code: failure.map_or(200, |(s, _)| s),
            user_email: c.user_email.clone(),
            route: c.route,
            model_id: model_id.clone(),
        })
        .inc();
    if let Some((status, class)) = failure {
        m.failed_requests
            .get_or_create(&FailedLabels {
                end_user: c.end_user.clone(),
                hashed_api_key: c.hashed_api_key.clone(),
                api_key_alias: c.api_key_alias.clone(),
                requested_model: c.requested_model.clone(),
                team: c.team.clone(),
                team_alias: c.team_alias.clone(),
                user: c.user.clone(),
                user_email: c.user_email.clone(),
                exception_status: status,
                exception_class: class,
                route: c.route,
                model_id: model_id.clone(),
            })
            .inc();
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentLabels {
    litellm_model_name: String,
    model_id: String,
    api_base: String,
    api_provider: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentCallLabels {
    requested_model: String,
    litellm_model_name: String,
    model_id: String,
    api_base: String,
    api_provider: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeploymentFailureLabels {
    requested_model: String,
    litellm_model_name: String,
    model_id: String,
    api_base: String,
    api_provider: &'static str,
    exception_status: u16,
    exception_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CooldownLabels {
    litellm_model_name: String,
    model_id: String,
    api_base: String,
    api_provider: &'static str,
    exception_status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    requested_model: String,
    fallback_model: String,
    exception_status: u16,
    exception_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedisLabels {
    redis: &'static str,
    /// `router` (shared cooldowns and rpm/tpm) or `rate_limiter` (key/team/user limits).
    component: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyBudgetLabels {
    hashed_api_key: String,
    api_key_alias: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamBudgetLabels {
    team: String,
    team_alias: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metrics read at scrape time from the router, accounting and the spend writer.
fn scrape_registry(router: &Router, acc: Option<&Accounting>) -> Registry {
    let mut r = Registry::default();
    let state = Family::<DeploymentLabels, Gauge>::default();
    let success = Family::<DeploymentCallLabels, Counter>::default();
    let total = Family::<DeploymentCallLabels, Counter>::default();
    let failure = Family::<DeploymentFailureLabels, Counter>::default();
    let cooled = Family::<CooldownLabels, Counter>::default();
    for d in router.deployment_stats() {
        let dl = DeploymentLabels {
            litellm_model_name: d.litellm_model_name.to_owned(),
            model_id: d.model_id.to_owned(),
            api_base: d.api_base.to_owned(),
            api_provider: d.api_provider,
        };
        state.get_or_create(&dl).set(d.health as i64);
        let call = DeploymentCallLabels {
            requested_model: d.model_group.to_owned(),
            litellm_model_name: dl.litellm_model_name.clone(),
            model_id: dl.model_id.clone(),
            api_base: dl.api_base.clone(),
            api_provider: dl.api_provider,
        };
        let failures: u64 = d.failures.iter().map(|(_, n)| n).sum();
        success.get_or_create(&call).inc_by(d.successes);
        total.get_or_create(&call).inc_by(d.successes + failures);
        for ((status, class), n) in &d.failures {
            failure
                .get_or_create(&DeploymentFailureLabels {
                    requested_model: call.requested_model.clone(),
                    litellm_model_name: call.litellm_model_name.clone(),
                    model_id: call.model_id.clone(),
                    api_base: call.api_base.clone(),
                    api_provider: call.api_provider,
                    exception_status: *status,
                    exception_class: class,
                })
                .inc_by(*n);
        }
        for (status, n) in &d.cooldowns {
            cooled
                .get_or_create(&CooldownLabels {
                    litellm_model_name: dl.litellm_model_name.clone(),
                    model_id: dl.model_id.clone(),
                    api_base: dl.api_base.clone(),
                    api_provider: dl.api_provider,
                    exception_status: *status,
                })
                .inc_by(*n);
        }
    }
    r.register(
        "litellm_deployment_state",
        "LLM deployment state: 0 healthy, 1 partial outage, 2 complete outage (cooling down)",
        state,
    );
    r.register(
        "litellm_deployment_success_responses",
        "LLM deployment calls that answered",
        success,
    );
    r.register(
        "litellm_deployment_failure_responses",
        "LLM deployment calls that failed",
        failure,
    );
    r.register(
        "litellm_deployment_total_requests",
        "LLM deployment calls made",
        total,
    );
    r.register(
        "litellm_deployment_cooled_down",
        "Times a deployment was cooled down",
        cooled,
    );
    let ok = Family::<FallbackLabels, Counter>::default();
    let failed = Family::<FallbackLabels, Counter>::default();
    for (k, n) in router.fallback_stats() {
        let labels = FallbackLabels {
            requested_model: k.requested_model,
            fallback_model: k.fallback_model,
            exception_status: k.exception_status,
            exception_class: k.exception_class,
        };
        if n.successful > 0 {
            ok.get_or_create(&labels).inc_by(n.successful);
        }
        if n.failed > 0 {
            failed.get_or_create(&labels).inc_by(n.failed);
        }
    }
    r.register(
        "litellm_deployment_successful_fallbacks",
        "Fallbacks that answered",
        ok,
    );
    r.register(
        "litellm_deployment_failed_fallbacks",
        "Fallbacks that failed too",
        failed,
    );
    let redis_up = Family::<RedisLabels, Gauge>::default();
    let redis_total = Family::<RedisLabels, Counter>::default();
    let redis_failed = Family::<RedisLabels, Counter>::default();
    let sources = [
        ("router", router.redis_stats()),
        ("rate_limiter", acc.and_then(Accounting::redis_stats)),
    ];
    for (component, stats) in sources {
        let Some(s) = stats else { continue };
        let labels = RedisLabels {
            redis: "redis",
            component,
        };
        redis_up.get_or_create(&labels).set(i64::from(s.up));
        redis_total.get_or_create(&labels).inc_by(s.requests);
        redis_failed.get_or_create(&labels).inc_by(s.failures);
    }
    r.register(
        "tollgate_redis_up",
        "1 while Redis answers; 0 while this instance serves on local state (limits per instance)",
        redis_up,
    );
    r.register(
        "litellm_redis_total_requests",
        "Redis exchanges wanted (including those skipped while it is down)",
        redis_total,
    );
    r.register(
        "litellm_redis_failed_requests",
        "Redis exchanges that failed or timed out",
        redis_failed,
    );
    if let Some(acc) = acc {
        let queue = acc.queue();
        let backlog = Gauge::<i64>::default();
        backlog.set(i64::try_from(queue.backlog()).unwrap_or(i64::MAX));
        r.register(
            "litellm_in_memory_spend_update_queue_size",
            "Spend-log rows not yet written to the database (kept on disk while it is down)",
            backlog,
        );
        let db_up = Gauge::<i64>::default();
        db_up.set(i64::from(queue.database_up()));
        r.register(
            "tollgate_database_up",
            "1 while spend rows reach the database; 0 while they wait in the journal",
            db_up,
        );
        let alerts = Counter::<u64>::default();
        alerts.inc_by(acc.soft_budget_alerts());
        r.register(
            "tollgate_soft_budget_alerts",
            "Times a key, user, team or end user crossed its soft_budget",
            alerts,
        );
        let dropped = Counter::<u64>::default();
        dropped.inc_by(acc.budget_alerts_dropped());
        r.register(
            "tollgate_budget_alerts_dropped",
            "Budget alerts (Slack/webhook) dropped because their send queue was full",
            dropped,
        );
        budget_gauges(&mut r, acc);
    }
    r
}

/// Remaining and maximum budgets of the keys and teams that have one.
fn budget_gauges(r: &mut Registry, acc: &Accounting) {
    let keys = acc.keys();
    register_budgets(
        r,
        (
            "litellm_remaining_api_key_budget_metric",
            "Remaining budget for api key",
        ),
        (
            "litellm_api_key_max_budget_metric",
            "Maximum budget set for api key",
        ),
        keys.iter().filter_map(|k| {
            let budget = k.max_budget?;
            let spent = acc
                .live_spend(&format!("key:{}", k.token))
                .unwrap_or(k.spend);
            let labels = KeyBudgetLabels {
                hashed_api_key: k.token.clone(),
                api_key_alias: k.key_alias.clone().unwrap_or_default(),
            };
            Some((labels, budget, spent))
        }),
    );
    let teams = acc.teams();
    register_budgets(
        r,
        (
            "litellm_remaining_team_budget_metric",
            "Remaining budget for team",
        ),
        (
            "litellm_team_max_budget_metric",
            "Maximum budget set for team",
        ),
        teams.iter().filter_map(|t| {
            let budget = t.max_budget?;
            let spent = acc
                .live_spend(&format!("team:{}", t.team_id))
                .unwrap_or(t.spend);
            let labels = TeamBudgetLabels {
                team: t.team_id.clone(),
                team_alias: t.team_alias.clone().unwrap_or_default(),
            };
            Some((labels, budget, spent))
        }),
    );
}

/// Registers a remaining-budget and a max-budget gauge family from (labels, budget, spent).
fn register_budgets<L>(
    r: &mut Registry,
    remaining_name: (&str, &str),
    max_name: (&str, &str),
    budgets: impl Iterator<Item = (L, f64, f64)>,
) where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let remaining = Family::<L, FloatGauge>::default();
    let max = Family::<L, FloatGauge>::default();
    for (labels, budget, spent) in budgets {
        remaining.get_or_create(&labels).set(budget - spent);
        max.get_or_create(&labels).set(budget);
    }
    r.register(remaining_name.0, remaining_name.1, remaining);
    r.register(max_name.0, max_name.1, max);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_type_has_a_route() {
        for t in [
            "acompletion",
            "aembedding",
            "anthropic_messages",
            "aresponses",
            "atext_completion",
            "aimage_generation",
            "atranscription",
            "aspeech",
            "amoderation",
            "arerank",
            PASS_THROUGH_CALL_TYPE,
        ] {
            assert!(!route_of(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn client_chosen_model_labels_are_bounded() {
        let label = BoundedLabel::new(3);
        for m in ["a", "b", "c"] {
            assert_eq!(&*label.get(m), m);
        }
        assert_eq!(
            &*label.get("d"),
            OTHER_MODEL,
            "a fourth value is not a new series"
        );
        assert_eq!(&*label.get("a"), "a", "known values keep their label");
        assert!(
            Arc::ptr_eq(&label.get("b"), &label.get("b")),
            "values are interned"
        );
    }

    #[test]
    fn buckets_are_litellms() {
        assert_eq!(LATENCY_BUCKETS.len(), 35);
        assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(LATENCY_BUCKETS[8], 1.5);
        assert_eq!(LATENCY_BUCKETS[34], 300.0);
    }
}
