//! Integration tests of oidc-core against a real OpenID Provider.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod attacks;
mod common;
mod interop;
mod provider;
mod seed;
