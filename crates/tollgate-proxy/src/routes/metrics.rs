//! `GET /metrics`: Prometheus text exposition (see [`crate::metrics`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tollgate_core::GatewayError;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The metrics, when `prometheus` is among the callbacks (else 404, as LiteLLM without the
/// callback). Open like LiteLLM's unless `require_auth_for_metrics_endpoint` is set, then
/// any valid key is accepted.
pub async fn metrics(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let Some(m) = &state.metrics else {
        return ApiError(GatewayError::RouteNotFound {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
        })
        .into_response();
    };
    if m.require_auth {
        if let Err(e) = state
            .auth
            .authenticate(request.headers(), request.uri().query())
            .await
        {
            return ApiError(e).into_response();
        }
    }
    let body = m.render(&state.router, state.accounting.as_deref());
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(Metrics::CONTENT_TYPE),
    );
    response
}
