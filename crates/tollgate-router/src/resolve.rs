//! Which deployment serves a requested model name, in LiteLLM's order: deployment id, alias,
//! exact group, wildcard (most specific first), `litellm_params.model`.

use std::sync::atomic::Ordering;

use tollgate_core::{GatewayError, ModelRef};

use crate::{Deployment, Router, Target, WildcardPattern};

impl Router {
    /// LiteLLM's resolution order for a requested name.
    pub(crate) fn resolve(&self, requested: &str, route: &str) -> Result<Target<'_>, GatewayError> {
        let inner = &*self.inner;
        if let Some(d) = inner.deployments.iter().find(|d| d.id == requested) {
            return self.target(d, None, d.model_name.clone());
        }
        let name = inner
            .aliases
            .get(requested)
            .map_or(requested, |a| a.target.as_str());
        if let Some(&gi) = inner.group_index.get(name) {
            let (group, members) = &inner.groups[gi];
            let fixed: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| inner.deployments[i].pattern.is_none())
                .collect();
            if !fixed.is_empty() {
                let n = inner.round_robin[gi].fetch_add(1, Ordering::Relaxed);
                let d = &inner.deployments[fixed[n % fixed.len()]];
                return self.target(d, None, group.clone());
            }
        }
        let inferred = ModelRef::parse(name, None).ok().map(|m| m.canonical());
        for candidate in std::iter::once(name).chain(inferred.as_deref()) {
            for &i in &inner.wildcards {
                let d = &inner.deployments[i];
                let Some(pattern) = &d.pattern else { continue };
                if let Some(caps) = pattern.captures(candidate) {
                    let upstream = if d.litellm_model == "*" {
                        candidate.to_owned()
                    } else {
                        WildcardPattern::substitute(&d.litellm_model, &caps)
                    };
                    return self.target(d, Some(&upstream), d.model_name.clone());
                }
            }
        }
        if let Some(d) = inner.deployments.iter().find(|d| d.litellm_model == name) {
            return self.target(d, None, d.model_name.clone());
        }
        Err(GatewayError::InvalidModel {
            route: route.to_owned(),
            model: requested.to_owned(),
        })
    }

    pub(crate) fn target<'a>(
        &'a self,
        d: &'a Deployment,
        upstream: Option<&str>,
        group: String,
    ) -> Result<Target<'a>, GatewayError> {
        Ok(Target {
            adapter: d.adapter_for(upstream, &self.inner.env)?,
            deployment: d,
            group,
        })
    }
}
