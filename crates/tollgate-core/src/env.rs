//! Environment lookups with the config's `environment_variables` laid over the process
//! environment. Tollgate never mutates its own process environment (that is `unsafe` and racy
//! in a threaded server); everything that reads a variable asks an [`Env`] instead.

use std::collections::HashMap;
use std::sync::Arc;

/// The process environment plus an overlay that wins over it.
#[derive(Debug, Clone, Default)]
pub struct Env {
    overlay: Arc<HashMap<String, String>>,
}

impl Env {
    /// The process environment with no overlay.
    pub fn process() -> Self {
        Self::default()
    }

    /// The process environment under the given overlay.
    pub fn with_overlay(overlay: HashMap<String, String>) -> Self {
        Self {
            overlay: Arc::new(overlay),
        }
    }

    /// The value of `name`, or `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.overlay.get(name) {
            return Some(v.clone()).filter(|v| !v.is_empty());
        }
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set.
    pub fn first(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|n| self.get(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_wins_and_empty_counts_as_unset() {
        let env = Env::with_overlay(HashMap::from([
            ("TOLLGATE_TEST_A".to_owned(), "a".to_owned()),
            ("TOLLGATE_TEST_EMPTY".to_owned(), String::new()),
        ]));
        assert_eq!(env.get("TOLLGATE_TEST_A").as_deref(), Some("a"));
        assert_eq!(env.get("TOLLGATE_TEST_EMPTY"), None);
        assert_eq!(
            env.first(&["TOLLGATE_TEST_NOPE", "TOLLGATE_TEST_A"])
                .as_deref(),
            Some("a")
        );
    }
}
