//! Session cookies on the wire: attributes, chunks and their deletion.
//!
//! A sealed session longer than one cookie is split into `name_0`, `name_1`, ... (as
//! oauth2-proxy does) so that every whole `Set-Cookie` line, attributes included, stays
//! within 4096 bytes: browsers and proxies that count the line, not the value, would
//! otherwise drop the cookie and loop the user through login. The session is sealed once
//! and then split, so chunks cannot be mixed between sessions.

use std::time::Duration;

use cookie::{Cookie, SameSite};
use http::HeaderMap;

/// The longest `Set-Cookie` line we emit, `Set-Cookie: ` included.
pub const MAX_LINE: usize = 4096;
const HEADER_PREFIX: usize = "Set-Cookie: ".len();
/// Chunks read at most; more is a hostile request.
pub const MAX_CHUNKS: usize = 16;

/// `SameSite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSitePolicy {
    /// `Lax`: sent on top-level navigations (the default; needed for the callback).
    Lax,
    /// `Strict`.
    Strict,
    /// `None` (requires `Secure`).
    None,
}

/// Cookie attributes shared by the session and the login-state cookies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieAttributes {
    /// The name (chunks get `_0`, `_1`, ...).
    pub name: String,
    /// `Domain`, if set.
    pub domain: Option<String>,
    /// `Path` (default `/`).
    pub path: String,
    /// `Secure` (default on).
    pub secure: bool,
    /// `HttpOnly` (default on).
    pub http_only: bool,
    /// `SameSite` (default Lax).
    pub same_site: SameSitePolicy,
    /// `Max-Age`; `None` is a browser-session cookie.
    pub max_age: Option<Duration>,
}

impl CookieAttributes {
    /// Secure, HttpOnly, SameSite=Lax, Path=/, session lifetime.
    pub fn new(name: &str) -> Self {
        CookieAttributes {
            name: name.to_owned(),
            domain: None,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: SameSitePolicy::Lax,
            max_age: None,
        }
    }

    fn build(&self, name: String, value: String, max_age: Option<Duration>) -> String {
        let mut c = Cookie::new(name, value);
        c.set_path(self.path.clone());
        if let Some(domain) = &self.domain {
            c.set_domain(domain.clone());
        }
        c.set_secure(self.secure);
        c.set_http_only(self.http_only);
        c.set_same_site(match self.same_site {
            SameSitePolicy::Lax => SameSite::Lax,
            SameSitePolicy::Strict => SameSite::Strict,
            SameSitePolicy::None => SameSite::None,
        });
        if let Some(age) = max_age {
            c.set_max_age(cookie::time::Duration::seconds(
                i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
            ));
        }
        c.to_string()
    }

    /// The cookie that removes `name`.
    fn removal(&self, name: &str) -> String {
        let mut line = self.build(name.to_owned(), String::new(), Some(Duration::ZERO));
        line.push_str("; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        line
    }
}

fn chunk_name(name: &str, i: usize) -> String {
    format!("{name}_{i}")
}

/// The names in the request that belong to cookie `name`: `name` itself or `name_<n>`
/// for a chunk index we may have set (below [`MAX_CHUNKS`], as we write it), so that
/// removing them costs at most `MAX_CHUNKS + 1` lines whatever a client sends
/// (mod_auth_openidc's CVE-2024-24814 was a chunk count taken from the client).
pub fn present_names(headers: &HeaderMap, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, _) in pairs(headers) {
        let ours = k == name
            || k.strip_prefix(name)
                .and_then(|r| r.strip_prefix('_'))
                .and_then(|n| n.parse::<usize>().ok().filter(|i| i.to_string() == n))
                .is_some_and(|i| i < MAX_CHUNKS);
        if ours && !out.iter().any(|o| o == k) {
            out.push(k.to_owned());
        }
    }
    out
}

/// The `name=value` pairs of every `Cookie` header. Split as bytes: another cookie's
/// value that is not text (`lang=caf\xe9`) hides only itself, never ours.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| p.trim().split_once('='))
}

/// The names in the request that start with `prefix` (the login-state cookies).
pub fn present_names_with_prefix(headers: &HeaderMap, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, _) in pairs(headers) {
        if k.starts_with(prefix) && !out.iter().any(|o| o == k) {
            out.push(k.to_owned());
        }
    }
    out
}

/// The value of one cookie.
pub fn read_one<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The value of cookie `name`, joined from its chunks when it was split. At most
/// [`MAX_CHUNKS`] chunks are read; a gap ends the value.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<std::borrow::Cow<'h, str>> {
    if let Some(whole) = read_one(headers, name) {
        return Some(std::borrow::Cow::Borrowed(whole));
    }
    let mut value = String::new();
    for i in 0..MAX_CHUNKS {
        match read_one(headers, &chunk_name(name, i)) {
            Some(part) => value.push_str(part),
            None => break,
        }
    }
    (!value.is_empty()).then_some(std::borrow::Cow::Owned(value))
}

/// `Set-Cookie` lines that store `value`: one cookie when it fits, otherwise chunks, each
/// whole line within [`MAX_LINE`] bytes; plus removals for the cookies in `present` (from
/// [`present_names`]) that the new value does not use.
pub fn set(attrs: &CookieAttributes, value: &str, present: &[String]) -> Vec<String> {
    let whole = attrs.build(attrs.name.clone(), value.to_owned(), attrs.max_age);
    let mut lines = Vec::new();
    let mut used: Vec<String> = Vec::new();
    if HEADER_PREFIX + whole.len() <= MAX_LINE {
        lines.push(whole);
        used.push(attrs.name.clone());
    } else {
        // The attributes' length, measured on an empty chunk with the longest suffix.
        let probe = attrs.build(chunk_name(&attrs.name, 99), String::new(), attrs.max_age);
        let room = MAX_LINE.saturating_sub(HEADER_PREFIX + probe.len()).max(1);
        for (i, chunk) in value.as_bytes().chunks(room).enumerate() {
            let name = chunk_name(&attrs.name, i);
            let chunk = String::from_utf8_lossy(chunk).into_owned();
            lines.push(attrs.build(name.clone(), chunk, attrs.max_age));
            used.push(name);
        }
        if lines.len() > MAX_CHUNKS {
            tracing::warn!(
                cookie = %attrs.name,
                chunks = lines.len(),
                bytes = value.len(),
                "session cookie needs more chunks than are read back; use the Redis store or request fewer claims"
            );
        }
    }
    for name in present {
        if !used.contains(name) {
            lines.push(attrs.removal(name));
        }
    }
    lines
}

/// `Set-Cookie` lines that remove every cookie in `present`.
pub fn clear(attrs: &CookieAttributes, present: &[String]) -> Vec<String> {
    present.iter().map(|n| attrs.removal(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_that_is_not_text_does_not_hide_ours() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(b"lang=caf\xe9; _oauth2_proxy=sealed").unwrap(),
        );
        assert_eq!(read_one(&h, "_oauth2_proxy"), Some("sealed"));
        assert_eq!(present_names(&h, "_oauth2_proxy"), ["_oauth2_proxy"]);
    }
    use proptest::prelude::*;

    fn request_with(lines: &[String]) -> HeaderMap {
        let cookies: Vec<String> = lines
            .iter()
            .filter(|l| !l.contains("Max-Age=0"))
            .map(|l| l.split(';').next().unwrap().to_owned())
            .collect();
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, cookies.join("; ").parse().unwrap());
        h
    }

    #[test]
    fn attributes_are_secure_by_default() {
        let lines = set(&CookieAttributes::new("_sso"), "abc", &[]);
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        for attr in ["_sso=abc", "Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(l.contains(attr), "{l}");
        }
        assert!(!l.contains("Max-Age"), "a session cookie by default");
    }

    #[test]
    fn large_values_are_chunked_within_4096_bytes_per_line_and_stale_chunks_removed() {
        let mut attrs = CookieAttributes::new("_oauth2_proxy");
        attrs.domain = Some("apps.example.com".into());
        attrs.max_age = Some(Duration::from_secs(7 * 24 * 3600));
        let value = "x".repeat(10_000);
        let lines = set(
            &attrs,
            &value,
            &["_oauth2_proxy".into(), "_oauth2_proxy_5".into()],
        );
        let chunks: Vec<&String> = lines.iter().filter(|l| !l.contains("Max-Age=0")).collect();
        assert_eq!(chunks.len(), 3);
        for l in &lines {
            assert!(
                HEADER_PREFIX + l.len() <= MAX_LINE,
                "{} bytes",
                HEADER_PREFIX + l.len()
            );
        }
        let removed: Vec<&String> = lines.iter().filter(|l| l.contains("Max-Age=0")).collect();
        assert_eq!(
            removed.len(),
            2,
            "the unchunked cookie and chunk 5 are deleted"
        );
        assert_eq!(read(&request_with(&lines), "_oauth2_proxy").unwrap(), value);
    }

    #[test]
    fn present_names_and_hostile_chunk_sets() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; _sso_0=x; _sso_1=y; _sso_x=z; _ssoo=q; _sso_3=w"
                .parse()
                .unwrap(),
        );
        assert_eq!(present_names(&h, "_sso"), ["_sso_0", "_sso_1", "_sso_3"]);
        assert_eq!(read(&h, "_sso").unwrap(), "xy", "a gap ends the value");
        let many: Vec<String> = (0..5000).map(|i| format!("_sso_{i}=a")).collect();
        h.insert(http::header::COOKIE, many.join("; ").parse().unwrap());
        assert_eq!(read(&h, "_sso").unwrap().len(), MAX_CHUNKS);
        assert_eq!(present_names(&h, "_sso").len(), MAX_CHUNKS);
        h.insert(
            http::header::COOKIE,
            "_sso_01=a; _sso_+1=a; _sso_99999999999999999999999=a; _sso_16=a; _sso_15=a"
                .parse()
                .unwrap(),
        );
        assert_eq!(present_names(&h, "_sso"), ["_sso_15"]);
    }

    proptest! {
        #[test]
        fn split_then_join_is_the_identity(len in 0usize..20_000, name in "_[a-z]{1,12}") {
            let value: String = (0..len).map(|i| (b'A' + (i % 26) as u8) as char).collect();
            let lines = set(&CookieAttributes::new(&name), &value, &[]);
            for l in &lines {
                prop_assert!(HEADER_PREFIX + l.len() <= MAX_LINE);
            }
            if !value.is_empty() {
                prop_assert_eq!(read(&request_with(&lines), &name).map(|v| v.into_owned()), Some(value));
            }
        }
    }
}
