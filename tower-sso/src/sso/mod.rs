//! The oauth2-proxy part: login sessions, endpoints and upstream identity.

mod bearer;
pub mod config;
pub mod headers;
pub mod logout;
pub mod redirect;
pub mod respond;
pub mod rules;
mod service;
pub mod session;
pub mod settings;

pub use self::config::{IdentityHeaders, SsoConfig, UpstreamToken};
pub use self::service::{ResponseFuture, Sso, SsoLayer, SsoService, session_identity};
