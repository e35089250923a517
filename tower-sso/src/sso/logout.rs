//! OpenID Connect Back-Channel Logout 1.0: the provider tells us, server to server, that a
//! user's session ended; we stop honouring the sessions it names.
//!
//! With the cookie store there is nothing to delete (the session lives in the browser), so
//! the provider's `sid` (or, for a `sub`-only token, the subject and the time) goes into a
//! deny-list kept until the longest session could still be alive. The list is per process:
//! replicas that must all honour a back-channel logout should use the Redis store.

use std::collections::HashMap;
use std::sync::Mutex;

use oidc_core::error::TokenError;
use oidc_core::flow::Client;
use oidc_core::verify::Verifier;
use serde_json::Value;

use super::session::Session;

/// The event a logout token carries.
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutTarget {
    /// The provider's session id, when given.
    pub sid: Option<String>,
    /// The subject, when given.
    pub sub: Option<String>,
}

/// Why a logout token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogoutError {
    /// The token did not verify (signature, `iss`, `aud`, `iat`...).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A claim the specification requires is missing or wrong.
    #[error("logout token: {0}")]
    Claims(&'static str),
    /// The token was seen before.
    #[error("logout token replayed")]
    Replayed,
}

/// Verifies a `logout_token` (Back-Channel Logout 1.0, 2.6): signature with the
/// provider's keys, `iss`, `aud` = our client, `iat`, `jti`, the `events` member, `sid`
/// and/or `sub`, and no `nonce`.
pub async fn verify_logout_token(
    client: &Client,
    token: &str,
    now: i64,
) -> Result<(LogoutTarget, String), LogoutError> {
    let verifier = Verifier::builder(client.metadata().issuer.clone())
        .audience(client.config().client_id.clone())
        .require_exp(false)
        .require_iat(true)
        .clock_skew(oidc_core::verify::DEFAULT_CLOCK_SKEW)
        .build()
        .map_err(|_| LogoutError::Claims("verifier configuration"))?;
    let verified = verifier.verify_with_cache(token, client.jwks()).await?;
    let claims = verified.claims();
    if claims.iat.is_some_and(|iat| iat < now - 600) {
        return Err(LogoutError::Claims("iat is more than ten minutes old"));
    }
    let jti = claims
        .jti
        .clone()
        .ok_or(LogoutError::Claims("jti is missing"))?;
    let event_ok = claims
        .all
        .get("events")
        .and_then(Value::as_object)
        .and_then(|events| events.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object);
    if !event_ok {
        return Err(LogoutError::Claims(
            "events lacks the back-channel logout event",
        ));
    }
    if claims.all.contains_key("nonce") {
        return Err(LogoutError::Claims("a logout token must not carry a nonce"));
    }
    if claims.sid.is_none() && claims.sub.is_none() {
        return Err(LogoutError::Claims("neither sid nor sub"));
    }
    Ok((
        LogoutTarget {
            sid: claims.sid.clone(),
            sub: claims.sub.clone(),
        },
        jti,
    ))
}

/// Sessions ended by back-channel logout, remembered until they could no longer be alive.
#[derive(Debug, Default)]
pub struct DenyList {
    inner: Mutex<Lists>,
}

#[derive(Debug, Default)]
struct Lists {
    /// sid -> remembered until.
    sids: HashMap<String, i64>,
    /// sub -> (logged out at, remembered until).
    subs: HashMap<String, (i64, i64)>,
    /// jti -> remembered until.
    jtis: HashMap<String, i64>,
}

/// Entries kept at most; a flood of valid logout tokens cannot grow memory without bound.
const MAX_ENTRIES: usize = 100_000;

impl DenyList {
    /// Records a logout at `now`, kept until `until`. `Err` when `jti` was seen.
    pub fn record(
        &self,
        target: &LogoutTarget,
        jti: &str,
        now: i64,
        until: i64,
    ) -> Result<(), LogoutError> {
        let Ok(mut lists) = self.inner.lock() else {
            return Ok(());
        };
        lists.sids.retain(|_, t| *t > now);
        lists.subs.retain(|_, (_, t)| *t > now);
        lists.jtis.retain(|_, t| *t > now);
        if lists.jtis.contains_key(jti) {
            return Err(LogoutError::Replayed);
        }
        if lists.sids.len() + lists.subs.len() + lists.jtis.len() >= MAX_ENTRIES {
            tracing::warn!("back-channel logout deny-list is full; oldest entries are kept");
            return Ok(());
        }
        lists.jtis.insert(jti.to_owned(), until);
        match (&target.sid, &target.sub) {
            (Some(sid), _) => {
                lists.sids.insert(sid.clone(), until);
            }
            (None, Some(sub)) => {
                lists.subs.insert(sub.clone(), (now, until));
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// True when `session` was ended by a back-channel logout.
    pub fn ended(&self, session: &Session) -> bool {
        let Ok(lists) = self.inner.lock() else {
            return false;
        };
        if lists.sids.is_empty() && lists.subs.is_empty() {
            return false;
        }
        let by_sid = session
            .user
            .sid
            .as_ref()
            .is_some_and(|sid| lists.sids.contains_key(sid));
        let by_sub = lists
            .subs
            .get(&session.user.sub)
            .is_some_and(|(at, _)| session.created_at <= *at);
        by_sid || by_sub
    }
}
