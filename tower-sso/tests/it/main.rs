//! Integration tests of tower-sso.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod advisories;
mod browser;
mod config;
mod e2e;
mod ext_authz;
mod fail_closed;
mod interop;
mod istio;
#[path = "../../../oidc-core/tests/it/provider.rs"]
mod provider;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_topologies;
mod sso;
mod unauthenticated;
