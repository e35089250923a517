//! The JOSE header: `alg`, `kid`, `typ`, `crit`.

use std::fmt;

use serde_json::Value;

use crate::error::TokenError;

/// A JWS algorithm this crate verifies. `none` and the HMAC family are not here: they can
/// never be chosen by a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, the default allow-list.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm with this JOSE name, if supported.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JOSE name (`RS256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The hash that `at_hash` and `c_hash` use with this algorithm (OpenID Connect Core
    /// 3.1.3.6; SHA-512 for Ed25519).
    pub(crate) fn hash(self) -> &'static aws_lc_rs::digest::Algorithm {
        use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
        match self {
            Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => &SHA384,
            Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => &SHA512,
            _ => &SHA256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The signature algorithm.
    pub alg: Algorithm,
    /// The key id, if any.
    pub kid: Option<String>,
    /// The media type, if any (`JWT`, `at+jwt`, ...).
    pub typ: Option<String>,
}

/// Parses the decoded header JSON (one object, each member once, see [`super::json`]).
/// Rejects a missing or non-string `alg`, `alg: none`, HMAC and unknown algorithms, a
/// `kid` or `typ` that is not a string (`null` included, as jwt_verify_lib's
/// `JwtHeaderBadKid`), and any `crit` extension (we understand none, RFC 7515 4.1.11).
pub(crate) fn parse(json: &[u8]) -> Result<Header, TokenError> {
    let mut raw = super::json::object(json, "header")?;
    let alg = match raw.remove("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(TokenError::Malformed("alg is not a string".into())),
        None => return Err(TokenError::Malformed("header has no alg".into())),
    };
    let alg = Algorithm::from_name(&alg).ok_or(TokenError::UnsupportedAlgorithm(alg))?;
    let kid = optional_string(raw.remove("kid"), "kid")?;
    let typ = optional_string(raw.remove("typ"), "typ")?;
    match raw.remove("crit") {
        None => {}
        Some(Value::Array(names)) if !names.is_empty() => {
            let first = names
                .first()
                .map(|n| n.as_str().unwrap_or("?").to_owned())
                .unwrap_or_default();
            return Err(TokenError::UnknownCritical(first));
        }
        Some(_) => {
            return Err(TokenError::Malformed(
                "crit is not a non-empty array".into(),
            ));
        }
    }
    Ok(Header { alg, kid, typ })
}

fn optional_string(value: Option<Value>, name: &str) -> Result<Option<String>, TokenError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::Malformed(format!("{name} is not a string"))),
    }
}
