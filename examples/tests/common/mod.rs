//! Helpers shared by the integration tests that include them (`mod common;`).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

pub(crate) mod chromium;
pub(crate) mod world;
