//! `POST /v1/embeddings` and its aliases.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use tollgate_core::{EmbeddingsRequest, GatewayError};

use super::{
    Attempt, admit, call_context, call_id, end_user, failed, json_from_call, routed_error, settled,
};
use crate::accounting::CallSpec;
use crate::body::{EMBEDDINGS, parse_json};
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
    let mut attempt = Attempt::default();
    let result = respond(&state, path_model, request, started, &id, &mut attempt).await;
    attempt.finish(&state, &id, "aembedding", result)
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
    let ctx = call_context(&parts.headers, "/embeddings")?;
    let spec = CallSpec {
        call_id: call_id.to_owned(),
        call_type: "aembedding",
        model: req.model.clone(),
        end_user: end_user(&parts.headers, req.user.as_deref()),
        tags: Vec::new(),
        metadata: None,
        prompt_bytes: bytes.len(),
        max_output_tokens: Some(0),
        units: None,
    };
    let admission = match admit(state, attempt, &identity, spec).await {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
    match state.router.embeddings_bytes(req, &ctx).await {
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
