//! What the operations layer asks of every adapter.

use super::OllamaAdapter;

impl OllamaAdapter {
    /// The model id sent upstream.
    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }
}
