//! The SSO middleware: endpoints under the proxy prefix, session checks, upstream identity.

use std::sync::Arc;
use std::task::{Context, Poll};

use aws_lc_rs::digest;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Either;
use oidc_core::flow::{AuthorizationRequest, Client, ClientConfig, LogoutRequest, TokenSet};
use oidc_core::secret::{Nonce, PkceVerifier, State};
use serde::{Deserialize, Serialize};
use url::Url;

use super::config::{SsoConfig, UpstreamToken};
use super::redirect::RedirectPolicy;
use super::respond::{self, Body};
use super::rules::UnauthenticatedAction;
use super::session::codec::Codec;
use super::session::cookie::{self, CookieAttributes};
use super::session::{CookieStore, Session, SessionStore, SessionUser};
use crate::error::ConfigError;

/// Login-state cookies kept at once (one per login attempt in flight).
const MAX_LOGIN_STATES: usize = 5;
/// How long a login attempt may take.
const LOGIN_STATE_TTL: std::time::Duration = std::time::Duration::from_secs(900);

/// What a login attempt remembers between `/start` and `/callback`, sealed in its own
/// short-lived cookie.
#[derive(Serialize, Deserialize)]
struct LoginState {
    s: String,
    n: String,
    v: String,
    rd: String,
    t: i64,
}

/// The shared state of the SSO middleware. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sso {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SsoConfig,
    codec: Arc<Codec>,
    store: Arc<dyn SessionStore>,
    redirects: RedirectPolicy,
    client: tokio::sync::OnceCell<Client>,
    http: oidc_core::http::SharedHttpClient,
    state_attrs: CookieAttributes,
    /// The identity headers (any spelling) a client must never supply.
    own: super::headers::OwnHeaders,
    names: Names,
    refreshes: std::sync::Mutex<std::collections::HashMap<String, RefreshSlot>>,
    logouts: super::logout::DenyList,
    bearers: super::bearer::BearerVerifiers,
    /// When the provider was last probed before a login, and whether it answered.
    probe: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// The identity header names, parsed once.
#[derive(Debug)]
struct Names {
    user: HeaderName,
    email: HeaderName,
    preferred_username: HeaderName,
    groups: HeaderName,
    access_token: Option<HeaderName>,
}

/// One session's refresh in this process: the first request refreshes, the others wait on
/// the lock and read its result (rotating refresh tokens allow one use only).
#[derive(Debug, Clone)]
struct RefreshSlot {
    lock: Arc<tokio::sync::Mutex<Option<Session>>>,
    created: i64,
}

/// How long a finished refresh is remembered for requests still carrying the old cookie.
const REFRESH_MEMORY: i64 = 60;
/// The refresh lock's lease across replicas (extended while the provider answers).
const REFRESH_LEASE: std::time::Duration = std::time::Duration::from_secs(3);
/// How long a replica waits for another's refresh.
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
/// Refresh when the access token expires within this many seconds.
const REFRESH_AHEAD: i64 = 60;

impl Sso {
    /// Builds the middleware state with the cookie session store. No I/O: the provider is
    /// discovered on first use (and retried while it fails).
    pub fn new(config: SsoConfig) -> Result<Sso, ConfigError> {
        config.validate()?;
        let codec = Arc::new(Codec::new(
            &config.cookie_secret,
            &config.previous_cookie_secrets,
        )?);
        let store: Arc<dyn SessionStore> = Arc::new(
            CookieStore::new(codec.clone(), config.cookie.clone()).budget(config.cookie_budget),
        );
        Sso::with_store(config, codec, store)
    }

    /// As [`Sso::new`] with another session store.
    pub fn with_store(
        config: SsoConfig,
        codec: Arc<Codec>,
        store: Arc<dyn SessionStore>,
    ) -> Result<Sso, ConfigError> {
        config.validate()?;
        let http = match &config.http {
            Some(http) => http.clone(),
            None => oidc_core::http::default_client().map_err(|e| ConfigError::Invalid {
                what: "http client",
                reason: e.to_string(),
            })?,
        };
        let mut state_attrs = config.cookie.clone();
        state_attrs.max_age = Some(LOGIN_STATE_TTL);
        state_attrs.same_site = super::session::cookie::SameSitePolicy::Lax;
        let h = &config.headers;
        let name = |n: &str| {
            HeaderName::try_from(n).map_err(|_| ConfigError::Invalid {
                what: "header name",
                reason: format!("{n:?} is not a header name"),
            })
        };
        let names = Names {
            user: name(&h.user)?,
            email: name(&h.email)?,
            preferred_username: name(&h.preferred_username)?,
            groups: name(&h.groups)?,
            access_token: h.access_token.as_deref().map(name).transpose()?,
        };
        let mut own = super::headers::OwnHeaders::new()
            .name(names.user.clone())
            .name(names.email.clone())
            .name(names.preferred_username.clone())
            .name(names.groups.clone())
            .name(HeaderName::from_static("x-forwarded-access-token"))
            .prefix(super::headers::X_AUTH_REQUEST_PREFIX);
        if let Some(name) = &names.access_token {
            own = own.name(name.clone());
        }
        Ok(Sso {
            inner: Arc::new(Inner {
                redirects: RedirectPolicy::same_origin()
                    .allow_domains(&config.allowed_redirect_domains),
                config,
                codec,
                store,
                client: tokio::sync::OnceCell::new(),
                http,
                state_attrs,
                own,
                names,
                refreshes: std::sync::Mutex::new(std::collections::HashMap::new()),
                logouts: super::logout::DenyList::default(),
                bearers: super::bearer::BearerVerifiers::default(),
                probe: std::sync::Mutex::new(None),
            }),
        })
    }

    /// The HTTP client for the provider.
    pub(crate) fn http(&self) -> oidc_core::http::SharedHttpClient {
        self.inner.http.clone()
    }

    /// Seconds since the epoch, from the configured clock.
    fn now(&self) -> i64 {
        self.inner.config.clock.unix_now()
    }

    /// The identity headers this middleware sets, under every spelling: a client's copy of
    /// any of them is removed before the request is looked at.
    pub fn own_headers(&self) -> &super::headers::OwnHeaders {
        &self.inner.own
    }

    /// The configuration.
    pub fn config(&self) -> &SsoConfig {
        &self.inner.config
    }

    /// The provider client, discovering it on first use. `Err` while the provider cannot
    /// be reached; the next call tries again.
    pub async fn client(&self) -> Result<&Client, oidc_core::Error> {
        let config = &self.inner.config;
        let issuer = config.issuer_url.clone();
        let client_id = config.client_id.clone();
        let auth = config.client_auth.clone();
        let redirect = config.redirect_url.to_string();
        let scopes = config.scopes.clone();
        let http = self.inner.http.clone();
        self.inner
            .client
            .get_or_try_init(move || async move {
                let client_config = ClientConfig::new(client_id, auth, &redirect)?.scopes(scopes);
                Client::discover(&issuer, client_config, http).await
            })
            .await
    }

    /// The session a request carries, if valid, within its maximum age and not ended by a
    /// sign-out or a back-channel logout.
    pub async fn session(&self, headers: &HeaderMap) -> Option<Arc<Session>> {
        let session = self.inner.store.load(headers).await?;
        self.is_live(&session, self.now()).then_some(session)
    }

    /// When `session` ends whatever happens: its `expires_at`, and never later than the
    /// configured maximum age after login (a session without `expires_at`, from a
    /// `cookie_expire = 0` login before sessions carried one, ends then too).
    fn session_ends_at(&self, session: &Session) -> i64 {
        let max_age =
            i64::try_from(self.inner.config.session_max_age().as_secs()).unwrap_or(i64::MAX);
        let by_age = session.created_at.saturating_add(max_age);
        session.expires_at.map_or(by_age, |e| e.min(by_age))
    }

    /// True when `session` is within its maximum age at `now` and has not been ended.
    fn is_live(&self, session: &Session, now: i64) -> bool {
        now < self.session_ends_at(session) && !self.inner.logouts.ended(session)
    }

    /// Where users come back to: the redirect URL's origin. Redirect targets are judged
    /// against it rather than against a client-supplied Host header.
    fn origin(&self) -> Url {
        let mut origin = self.inner.config.redirect_url.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin
    }

    fn state_cookie_name(&self, state: &str) -> String {
        let d = digest::digest(&digest::SHA256, state.as_bytes());
        let hex: String = d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}_csrf_{hex}", self.inner.config.cookie.name)
    }

    fn state_cookie_prefix(&self) -> String {
        format!("{}_csrf_", self.inner.config.cookie.name)
    }

    /// Whether the provider answers its discovery URL (within 3 s; an answer is trusted for
    /// 5 s, a failure for 1 s): a browser is not sent to a provider that is down, it gets a
    /// 503 page here.
    async fn provider_answers(&self) -> bool {
        const UP_FOR: std::time::Duration = std::time::Duration::from_secs(5);
        const DOWN_FOR: std::time::Duration = std::time::Duration::from_secs(1);
        let cached = *self
            .inner
            .probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, up)) = cached
            && at.elapsed() < if up { UP_FOR } else { DOWN_FOR }
        {
            return up;
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.inner.config.issuer_url.trim_end_matches('/')
        );
        let up = match http::Request::get(url).body(Vec::new()) {
            Ok(request) => matches!(
                tokio::time::timeout(
                    std::time::Duration::from_secs(3),
                    self.inner.http.execute(request)
                )
                .await,
                Ok(Ok(r)) if r.status() == StatusCode::OK
            ),
            Err(_) => false,
        };
        *self
            .inner
            .probe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), up));
        up
    }

    /// Starts a login: a login-state cookie and a redirect to the provider.
    async fn start_login(&self, req: &Parts, rd: &str) -> Response<Body> {
        let reachable = match self.client().await {
            Ok(c) if self.provider_answers().await => Ok(c),
            Ok(_) => Err("the discovery URL does not answer".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let client = match reachable {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "identity provider unavailable");
                return respond::error(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    "The identity provider cannot be reached right now. Please try again in a moment.",
                );
            }
        };
        let rd = self
            .inner
            .redirects
            .check(rd, &self.origin())
            .unwrap_or_else(|| "/".into());
        let mut builder = client.authorization_request();
        if let Some(prompt) = &self.inner.config.prompt {
            builder = builder.prompt(prompt);
        }
        let auth = match builder.build() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the authorization request");
                return respond::error(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "login_unavailable",
                    "Login cannot start.",
                );
            }
        };
        let state = LoginState {
            s: auth.state.secret().to_owned(),
            n: auth.nonce.secret().to_owned(),
            v: auth.pkce_verifier.secret().to_owned(),
            rd,
            t: self.now(),
        };
        let name = self.state_cookie_name(&state.s);
        let mut cookies = Vec::new();
        let plain = serde_json::to_vec(&state).unwrap_or_default();
        if let Ok(sealed) = self.inner.codec.seal(&name, &plain) {
            let mut attrs = self.inner.state_attrs.clone();
            attrs.name = name;
            cookies.extend(cookie::set(&attrs, &sealed, &[]));
        }
        // Keep a few attempts in flight (several tabs), drop the rest.
        let prefix = self.state_cookie_prefix();
        let existing: Vec<String> = cookie::present_names_with_prefix(&req.headers, &prefix);
        if existing.len() >= MAX_LOGIN_STATES {
            let stale = &existing[..existing.len() + 1 - MAX_LOGIN_STATES];
            cookies.extend(cookie::clear(&self.inner.state_attrs, stale));
        }
        respond::redirect(
            auth.url.as_str(),
            cookies
                .into_iter()
                .filter_map(|c| HeaderValue::try_from(c).ok())
                .collect(),
        )
    }

    async fn callback(&self, req: &Parts) -> Response<Body> {
        let query = req.uri.query().unwrap_or_default();
        let state_param = query_param(req, "state").unwrap_or_default();
        let name = self.state_cookie_name(&state_param);
        let login: Option<LoginState> = cookie::read_one(&req.headers, &name)
            .and_then(|sealed| self.inner.codec.open(&name, sealed).ok())
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .filter(|s: &LoginState| self.now() - s.t <= LOGIN_STATE_TTL.as_secs() as i64);
        let Some(login) = login else {
            return respond::error(
                req,
                StatusCode::FORBIDDEN,
                "login_state_missing",
                "This login attempt is unknown or has expired. Please open the page again to log in.",
            );
        };
        let mut clear_state = self.inner.state_attrs.clone();
        clear_state.name = name.clone();
        let clear = cookie::clear(&clear_state, &[name]);
        let client = match self.client().await {
            Ok(c) => c,
            Err(_) => {
                return respond::error(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "provider_unavailable",
                    "The identity provider cannot be reached right now.",
                );
            }
        };
        let expected = State::new(login.s.clone());
        let code = match client.parse_callback(query, &expected) {
            Ok(code) => code,
            Err(e) => {
                tracing::info!(error = %e, "login callback refused");
                return respond::error(
                    req,
                    StatusCode::FORBIDDEN,
                    "login_failed",
                    &format!("Login failed: {e}."),
                );
            }
        };
        let auth = AuthorizationRequest {
            url: self.inner.config.redirect_url.clone(),
            state: expected,
            nonce: Nonce::new(login.n),
            pkce_verifier: PkceVerifier::new(login.v),
        };
        let tokens = match client.exchange_code(&code, &auth).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "code exchange failed");
                if let oidc_core::Error::Http(_) = e {
                    return respond::error(
                        req,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "provider_unavailable",
                        "The identity provider cannot be reached right now. Please try again in a moment.",
                    );
                }
                return respond::error(
                    req,
                    StatusCode::FORBIDDEN,
                    "login_failed",
                    &format!("Login failed: {e}."),
                );
            }
        };
        let Some(session) = self.new_session(&tokens) else {
            return respond::error(
                req,
                StatusCode::FORBIDDEN,
                "login_failed",
                "The ID token has no subject.",
            );
        };
        if let Some(why) = self.user_refused(&session.user) {
            tracing::info!(user = %session.user.sub, ?why, "login refused");
            return Self::refused(req, why);
        }
        let mut cookies = match self.inner.store.save(&req.headers, &session).await {
            Ok(cookies) => cookies,
            Err(e) => {
                // Redirecting without a session would send the user round the login again.
                tracing::warn!(error = %e, "login succeeded but the session cannot be stored");
                return respond::error(
                    req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "session_store_unavailable",
                    "You are logged in, but your session cannot be stored right now. Please try again in a moment.",
                );
            }
        };
        cookies.extend(
            clear
                .into_iter()
                .filter_map(|c| HeaderValue::try_from(c).ok()),
        );
        tracing::info!(user = %session.user.sub, "login");
        metrics::counter!("sso_logins_total").increment(1);
        respond::redirect(&login.rd, cookies)
    }

    /// Why `user` may not in, if not: an `email` whose `email_verified` is false (unless
    /// `insecure_allow_unverified_email`), or an address outside `email_domains`.
    fn user_refused(&self, user: &SessionUser) -> Option<Refusal> {
        let config = &self.inner.config;
        if user.email.is_some()
            && user.email_verified == Some(false)
            && !config.insecure_allow_unverified_email
        {
            return Some(Refusal::UnverifiedEmail);
        }
        let domains = &config.email_domains;
        if domains.iter().any(|d| d == "*") {
            return None;
        }
        let allowed = user
            .email
            .as_deref()
            .and_then(email_domain)
            .is_some_and(|domain| domains.iter().any(|d| d.eq_ignore_ascii_case(domain)));
        (!allowed).then_some(Refusal::EmailDomain)
    }

    /// The 403 for a refused user: a page for browsers, JSON for APIs.
    fn refused(req: &Parts, why: Refusal) -> Response<Body> {
        let (code, message) = match why {
            Refusal::UnverifiedEmail => (
                "email_not_verified",
                "Your e-mail address is not verified at the identity provider.",
            ),
            Refusal::EmailDomain => (
                "email_not_allowed",
                "Your e-mail domain is not allowed here.",
            ),
        };
        respond::error(req, StatusCode::FORBIDDEN, code, message)
    }

    fn new_session(&self, tokens: &TokenSet) -> Option<Session> {
        let id = tokens.id_token()?;
        let c = id.claims();
        let now = self.now();
        let max_age = self.inner.config.session_max_age().as_secs() as i64;
        Some(Session {
            id: oidc_core_random_id(),
            user: SessionUser::from_claims(c)?,
            id_token: tokens.id_token_raw().cloned(),
            access_token: Some(tokens.access_token().clone()),
            refresh_token: tokens.refresh_token().cloned(),
            access_expires_at: tokens.expires_at().map(|t| t.unix_timestamp()),
            created_at: now,
            refreshed_at: now,
            // Also with a browser-session cookie (`cookie_expire = 0`): a copy of the
            // cookie must not live forever.
            expires_at: Some(now + max_age),
        })
    }

    async fn sign_out(&self, req: &Parts) -> Response<Body> {
        metrics::counter!("sso_logouts_total", "kind" => "sign_out").increment(1);
        let session = self.inner.store.load(&req.headers).await;
        // A store that keeps sessions deletes this one; a cookie session lives on in every
        // copy of the cookie, and a delete may fail (a failover, a timeout): then its id
        // is deny-listed until it would have ended (with the list full, every session
        // created until now ends instead: fail closed).
        let deleted = match session.as_deref() {
            Some(s) => self.inner.store.end_session(&s.id).await,
            None => false,
        };
        let cookies = self.inner.store.clear(&req.headers).await;
        let now = self.now();
        if !deleted && let Some(s) = session.as_deref().filter(|s| self.is_live(s, now)) {
            let _listed = self
                .inner
                .logouts
                .record_sign_out(s, now, self.session_ends_at(s));
        }
        let origin = self.origin();
        let rd = query_param(req, "rd")
            .and_then(|rd| self.inner.redirects.check(&rd, &origin))
            .unwrap_or_else(|| "/".into());
        let config = &self.inner.config;
        if config.provider_logout {
            let post_logout = origin.join(&rd).map(|u| u.to_string()).unwrap_or_default();
            let hint = session
                .as_ref()
                .and_then(|s| s.id_token.as_ref())
                .map(|t| t.secret().to_owned());
            if let Some(url) = &config.provider_logout_url {
                let url =
                    explicit_logout_url(url, hint.as_deref(), &post_logout, &config.client_id);
                return respond::redirect(url.as_str(), cookies);
            }
            if let Ok(client) = self.client().await {
                let request = LogoutRequest {
                    id_token_hint: hint.as_deref(),
                    post_logout_redirect_uri: Some(&post_logout),
                    state: None,
                };
                if let Ok(url) = client.logout_url(&request) {
                    return respond::redirect(url.as_str(), cookies);
                }
            }
        }
        respond::redirect(&rd, cookies)
    }

    /// Handles a back-channel logout request (a form with `logout_token`).
    async fn backchannel_logout(&self, form: &[u8]) -> Response<Body> {
        metrics::counter!("sso_logouts_total", "kind" => "backchannel").increment(1);
        let bad = |reason: String| {
            tracing::info!(%reason, "back-channel logout refused");
            respond::json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({"error": "invalid_request", "error_description": reason}),
            )
        };
        // Exactly one: with two, which one a component reads is a guess (as
        // mod_auth_openidc 2.4.20 refuses repeated protocol parameters).
        let mut tokens = url::form_urlencoded::parse(form)
            .filter(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned());
        let token = match (tokens.next(), tokens.next()) {
            (Some(token), None) => token,
            (None, _) => return bad("no logout_token".into()),
            (Some(_), Some(_)) => return bad("logout_token is repeated".into()),
        };
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => return bad(format!("provider unavailable: {e}")),
        };
        let now = self.now();
        match super::logout::verify_logout_token(client, &token, now).await {
            Ok((target, jti)) => {
                // A server-side store deletes the sessions; the cookie store cannot, and a
                // deny-list is kept either way (it also refuses replayed tokens). What
                // cannot be done is refused with a 503, for the provider to retry.
                let unavailable = |reason: &str| {
                    tracing::warn!(reason, "back-channel logout cannot be recorded now");
                    respond::json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &serde_json::json!({"error": "temporarily_unavailable", "error_description": reason}),
                    )
                };
                let server_side = self.inner.store.keeps_sessions();
                let deleted = self
                    .inner
                    .store
                    .end_sessions(target.sid.as_deref(), target.sub.as_deref())
                    .await;
                tracing::debug!(deleted, "back-channel logout in the session store");
                if server_side && !deleted {
                    return unavailable("the session store is unavailable");
                }
                let longest = self.inner.config.session_max_age().as_secs() as i64;
                match self.inner.logouts.record(&target, &jti, now, now + longest) {
                    Ok(()) => {}
                    // The store deleted the sessions: that is the logout.
                    Err(super::logout::LogoutError::Full) if server_side => {}
                    Err(super::logout::LogoutError::Full) => {
                        return unavailable("the logout deny-list is full");
                    }
                    Err(e) => return bad(e.to_string()),
                }
                tracing::info!(sid = ?target.sid, sub = ?target.sub, "back-channel logout");
                respond::json(StatusCode::OK, &serde_json::json!({}))
            }
            Err(e) => bad(e.to_string()),
        }
    }

    /// The session a request carries, refreshed when due: the session (none when it
    /// ended, a failed refresh included) and the `Set-Cookie` values the response must
    /// carry (the refreshed session, or its removal).
    pub async fn session_refreshed(
        &self,
        headers: &HeaderMap,
    ) -> (Option<Arc<Session>>, Vec<HeaderValue>) {
        let Some(current) = self.session(headers).await else {
            return (None, Vec::new());
        };
        if !self.needs_refresh(&current, self.now()) {
            return (Some(current), Vec::new());
        }
        // `refresh` answers only a session not ended meanwhile, and a store that keeps
        // sessions writes it only if a sign-out or a back-channel logout did not delete it.
        match self.refresh(&current).await {
            Some(fresh) => match self.inner.store.save_refreshed(headers, &fresh).await {
                Ok(Some(cookies)) => (Some(fresh), cookies),
                Ok(None) => (None, self.inner.store.clear(headers).await),
                // This request goes on with the fresh tokens; the next one refreshes
                // again (or finds what another replica stored).
                Err(e) => {
                    tracing::warn!(error = %e, "the refreshed session cannot be stored");
                    (Some(fresh), Vec::new())
                }
            },
            None => (None, self.inner.store.clear(headers).await),
        }
    }

    /// True when `session` should be refreshed at `now`: it has a refresh token, and the
    /// access token expires within a minute (a quarter of its lifetime for short-lived
    /// tokens) or `cookie_refresh` has passed.
    pub fn needs_refresh(&self, session: &Session, now: i64) -> bool {
        let every = self.inner.config.cookie_refresh.as_secs() as i64;
        let near_expiry = session.access_expires_at.is_some_and(|e| {
            let ahead = REFRESH_AHEAD.min((e - session.refreshed_at).max(0) / 4);
            now >= e - ahead
        });
        session.refresh_token.is_some()
            && (near_expiry || (every > 0 && now - session.refreshed_at >= every))
    }

    /// Refreshes `session` once per process however many requests ask at the same time;
    /// `None` when the refresh failed or the session ended (sign-out, back-channel logout)
    /// before it finished: a refresh never brings an ended session back.
    pub async fn refresh(&self, session: &Session) -> Option<Arc<Session>> {
        let fresh = self.refresh_once(session).await?;
        if self.inner.logouts.ended(&fresh) {
            tracing::info!(user = %fresh.user.sub, "the session ended while it was refreshed");
            return None;
        }
        Some(fresh)
    }

    async fn refresh_once(&self, session: &Session) -> Option<Arc<Session>> {
        let slot = {
            let mut map = self.inner.refreshes.lock().ok()?;
            let now = self.now();
            map.retain(|_, s| now - s.created < REFRESH_MEMORY || Arc::strong_count(&s.lock) > 1);
            map.entry(session.id.clone())
                .or_insert_with(|| RefreshSlot {
                    lock: Arc::new(tokio::sync::Mutex::new(None)),
                    created: now,
                })
                .clone()
        };
        let mut done = slot.lock.lock().await;
        if let Some(fresh) = done.as_ref()
            && fresh.refreshed_at >= session.refreshed_at
        {
            return Some(Arc::new(fresh.clone()));
        }
        // Across replicas sharing a store: one holds the lock and refreshes, extending its
        // lease while a slow provider answers; the others wait and read what it stored.
        let token = oidc_core_random_id();
        let store = &self.inner.store;
        match store.lock_refresh(&session.id, &token, REFRESH_LEASE).await {
            Some(false) => {
                let deadline = tokio::time::Instant::now() + REFRESH_WAIT;
                while tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    if let Some(stored) = store.load_by_id(&session.id).await
                        && stored.refreshed_at > session.refreshed_at
                    {
                        *done = Some((*stored).clone());
                        return Some(stored);
                    }
                }
                tracing::info!(user = %session.user.sub, "another replica's refresh did not finish in time");
                None
            }
            Some(true) => {
                // Another replica may have finished just before we took the lock.
                if let Some(stored) = store.load_by_id(&session.id).await
                    && stored.refreshed_at > session.refreshed_at
                {
                    store.unlock_refresh(&session.id, &token).await;
                    *done = Some((*stored).clone());
                    return Some(stored);
                }
                // Extend the lease each third of it while the provider answers.
                let mut refresh = std::pin::pin!(self.refresh_at_provider(session));
                let fresh = loop {
                    match tokio::time::timeout(REFRESH_LEASE / 3, refresh.as_mut()).await {
                        Ok(fresh) => break fresh,
                        Err(_) => {
                            if !store
                                .extend_refresh_lock(&session.id, &token, REFRESH_LEASE)
                                .await
                            {
                                tracing::warn!("refresh lock lost while refreshing");
                            }
                        }
                    }
                };
                let fresh = fresh.filter(|f| !self.inner.logouts.ended(f));
                let fresh = match fresh {
                    // Store it before releasing the lock, so waiters find it; only if the
                    // session still exists (a sign-out may have deleted it meanwhile).
                    Some(fresh) => match store.save_refreshed(&HeaderMap::new(), &fresh).await {
                        Ok(Some(_)) => Some(fresh),
                        Ok(None) => None,
                        Err(e) => {
                            tracing::warn!(error = %e, "the refreshed session cannot be shared");
                            Some(fresh)
                        }
                    },
                    None => None,
                };
                if let Some(fresh) = &fresh {
                    *done = Some(fresh.clone());
                }
                store.unlock_refresh(&session.id, &token).await;
                fresh.map(Arc::new)
            }
            None => {
                let fresh = self.refresh_at_provider(session).await;
                if let Some(fresh) = &fresh {
                    *done = Some(fresh.clone());
                }
                fresh.map(Arc::new)
            }
        }
    }

    async fn refresh_at_provider(&self, session: &Session) -> Option<Session> {
        let client = self.client().await.ok()?;
        let refresh_token = session.refresh_token.as_ref()?;
        match client.refresh(refresh_token, Some(&session.user.sub)).await {
            Ok(tokens) => {
                // The identity comes from what the provider says now: a group removed there
                // is gone here after this refresh, in headers and policies alike.
                let user = match refreshed_user(client, session, &tokens).await {
                    Ok(user) => user,
                    Err(reason) => {
                        tracing::info!(user = %session.user.sub, %reason, "refresh gave no usable identity; the session ends");
                        metrics::counter!("sso_refreshes_total", "result" => "failed").increment(1);
                        return None;
                    }
                };
                if let Some(why) = self.user_refused(&user) {
                    tracing::info!(user = %user.sub, ?why, "the refreshed user is no longer allowed; the session ends");
                    metrics::counter!("sso_refreshes_total", "result" => "refused").increment(1);
                    return None;
                }
                let mut fresh = session.clone();
                fresh.user = user;
                fresh.access_token = Some(tokens.access_token().clone());
                if let Some(rt) = tokens.refresh_token() {
                    fresh.refresh_token = Some(rt.clone());
                }
                if let Some(raw) = tokens.id_token_raw() {
                    fresh.id_token = Some(raw.clone());
                }
                fresh.access_expires_at = tokens.expires_at().map(|t| t.unix_timestamp());
                fresh.refreshed_at = self.now().max(session.refreshed_at + 1);
                tracing::info!(user = %fresh.user.sub, "session refreshed");
                metrics::counter!("sso_refreshes_total", "result" => "ok").increment(1);
                Some(fresh)
            }
            Err(e) => {
                tracing::info!(user = %session.user.sub, error = %e, "refresh failed; the session ends");
                metrics::counter!("sso_refreshes_total", "result" => "failed").increment(1);
                None
            }
        }
    }

    /// What an unauthenticated request gets: a login redirect for a browser, 401 for an
    /// API client.
    pub async fn unauthenticated_response(&self, req: Request<()>) -> Response<Body> {
        let (parts, ()) = req.into_parts();
        if respond::is_browser(&parts) {
            let rd = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            self.start_login(&parts, &rd).await
        } else {
            respond::unauthorized(&self.inner.config.issuer_url)
        }
    }

    /// Removes client-sent identity headers and adds `session`'s (bearer token, user,
    /// e-mail, groups).
    pub fn set_upstream_identity(&self, headers: &mut HeaderMap, session: &Session) {
        self.set_identity(headers, Some(session));
    }

    fn userinfo_json(session: &Session) -> serde_json::Value {
        let u = &session.user;
        serde_json::json!({
            "user": u.sub, "email": u.email, "preferredUsername": u.preferred_username,
            "name": u.name, "groups": u.groups, "issuer": u.iss,
        })
    }

    /// Sets the user's identity headers (user, e-mail, preferred username, groups).
    fn put_user(&self, headers: &mut HeaderMap, u: &SessionUser) {
        let n = &self.inner.names;
        user_headers(
            u,
            [&n.user, &n.email, &n.preferred_username, &n.groups],
            headers,
        );
    }

    /// `--set-xauthrequest`: the `X-Auth-Request-*` headers for a response (empty when
    /// the option is off).
    fn xauthrequest_headers(
        &self,
        u: &SessionUser,
        access_token: Option<&oidc_core::secret::TokenSecret>,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if !self.inner.config.set_xauthrequest {
            return headers;
        }
        let names = [
            HeaderName::from_static("x-auth-request-user"),
            HeaderName::from_static("x-auth-request-email"),
            HeaderName::from_static("x-auth-request-preferred-username"),
            HeaderName::from_static("x-auth-request-groups"),
        ];
        user_headers(
            u,
            [&names[0], &names[1], &names[2], &names[3]],
            &mut headers,
        );
        if self.inner.names.access_token.is_some()
            && let Some(mut v) = access_token.and_then(|t| HeaderValue::try_from(t.secret()).ok())
        {
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-auth-request-access-token"), v);
        }
        headers
    }

    /// Removes identity headers a client may have sent, then adds the session's.
    fn set_identity(&self, headers: &mut HeaderMap, session: Option<&Session>) {
        self.inner.own.strip(headers);
        let config = &self.inner.config;
        if session.is_some() {
            // A client-sent Authorization must not pass as ours.
            headers.remove(header::AUTHORIZATION);
        }
        let Some(session) = session else { return };
        self.put_user(headers, &session.user);
        let n = &self.inner.names;
        let mut put = |name: &HeaderName, value: HeaderValue, sensitive: bool| {
            let mut value = value;
            value.set_sensitive(sensitive);
            headers.insert(name.clone(), value);
        };
        let text = |v: &str| HeaderValue::try_from(v).ok();
        if let (Some(name), Some(v)) = (
            &n.access_token,
            session.access_token.as_ref().and_then(|t| text(t.secret())),
        ) {
            put(name, v, true);
        }
        let bearer = match config.upstream_token {
            UpstreamToken::IdToken => session.id_token.as_ref(),
            UpstreamToken::AccessToken => session.access_token.as_ref(),
            UpstreamToken::None => None,
        };
        if let Some(token) = bearer
            && let Ok(v) = HeaderValue::try_from(format!("Bearer {}", token.secret()))
        {
            put(&header::AUTHORIZATION, v, true);
        }
    }
}

/// Sets `u`'s user, e-mail, preferred username and groups under `names` (in that order).
fn user_headers(u: &SessionUser, names: [&HeaderName; 4], headers: &mut HeaderMap) {
    let text = |v: &str| HeaderValue::try_from(v).ok();
    let values = [
        text(&u.sub),
        u.email.as_deref().and_then(text),
        u.preferred_username.as_deref().and_then(text),
        (!u.groups.is_empty())
            .then(|| u.groups.join(","))
            .and_then(|g| text(&g)),
    ];
    for (name, value) in names.into_iter().zip(values) {
        if let Some(value) = value {
            headers.insert(name.clone(), value);
        }
    }
}

/// The identity of a login session for authorization policies (`requestPrincipals` as
/// `iss/sub`, `request.auth.claims[...]` for the claims the session keeps: `email`,
/// `email_verified`, `preferred_username`, `name`, `groups`, `sid`).
pub fn session_identity(u: &SessionUser) -> authz_policy::Identity {
    let mut map = serde_json::Map::new();
    map.insert("iss".into(), u.iss.clone().into());
    map.insert("sub".into(), u.sub.clone().into());
    let mut put = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            map.insert(k.into(), v);
        }
    };
    put("email", u.email.clone().map(Into::into));
    put("email_verified", u.email_verified.map(Into::into));
    put(
        "preferred_username",
        u.preferred_username.clone().map(Into::into),
    );
    put("name", u.name.clone().map(Into::into));
    put("sid", u.sid.clone().map(Into::into));
    put(
        "groups",
        (!u.groups.is_empty()).then(|| u.groups.clone().into()),
    );
    match oidc_core::verify::Claims::from_map(map) {
        Ok(claims) => authz_policy::Identity::from_claims(claims),
        // iss and sub are strings, so this cannot fail; an empty identity would only deny.
        Err(_) => authz_policy::Identity::from_claims(oidc_core::verify::Claims::default()),
    }
}

/// An explicitly configured IdP logout URL with the RP-Initiated Logout 1.0 parameters
/// it does not carry yet: `id_token_hint` (when the session has an ID token),
/// `post_logout_redirect_uri` and `client_id`.
fn explicit_logout_url(
    base: &Url,
    id_token: Option<&str>,
    post_logout: &str,
    client_id: &str,
) -> Url {
    let mut url = base.clone();
    let present: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    let has = |name: &str| present.iter().any(|k| k == name);
    let mut add = Vec::new();
    if let Some(token) = id_token
        && !has("id_token_hint")
    {
        add.push(("id_token_hint", token));
    }
    if !post_logout.is_empty() && !has("post_logout_redirect_uri") {
        add.push(("post_logout_redirect_uri", post_logout));
    }
    if !has("client_id") {
        add.push(("client_id", client_id));
    }
    if !add.is_empty() {
        url.query_pairs_mut().extend_pairs(add);
    }
    url
}

/// Who the user is after a refresh: the refreshed ID token's claims (verified by the
/// client, `sub` checked), else userinfo's with the new access token. The issuer and
/// subject must not change; the provider's session id is kept when the new token omits
/// it. `Err` when neither source answers: a stale identity is not kept.
async fn refreshed_user(
    client: &Client,
    session: &Session,
    tokens: &TokenSet,
) -> Result<SessionUser, String> {
    let old = &session.user;
    let mut user = match tokens.id_token() {
        Some(id) => SessionUser::from_claims(id.claims()).ok_or("the ID token has no sub")?,
        None => {
            let info = client
                .userinfo(tokens.access_token(), Some(&old.sub))
                .await
                .map_err(|e| format!("no ID token, and userinfo failed: {e}"))?;
            let mut map = info.claims;
            map.insert("iss".into(), old.iss.clone().into());
            let claims =
                oidc_core::verify::Claims::from_map(map).map_err(|e| format!("userinfo: {e}"))?;
            SessionUser::from_claims(&claims).ok_or("userinfo has no sub")?
        }
    };
    if user.iss != old.iss || user.sub != old.sub {
        return Err("the refreshed identity names another user".into());
    }
    if user.sid.is_none() {
        user.sid.clone_from(&old.sid);
    }
    Ok(user)
}

/// Why a verified user is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// `email_verified` is false.
    UnverifiedEmail,
    /// The address is outside `--email-domain` (or is not one address).
    EmailDomain,
}

/// The domain of an address with exactly one `@` and something on both sides of it; an
/// address with two (`a@allowed.com@evil.com`, GHSA-c5c4-8r6x-56w3) has none.
fn email_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then_some(domain)
}

/// The first value of query parameter `name`.
fn query_param(req: &Parts, name: &str) -> Option<String> {
    let query = req.uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn oidc_core_random_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How long the unauthenticated endpoints that read a body (back-channel logout) wait
/// for all of it; then 408.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the middleware does with a request.
enum Route {
    Start,
    Callback,
    SignOut,
    UserInfo,
    Auth,
    BackchannelLogout,
    NotFound,
    App,
}

impl Sso {
    fn route(&self, req: &Parts) -> Route {
        let path = req.uri.path();
        let Some(rest) = path.strip_prefix(self.inner.config.proxy_prefix.as_str()) else {
            return Route::App;
        };
        match rest {
            "/start" => Route::Start,
            "/callback" => Route::Callback,
            "/sign_out" => Route::SignOut,
            "/userinfo" => Route::UserInfo,
            "/auth" => Route::Auth,
            "/backchannel_logout" => Route::BackchannelLogout,
            "" => Route::App,
            r if !r.starts_with('/') => Route::App,
            _ => Route::NotFound,
        }
    }

    /// Handles `req`: our endpoints answer themselves; application requests go to
    /// `inner` (with identity) or get the unauthenticated response.
    pub async fn handle<S, ReqBody, ResBody>(
        &self,
        req: Request<ReqBody>,
        mut inner: S,
    ) -> Result<Response<Either<ResBody, Body>>, S::Error>
    where
        S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: http_body::Body,
        ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // Awaiting code borrows the parts only, so the body needs to be Send, not Sync.
        let (mut req, body) = req.into_parts();
        // Before anything reads the request: identity headers come only from us.
        self.inner.own.strip(&mut req.headers);
        let ours = |r: Response<Body>| Ok(r.map(Either::Right));
        match self.route(&req) {
            Route::Start => {
                let rd = query_param(&req, "rd").unwrap_or_else(|| "/".into());
                if rd.chars().any(char::is_control) {
                    // CR/LF in a redirect target is a header-injection attempt, not a typo.
                    return ours(respond::error(
                        &req,
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "The rd parameter contains control characters.",
                    ));
                }
                return ours(self.start_login(&req, &rd).await);
            }
            Route::Callback => return ours(self.callback(&req).await),
            Route::SignOut => return ours(self.sign_out(&req).await),
            Route::UserInfo => {
                return ours(match self.session(&req.headers).await {
                    Some(s) => respond::json(StatusCode::OK, &Self::userinfo_json(&s)),
                    None => respond::unauthorized(&self.inner.config.issuer_url),
                });
            }
            Route::Auth => {
                return ours(match self.session(&req.headers).await {
                    Some(s) => {
                        let mut r = respond::json(StatusCode::ACCEPTED, &Self::userinfo_json(&s));
                        self.set_identity(r.headers_mut(), Some(&s));
                        r.headers_mut()
                            .extend(self.xauthrequest_headers(&s.user, s.access_token.as_ref()));
                        // A proxy that asks (Envoy) keeps the client's copy of any header the
                        // answer lacks: every identity header is answered, empty if need be.
                        let every = self
                            .inner
                            .own
                            .names()
                            .iter()
                            .cloned()
                            .chain(super::headers::X_AUTH_REQUEST.map(HeaderName::from_static));
                        for name in every {
                            r.headers_mut()
                                .entry(name)
                                .or_insert(HeaderValue::from_static(""));
                        }
                        r
                    }
                    None => respond::unauthorized(&self.inner.config.issuer_url),
                });
            }
            Route::BackchannelLogout if req.method == http::Method::POST => {
                use http_body_util::BodyExt as _;
                let limited = http_body_util::Limited::new(body, 64 * 1024);
                // Anyone may post here: a body that trickles in is not waited for.
                let read = tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await;
                return ours(match read {
                    Ok(Ok(collected)) => self.backchannel_logout(&collected.to_bytes()).await,
                    Ok(Err(_)) => respond::json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": "invalid_request", "error_description": "unreadable or over 64 KiB"}),
                    ),
                    Err(_) => respond::json(
                        StatusCode::REQUEST_TIMEOUT,
                        &serde_json::json!({"error": "invalid_request", "error_description": "the body did not arrive within 10 s"}),
                    ),
                });
            }
            Route::BackchannelLogout | Route::NotFound => {
                return ours(respond::error(
                    &req,
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "No such endpoint.",
                ));
            }
            Route::App => {}
        }
        let config = &self.inner.config;
        let (method, path) = (req.method.as_str(), req.uri.path());
        let requires_login = config.rules.requires_login(method, path);
        let action = config.rules.action(method, path);
        if !requires_login {
            self.set_identity(&mut req.headers, None);
            let req = Request::from_parts(req, body);
            return inner.call(req).await.map(|r| r.map(Either::Left));
        }
        if config.skip_jwt_bearer_tokens
            && let Some(token) = super::bearer::bearer_jwt(&req.headers)
        {
            let verified = match token {
                Ok(token) => self.inner.bearers.verify(self, token).await,
                Err(unreadable) => Err(unreadable),
            };
            let user = match verified {
                Ok(user) => match self.user_refused(&user) {
                    None => user,
                    Some(why) => {
                        tracing::info!(user = %user.sub, ?why, "bearer token refused");
                        return ours(Self::refused(&req, why));
                    }
                },
                Err(refused) => {
                    tracing::info!(reason = %refused.0, "bearer token refused");
                    return ours(respond::invalid_token(
                        StatusCode::UNAUTHORIZED,
                        &config.issuer_url,
                        &refused.0,
                    ));
                }
            };
            let authorization = req.headers.get(header::AUTHORIZATION).cloned();
            self.set_identity(&mut req.headers, None);
            self.put_user(&mut req.headers, &user);
            if let Some(v) = authorization {
                req.headers.insert(header::AUTHORIZATION, v);
            }
            let xauth = self.xauthrequest_headers(&user, None);
            req.extensions.insert(user);
            let req = Request::from_parts(req, body);
            return inner.call(req).await.map(|mut r| {
                r.headers_mut().extend(xauth);
                r.map(Either::Left)
            });
        }
        let (session, mut set_cookies) = self.session_refreshed(&req.headers).await;
        if session.is_none() {
            let answer = match action {
                UnauthenticatedAction::Pass => None,
                UnauthenticatedAction::Forbidden => Some(respond::error(
                    &req,
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "A login is required.",
                )),
                UnauthenticatedAction::Unauthorized => {
                    Some(respond::unauthorized(&config.issuer_url))
                }
                UnauthenticatedAction::Auto if respond::is_browser(&req) => {
                    let rd = req
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| "/".into());
                    Some(self.start_login(&req, &rd).await)
                }
                UnauthenticatedAction::Auto => Some(respond::unauthorized(&config.issuer_url)),
            };
            if let Some(mut answer) = answer {
                // A session that just ended (failed refresh) is removed as well.
                for c in std::mem::take(&mut set_cookies) {
                    answer.headers_mut().append(header::SET_COOKIE, c);
                }
                return ours(answer);
            }
        }
        self.set_identity(&mut req.headers, session.as_deref());
        let xauth = session
            .as_deref()
            .map(|s| self.xauthrequest_headers(&s.user, s.access_token.as_ref()))
            .unwrap_or_default();
        if let Some(s) = &session {
            // AuthorizationLayer turns this into an authz_policy::Identity when it needs one.
            req.extensions.insert(s.user.clone());
        }
        let req = Request::from_parts(req, body);
        inner.call(req).await.map(|mut r| {
            r.headers_mut().extend(xauth);
            for c in set_cookies {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            r.map(Either::Left)
        })
    }
}

/// Adds [`Sso`] to a service stack.
#[derive(Debug, Clone)]
#[must_use]
pub struct SsoLayer {
    sso: Sso,
}

impl SsoLayer {
    /// A layer using `sso`.
    pub fn new(sso: Sso) -> Self {
        Self { sso }
    }
}

impl<S> tower::Layer<S> for SsoLayer {
    type Service = SsoService<S>;

    fn layer(&self, inner: S) -> SsoService<S> {
        SsoService {
            sso: self.sso.clone(),
            inner,
        }
    }
}

/// The service [`SsoLayer`] makes.
#[derive(Debug, Clone)]
pub struct SsoService<S> {
    sso: Sso,
    inner: S,
}

/// The future of [`SsoService`] (boxed: the middleware awaits the session store and the
/// provider).
pub type ResponseFuture<T, E> = oidc_core::http::BoxFuture<'static, Result<T, E>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for SsoService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    ResBody: Send + 'static,
{
    type Response = Response<Either<ResBody, Body>>;
    type Error = S::Error;
    type Future = ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let inner = crate::take_ready(&mut self.inner);
        let sso = self.sso.clone();
        Box::pin(async move { sso.handle(req, inner).await })
    }
}

#[cfg(test)]
mod logout_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_has_exactly_one_at() {
        assert_eq!(email_domain("a@example.com"), Some("example.com"));
        // GHSA-c5c4-8r6x-56w3: the last `@` must not decide the domain.
        assert_eq!(email_domain("a@example.com@evil.com"), None);
        assert_eq!(email_domain("a@@example.com"), None);
        assert_eq!(email_domain("@example.com"), None);
        assert_eq!(email_domain("a@"), None);
        assert_eq!(email_domain("example.com"), None);
    }

    /// Compile-time: the middleware's futures are `Send`, as tower servers need.
    #[allow(dead_code)]
    fn futures_are_send(sso: &Sso, parts: &'static Parts) {
        fn send<T: Send>(_: T) {}
        send(sso.client());
        send(sso.session(&parts.headers));
        send(sso.start_login(parts, "/"));
        send(sso.callback(parts));
        send(sso.sign_out(parts));
    }
}
