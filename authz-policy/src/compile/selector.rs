//! Which workloads a policy applies to (istio/istio `pilot/pkg/model/policyattachment.go`).

use crate::model::{PolicyTargetReference, WorkloadSelector};
use crate::request::Workload;

/// A policy's reach: its namespace and either a label selector or target references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) namespace: String,
    selector: Vec<(String, String)>,
    /// Gateway names from `targetRef(s)` of kind Gateway; `Some` when any target is set.
    gateways: Option<Vec<String>>,
}

impl Scope {
    pub(crate) fn new(
        namespace: &str,
        selector: &Option<WorkloadSelector>,
        target_ref: &Option<PolicyTargetReference>,
        target_refs: &Option<Vec<PolicyTargetReference>>,
    ) -> Scope {
        let refs: Vec<&PolicyTargetReference> = match target_refs.as_deref() {
            Some(list) if !list.is_empty() => list.iter().collect(),
            _ => target_ref.iter().collect(),
        };
        let gateways = (!refs.is_empty()).then(|| {
            refs.iter()
                .filter(|r| r.kind.as_deref() == Some("Gateway"))
                .filter_map(|r| r.name.clone())
                .collect()
        });
        let selector = selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        Scope {
            namespace: namespace.to_owned(),
            selector,
            gateways,
        }
    }

    /// True when a policy of this scope applies to `workload`, with `root` the mesh root
    /// namespace: same namespace or root; then target references name the workload's
    /// Gateway (same namespace only), or the selector's labels are all on the workload.
    /// `Service`, `ServiceEntry` and `GatewayClass` targets attach to waypoints, which are
    /// not modelled: such policies apply to no workload here.
    pub(crate) fn applies(&self, workload: &Workload, root: &str) -> bool {
        if self.namespace != workload.namespace && self.namespace != root {
            return false;
        }
        match &self.gateways {
            Some(names) => {
                self.namespace == workload.namespace
                    && workload
                        .gateway_name()
                        .is_some_and(|g| names.iter().any(|n| n == g))
            }
            None => self
                .selector
                .iter()
                .all(|(k, v)| workload.labels.get(k) == Some(v)),
        }
    }

    /// The first label of the selector, if any.
    pub(crate) fn first_label(&self) -> Option<(&str, &str)> {
        self.selector.first().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when the policy is attached by target references.
    pub(crate) fn has_targets(&self) -> bool {
        self.gateways.is_some()
    }
}
