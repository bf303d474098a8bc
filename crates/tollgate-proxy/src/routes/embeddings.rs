//! `POST /v1/embeddings` and its aliases.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use tollgate_core::{EmbeddingsRequest, GatewayError};
use tollgate_router::CallContext;

use super::{call_id, content_length, finish, json_from_call, timeout_header};
use crate::body::{EMBEDDINGS, parse_json, read_limited};
use crate::state::AppState;

/// `/embeddings` with the model in the body.
pub async fn embeddings(State(state): State<Arc<AppState>>, request: Request) -> Response {
    handle(state, None, request).await
}

/// `/engines/{model}/embeddings`, `/openai/deployments/{model}/embeddings`.
pub async fn embeddings_for_model(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    handle(state, Some(model), request).await
}

async fn handle(state: Arc<AppState>, path_model: Option<String>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    finish(&id, respond(&state, path_model, request, started).await)
}

async fn respond(
    state: &AppState,
    path_model: Option<String>,
    request: Request,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    state.auth.authenticate(&parts.headers, parts.uri.query())?;
    let bytes = read_limited(body, content_length(&parts.headers), state.max_body).await?;
    let mut req: EmbeddingsRequest = parse_json(&bytes, &EMBEDDINGS)?;
    if let Some(model) = path_model {
        req.model = model;
    }
    if req.input.is_empty() {
        return Err(GatewayError::invalid_request(
            "'input' must not be empty",
            Some("input".into()),
        ));
    }
    let ctx = CallContext {
        timeout: timeout_header(&parts.headers, "x-litellm-timeout")?,
        stream_timeout: None,
        route: "/embeddings",
    };
    let out = state.router.embeddings_bytes(req, &ctx).await?;
    Ok(json_from_call(out.body, &out.info, started))
}
