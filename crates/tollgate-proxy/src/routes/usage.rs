//! Where the usage of operation and pass-through calls leaves the proxy: [`record`] is the
//! single call site a spend writer connects to.

use std::sync::{Arc, Mutex};

use tollgate_router::{CallInfo, OperationUsage, UsageSink};

use crate::accounting::{Admission, Outcome, Settled, Units};
use crate::state::AppState;

/// One call's usage with what identifies it for spend.
#[derive(Debug, Clone)]
pub struct UsageRecord {
    /// The client-facing route (`/v1/images/generations`, `/anthropic/v1/messages`).
    pub route: String,
    /// The model the client named, when it named one.
    pub model: Option<String>,
    /// The model group and deployment that served it (empty for pass-through credentials
    /// taken from the environment).
    pub model_group: String,
    pub deployment_id: String,
    /// Provider display name (`OpenAI`, `Anthropic`).
    pub provider: String,
    pub usage: OperationUsage,
    /// What the request says about its units before the answer counts them (an image
    /// call's size and quality).
    pub units: Units,
}

impl UsageRecord {
    /// The call's priced units: the request's image size and quality with the counts the
    /// answer reported; `None` when the call used no units (priced by tokens alone).
    pub fn units_used(&self) -> Option<Units> {
        let u = &self.usage;
        let units = Units {
            images: u.images.unwrap_or(0),
            characters: u.characters.unwrap_or(0),
            seconds: u.audio_seconds,
            queries: u.search_units.unwrap_or(0),
            ..self.units.clone()
        };
        let used = units.images > 0
            || units.characters > 0
            || units.queries > 0
            || units.seconds.is_some_and(|s| s > 0.0);
        used.then_some(units)
    }
}

/// Called once per successful call, as soon as its usage is known (for streams: when the
/// stream ends or the client leaves): logs it and settles the call's admission, which writes
/// its spend-log row (tokens and units priced by the price table) and running totals.
pub(crate) fn record(
    _state: &AppState,
    record: UsageRecord,
    admission: Option<Admission>,
) -> Option<Settled> {
    let settled = admission.and_then(|a| {
        let info = CallInfo {
            model_group: record.model_group.clone(),
            deployment_id: record.deployment_id.clone(),
            api_base: String::new(),
            provider: record.provider.clone(),
            upstream: std::time::Duration::ZERO,
            attempts: Default::default(),
        };
        let units = record.units_used();
        a.finish(Outcome {
            usage: record.usage.tokens.as_ref(),
            units: units.as_ref(),
            info: Some(&info),
            ..Outcome::default()
        })
    });
    let tokens = record.usage.tokens.as_ref();
    tracing::debug!(
        route = %record.route,
        model = record.model.as_deref().unwrap_or(""),
        model_group = %record.model_group,
        model_id = %record.deployment_id,
        provider = %record.provider,
        prompt_tokens = tokens.map_or(0, |u| u.prompt_tokens),
        completion_tokens = tokens.map_or(0, |u| u.completion_tokens),
        images = record.usage.images.unwrap_or(0),
        characters = record.usage.characters.unwrap_or(0),
        search_units = record.usage.search_units.unwrap_or(0),
        audio_seconds = record.usage.audio_seconds.unwrap_or(0.0),
        "usage"
    );
    settled
}

/// Usage and the record it belongs to, which arrive in either order: a streamed answer
/// reports usage after the handler has built the record, speech reports it before.
#[derive(Default)]
struct Slot {
    record: Option<UsageRecord>,
    usage: Option<OperationUsage>,
    /// Settled with the record; dropped unsettled (the client left before the usage came), it
    /// records a cancelled call.
    admission: Option<Admission>,
}

impl Slot {
    /// The completed record once both halves are in.
    fn with_usage(&mut self, usage: OperationUsage) -> Option<UsageRecord> {
        match self.record.take() {
            Some(mut r) => {
                r.usage = usage;
                Some(r)
            }
            None => {
                self.usage = Some(usage);
                None
            }
        }
    }

    fn with_record(&mut self, mut record: UsageRecord) -> Option<UsageRecord> {
        match self.usage.take() {
            Some(u) => {
                record.usage = u;
                Some(record)
            }
            None => {
                self.record = Some(record);
                None
            }
        }
    }
}

/// The other half of a [`deferred`] sink: the record, once the call's deployment is known.
pub(crate) struct Deferred {
    state: Arc<AppState>,
    slot: Arc<Mutex<Slot>>,
}

impl Deferred {
    /// Supplies the record and the call's admission; they are passed to [`record`] as soon as
    /// the usage is known too. Returns the settled call when the usage was already known
    /// (speech), so its response can carry the cost headers.
    pub(crate) fn fill(self, rec: UsageRecord, admission: Option<Admission>) -> Option<Settled> {
        let done = self.slot.lock().ok().and_then(|mut s| {
            s.admission = admission;
            s.with_record(rec).map(|r| (r, s.admission.take()))
        });
        done.and_then(|(r, a)| record(&self.state, r, a))
    }
}

/// A usage sink for the engine whose record is completed later with [`Deferred::fill`].
pub(crate) fn deferred(state: &Arc<AppState>) -> (UsageSink, Deferred) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    let sink_slot = Arc::clone(&slot);
    let sink_state = Arc::clone(state);
    let sink: UsageSink = Box::new(move |usage| {
        let done = sink_slot
            .lock()
            .ok()
            .and_then(|mut s| s.with_usage(usage).map(|r| (r, s.admission.take())));
        if let Some((r, a)) = done {
            record(&sink_state, r, a);
        }
    });
    (
        sink,
        Deferred {
            state: Arc::clone(state),
            slot,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> UsageRecord {
        UsageRecord {
            route: "/v1/audio/speech".into(),
            model: None,
            model_group: "tts".into(),
            deployment_id: "d".into(),
            provider: "OpenAI".into(),
            usage: OperationUsage::default(),
            units: Units::default(),
        }
    }

    #[test]
    fn usage_and_record_meet_in_either_order() {
        let usage = OperationUsage {
            characters: Some(12),
            ..OperationUsage::default()
        };
        let mut before = Slot::default();
        assert!(before.with_usage(usage.clone()).is_none());
        assert_eq!(
            before.with_record(rec()).unwrap().usage.characters,
            Some(12)
        );
        let mut after = Slot::default();
        assert!(after.with_record(rec()).is_none());
        let done = after.with_usage(usage).unwrap();
        assert_eq!(
            (done.model_group.as_str(), done.usage.characters),
            ("tts", Some(12))
        );
    }
}
