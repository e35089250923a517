//! # tower-sso
//!
//! What oauth2-proxy and an Istio ingress gateway do, as tower layers inside your service:
//! single sign-on with an OpenID Provider ([`SsoLayer`]), JWT authentication as Istio's
//! `RequestAuthentication` ([`JwtAuthLayer`]) and authorization as Istio's
//! `AuthorizationPolicy` ([`AuthorizationLayer`]). Add them with one `.layer(...)`; the
//! application sees `Authorization: Bearer <ID token>` and `X-Forwarded-User`,
//! `-Email`, `-Preferred-Username`, `-Groups`, and never a client's copy of them.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tower_sso::{Sso, SsoConfig, SsoLayer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SsoConfig::new(
//!     "https://login.example.com/realms/main",  // --oidc-issuer-url
//!     "my-app",                                  // --client-id
//!     "client-secret",                           // --client-secret
//!     "https://app.example.com/oauth2/callback", // --redirect-url
//!     "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=", // --cookie-secret
//! )?;
//! let app: Router = Router::new()
//!     .route("/", get(|headers: axum::http::HeaderMap| async move {
//!         format!("hello {:?}", headers.get("x-forwarded-email"))
//!     }))
//!     .layer(SsoLayer::new(Sso::new(config)?));
//! # let _ = app; Ok(()) }
//! ```
//!
//! The same stack for APIs behind Istio-style policies, where `policies.yaml` holds the
//! `RequestAuthentication` and `AuthorizationPolicy` objects you apply to your mesh:
//!
//! ```no_run
//! use std::sync::Arc;
//! use authz_policy::{CompileOptions, PolicySet, Workload};
//! use tower_sso::{AuthorizationLayer, JwtAuthLayer};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policies = Arc::new(PolicySet::from_yaml(&std::fs::read_to_string("policies.yaml")?,
//!                                               CompileOptions::default())?);
//! let me = Workload::new("shop", [("app", "orders")]);
//! let api: axum::Router = axum::Router::new()
//!     .route("/orders", axum::routing::get(|| async { "[]" }))
//!     .layer(AuthorizationLayer::new(policies.clone(), me.clone()))
//!     .layer(JwtAuthLayer::new(policies, me));
//! # let _ = api; Ok(()) }
//! ```
//!
//! ## What the SSO layer does
//! - Endpoints under `/oauth2`: `start` (`rd` is checked: same origin or an allowed domain),
//!   `callback` (state, nonce and PKCE checked; each login attempt has its own short-lived
//!   sealed cookie, so parallel tabs all finish), `sign_out` (optionally through the
//!   provider's end-session endpoint), `userinfo`, `auth` (202 or 401, for `auth_request`
//!   and ext_authz callers), `backchannel_logout` (OpenID Connect Back-Channel Logout).
//! - Sessions sealed with AES-256-GCM into chunked cookies, each `Set-Cookie` line within
//!   4096 bytes; Secure, HttpOnly, SameSite=Lax; a tampered, swapped or foreign cookie means
//!   logging in again. Tokens are refreshed once per session however many requests ask.
//! - Browsers are redirected to log in (a 503 page instead when the provider does not
//!   answer); API clients (JSON, XHR, bearer, non-GET) get 401. With
//!   `skip_jwt_bearer_tokens`, a JWT bearer verified for the provider (or an
//!   `extra_jwt_issuers` entry) needs no session.
//! - Configuration as oauth2-proxy's options ([`sso::settings::SsoSettings`]: TOML, YAML,
//!   `OAUTH2_PROXY_*` variables), checked when built.
//!
//! ## Istio's CUSTOM action
//! A CUSTOM policy's provider is an in-process [`Sso`] or a remote authorizer
//! ([`ExtAuthzHttp`], Istio's `envoyExtAuthzHttp`: an existing oauth2-proxy, say). An
//! [`SsoLayer`] over [`ext_authz::IdentityEcho`] is such an authorizer itself.
//!
//! ## Features
//! - `redis`: sessions in Redis (one server, Sentinel or Cluster), only a ticket in the
//!   cookie, shared by any number of replicas.

pub mod authz;
pub mod error;
pub mod ext_authz;
pub mod jwt;
pub mod request;
pub mod sso;

pub use self::authz::{AuthorizationLayer, CustomProvider};
pub use self::ext_authz::ExtAuthzHttp;

/// Takes the service that `poll_ready` readied into the response future and leaves a clone
/// for the next call (a clone of a service is not necessarily ready itself).
pub(crate) fn take_ready<S: Clone>(service: &mut S) -> S {
    let clone = service.clone();
    std::mem::replace(service, clone)
}
pub use self::jwt::JwtAuthLayer;
pub use self::sso::{Sso, SsoConfig, SsoLayer};
