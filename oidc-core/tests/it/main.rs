//! Integration tests of oidc-core against a real OpenID Provider.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod attacks;
mod common;
mod flow_dev;
mod http_client;
mod interop;
mod jwks_cache;
mod jwt_verify_lib;
mod provider;
mod seed;
mod sender_constrained;
