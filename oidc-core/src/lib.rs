//! # oidc-core
//!
//! The OpenID Connect relying-party core of the edge-sso workspace: provider discovery, a
//! JWKS cache, JWT and ID-token verification, and the authorization-code flow with PKCE.
//! It does no HTTP serving; `authz-policy` and `tower-sso` build on it.
//!
//! ```
//! use oidc_core::testing::{TestKeys, mint};
//! use oidc_core::verify::Verifier;
//! use oidc_core::error::TokenError;
//!
//! // Keys made in-process; in production they come from a `JwksCache`.
//! let keys = TestKeys::shared();
//! let token = mint(&keys.ec, serde_json::json!({
//!     "iss": "https://op.example", "sub": "alice", "aud": "orders-api",
//!     "exp": 4_000_000_000i64, "groups": ["admins"],
//! }));
//!
//! let verifier = Verifier::builder("https://op.example").audience("orders-api").build()?;
//! let verified = verifier.verify(&token, &keys.key_set())?;
//! assert_eq!(verified.principal().as_deref(), Some("https://op.example/alice"));
//! assert_eq!(verified.claims().groups, ["admins"]);
//!
//! // Audience checks cannot be skipped by accident:
//! let other = Verifier::builder("https://op.example").audience("billing").build()?;
//! assert!(matches!(other.verify(&token, &keys.key_set()), Err(TokenError::WrongAudience { .. })));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//! - [`discovery`]: `/.well-known/openid-configuration`, with an exact issuer check.
//! - [`jwks`]: key sets (RSA, EC P-256/P-384, Ed25519) and [`jwks::JwksCache`], which
//!   refetches on unknown `kid` (rate-limited, single-flight), honours Cache-Control and
//!   serves the last good keys when the provider is down.
//! - [`verify`]: [`verify::Verifier`] and [`verify::IdTokenVerifier`], with an optional
//!   verified-token cache.
//! - [`flow`]: authorization URL, callback, code exchange, refresh, userinfo, revocation,
//!   logout URL; five token-endpoint authentication methods.
//! - [`http`]: the [`http::HttpClient`] seam; [`http::ReqwestClient`] by default.
//! - [`clock`], [`secret`], [`error`].
//!
//! ## Features
//! - `reqwest` (default): the default HTTP client (reqwest + rustls, aws-lc-rs).
//! - `testing`: [`testing`]: test keys, token minting and an in-process development
//!   provider. For tests and demos only.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod discovery;
pub mod error;
pub mod flow;
pub mod http;
pub mod jwks;
pub mod secret;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use self::error::Error;
