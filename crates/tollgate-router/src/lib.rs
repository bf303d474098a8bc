//! The engine shared by the library and the proxy: resolves a requested model name to a
//! deployment (LiteLLM's order: deployment id, alias, exact name, wildcard, provider model),
//! calls it through its adapter and the shared transport, and shapes the answer.
//!
//! Every call goes through [`Router::route`]: load balancing, retries, fallbacks, cooldowns
//! and timeouts in one loop (`route.rs`), whatever the call type.

mod deployment;
mod embeddings_fanout;
mod facts;
mod mock_response;
mod native;
mod operations;
mod passthrough;
mod policy;
mod pricing;
mod request_options;
mod resolve;
mod route;
mod shared;
mod state;
mod stats;
mod strategy;
mod stream;
pub mod tokens;
mod wildcard;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tollgate_config::Config;
use tollgate_core::{
    ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest, EmbeddingsResponse, Env,
    GatewayError, Usage,
};
use tollgate_providers::{
    Adapter, CallOptions, HttpClient, TransportOptions, UpstreamRequest, UpstreamResponse,
};

pub use deployment::Deployment;
pub use facts::{ConfigFacts, ModelFacts, PriceFacts};
pub use native::{MessagesCall, NativeMessages, NativeRewriter, NativeStream, UsageCell};
pub use operations::{OperationBodyOut, OperationOutput, OperationUsage};
pub use passthrough::{
    PassthroughProvider, PassthroughReply, UsageScanner, UsageSink, usage_from_json,
};
pub use policy::Strategy;
pub use pricing::config_price;
pub use request_options::{RequestOptions, seconds};
pub use route::{Attempts, Pick, Routed, RouterError};
pub use stats::{DeploymentHealth, DeploymentStats, FallbackCounts, FallbackKey, RedisStats};
pub use stream::{ChatStream, StreamEnd, error_frame};
pub use wildcard::WildcardPattern;

use stream::EventSource;

/// LiteLLM's `REQUEST_TIMEOUT` default, in seconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(6000);

/// Which deployment served a call, for response headers and logs.
#[derive(Debug, Clone)]
pub struct CallInfo {
    pub model_group: String,
    pub deployment_id: String,
    pub api_base: String,
    /// Provider display name (`OpenAI`, `Groq`, ...).
    pub provider: String,
    /// Time spent waiting on the provider (to the last byte, or to the first event of a stream).
    pub upstream: Duration,
    /// Retries and fallbacks it took.
    pub attempts: Attempts,
}

/// A non-streaming chat answer in the client's format.
#[derive(Debug, Clone)]
pub struct ChatBytes {
    /// OpenAI JSON, `model` set to the name the client asked for.
    pub body: Bytes,
    pub usage: Option<Usage>,
    pub info: CallInfo,
}

/// Per-call settings that come from outside the body (proxy headers).
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// `x-litellm-timeout`.
    pub timeout: Option<Duration>,
    /// `x-litellm-stream-timeout`.
    pub stream_timeout: Option<Duration>,
    /// The route, for the invalid-model message (`/chat/completions`, `/embeddings`).
    pub route: &'static str,
    /// `num_retries` from the body or `x-litellm-num-retries`; wins over the config.
    pub num_retries: Option<u32>,
    /// Client-side `fallbacks` from the body; replace the configured ones.
    pub fallbacks: Option<Vec<String>>,
    /// `disable_fallbacks` from the body.
    pub disable_fallbacks: bool,
    /// A streaming call (picks `stream_timeout`).
    pub stream: bool,
    /// Prompt tokens, for pre-call checks and tpm limits; `None` skips those checks.
    pub prompt_tokens: Option<u64>,
}

/// One entry of `router_settings.model_group_alias`.
#[derive(Debug, Clone)]
struct Alias {
    target: String,
    hidden: bool,
}

/// The engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    deployments: Vec<Deployment>,
    /// Model groups in config order: name -> deployment indices.
    groups: Vec<(String, Vec<usize>)>,
    group_index: HashMap<String, usize>,
    /// Wildcard deployments, most specific first.
    wildcards: Vec<usize>,
    aliases: HashMap<String, Alias>,
    alias_order: Vec<String>,
    http: HttpClient,
    env: Env,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    drop_params: bool,
    policy: policy::Policy,
    /// Per deployment, same index as `deployments`.
    states: Vec<Arc<state::DeploymentState>>,
    id_index: HashMap<String, usize>,
    budget: state::RetryBudget,
    facts: Arc<dyn ModelFacts>,
    /// Redis, when configured: state shared with the other gateway instances.
    shared: Option<shared::Shared>,
    /// Event counters for monitoring.
    stats: stats::RouterStats,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("deployments", &self.deployments.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A resolved call target: the deployment, its adapter for this call, the model group.
#[derive(Debug)]
pub struct Target<'a> {
    pub deployment: &'a Deployment,
    pub adapter: Adapter,
    pub group: String,
}

/// Builds a [`Router`] with optional parts plugged in.
pub struct RouterBuilder<'c> {
    config: &'c Config,
    http: Option<HttpClient>,
    facts: Arc<dyn ModelFacts>,
}

impl std::fmt::Debug for RouterBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterBuilder").finish_non_exhaustive()
    }
}

impl RouterBuilder<'_> {
    /// Context windows and prices; the default is the built-in price table under the config.
    pub fn model_facts(mut self, facts: Arc<dyn ModelFacts>) -> Self {
        self.facts = facts;
        self
    }

    /// The HTTP client to call providers with.
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the router.
    pub fn build(self) -> Result<Router, GatewayError> {
        let http = match self.http {
            Some(h) => h,
            None => default_client(self.config)?,
        };
        Router::assemble(self.config, http, self.facts)
    }
}

fn default_client(config: &Config) -> Result<HttpClient, GatewayError> {
    let connect = config
        .general_settings
        .connect_timeout
        .filter(|t| *t > 0.0)
        .unwrap_or(10.0);
    HttpClient::new(&TransportOptions {
        connect_timeout: Duration::try_from_secs_f64(connect).unwrap_or(Duration::from_secs(10)),
        ..TransportOptions::default()
    })
}

impl Router {
    /// Builds the engine from a loaded config.
    pub fn from_config(config: &Config) -> Result<Self, GatewayError> {
        Self::builder(config).build()
    }

    /// A builder, for plugging in [`ModelFacts`] or an HTTP client.
    pub fn builder(config: &Config) -> RouterBuilder<'_> {
        RouterBuilder {
            config,
            http: None,
            facts: Arc::new(PriceFacts::builtin()),
        }
    }

    /// A library engine with no config: any `provider/model` string is called directly, with
    /// credentials from the environment (LiteLLM's `model_name: "*"` catch-all).
    pub fn direct() -> Result<Self, GatewayError> {
        Self::from_config(&Config::quick_start("*"))
    }

    /// Builds the engine with a given HTTP client.
    pub fn with_client(config: &Config, http: HttpClient) -> Result<Self, GatewayError> {
        Self::builder(config).http_client(http).build()
    }

    fn assemble(
        config: &Config,
        http: HttpClient,
        facts: Arc<dyn ModelFacts>,
    ) -> Result<Self, GatewayError> {
        let drop_params = config.litellm_settings.drop_params;
        let deployments: Vec<Deployment> = config
            .model_list
            .iter()
            .map(|d| Deployment::new(d, drop_params, &config.env))
            .collect();
        for d in &deployments {
            if let Some(Err(e)) = &d.adapter {
                tracing::warn!(model_name = %d.model_name, model = %d.litellm_model, "deployment cannot be called: {e}");
            }
        }
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        let mut group_index = HashMap::new();
        let mut wildcards = Vec::new();
        for (i, d) in deployments.iter().enumerate() {
            if d.pattern.is_some() {
                wildcards.push(i);
            }
            let gi = *group_index.entry(d.model_name.clone()).or_insert_with(|| {
                groups.push((d.model_name.clone(), Vec::new()));
                groups.len() - 1
            });
            groups[gi].1.push(i);
        }
        wildcards.sort_by_key(|&i| {
            std::cmp::Reverse(
                deployments[i]
                    .pattern
                    .as_ref()
                    .map(WildcardPattern::specificity),
            )
        });
        let mut aliases = HashMap::new();
        let mut alias_order = Vec::new();
        for (name, v) in &config.router_settings.model_group_alias {
            let alias = match v {
                Value::String(s) => Alias {
                    target: s.clone(),
                    hidden: false,
                },
                Value::Object(o) => Alias {
                    target: o
                        .get("model")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    hidden: o.get("hidden").and_then(Value::as_bool).unwrap_or(false),
                },
                _ => continue,
            };
            alias_order.push(name.clone());
            aliases.insert(name.clone(), alias);
        }
        let policy = policy::Policy::from_config(config);
        let deployments_len = deployments.len();
        let states = deployments
            .iter()
            .map(|d| {
                let lp = &d.config.litellm_params;
                // LiteLLM: explicit value, else rpm, else tpm/1000*6, else the router default.
                let max_parallel = lp
                    .max_parallel_requests
                    .or_else(|| lp.rpm.map(|r| u32::try_from(r).unwrap_or(u32::MAX)))
                    .or_else(|| {
                        lp.tpm
                            .map(|t| u32::try_from((t / 1000 * 6).max(1)).unwrap_or(u32::MAX))
                    })
                    .or(policy.default_max_parallel)
                    .filter(|n| *n > 0);
                Arc::new(state::DeploymentState::new(max_parallel))
            })
            .collect();
        let id_index = deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        let seconds = |v: Option<f64>| {
            v.filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(t).ok())
        };
        Ok(Self {
            inner: Arc::new(Inner {
                deployments,
                groups,
                group_index,
                wildcards,
                aliases,
                alias_order,
                http,
                env: config.env.clone(),
                timeout: seconds(config.router_settings.timeout)
                    .or(seconds(config.litellm_settings.request_timeout)),
                stream_timeout: seconds(config.router_settings.stream_timeout),
                drop_params,
                policy,
                states,
                id_index,
                budget: state::RetryBudget::new(),
                facts,
                shared: shared::redis_url(config).and_then(|url| shared::Shared::new(&url)),
                stats: stats::RouterStats::new(deployments_len),
            }),
        })
    }

    /// The upstream model string (`litellm_params.model`, wildcards substituted) a requested
    /// name resolves to, `None` for unknown names.
    pub fn upstream_model(&self, requested: &str) -> Option<String> {
        let cands = self.candidates(requested, "").ok()?;
        let (i, upstream) = cands.members.first()?;
        Some(
            upstream
                .clone()
                .unwrap_or_else(|| self.inner.deployments[*i].litellm_model.clone()),
        )
    }

    /// Counts tokens a deployment used against its tpm (usage-based routing).
    pub fn record_usage(&self, deployment_id: &str, tokens: u64) {
        if let Some(&i) = self.inner.id_index.get(deployment_id) {
            self.inner.states[i].add_tokens(tokens);
            if self.inner.shared.is_some()
                && let Ok(rt) = tokio::runtime::Handle::try_current()
            {
                let router = self.clone();
                let id = deployment_id.to_owned();
                rt.spawn(async move {
                    if let Some(shared) = &router.inner.shared {
                        shared.add_tpm(&id, tokens).await;
                    }
                });
            }
        }
    }

    /// Whether `litellm_settings.drop_params` is on.
    pub fn drop_params(&self) -> bool {
        self.inner.drop_params
    }

    /// Every deployment, in config order.
    pub fn deployments(&self) -> &[Deployment] {
        &self.inner.deployments
    }

    /// Each deployment's attempt counters and health (LiteLLM's `litellm_deployment_*`).
    pub fn deployment_stats(&self) -> Vec<DeploymentStats<'_>> {
        let inner = &*self.inner;
        inner
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let adapter = d.adapter.as_ref().and_then(|a| a.as_ref().ok());
                let health = if inner.states[i].cooling().is_some() {
                    DeploymentHealth::Outage
                } else if inner.stats.last_failed(i) {
                    DeploymentHealth::PartialOutage
                } else {
                    DeploymentHealth::Healthy
                };
                DeploymentStats {
                    model_group: &d.model_name,
                    model_id: &d.id,
                    litellm_model_name: &d.litellm_model,
                    api_base: adapter.map_or("", |a| a.api_base().split('?').next().unwrap_or("")),
                    api_provider: adapter.map_or("", Adapter::provider_name),
                    health,
                    successes: inner.stats.successes(i),
                    failures: inner.stats.failures(i),
                    cooldowns: inner.stats.cooldowns(i),
                }
            })
            .collect()
    }

    /// Fallbacks taken so far, by requested and fallback group and the error that caused them.
    pub fn fallback_stats(&self) -> Vec<(FallbackKey, FallbackCounts)> {
        self.inner.stats.fallbacks()
    }

    /// The router's Redis connection, when Redis is configured.
    pub fn redis_stats(&self) -> Option<RedisStats> {
        self.inner.shared.as_ref().map(shared::Shared::stats)
    }

    /// Names a client may request: model groups, then visible aliases (`/v1/models`).
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.groups.iter().map(|(n, _)| n.clone()).collect();
        for a in &self.inner.alias_order {
            if self.inner.aliases.get(a).is_some_and(|al| !al.hidden) && !names.contains(a) {
                names.push(a.clone());
            }
        }
        names
    }

    /// Whether `model` names something this router can serve.
    pub fn knows_model(&self, model: &str) -> bool {
        // Cooling deployments still count: the name is served, just not this second.
        self.candidates(model, "").is_ok_and(|c| {
            c.members.iter().any(|(i, u)| {
                self.inner.deployments[*i]
                    .adapter_for(u.as_deref(), &self.inner.env)
                    .is_ok()
            })
        })
    }

    /// Probes every fixed deployment concurrently with a tiny call (`/health`): a one-token
    /// chat, or an embedding for `mode: embedding` deployments.
    pub async fn probe_all(&self) -> Vec<(usize, Result<(), GatewayError>)> {
        let probes = self
            .inner
            .deployments
            .iter()
            .enumerate()
            .filter(|(_, d)| d.pattern.is_none())
            .map(|(i, d)| async move { (i, self.probe(d).await) });
        futures::future::join_all(probes).await
    }

    async fn probe(&self, d: &Deployment) -> Result<(), GatewayError> {
        const PROMPT: &str = "test from litellm";
        let target = Target {
            adapter: d.adapter_for(None, &self.inner.env)?,
            deployment: d,
            group: d.model_name.clone(),
        };
        let request = if d.config.model_info.mode.as_deref() == Some("embedding") {
            target.adapter.embeddings_request(&EmbeddingsRequest::new(
                d.model_name.clone(),
                vec![PROMPT.into()],
            ))?
        } else {
            let mut chat = ChatCompletionRequest::new(
                d.model_name.clone(),
                vec![tollgate_core::ChatMessage::user(PROMPT)],
            );
            chat.max_tokens = Some(1);
            target.adapter.chat_request(&chat, CallOptions::default())?
        };
        let timeout = d.timeout.unwrap_or(Duration::from_secs(60));
        self.exchange(&target, request, timeout).await.map(|_| ())
    }

    /// Non-streaming chat for the proxy: the client's JSON, bytes forwarded when possible.
    pub async fn chat_bytes(
        &self,
        req: ChatCompletionRequest,
        ctx: &CallContext,
    ) -> Result<ChatBytes, RouterError> {
        let client_model = req.model.clone();
        let routed = self.send_chat(req, ctx, false).await?;
        let attempts = routed.info.attempts;
        let fail = |error: GatewayError| RouterError { error, attempts };
        match routed.value {
            Sent::Body { body, target, .. } => {
                let (body, usage) = target
                    .adapter
                    .forward_chat_response(body, &client_model)
                    .map_err(fail)?;
                self.record_tokens(&routed.info, usage.as_ref());
                Ok(ChatBytes {
                    body,
                    usage,
                    info: routed.info,
                })
            }
            Sent::Mock(response) => {
                let usage = response.usage.clone();
                let body = serde_json::to_vec(&response)
                    .map_err(|e| fail(GatewayError::Internal(e.to_string())))?;
                Ok(ChatBytes {
                    body: Bytes::from(body),
                    usage,
                    info: routed.info,
                })
            }
            Sent::Stream(..) => Err(fail(GatewayError::Internal(
                "stream for a non-stream call".into(),
            ))),
        }
    }

    /// Non-streaming chat for the library: the typed response.
    pub async fn completion(
        &self,
        req: ChatCompletionRequest,
    ) -> Result<ChatCompletionResponse, GatewayError> {
        let ctx = CallContext {
            route: "completion",
            ..CallContext::default()
        };
        let client_model = req.model.clone();
        let routed = self.send_chat(req, &ctx, false).await?;
        match routed.value {
            Sent::Body { body, target, .. } => {
                let mut response = target.adapter.parse_chat_response(&body)?;
                self.record_tokens(&routed.info, response.usage.as_ref());
                response.model = client_model;
                Ok(response)
            }
            Sent::Mock(response) => Ok(*response),
            Sent::Stream(..) => Err(GatewayError::Internal(
                "stream for a non-stream call".into(),
            )),
        }
    }

    /// Streaming chat. Returns once the provider's first event arrived; an upstream that fails
    /// before that is retried or falls back like any failed call, so the client never sees a
    /// broken `200`.
    pub async fn chat_stream(
        &self,
        mut req: ChatCompletionRequest,
        ctx: &CallContext,
    ) -> Result<ChatStream, RouterError> {
        req.stream = Some(true);
        let client_model = req.model.clone();
        let include_usage = req.wants_stream_usage();
        let routed = self.send_chat(req, ctx, true).await?;
        match routed.value {
            Sent::Stream(stream) => Ok(ChatStream {
                client_model,
                include_usage,
                info: routed.info,
                ..*stream
            }),
            Sent::Mock(_) | Sent::Body { .. } => Err(RouterError {
                error: GatewayError::Internal("non-stream answer for a stream call".into()),
                attempts: routed.info.attempts,
            }),
        }
    }

    /// Embeddings, typed.
    pub async fn embeddings(
        &self,
        req: EmbeddingsRequest,
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let ctx = CallContext {
            route: "embedding",
            ..CallContext::default()
        };
        let client_model = req.model.clone();
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let routed = self.send_embeddings(req, &ctx).await?;
        let (body, target) = routed.value;
        let mut response = target.adapter.parse_embeddings_response(&body)?;
        response.model = client_model;
        if base64 && !target.adapter.is_openai_format() {
            response.encode_base64();
        }
        Ok(response)
    }

    /// Embeddings for the proxy: the provider's bytes with `model` replaced.
    pub async fn embeddings_bytes(
        &self,
        req: EmbeddingsRequest,
        ctx: &CallContext,
    ) -> Result<ChatBytes, RouterError> {
        let client_model = req.model.clone();
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let routed = self.send_embeddings(req, ctx).await?;
        let attempts = routed.info.attempts;
        let fail = |error: GatewayError| RouterError { error, attempts };
        let (body, target) = routed.value;
        if base64 && !target.adapter.is_openai_format() {
            let mut response = target
                .adapter
                .parse_embeddings_response(&body)
                .map_err(fail)?;
            client_model.clone_into(&mut response.model);
            response.encode_base64();
            let usage = response
                .usage
                .as_ref()
                .map(|u| Usage::new(u.prompt_tokens, 0));
            let body = serde_json::to_vec(&response)
                .map_err(|e| fail(GatewayError::Internal(e.to_string())))?;
            return Ok(ChatBytes {
                body: Bytes::from(body),
                usage,
                info: routed.info,
            });
        }
        let (body, usage) = target
            .adapter
            .forward_embeddings_response(body, &client_model)
            .map_err(fail)?;
        self.record_tokens(&routed.info, usage.as_ref());
        Ok(ChatBytes {
            body,
            usage,
            info: routed.info,
        })
    }

    fn record_tokens(&self, info: &CallInfo, usage: Option<&Usage>) {
        if let Some(u) = usage {
            self.record_usage(&info.deployment_id, u.total_tokens);
        }
    }

    /// The call's context with the body's gateway fields merged in (the body wins).
    fn effective_context(
        &self,
        ctx: &CallContext,
        opts: &RequestOptions,
        stream: bool,
    ) -> CallContext {
        CallContext {
            timeout: opts.timeout.or(ctx.timeout),
            stream_timeout: opts.stream_timeout.or(ctx.stream_timeout),
            route: ctx.route,
            num_retries: opts.num_retries.or(ctx.num_retries),
            fallbacks: opts.fallbacks.clone().or_else(|| ctx.fallbacks.clone()),
            disable_fallbacks: opts.disable_fallbacks || ctx.disable_fallbacks,
            stream,
            prompt_tokens: ctx.prompt_tokens,
        }
    }

    async fn send_embeddings(
        &self,
        mut req: EmbeddingsRequest,
        ctx: &CallContext,
    ) -> Result<Routed<(Bytes, Target<'_>)>, RouterError> {
        let opts = RequestOptions::take(&mut req.extra, &mut None)?;
        let ctx = self.effective_context(ctx, &opts, false);
        let req = &req;
        self.route(&req.model, &ctx, |pick: Pick<'_>| async move {
            let body = self
                .exchange_embeddings(&pick.target, req, pick.timeout)
                .await?;
            Ok((body, pick.target))
        })
        .await
    }

    async fn send_chat(
        &self,
        mut req: ChatCompletionRequest,
        ctx: &CallContext,
        stream: bool,
    ) -> Result<Routed<Sent<'_>>, RouterError> {
        let opts = RequestOptions::take(&mut req.extra, &mut req.metadata)?;
        if stream && opts.mock_response.is_some() {
            return Err(GatewayError::invalid_request(
                "mock_response cannot be combined with stream=true in this version",
                Some("mock_response".into()),
            )
            .into());
        }
        let mut ctx = self.effective_context(ctx, &opts, stream);
        if ctx.prompt_tokens.is_none()
            && (self.inner.policy.pre_call_checks
                || self.inner.policy.strategy == Strategy::UsageBased)
        {
            ctx.prompt_tokens = Some(tokens::count_prompt_tokens(&req.model, &req) as u64);
        }
        let call = CallOptions {
            force_stream_usage: true,
            drop_params: opts.drop_params || self.inner.drop_params,
        };
        let mock_failure = opts.mock_failure.and_then(|class| {
            let group = self.candidates(&req.model, ctx.route).ok()?.group;
            Some((group, class))
        });
        let req = &req;
        let opts = &opts;
        let mock_failure = &mock_failure;
        self.route(&req.model, &ctx, |pick: Pick<'_>| async move {
            if let Some((group, class)) = mock_failure
                && *group == pick.target.group
            {
                return Err(mock_failure_error(
                    *class,
                    pick.target.adapter.provider_name(),
                ));
            }
            self.chat_attempt(req, opts, call, stream, pick).await
        })
        .await
    }

    /// One chat call to the picked deployment. A stream counts as answered at its first event.
    async fn chat_attempt<'a>(
        &'a self,
        req: &ChatCompletionRequest,
        opts: &RequestOptions,
        call: CallOptions,
        stream: bool,
        pick: Pick<'a>,
    ) -> Result<Sent<'a>, GatewayError> {
        let target = pick.target;
        let timeout = pick.timeout;
        let mock = opts.mock_response.clone().or_else(|| {
            target
                .deployment
                .config
                .litellm_params
                .mock_response
                .clone()
        });
        if let Some(text) = mock {
            if stream {
                return Err(GatewayError::invalid_request(
                    "mock_response cannot be combined with stream=true in this version",
                    Some("mock_response".into()),
                ));
            }
            return Ok(Sent::Mock(Box::new(mock_response::mock_response(
                &req.model, &text,
            ))));
        }
        let upstream_req = target.adapter.chat_request(req, call)?;
        let provider = target.adapter.provider_name();
        let started = Instant::now();
        if !stream {
            let body = self.exchange(&target, upstream_req, timeout).await?;
            self.check_content_filter(&target, &body)?;
            return Ok(Sent::Body { body, target });
        }
        // One deadline covers the connection and the first event.
        let first_event = async {
            let response = self.send_to(&target, upstream_req, timeout).await?;
            if !response.status.is_success() {
                let status = response.status.as_u16();
                let headers = response.headers.clone();
                let body = response.bytes(timeout, provider).await?;
                return Err(target.adapter.parse_error(status, &headers, &body));
            }
            let mut source = EventSource::new(
                response.into_stream(provider).boxed(),
                target.adapter.stream_decoder(),
            );
            match source.next().await {
                None => Err(GatewayError::Connection {
                    provider: provider.to_owned(),
                    message: "the provider closed the stream without sending anything".into(),
                }),
                Some(tollgate_providers::StreamEvent::Error(e)) => Err(e),
                Some(ev) => Ok((ev, source)),
            }
        };
        let (first, source) = match tokio::time::timeout(timeout, first_event).await {
            Err(_) => {
                return Err(GatewayError::Timeout {
                    provider: provider.to_owned(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            Ok(r) => r?,
        };
        Ok(Sent::Stream(Box::new(ChatStream {
            info: info(&target, started.elapsed()),
            first: Some(first),
            source,
            client_model: String::new(),
            include_usage: false,
            on_end: None,
        })))
    }

    /// LiteLLM turns a `content_filter` finish into a content-policy error, so it can fall
    /// back, but only when the group has a content-policy (or default) fallback.
    fn check_content_filter(&self, target: &Target<'_>, body: &Bytes) -> Result<(), GatewayError> {
        let policy = &self.inner.policy;
        if !policy.content_policy_fallbacks.contains_key(&target.group)
            && !policy.fallbacks.contains_key("*")
        {
            return Ok(());
        }
        let Ok(response) = target.adapter.parse_chat_response(body) else {
            return Ok(());
        };
        let filtered = response
            .choices
            .iter()
            .any(|c| c.finish_reason == Some(tollgate_core::FinishReason::ContentFilter));
        if !filtered {
            return Ok(());
        }
        let mut up = tollgate_core::UpstreamError::new(
            400,
            target.adapter.provider_name(),
            "The response was filtered (finish_reason: content_filter)",
        );
        up.class = tollgate_core::ErrorClass::ContentPolicyViolation;
        Err(GatewayError::Upstream(Box::new(up)))
    }

    /// Adds the credentials that take time or I/O to produce (signatures, OAuth tokens), then
    /// sends.
    async fn send_to(
        &self,
        target: &Target<'_>,
        mut request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<UpstreamResponse, GatewayError> {
        target
            .adapter
            .authorize(&self.inner.http, &mut request)
            .await?;
        let provider = target.adapter.provider_name();
        self.inner.http.send(request, timeout, provider).await
    }

    /// Sends and reads a whole response; a non-2xx status becomes the provider's error.
    async fn exchange(
        &self,
        target: &Target<'_>,
        request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<Bytes, GatewayError> {
        let provider = target.adapter.provider_name();
        let deadline = Instant::now() + timeout;
        let response = self.send_to(target, request, timeout).await?;
        let status = response.status.as_u16();
        let headers = response.headers.clone();
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let body = response.bytes(remaining, provider).await?;
        if !(200..300).contains(&status) {
            return Err(target.adapter.parse_error(status, &headers, &body));
        }
        Ok(body)
    }

    /// LiteLLM's precedence: request, then deployment, then router, then 6000 s.
    fn timeout_for(
        &self,
        target: &Target<'_>,
        opts: &RequestOptions,
        ctx: &CallContext,
        stream: bool,
    ) -> Duration {
        let request = if stream {
            opts.stream_timeout
                .or(ctx.stream_timeout)
                .or(opts.timeout)
                .or(ctx.timeout)
        } else {
            opts.timeout.or(ctx.timeout)
        };
        let deployment = if stream {
            target
                .deployment
                .stream_timeout
                .or(target.deployment.timeout)
        } else {
            target.deployment.timeout
        };
        let router = if stream {
            self.inner.stream_timeout.or(self.inner.timeout)
        } else {
            self.inner.timeout
        };
        request.or(deployment).or(router).unwrap_or(DEFAULT_TIMEOUT)
    }
}

// Lives for one call on the stack; boxing the big variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Sent<'a> {
    Body { body: Bytes, target: Target<'a> },
    Stream(Box<ChatStream>),
    Mock(Box<ChatCompletionResponse>),
}

/// The error a `mock_testing_*` flag stands for, as LiteLLM raises it.
fn mock_failure_error(class: tollgate_core::ErrorClass, provider: &'static str) -> GatewayError {
    let mut up = tollgate_core::UpstreamError::new(
        class.default_status(),
        provider,
        format!(
            "This is a mock exception for testing fallbacks ({})",
            class.name()
        ),
    );
    up.class = class;
    up.code = Some(MOCK_TESTING_CODE.to_owned());
    GatewayError::Upstream(Box::new(up))
}

/// Marks a `mock_testing_*` failure: no deployment failed, so none is cooled down.
const MOCK_TESTING_CODE: &str = "mock_testing";

/// Whether an error is a `mock_testing_*` failure.
fn is_mock_failure(e: &GatewayError) -> bool {
    matches!(e, GatewayError::Upstream(u) if u.code.as_deref() == Some(MOCK_TESTING_CODE))
}

fn info(target: &Target<'_>, upstream: Duration) -> CallInfo {
    CallInfo {
        model_group: target.group.clone(),
        deployment_id: target.deployment.id.clone(),
        api_base: target
            .adapter
            .api_base()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned(),
        provider: target.adapter.provider_name().to_owned(),
        upstream,
        attempts: Attempts::default(),
    }
}

#[cfg(test)]
mod tests;
