//! # authz-policy
//!
//! Istio `RequestAuthentication` and `AuthorizationPolicy` semantics for any HTTP stack.
//! This crate is being built (see the project's issue tracker); it has no public API yet.
