//! Provider pass-through (`/anthropic/*`, `/openai/*`, ...) and the native `/v1/responses`
//! pass-through: the client's request goes to the provider's own API with the gateway's
//! credential, and the answer comes back untouched while its usage is read on the way.
//!
//! Credentials come from the first deployment of that provider with
//! `litellm_params.use_in_pass_through: true`, else from the provider's environment variables
//! (LiteLLM's rule).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tollgate_core::{GatewayError, ModelRef, Provider, Usage};
use tollgate_providers::bedrock::EventStreamFramer;
use tollgate_providers::operations::PassthroughCall;
use tollgate_providers::sse::SseDecoder;
use tollgate_providers::{Adapter, ProviderParams, UpstreamRequest};

use crate::{CallContext, CallInfo, DEFAULT_TIMEOUT, Router, Target, info};

/// Largest non-SSE body scanned for usage; larger bodies are forwarded without it.
const MAX_SCANNED: usize = 8 << 20;

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
            },
            ..reply
        })
    }

    /// `/v1/responses` straight to the provider when the model resolves to an OpenAI or Azure
    /// OpenAI deployment: the client's bytes with only `model` swapped, the answer untouched.
    /// `None` when the deployment needs the chat bridge.
    pub async fn responses_native(
        &self,
        body: &Bytes,
        model: &str,
        ctx: &CallContext,
        on_usage: UsageSink,
    ) -> Result<Option<PassthroughReply>, GatewayError> {
        let target: Target<'_> = self.resolve(model, "/responses")?;
        let Some(request) = target.adapter.responses_request(body)? else {
            return Ok(None);
        };
        let timeout = ctx
            .stream_timeout
            .or(ctx.timeout)
            .or(target.deployment.timeout)
            .or(self.inner.timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let started = Instant::now();
        let reply = self
            .forward(&target.adapter, request, timeout, on_usage)
            .await?;
        Ok(Some(PassthroughReply {
            info: info(&target, started.elapsed()),
            ..reply
        }))
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
            },
        })
    }
}

/// Reads usage from a body as it passes: every SSE event or AWS event-stream message (the
/// largest count seen wins, since providers report running totals), or a whole JSON body at
/// the end.
#[derive(Debug)]
pub struct UsageScanner {
    mode: ScanMode,
    usage: Option<Usage>,
}

#[derive(Debug)]
enum ScanMode {
    Sse(SseDecoder),
    /// Bedrock's binary event stream; `None` once it turned out corrupt.
    EventStream(Option<EventStreamFramer>),
    Json {
        buf: BytesMut,
        overflow: bool,
    },
}

impl UsageScanner {
    /// A scanner for an SSE body (`true`) or a JSON one.
    pub fn new(sse: bool) -> Self {
        let mode = if sse {
            ScanMode::Sse(SseDecoder::new())
        } else {
            ScanMode::Json {
                buf: BytesMut::new(),
                overflow: false,
            }
        };
        Self { mode, usage: None }
    }

    /// The scanner for a body of this content type.
    pub fn for_content_type(content_type: Option<&str>) -> Self {
        let ct = content_type.unwrap_or_default().to_ascii_lowercase();
        if ct.starts_with("application/vnd.amazon.eventstream") {
            Self {
                mode: ScanMode::EventStream(Some(EventStreamFramer::new())),
                usage: None,
            }
        } else {
            Self::new(ct.starts_with("text/event-stream"))
        }
    }

    /// Feeds the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        match &mut self.mode {
            ScanMode::Sse(decoder) => {
                for ev in decoder.feed(bytes) {
                    if let Ok(v) = serde_json::from_slice::<Value>(&ev.data) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
            ScanMode::EventStream(framer) => {
                let Some(f) = framer else { return };
                f.push(bytes);
                loop {
                    match f.next_frame() {
                        Ok(Some(frame)) => {
                            if let Ok(v) = serde_json::from_slice::<Value>(&frame.payload) {
                                merge(&mut self.usage, usage_from_json(&v));
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            // The client gets the bytes regardless; only usage is lost.
                            *framer = None;
                            break;
                        }
                    }
                }
            }
            ScanMode::Json { buf, overflow } => {
                if *overflow {
                } else if buf.len() + bytes.len() > MAX_SCANNED {
                    *overflow = true;
                    *buf = BytesMut::new();
                } else {
                    buf.extend_from_slice(bytes);
                }
            }
        }
    }

    /// The usage found, once the body ended.
    pub fn finish(mut self) -> Option<Usage> {
        match &mut self.mode {
            ScanMode::Sse(decoder) => {
                if let Some(ev) = decoder.finish() {
                    if let Ok(v) = serde_json::from_slice::<Value>(&ev.data) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
            ScanMode::EventStream(_) => {}
            ScanMode::Json { buf, overflow } => {
                if !*overflow {
                    if let Ok(v) = serde_json::from_slice::<Value>(buf) {
                        merge(&mut self.usage, usage_from_json(&v));
                    }
                }
            }
        }
        self.usage
    }
}

/// Keeps the larger of each count: streams report running totals, and Anthropic splits input
/// (`message_start`) from output (`message_delta`).
fn merge(into: &mut Option<Usage>, next: Option<Usage>) {
    let Some(next) = next else { return };
    match into {
        None => *into = Some(next),
        Some(u) => {
            u.prompt_tokens = u.prompt_tokens.max(next.prompt_tokens);
            u.completion_tokens = u.completion_tokens.max(next.completion_tokens);
            u.total_tokens = u
                .total_tokens
                .max(next.total_tokens)
                .max(u.prompt_tokens + u.completion_tokens);
            if next.prompt_tokens_details.is_some() {
                u.prompt_tokens_details = next.prompt_tokens_details;
            }
            if next.completion_tokens_details.is_some() {
                u.completion_tokens_details = next.completion_tokens_details;
            }
        }
    }
}

/// The usage in a provider response or stream event, whatever the provider's naming:
/// OpenAI (`usage.prompt_tokens`), Anthropic and Responses (`input_tokens`, also under
/// `message.usage` / `response.usage`), Gemini (`usageMetadata`), Bedrock (`inputTokens`),
/// Cohere (`usage.tokens`, `meta.billed_units`).
pub fn usage_from_json(v: &Value) -> Option<Usage> {
    [
        v.get("usage"),
        v.get("usageMetadata"),
        v.pointer("/message/usage"),
        v.pointer("/response/usage"),
        v.pointer("/meta/billed_units"),
        v.get("amazon-bedrock-invocationMetrics"),
    ]
    .into_iter()
    .flatten()
    .find_map(usage_fields)
}

fn usage_fields(u: &Value) -> Option<Usage> {
    let src = u
        .get("tokens")
        .or_else(|| u.get("billed_units"))
        .unwrap_or(u);
    if src.get("prompt_tokens").is_some() {
        return serde_json::from_value(src.clone()).ok();
    }
    let n = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| src.get(*k).and_then(Value::as_u64))
    };
    let prompt = n(&[
        "input_tokens",
        "inputTokens",
        "promptTokenCount",
        "inputTokenCount",
    ]);
    let completion = n(&[
        "output_tokens",
        "outputTokens",
        "candidatesTokenCount",
        "outputTokenCount",
    ]);
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    // Anthropic counts cached input apart from `input_tokens`; OpenAI's prompt includes it.
    let cache_read = n(&["cache_read_input_tokens", "cacheReadInputTokens"]).unwrap_or(0);
    let cache_write = n(&["cache_creation_input_tokens", "cacheWriteInputTokens"]).unwrap_or(0);
    let prompt = prompt.unwrap_or(0) + cache_read + cache_write;
    let completion = completion.unwrap_or(0);
    let mut usage = Usage::new(prompt, completion);
    if let Some(total) = n(&["total_tokens", "totalTokens", "totalTokenCount"]) {
        usage.total_tokens = usage.total_tokens.max(total);
    }
    if cache_read > 0 {
        usage.prompt_tokens_details = Some(tollgate_core::usage::PromptTokensDetails {
            cached_tokens: Some(cache_read),
            ..Default::default()
        });
    }
    Some(usage)
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

    fn scan(sse: bool, body: &[u8], split: usize) -> Option<Usage> {
        let mut s = UsageScanner::new(sse);
        for chunk in body.chunks(split.max(1)) {
            s.feed(chunk);
        }
        s.finish()
    }

    #[test]
    fn anthropic_stream_usage_is_read_at_every_split() {
        let body = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n";
        for split in 1..body.len() {
            let u = scan(true, body, split).unwrap();
            assert_eq!(
                (u.prompt_tokens, u.completion_tokens, u.total_tokens),
                (15, 9, 24)
            );
            assert_eq!(u.cached_tokens(), 3);
        }
    }

    #[test]
    fn json_bodies_of_each_provider() {
        let openai = br#"{"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        assert_eq!(scan(false, openai, 3).unwrap().total_tokens, 7);
        let gemini = br#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6,"totalTokenCount":10}}"#;
        assert_eq!(scan(false, gemini, 5).unwrap().completion_tokens, 6);
        let bedrock = br#"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#;
        assert_eq!(scan(false, bedrock, 64).unwrap().prompt_tokens, 1);
        let cohere = br#"{"usage":{"billed_units":{"input_tokens":8,"output_tokens":1},"tokens":{"input_tokens":70,"output_tokens":1}}}"#;
        assert_eq!(scan(false, cohere, 64).unwrap().prompt_tokens, 70);
        assert_eq!(scan(false, b"{\"data\":[]}", 4), None);
        assert_eq!(scan(false, b"not json", 4), None);
    }

    #[test]
    fn openai_and_responses_streams() {
        let chat = b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n";
        assert_eq!(scan(true, chat, 7).unwrap().total_tokens, 4);
        let responses = b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":2,\"total_tokens\":11}}}\n\n";
        assert_eq!(scan(true, responses, 10).unwrap().total_tokens, 11);
    }

    #[test]
    fn bedrock_event_streams_are_read_at_every_split() {
        let Some(dir) = std::env::var_os("TOLLGATE_FIXTURES")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/fixtures")
                    .canonicalize()
                    .ok()
            })
        else {
            eprintln!("skipping: recorded fixtures not found");
            return;
        };
        let Ok(b64) = std::fs::read_to_string(dir.join("bedrock/converse_stream.b64")) else {
            eprintln!("skipping: bedrock/converse_stream.b64 not found");
            return;
        };
        let decoded = {
            use base64::Engine;
            let text: String = b64.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap()
        };
        let whole = {
            let mut s = UsageScanner::for_content_type(Some("application/vnd.amazon.eventstream"));
            s.feed(&decoded);
            s.finish().unwrap()
        };
        assert!(whole.prompt_tokens > 0 && whole.completion_tokens > 0);
        for split in [1, 7, 64, 333] {
            let mut s = UsageScanner::for_content_type(Some("application/vnd.amazon.eventstream"));
            for c in decoded.chunks(split) {
                s.feed(c);
            }
            assert_eq!(s.finish().unwrap(), whole);
        }
        let metrics = br#"{"bytes":"","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":3}}"#;
        let u = usage_from_json(&serde_json::from_slice(metrics).unwrap()).unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 3));
    }

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
