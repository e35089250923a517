//! # tower-sso
//!
//! Gateway single sign-on, JWT authentication and policy enforcement as tower layers.
//! This crate is being built (see the project's issue tracker); it has no public API yet.
