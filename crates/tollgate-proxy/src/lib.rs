//! Tollgate's HTTP proxy: LiteLLM's OpenAI-compatible routes over the shared engine, with
//! LiteLLM's auth, headers and error bodies.

pub mod accounting;
pub mod auth;
pub mod body;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod response_store;
pub mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tollgate_core::GatewayError;

pub use state::AppState;

use crate::error::ApiError;
use crate::routes::management::{keys, orgs, spend};
use crate::routes::{
    chat, embeddings, health, messages, models, operations, passthrough, responses, token_counter,
};

/// The route table.
pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for (prefix, _) in passthrough::PREFIXES {
        router = router.route(&format!("/{prefix}/{{*rest}}"), any(passthrough::handle));
    }
    router
        .route("/v1/completions", post(operations::completions))
        .route("/completions", post(operations::completions))
        .route(
            "/engines/{model}/completions",
            post(operations::completions_for_model),
        )
        .route(
            "/openai/deployments/{model}/completions",
            post(operations::completions_for_model),
        )
        .route(
            "/openai/deployments/{model}/images/generations",
            post(operations::images_for_model),
        )
        .route(
            "/openai/deployments/{model}/audio/transcriptions",
            post(operations::transcriptions_for_model),
        )
        .route(
            "/openai/deployments/{model}/audio/speech",
            post(operations::speech_for_model),
        )
        .route("/v1/images/generations", post(operations::images))
        .route("/images/generations", post(operations::images))
        .route("/v1/audio/transcriptions", post(operations::transcriptions))
        .route("/audio/transcriptions", post(operations::transcriptions))
        .route("/v1/audio/speech", post(operations::speech))
        .route("/audio/speech", post(operations::speech))
        .route("/v1/moderations", post(operations::moderations))
        .route("/moderations", post(operations::moderations))
        .route("/v1/rerank", post(operations::rerank))
        .route("/v2/rerank", post(operations::rerank))
        .route("/rerank", post(operations::rerank))
        .route("/v1/chat/completions", post(chat::chat))
        .route("/chat/completions", post(chat::chat))
        .route(
            "/engines/{model}/chat/completions",
            post(chat::chat_for_model),
        )
        .route(
            "/openai/deployments/{model}/chat/completions",
            post(chat::chat_for_model),
        )
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/embeddings", post(embeddings::embeddings))
        .route(
            "/engines/{model}/embeddings",
            post(embeddings::embeddings_for_model),
        )
        .route(
            "/openai/deployments/{model}/embeddings",
            post(embeddings::embeddings_for_model),
        )
        .route("/v1/messages", post(messages::create))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route(
            "/v1/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route(
            "/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/responses/{id}/input_items", get(responses::input_items))
        .route("/v1/responses/{id}/cancel", post(responses::cancel))
        .route("/responses/{id}/cancel", post(responses::cancel))
        .route("/utils/token_counter", post(token_counter::token_counter))
        .route(
            "/v1/utils/token_counter",
            post(token_counter::token_counter),
        )
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1/model/info", get(models::info))
        .route("/model/info", get(models::info))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/metrics/", get(routes::metrics::metrics))
        .route("/health", get(health::health))
        .route("/health/liveliness", get(health::liveliness))
        .route("/health/liveness", get(health::liveliness))
        .route("/health/readiness", get(health::readiness))
        .route("/key/generate", post(keys::generate))
        .route("/key/update", post(keys::update))
        .route("/key/delete", post(keys::delete))
        .route("/key/info", get(keys::info))
        .route("/key/list", get(keys::list))
        .route("/key/regenerate", post(keys::regenerate))
        .route("/key/{key}/regenerate", post(keys::regenerate_path))
        .route("/key/block", post(keys::block))
        .route("/key/unblock", post(keys::unblock))
        .route("/key/{key}/reset_spend", post(keys::reset_spend))
        .route("/key/aliases", get(keys::aliases))
        .route("/v2/key/info", post(keys::info_v2))
        .route("/team/new", post(orgs::team_new))
        .route("/team/update", post(orgs::team_update))
        .route("/team/delete", post(orgs::team_delete))
        .route("/team/info", get(orgs::team_info))
        .route("/team/list", get(orgs::team_list))
        .route("/team/member_add", post(orgs::team_member_add))
        .route("/team/member_delete", post(orgs::team_member_delete))
        .route("/team/member_update", post(orgs::team_member_update))
        .route("/team/block", post(orgs::team_block))
        .route("/team/unblock", post(orgs::team_unblock))
        .route("/team/model/add", post(orgs::team_model_add))
        .route("/team/model/delete", post(orgs::team_model_delete))
        .route("/user/new", post(orgs::user_new))
        .route("/user/update", post(orgs::user_update))
        .route("/user/delete", post(orgs::user_delete))
        .route("/user/info", get(orgs::user_info))
        .route("/user/list", get(orgs::user_list))
        .route("/customer/new", post(orgs::customer_new))
        .route("/end_user/new", post(orgs::customer_new))
        .route("/customer/update", post(orgs::customer_update))
        .route("/end_user/update", post(orgs::customer_update))
        .route("/customer/info", get(orgs::customer_info))
        .route("/end_user/info", get(orgs::customer_info))
        .route("/customer/list", get(orgs::customer_list))
        .route("/end_user/list", get(orgs::customer_list))
        .route("/customer/delete", post(orgs::customer_delete))
        .route("/end_user/delete", post(orgs::customer_delete))
        .route("/customer/block", post(orgs::customer_block_route))
        .route("/customer/unblock", post(orgs::customer_unblock_route))
        .route("/end_user/block", post(orgs::customer_block_route))
        .route("/end_user/unblock", post(orgs::customer_unblock_route))
        .route("/budget/new", post(orgs::budget_new))
        .route("/budget/update", post(orgs::budget_update))
        .route("/budget/info", post(orgs::budget_info))
        .route("/budget/list", get(orgs::budget_list))
        .route("/budget/delete", post(orgs::budget_delete))
        .route("/spend/logs", get(spend::logs))
        .route("/global/spend", get(spend::global))
        .route("/global/spend/logs", get(spend::global_logs))
        .route("/spend/keys", get(spend::keys))
        .route("/spend/users", get(spend::users))
        .route("/spend/tags", get(spend::tags))
        .route("/global/spend/keys", get(spend::global_keys))
        .route("/global/spend/teams", get(spend::global_teams))
        .route("/global/spend/models", get(spend::global_models))
        .route(
            "/global/spend/end_users",
            get(spend::global_end_users).post(spend::global_end_users),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    ApiError(GatewayError::RouteNotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    })
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError(GatewayError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    })
    .into_response()
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Small JSON requests stall ~40 ms on delayed ACKs without TCP_NODELAY.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
