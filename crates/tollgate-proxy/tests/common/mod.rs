//! What the proxy's integration tests share: a temporary directory, the clock they start at,
//! and a gateway served in process on a free port.
#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tollgate_config::Config;
use tollgate_proxy::AppState;
use tollgate_proxy::accounting::Accounting;
use tollgate_store::ManualClock;

/// A directory removed when the test ends (it may outlive one gateway: restarts).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named `tollgate-{prefix}-{uuid}` under the system's temp dir.
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tollgate-{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The controllable clock, at 2026-03-04 10:00 UTC.
pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap(),
    ))
}

/// Serves `state` on a free local port until the test ends; its base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tollgate_proxy::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tollgate_proxy::serve(
        listener,
        Arc::new(state),
        std::future::pending(),
    ));
    base
}

/// Serves the gateway of `config` with `acc` keeping its accounts; its base URL.
pub async fn serve_with_accounting(config: &Config, acc: Arc<Accounting>) -> String {
    serve(
        AppState::from_config(config, "info")
            .unwrap()
            .with_accounting(acc),
    )
    .await
}
