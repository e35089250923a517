//! OpenID Connect Back-Channel Logout 1.0: the provider tells us, server to server, that a
//! user's session ended; we stop honouring the sessions it names.
//!
//! With the cookie store there is nothing to delete (the session lives in the browser), so
//! the provider's `sid` (or, for a `sub`-only token, the subject and the time) goes into a
//! deny-list kept until the longest session could still be alive; a sign-out puts the
//! session's own id there, so a copy of the old cookie is worthless. The list is per
//! process: replicas that must all honour a logout should use the Redis store.

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
    /// The deny-list is full of live entries: the logout cannot be recorded now (the
    /// provider should retry).
    #[error("logout deny-list is full")]
    Full,
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

/// Sessions that ended (sign-out of a cookie session, back-channel logout), remembered
/// until they could no longer be alive.
///
/// Bounded (a flood of logouts cannot grow memory without limit), and a full list rejects,
/// it never forgets: expired entries are pruned first, and an entry still live is never
/// dropped to make room (that would bring an ended session back to life). What cannot be
/// recorded is refused instead: [`record`](Self::record) answers [`LogoutError::Full`]
/// (the back-channel endpoint then answers 503, so the provider retries), and
/// [`record_sign_out`](Self::record_sign_out) fails closed by ending every session created
/// until then (everyone logs in again once; the memory this takes is one timestamp).
#[derive(Debug)]
pub struct DenyList {
    inner: Mutex<Lists>,
    capacity: usize,
}

impl Default for DenyList {
    fn default() -> Self {
        Self::with_capacity(DENY_LIST_CAPACITY)
    }
}

#[derive(Debug, Default)]
struct Lists {
    /// Our session id (signed out) -> (the session's creation, remembered until).
    ids: HashMap<String, (i64, i64)>,
    /// sid -> remembered until.
    sids: HashMap<String, i64>,
    /// sub -> (logged out at, remembered until).
    subs: HashMap<String, (i64, i64)>,
    /// jti -> remembered until.
    jtis: HashMap<String, i64>,
    /// Every session created at or before this time has ended: a sign-out found the list
    /// full and could not be recorded on its own.
    ended_created_by: Option<i64>,
}

impl Lists {
    fn len(&self) -> usize {
        self.ids.len() + self.sids.len() + self.subs.len() + self.jtis.len()
    }

    /// Whether `n` more entries fit, pruning the expired ones first when they do not.
    fn has_room(&mut self, n: usize, now: i64, capacity: usize) -> bool {
        if self.len() + n <= capacity {
            return true;
        }
        self.ids.retain(|_, (_, t)| *t > now);
        self.sids.retain(|_, t| *t > now);
        self.subs.retain(|_, (_, t)| *t > now);
        self.jtis.retain(|_, t| *t > now);
        self.len() + n <= capacity
    }
}

/// Entries a [`DenyList`] keeps at most by default (a few MiB).
pub const DENY_LIST_CAPACITY: usize = 100_000;

impl DenyList {
    /// An empty list keeping at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
        }
    }

    fn lists(&self) -> std::sync::MutexGuard<'_, Lists> {
        // Nothing panics while the lock is held; a poisoned list is still the list, and
        // ignoring it would forget every logout.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a back-channel logout at `now`, kept until `until`. `Err` when `jti` was
    /// seen ([`LogoutError::Replayed`]) or when the list is full of live entries
    /// ([`LogoutError::Full`]: nothing is recorded, and the caller must not report the
    /// logout as done).
    pub fn record(
        &self,
        target: &LogoutTarget,
        jti: &str,
        now: i64,
        until: i64,
    ) -> Result<(), LogoutError> {
        let mut lists = self.lists();
        if lists.jtis.get(jti).is_some_and(|t| *t > now) {
            return Err(LogoutError::Replayed);
        }
        let needed = 1 + usize::from(target.sid.is_some() || target.sub.is_some());
        if !lists.has_room(needed, now, self.capacity) {
            tracing::warn!(
                capacity = self.capacity,
                "logout deny-list is full of live entries; the back-channel logout is refused"
            );
            return Err(LogoutError::Full);
        }
        lists.jtis.insert(jti.to_owned(), until);
        match (&target.sid, &target.sub) {
            (Some(sid), _) => {
                let t = lists.sids.entry(sid.clone()).or_insert(until);
                *t = (*t).max(until);
            }
            (None, Some(sub)) => {
                let entry = lists.subs.entry(sub.clone()).or_insert((now, until));
                *entry = (entry.0.max(now), entry.1.max(until));
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Records the sign-out of `session` at `now`, kept until `until` (when the session
    /// would have ended anyway). `true` when recorded; `false` when the list was full of
    /// live entries, and every session created until `now` (this one included) was ended
    /// instead: failing closed, never forgetting.
    pub fn record_sign_out(&self, session: &Session, now: i64, until: i64) -> bool {
        let mut lists = self.lists();
        if lists.ids.contains_key(&session.id) || lists.has_room(1, now, self.capacity) {
            let entry = lists
                .ids
                .entry(session.id.clone())
                .or_insert((session.created_at, until));
            entry.1 = entry.1.max(until);
            return true;
        }
        tracing::warn!(
            capacity = self.capacity,
            "logout deny-list is full of live entries; every session created until now is ended"
        );
        let by = lists.ended_created_by.map_or(now, |t| t.max(now));
        lists.ended_created_by = Some(by);
        // Entries for sessions created by then are covered: their room is free again.
        lists.ids.retain(|_, (created, _)| *created > by);
        lists.subs.retain(|_, (at, _)| *at > by);
        false
    }

    /// True when `session` ended: signed out, named by a back-channel logout, or created
    /// before a sign-out that had to end every session.
    pub fn ended(&self, session: &Session) -> bool {
        let lists = self.lists();
        if lists
            .ended_created_by
            .is_some_and(|by| session.created_at <= by)
        {
            return true;
        }
        if lists.ids.is_empty() && lists.sids.is_empty() && lists.subs.is_empty() {
            return false;
        }
        let by_id = lists.ids.contains_key(&session.id);
        let by_sid = session
            .user
            .sid
            .as_ref()
            .is_some_and(|sid| lists.sids.contains_key(sid));
        let by_sub = lists
            .subs
            .get(&session.user.sub)
            .is_some_and(|(at, _)| session.created_at <= *at);
        by_id || by_sid || by_sub
    }
}

#[cfg(test)]
mod tests;
