//! Route handlers, one file per family of routes.

pub mod chat;
pub mod embeddings;
pub mod health;
pub mod management;
pub mod messages;
pub mod metrics;
pub mod models;
pub mod operations;
pub mod passthrough;
pub mod responses;
pub mod token_counter;
pub mod usage;

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tollgate_core::GatewayError;
use tollgate_router::{CallContext, CallInfo, ChatStream, RouterError, UsageCell};

use crate::accounting::{Admission, CallSpec, Outcome, Settled, Units};
use crate::auth::Identity;
use crate::error::ApiError;
use crate::headers;
use crate::metrics::CallMetrics;
use crate::state::AppState;

/// The response for a handler's result, with the headers every response carries.
pub(crate) fn finish(call_id: &str, result: Result<Response, GatewayError>) -> Response {
    let mut response = result.unwrap_or_else(|e| ApiError(e).into_response());
    headers::common(response.headers_mut(), call_id);
    response
}

/// A `200` JSON body from a deployment, with the call's headers.
pub(crate) fn json_from_call(body: Bytes, info: &CallInfo, started: Instant) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers::call(h, info, started.elapsed());
    response
}

/// The routed call's settings from LiteLLM's request headers: `x-litellm-timeout`,
/// `x-litellm-stream-timeout`, `x-litellm-num-retries`.
pub(crate) fn call_context(
    headers: &HeaderMap,
    route: &'static str,
) -> Result<CallContext, GatewayError> {
    let num_retries = match headers.get("x-litellm-num-retries") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    GatewayError::invalid_request(
                        "x-litellm-num-retries must be a non-negative integer",
                        Some("x-litellm-num-retries".into()),
                    )
                })?,
        ),
    };
    Ok(CallContext {
        timeout: timeout_header(headers, "x-litellm-timeout")?,
        stream_timeout: timeout_header(headers, "x-litellm-stream-timeout")?,
        route,
        num_retries,
        ..CallContext::default()
    })
}

/// A failed routed call: the error response plus the retry and fallback headers.
pub(crate) fn routed_error(e: RouterError) -> Response {
    let mut response = ApiError(e.error).into_response();
    headers::attempts(response.headers_mut(), &e.attempts);
    response
}

/// A `200` server-sent-events answer with the call's headers (no proxy buffering).
pub(crate) fn sse_response(body: Body, info: &CallInfo, started: Instant) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers::call(h, info, started.elapsed());
    response
}

/// A timeout header (`x-litellm-timeout`), in seconds.
pub(crate) fn timeout_header(
    headers: &HeaderMap,
    name: &str,
) -> Result<Option<Duration>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or_default();
    tollgate_router::seconds(&serde_json::Value::String(text.to_owned()), name).map(Some)
}

/// The call id: the client's own `x-litellm-call-id`, or a new UUID.
pub(crate) fn call_id(headers: &HeaderMap) -> String {
    headers
        .get("x-litellm-call-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Declared `content-length`, if any.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What a model route knows about a request as it goes, so that a request refused after its
/// key is known but before admission (a bad body, a bad header, a blocked or expired key)
/// still writes its one spend-log row; admission writes the rows from then on.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    identity: Option<Identity>,
    /// A key that exists but may not be used (blocked, expired).
    refused_key: Option<std::sync::Arc<tollgate_store::KeyRow>>,
    /// The model, when the route knows it apart from the body (`/engines/{model}/...`).
    pub(crate) model: Option<String>,
    /// The request body once read (a cheap handle; looked into only on refusal).
    pub(crate) body: Option<Bytes>,
    admitted: bool,
}

impl Attempt {
    /// Authenticates the request, remembering who it is (or which unusable key it presented).
    pub(crate) async fn authenticate(
        &mut self,
        state: &AppState,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Identity, GatewayError> {
        match state.auth.authenticate(headers, query).await {
            Ok(identity) => {
                if state.accounting.is_some() {
                    self.identity = Some(identity.clone());
                }
                Ok(identity)
            }
            Err(e) => {
                self.refused_key = state.auth.presented_row(headers, query);
                Err(e)
            }
        }
    }

    /// Authenticates the request and reads its body (at most `max_request_size_mb`). The body
    /// of a request refused for a blocked or expired key is read too, so its row names the
    /// model; a request with no known key is refused without reading it.
    pub(crate) async fn authenticate_and_read(
        &mut self,
        state: &AppState,
        parts: &http::request::Parts,
        body: Body,
    ) -> Result<(Identity, Bytes), GatewayError> {
        let identity = self
            .authenticate(state, &parts.headers, parts.uri.query())
            .await;
        if identity.is_err() && self.refused_key.is_none() {
            return identity.map(|i| (i, Bytes::new()));
        }
        let bytes =
            crate::body::read_limited(body, content_length(&parts.headers), state.max_body).await;
        if let Ok(b) = &bytes {
            self.body = Some(b.clone());
        }
        Ok((identity?, bytes?))
    }

    /// The response of a model route's `result`: an error before admission first writes its
    /// spend-log row ([`Attempt::refused`]); then the headers every response carries.
    pub(crate) fn finish(
        &self,
        state: &AppState,
        call_id: &str,
        call_type: &'static str,
        result: Result<Response, GatewayError>,
    ) -> Response {
        if let Err(e) = &result {
            self.refused(state, call_id, call_type, e);
        }
        finish(call_id, result)
    }

    /// Writes the spend-log row of a request that failed with `error` before admission (none
    /// when it was admitted, or presented no known key).
    pub(crate) fn refused(
        &self,
        state: &AppState,
        call_id: &str,
        call_type: &'static str,
        error: &GatewayError,
    ) {
        let Some(acc) = &state.accounting else { return };
        if self.admitted {
            return;
        }
        let model = self.model.clone().or_else(|| {
            #[derive(serde::Deserialize)]
            struct ModelOnly {
                model: Option<String>,
            }
            self.body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<ModelOnly>(b).ok())
                .and_then(|m| m.model)
        });
        let spec = CallSpec {
            call_id: call_id.to_owned(),
            call_type,
            model: model.unwrap_or_default(),
            ..CallSpec::default()
        };
        match (&self.identity, &self.refused_key) {
            (Some(identity), _) => acc.record_refused(identity, &spec, error),
            (None, Some(key)) => acc.record_refused_key(key, &spec, error),
            (None, None) => {
                tracing::debug!(
                    status = error.status(),
                    "request without a known key refused: no spend row"
                );
            }
        }
    }
}

/// Admits a model call when accounting is on: `Ok(None)` without a database, `Err` with the
/// finished refusal response (status, LiteLLM body, `retry-after`, `x-ratelimit-*`).
pub(crate) async fn admit(
    state: &AppState,
    attempt: &mut Attempt,
    identity: &Identity,
    spec: CallSpec,
) -> Result<Option<Admission>, Box<Response>> {
    admit_as(state, attempt, identity, spec, |e| {
        ApiError(e).into_response()
    })
    .await
}

/// [`admit`] for routes that answer in another API's error shape: `render` draws the refusal.
pub(crate) async fn admit_as(
    state: &AppState,
    attempt: &mut Attempt,
    identity: &Identity,
    spec: CallSpec,
    render: fn(GatewayError) -> Response,
) -> Result<Option<Admission>, Box<Response>> {
    let acc = state.accounting.as_deref();
    let mut measured = state.metrics.as_ref().map(|m| {
        let caller = m.caller(identity, acc, &spec);
        CallMetrics::start(Arc::clone(m), caller)
    });
    let Some(acc) = &state.accounting else {
        return Ok(measured.map(|m| Admission::untracked(spec, m)));
    };
    // From here on the admission (or its refusal) writes the request's row.
    attempt.admitted = true;
    match acc.admit(identity, spec).await {
        Ok(mut a) => {
            if let Some(m) = measured {
                a.measure(m);
            }
            Ok(Some(a))
        }
        Err(r) => {
            if let Some(m) = &mut measured {
                m.record(
                    &Outcome {
                        error: Some(&r.error),
                        ..Outcome::default()
                    },
                    0.0,
                );
            }
            let mut response = render(r.error);
            add_headers(response.headers_mut(), &r.headers);
            Err(Box::new(response))
        }
    }
}

/// Settles `admission` when a chat stream ends (completed, failed mid-stream, or dropped by
/// the client), with its final usage.
pub(crate) fn settle_chat_stream(stream: ChatStream, admission: Option<Admission>) -> ChatStream {
    let Some(mut a) = admission else {
        return stream;
    };
    a.mark_stream();
    let info = stream.info.clone();
    stream.on_end(move |end| {
        a.finish(Outcome {
            usage: end.usage.as_ref(),
            info: Some(&info),
            error: end.error.as_ref(),
            cancelled: end.cancelled,
            units: None,
        });
    })
}

/// Settles `admission` when a byte stream ends: with the usage `usage` holds by then, and the
/// error when the stream's last item is one. A stream dropped before its end (the client went
/// away) drops the admission, which records a cancelled call.
pub(crate) fn settle_stream<S>(
    admission: Option<Admission>,
    info: CallInfo,
    usage: UsageCell,
    stream: S,
) -> impl Stream<Item = Result<Bytes, GatewayError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, GatewayError>> + Send + 'static,
{
    let Some(mut admission) = admission else {
        return stream.left_stream();
    };
    admission.mark_stream();
    let state = (Box::pin(stream), Some(admission), info, usage);
    futures::stream::unfold(
        state,
        |(mut inner, mut admission, info, usage)| async move {
            let item = inner.next().await;
            if !matches!(item, Some(Ok(_))) {
                if let Some(a) = admission.take() {
                    let used = usage.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    a.finish(Outcome {
                        usage: used.as_ref(),
                        info: Some(&info),
                        error: item.as_ref().and_then(|i| i.as_ref().err()),
                        cancelled: false,
                        units: None,
                    });
                }
            }
            item.map(|i| (i, (inner, admission, info, usage)))
        },
    )
    .right_stream()
}

/// Settles a failed call.
pub(crate) fn failed(admission: Option<Admission>, error: &GatewayError) {
    if let Some(a) = admission {
        a.finish(Outcome {
            error: Some(error),
            ..Outcome::default()
        });
    }
}

/// Settles a successful call and sets `x-litellm-response-cost`, `x-litellm-key-spend` and the
/// rate-limit headers.
pub(crate) fn settled(
    admission: Option<Admission>,
    response: &mut Response,
    usage: Option<&tollgate_core::Usage>,
    info: &CallInfo,
) {
    settled_units(admission, response, usage, None, info);
}

/// [`settled`] for an operation call priced by its units (images, seconds, characters,
/// searches) as well as its tokens.
pub(crate) fn settled_units(
    admission: Option<Admission>,
    response: &mut Response,
    usage: Option<&tollgate_core::Usage>,
    units: Option<&Units>,
    info: &CallInfo,
) {
    let Some(a) = admission else { return };
    let limit_headers = a.headers().to_vec();
    let Some(s) = a.finish(Outcome {
        usage,
        units,
        info: Some(info),
        ..Outcome::default()
    }) else {
        return;
    };
    add_headers(response.headers_mut(), &limit_headers);
    spend_headers(response, s);
}

/// `x-litellm-response-cost` and `x-litellm-key-spend` of a settled call.
pub(crate) fn spend_headers(response: &mut Response, s: Settled) {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&s.cost.to_string()) {
        h.insert("x-litellm-response-cost", v);
    }
    if let Some(spend) = s.key_spend {
        if let Ok(v) = HeaderValue::from_str(&spend.to_string()) {
            h.insert("x-litellm-key-spend", v);
        }
    }
}

/// Adds header pairs, skipping any that are not valid header text.
pub(crate) fn add_headers(h: &mut HeaderMap, pairs: &[(String, String)]) {
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
}

/// The end user of a request: `x-litellm-customer-id`, `x-litellm-end-user-id`, then the
/// body's `user` (LiteLLM's order).
pub(crate) fn end_user(headers: &HeaderMap, body_user: Option<&str>) -> Option<String> {
    ["x-litellm-customer-id", "x-litellm-end-user-id"]
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .or(body_user)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// Request tags: `tags` or `metadata.tags`.
pub(crate) fn tags(
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
    extra_tags: Option<&serde_json::Value>,
) -> Vec<String> {
    extra_tags
        .or_else(|| metadata.and_then(|m| m.get("tags")))
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
