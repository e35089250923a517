//! Where sessions live: in the cookie itself, or (feature `redis`) in Redis with only a
//! ticket in the cookie.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
pub use oidc_core::http::BoxFuture;

use super::Session;
use super::codec::Codec;
use super::cookie::{self, CookieAttributes};

/// Why a session could not be stored (the store is unreachable, say). The message names
/// the store, never a token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("session store unavailable: {0}")]
pub struct StoreError(pub String);

/// Loads and saves sessions. Any failure to load is "no session" (the user logs in
/// again), never an error page.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The session the request's cookies carry, if any and valid.
    fn load<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Arc<Session>>>;
    /// Stores `session`; returns the `Set-Cookie` values to send (none when the cookie
    /// does not change), or why the session could not be stored.
    fn save<'a>(
        &'a self,
        headers: &'a HeaderMap,
        session: &'a Session,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>>;
    /// Ends the session the request carries; returns the `Set-Cookie` values to send.
    fn clear<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Vec<HeaderValue>>;

    /// Stores `fresh`, the refresh of a session this store holds, only if that session
    /// still exists: a refresh that finishes after a sign-out or a back-channel logout
    /// deleted the session must not bring it back (a compare-and-set in a server-side
    /// store). `Ok(None)` when the session is gone. The default, for stores that keep
    /// nothing server-side, saves as [`save`](Self::save) does.
    fn save_refreshed<'a>(
        &'a self,
        headers: &'a HeaderMap,
        fresh: &'a Session,
    ) -> BoxFuture<'a, Result<Option<Vec<HeaderValue>>, StoreError>> {
        Box::pin(async move { self.save(headers, fresh).await.map(Some) })
    }

    /// True when sessions live in the store and the cookie holds only a ticket: `clear`
    /// deletes the session, so a copy of the cookie is worthless afterwards. `false` (the
    /// default, and the cookie store) when the session lives in the cookie: a sign-out
    /// must then be remembered in a deny-list until the session's maximum age.
    fn keeps_sessions(&self) -> bool {
        false
    }

    /// Deletes session `id` server-side; `true` when it is gone for certain. `false` (the
    /// default) when the store keeps nothing server-side or the delete failed: the caller
    /// then remembers the session as ended in its deny-list.
    fn end_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        let _ = id;
        Box::pin(std::future::ready(false))
    }

    /// Ends, server-side, every session of provider session `sid` (or, with no `sid`, of
    /// subject `sub`) for back-channel logout. `false` when the store cannot: the cookie
    /// store, whose sessions live in the browser (the caller keeps a deny-list), or a
    /// store that [keeps sessions](Self::keeps_sessions) but failed (the logout is then
    /// refused, for the provider to retry).
    fn end_sessions<'a>(
        &'a self,
        sid: Option<&'a str>,
        sub: Option<&'a str>,
    ) -> BoxFuture<'a, bool> {
        let _ = (sid, sub);
        Box::pin(std::future::ready(false))
    }

    /// Coordinates refreshes across processes that share the store: `Some(true)` when this
    /// caller holds the lock on session `id` for `lease` (under `token`), `Some(false)`
    /// when another holds it, `None` when the store does not coordinate (the default:
    /// refresh is then single-flight per process only).
    fn lock_refresh<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        lease: std::time::Duration,
    ) -> BoxFuture<'a, Option<bool>> {
        let _ = (id, token, lease);
        Box::pin(std::future::ready(None))
    }

    /// Extends a held refresh lock (while a slow provider answers); `false` if it was lost.
    fn extend_refresh_lock<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        lease: std::time::Duration,
    ) -> BoxFuture<'a, bool> {
        let _ = (id, token, lease);
        Box::pin(std::future::ready(false))
    }

    /// Releases a held refresh lock.
    fn unlock_refresh<'a>(&'a self, id: &'a str, token: &'a str) -> BoxFuture<'a, ()> {
        let _ = (id, token);
        Box::pin(std::future::ready(()))
    }

    /// The session stored under `id`, for a store that keeps sessions server-side.
    fn load_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Arc<Session>>> {
        let _ = id;
        Box::pin(std::future::ready(None))
    }
}

fn header_values(lines: Vec<String>) -> Vec<HeaderValue> {
    lines
        .into_iter()
        .filter_map(|l| HeaderValue::try_from(l).ok())
        .collect()
}

/// Sessions sealed into the cookie (AES-256-GCM, chunked). Stateless: any number of
/// replicas with the same cookie secret share sessions.
///
/// Opened sessions are remembered by their exact cookie value (compared in full, so only
/// the very cookie that opened once is answered from memory): a browser sends the same
/// cookie with every request, and base64, AES-GCM and JSON then run once per session
/// rather than once per request.
#[derive(Debug, Clone)]
pub struct CookieStore {
    codec: Arc<Codec>,
    attrs: CookieAttributes,
    budget: usize,
    opened: Arc<std::sync::Mutex<Opened>>,
}

/// The default total size of a session's `Set-Cookie` lines above which a warning is
/// logged: many servers and proxies refuse request headers past 8 KiB (nginx's default
/// `large_client_header_buffers`, Apache's `LimitRequestFieldSize`), and the browser sends
/// every chunk back on every request.
pub const DEFAULT_COOKIE_BUDGET: usize = 8 * 1024;

#[derive(Debug, Default)]
struct Opened {
    hasher: std::collections::hash_map::RandomState,
    entries: std::collections::HashMap<u64, (Box<str>, Arc<Session>)>,
}

/// Sessions remembered at most; past it the memory is dropped and refilled.
const OPENED_CAPACITY: usize = 10_000;

impl Opened {
    /// Hashes the last 32 bytes (the end of the AES-GCM tag): cheap, and the full value is
    /// compared anyway.
    fn key(&self, sealed: &str) -> u64 {
        use std::hash::BuildHasher as _;
        let tail = &sealed.as_bytes()[sealed.len().saturating_sub(32)..];
        self.hasher.hash_one(tail)
    }
}

impl CookieStore {
    /// A store with `codec` and cookie `attrs`.
    pub fn new(codec: Arc<Codec>, attrs: CookieAttributes) -> Self {
        Self {
            codec,
            attrs,
            budget: DEFAULT_COOKIE_BUDGET,
            opened: Arc::default(),
        }
    }

    /// Sets the total size of a session's `Set-Cookie` lines (all chunks, attributes
    /// included) above which saving logs a warning ([`DEFAULT_COOKIE_BUDGET`]).
    #[must_use]
    pub fn budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// The session in `headers`, synchronously.
    pub fn load_now(&self, headers: &HeaderMap) -> Option<Arc<Session>> {
        let sealed = cookie::read(headers, &self.attrs.name)?;
        if let Ok(opened) = self.opened.lock()
            && let Some((value, session)) = opened.entries.get(&opened.key(&sealed))
            && **value == *sealed
        {
            return Some(session.clone());
        }
        let plain = self.codec.open(&self.attrs.name, &sealed).ok()?;
        let session = Arc::new(Session::from_bytes(&plain)?);
        if let Ok(mut opened) = self.opened.lock() {
            if opened.entries.len() >= OPENED_CAPACITY {
                opened.entries.clear();
            }
            let key = opened.key(&sealed);
            opened.entries.insert(key, (sealed.into(), session.clone()));
        }
        Some(session)
    }
}

impl SessionStore for CookieStore {
    fn load<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Arc<Session>>> {
        Box::pin(std::future::ready(self.load_now(headers)))
    }

    fn save<'a>(
        &'a self,
        headers: &'a HeaderMap,
        session: &'a Session,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        let present = cookie::present_names(headers, &self.attrs.name);
        let lines = match self.codec.seal(&self.attrs.name, &session.to_bytes()) {
            Ok(sealed) => {
                let lines = cookie::set(&self.attrs, &sealed, &present);
                let total: usize = lines.iter().map(String::len).sum();
                if total > self.budget {
                    tracing::warn!(
                        cookie = %self.attrs.name,
                        bytes = total,
                        budget = self.budget,
                        user = %session.user.sub,
                        "session cookies exceed their size budget: servers may refuse the requests; \
                         use the Redis session store or ask the provider for fewer claims"
                    );
                }
                lines
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot seal the session");
                return Box::pin(std::future::ready(Err(StoreError(e.to_string()))));
            }
        };
        Box::pin(std::future::ready(Ok(header_values(lines))))
    }

    fn clear<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Vec<HeaderValue>> {
        let present = cookie::present_names(headers, &self.attrs.name);
        Box::pin(std::future::ready(header_values(cookie::clear(
            &self.attrs,
            &present,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sso::session::SessionUser;
    use crate::sso::session::codec::CookieSecret;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, format!("_s={value}").parse().unwrap());
        h
    }

    #[test]
    fn remembered_sessions_answer_only_the_exact_cookie() {
        let codec = Arc::new(Codec::new(&CookieSecret::random(), &[]).unwrap());
        let store = CookieStore::new(codec.clone(), CookieAttributes::new("_s"));
        let session = Session {
            id: "id".into(),
            user: SessionUser {
                iss: "i".into(),
                sub: "alice".into(),
                ..SessionUser::default()
            },
            id_token: None,
            access_token: None,
            refresh_token: None,
            access_expires_at: None,
            created_at: 1,
            refreshed_at: 1,
            expires_at: None,
        };
        let sealed = codec.seal("_s", &session.to_bytes()).unwrap();
        let first = store.load_now(&headers(&sealed)).unwrap();
        let again = store.load_now(&headers(&sealed)).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the second read is remembered");
        // Same tail (the hashed part), different middle: not the remembered cookie, and it
        // does not authenticate.
        let mut forged = sealed.clone().into_bytes();
        let mid = forged.len() / 2;
        forged[mid] = if forged[mid] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(&forged[forged.len() - 32..], &sealed[sealed.len() - 32..]);
        assert!(store.load_now(&headers(&forged)).is_none());
    }
}
