//! `GET /v1/models` and `GET /v1/model/info`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tollgate_core::{ModelList, ModelRef};

use super::{call_id, finish};
use crate::state::AppState;

/// Model groups and visible aliases; wildcard names only with `?return_wildcard_routes=true`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let id = call_id(request.headers());
    let result = state
        .auth
        .authenticate(request.headers(), request.uri().query())
        .await
        .map(|_| {
            let wildcards = query
                .get("return_wildcard_routes")
                .is_some_and(|v| v == "true" || v == "True");
            let names = state
                .router
                .model_names()
                .into_iter()
                .filter(|n| wildcards || !n.contains('*'));
            Json(ModelList::from_names(names)).into_response()
        });
    finish(&id, result)
}

/// Every deployment with its params (credentials removed) and model info.
pub async fn info(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let id = call_id(request.headers());
    let result = state.auth.authenticate(request.headers(), request.uri().query()).await.map(|_| {
            let only = query.get("litellm_model_id");
            let data: Vec<Value> = state
                .router
                .deployments()
                .iter()
                .filter(|d| only.is_none_or(|id| *id == d.id))
                .map(|d| {
                    let cfg = &d.config;
                    let provider = ModelRef::parse(&d.litellm_model, d.custom_llm_provider.as_deref())
                        .map(|m| m.provider.to_string())
                        .ok();
                    let mut info = serde_json::Map::new();
                    info.insert("id".into(), json!(d.id));
                    info.insert("db_model".into(), json!(false));
                    info.insert("litellm_provider".into(), json!(provider));
                    info.insert("mode".into(), json!(cfg.model_info.mode.clone().unwrap_or_else(|| "chat".into())));
                    info.insert("max_tokens".into(), json!(cfg.model_info.max_tokens));
                    info.insert("max_input_tokens".into(), json!(cfg.model_info.max_input_tokens));
                    info.insert("max_output_tokens".into(), json!(cfg.model_info.max_output_tokens));
                    info.insert("base_model".into(), json!(cfg.model_info.base_model));
                    info.insert("input_cost_per_token".into(), json!(cfg.litellm_params.input_cost_per_token));
                    info.insert("output_cost_per_token".into(), json!(cfg.litellm_params.output_cost_per_token));
                    for (k, v) in &cfg.model_info.extra {
                        info.insert(k.clone(), v.clone());
                    }
                    json!({ "model_name": d.model_name, "litellm_params": d.public_params(), "model_info": info })
                })
                .collect();
            Json(json!({ "data": data })).into_response()
    });
    finish(&id, result)
}
