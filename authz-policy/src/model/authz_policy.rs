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

impl Source {
    /// Every field with its YAML name, positive forms before their `not*` twins.
    pub fn fields(&self) -> [(&'static str, &Option<Vec<String>>); 14] {
        [
            ("principals", &self.principals),
            ("notPrincipals", &self.not_principals),
            ("requestPrincipals", &self.request_principals),
            ("notRequestPrincipals", &self.not_request_principals),
            ("namespaces", &self.namespaces),
            ("notNamespaces", &self.not_namespaces),
            ("serviceAccounts", &self.service_accounts),
            ("notServiceAccounts", &self.not_service_accounts),
            ("ipBlocks", &self.ip_blocks),
            ("notIpBlocks", &self.not_ip_blocks),
            ("remoteIpBlocks", &self.remote_ip_blocks),
            ("notRemoteIpBlocks", &self.not_remote_ip_blocks),
            ("trustDomains", &self.trust_domains),
            ("notTrustDomains", &self.not_trust_domains),
        ]
    }
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

impl Operation {
    /// Every field with its YAML name, positive forms before their `not*` twins.
    pub fn fields(&self) -> [(&'static str, &Option<Vec<String>>); 8] {
        [
            ("hosts", &self.hosts),
            ("notHosts", &self.not_hosts),
            ("ports", &self.ports),
            ("notPorts", &self.not_ports),
            ("methods", &self.methods),
            ("notMethods", &self.not_methods),
            ("paths", &self.paths),
            ("notPaths", &self.not_paths),
        ]
    }
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
