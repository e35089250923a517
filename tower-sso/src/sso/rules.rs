//! Which requests need a login: "authenticate if matched" or "bypass if matched" path
//! rules (seed 001), and what an unauthenticated request gets.
//!
//! A rule that lets a request through without a login must hold for every path an
//! upstream may read into the request, not only for the bytes we received: many servers
//! percent-decode the path and then take `#` as the start of a fragment
//! (`/foo/secret%23/bar` is served as `/foo/secret`: oauth2-proxy's GHSA-pxq7-h93f-9jrg),
//! drop `;` path parameters (Tomcat and Spring serve `/admin;x.css` as `/admin`), or
//! resolve `..` after decoding (`/public/..%2Fadmin`). So a path needs a login when either
//! reading of it does: the path as received, or its [`lenient_reading`]. A query never
//! counts (GHSA-7rh7-c77v-6434): rules only ever see the path.

use std::borrow::Cow;

/// A path pattern: exact, `prefix*`, or `*suffix` (Istio's syntax), or a regular
/// expression (oauth2-proxy's `--skip-auth-route`), optionally for one method.
#[derive(Debug, Clone)]
pub struct PathRule {
    method: Option<String>,
    pattern: Pattern,
}

#[derive(Debug, Clone)]
enum Pattern {
    Istio(String),
    /// A regular expression; `negated` matches the paths it does not (`METHOD!=regex`).
    Regex {
        regex: regex::Regex,
        negated: bool,
    },
}

impl PartialEq for PathRule {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method
            && match (&self.pattern, &other.pattern) {
                (Pattern::Istio(a), Pattern::Istio(b)) => a == b,
                (
                    Pattern::Regex {
                        regex: a,
                        negated: x,
                    },
                    Pattern::Regex {
                        regex: b,
                        negated: y,
                    },
                ) => a.as_str() == b.as_str() && x == y,
                _ => false,
            }
    }
}

impl Eq for PathRule {}

/// Why a route rule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {route:?}: {reason}")]
pub struct RouteError {
    /// The rule as written.
    pub route: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PathRule {
    /// A rule for any method.
    pub fn path(pattern: &str) -> Self {
        Self {
            method: None,
            pattern: Pattern::Istio(pattern.to_owned()),
        }
    }

    /// A rule for one method (`GET=/health`, as oauth2-proxy's `--skip-auth-route`).
    pub fn method_path(method: &str, pattern: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            pattern: Pattern::Istio(pattern.to_owned()),
        }
    }

    /// An oauth2-proxy `--skip-auth-route`: `METHOD=regex`, `METHOD!=regex`, `regex` or
    /// `!=regex`, the regular expression matched against the path (unanchored, as Go's
    /// `regexp.MatchString`).
    pub fn oauth2_proxy_route(route: &str) -> Result<Self, RouteError> {
        let error = |reason: String| RouteError {
            route: route.to_owned(),
            reason,
        };
        // As oauth2-proxy: everything before the first `=` is the method (`!` negates).
        let (method, negated, expr) = match route.split_once('=') {
            None => (None, false, route),
            Some((m, rest)) => {
                let (m, negated) = match m.strip_suffix('!') {
                    Some(m) => (m, true),
                    None => (m, false),
                };
                if !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(error(format!("{m:?} is not an HTTP method")));
                }
                let method = (!m.is_empty()).then(|| m.to_ascii_uppercase());
                (method, negated, rest)
            }
        };
        if expr.is_empty() {
            return Err(error("an empty path regex matches every path".into()));
        }
        let regex = regex::Regex::new(expr).map_err(|e| error(e.to_string()))?;
        Ok(Self {
            method,
            pattern: Pattern::Regex { regex, negated },
        })
    }

    /// A rule in the settings' syntax: `METHOD=pattern` or `pattern`, Istio-style.
    pub(crate) fn parse_istio(rule: &str) -> Self {
        match rule.split_once('=') {
            Some((m, p)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Self::method_path(m, p)
            }
            _ => Self::path(rule),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let p = match &self.pattern {
            Pattern::Regex { regex, negated } => return regex.is_match(path) != *negated,
            Pattern::Istio(p) => p.as_str(),
        };
        if p == "*" {
            true
        } else if let Some(rest) = p.strip_suffix('*') {
            path.starts_with(rest)
        } else if let Some(rest) = p.strip_prefix('*') {
            path.ends_with(rest)
        } else {
            path == p
        }
    }
}

/// How the rules are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchMode {
    /// Only matching paths need a login ("Auth If Matched").
    AuthenticateIfMatched,
    /// Matching paths pass without a login, the rest need one ("Bypass If Matched"); with
    /// no rules, everything needs a login (the default).
    #[default]
    BypassIfMatched,
}

/// What an unauthenticated request to a protected path gets (mod_auth_openidc's
/// `OIDCUnAuthAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnauthenticatedAction {
    /// Browsers are redirected to log in; API clients get 401 (the default).
    #[default]
    Auto,
    /// Always 401 with `WWW-Authenticate`.
    Unauthorized,
    /// Always 403.
    Forbidden,
    /// Passed to the application without identity.
    Pass,
}

/// The match rules, with per-rule unauthenticated actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchRules {
    mode: MatchMode,
    rules: Vec<PathRule>,
    skipped: Vec<PathRule>,
    actions: Vec<(PathRule, UnauthenticatedAction)>,
}

impl MatchRules {
    /// Only `rules` need a login.
    pub fn authenticate_if_matched(rules: Vec<PathRule>) -> Self {
        Self {
            mode: MatchMode::AuthenticateIfMatched,
            rules,
            skipped: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Everything but `rules` needs a login.
    pub fn bypass_if_matched(rules: Vec<PathRule>) -> Self {
        Self {
            mode: MatchMode::BypassIfMatched,
            rules,
            skipped: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// Sets what unauthenticated requests matching `rule` get.
    #[must_use]
    pub fn on_unauthenticated(mut self, rule: PathRule, action: UnauthenticatedAction) -> Self {
        self.actions.push((rule, action));
        self
    }

    /// Adds rules whose requests never need a login, whatever the mode (oauth2-proxy's
    /// `--skip-auth-route`).
    #[must_use]
    pub fn skip(mut self, rules: impl IntoIterator<Item = PathRule>) -> Self {
        self.skipped.extend(rules);
        self
    }

    /// True when `method path` needs a login: when the path as received or its
    /// [`lenient_reading`] does (a path an upstream may serve differently is never
    /// skipped on the strength of one reading). `path` is the request's path without its
    /// query.
    pub fn requires_login(&self, method: &str, path: &str) -> bool {
        self.requires_login_as_read(method, path)
            || lenient_reading(path).is_some_and(|p| self.requires_login_as_read(method, &p))
    }

    fn requires_login_as_read(&self, method: &str, path: &str) -> bool {
        if self.skipped.iter().any(|r| r.matches(method, path)) {
            return false;
        }
        let matched = self.rules.iter().any(|r| r.matches(method, path));
        match self.mode {
            MatchMode::AuthenticateIfMatched => matched,
            MatchMode::BypassIfMatched => !matched,
        }
    }

    /// The action for an unauthenticated `method path`; when the two readings of the
    /// path (see [`MatchRules::requires_login`]) disagree, the default, which never lets
    /// a request through.
    pub fn action(&self, method: &str, path: &str) -> UnauthenticatedAction {
        let action = self.action_as_read(method, path);
        match lenient_reading(path) {
            Some(p) if self.action_as_read(method, &p) != action => {
                UnauthenticatedAction::default()
            }
            _ => action,
        }
    }

    fn action_as_read(&self, method: &str, path: &str) -> UnauthenticatedAction {
        self.actions
            .iter()
            .find(|(r, _)| r.matches(method, path))
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }
}

/// The path a lenient upstream may act on for `path`, when it differs: every `%XX`
/// decoded once, cut at the first `#` or `?` that decoding produced, `\` read as `/`, `;`
/// parameters dropped from every segment, runs of `/` merged, and dot segments removed.
/// `None` when `path` has nothing any of these would change.
///
/// ```
/// use tower_sso::sso::rules::lenient_reading;
/// assert_eq!(lenient_reading("/foo/secret%23/bar").as_deref(), Some("/foo/secret"));
/// assert_eq!(lenient_reading("/admin;x.css").as_deref(), Some("/admin"));
/// assert_eq!(lenient_reading("/public/..%2Fadmin").as_deref(), Some("/admin"));
/// assert_eq!(lenient_reading("/public/a.css"), None);
/// ```
pub fn lenient_reading(path: &str) -> Option<String> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let bytes = path.as_bytes();
    let needed = bytes.iter().any(|b| matches!(b, b'%' | b';' | b'\\'))
        || path.contains("//")
        || path.contains("/.");
    if !needed {
        return None;
    }
    let decoded = percent_decode(bytes);
    let decoded = String::from_utf8_lossy(&decoded);
    let cut = decoded.split(['#', '?']).next().unwrap_or_default();
    let slashes: Cow<'_, str> = if cut.contains('\\') {
        Cow::Owned(cut.replace('\\', "/"))
    } else {
        Cow::Borrowed(cut)
    };
    let mut segments: Vec<&str> = Vec::new();
    for segment in slashes.split('/') {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            // Merged slashes, and `.` segments.
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = slashes.ends_with('/')
        || slashes
            .rsplit('/')
            .next()
            .is_some_and(|last| matches!(last.split(';').next(), Some(".") | Some("..")));
    let mut reading = String::with_capacity(path.len());
    for segment in &segments {
        reading.push('/');
        reading.push_str(segment);
    }
    if reading.is_empty() || (trailing && !reading.ends_with('/')) {
        reading.push('/');
    }
    (reading != path).then_some(reading)
}

/// Decodes every `%XX` (hex digits) once; anything else is kept as it is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_001_auth_if_matched_productpage() {
        let rules = MatchRules::authenticate_if_matched(vec![PathRule::path("/productpage")]);
        assert!(rules.requires_login("GET", "/productpage"));
        assert!(!rules.requires_login("GET", "/static/style.css"));
        assert!(
            !rules.requires_login("GET", "/productpage/x"),
            "exact, as configured"
        );
    }

    #[test]
    fn bypass_if_matched_with_methods_and_wildcards() {
        let rules = MatchRules::bypass_if_matched(vec![
            PathRule::method_path("get", "/health"),
            PathRule::path("/public/*"),
            PathRule::path("*.css"),
        ]);
        assert!(!rules.requires_login("GET", "/health"));
        assert!(rules.requires_login("POST", "/health"));
        assert!(!rules.requires_login("PUT", "/public/a"));
        assert!(!rules.requires_login("GET", "/x/site.css"));
        assert!(rules.requires_login("GET", "/admin"));
        assert!(MatchRules::default().requires_login("GET", "/anything"));
    }

    #[test]
    fn oauth2_proxy_skip_auth_routes() {
        let rule = |r: &str| PathRule::oauth2_proxy_route(r).unwrap();
        let rules = MatchRules::bypass_if_matched(vec![
            rule("GET=^/health$"),
            rule("^/static/"),
            rule("post!=^/api/"),
        ]);
        assert!(!rules.requires_login("GET", "/health"));
        assert!(rules.requires_login("GET", "/health/x"));
        assert!(rules.requires_login("HEAD", "/health"));
        assert!(!rules.requires_login("PUT", "/static/a.css"));
        assert!(
            !rules.requires_login("POST", "/form"),
            "POST outside /api/ is skipped"
        );
        assert!(rules.requires_login("POST", "/api/orders"));
        let auth_only_admin = MatchRules::authenticate_if_matched(vec![PathRule::path("/admin/*")])
            .skip([rule("GET=^/admin/health$")]);
        assert!(auth_only_admin.requires_login("GET", "/admin/users"));
        assert!(!auth_only_admin.requires_login("GET", "/admin/health"));
        // Unanchored, as Go's MatchString.
        assert!(
            !MatchRules::bypass_if_matched(vec![rule("public")])
                .requires_login("GET", "/x/public/y")
        );
        for bad in ["", "GET=", "GET=(", "G1T=^/x", "!="] {
            assert!(PathRule::oauth2_proxy_route(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ghsa_pxq7_h93f_9jrg_no_reading_of_the_path_widens_a_skip_rule() {
        // oauth2-proxy GHSA-pxq7-h93f-9jrg: `^/foo/.*/bar$` matched `/foo/secret%23/bar`,
        // which a decoding upstream serves as `/foo/secret`.
        let rule = |r: &str| PathRule::oauth2_proxy_route(r).unwrap();
        let rules = MatchRules::bypass_if_matched(vec![
            rule("^/foo/.*/bar$"),
            rule("\\.css$"),
            rule("^/public/"),
        ]);
        for widened in [
            "/foo/secret%23/bar",
            "/foo/secret%3f/bar",
            "/foo/secret%2523/bar%23",
            "/admin;x.css",
            "/admin%3Bx.css",
            "/public/..%2Fadmin",
            "/public/..%5Cadmin",
            "/public/..;/admin",
            "/public//../admin",
            "/public/%2e%2e/admin",
        ] {
            assert!(rules.requires_login("GET", widened), "{widened}");
        }
        for skipped in [
            "/foo/public/bar",
            "/static/app.css",
            "/public/app.css;jsessionid=1",
            "/public/a%20b",
        ] {
            assert!(!rules.requires_login("GET", skipped), "{skipped}");
        }
        // Negated rules, Istio-style rules and "authenticate if matched" read both ways
        // too.
        let all_but_private = MatchRules::bypass_if_matched(vec![rule("!=^/private$")]);
        for widened in ["/private", "/private%23", "/private;x", "/x/../private"] {
            assert!(all_but_private.requires_login("GET", widened), "{widened}");
        }
        assert!(!all_but_private.requires_login("GET", "/privately"));
        let auth_only = MatchRules::authenticate_if_matched(vec![PathRule::path("/admin")]);
        assert!(auth_only.requires_login("GET", "/admin;x"));
        assert!(auth_only.requires_login("GET", "/admin%23x"));
        assert!(!auth_only.requires_login("GET", "/admins"));
        let by_suffix = MatchRules::bypass_if_matched(vec![PathRule::path("*.css")]);
        assert!(by_suffix.requires_login("GET", "/admin;.css"));
        // An action that lets requests through must hold for both readings.
        let pass = MatchRules::default()
            .on_unauthenticated(PathRule::path("/open/*"), UnauthenticatedAction::Pass);
        assert_eq!(pass.action("GET", "/open/x"), UnauthenticatedAction::Pass);
        assert_eq!(
            pass.action("GET", "/open/..%2Fadmin"),
            UnauthenticatedAction::Auto
        );
    }

    #[test]
    fn lenient_readings() {
        let r = |p: &str| lenient_reading(p);
        assert_eq!(r("/a/b").as_deref(), None);
        assert_eq!(r("/a/./b/").as_deref(), Some("/a/b/"));
        assert_eq!(r("/a/b/..").as_deref(), Some("/a/"));
        assert_eq!(r("/..").as_deref(), Some("/"));
        assert_eq!(r("//").as_deref(), Some("/"));
        assert_eq!(
            r("/%zz%4").as_deref(),
            None,
            "not escapes: kept as they are"
        );
        assert_eq!(r("/a%2Fb").as_deref(), Some("/a/b"));
        assert_eq!(r("/%ff").as_deref(), Some("/\u{fffd}"));
        assert_eq!(r("/a;b/c;d").as_deref(), Some("/a/c"));
    }
}
