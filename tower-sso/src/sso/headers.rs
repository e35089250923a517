//! Identity headers come only from us: a client's copy of any of them is removed before
//! anything reads the request, under every spelling an upstream may take for it.
//!
//! Many application servers read `X-Forwarded_Email` as `X-Forwarded-Email` (CGI, WSGI,
//! Rack and PHP map both to `HTTP_X_FORWARDED_EMAIL`), so removing only the exact name
//! lets a client smuggle an identity past the middleware (oauth2-proxy's CVE-2025-64484).
//! Names are therefore compared after normalization: ASCII case-insensitive, `_` equal
//! to `-`.

use http::{HeaderMap, HeaderName};

/// The prefix of oauth2-proxy's `--set-xauthrequest` headers: the whole family is ours.
pub const X_AUTH_REQUEST_PREFIX: &str = "x-auth-request-";

/// The `X-Auth-Request-*` headers the SSO layer answers with.
pub const X_AUTH_REQUEST: [&str; 5] = [
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-preferred-username",
    "x-auth-request-groups",
    "x-auth-request-access-token",
];

/// True when header names `a` and `b` are the same after normalization (ASCII case
/// ignored, `_` equal to `-`).
///
/// ```
/// use tower_sso::sso::headers::same_name;
/// assert!(same_name("X-Forwarded_Email", "x-forwarded-email"));
/// assert!(!same_name("x-forwarded-emails", "x-forwarded-email"));
/// ```
pub fn same_name(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// True when `name` starts with `prefix` after normalization.
pub fn has_prefix(name: &str, prefix: &str) -> bool {
    let (name, prefix) = (name.as_bytes(), prefix.as_bytes());
    name.len() >= prefix.len() && same_bytes(&name[..prefix.len()], prefix)
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
}

fn fold(b: u8) -> u8 {
    match b {
        b'_' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// Which client headers are ours: exact names and name prefixes, compared normalized.
#[derive(Debug, Clone, Default)]
pub struct OwnHeaders {
    names: Vec<HeaderName>,
    prefixes: Vec<String>,
}

impl OwnHeaders {
    /// No names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name` (any spelling).
    #[must_use]
    pub fn name(mut self, name: HeaderName) -> Self {
        if !self
            .names
            .iter()
            .any(|n| same_name(n.as_str(), name.as_str()))
        {
            self.names.push(name);
        }
        self
    }

    /// Adds every header whose name starts with `prefix`.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefixes.push(prefix.to_ascii_lowercase());
        self
    }

    /// The exact names.
    pub fn names(&self) -> &[HeaderName] {
        &self.names
    }

    /// True when `name` is one of ours.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| same_name(n.as_str(), name))
            || self.prefixes.iter().any(|p| has_prefix(name, p))
    }

    /// Removes every header of `headers` that is ours; returns how many names went.
    pub fn strip(&self, headers: &mut HeaderMap) -> usize {
        let ours: Vec<HeaderName> = headers
            .keys()
            .filter(|n| self.contains(n.as_str()))
            .cloned()
            .collect();
        for name in &ours {
            headers.remove(name);
        }
        ours.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn every_spelling_of_an_identity_header_is_stripped() {
        let own = OwnHeaders::new()
            .name(HeaderName::from_static("x-forwarded-email"))
            .prefix(X_AUTH_REQUEST_PREFIX);
        let mut h = HeaderMap::new();
        for name in [
            "x-forwarded-email",
            "x-forwarded_email",
            "x_forwarded_email",
            "x-auth-request-user",
            "x_auth_request_groups",
            "x-auth-request-anything",
            "x-forwarded-emails",
            "x-forwarded-user2",
            "x-auth-requested",
        ] {
            h.insert(
                HeaderName::try_from(name).unwrap(),
                HeaderValue::from_static("mallory"),
            );
        }
        assert_eq!(own.strip(&mut h), 6);
        let mut kept: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        kept.sort_unstable();
        assert_eq!(
            kept,
            [
                "x-auth-requested",
                "x-forwarded-emails",
                "x-forwarded-user2"
            ]
        );
    }

    #[test]
    fn normalization_is_case_and_separator_only() {
        assert!(same_name("X_AUTH_REQUEST_USER", "x-auth-request-user"));
        assert!(!same_name("x.auth-request-user", "x-auth-request-user"));
        assert!(has_prefix("X_Auth_Request_Email", X_AUTH_REQUEST_PREFIX));
        assert!(!has_prefix("x-auth", X_AUTH_REQUEST_PREFIX));
    }
}
