//! Login sessions: what is kept, how it is sealed, and where.

pub mod codec;
pub mod cookie;
#[cfg(feature = "redis")]
pub mod redis;
mod store;

pub use self::store::{BoxFuture, CookieStore, DEFAULT_COOKIE_BUDGET, SessionStore, StoreError};

use oidc_core::secret::TokenSecret;
use serde::{Deserialize, Serialize};

/// Who is logged in, from the ID token (and userinfo).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionUser {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email_verified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `preferred_username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The provider's session id (`sid`), for back-channel logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

impl SessionUser {
    /// The user a verified token names (`None` without `sub`).
    pub fn from_claims(c: &oidc_core::verify::Claims) -> Option<SessionUser> {
        Some(SessionUser {
            iss: c.iss.clone(),
            sub: c.sub.clone()?,
            email: c.email.clone(),
            email_verified: c.email_verified,
            preferred_username: c.preferred_username.clone(),
            name: c.name.clone(),
            groups: c.groups.clone(),
            sid: c.sid.clone(),
        })
    }

    /// Istio's `request.auth.principal` for this user: `iss/sub`.
    pub fn principal(&self) -> String {
        format!("{}/{}", self.iss, self.sub)
    }
}

/// A login session: the user, the tokens, and their times (seconds since the epoch).
/// Tokens are redacted in `Debug`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Session {
    /// A random id (the Redis ticket; also what back-channel logout records).
    pub id: String,
    /// The user.
    pub user: SessionUser,
    /// The raw ID token (for `id_token_hint` and upstream `Authorization`).
    pub id_token: Option<TokenSecret>,
    /// The access token.
    pub access_token: Option<TokenSecret>,
    /// The refresh token.
    pub refresh_token: Option<TokenSecret>,
    /// When the access token expires.
    pub access_expires_at: Option<i64>,
    /// When the session was created.
    pub created_at: i64,
    /// When the tokens were last refreshed (or issued).
    pub refreshed_at: i64,
    /// When the session ends whatever happens: login plus `cookie_expire`, or plus 24 h
    /// with a browser-session cookie (`cookie_expire = 0`). `None` only in sessions sealed
    /// before sessions always carried it: they end at the configured maximum age.
    pub expires_at: Option<i64>,
}

/// The serialized form, inside the sealed cookie or the Redis value only.
#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    id: String,
    user: SessionUser,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    it: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ae: Option<i64>,
    c: i64,
    r: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<i64>,
}

impl Session {
    /// True when the session is past its hard expiry at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let wire = Wire {
            v: 1,
            id: self.id.clone(),
            user: self.user.clone(),
            it: self.id_token.as_ref().map(|t| t.secret().to_owned()),
            at: self.access_token.as_ref().map(|t| t.secret().to_owned()),
            rt: self.refresh_token.as_ref().map(|t| t.secret().to_owned()),
            ae: self.access_expires_at,
            c: self.created_at,
            r: self.refreshed_at,
            e: self.expires_at,
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Session> {
        let wire: Wire = serde_json::from_slice(bytes).ok()?;
        if wire.v != 1 || wire.id.is_empty() || wire.user.sub.is_empty() {
            return None;
        }
        Some(Session {
            id: wire.id,
            user: wire.user,
            id_token: wire.it.map(TokenSecret::new),
            access_token: wire.at.map(TokenSecret::new),
            refresh_token: wire.rt.map(TokenSecret::new),
            access_expires_at: wire.ae,
            created_at: wire.c,
            refreshed_at: wire.r,
            expires_at: wire.e,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            id: "sid-1".into(),
            user: SessionUser {
                iss: "https://op".into(),
                sub: "alice".into(),
                groups: vec!["admins".into()],
                ..SessionUser::default()
            },
            id_token: Some(TokenSecret::new("id.token.value")),
            access_token: Some(TokenSecret::new("access-token-value")),
            refresh_token: None,
            access_expires_at: Some(10),
            created_at: 1,
            refreshed_at: 2,
            expires_at: Some(3),
        }
    }

    #[test]
    fn round_trip_and_debug_hides_tokens() {
        let s = session();
        let back = Session::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back.user, s.user);
        assert_eq!(back.id_token.unwrap().secret(), "id.token.value");
        assert_eq!(
            (back.created_at, back.refreshed_at, back.expires_at),
            (1, 2, Some(3))
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("access-token-value") && !shown.contains("id.token.value"),
            "{shown}"
        );
        assert!(Session::from_bytes(b"{}").is_none());
        assert!(Session::from_bytes(b"not json").is_none());
    }
}
