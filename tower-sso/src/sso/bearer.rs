//! oauth2-proxy's `--skip-jwt-bearer-tokens`: a request carrying a JWT bearer token that
//! verifies for the provider (audience: the client id) or for an `--extra-jwt-issuers`
//! entry needs no login session. A sender-constrained token (a `cnf` claim: DPoP, mTLS) is
//! refused by oidc-core's verifier, since nothing here verifies its binding.

use std::time::Duration;

use http::HeaderMap;
use oidc_core::discovery::ProviderMetadata;
use oidc_core::jwks::{JwksCache, JwksCacheConfig};
use oidc_core::verify::{TokenCacheConfig, Verifier};
use tokio::time::Instant;

use super::session::SessionUser;

/// The first wait after a failed discovery; it doubles with each failure, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two discoveries of an issuer that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The verifiers, made on first use: the provider's keys come from its discovery, which
/// may not have happened yet when the middleware is built. Each issuer is discovered on
/// its own: one that cannot be reached does not stop the others, and is asked again
/// only after a backoff (1 s, doubling up to 5 min), never on every request.
#[derive(Debug, Default)]
pub(super) struct BearerVerifiers {
    provider: Issuer,
    /// One per `--extra-jwt-issuers` entry, in order.
    extra: std::sync::OnceLock<Vec<Issuer>>,
}

/// One issuer's verifier and keys, once discovered.
#[derive(Debug, Default)]
struct Issuer {
    ready: tokio::sync::OnceCell<(Verifier, JwksCache)>,
    backoff: std::sync::Mutex<Backoff>,
}

/// When a failed discovery may be tried again.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_try: Option<Instant>,
}

impl Backoff {
    fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << self.failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        self.next_try = Some(now + wait);
    }

    /// How long until the next attempt, if it is not yet time.
    fn wait(&self, now: Instant) -> Option<Duration> {
        self.next_try
            .filter(|at| *at > now)
            .map(|at| at.duration_since(now))
    }
}

impl Issuer {
    /// The verifier and keys, made by `make` unless an earlier failure's backoff is still
    /// running.
    async fn get<F, Fut>(&self, make: F) -> Result<&(Verifier, JwksCache), String>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Verifier, JwksCache), oidc_core::Error>>,
    {
        if let Some(ready) = self.ready.get() {
            return Ok(ready);
        }
        let backoff = || {
            self.backoff
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        self.ready
            .get_or_try_init(|| async {
                // Checked inside: the requests queued behind a failed attempt wait too.
                if let Some(wait) = backoff().wait(Instant::now()) {
                    return Err(format!(
                        "its discovery failed; next attempt in {} s",
                        wait.as_secs().max(1)
                    ));
                }
                make().await.map_err(|e| {
                    backoff().failed(Instant::now());
                    e.to_string()
                })
            })
            .await
    }
}

/// Why a bearer token was refused (for the 401 and the log; never the token itself).
#[derive(Debug)]
pub(super) struct Refused(pub(super) String);

/// The token of `Authorization: Bearer <JWT>`, when it is one (three dot-separated parts);
/// `Err` when an `Authorization` header is there but is not visible ASCII: a token that
/// cannot be read is a malformed one (401, as Envoy answers), never "no token".
pub(super) fn bearer_jwt(headers: &HeaderMap) -> Option<Result<&str, Refused>> {
    let value = headers.get(http::header::AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(Refused(
            "the Authorization header is not readable (bytes that are not visible ASCII)".into(),
        )));
    };
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && token.split('.').count() == 3).then_some(Ok(token))
}

impl BearerVerifiers {
    /// The user `token` identifies, trying the provider first, then the extra issuers.
    pub(super) async fn verify(
        &self,
        sso: &super::Sso,
        token: &str,
    ) -> Result<SessionUser, Refused> {
        let config = sso.config();
        let extra = self.extra.get_or_init(|| {
            config
                .extra_jwt_issuers
                .iter()
                .map(|_| Issuer::default())
                .collect()
        });
        let mut first_error = None;
        for i in 0..=extra.len() {
            let found = match i.checked_sub(1) {
                None => self.provider.get(|| Self::provider(sso)).await,
                Some(n) => {
                    let (issuer, audience) = &config.extra_jwt_issuers[n];
                    extra[n].get(|| Self::extra(sso, issuer, audience)).await
                }
            };
            let (verifier, keys) = match found {
                Ok(found) => found,
                Err(e) => {
                    first_error.get_or_insert(format!("the token issuer cannot be reached: {e}"));
                    continue;
                }
            };
            match verifier.verify_with_cache(token, keys).await {
                Ok(verified) => {
                    return SessionUser::from_claims(verified.claims())
                        .ok_or_else(|| Refused("the token has no sub".into()));
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        Err(Refused(
            first_error.unwrap_or_else(|| "no issuer is configured".into()),
        ))
    }

    fn verifier(
        sso: &super::Sso,
        issuer: &str,
        audience: &str,
    ) -> Result<Verifier, oidc_core::error::ConfigError> {
        Verifier::builder(issuer)
            .audience(audience)
            .clock(sso.config().clock.clone())
            .token_cache(TokenCacheConfig::default())
            .build()
    }

    async fn provider(sso: &super::Sso) -> Result<(Verifier, JwksCache), oidc_core::Error> {
        let config = sso.config();
        let client = sso.client().await?;
        let verifier = Self::verifier(sso, &config.issuer_url, &config.client_id)?;
        Ok((verifier, client.jwks().clone()))
    }

    async fn extra(
        sso: &super::Sso,
        issuer: &str,
        audience: &str,
    ) -> Result<(Verifier, JwksCache), oidc_core::Error> {
        let metadata = ProviderMetadata::discover(&*sso.http(), issuer).await?;
        let keys = JwksCache::new(
            metadata.jwks_uri.clone(),
            sso.http(),
            JwksCacheConfig::default(),
        );
        Ok((Self::verifier(sso, issuer, audience)?, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_five_minutes() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert_eq!(backoff.wait(now), None, "the first attempt is not delayed");
        let mut waits = Vec::new();
        for _ in 0..12 {
            backoff.failed(now);
            waits.push(backoff.wait(now).unwrap().as_secs());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff.wait(now + MAX_BACKOFF), None);
    }

    #[test]
    fn only_bearer_jwts_are_taken() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
            bearer_jwt(&h).map(|t| t.map(str::to_owned).map_err(|r| r.0))
        };
        let some = |t: &str| Some(Ok(t.to_owned()));
        assert_eq!(with("Bearer a.b.c"), some("a.b.c"));
        assert_eq!(with("bearer a.b.c"), some("a.b.c"));
        assert_eq!(with("Bearer opaque-token"), None);
        assert_eq!(with("Basic dXNlcjpwYXNz"), None);
        assert_eq!(with("Bearer a.b.c.d.e"), None);
        assert!(bearer_jwt(&HeaderMap::new()).is_none());
    }

    #[test]
    fn an_authorization_that_cannot_be_read_is_refused_not_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_bytes(b"Bearer a.b.\xffc").unwrap(),
        );
        assert!(matches!(bearer_jwt(&h), Some(Err(_))));
    }
}
