//! # tower-sso
//!
//! Gateway single sign-on, JWT authentication and Istio-compatible authorization as tower
//! layers. This crate is being built; today it provides the session cookie codec (sealed,
//! name-bound, rotatable) and chunking.
//!
//! ```
//! use tower_sso::sso::session::codec::{Codec, CookieSecret};
//! use tower_sso::sso::session::cookie::{CookieAttributes, set};
//!
//! let codec = Codec::new(&CookieSecret::parse("q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=")?, &[])?;
//! let sealed = codec.seal("_sso", br#"{"sub":"alice"}"#).unwrap();
//! let lines = set(&CookieAttributes::new("_sso"), &sealed, &[]);
//! assert!(lines[0].starts_with("_sso=") && lines[0].contains("HttpOnly"));
//! # Ok::<_, tower_sso::error::ConfigError>(())
//! ```

pub mod authz;
pub mod error;
pub mod jwt;
pub mod request;
pub mod sso;

pub use self::authz::{AuthorizationLayer, CustomProvider};
pub use self::jwt::JwtAuthLayer;
pub use self::sso::{Sso, SsoConfig, SsoLayer};
