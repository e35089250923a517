//! Where sessions live: in the cookie itself, or (feature `redis`) in Redis with only a
//! ticket in the cookie.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
pub use oidc_core::http::BoxFuture;

use super::Session;
use super::codec::Codec;
use super::cookie::{self, CookieAttributes};

/// Loads and saves sessions. Any failure to load is "no session" (the user logs in
/// again), never an error page.
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// The session the request's cookies carry, if any and valid.
    fn load<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Session>>;
    /// Stores `session`; returns the `Set-Cookie` values to send.
    fn save<'a>(
        &'a self,
        headers: &'a HeaderMap,
        session: &'a Session,
    ) -> BoxFuture<'a, Vec<HeaderValue>>;
    /// Ends the session the request carries; returns the `Set-Cookie` values to send.
    fn clear<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Vec<HeaderValue>>;
}

fn header_values(lines: Vec<String>) -> Vec<HeaderValue> {
    lines
        .into_iter()
        .filter_map(|l| HeaderValue::try_from(l).ok())
        .collect()
}

/// Sessions sealed into the cookie (AES-256-GCM, chunked). Stateless: any number of
/// replicas with the same cookie secret share sessions.
#[derive(Debug, Clone)]
pub struct CookieStore {
    codec: Arc<Codec>,
    attrs: CookieAttributes,
}

impl CookieStore {
    /// A store with `codec` and cookie `attrs`.
    pub fn new(codec: Arc<Codec>, attrs: CookieAttributes) -> Self {
        Self { codec, attrs }
    }

    /// The session in `headers`, synchronously.
    pub fn load_now(&self, headers: &HeaderMap) -> Option<Session> {
        let sealed = cookie::read(headers, &self.attrs.name)?;
        let plain = self.codec.open(&self.attrs.name, &sealed).ok()?;
        Session::from_bytes(&plain)
    }
}

impl SessionStore for CookieStore {
    fn load<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Session>> {
        Box::pin(std::future::ready(self.load_now(headers)))
    }

    fn save<'a>(
        &'a self,
        headers: &'a HeaderMap,
        session: &'a Session,
    ) -> BoxFuture<'a, Vec<HeaderValue>> {
        let present = cookie::present_names(headers, &self.attrs.name);
        let lines = match self.codec.seal(&self.attrs.name, &session.to_bytes()) {
            Ok(sealed) => cookie::set(&self.attrs, &sealed, &present),
            Err(e) => {
                tracing::error!(error = %e, "cannot seal the session");
                Vec::new()
            }
        };
        Box::pin(std::future::ready(header_values(lines)))
    }

    fn clear<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Vec<HeaderValue>> {
        let present = cookie::present_names(headers, &self.attrs.name);
        Box::pin(std::future::ready(header_values(cookie::clear(
            &self.attrs,
            &present,
        ))))
    }
}
