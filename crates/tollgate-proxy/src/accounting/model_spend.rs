//! `model_max_budget` spend that survives a restart: the spend writer adds each call's cost to
//! its key's (and team's) `model_spend[model group]`, as LiteLLM does; a key's per-model
//! ledger starts from that value, follows other instances' writes on each cache refresh, and a
//! model budget's window reset sets the stored value to the spend logged since the window
//! began, so `model_spend` holds the spend of the current window for models with a windowed
//! budget.

use chrono::{DateTime, Utc};
use tollgate_store::KeyRow;

use super::Accounting;

/// Ledger id prefix of a key's per-model budget: `key_model:{hash}:{model}`.
pub(super) const KEY_MODEL: &str = "key_model:";

impl Accounting {
    /// Stores the reset of a `key_model:` ledger entry's window, which began at `since` (other
    /// entries are ignored).
    pub(super) fn persist_model_reset(&self, id: &str, since: DateTime<Utc>) {
        let Some((token, model)) = id
            .strip_prefix(KEY_MODEL)
            .and_then(|rest| rest.split_once(':'))
        else {
            return;
        };
        let (token, model) = (token.to_owned(), model.to_owned());
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.reset_model_spend(&token, &model, &since).await {
                tracing::warn!("cannot store a model budget reset: {e}");
            }
        });
    }
}

/// Feeds the stored per-model spend of `keys` to the ledger sync (only entries it tracks are
/// touched; it keeps the larger of its own and the stored value).
pub(super) fn sync(keys: &[KeyRow], sync: &mut impl FnMut(String, f64)) {
    for k in keys.iter().filter(|k| !k.model_max_budget.is_empty()) {
        for (model, spend) in &k.model_spend {
            if let Some(spend) = spend.as_f64() {
                sync(format!("{KEY_MODEL}{}:{model}", k.token), spend);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn only_keys_with_model_budgets_are_synced() {
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        let with = KeyRow {
            token: "abc".into(),
            model_max_budget: map(serde_json::json!({"gpt-4o": {"budget_limit": 1.0}})),
            model_spend: map(serde_json::json!({"gpt-4o": 0.5, "junk": "x"})),
            ..KeyRow::default()
        };
        let without = KeyRow {
            model_spend: map(serde_json::json!({"gpt-4o": 2.0})),
            ..KeyRow::default()
        };
        let mut seen = Vec::new();
        sync(&[with, without], &mut |id, v| seen.push((id, v)));
        assert_eq!(seen, [("key_model:abc:gpt-4o".to_owned(), 0.5)]);
    }
}
