//! The crate's one error type, [`Error`], and the small enums it groups.
//!
//! Messages are lowercase, name the claim, `kid`, `alg` or URL at fault, and never contain a
//! token, code or secret.

use crate::http::HttpError;

/// Every error this crate returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A provider could not be reached.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The discovery document is missing, malformed or for another issuer.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The key set is malformed or unavailable.
    #[error(transparent)]
    Jwks(#[from] JwksError),
    /// A token was rejected.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A step of the authorization-code flow failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl Error {
    /// The token error, if this is one.
    pub fn as_token(&self) -> Option<&TokenError> {
        match self {
            Error::Token(e) => Some(e),
            _ => None,
        }
    }
}

/// Configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL does not parse or has the wrong form.
    #[error("invalid {what} url: {reason}")]
    InvalidUrl {
        /// Which URL.
        what: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A required setting is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A setting has a value that cannot work.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// Why it is rejected.
        reason: String,
    },
}

/// A problem with the provider's discovery document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The document was not served with status 200.
    #[error("discovery at {url} answered with status {status}")]
    Status {
        /// The discovery URL.
        url: String,
        /// The status received.
        status: u16,
    },
    /// The document is not valid JSON of the expected shape.
    #[error("discovery document from {url} is malformed: {reason}")]
    Malformed {
        /// The discovery URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The document names another issuer (OpenID Connect Discovery 1.0, section 4.3).
    #[error("discovery document names issuer {found:?}, expected exactly {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// The provider does not offer an endpoint that an operation needs.
    #[error("the provider has no {0}")]
    MissingEndpoint(&'static str),
}

/// A problem with a JSON Web Key Set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The key set document is not valid.
    #[error("key set is malformed: {0}")]
    Malformed(String),
    /// The key set could not be fetched and no keys are cached.
    #[error("keys unavailable from {url}: {reason}")]
    Unavailable {
        /// The `jwks_uri`.
        url: String,
        /// Why the fetch failed.
        reason: String,
    },
}

/// Why a token was rejected.
///
/// Signature problems and claim problems are separate variants, so a caller can tell a
/// forged token from an expired one.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not a well-formed compact JWS.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The token is longer than the configured limit; no crypto was attempted.
    #[error("token is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The `alg` header names an algorithm we never accept (`none`, unknown values).
    #[error("unsupported alg {0:?}")]
    UnsupportedAlgorithm(String),
    /// The algorithm is not allowed by the configuration or for the key's type.
    #[error("alg {alg} is not allowed{}", key_hint(.kid))]
    AlgorithmNotAllowed {
        /// The token's `alg`.
        alg: String,
        /// The key's id, when a key was chosen.
        kid: Option<String>,
    },
    /// No key in the set has the token's `kid`, or no key fits a token without `kid`.
    #[error("no key for kid {}", kid.as_deref().unwrap_or("(none)"))]
    UnknownKey {
        /// The token's `kid`.
        kid: Option<String>,
    },
    /// The keys could not be fetched and none are cached.
    #[error("keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The signature does not verify.
    #[error("signature does not verify{}", key_hint(.kid))]
    BadSignature {
        /// The key tried.
        kid: Option<String>,
    },
    /// The `typ` header is not one the configuration allows.
    #[error("typ {found:?} is not allowed")]
    WrongType {
        /// The token's `typ`.
        found: Option<String>,
    },
    /// The `crit` header names an extension we do not understand (RFC 7515, 4.1.11).
    #[error("unsupported critical header {0:?}")]
    UnknownCritical(String),
    /// A claim has the wrong JSON type (e.g. a string `exp`).
    #[error("claim {claim} has the wrong type: {expected} expected")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A required claim is absent.
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    /// `exp` is in the past beyond the allowed skew.
    #[error("token expired at {exp} (now {now}, skew {skew}s)")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The clock's time.
        now: i64,
        /// The allowed skew in seconds.
        skew: i64,
    },
    /// `nbf` is in the future beyond the allowed skew.
    #[error("token not valid before {nbf} (now {now}, skew {skew}s)")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The clock's time.
        now: i64,
        /// The allowed skew in seconds.
        skew: i64,
    },
    /// `iat` is in the future beyond the allowed skew.
    #[error("token issued in the future at {iat} (now {now}, skew {skew}s)")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The clock's time.
        now: i64,
        /// The allowed skew in seconds.
        skew: i64,
    },
    /// `iss` is not the expected issuer.
    #[error("issuer {found:?} is not accepted")]
    WrongIssuer {
        /// The token's `iss`.
        found: String,
    },
    /// None of the token's audiences is accepted, or it has none.
    #[error("audience {found:?} is not accepted")]
    WrongAudience {
        /// The token's audiences.
        found: Vec<String>,
    },
    /// Several audiences, and `azp` is absent or not the client.
    #[error("authorized party {found:?} is not the client")]
    WrongAuthorizedParty {
        /// The token's `azp`.
        found: Option<String>,
    },
    /// The ID token's `nonce` is absent or not the one sent.
    #[error("nonce does not match the authentication request")]
    NonceMismatch,
    /// `at_hash` does not match the access token.
    #[error("at_hash does not match the access token")]
    AccessTokenHashMismatch,
    /// `c_hash` does not match the authorization code.
    #[error("c_hash does not match the authorization code")]
    CodeHashMismatch,
    /// `sub` of the userinfo response is not the ID token's.
    #[error("userinfo sub does not match the id token's sub")]
    SubjectMismatch,
    /// The token is bound to a key holder (a `cnf` claim, RFC 7800: DPoP `jkt`, mTLS
    /// `x5t#S256`, ...) and was presented as a plain bearer token, whose binding nothing
    /// verifies (RFC 9449 7.2, RFC 8705 3). Checked after the signature, so the token is
    /// genuine: a caller that verifies the binding may opt out, no one else.
    #[error("token is sender-constrained (cnf {binding}) and cannot be used as a bearer token")]
    SenderConstrained {
        /// The confirmation method: `jkt` (DPoP), `x5t#S256` (mTLS), `jwk`, `jwe`, `jku`,
        /// `kid`, or `claim` for any other member or shape.
        binding: &'static str,
    },
}

fn key_hint(kid: &Option<String>) -> String {
    kid.as_deref()
        .map(|k| format!(" (kid {k})"))
        .unwrap_or_default()
}

impl TokenError {
    /// True when the token is not a well-formed JWT of the types Envoy's jwt_verify_lib
    /// requires: structure, encoding, JSON, header members or claim types. Such a token
    /// was refused before its issuer, times or signature were looked at.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            TokenError::Malformed(_)
                | TokenError::InvalidClaim { .. }
                | TokenError::TooLarge { .. }
        )
    }

    /// True when the token was rejected for its time claims (`exp`, `nbf`, `iat`).
    pub fn is_time(&self) -> bool {
        matches!(
            self,
            TokenError::Expired { .. }
                | TokenError::NotYetValid { .. }
                | TokenError::IssuedInFuture { .. }
        )
    }

    /// True when the signature or key lookup failed (the token may be forged).
    pub fn is_signature(&self) -> bool {
        matches!(
            self,
            TokenError::BadSignature { .. }
                | TokenError::UnknownKey { .. }
                | TokenError::AlgorithmNotAllowed { .. }
                | TokenError::UnsupportedAlgorithm(_)
        )
    }
}

/// A failure in the authorization-code flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The provider redirected back with `error` (RFC 6749, 4.1.2.1).
    #[error("the provider answered {error}{}", describe(.description))]
    Provider {
        /// The `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The callback's `state` is missing or not the one sent.
    #[error("state does not match the authorization request")]
    StateMismatch,
    /// The callback has no `code`.
    #[error("callback has no code")]
    MissingCode,
    /// The token endpoint refused the request.
    #[error("token endpoint refused: {error}{}", describe(.description))]
    TokenEndpoint {
        /// The `error` code, or the HTTP status when the body is not an OAuth error.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The token response has no `id_token` although `openid` was requested.
    #[error("token response has no id_token")]
    MissingIdToken,
    /// The provider's answer is not what the protocol defines.
    #[error("unexpected response from {endpoint}: {reason}")]
    UnexpectedResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A client assertion could not be signed.
    #[error("cannot sign the client assertion: {0}")]
    ClientAssertion(String),
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}
