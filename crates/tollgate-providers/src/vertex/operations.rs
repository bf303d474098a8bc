//! Pass-through to Vertex AI; the OAuth token is added by `authorize`.

use tollgate_core::GatewayError;

use super::{VertexAdapter, default_host};
use crate::operations::{self, PassthroughCall};
use crate::transport::UpstreamRequest;

impl VertexAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// The client's request to the Vertex host of the location its path names
    /// (`/v1/projects/p/locations/europe-west4/...` goes to `europe-west4-aiplatform...`), or to
    /// the configured `api_base` when the deployment has one.
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        let googleapis = self.base.ends_with("aiplatform.googleapis.com")
            || self.base.ends_with(".rep.googleapis.com");
        let host = match location_in(&call.path) {
            Some(location) if googleapis => default_host(location),
            _ => self.base.clone(),
        };
        let url = operations::join(&host, &call.path, call.query.as_deref());
        Ok(operations::forward(call, url, http::HeaderMap::new()))
    }
}

/// The `{location}` of a `.../locations/{location}/...` path, if it is a plain name.
fn location_in(path: &str) -> Option<&str> {
    let (_, rest) = path.split_once("/locations/")?;
    let loc = rest.split('/').next()?;
    let ok = !loc.is_empty()
        && loc
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_comes_from_the_path() {
        assert_eq!(
            location_in("/v1/projects/p/locations/europe-west4/publishers/google/models/m:x"),
            Some("europe-west4")
        );
        assert_eq!(location_in("/v1/projects/p/locations/ev!l/x"), None);
        assert_eq!(location_in("/v1/projects/p"), None);
    }
}
