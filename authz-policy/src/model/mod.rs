//! The Istio CRD types, as serde structs: `security.istio.io/v1` and `v1beta1` (identical
//! schemas). Unknown spec fields are errors, as with `kubectl apply` under strict field
//! validation; metadata keeps only what this crate reads.

mod authz_policy;
mod meta;
mod request_authn;

pub use self::authz_policy::{
    Action, AuthorizationPolicySpec, Condition, From, Operation, Provider, Rule, Source, To,
};
pub use self::meta::{ObjectMeta, PolicyTargetReference, WorkloadSelector};
pub use self::request_authn::{ClaimToHeader, JwtHeader, JwtRule, RequestAuthenticationSpec};

/// An `AuthorizationPolicy` object.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationPolicy {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec` (an absent spec is the empty spec: ALLOW with no rules).
    pub spec: AuthorizationPolicySpec,
}

/// A `RequestAuthentication` object.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestAuthentication {
    /// `metadata`.
    pub metadata: ObjectMeta,
    /// `spec`.
    pub spec: RequestAuthenticationSpec,
}
