//! What every handler shares.

use std::sync::Arc;

use tollgate_bridge::responses::{MemoryResponseStore, ResponseStore};
use tollgate_config::Config;
use tollgate_core::GatewayError;
use tollgate_router::Router;

use crate::accounting::Accounting;
use crate::auth::Authenticator;
use crate::metrics::Metrics;

/// Request bodies above this are refused with 413 unless `max_request_size_mb` says otherwise.
const DEFAULT_MAX_BODY: usize = 32 * 1024 * 1024;

/// Shared handler state.
#[derive(Debug)]
pub struct AppState {
    pub router: Router,
    pub auth: Authenticator,
    /// Largest accepted request body, in bytes.
    pub max_body: usize,
    /// Log level shown by `/health/readiness`.
    pub log_level: String,
    /// Responses kept for `previous_response_id` and `GET /v1/responses/{id}`.
    pub responses: Arc<dyn ResponseStore>,
    /// Virtual keys, budgets, limits and spend; `None` without a database.
    pub accounting: Option<Arc<Accounting>>,
    /// Prometheus metrics; `None` unless `prometheus` is among the config's callbacks.
    pub metrics: Option<Arc<Metrics>>,
}

impl AppState {
    /// Builds the state from a loaded config.
    pub fn from_config(config: &Config, log_level: &str) -> Result<Self, GatewayError> {
        let gs = &config.general_settings;
        let max_body = gs
            .max_request_size_mb
            .filter(|mb| *mb > 0.0)
            .map_or(DEFAULT_MAX_BODY, |mb| (mb * 1024.0 * 1024.0) as usize);
        let router = Router::from_config(config)?;
        Ok(Self {
            metrics: Metrics::from_config(config, &router),
            router,
            auth: Authenticator::new(gs.master_key.clone(), gs.litellm_key_header_name.clone()),
            max_body,
            log_level: log_level.to_owned(),
            responses: Arc::new(MemoryResponseStore::default()),
            accounting: None,
        })
    }

    /// Turns on virtual keys, budgets, limits and spend logs.
    pub fn with_accounting(mut self, accounting: Arc<Accounting>) -> Self {
        self.auth = self.auth.with_keys(accounting.clone());
        self.accounting = Some(accounting);
        self
    }
}
