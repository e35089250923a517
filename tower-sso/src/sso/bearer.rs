//! oauth2-proxy's `--skip-jwt-bearer-tokens`: a request carrying a JWT bearer token that
//! verifies for the provider (audience: the client id) or for an `--extra-jwt-issuers`
//! entry needs no login session. A sender-constrained token (a `cnf` claim: DPoP, mTLS) is
//! refused by oidc-core's verifier, since nothing here verifies its binding.

use http::HeaderMap;
use oidc_core::discovery::ProviderMetadata;
use oidc_core::jwks::{JwksCache, JwksCacheConfig};
use oidc_core::verify::{TokenCacheConfig, Verifier};

use super::session::SessionUser;

/// The verifiers, made on first use: the provider's keys come from its discovery, which
/// may not have happened yet when the middleware is built.
#[derive(Debug, Default)]
pub(super) struct BearerVerifiers {
    verifiers: tokio::sync::OnceCell<Vec<(Verifier, JwksCache)>>,
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
        let verifiers = self
            .verifiers
            .get_or_try_init(|| Self::make(sso))
            .await
            .map_err(|e| Refused(format!("the token issuer cannot be reached: {e}")))?;
        let mut first_error = None;
        for (verifier, keys) in verifiers {
            match verifier.verify_with_cache(token, keys).await {
                Ok(verified) => {
                    return SessionUser::from_claims(verified.claims())
                        .ok_or_else(|| Refused("the token has no sub".into()));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(Refused(first_error.map_or_else(
            || "no issuer is configured".into(),
            |e| e.to_string(),
        )))
    }

    async fn make(sso: &super::Sso) -> Result<Vec<(Verifier, JwksCache)>, oidc_core::Error> {
        let config = sso.config();
        let client = sso.client().await?;
        let verifier = |issuer: &str, audience: &str| {
            Verifier::builder(issuer)
                .audience(audience)
                .clock(config.clock.clone())
                .token_cache(TokenCacheConfig::default())
                .build()
        };
        let mut all = vec![(
            verifier(&config.issuer_url, &config.client_id)?,
            client.jwks().clone(),
        )];
        for (issuer, audience) in &config.extra_jwt_issuers {
            let metadata = ProviderMetadata::discover(&*sso.http(), issuer).await?;
            let keys = JwksCache::new(
                metadata.jwks_uri.clone(),
                sso.http(),
                JwksCacheConfig::default(),
            );
            all.push((verifier(issuer, audience)?, keys));
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
