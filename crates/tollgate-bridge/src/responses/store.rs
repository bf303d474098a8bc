//! The conversation state behind `previous_response_id`: each stored response keeps its own
//! input items and the id it continued, so a follow-up rebuilds the whole conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_core::GatewayError;

/// One stored response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub id: String,
    /// The response object as returned to the client.
    pub response: Value,
    /// The request's own input items (without the history it continued).
    pub input_items: Vec<Value>,
    pub previous_response_id: Option<String>,
}

impl StoredResponse {
    /// The response's output items.
    pub fn output(&self) -> &[Value] {
        self.response
            .get("output")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// Where responses are kept. Implemented in memory here and by the gateway's storage layer,
/// so follow-ups work across instances.
pub trait ResponseStore: Send + Sync + std::fmt::Debug {
    /// Saves (or replaces) a response.
    fn put(&self, response: StoredResponse) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// Reads a response.
    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredResponse>, GatewayError>>;
    /// Deletes a response; whether it existed.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, GatewayError>>;
}

/// Conversations longer than this many responses are refused rather than walked forever.
pub const MAX_CHAIN: usize = 10_000;

/// The items of every response in the chain ending at `id`, oldest first: each response's
/// input items followed by its output items.
pub async fn conversation(store: &dyn ResponseStore, id: &str) -> Result<Vec<Value>, GatewayError> {
    let mut chain = Vec::new();
    let mut next = Some(id.to_owned());
    while let Some(current) = next {
        if chain.len() >= MAX_CHAIN {
            return Err(GatewayError::invalid_request(
                format!(
                    "previous_response_id: the conversation is longer than {MAX_CHAIN} responses"
                ),
                Some("previous_response_id".into()),
            ));
        }
        let Some(stored) = store.get(&current).await? else {
            return Err(GatewayError::NotFound {
                message: format!("Previous response with id '{current}' not found."),
            });
        };
        next = stored.previous_response_id.clone();
        chain.push(stored);
    }
    let mut items = Vec::new();
    for stored in chain.iter().rev() {
        items.extend(stored.input_items.iter().cloned());
        items.extend(stored.output().iter().cloned());
    }
    Ok(items)
}

/// A process-local store: the default when the gateway has no shared storage.
#[derive(Debug, Clone, Default)]
pub struct MemoryResponseStore {
    responses: Arc<Mutex<HashMap<String, StoredResponse>>>,
}

impl MemoryResponseStore {
    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, StoredResponse>>, GatewayError> {
        self.responses
            .lock()
            .map_err(|_| GatewayError::Internal("response store lock poisoned".into()))
    }
}

impl ResponseStore for MemoryResponseStore {
    fn put(&self, response: StoredResponse) -> BoxFuture<'_, Result<(), GatewayError>> {
        let result = self.lock().map(|mut m| {
            m.insert(response.id.clone(), response);
        });
        Box::pin(async move { result })
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredResponse>, GatewayError>> {
        let result = self.lock().map(|m| m.get(id).cloned());
        Box::pin(async move { result })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, GatewayError>> {
        let result = self.lock().map(|mut m| m.remove(id).is_some());
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn stored(id: &str, prev: Option<&str>, input: &str, output: &str) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            response: json!({"id": id, "output": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": output}]}]}),
            input_items: vec![json!({"role": "user", "content": input})],
            previous_response_id: prev.map(str::to_owned),
        }
    }

    #[test]
    fn a_chain_is_rebuilt_oldest_first_and_a_missing_link_is_a_404() {
        futures::executor::block_on(async {
            let store = MemoryResponseStore::default();
            store.put(stored("r1", None, "q1", "a1")).await.unwrap();
            store
                .put(stored("r2", Some("r1"), "q2", "a2"))
                .await
                .unwrap();
            let items = conversation(&store, "r2").await.unwrap();
            let texts: Vec<String> = items
                .iter()
                .map(|i| {
                    i["content"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i["content"][0]["text"].as_str().unwrap().to_owned())
                })
                .collect();
            assert_eq!(texts, ["q1", "a1", "q2", "a2"]);

            assert!(store.delete("r1").await.unwrap());
            assert!(!store.delete("r1").await.unwrap());
            let e = conversation(&store, "r2").await.unwrap_err();
            assert_eq!(e.status(), 404);
            assert!(e.to_string().contains("'r1' not found"), "{e}");
        });
    }
}
