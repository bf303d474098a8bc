//! `POST /utils/token_counter`: LiteLLM's prompt token count for a model, with the same
//! tokenizer the router's pre-call checks use.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tollgate_core::{ChatCompletionRequest, ChatMessage, GatewayError};
use tollgate_router::tokens;

use super::{call_id, content_length, finish};
use crate::body::read_limited;
use crate::state::AppState;

/// LiteLLM's `TokenCountRequest`.
#[derive(Debug, Deserialize)]
struct TokenCountRequest {
    model: String,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessage>>,
}

/// `POST /utils/token_counter`.
pub async fn token_counter(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let id = call_id(request.headers());
    finish(&id, respond(&state, request).await)
}

async fn respond(state: &AppState, request: Request) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    state
        .auth
        .authenticate(&parts.headers, parts.uri.query())
        .await?;
    let bytes = read_limited(body, content_length(&parts.headers), state.max_body).await?;
    let req: TokenCountRequest = serde_json::from_slice(&bytes)
        .map_err(|e| GatewayError::invalid_request(format!("Invalid request body: {e}"), None))?;
    let model_used = state
        .router
        .upstream_model(&req.model)
        .unwrap_or_else(|| req.model.clone());
    let total = match (&req.prompt, req.messages) {
        (Some(prompt), _) => tokens::count_text_tokens(&model_used, prompt),
        (None, Some(messages)) => tokens::count_prompt_tokens(
            &model_used,
            &ChatCompletionRequest::new(req.model.clone(), messages),
        ),
        (None, None) => {
            return Err(GatewayError::invalid_request(
                "Either 'prompt' or 'messages' is required",
                Some("messages".into()),
            ));
        }
    };
    Ok(Json(json!({
        "total_tokens": total,
        "request_model": req.model,
        "model_used": model_used.rsplit('/').next().unwrap_or(&model_used),
        "tokenizer_type": "openai_tokenizer",
        "original_response": null,
    }))
    .into_response())
}
