//! Integration tests of authz-policy through its public API.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod advisories;
mod conformance;
mod lint;
mod props;
mod seeds;
mod upstream;
