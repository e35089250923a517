//! ID-token verification (OpenID Connect Core 1.0, 3.1.3.7): the client is the audience,
//! `azp` is checked, `exp` and `iat` are required, and `nonce`, `at_hash` and `c_hash` are
//! checked against what the client sent and received.

use super::{Claims, Header, VerifiedToken, Verifier, VerifierBuilder, hash_matches, with_refetch};
use crate::error::{ConfigError, TokenError};
use crate::jwks::{JwksCache, KeySet};
use crate::secret::ct_eq;

/// What an ID token is checked against besides the provider's keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdTokenChecks<'a> {
    /// The `nonce` sent in the authentication request; the token must carry it.
    pub nonce: Option<&'a str>,
    /// The access token issued with the ID token; `at_hash`, when present, must match it.
    pub access_token: Option<&'a str>,
    /// The authorization code; `c_hash`, when present, must match it.
    pub code: Option<&'a str>,
}

/// Verifies ID tokens for one client.
///
/// ```
/// use oidc_core::testing::{TestKeys, mint};
/// use oidc_core::verify::{IdTokenChecks, IdTokenVerifier, Verifier};
///
/// let keys = TestKeys::shared();
/// let token = mint(&keys.rsa, serde_json::json!({
///     "iss": "https://op.example", "sub": "alice", "aud": "my-client", "nonce": "n-0S6",
///     "exp": 4_000_000_000i64, "iat": 1_700_000_000,
/// }));
/// let verifier = IdTokenVerifier::new(Verifier::builder("https://op.example"), "my-client")?;
/// let checks = IdTokenChecks { nonce: Some("n-0S6"), ..Default::default() };
/// let verified = verifier.verify(&token, &keys.key_set(), &checks)?;
/// assert_eq!(verified.claims().sub.as_deref(), Some("alice"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct IdTokenVerifier {
    inner: Verifier,
}

impl IdTokenVerifier {
    /// An ID-token verifier for `client_id`, from a builder holding the issuer, clock,
    /// skew and algorithms. The audience, `azp` and `iat` rules are set here.
    ///
    /// A `cnf` claim is not refused: the client receives the ID token from the token
    /// endpoint, it is never presented to us as a bearer credential (see the
    /// [module docs](super#sender-constrained-tokens)).
    pub fn new(builder: VerifierBuilder, client_id: &str) -> Result<Self, ConfigError> {
        let inner = builder
            .audience(client_id)
            .authorized_party(client_id)
            .require_exp(true)
            .require_iat(true)
            .accept_sender_constrained()
            .build()?;
        Ok(Self { inner })
    }

    /// Verifies an ID token against `keys`.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        checks: &IdTokenChecks<'_>,
    ) -> Result<VerifiedToken, TokenError> {
        let now = self.inner.clock.unix_now();
        self.inner
            .verify_uncached(token, keys, now, |header, claims| {
                check(header, claims, checks)
            })
    }

    /// Verifies an ID token with keys from `cache`, refetching once on an unknown `kid`.
    pub async fn verify_with_cache(
        &self,
        token: &str,
        cache: &JwksCache,
        checks: &IdTokenChecks<'_>,
    ) -> Result<VerifiedToken, TokenError> {
        with_refetch(cache, |keys| self.verify(token, keys, checks)).await
    }
}

fn check(header: &Header, claims: &Claims, checks: &IdTokenChecks<'_>) -> Result<(), TokenError> {
    if let Some(expected) = checks.nonce {
        match claims.nonce.as_deref() {
            Some(nonce) if ct_eq(nonce, expected) => {}
            _ => return Err(TokenError::NonceMismatch),
        }
    }
    if let (Some(at_hash), Some(access_token)) = (claims.at_hash.as_deref(), checks.access_token)
        && !hash_matches(header.alg, at_hash, access_token)
    {
        return Err(TokenError::AccessTokenHashMismatch);
    }
    if let (Some(c_hash), Some(code)) = (claims.c_hash.as_deref(), checks.code)
        && !hash_matches(header.alg, c_hash, code)
    {
        return Err(TokenError::CodeHashMismatch);
    }
    if claims.sub.as_deref().is_none_or(str::is_empty) {
        return Err(TokenError::MissingClaim("sub"));
    }
    Ok(())
}
