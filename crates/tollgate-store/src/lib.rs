//! Tollgate's storage: LiteLLM's tables (`LiteLLM_VerificationToken`, `LiteLLM_TeamTable`,
//! `LiteLLM_UserTable`, `LiteLLM_EndUserTable`, `LiteLLM_BudgetTable`,
//! `LiteLLM_TeamMembership`, `LiteLLM_SpendLogs`) in embedded SQLite or PostgreSQL, migrated at
//! start-up, plus the durable spend queue, LiteLLM's duration strings and a replaceable clock.

pub mod clock;
mod db;
pub mod duration;
pub mod model;
pub mod queue;
pub mod serde_util;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::{Entity, Owner, SpendBy, SpendFilter, SpendTotal, Store};
pub use model::{BudgetRow, EndUserRow, KeyRow, MembershipRow, SpendRow, TeamRow, UserRow};
pub use queue::SpendQueue;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("spend journal: {0}")]
    Io(#[from] std::io::Error),
}

/// LiteLLM stores and logs keys as the hex SHA-256 of the whole key.
pub fn hash_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}
