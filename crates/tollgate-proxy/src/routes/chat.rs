//! `POST /v1/chat/completions` and its aliases.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use futures::StreamExt;
use tollgate_core::{ChatCompletionRequest, GatewayError};

use super::{Attempt, sse_response};
use super::{
    add_headers, admit, call_context, call_id, end_user, failed, json_from_call, routed_error,
    settle_chat_stream, settled, tags,
};
use crate::accounting::CallSpec;
use crate::body::{CHAT, parse_json};
use crate::state::AppState;

/// `/chat/completions` with the model in the body.
pub async fn chat(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, None, request).await
}

/// `/engines/{model}/chat/completions` and `/openai/deployments/{model}/chat/completions`:
/// the path's model overrides the body's.
pub async fn chat_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Some(model), request).await
}

async fn handle(state: Arc<AppState>, path_model: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    let mut attempt = Attempt::default();
    let result = respond(&state, path_model, request, started, &id, &mut attempt).await;
    attempt.finish(&state, &id, "acompletion", result)
}

async fn respond(
    state: &AppState,
    path_model: Option<String>,
    request: Request,
    started: Instant,
    call_id: &str,
    attempt: &mut Attempt,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    attempt.model.clone_from(&path_model);
    let (identity, bytes) = attempt.authenticate_and_read(state, &parts, body).await?;
    let mut req: ChatCompletionRequest = parse_json(&bytes, &CHAT)?;
    if let Some(model) = path_model {
        req.model = model;
    }
    if req.messages.is_empty() {
        return Err(GatewayError::invalid_request(
            "'messages' must contain at least one message",
            Some("messages".into()),
        ));
    }
    let ctx = call_context(&parts.headers, "/chat/completions")?;
    let spec = CallSpec {
        call_id: call_id.to_owned(),
        call_type: "acompletion",
        model: req.model.clone(),
        end_user: end_user(&parts.headers, req.user.as_deref()),
        tags: tags(req.metadata.as_ref(), req.extra.get("tags")),
        metadata: req.metadata.clone().map(serde_json::Value::Object),
        prompt_bytes: bytes.len(),
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens).map(u64::from),
        units: None,
    };
    let admission = match admit(state, attempt, &identity, spec).await {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
    if req.is_stream() {
        let stream = match state.router.chat_stream(req, &ctx).await {
            Ok(s) => s,
            Err(e) => {
                failed(admission, &e.error);
                return Ok(routed_error(e));
            }
        };
        let info = stream.info.clone();
        let limit_headers = admission
            .as_ref()
            .map(|a| a.headers().to_vec())
            .unwrap_or_default();
        let stream = settle_chat_stream(stream, admission);
        let body = Body::from_stream(stream.into_sse().map(Ok::<_, Infallible>));
        let mut response = sse_response(body, &info, started);
        add_headers(response.headers_mut(), &limit_headers);
        return Ok(response);
    }
    match state.router.chat_bytes(req, &ctx).await {
        Ok(out) => {
            let mut response = json_from_call(out.body, &out.info, started);
            settled(admission, &mut response, out.usage.as_ref(), &out.info);
            Ok(response)
        }
        Err(e) => {
            failed(admission, &e.error);
            Ok(routed_error(e))
        }
    }
}
