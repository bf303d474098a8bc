//! The OpenAI Responses API: `POST /v1/responses` answered by any model through the chat bridge,
//! and `GET`/`DELETE /v1/responses/{id}`, `GET .../input_items`, `POST .../cancel` over the
//! stored responses.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use tollgate_bridge::responses::{
    ResponseStore, ResponsesRequest, ResponsesStreamEncoder, StoredResponse, conversation,
    from_chat_response, new_id, to_chat_request,
};
use tollgate_core::chat::StreamOptions;
use tollgate_core::{ChatCompletionChunk, ChatCompletionResponse, GatewayError};
use tollgate_router::CallContext;

use super::usage::{UsageRecord, deferred};
use super::{Attempt, sse_response};
use super::{
    admit, call_context, call_id, end_user, failed, finish, routed_error, settle_chat_stream,
    settled, tags,
};
use crate::accounting::{Admission, CallSpec};
use crate::body::{RESPONSES, parse_json};
use crate::headers;
use crate::state::AppState;

/// `POST /v1/responses`.
pub async fn create(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    let mut attempt = Attempt::default();
    let result = respond(&state, request, started, &id, &mut attempt).await;
    attempt.finish(&state, &id, "aresponses", result)
}

/// `GET /v1/responses/{id}`.
pub async fn retrieve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let call = call_id(request.headers());
    let authorized = authenticate(&state, request).await;
    let result = async {
        authorized?;
        match state.responses.get(&id).await? {
            Some(stored) => Ok(Json(stored.response).into_response()),
            None => upstream(&state, http::Method::GET, &format!("/{id}"), None, &id).await,
        }
    }
    .await;
    finish(&call, result)
}

/// `DELETE /v1/responses/{id}`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let call = call_id(request.headers());
    let authorized = authenticate(&state, request).await;
    let result = async {
        authorized?;
        if !state.responses.delete(&id).await? {
            return upstream(&state, http::Method::DELETE, &format!("/{id}"), None, &id).await;
        }
        Ok(Json(json!({"id": id, "object": "response.deleted", "deleted": true})).into_response())
    }
    .await;
    finish(&call, result)
}

/// `GET /v1/responses/{id}/input_items`: the request's own input items, newest first as the
/// API lists them by default.
pub async fn input_items(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let call = call_id(request.headers());
    let query = request.uri().query().map(str::to_owned);
    let ascending = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "order=asc"));
    let authorized = authenticate(&state, request).await;
    let result = async {
        authorized?;
        let Some(stored) = state.responses.get(&id).await? else {
            let suffix = format!("/{id}/input_items");
            return upstream(&state, http::Method::GET, &suffix, query.as_deref(), &id).await;
        };
        let mut data = stored.input_items;
        if !ascending {
            data.reverse();
        }
        let first = data.first().and_then(|i| i.get("id")).cloned();
        let last = data.last().and_then(|i| i.get("id")).cloned();
        Ok(
            Json(json!({"object": "list", "data": data, "first_id": first,
            "last_id": last, "has_more": false}))
            .into_response(),
        )
    }
    .await;
    finish(&call, result)
}

/// `POST /v1/responses/{id}/cancel`: only background responses can be cancelled, and the
/// gateway runs none.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let call = call_id(request.headers());
    let authorized = authenticate(&state, request).await;
    let result = async {
        authorized?;
        if state.responses.get(&id).await?.is_none() {
            let suffix = format!("/{id}/cancel");
            return upstream(&state, http::Method::POST, &suffix, None, &id).await;
        }
        Err(GatewayError::invalid_request(
            "Only responses created with background=true can be cancelled",
            None,
        ))
    }
    .await;
    finish(&call, result)
}

async fn authenticate(state: &AppState, request: Request) -> Result<(), GatewayError> {
    let (parts, _) = request.into_parts();
    state
        .auth
        .authenticate(&parts.headers, parts.uri.query())
        .await
        .map(|_| ())
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound {
        message: format!("Response with id '{id}' not found."),
    }
}

/// A response the gateway does not hold was served natively: the provider answers for it
/// (its status and body as they are); with no provider to ask, it is not found.
async fn upstream(
    state: &AppState,
    method: http::Method,
    suffix: &str,
    query: Option<&str>,
    id: &str,
) -> Result<Response, GatewayError> {
    let Some(reply) = state
        .router
        .responses_upstream(method, suffix, query)
        .await?
    else {
        return Err(not_found(id));
    };
    let mut response = Response::new(Body::from_stream(
        reply.body.map(|r| r.map_err(std::io::Error::other)),
    ));
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    Ok(response)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Input items as stored: every item gets a type and an id, as the API lists them.
fn with_ids(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut item| {
            if let Some(o) = item.as_object_mut() {
                if !o.contains_key("type") && o.contains_key("role") {
                    o.insert("type".into(), Value::String("message".into()));
                }
                if !o.contains_key("id") {
                    let prefix = match o.get("type").and_then(Value::as_str) {
                        Some("function_call_output") => "fco",
                        Some("function_call") => "fc",
                        Some("reasoning") => "rs",
                        _ => "msg",
                    };
                    o.insert("id".into(), Value::String(new_id(prefix)));
                }
            }
            item
        })
        .collect()
}

async fn respond(
    state: &Arc<AppState>,
    request: Request,
    started: Instant,
    call_id: &str,
    attempt: &mut Attempt,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let (identity, bytes) = attempt.authenticate_and_read(state, &parts, body).await?;
    let req: ResponsesRequest = parse_json(&bytes, &RESPONSES)?;
    if req.model.is_empty() {
        return Err(GatewayError::invalid_request(
            "Missing required parameter: 'model'",
            Some("model".into()),
        ));
    }
    let ctx = call_context(&parts.headers, "/responses")?;
    let spec = CallSpec {
        call_id: call_id.to_owned(),
        call_type: "aresponses",
        model: req.model.clone(),
        end_user: end_user(&parts.headers, req.user.as_deref()),
        tags: tags(req.metadata.as_ref(), req.extra.get("tags")),
        metadata: req.metadata.clone().map(Value::Object),
        prompt_bytes: bytes.len(),
        max_output_tokens: req.max_output_tokens.map(u64::from),
        units: None,
    };
    let mut admission = match admit(state, attempt, &identity, spec).await {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
    let result = answer(state, &req, &bytes, &ctx, started, &mut admission).await;
    if let Err(e) = &result {
        failed(admission.take(), e);
    }
    result
}

/// Serves an admitted Responses call; takes `admission` when it settles it (or hands it to
/// the stream that will).
async fn answer(
    state: &Arc<AppState>,
    req: &ResponsesRequest,
    bytes: &Bytes,
    ctx: &CallContext,
    started: Instant,
    admission: &mut Option<Admission>,
) -> Result<Response, GatewayError> {
    // A conversation the gateway stored was built by the bridge, so it continues there; any
    // other previous_response_id is the upstream's to resolve.
    let stored_here = match &req.previous_response_id {
        Some(prev) => state.responses.get(prev).await?.is_some(),
        None => false,
    };
    if !stored_here {
        let (sink, pending) = deferred(state);
        let native = match state
            .router
            .responses_native(bytes, &req.model, ctx, sink)
            .await
        {
            Ok(native) => native,
            Err(e) => {
                failed(admission.take(), &e.error);
                return Ok(routed_error(e));
            }
        };
        if let Some(reply) = native {
            pending.fill(
                UsageRecord {
                    route: "/v1/responses".into(),
                    model: Some(req.model.clone()),
                    model_group: reply.info.model_group.clone(),
                    deployment_id: reply.info.deployment_id.clone(),
                    provider: reply.info.provider.clone(),
                    usage: tollgate_router::OperationUsage::default(),
                    units: crate::accounting::Units::default(),
                },
                admission.take(),
            );
            let mut response = Response::new(Body::from_stream(
                reply.body.map(|r| r.map_err(std::io::Error::other)),
            ));
            *response.status_mut() = reply.status;
            *response.headers_mut() = reply.headers;
            headers::call(response.headers_mut(), &reply.info, started.elapsed());
            return Ok(response);
        }
    }
    let history = match &req.previous_response_id {
        Some(prev) => conversation(&*state.responses, prev).await?,
        None => Vec::new(),
    };
    let mut chat = to_chat_request(req, &history, state.router.drop_params())?;
    let id = new_id("resp");
    let created_at = unix_now();
    let input_items = with_ids(req.input_items());

    if req.is_stream() {
        chat.stream = Some(true);
        chat.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            extra: serde_json::Map::new(),
        });
        let stream = match state.router.chat_stream(chat, ctx).await {
            Ok(s) => s,
            Err(e) => {
                failed(admission.take(), &e.error);
                return Ok(routed_error(e));
            }
        };
        let info = stream.info.clone();
        let stream = settle_chat_stream(stream, admission.take());
        let mut encoder = ResponsesStreamEncoder::new(req.clone(), id, created_at);
        let pending: VecDeque<Bytes> = encoder.start().into();
        let events = EventStream {
            chunks: Box::pin(stream.into_chunks()),
            encoder,
            pending,
            done: false,
            store: req.wants_store().then(|| PendingSave {
                store: Arc::clone(&state.responses),
                input_items,
                previous_response_id: req.previous_response_id.clone(),
            }),
        };
        let body = Body::from_stream(events.into_stream().map(Ok::<_, Infallible>));
        return Ok(sse_response(body, &info, started));
    }

    let out = match state.router.chat_bytes(chat, ctx).await {
        Ok(out) => out,
        Err(e) => {
            failed(admission.take(), &e.error);
            return Ok(routed_error(e));
        }
    };
    let answer: ChatCompletionResponse =
        serde_json::from_slice(&out.body).map_err(|e| GatewayError::InvalidUpstreamResponse {
            provider: out.info.provider.clone(),
            message: e.to_string(),
        })?;
    let response = from_chat_response(&answer, req, &id, created_at);
    if req.wants_store() {
        save(
            &*state.responses,
            StoredResponse {
                id,
                response: response.clone(),
                input_items,
                previous_response_id: req.previous_response_id.clone(),
            },
        )
        .await;
    }
    let mut http_response = Json(response).into_response();
    headers::call(http_response.headers_mut(), &out.info, started.elapsed());
    settled(
        admission.take(),
        &mut http_response,
        out.usage.as_ref(),
        &out.info,
    );
    Ok(http_response)
}

/// Storing is best effort: the client already paid for the answer, so a storage failure is
/// logged rather than turned into an error (only a later follow-up would miss it).
async fn save(store: &dyn ResponseStore, stored: StoredResponse) {
    let id = stored.id.clone();
    if let Err(e) = store.put(stored).await {
        tracing::warn!(response_id = %id, "could not store the response: {e}");
    }
}

type Chunks = Pin<Box<dyn Stream<Item = Result<ChatCompletionChunk, GatewayError>> + Send>>;

/// Drives the encoder from the router's chunks; the response is stored before its final event
/// goes out, so a follow-up sent the moment the client sees it finds it.
struct EventStream {
    chunks: Chunks,
    encoder: ResponsesStreamEncoder,
    pending: VecDeque<Bytes>,
    done: bool,
    store: Option<PendingSave>,
}

/// What is needed to store a streamed response once it ends.
struct PendingSave {
    store: Arc<dyn ResponseStore>,
    input_items: Vec<Value>,
    previous_response_id: Option<String>,
}

impl EventStream {
    fn into_stream(self) -> impl Stream<Item = Bytes> + Send + 'static {
        futures::stream::unfold(self, |mut s| async move {
            loop {
                if let Some(frame) = s.pending.pop_front() {
                    return Some((frame, s));
                }
                if s.done {
                    return None;
                }
                match s.chunks.next().await {
                    Some(Ok(chunk)) => s.pending.extend(s.encoder.push(&chunk)),
                    Some(Err(e)) => {
                        s.pending.extend(s.encoder.fail(&e));
                        s.done = true;
                    }
                    None => {
                        let frames = s.encoder.finish();
                        if let Some(pending) = s.store.take() {
                            save(
                                &*pending.store,
                                StoredResponse {
                                    id: s.encoder.id().to_owned(),
                                    response: s.encoder.final_response(),
                                    input_items: pending.input_items,
                                    previous_response_id: pending.previous_response_id,
                                },
                            )
                            .await;
                        }
                        s.pending.extend(frames);
                        s.done = true;
                    }
                }
            }
        })
    }
}
