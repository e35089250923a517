//! # authz-policy
//!
//! Istio's `RequestAuthentication` and `AuthorizationPolicy`, evaluated in-process with the
//! decisions Istio (istiod + Envoy) makes. Paste the YAML you apply to your mesh, describe a
//! request with plain attributes, get a decision that names the policy and rule that made it.
//! Framework-free: no HTTP stack, no async, no I/O during evaluation.
//!
//! ```
//! use authz_policy::{CompileOptions, CustomVerdict, Outcome, PolicySet, Request, Workload};
//!
//! let policies = PolicySet::from_yaml(r#"
//! apiVersion: security.istio.io/v1
//! kind: AuthorizationPolicy
//! metadata: {name: admin-from-office, namespace: shop}
//! spec:
//!   selector: {matchLabels: {app: orders}}
//!   action: DENY
//!   rules:
//!   - to: [{operation: {paths: ["/admin*"]}}]
//!     from: [{source: {notIpBlocks: ["10.0.0.0/8"]}}]
//! "#, CompileOptions::default())?;
//!
//! let orders = Workload::new("shop", [("app", "orders")]);
//! let mut request = Request::new("GET", "/admin/../admin/users");
//! request.peer.ip = Some("203.0.113.9".parse().unwrap());
//! let decision = policies.evaluate(&orders, &request, CustomVerdict::Allow);
//! assert_eq!(decision.outcome, Outcome::Deny);
//! assert_eq!(decision.policy.as_deref(), Some("shop/admin-from-office"));
//! # Ok::<_, authz_policy::Error>(())
//! ```
//!
//! Where this crate knowingly differs from Istio, it is stricter and says so: `when` keys
//! that Istio's webhook accepts only by prefix (`request.headersX[a]`) are errors here;
//! a request carrying several tokens must have all of them valid (Istio calls the outcome
//! undefined); tokens signed with HMAC (`oct` keys) or ES512 are rejected; a `crit` header
//! is rejected. Waypoint attachment (`targetRefs` to a Service, ServiceEntry or
//! GatewayClass) is not modelled.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod check;
mod compile;
pub mod error;
mod eval;
pub mod lint;
pub mod load;
mod matcher;
pub mod model;
pub mod path;
pub mod request;
mod validate;

pub use self::compile::{CompileOptions, PolicySet};
pub use self::error::Error;
pub use self::eval::{
    Authentication, CustomCall, CustomVerdict, Decision, HeaderChanges, Identity, Outcome,
};
pub use self::lint::LintWarning;
pub use self::request::{Request, Workload};
