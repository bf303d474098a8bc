//! Embeddings that need several upstream calls (Bedrock Titan embeds one text per call): the
//! adapter says which calls; here they are sent concurrently, at most a few at a time, and
//! their bodies merged back in input order by the adapter.

use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tollgate_core::{EmbeddingsRequest, GatewayError};

use crate::{Router, Target};

/// Calls of one batch in flight at once: enough to hide latency, few enough not to trip
/// the provider's rate limits with a single client request.
const MAX_CONCURRENT_CALLS: usize = 4;

impl Router {
    /// Sends the embeddings call(s) for `req` to `target` and returns one body. Any failed
    /// call fails the whole request: a batch is never answered in part.
    pub(crate) async fn exchange_embeddings(
        &self,
        target: &Target<'_>,
        req: &EmbeddingsRequest,
        timeout: Duration,
    ) -> Result<Bytes, GatewayError> {
        let mut requests = target.adapter.embeddings_requests(req)?;
        if requests.len() == 1 {
            if let Some(only) = requests.pop() {
                return self.exchange(target, only, timeout).await;
            }
        }
        let bodies: Vec<Bytes> = futures::stream::iter(requests)
            .map(|r| self.exchange(target, r, timeout))
            .buffered(MAX_CONCURRENT_CALLS)
            .try_collect()
            .await?;
        target.adapter.merge_embeddings_bodies(bodies)
    }
}
