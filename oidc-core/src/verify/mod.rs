//! JWT verification: ID tokens and access-token JWTs.
//!
//! A [`Verifier`] is configured once (issuer, audiences, algorithms, clock skew, clock) and
//! then checks tokens against a [`KeySet`] synchronously, or against a [`JwksCache`] that
//! refetches the provider's keys when a token names an unknown `kid`.
//!
//! The checks run in Envoy's jwt_authn order, cheapest first, so a malformed, foreign or
//! expired token never costs a signature check: size, structure and header (`alg` allow-list,
//! `crit`, `typ`), claim types, `iss`, `exp`/`nbf`/`iat`, `aud`/`azp`, then the signature.
//!
//! Knowingly stricter than Envoy: a `crit` header is always rejected (we implement no JWS
//! extension, RFC 7515 4.1.11), and an `aud` of the wrong JSON type is malformed.

mod cache;
mod claims;
mod header;
mod id_token;

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
use crate::clock::{SharedClock, SystemClock};
use crate::error::{ConfigError, TokenError};
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
}

/// Builds a [`Verifier`]; see [`Verifier::builder`].
#[derive(Debug)]
#[must_use]
pub struct VerifierBuilder {
    issuer: IssuerMatch,
    audiences: Vec<String>,
    any_audience: bool,
    normalize_audience_urls: bool,
    authorized_party: Option<String>,
    algorithms: Vec<Algorithm>,
    types: Option<Vec<String>>,
    time: TimeRules,
    max_len: usize,
    clock: SharedClock,
    cache: Option<TokenCacheConfig>,
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
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("payload is not a JSON object".into()))?;
        let claims = Claims::from_map(map)?;

        self.issuer.check(&claims)?;
        claims::check_time(&claims, now, self.time)?;
        self.check_audience(&claims)?;
        more(&header, &claims)?;

        let key_fingerprint =
            self.check_signature(&header, parts.signing_input, &signature, keys)?;
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

impl VerifierBuilder {
    fn new(issuer: IssuerMatch) -> Self {
        Self {
            issuer,
            audiences: Vec::new(),
            any_audience: false,
            normalize_audience_urls: false,
            authorized_party: None,
            algorithms: Algorithm::ALL.to_vec(),
            types: None,
            time: TimeRules {
                skew: DEFAULT_CLOCK_SKEW.as_secs() as i64,
                require_exp: true,
                require_iat: false,
                reject_future_iat: true,
                zero_exp_is_absent: false,
            },
            max_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            cache: None,
        }
    }

    /// Accepts tokens whose `aud` contains `audience` (call again to accept several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts tokens whose `aud` contains any of `audiences`.
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences.extend(audiences.into_iter().map(Into::into));
        self
    }

    /// Accepts any `aud`, including none. Without this or an audience, `build` fails: the
    /// audience check cannot be switched off by accident.
    pub fn insecure_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Compares audiences as Envoy's jwt_authn does: without a leading `http://` or
    /// `https://` and without one trailing `/`, so `https://api.example/` matches
    /// `api.example`. Off by default (exact comparison).
    pub fn normalize_audience_urls(mut self, normalize: bool) -> Self {
        self.normalize_audience_urls = normalize;
        self
    }

    /// Requires `azp`, when present or when there are several audiences, to be `client_id`
    /// (OpenID Connect Core 3.1.3.7).
    pub fn authorized_party(mut self, client_id: impl Into<String>) -> Self {
        self.authorized_party = Some(client_id.into());
        self
    }

    /// The accepted algorithms (default: all of [`Algorithm::ALL`]). A key still verifies
    /// only the algorithms of its type.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Requires the `typ` header to be one of `types`, compared case-insensitively (e.g.
    /// `["at+jwt", "application/at+jwt"]` for RFC 9068 access tokens).
    pub fn required_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// The tolerance for `exp`, `nbf` and `iat` (default [`DEFAULT_CLOCK_SKEW`]).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.time.skew = i64::try_from(skew.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Whether a token without `exp` is rejected (default: yes; Envoy accepts it).
    pub fn require_exp(mut self, required: bool) -> Self {
        self.time.require_exp = required;
        self
    }

    /// Whether a token without `iat` is rejected (default: no; ID tokens always need it).
    pub fn require_iat(mut self, required: bool) -> Self {
        self.time.require_iat = required;
        self
    }

    /// Whether an `iat` in the future beyond the skew is rejected (default: yes; Envoy does
    /// not check `iat`).
    pub fn reject_future_iat(mut self, reject: bool) -> Self {
        self.time.reject_future_iat = reject;
        self
    }

    /// Whether `exp: 0` means "no expiry", as Envoy's jwt_verify_lib reads it (default:
    /// no, it is 1970 and expired).
    pub fn zero_exp_is_absent(mut self, absent: bool) -> Self {
        self.time.zero_exp_is_absent = absent;
        self
    }

    /// The largest token accepted (default [`DEFAULT_MAX_TOKEN_LEN`]).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// The clock to check times against (default the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Turns the verified-token cache on.
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// Checks the configuration and builds the verifier.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        let issuer_empty = match &self.issuer {
            IssuerMatch::Exact(i) => i.is_empty(),
            IssuerMatch::TenantTemplate(t) => !t.contains("{tenantid}"),
            IssuerMatch::Any => false,
        };
        if issuer_empty {
            return Err(ConfigError::Invalid {
                what: "issuer",
                reason: "empty, or a tenant template without {tenantid}".into(),
            });
        }
        let audience = match (self.audiences.is_empty(), self.any_audience) {
            (false, _) if self.normalize_audience_urls => AudienceRule::OneOfUrlNormalized(
                self.audiences
                    .iter()
                    .map(|a| normalize_audience(a).to_owned())
                    .collect(),
            ),
            (false, _) => AudienceRule::OneOf(self.audiences),
            (true, true) => AudienceRule::Any,
            (true, false) => {
                return Err(ConfigError::Invalid {
                    what: "audience",
                    reason: "set an audience, or opt out with insecure_accept_any_audience()"
                        .into(),
                });
            }
        };
        if self.algorithms.is_empty() {
            return Err(ConfigError::Invalid {
                what: "algorithms",
                reason: "the allow-list is empty".into(),
            });
        }
        Ok(Verifier {
            issuer: self.issuer,
            audience,
            authorized_party: self.authorized_party,
            algorithms: self.algorithms,
            types: self.types,
            time: self.time,
            max_len: self.max_len,
            clock: self.clock,
            cache: self.cache.map(TokenCache::new),
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

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    let malformed = || TokenError::Malformed("a JWS has three dot-separated parts".into());
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    if payload.contains('.') || header.is_empty() || payload.is_empty() {
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
