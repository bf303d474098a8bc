//! Choosing among the deployments that passed every filter, per `routing_strategy`.

use crate::Router;
use crate::policy::Strategy;

/// Index into `healthy` of the deployment to call. `healthy` is never empty.
pub(crate) fn choose(router: &Router, healthy: &[&(usize, Option<String>)]) -> usize {
    if healthy.len() <= 1 {
        return 0;
    }
    let inner = &*router.inner;
    let ids: Vec<usize> = healthy.iter().map(|(i, _)| *i).collect();
    match inner.policy.strategy {
        Strategy::SimpleShuffle => {
            let params = |i: usize| &inner.deployments[i].config.litellm_params;
            // LiteLLM keys the choice on the first candidate's params.
            let first = params(ids[0]);
            let weights: Option<Vec<f64>> = if first.weight.is_some() {
                Some(
                    ids.iter()
                        .map(|&i| params(i).weight.unwrap_or(0.0))
                        .collect(),
                )
            } else if first.rpm.is_some() {
                Some(
                    ids.iter()
                        .map(|&i| params(i).rpm.unwrap_or(0) as f64)
                        .collect(),
                )
            } else if first.tpm.is_some() {
                Some(
                    ids.iter()
                        .map(|&i| params(i).tpm.unwrap_or(0) as f64)
                        .collect(),
                )
            } else {
                None
            };
            match weights {
                Some(w) => weighted(&w),
                None => fastrand::usize(..ids.len()),
            }
        }
        Strategy::LeastBusy => lowest_by(&ids, |i| inner.states[i].in_flight() as f64),
        Strategy::UsageBased => lowest_by(&ids, |i| inner.states[i].minute().tokens as f64),
        Strategy::CostBased => lowest_by(&ids, |i| {
            inner
                .facts
                .cost_per_token(&inner.deployments[i])
                .map_or(1.0, |(a, b)| a + b)
        }),
        Strategy::LatencyBased => {
            // Deployments without data go first, so each is measured.
            let unmeasured: Vec<usize> = (0..ids.len())
                .filter(|&k| inner.states[ids[k]].mean_latency().is_none())
                .collect();
            if !unmeasured.is_empty() {
                return unmeasured[fastrand::usize(..unmeasured.len())];
            }
            let lat: Vec<f64> = ids
                .iter()
                .map(|&i| {
                    inner.states[i]
                        .mean_latency()
                        .map_or(0.0, |d| d.as_secs_f64())
                })
                .collect();
            let best = lat.iter().copied().fold(f64::INFINITY, f64::min);
            let limit = best * (1.0 + inner.policy.latency_buffer);
            let within: Vec<usize> = (0..ids.len()).filter(|&k| lat[k] <= limit).collect();
            within
                .get(fastrand::usize(..within.len().max(1)))
                .copied()
                .unwrap_or(0)
        }
    }
}

/// A random index with probability proportional to its weight; uniform when all are zero.
pub(crate) fn weighted(weights: &[f64]) -> usize {
    let clean: Vec<f64> = weights
        .iter()
        .map(|w| if w.is_finite() && *w > 0.0 { *w } else { 0.0 })
        .collect();
    let total: f64 = clean.iter().sum();
    if total <= 0.0 {
        return fastrand::usize(..weights.len().max(1));
    }
    let mut x = fastrand::f64() * total;
    for (k, w) in clean.iter().enumerate() {
        if x < *w {
            return k;
        }
        x -= w;
    }
    clean.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// The index with the lowest score, random among ties.
fn lowest_by(ids: &[usize], score: impl Fn(usize) -> f64) -> usize {
    let scores: Vec<f64> = ids.iter().map(|&i| score(i)).collect();
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let ties: Vec<usize> = (0..ids.len()).filter(|&k| scores[k] <= best).collect();
    ties.get(fastrand::usize(..ties.len().max(1)))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_honoured_within_statistical_bounds() {
        // 3:1 over 40 000 draws: the share of the first is 0.75 with sd ~0.0022; 5 sd bounds
        // make a false failure practically impossible while a broken weighting fails.
        let n = 40_000;
        let hits = (0..n).filter(|_| weighted(&[3.0, 1.0]) == 0).count();
        let share = hits as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.011, "share {share}");
    }

    #[test]
    fn zero_weights_are_never_chosen_unless_all_are_zero() {
        assert!((0..1000).all(|_| weighted(&[0.0, 2.0, 0.0]) == 1));
        assert!((0..100).all(|_| weighted(&[0.0, 0.0]) < 2));
    }
}
