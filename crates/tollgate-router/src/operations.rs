//! The OpenAI routes beyond chat and embeddings, routed by model like chat: legacy text
//! completions (forwarded to OpenAI-format providers, bridged through chat for the others),
//! images, audio transcription and speech, moderations and Cohere-style rerank.
//!
//! Every answer reports what pricing needs ([`OperationUsage`]): tokens where the provider
//! returns them, else the unit the operation is priced by (images, characters, search units,
//! audio seconds).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::HeaderValue;
use serde_json::{Map, Value, json};
use tollgate_core::{ChatCompletionRequest, ChatCompletionResponse, GatewayError, ModelRef, Usage};
use tollgate_providers::json_splice::replace_top_level_string;
use tollgate_providers::operations::{Operation, OperationBody};
use tollgate_providers::sse::SseDecoder;
use tollgate_providers::{Adapter, ProviderParams, UpstreamRequest};

use crate::passthrough::{UsageScanner, UsageSink, usage_from_json};
use crate::{
    CallContext, CallInfo, Pick, RequestOptions, Router, RouterError, Target, error_frame,
};

/// The model `/v1/moderations` uses when the request names none (OpenAI's default).
pub const DEFAULT_MODERATION_MODEL: &str = "omni-moderation-latest";

/// What an operation consumed, in the units it is priced by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationUsage {
    /// Tokens, when the provider reported them.
    pub tokens: Option<Usage>,
    /// Images generated.
    pub images: Option<u64>,
    /// Characters of text turned into speech.
    pub characters: Option<u64>,
    /// Cohere search units (rerank).
    pub search_units: Option<u64>,
    /// Seconds of audio transcribed, when the response says.
    pub audio_seconds: Option<f64>,
}

impl OperationUsage {
    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What the operation's answer is made of.
pub enum OperationBodyOut {
    /// A complete body.
    Full(Bytes),
    /// A body still arriving (speech audio, streamed completions); usage is reported through
    /// the [`UsageSink`] given to the call once it ends.
    Stream(BoxStream<'static, Result<Bytes, GatewayError>>),
}

impl std::fmt::Debug for OperationBodyOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(b) => f.debug_tuple("Full").field(&b.len()).finish(),
            Self::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// An operation's answer for the client.
#[derive(Debug)]
pub struct OperationOutput {
    pub body: OperationBodyOut,
    pub content_type: HeaderValue,
    /// Usage of a complete body (streams report theirs through the sink).
    pub usage: OperationUsage,
    pub info: CallInfo,
}

/// One attempt's answer, before usage is measured and the model name swapped.
enum Answer {
    /// The whole body.
    Full(Bytes, HeaderValue),
    /// A body whose first chunk has arrived, so a failure before it could still be retried.
    Stream(BoxStream<'static, Result<Bytes, GatewayError>>, HeaderValue),
    /// The deployment reached serves completions through chat only; `Some` names the
    /// fallback group it belongs to.
    Bridge(Option<String>),
}

impl Router {
    /// Runs `op` for the model the body names, through the routing loop (retries, fallbacks,
    /// cooldowns). `on_stream_usage` receives the usage of a streamed answer when it ends; a
    /// complete answer carries its usage in the output.
    pub async fn operation(
        &self,
        op: Operation,
        mut body: OperationBody,
        ctx: &CallContext,
        on_stream_usage: UsageSink,
    ) -> Result<OperationOutput, RouterError> {
        let opts = match &mut body {
            OperationBody::Json(map) => {
                let mut metadata = match map.remove("metadata") {
                    Some(Value::Object(m)) => Some(m),
                    _ => None,
                };
                RequestOptions::take(map, &mut metadata)?
            }
            OperationBody::Multipart(_) => RequestOptions::default(),
        };
        let client_model = body.model().map(str::to_owned);
        let Some(client_model) = client_model else {
            if op == Operation::Moderations {
                return Ok(self.default_moderation(body, ctx, &opts).await?);
            }
            return Err(GatewayError::invalid_request(
                "Missing required parameter: 'model'",
                Some("model".into()),
            )
            .into());
        };
        let streamed = op == Operation::AudioSpeech
            || matches!(&body, OperationBody::Json(m) if m.get("stream") == Some(&Value::Bool(true)));
        let ctx = self.effective_context(ctx, &opts, streamed);
        let first_group = self.candidates(&client_model, op.route())?.group;
        if let Some(provider) = self.unsupported_everywhere(&client_model, op)? {
            if op == Operation::Completions {
                return self
                    .completions_via_chat(
                        body,
                        &client_model,
                        &client_model,
                        &ctx,
                        &opts,
                        on_stream_usage,
                    )
                    .await;
            }
            return Err(op.unsupported(provider).into());
        }
        let (body_ref, first_group) = (&body, &first_group);
        let routed = self
            .route(&client_model, &ctx, |pick: Pick<'_>| async move {
                let target = pick.target;
                if !target.adapter.supports_operation(op) {
                    if op == Operation::Completions {
                        // A group reached by a fallback is bridged under its own name, so the
                        // chat call does not try the failing group again.
                        let moved = (target.group != *first_group).then(|| target.group.clone());
                        return Ok(Answer::Bridge(moved));
                    }
                    return Err(op.unsupported(target.adapter.provider_name()));
                }
                let mut body = body_ref.clone();
                body.set_model(target.adapter.upstream_model());
                let request = target.adapter.operation_request(op, &body)?;
                self.operation_attempt(&target, request, pick.timeout, streamed)
                    .await
            })
            .await?;
        let info = routed.info;
        let (bytes, content_type) = match routed.value {
            Answer::Bridge(moved) => {
                let chat_model = moved.unwrap_or_else(|| client_model.clone());
                let mut out = self
                    .completions_via_chat(
                        body,
                        &client_model,
                        &chat_model,
                        &ctx,
                        &opts,
                        on_stream_usage,
                    )
                    .await
                    .map_err(|mut e| {
                        e.attempts.attempted_fallbacks = e
                            .attempts
                            .attempted_fallbacks
                            .max(info.attempts.attempted_fallbacks);
                        e
                    })?;
                let fallbacks = &mut out.info.attempts.attempted_fallbacks;
                *fallbacks = (*fallbacks).max(info.attempts.attempted_fallbacks);
                return Ok(out);
            }
            Answer::Stream(stream, content_type) => {
                let out = if op == Operation::AudioSpeech {
                    // Speech is priced per input character, known before a byte of audio.
                    on_stream_usage(OperationUsage {
                        characters: input_chars(&body),
                        ..OperationUsage::default()
                    });
                    stream
                } else {
                    let scanner = UsageScanner::new(true);
                    let renamed = rename_model_in_sse(stream, client_model.clone());
                    crate::passthrough::tap(
                        renamed,
                        scanner,
                        Box::new(move |u: Option<Usage>| {
                            on_stream_usage(OperationUsage {
                                tokens: u,
                                ..OperationUsage::default()
                            });
                        }),
                    )
                };
                return Ok(OperationOutput {
                    body: OperationBodyOut::Stream(out),
                    content_type,
                    usage: OperationUsage::default(),
                    info,
                });
            }
            Answer::Full(bytes, content_type) => (bytes, content_type),
        };
        let is_json = content_type.to_str().is_ok_and(|c| c.contains("json"));
        let (bytes, usage) = if is_json {
            let usage = measure(op, &body, &bytes);
            // The client sees the name it asked for, as on chat.
            let bytes = replace_top_level_string(&bytes, "model", &client_model).unwrap_or(bytes);
            (bytes, usage)
        } else {
            (bytes, OperationUsage::default())
        };
        Ok(OperationOutput {
            body: OperationBodyOut::Full(bytes),
            content_type,
            usage,
            info,
        })
    }

    /// The provider of `requested`'s deployments when none of them supports `op`, decided
    /// before any call (cooldowns do not matter here), so the request is refused or bridged
    /// without counting against a deployment.
    fn unsupported_everywhere(
        &self,
        requested: &str,
        op: Operation,
    ) -> Result<Option<&'static str>, GatewayError> {
        let adapters = self.member_adapters(requested, op.route())?;
        if adapters.iter().any(|a| a.supports_operation(op)) {
            return Ok(None);
        }
        Ok(adapters.first().map(Adapter::provider_name))
    }

    /// The adapters of the deployments `requested` may be served by, cooling or not (those
    /// whose adapter cannot be built are left out: the routed call reports their error).
    pub(crate) fn member_adapters(
        &self,
        requested: &str,
        route: &str,
    ) -> Result<Vec<Adapter>, GatewayError> {
        let cands = self.candidates(requested, route)?;
        Ok(cands
            .members
            .iter()
            .filter_map(|(i, upstream)| {
                self.target(
                    &self.inner.deployments[*i],
                    upstream.as_deref(),
                    cands.group.clone(),
                )
                .ok()
                .map(|t| t.adapter)
            })
            .collect())
    }

    /// One upstream call of an operation. A streamed answer is returned once its first chunk
    /// arrived: until then nothing reached the client, so a failure may still fall back.
    async fn operation_attempt(
        &self,
        target: &Target<'_>,
        request: UpstreamRequest,
        timeout: Duration,
        streamed: bool,
    ) -> Result<Answer, GatewayError> {
        let provider = target.adapter.provider_name();
        let deadline = Instant::now() + timeout;
        let response = self.send_to(target, request, timeout).await?;
        let status = response.status.as_u16();
        let headers = response.headers.clone();
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("application/json"));
        if !(200..300).contains(&status) {
            let body = response.bytes(remaining(deadline), provider).await?;
            return Err(target.adapter.parse_error(status, &headers, &body));
        }
        if !streamed {
            let bytes = response.bytes(remaining(deadline), provider).await?;
            return Ok(Answer::Full(bytes, content_type));
        }
        let mut body = response.into_stream(provider).boxed();
        let first = loop {
            match tokio::time::timeout(remaining(deadline), body.next()).await {
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
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(bytes))) if bytes.is_empty() => {}
                Ok(Some(Ok(bytes))) => break bytes,
            }
        };
        let stream = futures::stream::once(async move { Ok(first) })
            .chain(body)
            .boxed();
        Ok(Answer::Stream(stream, content_type))
    }

    /// `/v1/moderations` without a model goes to OpenAI's default moderation model with the
    /// key from the environment, as LiteLLM does.
    async fn default_moderation(
        &self,
        mut body: OperationBody,
        ctx: &CallContext,
        opts: &RequestOptions,
    ) -> Result<OperationOutput, GatewayError> {
        let model = ModelRef::parse(&format!("openai/{DEFAULT_MODERATION_MODEL}"), None)?;
        let adapter = Adapter::new(&model, &ProviderParams::default(), &self.inner.env)?;
        body.set_model(DEFAULT_MODERATION_MODEL);
        let request = adapter.operation_request(Operation::Moderations, &body)?;
        let timeout = opts
            .timeout
            .or(ctx.timeout)
            .or(self.inner.timeout)
            .unwrap_or(crate::DEFAULT_TIMEOUT);
        let provider = adapter.provider_name();
        let started = Instant::now();
        let response = self.inner.http.send(request, timeout, provider).await?;
        let status = response.status.as_u16();
        let headers = response.headers.clone();
        let bytes = response.bytes(timeout, provider).await?;
        if !(200..300).contains(&status) {
            return Err(adapter.parse_error(status, &headers, &bytes));
        }
        Ok(OperationOutput {
            usage: measure(Operation::Moderations, &body, &bytes),
            body: OperationBodyOut::Full(bytes),
            content_type: HeaderValue::from_static("application/json"),
            info: CallInfo {
                model_group: DEFAULT_MODERATION_MODEL.to_owned(),
                deployment_id: String::new(),
                api_base: adapter.api_base().to_owned(),
                provider: provider.to_owned(),
                upstream: started.elapsed(),
                attempts: crate::Attempts::default(),
            },
        })
    }

    /// Legacy completions for a provider that only has chat: each prompt becomes one user
    /// message, and the chat answer is reshaped as a `text_completion`.
    async fn completions_via_chat(
        &self,
        body: OperationBody,
        client_model: &str,
        chat_model: &str,
        ctx: &CallContext,
        opts: &RequestOptions,
        on_stream_usage: UsageSink,
    ) -> Result<OperationOutput, RouterError> {
        let OperationBody::Json(map) = body else {
            return Err(
                GatewayError::invalid_request("/v1/completions takes a JSON body", None).into(),
            );
        };
        let prompts = prompts(&map)?;
        // The gateway fields were taken off the body already; the chat call gets them back.
        let drop = self.inner.drop_params || opts.drop_params;
        let stream = map.get("stream") == Some(&Value::Bool(true));
        if stream && prompts.len() != 1 {
            return Err(GatewayError::invalid_request(
                "stream=true takes a single prompt when the model is served through chat",
                Some("prompt".into()),
            )
            .into());
        }
        let mut chats = Vec::with_capacity(prompts.len());
        for prompt in &prompts {
            let mut chat = chat_for_prompt(&map, chat_model, prompt, drop)?;
            if let Some(t) = opts.timeout {
                chat.extra.insert("timeout".into(), json!(t.as_secs_f64()));
            }
            if opts.drop_params {
                chat.extra.insert("drop_params".into(), Value::Bool(true));
            }
            chats.push(chat);
        }
        if stream {
            let Some(chat) = chats.pop() else {
                return Err(GatewayError::invalid_request(
                    "'prompt' is empty",
                    Some("prompt".into()),
                )
                .into());
            };
            let stream = self.chat_stream(chat, ctx).await?;
            let info = stream.info.clone();
            let model = client_model.to_owned();
            let mut last_usage: Option<Usage> = None;
            let mut sink = Some(on_stream_usage);
            let frames = stream
                .into_chunks()
                .map(Some)
                .chain(futures::stream::once(async { None }))
                .map(move |item| {
                    let frame = match item {
                        Some(Ok(chunk)) => {
                            if let Some(u) = chunk.usage() {
                                last_usage = Some(u.clone());
                            }
                            text_chunk_frame(&chunk, &model)
                        }
                        Some(Err(e)) => error_frame(&e),
                        None => {
                            if let Some(sink) = sink.take() {
                                sink(OperationUsage {
                                    tokens: last_usage.take(),
                                    ..OperationUsage::default()
                                });
                            }
                            Bytes::from_static(b"data: [DONE]\n\n")
                        }
                    };
                    Ok(frame)
                });
            return Ok(OperationOutput {
                body: OperationBodyOut::Stream(frames.boxed()),
                content_type: HeaderValue::from_static("text/event-stream; charset=utf-8"),
                usage: OperationUsage::default(),
                info,
            });
        }
        let answers =
            futures::future::join_all(chats.into_iter().map(|c| self.chat_bytes(c, ctx))).await;
        let mut choices = Vec::new();
        let mut usage: Option<Usage> = None;
        let mut first: Option<(ChatCompletionResponse, CallInfo)> = None;
        for (i, answer) in answers.into_iter().enumerate() {
            let out = answer?;
            let response: ChatCompletionResponse =
                serde_json::from_slice(&out.body).map_err(|e| {
                    GatewayError::InvalidUpstreamResponse {
                        provider: out.info.provider.clone(),
                        message: e.to_string(),
                    }
                })?;
            let n = response.choices.len().max(1);
            for c in &response.choices {
                choices.push(json!({
                    "text": c.message.text_content().unwrap_or_default(),
                    "index": i * n + c.index as usize,
                    "logprobs": null,
                    "finish_reason": c.finish_reason.as_ref().map(|f| f.as_str().to_owned()),
                }));
            }
            if let Some(u) = &response.usage {
                let sum = usage.get_or_insert_with(Usage::default);
                sum.prompt_tokens = sum.prompt_tokens.saturating_add(u.prompt_tokens);
                sum.completion_tokens = sum.completion_tokens.saturating_add(u.completion_tokens);
                sum.total_tokens = sum.total_tokens.saturating_add(u.total_tokens);
            }
            if first.is_none() {
                first = Some((response, out.info));
            }
        }
        let Some((head, info)) = first else {
            return Err(
                GatewayError::invalid_request("'prompt' is empty", Some("prompt".into())).into(),
            );
        };
        let mut out = json!({
            "id": completion_id(&head.id),
            "object": "text_completion",
            "created": head.created,
            "model": client_model,
            "choices": choices,
        });
        if let (Some(u), Some(o)) = (&usage, out.as_object_mut()) {
            o.insert(
                "usage".into(),
                serde_json::to_value(u).unwrap_or(Value::Null),
            );
        }
        let bytes = serde_json::to_vec(&out).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok(OperationOutput {
            body: OperationBodyOut::Full(Bytes::from(bytes)),
            content_type: HeaderValue::from_static("application/json"),
            usage: OperationUsage {
                tokens: usage,
                ..OperationUsage::default()
            },
            info,
        })
    }
}

/// An OpenAI-format SSE body with each event's top-level `model` set to the name the client
/// asked for, as chat streams do; events are re-framed as `data: ...\n\n`.
fn rename_model_in_sse(
    body: BoxStream<'static, Result<Bytes, GatewayError>>,
    model: String,
) -> BoxStream<'static, Result<Bytes, GatewayError>> {
    let mut decoder = SseDecoder::new();
    body.map(Some)
        .chain(futures::stream::once(async { None }))
        .map(move |item| {
            let events = match item {
                Some(Ok(bytes)) => decoder.feed(&bytes),
                Some(Err(e)) => return Err(e),
                None => decoder.finish().into_iter().collect(),
            };
            let mut out = Vec::new();
            for ev in events {
                if let Some(name) = &ev.event {
                    out.extend_from_slice(b"event: ");
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'\n');
                }
                let data = replace_top_level_string(&ev.data, "model", &model).unwrap_or(ev.data);
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\n\n");
            }
            Ok(Bytes::from(out))
        })
        .boxed()
}

fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// `cmpl-...` for a chat id `chatcmpl-...`.
fn completion_id(chat_id: &str) -> String {
    match chat_id.strip_prefix("chatcmpl-") {
        Some(rest) => format!("cmpl-{rest}"),
        None => chat_id.to_owned(),
    }
}

/// The prompts of a completions request: a string or a list of strings. Token-id prompts
/// cannot be turned into chat messages.
fn prompts(map: &Map<String, Value>) -> Result<Vec<String>, GatewayError> {
    let bad = || {
        GatewayError::invalid_request(
            "'prompt' must be a string or a list of strings when the model is served through chat (token-id prompts need an OpenAI-format provider)",
            Some("prompt".into()),
        )
    };
    match map.get("prompt") {
        None | Some(Value::Null) => Err(GatewayError::invalid_request(
            "Missing required parameter: 'prompt'",
            Some("prompt".into()),
        )),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Completion parameters chat has too, passed on under the same name.
const SHARED_PARAMS: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
    "logit_bias",
    "stream",
    "stream_options",
];

/// Completion parameters chat cannot express.
const COMPLETION_ONLY: &[&str] = &["suffix", "echo", "best_of", "logprobs"];

fn chat_for_prompt(
    map: &Map<String, Value>,
    model: &str,
    prompt: &str,
    drop: bool,
) -> Result<ChatCompletionRequest, GatewayError> {
    if !drop {
        let refused = COMPLETION_ONLY.iter().find(|k| {
            map.get(**k)
                .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
        });
        if let Some(param) = refused {
            return Err(GatewayError::UnsupportedParams {
                provider: "chat-only provider".into(),
                model: model.to_owned(),
                param: (*param).to_owned(),
            });
        }
    }
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.to_owned()));
    chat.insert(
        "messages".into(),
        json!([{"role": "user", "content": prompt}]),
    );
    for k in SHARED_PARAMS {
        if let Some(v) = map.get(*k).filter(|v| !v.is_null()) {
            chat.insert((*k).to_owned(), v.clone());
        }
    }
    serde_json::from_value(Value::Object(chat))
        .map_err(|e| GatewayError::invalid_request(e.to_string(), None))
}

/// One `text_completion` stream frame for a chat chunk.
fn text_chunk_frame(chunk: &tollgate_core::ChatCompletionChunk, model: &str) -> Bytes {
    let choices: Vec<Value> = chunk
        .choices
        .iter()
        .map(|c| {
            json!({
                "text": c.delta.content.clone().unwrap_or_default(),
                "index": c.index,
                "logprobs": null,
                "finish_reason": c.finish_reason.as_ref().map(|f| f.as_str().to_owned()),
            })
        })
        .collect();
    let mut v = json!({
        "id": completion_id(&chunk.id),
        "object": "text_completion",
        "created": chunk.created,
        "model": model,
        "choices": choices,
    });
    if let (Some(u), Some(o)) = (chunk.usage(), v.as_object_mut()) {
        o.insert(
            "usage".into(),
            serde_json::to_value(u).unwrap_or(Value::Null),
        );
    }
    let mut out = b"data: ".to_vec();
    out.extend(serde_json::to_vec(&v).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The characters of a speech request's `input`, what speech is priced by.
fn input_chars(body: &OperationBody) -> Option<u64> {
    match body {
        OperationBody::Json(m) => m
            .get("input")
            .and_then(Value::as_str)
            .map(|s| s.chars().count() as u64),
        OperationBody::Multipart(_) => None,
    }
}

/// The usage of a complete JSON answer, in the operation's units.
fn measure(op: Operation, body: &OperationBody, bytes: &[u8]) -> OperationUsage {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let mut usage = OperationUsage {
        tokens: usage_from_json(&v),
        ..OperationUsage::default()
    };
    match op {
        Operation::ImageGenerations => {
            usage.images = v
                .get("data")
                .and_then(Value::as_array)
                .map(|d| d.len() as u64);
        }
        Operation::Rerank => {
            usage.tokens = None;
            usage.search_units = v
                .pointer("/meta/billed_units/search_units")
                .and_then(Value::as_u64);
        }
        Operation::AudioTranscriptions => {
            // `verbose_json` answers carry `duration`; plain `json` answers of duration-billed
            // models carry `usage: {"type": "duration", "seconds": N}`.
            usage.audio_seconds = v.get("duration").and_then(Value::as_f64).or_else(|| {
                v.get("usage")
                    .filter(|u| u.get("type").and_then(Value::as_str) == Some("duration"))
                    .and_then(|u| u.get("seconds"))
                    .and_then(Value::as_f64)
            });
        }
        Operation::AudioSpeech => usage.characters = input_chars(body),
        Operation::Completions | Operation::Moderations => {}
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_accept_strings_and_refuse_token_ids() {
        let m = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(prompts(&m(json!({"prompt": "hi"}))).unwrap(), ["hi"]);
        assert_eq!(
            prompts(&m(json!({"prompt": ["a", "b"]}))).unwrap(),
            ["a", "b"]
        );
        assert!(prompts(&m(json!({"prompt": [1, 2]}))).is_err());
        assert!(prompts(&m(json!({}))).is_err());
    }

    #[test]
    fn completion_params_map_to_chat_or_are_refused() {
        let m = json!({"prompt": "x", "max_tokens": 5, "stop": ["\n"], "echo": true})
            .as_object()
            .cloned()
            .unwrap();
        assert!(matches!(
            chat_for_prompt(&m, "claude", "x", false),
            Err(GatewayError::UnsupportedParams { .. })
        ));
        let chat = chat_for_prompt(&m, "claude", "x", true).unwrap();
        assert_eq!(chat.max_tokens, Some(5));
        assert_eq!(chat.messages.len(), 1);
        assert!(chat.stop.is_some());
    }

    #[test]
    fn units_are_measured_per_operation() {
        let body = OperationBody::Json(json!({"input": "héllo"}).as_object().cloned().unwrap());
        let images = measure(Operation::ImageGenerations, &body, br#"{"data":[{},{}]}"#);
        assert_eq!(images.images, Some(2));
        let rerank = measure(
            Operation::Rerank,
            &body,
            br#"{"results":[],"meta":{"billed_units":{"search_units":1}}}"#,
        );
        assert_eq!(rerank.search_units, Some(1));
        let heard = measure(
            Operation::AudioTranscriptions,
            &body,
            br#"{"text":"hi","usage":{"type":"duration","seconds":3}}"#,
        );
        assert_eq!(heard.audio_seconds, Some(3.0));
        let heard = measure(
            Operation::AudioTranscriptions,
            &body,
            br#"{"text":"hi","duration":2.5}"#,
        );
        assert_eq!(heard.audio_seconds, Some(2.5));
        let speech = measure(Operation::AudioSpeech, &body, b"{}");
        assert_eq!(speech.characters, Some(5));
        let text = measure(
            Operation::Completions,
            &body,
            br#"{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        );
        assert_eq!(text.tokens.unwrap().total_tokens, 7);
        assert_eq!(completion_id("chatcmpl-abc"), "cmpl-abc");
    }

    #[tokio::test]
    async fn streamed_completions_carry_the_client_model_at_every_split() {
        let sse = b"data: {\"id\":\"c\",\"model\":\"gpt-3.5-turbo-instruct\",\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n";
        for split in 1..sse.len() {
            let chunks: Vec<Result<Bytes, GatewayError>> = sse
                .chunks(split)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let out: Vec<Bytes> =
                rename_model_in_sse(futures::stream::iter(chunks).boxed(), "instruct".into())
                    .map(|r| r.unwrap())
                    .collect()
                    .await;
            let text: Vec<u8> = out.concat();
            assert_eq!(
                String::from_utf8(text).unwrap(),
                "data: {\"id\":\"c\",\"model\":\"instruct\",\"choices\":[{\"text\":\"a\"}]}\n\ndata: [DONE]\n\n"
            );
        }
    }
}
