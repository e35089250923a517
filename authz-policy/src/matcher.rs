//! Istio's value syntax: exact, prefix `abc*`, suffix `*abc`, presence `*`; globs for
//! `namespaces`; path templates `{*}` / `{**}`.

/// What `*` alone means for a field: Istio turns it into "non-empty" (regex `.+`) for
/// principals, paths, claims and SNI, and into "present" (even empty) for headers, hosts and
/// methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    NonEmpty,
    Exists,
}

/// One value of a policy field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrMatch {
    Exact(Box<str>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    NonEmpty,
    Exists,
}

impl StrMatch {
    /// Parses Istio's syntax: only one leading or trailing `*` is special; a `*` elsewhere
    /// is a literal character.
    pub(crate) fn parse(value: &str, presence: Presence) -> StrMatch {
        if value == "*" {
            return match presence {
                Presence::NonEmpty => StrMatch::NonEmpty,
                Presence::Exists => StrMatch::Exists,
            };
        }
        if let Some(rest) = value.strip_prefix('*') {
            StrMatch::Suffix(rest.into())
        } else if let Some(rest) = value.strip_suffix('*') {
            StrMatch::Prefix(rest.into())
        } else {
            StrMatch::Exact(value.into())
        }
    }

    /// The same, lower-cased, for case-insensitive fields (hosts).
    pub(crate) fn parse_lowercase(value: &str, presence: Presence) -> StrMatch {
        StrMatch::parse(&value.to_ascii_lowercase(), presence)
    }

    /// Case-sensitive match.
    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            StrMatch::Exact(v) => s == &**v,
            StrMatch::Prefix(v) => s.starts_with(&**v),
            StrMatch::Suffix(v) => s.ends_with(&**v),
            StrMatch::NonEmpty => !s.is_empty(),
            StrMatch::Exists => true,
        }
    }

    /// Case-sensitive match of raw bytes (header values, which need not be text).
    pub(crate) fn matches_bytes(&self, s: &[u8]) -> bool {
        match self {
            StrMatch::Exact(v) => s == v.as_bytes(),
            StrMatch::Prefix(v) => s.starts_with(v.as_bytes()),
            StrMatch::Suffix(v) => s.ends_with(v.as_bytes()),
            StrMatch::NonEmpty => !s.is_empty(),
            StrMatch::Exists => true,
        }
    }

    /// ASCII case-insensitive match against a lower-cased pattern, without allocating.
    pub(crate) fn matches_ignore_case(&self, s: &str) -> bool {
        let s = s.as_bytes();
        match self {
            StrMatch::Exact(v) => s.eq_ignore_ascii_case(v.as_bytes()),
            StrMatch::Prefix(v) => {
                s.len() >= v.len() && s[..v.len()].eq_ignore_ascii_case(v.as_bytes())
            }
            StrMatch::Suffix(v) => {
                s.len() >= v.len() && s[s.len() - v.len()..].eq_ignore_ascii_case(v.as_bytes())
            }
            StrMatch::NonEmpty => !s.is_empty(),
            StrMatch::Exists => true,
        }
    }
}

/// `*` matches any sequence (including `/`), everything else is literal: the regex Istio
/// builds for `namespaces` (every `*` becomes `.*`).
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// A path template piece.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Box<str>),
    /// `{*}`: one or more path characters, no `/`.
    One,
    /// `{**}`: zero or more path characters, `/` included.
    Many,
}

/// A compiled `paths` template (`/foo/{*}/bar/{**}`), matched as Envoy's uri_template
/// regex: anchored at both ends, over the path without its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate(Vec<Piece>);

/// Characters `{*}` and `{**}` accept: every RFC 3986 pchar, `=` and `*` included, as
/// Envoy since its fix for CVE-2025-46821 (before it, `*` was left out, so a DENY on
/// `/admin/{**}` missed `/admin/*x`; Envoy's literal set has had `=` for longer).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:@".contains(&b)
}

impl PathTemplate {
    /// True when `value` uses template syntax.
    pub(crate) fn is_template(value: &str) -> bool {
        value.contains("{*}") || value.contains("{**}")
    }

    pub(crate) fn parse(value: &str) -> PathTemplate {
        let mut pieces = Vec::new();
        let mut rest = value;
        while !rest.is_empty() {
            let next = [("{**}", Piece::Many), ("{*}", Piece::One)]
                .into_iter()
                .filter_map(|(tok, piece)| rest.find(tok).map(|i| (i, tok.len(), piece)))
                .min_by_key(|(i, len, _)| (*i, usize::MAX - len));
            match next {
                Some((i, len, piece)) => {
                    if i > 0 {
                        pieces.push(Piece::Literal(rest[..i].into()));
                    }
                    pieces.push(piece);
                    rest = &rest[i + len..];
                }
                None => {
                    pieces.push(Piece::Literal(rest.into()));
                    rest = "";
                }
            }
        }
        PathTemplate(pieces)
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match_pieces(&self.0, path.as_bytes())
    }

    /// The literal text every match starts with, if the template starts with one.
    pub(crate) fn literal_start(&self) -> Option<&str> {
        match self.0.first()? {
            Piece::Literal(l) => Some(l),
            _ => None,
        }
    }
}

fn match_pieces(pieces: &[Piece], s: &[u8]) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return s.is_empty();
    };
    match first {
        Piece::Literal(lit) => s
            .strip_prefix(lit.as_bytes())
            .is_some_and(|tail| match_pieces(rest, tail)),
        Piece::One => {
            let run = s.iter().take_while(|&&b| is_pchar(b)).count();
            (1..=run).rev().any(|n| match_pieces(rest, &s[n..]))
        }
        Piece::Many => {
            let run = s.iter().take_while(|&&b| b == b'/' || is_pchar(b)).count();
            (0..=run).rev().any(|n| match_pieces(rest, &s[n..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_value_syntax() {
        let m = |v: &str, s: &str| StrMatch::parse(v, Presence::NonEmpty).matches(s);
        assert!(m("/admin", "/admin") && !m("/admin", "/admin/"));
        assert!(m("/admin*", "/admin/x") && m("/admin*", "/admin"));
        assert!(m("*.html", "/x.html") && !m("*.html", "/x.htm"));
        assert!(m("*", "/") && !m("*", ""));
        assert!(StrMatch::parse("*", Presence::Exists).matches(""));
        // Only one leading or trailing * is special.
        assert!(m("a*b", "a*b") && !m("a*b", "axb"));
        assert!(m("*a*", "xa*") && !m("*a*", "xab"));
        let host = StrMatch::parse_lowercase("*.Example.com", Presence::Exists);
        assert!(host.matches_ignore_case("API.example.COM"));
        assert!(!host.matches_ignore_case("example.com"));
    }

    #[test]
    fn globs_for_namespaces() {
        assert!(glob_matches(
            "*/ns/foo/*",
            "spiffe://cluster.local/ns/foo/sa/x"
        ));
        assert!(!glob_matches(
            "*/ns/foo/*",
            "spiffe://cluster.local/ns/foobar/sa/x"
        ));
        assert!(glob_matches("*/ns/f*o/*", "spiffe://td/ns/fxyo/sa/x"));
        assert!(glob_matches("*/ns/*/*", "spiffe://td/ns/a/b"));
        assert!(!glob_matches("*/ns/*/*", "spiffe://td/ns/a"));
        assert!(glob_matches("", "") && !glob_matches("", "x") && glob_matches("**", ""));
    }

    #[test]
    fn path_templates_as_envoy() {
        let t = |p: &str, s: &str| PathTemplate::parse(p).matches(s);
        assert!(
            t("/foo/{*}", "/foo/bar") && !t("/foo/{*}", "/foo/bar/baz") && !t("/foo/{*}", "/foo/")
        );
        assert!(
            t("/foo/{*}/bar/{**}", "/foo/buzz/bar/") && t("/foo/{*}/bar/{**}", "/foo/buzz/bar/baz")
        );
        assert!(t("/foo/{**}/bar", "/foo/a/b/bar") && t("/foo/{**}/bar", "/foo//bar"));
        // The API doc says `/foo/{**}/` matches `/foo/bar/baz.txt`; Envoy's regex needs the
        // trailing slash, and we follow Envoy.
        assert!(!t("/foo/{**}/", "/foo/bar/baz.txt") && t("/foo/{**}/", "/foo/bar/baz/"));
        assert!(
            t("/{*}", "/a=b") && t("/{*}", "/*"),
            "= and * are pchars for Envoy"
        );
        assert!(t("/{*}/x", "/a%20b/x"));
    }
}
