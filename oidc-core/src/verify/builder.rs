//! [`VerifierBuilder`]: a [`Verifier`]'s configuration, checked once by `build`.

use std::sync::Arc;
use std::time::Duration;

use super::cache::{TokenCache, TokenCacheConfig};
use super::claims::TimeRules;
use super::{
    Algorithm, AudienceRule, DEFAULT_CLOCK_SKEW, DEFAULT_MAX_TOKEN_LEN, IssuerMatch, Verifier,
    normalize_audience,
};
use crate::clock::{SharedClock, SystemClock};
use crate::error::ConfigError;

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
    accept_sender_constrained: bool,
}

impl VerifierBuilder {
    pub(super) fn new(issuer: IssuerMatch) -> Self {
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
            accept_sender_constrained: false,
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

    /// Accepts tokens with a `cnf` claim: for tokens that are not presented to us as
    /// credentials (ID tokens, signed userinfo), never for bearer tokens.
    pub(crate) fn accept_sender_constrained(mut self) -> Self {
        self.accept_sender_constrained = true;
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
            accept_sender_constrained: self.accept_sender_constrained,
        })
    }
}
