//! Which deployments may serve a requested model name, in LiteLLM's order: deployment id,
//! alias, exact group, wildcard (most specific first), `litellm_params.model`.

use tollgate_core::{GatewayError, ModelRef};

use crate::route::Candidates;
use crate::{CallContext, Deployment, Router, Target, WildcardPattern};

impl Router {
    /// The candidate deployments for a requested name.
    pub(crate) fn candidates(
        &self,
        requested: &str,
        route: &str,
    ) -> Result<Candidates, GatewayError> {
        let inner = &*self.inner;
        let one = |i: usize, upstream: Option<String>| Candidates {
            group: inner.deployments[i].model_name.clone(),
            members: vec![(i, upstream)],
        };
        if let Some(&i) = inner.id_index.get(requested) {
            return Ok(one(i, None));
        }
        let name = inner
            .aliases
            .get(requested)
            .map_or(requested, |a| a.target.as_str());
        if let Some(&gi) = inner.group_index.get(name) {
            let (group, members) = &inner.groups[gi];
            let fixed: Vec<(usize, Option<String>)> = members
                .iter()
                .copied()
                .filter(|&i| inner.deployments[i].pattern.is_none())
                .map(|i| (i, None))
                .collect();
            if !fixed.is_empty() {
                return Ok(Candidates {
                    group: group.clone(),
                    members: fixed,
                });
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
                    return Ok(one(i, Some(upstream)));
                }
            }
        }
        if let Some(i) = inner
            .deployments
            .iter()
            .position(|d| d.litellm_model == name)
        {
            return Ok(one(i, None));
        }
        Err(GatewayError::InvalidModel {
            route: route.to_owned(),
            model: requested.to_owned(),
        })
    }

    /// One deployment for a requested name, chosen like a routed call's first attempt
    /// (cooldowns, tiers, strategy) but without retries or fallbacks. For call types not yet
    /// moved behind [`Router::route`](crate::Router::route).
    #[allow(dead_code)]
    pub(crate) fn resolve(&self, requested: &str, route: &str) -> Result<Target<'_>, GatewayError> {
        let cands = self.candidates(requested, route)?;
        let ctx = CallContext {
            route: "",
            ..CallContext::default()
        };
        self.select(&cands, &ctx, &[]).map(|(_, t)| t)
    }

    /// The first deployment `requested` may be served by, cooling or not: what a call decides
    /// before routing (which API to speak) must not fail because the group is cooling, or
    /// its fallbacks would never be reached.
    pub(crate) fn first_member(
        &self,
        requested: &str,
        route: &str,
    ) -> Result<Target<'_>, GatewayError> {
        let cands = self.candidates(requested, route)?;
        let mut failure = None;
        for (i, upstream) in &cands.members {
            match self.target(
                &self.inner.deployments[*i],
                upstream.as_deref(),
                cands.group.clone(),
            ) {
                Ok(t) => return Ok(t),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        Err(failure.unwrap_or_else(|| GatewayError::InvalidModel {
            route: route.to_owned(),
            model: requested.to_owned(),
        }))
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
