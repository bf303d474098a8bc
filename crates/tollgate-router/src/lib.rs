//! The engine shared by the library and the proxy: resolves a requested model name to a
//! deployment (LiteLLM's order: deployment id, alias, exact name, wildcard, provider model),
//! calls it through its adapter and the shared transport, and shapes the answer.
//!
//! Load-balancing strategies, retries, fallbacks and cooldowns arrive with the router issue;
//! today a model group is served round-robin.

mod deployment;
mod embeddings_fanout;
mod mock_response;
mod native;
mod pricing;
mod request_options;
mod resolve;
mod stream;
mod wildcard;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
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
pub use native::{MessagesCall, NativeMessages, NativeRewriter, NativeStream, UsageCell};
pub use pricing::config_price;
pub use request_options::{RequestOptions, seconds};
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

#[derive(Debug)]
struct Inner {
    deployments: Vec<Deployment>,
    /// Model groups in config order: name -> deployment indices.
    groups: Vec<(String, Vec<usize>)>,
    group_index: HashMap<String, usize>,
    /// Wildcard deployments, most specific first.
    wildcards: Vec<usize>,
    aliases: HashMap<String, Alias>,
    alias_order: Vec<String>,
    round_robin: Vec<AtomicUsize>,
    http: HttpClient,
    env: Env,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    drop_params: bool,
}

/// A resolved call target.
struct Target<'a> {
    deployment: &'a Deployment,
    adapter: Adapter,
    group: String,
}

impl Router {
    /// Builds the engine from a loaded config.
    pub fn from_config(config: &Config) -> Result<Self, GatewayError> {
        let connect = config
            .general_settings
            .connect_timeout
            .filter(|t| *t > 0.0)
            .unwrap_or(10.0);
        let http = HttpClient::new(&TransportOptions {
            connect_timeout: Duration::try_from_secs_f64(connect)
                .unwrap_or(Duration::from_secs(10)),
            ..TransportOptions::default()
        })?;
        Self::with_client(config, http)
    }

    /// A library engine with no config: any `provider/model` string is called directly, with
    /// credentials from the environment (LiteLLM's `model_name: "*"` catch-all).
    pub fn direct() -> Result<Self, GatewayError> {
        Self::from_config(&Config::quick_start("*"))
    }

    /// Builds the engine with a given HTTP client.
    pub fn with_client(config: &Config, http: HttpClient) -> Result<Self, GatewayError> {
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
        let round_robin = groups.iter().map(|_| AtomicUsize::new(0)).collect();
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
                round_robin,
                http,
                env: config.env.clone(),
                timeout: seconds(config.router_settings.timeout)
                    .or(seconds(config.litellm_settings.request_timeout)),
                stream_timeout: seconds(config.router_settings.stream_timeout),
                drop_params,
            }),
        })
    }

    /// Whether `litellm_settings.drop_params` is on.
    pub fn drop_params(&self) -> bool {
        self.inner.drop_params
    }

    /// Every deployment, in config order.
    pub fn deployments(&self) -> &[Deployment] {
        &self.inner.deployments
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
        self.resolve(model, "").is_ok()
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
    ) -> Result<ChatBytes, GatewayError> {
        let client_model = req.model.clone();
        let (body, target, upstream) = match self.send_chat(req, ctx, false).await? {
            Sent::Body {
                body,
                target,
                upstream,
            } => (body, target, upstream),
            Sent::Mock(response, info) => {
                let usage = response.usage.clone();
                let body = serde_json::to_vec(&response)
                    .map_err(|e| GatewayError::Internal(e.to_string()))?;
                return Ok(ChatBytes {
                    body: Bytes::from(body),
                    usage,
                    info,
                });
            }
            Sent::Stream(..) => {
                return Err(GatewayError::Internal(
                    "stream for a non-stream call".into(),
                ));
            }
        };
        let (body, usage) = target.adapter.forward_chat_response(body, &client_model)?;
        Ok(ChatBytes {
            body,
            usage,
            info: info(&target, upstream),
        })
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
        match self.send_chat(req, &ctx, false).await? {
            Sent::Body { body, target, .. } => {
                let mut response = target.adapter.parse_chat_response(&body)?;
                response.model = client_model;
                Ok(response)
            }
            Sent::Mock(response, _) => Ok(*response),
            Sent::Stream(..) => Err(GatewayError::Internal(
                "stream for a non-stream call".into(),
            )),
        }
    }

    /// Streaming chat. Returns once the provider's first event arrived; an upstream that fails
    /// before that is an ordinary error, so the client never sees a broken `200`.
    pub async fn chat_stream(
        &self,
        mut req: ChatCompletionRequest,
        ctx: &CallContext,
    ) -> Result<ChatStream, GatewayError> {
        req.stream = Some(true);
        let client_model = req.model.clone();
        let include_usage = req.wants_stream_usage();
        match self.send_chat(req, ctx, true).await? {
            Sent::Stream(stream) => Ok(ChatStream {
                client_model,
                include_usage,
                ..*stream
            }),
            Sent::Mock(..) | Sent::Body { .. } => Err(GatewayError::Internal(
                "non-stream answer for a stream call".into(),
            )),
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
        let (body, target, _) = self.send_embeddings(req, &ctx).await?;
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
    ) -> Result<ChatBytes, GatewayError> {
        let client_model = req.model.clone();
        let base64 = req.encoding_format.as_deref() == Some("base64");
        let (body, target, upstream) = self.send_embeddings(req, ctx).await?;
        if base64 && !target.adapter.is_openai_format() {
            let mut response = target.adapter.parse_embeddings_response(&body)?;
            client_model.clone_into(&mut response.model);
            response.encode_base64();
            let usage = response
                .usage
                .as_ref()
                .map(|u| Usage::new(u.prompt_tokens, 0));
            let body =
                serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
            return Ok(ChatBytes {
                body: Bytes::from(body),
                usage,
                info: info(&target, upstream),
            });
        }
        let (body, usage) = target
            .adapter
            .forward_embeddings_response(body, &client_model)?;
        Ok(ChatBytes {
            body,
            usage,
            info: info(&target, upstream),
        })
    }

    async fn send_embeddings(
        &self,
        mut req: EmbeddingsRequest,
        ctx: &CallContext,
    ) -> Result<(Bytes, Target<'_>, Duration), GatewayError> {
        let opts = RequestOptions::take(&mut req.extra, &mut None)?;
        let target = self.resolve(&req.model, ctx.route)?;
        let timeout = self.timeout_for(&target, &opts, ctx, false);
        let started = Instant::now();
        let body = self.exchange_embeddings(&target, &req, timeout).await?;
        Ok((body, target, started.elapsed()))
    }

    async fn send_chat(
        &self,
        mut req: ChatCompletionRequest,
        ctx: &CallContext,
        stream: bool,
    ) -> Result<Sent<'_>, GatewayError> {
        let opts = RequestOptions::take(&mut req.extra, &mut req.metadata)?;
        let target = self.resolve(&req.model, ctx.route)?;
        if let Some(text) = opts.mock_response.clone().or_else(|| {
            target
                .deployment
                .config
                .litellm_params
                .mock_response
                .clone()
        }) {
            if stream {
                return Err(GatewayError::invalid_request(
                    "mock_response cannot be combined with stream=true in this version",
                    Some("mock_response".into()),
                ));
            }
            let info = info(&target, Duration::ZERO);
            return Ok(Sent::Mock(
                Box::new(mock_response::mock_response(&req.model, &text)),
                info,
            ));
        }
        let call = CallOptions {
            force_stream_usage: true,
            drop_params: opts.drop_params || self.inner.drop_params,
        };
        let upstream_req = target.adapter.chat_request(&req, call)?;
        let timeout = self.timeout_for(&target, &opts, ctx, stream);
        let provider = target.adapter.provider_name();
        let started = Instant::now();
        if !stream {
            let body = self.exchange(&target, upstream_req, timeout).await?;
            return Ok(Sent::Body {
                body,
                target,
                upstream: started.elapsed(),
            });
        }
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
        let first = match tokio::time::timeout(timeout, source.next()).await {
            Err(_) => {
                return Err(GatewayError::Timeout {
                    provider: provider.to_owned(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            Ok(None) => {
                return Err(GatewayError::Connection {
                    provider: provider.to_owned(),
                    message: "the provider closed the stream without sending anything".into(),
                });
            }
            Ok(Some(tollgate_providers::StreamEvent::Error(e))) => return Err(e),
            Ok(Some(ev)) => ev,
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
    Body {
        body: Bytes,
        target: Target<'a>,
        upstream: Duration,
    },
    Stream(Box<ChatStream>),
    Mock(Box<ChatCompletionResponse>, CallInfo),
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
    }
}

#[cfg(test)]
mod tests;
