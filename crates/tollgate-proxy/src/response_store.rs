//! The Responses API's conversation state in the gateway's database, so a follow-up
//! (`previous_response_id`) can be served by any instance that shares it.

use std::time::{SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use tollgate_bridge::responses::{ResponseStore, StoredResponse};
use tollgate_core::GatewayError;
use tollgate_store::{Store, StoreError};

/// [`ResponseStore`] over the `Tollgate_Responses` table.
#[derive(Debug, Clone)]
pub struct DatabaseResponseStore {
    store: Store,
}

impl DatabaseResponseStore {
    /// Stores responses in `store`'s database.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn storage_error(e: StoreError) -> GatewayError {
    GatewayError::Internal(format!("stored responses: {e}"))
}

impl ResponseStore for DatabaseResponseStore {
    fn put(&self, response: StoredResponse) -> BoxFuture<'_, Result<(), GatewayError>> {
        async move {
            let body = serde_json::to_string(&response)
                .map_err(|e| GatewayError::Internal(e.to_string()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            self.store
                .put_response(&response.id, &body, now)
                .await
                .map_err(storage_error)
        }
        .boxed()
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredResponse>, GatewayError>> {
        async move {
            let Some(text) = self.store.get_response(id).await.map_err(storage_error)? else {
                return Ok(None);
            };
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| GatewayError::Internal(format!("stored response {id}: {e}")))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, GatewayError>> {
        async move { self.store.delete_response(id).await.map_err(storage_error) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use serde_json::json;
    use tollgate_bridge::responses::conversation;

    use super::*;

    #[tokio::test]
    async fn a_conversation_is_rebuilt_from_the_database_by_another_store() {
        let dir = std::env::temp_dir().join(format!("tollgate-responses-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let first = DatabaseResponseStore::new(Store::open(&url).await.unwrap());
        first
            .put(StoredResponse {
                id: "resp_1".into(),
                response: json!({"id": "resp_1", "output": [{"type": "message", "role": "assistant", "content": "hi"}]}),
                input_items: vec![json!({"role": "user", "content": "hello"})],
                previous_response_id: None,
            })
            .await
            .unwrap();
        // A second instance opens the same database.
        let second = DatabaseResponseStore::new(Store::open(&url).await.unwrap());
        let items = conversation(&second, "resp_1").await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["content"], "hello");
        assert!(second.delete("resp_1").await.unwrap());
        assert!(matches!(
            conversation(&first, "resp_1").await,
            Err(GatewayError::NotFound { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
