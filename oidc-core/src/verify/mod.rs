//! JWT verification: ID tokens and access-token JWTs.
//!
//! A [`Verifier`] is configured once (issuer, audiences, algorithms, clock skew, clock) and
//! then checks tokens against a [`KeySet`] synchronously, or against a [`JwksCache`] that
//! refetches the provider's keys when a token names an unknown `kid`.
//!
//! The checks run in Envoy's jwt_authn order, cheapest first, so a malformed, foreign or
//! expired token never costs a signature check: size, structure and header (`alg` allow-list,
//! `crit`, `typ`), claim types, `iss`, `exp`/`nbf`/`iat`, `aud`/`azp`, the signature, then
//! the sender constraint.
//!
//! # Malformed tokens
//!
//! Every token Envoy's jwt_verify_lib refuses while parsing (`Jwt::parseFromString`) we
//! refuse as malformed ([`TokenError::is_malformed`]), before its issuer, times or
//! signature are looked at:
//! - not exactly three dot-separated sections, or an empty one (`JwtBadFormat`);
//! - a section that is not base64url (`+`, `/` or any other byte outside the URL-safe
//!   alphabet: `Jwt*ParseErrorBadBase64`);
//! - a header or payload that is not one JSON object, names a member twice in any object,
//!   nests more than 100 levels or is not UTF-8 (`Jwt*ParseErrorBadJson`: protobuf's JSON
//!   parser into a `Struct`);
//! - `alg` absent or not a string (`JwtHeaderBadAlg`), `kid` not a string, `null` included
//!   (`JwtHeaderBadKid`); an `alg` we do not implement is [`TokenError::UnsupportedAlgorithm`];
//! - `iss`, `sub` or `jti` not a string, `exp`, `nbf` or `iat` not a number in `[0, 2^64)`,
//!   `aud` not a string or an array of strings; for these claims a `null` is the wrong
//!   type, not an absent claim (`JwtPayloadParseError*`). A float `exp` loses its decimals
//!   and a missing `exp` is accepted when [`VerifierBuilder::require_exp`] is off, as Envoy.
//!
//! Knowingly stricter than jwt_verify_lib:
//! - a `crit` header is always rejected (we implement no JWS extension, RFC 7515 4.1.11);
//! - `typ`, when present, must be a string; `crit` must be a non-empty array;
//! - base64url padding (`=`) is refused (RFC 7515 2), where `absl::WebSafeBase64Unescape`
//!   accepts it; empty sections are refused where `absl::StrSplit(.., SkipEmpty())` would
//!   skip them (`a..b.c`, a trailing dot);
//! - a payload of `null` (an empty `Struct` to protobuf) is malformed, and `iss` is always
//!   required ([`TokenError::MissingClaim`]);
//! - `azp`, `nonce`, `at_hash`, `c_hash`, `sid` and `tid` must be strings when present;
//! - `alg` `none`, the HMAC family and `ES512` are never accepted (see [`Algorithm`]).
//!
//! # Sender-constrained tokens
//!
//! A token with a `cnf` claim (RFC 7800) is bound to a key: DPoP's `jkt` (RFC 9449), mTLS's
//! `x5t#S256` (RFC 8705) or any other confirmation member. Presented as a plain bearer
//! token, without the proof of possession that nothing here verifies, it is refused with
//! [`TokenError::SenderConstrained`] (RFC 9449 7.2, RFC 8705 3), by default and on every
//! path that verifies access tokens. [`IdTokenVerifier`] does not refuse it: an ID token
//! comes to the client from the token endpoint over its own authenticated back channel, is
//! never a credential presented to us, and OpenID Connect gives `cnf` in it no meaning;
//! a signed userinfo response, fetched the same way, is not refused either.

mod builder;
mod cache;
mod claims;
mod header;
mod id_token;
mod json;

pub use self::builder::VerifierBuilder;
pub use self::cache::TokenCacheConfig;
pub use self::claims::Claims;
pub use self::header::{Algorithm, Header};
pub use self::id_token::{IdTokenChecks, IdTokenVerifier};

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use self::cache::TokenCache;
use self::claims::TimeRules;
use crate::clock::SharedClock;
use crate::error::TokenError;
use crate::jwks::{JwksCache, KeySet};
use crate::secret::ct_eq;

/// Default clock skew: 60 seconds, as Envoy and the seed's jose4j example allow.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Default largest token accepted: 64 KiB. Longer tokens are rejected before any parsing.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 64 * 1024;

/// How the `iss` claim is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerMatch {
    /// `iss` must equal this string exactly (no normalisation, no trailing-slash tolerance).
    Exact(String),
    /// A multi-tenant issuer such as `https://login.microsoftonline.com/{tenantid}/v2.0`:
    /// `iss` must equal the template with `{tenantid}` replaced by the token's `tid` claim.
    TenantTemplate(String),
    /// Any `iss`: for a key set that a single issuer controls (Envoy's provider without
    /// `issuer`). The keys alone then decide who may issue tokens.
    Any,
}

impl IssuerMatch {
    fn check(&self, claims: &Claims) -> Result<(), TokenError> {
        let ok = match self {
            IssuerMatch::Exact(expected) => claims.iss == *expected,
            IssuerMatch::TenantTemplate(template) => match claims.tid.as_deref() {
                Some(tid)
                    if !tid.is_empty()
                        && tid
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') =>
                {
                    claims.iss == template.replace("{tenantid}", tid)
                }
                _ => false,
            },
            IssuerMatch::Any => true,
        };
        if ok {
            Ok(())
        } else {
            Err(TokenError::WrongIssuer {
                found: claims.iss.clone(),
            })
        }
    }
}

/// A token whose signature and claims were checked.
///
/// Cheap to clone: the header and claims are shared.
#[derive(Debug, Clone)]
pub struct VerifiedToken(Arc<Verified>);

#[derive(Debug)]
struct Verified {
    header: Header,
    claims: Claims,
    key_fingerprint: u64,
}

impl VerifiedToken {
    /// The token's header.
    pub fn header(&self) -> &Header {
        &self.0.header
    }

    /// The token's claims.
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The fingerprint of the key that verified it (see [`crate::jwks::Key::fingerprint`]).
    pub fn key_fingerprint(&self) -> u64 {
        self.0.key_fingerprint
    }

    /// `iss/sub`, Istio's `request.auth.principal`; `None` without `sub`.
    pub fn principal(&self) -> Option<String> {
        let claims = self.claims();
        claims
            .sub
            .as_ref()
            .map(|sub| format!("{}/{}", claims.iss, sub))
    }
}

/// What the audience check accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AudienceRule {
    /// At least one of these must be in `aud`; a token with no `aud` is rejected.
    OneOf(Vec<String>),
    /// As `OneOf`, comparing both sides without a leading `http://` / `https://` and one
    /// trailing `/` (Envoy's jwt_authn audience matching). Holds the normalized forms.
    OneOfUrlNormalized(Vec<String>),
    /// `aud` is not checked (explicit opt-out).
    Any,
}

/// Checks JWTs against a configuration. Build it with [`Verifier::builder`].
///
/// ```
/// use oidc_core::testing::{TestKeys, mint};
/// use oidc_core::verify::Verifier;
///
/// let keys = TestKeys::shared();
/// let token = mint(&keys.rsa, serde_json::json!({
///     "iss": "https://issuer.example", "sub": "alice", "aud": "api",
///     "exp": 4_000_000_000i64, "iat": 1_700_000_000,
/// }));
/// let verifier = Verifier::builder("https://issuer.example").audience("api").build()?;
/// let verified = verifier.verify(&token, &keys.key_set())?;
/// assert_eq!(verified.claims().sub.as_deref(), Some("alice"));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    issuer: IssuerMatch,
    audience: AudienceRule,
    authorized_party: Option<String>,
    algorithms: Vec<Algorithm>,
    types: Option<Vec<String>>,
    time: TimeRules,
    max_len: usize,
    clock: SharedClock,
    cache: Option<TokenCache>,
    accept_sender_constrained: bool,
}

impl Verifier {
    /// Starts a verifier for tokens whose `iss` is exactly `issuer`.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(IssuerMatch::Exact(issuer.into()))
    }

    /// Starts a verifier with another issuer rule (e.g. a tenant template).
    pub fn builder_with_issuer(issuer: IssuerMatch) -> VerifierBuilder {
        VerifierBuilder::new(issuer)
    }

    /// Verifies `token` against `keys`: structure, header, claims, then signature.
    ///
    /// With the verified-token cache on, a token verified before is answered from the cache
    /// while it is unexpired and its key is still in `keys`.
    pub fn verify(&self, token: &str, keys: &KeySet) -> Result<VerifiedToken, TokenError> {
        self.verify_at(token, keys, self.clock.unix_now())
    }

    /// [`Verifier::verify`] at the time `now` (seconds since the epoch) instead of the
    /// configured clock: for replays and for callers that pin the time per request.
    pub fn verify_at(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<VerifiedToken, TokenError> {
        self.check_len(token)?;
        let Some(cache) = &self.cache else {
            return self.verify_uncached(token, keys, now, |_, _| Ok(()));
        };
        let digest = cache::digest_of(token);
        if let Some(hit) = cache.get(&digest, now, keys) {
            return Ok(hit);
        }
        let verified = self.verify_uncached(token, keys, now, |_, _| Ok(()))?;
        cache.insert(digest, verified.clone(), now);
        Ok(verified)
    }

    /// Verifies `token` with keys from `cache`, refetching them once (rate-limited by the
    /// cache) when the token names a `kid` the cached set does not have.
    pub async fn verify_with_cache(
        &self,
        token: &str,
        cache: &JwksCache,
    ) -> Result<VerifiedToken, TokenError> {
        self.check_len(token)?;
        with_refetch(cache, |keys| self.verify(token, keys)).await
    }

    /// The number of tokens in the verified-token cache.
    pub fn cached_tokens(&self) -> usize {
        self.cache.as_ref().map_or(0, TokenCache::len)
    }

    fn check_len(&self, token: &str) -> Result<(), TokenError> {
        if token.len() > self.max_len {
            return Err(TokenError::TooLarge {
                len: token.len(),
                limit: self.max_len,
            });
        }
        Ok(())
    }

    /// The full check with an extra claim check `more` before the signature.
    fn verify_uncached(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
        more: impl FnOnce(&Header, &Claims) -> Result<(), TokenError>,
    ) -> Result<VerifiedToken, TokenError> {
        self.check_len(token)?;
        let parts = split(token)?;
        let header = header::parse(&decode_part(parts.header, "header")?)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed {
                alg: header.alg.to_string(),
                kid: header.kid.clone(),
            });
        }
        if let Some(types) = &self.types {
            let ok = header
                .typ
                .as_deref()
                .is_some_and(|t| types.iter().any(|x| x.eq_ignore_ascii_case(t)));
            if !ok {
                return Err(TokenError::WrongType {
                    found: header.typ.clone(),
                });
            }
        }
        let signature = decode_part(parts.signature, "signature")?;
        let payload = decode_part(parts.payload, "payload")?;
        let claims = Claims::from_map(json::object(&payload, "payload")?)?;

        self.issuer.check(&claims)?;
        claims::check_time(&claims, now, self.time)?;
        self.check_audience(&claims)?;
        more(&header, &claims)?;

        let key_fingerprint =
            self.check_signature(&header, parts.signing_input, &signature, keys)?;
        if !self.accept_sender_constrained
            && let Some(binding) = sender_constraint(&claims)
        {
            return Err(TokenError::SenderConstrained { binding });
        }
        Ok(VerifiedToken(Arc::new(Verified {
            header,
            claims,
            key_fingerprint,
        })))
    }

    fn check_audience(&self, claims: &Claims) -> Result<(), TokenError> {
        let accepted = match &self.audience {
            AudienceRule::Any => true,
            AudienceRule::OneOf(accepted) => claims.aud.iter().any(|a| accepted.contains(a)),
            AudienceRule::OneOfUrlNormalized(accepted) => claims
                .aud
                .iter()
                .any(|a| accepted.iter().any(|x| x == normalize_audience(a))),
        };
        if !accepted {
            return Err(TokenError::WrongAudience {
                found: claims.aud.clone(),
            });
        }
        if let Some(client) = &self.authorized_party {
            let azp_ok = claims.azp.as_deref().map(|azp| azp == client);
            match azp_ok {
                Some(false) => {
                    return Err(TokenError::WrongAuthorizedParty {
                        found: claims.azp.clone(),
                    });
                }
                None if claims.aud.len() > 1 => {
                    return Err(TokenError::WrongAuthorizedParty { found: None });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_signature(
        &self,
        header: &Header,
        signing_input: &str,
        signature: &[u8],
        keys: &KeySet,
    ) -> Result<u64, TokenError> {
        let mut candidates = keys.candidates(header.kid.as_deref(), header.alg)?;
        candidates
            .find(|key| key.verify(header.alg, signing_input.as_bytes(), signature))
            .map(|key| key.fingerprint())
            .ok_or_else(|| TokenError::BadSignature {
                kid: header.kid.clone(),
            })
    }
}

/// Runs `verify` on the cached keys and, when it reports an unknown `kid`, once more on a
/// refetched set (the cache rate-limits refetches and collapses concurrent ones).
async fn with_refetch(
    cache: &JwksCache,
    verify: impl Fn(&KeySet) -> Result<VerifiedToken, TokenError>,
) -> Result<VerifiedToken, TokenError> {
    let keys = cache.current().await;
    match verify(&keys) {
        Err(TokenError::UnknownKey { kid }) => {
            let fresh = cache.refresh_for_unknown_kid().await;
            if Arc::ptr_eq(&keys, &fresh) {
                return Err(match cache.last_error() {
                    Some(reason) if keys.is_empty() => TokenError::KeysUnavailable(reason),
                    _ => TokenError::UnknownKey { kid },
                });
            }
            verify(&fresh)
        }
        other => other,
    }
}

struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
    signing_input: &'a str,
}

/// The confirmation method of a `cnf` claim (RFC 7800 3.1), if the token has one: the
/// first registered member present, or `claim` for any other member or shape.
fn sender_constraint(claims: &Claims) -> Option<&'static str> {
    const KNOWN: [&str; 6] = ["jkt", "x5t#S256", "jwk", "jwe", "jku", "kid"];
    let cnf = claims.all.get("cnf")?;
    Some(
        cnf.as_object()
            .and_then(|members| KNOWN.into_iter().find(|k| members.contains_key(*k)))
            .unwrap_or("claim"),
    )
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let malformed =
        || TokenError::Malformed("a JWS has three non-empty dot-separated parts".into());
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    if payload.contains('.') || header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(malformed());
    }
    Ok(Parts {
        header,
        payload,
        signature,
        signing_input,
    })
}

fn decode_part(part: &str, name: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("{name} is not base64url")))
}

/// An audience without a leading `http://` / `https://` and one trailing `/`.
fn normalize_audience(aud: &str) -> &str {
    let rest = aud
        .strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .unwrap_or(aud);
    rest.strip_suffix('/').unwrap_or(rest)
}

/// `base64url(left half of hash(value))`, the `at_hash` / `c_hash` construction.
pub(crate) fn half_hash(alg: Algorithm, value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(alg.hash(), value.as_bytes());
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// Compares a `*_hash` claim with the hash of `value` in constant time.
pub(crate) fn hash_matches(alg: Algorithm, claim: &str, value: &str) -> bool {
    ct_eq(&half_hash(alg, value), claim)
}

#[cfg(test)]
mod tests;
