use std::collections::BTreeMap;

use serde::Deserialize;

/// The part of Kubernetes `metadata` this crate reads. Other members (uid, labels,
/// managedFields, ...) are accepted and ignored, as `kubectl get -o yaml` emits them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectMeta {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace` (absent: `default`, as `kubectl apply` without `-n`).
    pub namespace: Option<String>,
    /// `metadata.annotations` (`istio.io/dry-run`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.selector`: the workloads a policy applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkloadSelector {
    /// `matchLabels`: every label must be on the workload with the same value.
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// `spec.targetRef` / `spec.targetRefs[]`: a Gateway API resource the policy attaches to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyTargetReference {
    /// `group` (e.g. `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// `kind` (e.g. `Gateway`).
    pub kind: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `namespace` (must be empty: cross-namespace references are not supported).
    pub namespace: Option<String>,
}
