//! The oauth2-proxy part: login sessions, endpoints and upstream identity.

pub mod redirect;
pub mod session;
