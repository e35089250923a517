//! Integration tests of tower-sso.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod browser;
mod istio;
mod sso;
