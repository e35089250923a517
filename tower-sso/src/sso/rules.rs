//! Which requests need a login: "authenticate if matched" or "bypass if matched" path
//! rules (seed 001), and what an unauthenticated request gets.

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

    /// True when `method path` needs a login.
    pub fn requires_login(&self, method: &str, path: &str) -> bool {
        if self.skipped.iter().any(|r| r.matches(method, path)) {
            return false;
        }
        let matched = self.rules.iter().any(|r| r.matches(method, path));
        match self.mode {
            MatchMode::AuthenticateIfMatched => matched,
            MatchMode::BypassIfMatched => !matched,
        }
    }

    /// The action for an unauthenticated `method path`.
    pub fn action(&self, method: &str, path: &str) -> UnauthenticatedAction {
        self.actions
            .iter()
            .find(|(r, _)| r.matches(method, path))
            .map(|(_, a)| *a)
            .unwrap_or_default()
    }
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
}
