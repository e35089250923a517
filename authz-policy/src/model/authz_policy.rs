use serde::Deserialize;

use super::meta::{PolicyTargetReference, WorkloadSelector};

/// `AuthorizationPolicy.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthorizationPolicySpec {
    /// `selector`.
    pub selector: Option<WorkloadSelector>,
    /// `targetRef` (the older single form).
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`.
    pub target_refs: Option<Vec<PolicyTargetReference>>,
    /// `action` (default ALLOW).
    pub action: Option<Action>,
    /// `provider` (CUSTOM only).
    pub provider: Option<Provider>,
    /// `rules`.
    pub rules: Option<Vec<Rule>>,
}

/// `spec.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Action {
    /// Calls an external authorizer (first in evaluation order).
    CUSTOM,
    /// Denies matching requests.
    DENY,
    /// Allows matching requests; when any ALLOW policy applies, others are denied.
    ALLOW,
    /// Marks matching requests for audit; never changes the decision.
    AUDIT,
}

/// `spec.provider`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Provider {
    /// The extension provider's name in the mesh config.
    pub name: Option<String>,
}

/// `spec.rules[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Rule {
    /// `from`: sources, any of which may match.
    pub from: Option<Vec<From>>,
    /// `to`: operations, any of which may match.
    pub to: Option<Vec<To>>,
    /// `when`: conditions, all of which must match.
    pub when: Option<Vec<Condition>>,
}

/// `rules[].from[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct From {
    /// `source`.
    pub source: Option<Source>,
}

/// `rules[].to[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct To {
    /// `operation`.
    pub operation: Option<Operation>,
}

/// `from[].source`: who sends the request. Fields are ANDed, values within a field ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct Source {
    pub principals: Option<Vec<String>>,
    pub not_principals: Option<Vec<String>>,
    pub request_principals: Option<Vec<String>>,
    pub not_request_principals: Option<Vec<String>>,
    pub namespaces: Option<Vec<String>>,
    pub not_namespaces: Option<Vec<String>>,
    pub service_accounts: Option<Vec<String>>,
    pub not_service_accounts: Option<Vec<String>>,
    pub ip_blocks: Option<Vec<String>>,
    pub not_ip_blocks: Option<Vec<String>>,
    pub remote_ip_blocks: Option<Vec<String>>,
    pub not_remote_ip_blocks: Option<Vec<String>>,
    pub trust_domains: Option<Vec<String>>,
    pub not_trust_domains: Option<Vec<String>>,
}

/// `to[].operation`: what the request does. Fields are ANDed, values within a field ORed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct Operation {
    pub hosts: Option<Vec<String>>,
    pub not_hosts: Option<Vec<String>>,
    pub ports: Option<Vec<String>>,
    pub not_ports: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub not_methods: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub not_paths: Option<Vec<String>>,
}

/// `when[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Condition {
    /// The attribute, e.g. `request.auth.claims[groups]`.
    pub key: String,
    /// Any of these matches.
    pub values: Option<Vec<String>>,
    /// None of these may match.
    pub not_values: Option<Vec<String>>,
}
