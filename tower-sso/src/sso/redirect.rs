//! Where a user may be sent back to after login or logout (`rd`, the original URL).
//!
//! A target is resolved as a browser would resolve it against the request's own origin
//! (WHATWG URL parsing, via the `url` crate), then its origin is compared, never a prefix:
//! `//evil.example`, `/\evil.example`, `https:evil.example`, `\\evil.example` and their
//! encoded or whitespace-padded forms all resolve to another host and are refused unless
//! that host is allowed.

use url::Url;

/// The hosts, besides the request's own origin, that redirects may go to (oauth2-proxy's
/// `--whitelist-domain`): `app.example.com` exactly, `.example.com` for it and every
/// subdomain; with `:port` only that port, with `:*` any port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectPolicy {
    allowed: Vec<(String, Option<Option<u16>>)>,
}

impl RedirectPolicy {
    /// Same-origin redirects only.
    pub fn same_origin() -> Self {
        Self::default()
    }

    /// Also allows the domains in `list` (oauth2-proxy syntax, see the type's docs).
    pub fn allow_domains<I, S>(mut self, list: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for entry in list {
            let entry = entry.as_ref().trim().to_ascii_lowercase();
            let (host, port) = match entry.rsplit_once(':') {
                Some((h, "*")) => (h.to_owned(), None),
                Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), Some(p.parse().ok())),
                _ => (entry, Some(None)),
            };
            if !host.is_empty() {
                self.allowed.push((host, port));
            }
        }
        self
    }

    fn allows(&self, target: &Url) -> bool {
        let Some(host) = target.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let port = target.port();
        self.allowed.iter().any(|(domain, allowed_port)| {
            let host_ok = match domain.strip_prefix('.') {
                Some(parent) => host == parent || host.ends_with(domain.as_str()),
                None => host == *domain,
            };
            let port_ok = match allowed_port {
                None => true,
                Some(p) => *p == port,
            };
            host_ok && port_ok
        })
    }

    /// The safe form of `target` for a request whose origin is `origin`
    /// (`https://app.example.com`): a same-origin target as path, query and fragment; an
    /// allowed other origin as an absolute URL; anything else (another host, another
    /// scheme, control characters, an unparsable value) `None`.
    pub fn check(&self, target: &str, origin: &Url) -> Option<String> {
        if target.is_empty() || target.len() > 4096 || target.chars().any(|c| c.is_control()) {
            return None;
        }
        // `https:evil.example` resolves to a path on our host in a WHATWG parser but to
        // evil.example in some older clients: a scheme without `//` is never legitimate.
        let scheme_end = target.find(':');
        let has_scheme = scheme_end.is_some_and(|i| {
            i > 0
                && target[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        });
        if has_scheme && !target.contains("://") {
            return None;
        }
        let resolved = origin.join(target).ok()?;
        if !matches!(resolved.scheme(), "http" | "https")
            || !resolved.username().is_empty()
            || resolved.password().is_some()
        {
            return None;
        }
        if resolved.origin() == origin.origin() {
            let mut local = resolved.path().to_owned();
            if let Some(q) = resolved.query() {
                local.push('?');
                local.push_str(q);
            }
            if let Some(f) = resolved.fragment() {
                local.push('#');
                local.push_str(f);
            }
            // A path that starts with `//` or `/\` would be read as another host when
            // sent back as a relative Location.
            if local.starts_with("//") || local.starts_with("/\\") {
                return None;
            }
            return Some(local);
        }
        self.allows(&resolved).then(|| resolved.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Url {
        Url::parse("https://app.example.com").unwrap()
    }

    #[test]
    fn same_origin_targets_become_local_paths() {
        let p = RedirectPolicy::same_origin();
        assert_eq!(
            p.check("/productpage?x=1#top", &origin()).as_deref(),
            Some("/productpage?x=1#top")
        );
        assert_eq!(
            p.check("https://app.example.com/a", &origin()).as_deref(),
            Some("/a")
        );
        assert_eq!(
            p.check("/%2F%2Fevil.example", &origin()).as_deref(),
            Some("/%2F%2Fevil.example"),
            "stays a path on our host"
        );
        assert_eq!(
            p.check("relative/page", &origin()).as_deref(),
            Some("/relative/page")
        );
    }

    #[test]
    fn open_redirect_attempts_are_refused() {
        let p = RedirectPolicy::same_origin();
        for evil in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https:evil.example",
            "https:/evil.example",
            "http://evil.example",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://user@app.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "/\r\nSet-Cookie: x=y",
            "/a\nb",
            " //evil.example",
            "\t//evil.example",
            "//evil.example%2F..",
            "https://app.example.com:8443/",
            "http://app.example.com/",
            "",
        ] {
            assert_eq!(p.check(evil, &origin()), None, "{evil:?}");
        }
    }

    #[test]
    fn allowed_domains_as_oauth2_proxy_whitelist() {
        let p = RedirectPolicy::same_origin().allow_domains([
            ".example.org",
            "idp.example.net:8443",
            "any.example.io:*",
        ]);
        assert_eq!(
            p.check("https://www.example.org/x", &origin()).as_deref(),
            Some("https://www.example.org/x")
        );
        assert!(p.check("https://example.org/", &origin()).is_some());
        assert!(p.check("https://badexample.org/", &origin()).is_none());
        assert!(
            p.check("https://idp.example.net:8443/", &origin())
                .is_some()
        );
        assert!(p.check("https://idp.example.net/", &origin()).is_none());
        assert!(p.check("https://any.example.io:9999/", &origin()).is_some());
    }
}
