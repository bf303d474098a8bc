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
use super::{Attempt, admit, call_context, call_id, content_length, end_user, failed, finish};
use crate::accounting::{CallSpec, PASS_THROUGH_CALL_TYPE};
use crate::auth::Identity;
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
    finish(&id, respond(state, request, started, &id).await)
}

async fn respond(
    state: Arc<AppState>,
    request: Request,
    started: Instant,
    call_id: &str,
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
    let identity = authenticate(&state, &parts.headers, parts.uri.query()).await?;
    let bytes = read_limited(body, content_length(&parts.headers), state.max_body).await?;
    let json = serde_json::from_slice::<Value>(&bytes).ok();
    let model = json
        .as_ref()
        .and_then(|v| v.get("model").and_then(Value::as_str).map(str::to_owned));
    // Budgets and limits apply, and the spend row prices the body's model; the provider's
    // own model names are not subject to the key's model allow-list, as in LiteLLM.
    let spec = CallSpec {
        call_id: call_id.to_owned(),
        call_type: PASS_THROUGH_CALL_TYPE,
        model: model.clone().unwrap_or_default(),
        end_user: end_user(&parts.headers, None),
        tags: Vec::new(),
        metadata: None,
        prompt_bytes: bytes.len(),
        max_output_tokens: json
            .as_ref()
            .and_then(|v| v.get("max_tokens"))
            .and_then(Value::as_u64),
        units: None,
    };
    let admission = match admit(&state, &mut Attempt::default(), &identity, spec).await {
        Ok(a) => a,
        Err(refused) => return Ok(*refused),
    };
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
    let reply = match state.router.passthrough(provider, call, &ctx, sink).await {
        Ok(r) => r,
        Err(e) => {
            failed(admission, &e);
            return Err(e);
        }
    };
    pending.fill(
        UsageRecord {
            route: full_path.clone(),
            model,
            model_group: reply.info.model_group.clone(),
            deployment_id: reply.info.deployment_id.clone(),
            provider: reply.info.provider.clone(),
            usage: tollgate_router::OperationUsage::default(),
            units: crate::accounting::Units::default(),
        },
        admission,
    );
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
) -> Result<Identity, GatewayError> {
    if let Some(key) = headers.get("litellm_user_api_key") {
        let mut only = http::HeaderMap::new();
        only.insert("x-litellm-api-key", key.clone());
        return state.auth.authenticate(&only, None).await;
    }
    state.auth.authenticate(headers, query).await
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
