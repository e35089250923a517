//! Which requests need a login: "authenticate if matched" or "bypass if matched" path
//! rules (seed 001), and what an unauthenticated request gets.

/// A path pattern: exact, `prefix*`, or `*suffix` (Istio's syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    method: Option<String>,
    pattern: String,
}

impl PathRule {
    /// A rule for any method.
    pub fn path(pattern: &str) -> Self {
        Self {
            method: None,
            pattern: pattern.to_owned(),
        }
    }

    /// A rule for one method (`GET=/health`, as oauth2-proxy's `--skip-auth-route`).
    pub fn method_path(method: &str, pattern: &str) -> Self {
        Self {
            method: Some(method.to_ascii_uppercase()),
            pattern: pattern.to_owned(),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let p = self.pattern.as_str();
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
    actions: Vec<(PathRule, UnauthenticatedAction)>,
}

impl MatchRules {
    /// Only `rules` need a login.
    pub fn authenticate_if_matched(rules: Vec<PathRule>) -> Self {
        Self {
            mode: MatchMode::AuthenticateIfMatched,
            rules,
            actions: Vec::new(),
        }
    }

    /// Everything but `rules` needs a login.
    pub fn bypass_if_matched(rules: Vec<PathRule>) -> Self {
        Self {
            mode: MatchMode::BypassIfMatched,
            rules,
            actions: Vec::new(),
        }
    }

    /// Sets what unauthenticated requests matching `rule` get.
    #[must_use]
    pub fn on_unauthenticated(mut self, rule: PathRule, action: UnauthenticatedAction) -> Self {
        self.actions.push((rule, action));
        self
    }

    /// True when `method path` needs a login.
    pub fn requires_login(&self, method: &str, path: &str) -> bool {
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
}
