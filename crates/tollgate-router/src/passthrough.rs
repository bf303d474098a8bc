//! Provider pass-through (`/anthropic/*`, `/openai/*`, ...) and the native `/v1/responses`
//! pass-through: the client's request goes to the provider's own API with the gateway's
//! credential, and the answer comes back untouched while its usage is read on the way.
//!
//! Credentials come from the first deployment of that provider with
//! `litellm_params.use_in_pass_through: true`, else from the provider's environment variables
//! (LiteLLM's rule).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tollgate_core::{GatewayError, ModelRef, Provider, Usage};
use tollgate_providers::operations::PassthroughCall;
pub use tollgate_providers::usage_scan::{UsageScanner, usage_from_json};
use tollgate_providers::{Adapter, ProviderParams, UpstreamRequest};

use crate::{CallContext, CallInfo, DEFAULT_TIMEOUT, Pick, Router, RouterError};

/// Receives usage once a response has been delivered (or the client went away).
pub type UsageSink = Box<dyn FnOnce(crate::OperationUsage) + Send>;

/// A provider served by a pass-through route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassthroughProvider {
    Anthropic,
    OpenAi,
    Gemini,
    Bedrock,
    VertexAi,
    Azure,
    Cohere,
    Mistral,
}

impl PassthroughProvider {
    /// Every provider with a route, by its route prefix.
    pub const ALL: [Self; 8] = [
        Self::Anthropic,
        Self::OpenAi,
        Self::Gemini,
        Self::Bedrock,
        Self::VertexAi,
        Self::Azure,
        Self::Cohere,
        Self::Mistral,
    ];

    /// The route prefix without slashes (`vertex_ai`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Gemini => "gemini",
            Self::Bedrock => "bedrock",
            Self::VertexAi => "vertex_ai",
            Self::Azure => "azure",
            Self::Cohere => "cohere",
            Self::Mistral => "mistral",
        }
    }

    fn provider(self) -> Provider {
        match self {
            Self::Anthropic => Provider::Anthropic,
            Self::OpenAi => Provider::OpenAi,
            Self::Gemini => Provider::Gemini,
            Self::Bedrock => Provider::Bedrock,
            Self::VertexAi => Provider::VertexAi,
            Self::Azure => Provider::Azure,
            Self::Cohere => Provider::Cohere,
            Self::Mistral => Provider::Mistral,
        }
    }
}

/// What a pass-through call answered: status, headers and the body as it arrives.
pub struct PassthroughReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: BoxStream<'static, Result<Bytes, GatewayError>>,
    /// The deployment whose credential was used, when one was.
    pub info: CallInfo,
}

impl std::fmt::Debug for PassthroughReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassthroughReply")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Response headers that describe the connection or the body's framing, which the proxy sets
/// itself.
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "trailer",
];

impl Router {
    /// Forwards `call` to `provider`'s API with the gateway's credential. Any status the
    /// provider answers with is passed on as is; `on_usage` gets the usage read from the body
    /// (JSON or SSE) once it has been delivered.
    pub async fn passthrough(
        &self,
        provider: PassthroughProvider,
        call: PassthroughCall,
        ctx: &CallContext,
        on_usage: UsageSink,
    ) -> Result<PassthroughReply, GatewayError> {
        let (adapter, deployment) = self.passthrough_adapter(provider)?;
        let request = adapter.passthrough_request(&call)?;
        let target_info = deployment.map(|d| (d.model_name.clone(), d.id.clone()));
        let timeout = ctx
            .timeout
            .or(self.inner.timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        let reply = self.forward(&adapter, request, timeout, on_usage).await?;
        let (model_group, deployment_id) = target_info.unwrap_or_default();
        Ok(PassthroughReply {
            info: CallInfo {
                model_group,
                deployment_id,
                api_base: adapter
                    .api_base()
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                provider: adapter.provider_name().to_owned(),
                upstream: started.elapsed(),
                attempts: crate::Attempts::default(),
            },
            ..reply
        })
    }

    /// `/v1/responses` straight to the provider when the model resolves to an OpenAI or Azure
    /// OpenAI deployment: the client's bytes with only `model` swapped, the answer untouched.
    /// Goes through the routing loop: rate limits, timeouts and server errors are retried and
    /// fall back; other refusals pass through as the provider sent them. `None` when the
    /// model's deployments need the chat bridge, or a fallback reached one that does (the
    /// bridge then routes the call itself).
    pub async fn responses_native(
        &self,
        body: &Bytes,
        model: &str,
        ctx: &CallContext,
        on_usage: UsageSink,
    ) -> Result<Option<PassthroughReply>, RouterError> {
        let probe = Bytes::from_static(b"{}");
        let mut native = false;
        for adapter in self.member_adapters(model, "/responses")? {
            native |= adapter.responses_request(&probe)?.is_some();
        }
        if !native {
            return Ok(None);
        }
        let stream = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false);
        let ctx = CallContext {
            stream,
            ..ctx.clone()
        };
        let routed = self
            .route(model, &ctx, |pick: Pick<'_>| async move {
                let target = pick.target;
                let Some(request) = target.adapter.responses_request(body)? else {
                    return Ok(None);
                };
                self.responses_attempt(&target.adapter, request, pick.timeout)
                    .await
                    .map(Some)
            })
            .await?;
        let Some((status, headers, stream)) = routed.value else {
            return Ok(None);
        };
        let scanner = UsageScanner::for_content_type(
            headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let sink: Box<dyn FnOnce(Option<Usage>) + Send> = if status.is_success() {
            Box::new(move |u| {
                on_usage(crate::OperationUsage {
                    tokens: u,
                    ..crate::OperationUsage::default()
                });
            })
        } else {
            // A refused call costs nothing.
            Box::new(|_| {})
        };
        Ok(Some(PassthroughReply {
            status,
            headers,
            body: tap(stream, scanner, sink),
            info: routed.info,
        }))
    }

    /// One native Responses call. Rate limits, timeouts and server errors are failures the
    /// routing loop retries; a success is returned once its first chunk arrived, so nothing
    /// has reached the client while another deployment could still answer.
    async fn responses_attempt(
        &self,
        adapter: &Adapter,
        mut request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<
        (
            StatusCode,
            HeaderMap,
            BoxStream<'static, Result<Bytes, GatewayError>>,
        ),
        GatewayError,
    > {
        let deadline = Instant::now() + timeout;
        let remaining = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        adapter.authorize(&self.inner.http, &mut request).await?;
        let provider = adapter.provider_name();
        let response = self.inner.http.send(request, timeout, provider).await?;
        let status = response.status;
        let mut headers = response.headers.clone();
        for h in HOP_HEADERS {
            headers.remove(*h);
        }
        if !status.is_success() {
            let body = response.bytes(remaining(), provider).await?;
            let code = status.as_u16();
            if code == 408 || code == 429 || code >= 500 {
                return Err(adapter.parse_error(code, &headers, &body));
            }
            let body = futures::stream::once(async move { Ok(body) }).boxed();
            return Ok((status, headers, body));
        }
        let mut body = response.into_stream(provider).boxed();
        let first = loop {
            match tokio::time::timeout(remaining(), body.next()).await {
                Err(_) => {
                    return Err(GatewayError::Timeout {
                        provider: provider.to_owned(),
                        seconds: timeout.as_secs_f64(),
                    });
                }
                // An empty answer is still an answer; the client sees it as sent.
                Ok(None) => break None,
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(bytes))) if bytes.is_empty() => {}
                Ok(Some(Ok(bytes))) => break Some(bytes),
            }
        };
        let body = match first {
            Some(first) => futures::stream::once(async move { Ok(first) })
                .chain(body)
                .boxed(),
            None => futures::stream::empty().boxed(),
        };
        Ok((status, headers, body))
    }

    /// A stored response the gateway does not hold (it was served natively): asked of each
    /// OpenAI or Azure OpenAI deployment in config order until one does not answer 404
    /// (unreachable ones are skipped). `None` when no deployment has the Responses API.
    pub async fn responses_upstream(
        &self,
        method: http::Method,
        suffix: &str,
        query: Option<&str>,
    ) -> Result<Option<PassthroughReply>, GatewayError> {
        let mut last = None;
        let mut failure = None;
        for d in &self.inner.deployments {
            if d.pattern.is_some() {
                continue;
            }
            let Ok(adapter) = d.adapter_for(None, &self.inner.env) else {
                continue;
            };
            let Some(request) = adapter.responses_item_request(method.clone(), suffix, query)?
            else {
                continue;
            };
            let timeout = d.timeout.or(self.inner.timeout).unwrap_or(DEFAULT_TIMEOUT);
            let started = Instant::now();
            // One deployment being down must not hide the response another one holds.
            let reply = match self
                .forward(&adapter, request, timeout, Box::new(|_| {}))
                .await
            {
                Ok(reply) => reply,
                Err(e) => {
                    failure.get_or_insert(e);
                    continue;
                }
            };
            let reply = PassthroughReply {
                info: CallInfo {
                    model_group: d.model_name.clone(),
                    deployment_id: d.id.clone(),
                    api_base: adapter
                        .api_base()
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    provider: adapter.provider_name().to_owned(),
                    upstream: started.elapsed(),
                    attempts: crate::Attempts::default(),
                },
                ..reply
            };
            if reply.status != StatusCode::NOT_FOUND {
                return Ok(Some(reply));
            }
            last = Some(reply);
        }
        match (last, failure) {
            (None, Some(e)) => Err(e),
            (last, _) => Ok(last),
        }
    }

    /// The adapter whose credential a pass-through call uses.
    fn passthrough_adapter(
        &self,
        provider: PassthroughProvider,
    ) -> Result<(Adapter, Option<&crate::Deployment>), GatewayError> {
        let wanted = provider.provider();
        for d in &self.inner.deployments {
            let opted_in = d
                .config
                .litellm_params
                .extra
                .get("use_in_pass_through")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !opted_in || d.pattern.is_some() {
                continue;
            }
            let same = ModelRef::parse(&d.litellm_model, d.custom_llm_provider.as_deref())
                .is_ok_and(|m| m.provider == wanted);
            if same {
                return Ok((d.adapter_for(None, &self.inner.env)?, Some(d)));
            }
        }
        // No deployment opted in: the provider's environment variables, as LiteLLM. The model
        // only has to be well-formed; the path names the real one.
        let model = ModelRef::parse(&format!("{}/passthrough", wanted), None)?;
        let mut params = ProviderParams::default();
        if provider == PassthroughProvider::Mistral {
            // LiteLLM's Mistral pass-through reads its own base variable.
            params.api_base = self.inner.env.get("MISTRAL_API_BASE");
        }
        let adapter = Adapter::new(&model, &params, &self.inner.env)?;
        Ok((adapter, None))
    }

    async fn forward(
        &self,
        adapter: &Adapter,
        mut request: UpstreamRequest,
        timeout: std::time::Duration,
        on_usage: UsageSink,
    ) -> Result<PassthroughReply, GatewayError> {
        adapter.authorize(&self.inner.http, &mut request).await?;
        let provider = adapter.provider_name();
        let response = self.inner.http.send(request, timeout, provider).await?;
        let status = response.status;
        let mut headers = response.headers.clone();
        for h in HOP_HEADERS {
            headers.remove(*h);
        }
        let scanner = UsageScanner::for_content_type(
            headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        );
        let sink: Box<dyn FnOnce(Option<Usage>) + Send> = if status.is_success() {
            Box::new(move |u| {
                on_usage(crate::OperationUsage {
                    tokens: u,
                    ..crate::OperationUsage::default()
                });
            })
        } else {
            // A refused call costs nothing.
            Box::new(|_| {})
        };
        let body = tap(response.into_stream(provider).boxed(), scanner, sink);
        Ok(PassthroughReply {
            status,
            headers,
            body,
            info: CallInfo {
                model_group: String::new(),
                deployment_id: String::new(),
                api_base: String::new(),
                provider: provider.to_owned(),
                upstream: std::time::Duration::ZERO,
                attempts: crate::Attempts::default(),
            },
        })
    }
}

/// State of a tapped body; reports usage when the body ends or is dropped (a client that
/// hangs up still consumed what was generated so far).
struct Tap {
    body: BoxStream<'static, Result<Bytes, GatewayError>>,
    scanner: Option<UsageScanner>,
    sink: Option<Box<dyn FnOnce(Option<Usage>) + Send>>,
}

impl Tap {
    fn report(&mut self) {
        if let (Some(scanner), Some(sink)) = (self.scanner.take(), self.sink.take()) {
            sink(scanner.finish());
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.report();
    }
}

/// `body` unchanged, its usage read on the way and handed to `sink` once.
pub(crate) fn tap(
    body: BoxStream<'static, Result<Bytes, GatewayError>>,
    scanner: UsageScanner,
    sink: Box<dyn FnOnce(Option<Usage>) + Send>,
) -> BoxStream<'static, Result<Bytes, GatewayError>> {
    let state = Tap {
        body,
        scanner: Some(scanner),
        sink: Some(sink),
    };
    futures::stream::unfold(state, |mut s| async move {
        match s.body.next().await {
            Some(Ok(bytes)) => {
                if let Some(scanner) = &mut s.scanner {
                    scanner.feed(&bytes);
                }
                Some((Ok(bytes), s))
            }
            Some(Err(e)) => {
                s.report();
                Some((Err(e), s))
            }
            None => {
                s.report();
                None
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tap_reports_once_even_when_dropped_early() {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = Arc::clone(&seen);
        let chunks: Vec<Result<Bytes, GatewayError>> = vec![
            Ok(Bytes::from_static(
                b"data: {\"usage\":{\"input_tokens\":2}}\n\n",
            )),
            Ok(Bytes::from_static(
                b"data: {\"usage\":{\"output_tokens\":5}}\n\n",
            )),
        ];
        let mut body = tap(
            futures::stream::iter(chunks).boxed(),
            UsageScanner::new(true),
            Box::new(move |u| s2.lock().unwrap().push(u)),
        );
        let first = body.next().await;
        assert!(first.is_some());
        drop(body);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].as_ref().unwrap().prompt_tokens, 2);
    }
}
