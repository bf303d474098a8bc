//! Provider pass-through: `/anthropic/*`, `/openai/*` (and `/openai_passthrough/*`),
//! `/gemini/*`, `/bedrock/*`, `/vertex_ai/*` (and `/vertex-ai/*`), `/azure/*`, `/cohere/*`,
//! `/mistral/*`. A gateway key is required; the provider credential the gateway holds is added;
//! the answer streams back untouched and its usage goes to [`super::usage::record`].

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;
use tollgate_core::GatewayError;
use tollgate_providers::operations::{PassthroughCall, forwardable_headers};
use tollgate_router::PassthroughProvider;

use super::usage::{UsageRecord, deferred};
use super::{call_context, call_id, content_length, finish};
use crate::body::read_limited;
use crate::headers;
use crate::state::AppState;

/// Route prefixes and the provider each serves.
pub const PREFIXES: &[(&str, PassthroughProvider)] = &[
    ("anthropic", PassthroughProvider::Anthropic),
    ("openai", PassthroughProvider::OpenAi),
    ("openai_passthrough", PassthroughProvider::OpenAi),
    ("gemini", PassthroughProvider::Gemini),
    ("bedrock", PassthroughProvider::Bedrock),
    ("vertex_ai", PassthroughProvider::VertexAi),
    ("vertex-ai", PassthroughProvider::VertexAi),
    ("azure", PassthroughProvider::Azure),
    ("cohere", PassthroughProvider::Cohere),
    ("mistral", PassthroughProvider::Mistral),
];

/// Any method on any path under a provider prefix.
pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let id = call_id(request.headers());
    finish(&id, respond(state, request, started).await)
}

async fn respond(
    state: Arc<AppState>,
    request: Request,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let full_path = parts.uri.path().to_owned();
    let (prefix, rest) = full_path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((full_path.trim_start_matches('/'), ""));
    let Some(&(_, provider)) = PREFIXES.iter().find(|(p, _)| *p == prefix) else {
        return Err(GatewayError::RouteNotFound {
            method: parts.method.to_string(),
            path: full_path.clone(),
        });
    };
    authenticate(&state, &parts.headers, parts.uri.query()).await?;
    let bytes = read_limited(body, content_length(&parts.headers), state.max_body).await?;
    let model = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_owned));
    let custom = state.auth.key_header_name();
    let call = PassthroughCall {
        method: parts.method.clone(),
        path: format!("/{rest}"),
        query: strip_key(parts.uri.query()),
        headers: forwardable_headers(&parts.headers, custom.as_slice()),
        body: bytes,
    };
    let ctx = call_context(&parts.headers, "/passthrough")?;
    let (sink, pending) = deferred(&state);
    let reply = state.router.passthrough(provider, call, &ctx, sink).await?;
    pending.fill(UsageRecord {
        route: full_path.clone(),
        model,
        model_group: reply.info.model_group.clone(),
        deployment_id: reply.info.deployment_id.clone(),
        provider: reply.info.provider.clone(),
        usage: tollgate_router::OperationUsage::default(),
    });
    let mut response = Response::new(Body::from_stream(
        reply.body.map(|r| r.map_err(std::io::Error::other)),
    ));
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    headers::call(response.headers_mut(), &reply.info, started.elapsed());
    Ok(response)
}

/// The usual key headers, or LiteLLM's pass-through header `litellm_user_api_key` (clients
/// whose own `Authorization` carries the provider's format put the gateway key there).
async fn authenticate(
    state: &AppState,
    headers: &http::HeaderMap,
    query: Option<&str>,
) -> Result<(), GatewayError> {
    if let Some(key) = headers.get("litellm_user_api_key") {
        let mut only = http::HeaderMap::new();
        only.insert("x-litellm-api-key", key.clone());
        return state.auth.authenticate(&only, None).await.map(|_| ());
    }
    state.auth.authenticate(headers, query).await.map(|_| ())
}

/// The query without the gateway key LiteLLM accepts as `?key=`.
fn strip_key(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("key=") && *kv != "key")
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_key_never_reaches_the_provider_query() {
        assert_eq!(
            strip_key(Some("key=sk-1&alt=sse")).as_deref(),
            Some("alt=sse")
        );
        assert_eq!(strip_key(Some("key=sk-1")), None);
        assert_eq!(strip_key(None), None);
        assert_eq!(strip_key(Some("monkey=1")).as_deref(), Some("monkey=1"));
    }
}
