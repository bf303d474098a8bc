//! Health probes: liveliness and readiness need no key; `/health` calls every deployment.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health/liveliness` (and `/health/liveness`): the process answers.
pub async fn liveliness() -> Json<&'static str> {
    Json("I'm alive!")
}

/// `GET /health/readiness`: ready to serve (no database is configured in this version).
pub async fn readiness(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "db": "Not connected",
        "cache": null,
        "litellm_version": tollgate_core::VERSION,
        "success_callbacks": [],
        "use_aiohttp_transport": false,
        "log_level": state.log_level,
    }))
}

/// `GET /health`: probes every configured (non-wildcard) deployment with a one-token call.
pub async fn health(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if let Err(e) = state
        .auth
        .authenticate(&parts.headers, parts.uri.query())
        .await
    {
        return ApiError(e).into_response();
    }
    let results = state.router.probe_all().await;
    let mut healthy = Vec::new();
    let mut unhealthy = Vec::new();
    for (i, result) in results {
        let d = &state.router.deployments()[i];
        let mut entry = d.public_params();
        if let Some(obj) = entry.as_object_mut() {
            obj.insert("model_name".into(), json!(d.model_name));
            obj.insert("model_id".into(), json!(d.id));
        }
        match result {
            Ok(()) => healthy.push(entry),
            Err(e) => {
                if let Some(obj) = entry.as_object_mut() {
                    obj.insert("error".into(), json!(e.to_string()));
                }
                unhealthy.push(entry);
            }
        }
    }
    Json(json!({
        "healthy_endpoints": healthy,
        "unhealthy_endpoints": unhealthy,
        "healthy_count": healthy.len(),
        "unhealthy_count": unhealthy.len(),
    }))
    .into_response()
}
