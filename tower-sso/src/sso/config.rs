//! SSO configuration, checked once by `build()`.

use std::time::Duration;

use oidc_core::flow::ClientAuth;
use oidc_core::http::SharedHttpClient;
use oidc_core::secret::ClientSecret;
use url::Url;

use super::rules::MatchRules;
use super::session::codec::CookieSecret;
use super::session::cookie::{CookieAttributes, SameSitePolicy};
use crate::error::ConfigError;

/// What the upstream's `Authorization: Bearer` carries (oauth2-proxy's
/// `--pass-authorization-header` passes the ID token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamToken {
    /// The ID token (default).
    #[default]
    IdToken,
    /// The access token.
    AccessToken,
    /// No `Authorization` header.
    None,
}

/// Names of the identity headers sent upstream (and removed from client requests).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityHeaders {
    /// The user (`sub`): `X-Forwarded-User`.
    pub user: String,
    /// `X-Forwarded-Email`.
    pub email: String,
    /// `X-Forwarded-Preferred-Username`.
    pub preferred_username: String,
    /// `X-Forwarded-Groups` (comma-separated).
    pub groups: String,
    /// `X-Forwarded-Access-Token`, when set (`--pass-access-token`).
    pub access_token: Option<String>,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self {
            user: "x-forwarded-user".into(),
            email: "x-forwarded-email".into(),
            preferred_username: "x-forwarded-preferred-username".into(),
            groups: "x-forwarded-groups".into(),
            access_token: None,
        }
    }
}

/// How long a session lasts after login when `cookie_expire` is zero (a browser-session
/// cookie): the browser forgets the cookie when it closes, but a copy of it stops working
/// after this anyway. oauth2-proxy has no such bound; 24 h is what a working day needs.
pub const BROWSER_SESSION_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The SSO configuration, named after oauth2-proxy's options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SsoConfig {
    /// `--oidc-issuer-url`: endpoints come from its discovery document.
    pub issuer_url: String,
    /// `--client-id`.
    pub client_id: String,
    /// `--client-secret` and how it is sent (basic by default).
    pub client_auth: ClientAuth,
    /// `--redirect-url`: absolute, exactly as registered at the provider.
    pub redirect_url: Url,
    /// `--cookie-secret`, and earlier secrets that still open cookies.
    pub cookie_secret: CookieSecret,
    /// Earlier cookie secrets (rotation).
    pub previous_cookie_secrets: Vec<CookieSecret>,
    /// `--cookie-name`, `--cookie-domain`, `--cookie-path`, `--cookie-secure`,
    /// `--cookie-samesite`; `max_age` follows `cookie_expire`.
    pub cookie: CookieAttributes,
    /// `--cookie-expire` (default 168 h): how long a session lasts after login, whatever
    /// happens. Zero makes the cookie a browser-session cookie (no `Max-Age`), but the
    /// session still ends server-side [`BROWSER_SESSION_MAX_AGE`] (24 h) after login, so a
    /// copied cookie does not live forever; see [`SsoConfig::session_max_age`].
    pub cookie_expire: Duration,
    /// Total size of a session's `Set-Cookie` lines above which a warning is logged
    /// (cookie store; default 8 KiB).
    pub cookie_budget: usize,
    /// `--cookie-refresh`: refresh the tokens this long after they were issued (zero:
    /// only when the access token is about to expire).
    pub cookie_refresh: Duration,
    /// `--scope` (default `openid email profile`).
    pub scopes: Vec<String>,
    /// `--prompt` sent to the provider (`login`, `consent`, `select_account`, ...).
    pub prompt: Option<String>,
    /// `--proxy-prefix` (default `/oauth2`).
    pub proxy_prefix: String,
    /// Which paths need a login.
    pub rules: MatchRules,
    /// Sign out at the provider too ("single-step logout"): its discovered
    /// `end_session_endpoint`, or this URL when set.
    pub provider_logout: bool,
    /// An explicit IdP logout URL (instead of the discovered end-session endpoint).
    pub provider_logout_url: Option<Url>,
    /// `--whitelist-domain`: other hosts `rd` may send users to.
    pub allowed_redirect_domains: Vec<String>,
    /// `--email-domain` (default `*`: any). An address must have exactly one `@`, and its
    /// domain must be one of these (ASCII case ignored).
    pub email_domains: Vec<String>,
    /// `--insecure-oidc-allow-unverified-email`: accept an `email` whose `email_verified`
    /// claim is false. Off by default: anyone can put any address in an unverified profile.
    pub insecure_allow_unverified_email: bool,
    /// What `Authorization` carries upstream.
    pub upstream_token: UpstreamToken,
    /// Identity header names.
    pub headers: IdentityHeaders,
    /// `--skip-jwt-bearer-tokens`: a request with a JWT bearer token verified for the
    /// provider (audience: the client id) or for one of `extra_jwt_issuers` needs no login
    /// session; its claims become the identity headers and its `Authorization` goes
    /// upstream unchanged. An invalid bearer token is a 401.
    pub skip_jwt_bearer_tokens: bool,
    /// `--extra-jwt-issuers`: more `(issuer, audience)` pairs whose tokens are accepted as
    /// bearers (discovered on first use).
    pub extra_jwt_issuers: Vec<(String, String)>,
    /// `--set-xauthrequest`: add `X-Auth-Request-User`, `-Email`, `-Preferred-Username`,
    /// `-Groups` (and `-Access-Token` with `--pass-access-token`) to the responses of
    /// authenticated requests, for `auth_request` and ext_authz callers.
    pub set_xauthrequest: bool,
    /// The HTTP client for the provider (default reqwest).
    pub http: Option<SharedHttpClient>,
    /// The clock for session and token times (default the system clock).
    pub clock: oidc_core::clock::SharedClock,
}

impl SsoConfig {
    /// A configuration with oauth2-proxy's defaults: `client_secret_basic`, cookie
    /// `_oauth2_proxy` (Secure, HttpOnly, SameSite=Lax) for 168 h, scopes `openid email
    /// profile`, prefix `/oauth2`, every path authenticated.
    pub fn new(
        issuer_url: &str,
        client_id: &str,
        client_secret: &str,
        redirect_url: &str,
        cookie_secret: &str,
    ) -> Result<SsoConfig, ConfigError> {
        let invalid = |what, reason: String| ConfigError::Invalid { what, reason };
        if issuer_url.is_empty() {
            return Err(invalid("oidc-issuer-url", "is required".into()));
        }
        if client_id.is_empty() {
            return Err(invalid("client-id", "is required".into()));
        }
        let redirect_url = Url::parse(redirect_url).map_err(|e| {
            invalid(
                "redirect-url",
                format!("{redirect_url:?}: {e} (it must be absolute, as registered)"),
            )
        })?;
        let client_auth = if client_secret.is_empty() {
            ClientAuth::None
        } else {
            ClientAuth::ClientSecretBasic(ClientSecret::new(client_secret))
        };
        let cookie_secret = CookieSecret::parse(cookie_secret)?;
        let mut cookie = CookieAttributes::new("_oauth2_proxy");
        cookie.secure = redirect_url.scheme() == "https" || !is_loopback(&redirect_url);
        let expire = Duration::from_secs(168 * 3600);
        cookie.max_age = Some(expire);
        Ok(SsoConfig {
            issuer_url: issuer_url.to_owned(),
            client_id: client_id.to_owned(),
            client_auth,
            redirect_url,
            cookie_secret,
            previous_cookie_secrets: Vec::new(),
            cookie,
            cookie_expire: expire,
            cookie_budget: super::session::DEFAULT_COOKIE_BUDGET,
            cookie_refresh: Duration::ZERO,
            scopes: oidc_core::flow::DEFAULT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            prompt: None,
            proxy_prefix: "/oauth2".into(),
            rules: MatchRules::default(),
            provider_logout: false,
            provider_logout_url: None,
            allowed_redirect_domains: Vec::new(),
            email_domains: vec!["*".into()],
            insecure_allow_unverified_email: false,
            upstream_token: UpstreamToken::IdToken,
            headers: IdentityHeaders::default(),
            skip_jwt_bearer_tokens: false,
            extra_jwt_issuers: Vec::new(),
            set_xauthrequest: false,
            http: None,
            clock: std::sync::Arc::new(oidc_core::clock::SystemClock),
        })
    }

    /// Sets `--cookie-expire` (zero: a browser-session cookie).
    #[must_use]
    pub fn cookie_expire(mut self, expire: Duration) -> Self {
        self.cookie_expire = expire;
        self.cookie.max_age = (!expire.is_zero()).then_some(expire);
        self
    }

    /// How long a session lasts after login, server-side: `cookie_expire`, or
    /// [`BROWSER_SESSION_MAX_AGE`] when that is zero. Sessions end then (refreshes do not
    /// extend them), and a sign-out or back-channel logout is remembered as long.
    pub fn session_max_age(&self) -> Duration {
        if self.cookie_expire.is_zero() {
            BROWSER_SESSION_MAX_AGE
        } else {
            self.cookie_expire
        }
    }

    /// Sets the match rules.
    #[must_use]
    pub fn rules(mut self, rules: MatchRules) -> Self {
        self.rules = rules;
        self
    }

    /// Sets the HTTP client used to talk to the provider.
    #[must_use]
    pub fn http(mut self, http: SharedHttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn clock(mut self, clock: oidc_core::clock::SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets `--cookie-refresh`.
    #[must_use]
    pub fn cookie_refresh(mut self, every: Duration) -> Self {
        self.cookie_refresh = every;
        self
    }

    /// Checks what `new` cannot: the cookie name, SameSite=None without Secure, the prefix,
    /// a redirect URL whose path is not `{proxy_prefix}/callback`, a refresh interval not
    /// shorter than the cookie's lifetime.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |what, reason: &str| {
            Err(ConfigError::Invalid {
                what,
                reason: reason.to_owned(),
            })
        };
        let name = &self.cookie.name;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return invalid("cookie-name", "letters, digits, _ - . only");
        }
        // The browser's rules for prefixed names (RFC 6265bis 4.1.3): a cookie that
        // breaks them is never stored, and neither is its removal at sign-out.
        if name.starts_with("__Secure-") && !self.cookie.secure {
            return invalid("cookie-name", "a __Secure- name needs --cookie-secure");
        }
        if name.starts_with("__Host-")
            && (!self.cookie.secure || self.cookie.domain.is_some() || self.cookie.path != "/")
        {
            return invalid(
                "cookie-name",
                "a __Host- name needs --cookie-secure, --cookie-path=/ and no --cookie-domain",
            );
        }
        if self.cookie.same_site == SameSitePolicy::None && !self.cookie.secure {
            return invalid("cookie-samesite", "none requires --cookie-secure");
        }
        if !self.proxy_prefix.starts_with('/') || self.proxy_prefix.ends_with('/') {
            return invalid("proxy-prefix", "must start with / and not end with /");
        }
        let callback = format!("{}/callback", self.proxy_prefix);
        if self.redirect_url.path() != callback {
            return Err(ConfigError::Invalid {
                what: "redirect-url",
                reason: format!(
                    "its path is {:?}, but the callback is served at {callback:?} (--proxy-prefix)",
                    self.redirect_url.path()
                ),
            });
        }
        if self.cookie_refresh >= self.session_max_age() {
            return invalid(
                "cookie-refresh",
                "must be less than --cookie-expire, or than 24h with --cookie-expire=0 (the session would end before it refreshes)",
            );
        }
        Ok(())
    }
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}
