//! A small, framework-free OpenID Provider for tests and the demo.
//!
//! It answers `http::Request`s with `http::Response`s, so it is both an in-process
//! [`HttpClient`] (counting key set fetches, able to play "down") and, served by any HTTP
//! server, the demo's identity provider. It implements the authorization-code flow with
//! PKCE S256 (required), `client_secret_basic`, `client_secret_post` and `none`, refresh
//! with rotation, userinfo, revocation and RP-initiated logout. Test users log in with
//! their user name as password.

// Handlers return the error page itself as `Err`; boxing it would only add noise here.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use url::Url;

use super::keys::{SigningKey, jwks_of, mint};
use crate::clock::{SharedClock, SystemClock};
use crate::http::{BoxFuture, HttpClient, HttpError};
use crate::secret::ct_eq;

/// A client registered at the [`DevProvider`].
#[derive(Debug, Clone)]
pub struct DevClient {
    /// `client_id`.
    pub id: String,
    /// The secret; `None` for a public client (`none` authentication).
    pub secret: Option<String>,
    /// Exact redirect URIs accepted.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs accepted.
    pub post_logout_redirect_uris: Vec<String>,
}

/// A test user.
#[derive(Debug, Clone)]
pub struct DevUser {
    /// Login name (also the password).
    pub login: String,
    /// `sub`.
    pub sub: String,
    /// `email`.
    pub email: String,
    /// `email_verified` (true unless a test says otherwise).
    pub email_verified: bool,
    /// `name`.
    pub name: String,
    /// `groups`.
    pub groups: Vec<String>,
}

impl DevUser {
    /// A user `login` (sub `<login>-sub`, e-mail `<login>@example.com`, no groups).
    pub fn new_for_tests(login: &str) -> Self {
        Self::new(login, login, &[])
    }

    fn new(login: &str, name: &str, groups: &[&str]) -> Self {
        Self {
            login: login.into(),
            sub: format!("{login}-sub"),
            email: format!("{login}@example.com"),
            email_verified: true,
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    user: DevUser,
    nonce: Option<String>,
    redirect_uri: String,
    challenge: Option<String>,
    scope: String,
    sid: String,
}

#[derive(Debug, Default)]
struct State {
    keys: Vec<Arc<SigningKey>>,
    clients: Vec<DevClient>,
    users: Vec<DevUser>,
    codes: HashMap<String, Grant>,
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    state: Mutex<State>,
    jwks_fetches: AtomicU64,
    token_requests: AtomicU64,
    down: AtomicBool,
    jwks_max_age: AtomicU64,
    token_ttl: AtomicU64,
    clock: SharedClock,
}

/// The development provider. Cheap to clone (shared state).
///
/// ```
/// use oidc_core::testing::DevProvider;
/// let op = DevProvider::new("http://127.0.0.1:9000");
/// let response = op.handle(http::Request::get("http://127.0.0.1:9000/.well-known/openid-configuration")
///     .body(Vec::new()).unwrap());
/// assert_eq!(response.status(), 200);
/// ```
#[derive(Debug, Clone)]
pub struct DevProvider {
    inner: Arc<Inner>,
}

type Response = http::Response<Vec<u8>>;

fn random() -> String {
    crate::flow::random_token(24).unwrap_or_else(|_| "insecure-fallback".into())
}

fn json_response(status: u16, body: &Value) -> Response {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body.to_string().into_bytes())
        .unwrap_or_default()
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn html(status: u16, body: String) -> Response {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body.into_bytes())
        .unwrap_or_default()
}

fn redirect(location: &Url) -> Response {
    http::Response::builder()
        .status(302)
        .header(http::header::LOCATION, location.as_str())
        .body(Vec::new())
        .unwrap_or_default()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn params(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

impl DevProvider {
    /// A provider at `issuer` with the shared RSA test key, the client `dev-client` (secret
    /// `dev-secret`, any loopback redirect URI), and the users `alice` (groups `admins`,
    /// `group1`) and `bob` (group `group2`).
    pub fn new(issuer: &str) -> DevProvider {
        static DEV_KEY: std::sync::OnceLock<Arc<SigningKey>> = std::sync::OnceLock::new();
        let key = DEV_KEY
            .get_or_init(|| Arc::new(SigningKey::rsa("dev-rsa", crate::verify::Algorithm::RS256)))
            .clone();
        let state = State {
            keys: vec![key],
            clients: vec![DevClient {
                id: "dev-client".into(),
                secret: Some("dev-secret".into()),
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
            }],
            users: vec![
                DevUser::new("alice", "Alice Example", &["admins", "group1"]),
                DevUser::new("bob", "Bob Example", &["group2"]),
            ],
            ..State::default()
        };
        DevProvider {
            inner: Arc::new(Inner {
                issuer: issuer.trim_end_matches('/').to_owned(),
                state: Mutex::new(state),
                jwks_fetches: AtomicU64::new(0),
                token_requests: AtomicU64::new(0),
                down: AtomicBool::new(false),
                jwks_max_age: AtomicU64::new(300),
                token_ttl: AtomicU64::new(300),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// The same provider with another clock (for ID-token times).
    pub fn with_clock(issuer: &str, clock: SharedClock) -> DevProvider {
        let op = DevProvider::new(issuer);
        let inner = Arc::try_unwrap(op.inner).unwrap_or_else(|_| unreachable!("fresh provider"));
        DevProvider {
            inner: Arc::new(Inner { clock, ..inner }),
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Registers (or replaces) a client.
    pub fn add_client(&self, client: DevClient) {
        let mut state = self.lock();
        state.clients.retain(|c| c.id != client.id);
        state.clients.push(client);
    }

    /// Adds a user, or replaces the one with the same login: as at a real provider, the
    /// next refresh and userinfo answer carry the new claims (a group removed is gone).
    pub fn add_user(&self, user: DevUser) {
        let mut state = self.lock();
        state.users.retain(|u| u.login != user.login);
        for grant in state.access.values_mut() {
            if grant.user.login == user.login {
                grant.user = user.clone();
            }
        }
        state.users.push(user);
    }

    /// The signing keys, the first signs; all are published.
    pub fn set_keys(&self, keys: Vec<Arc<SigningKey>>) {
        self.lock().keys = keys;
    }

    /// The key that signs now.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.lock().keys[0].clone()
    }

    /// How many times the key set was served.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many token-endpoint requests were made.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// When down, every in-process call fails as if the connection were refused, and
    /// served requests answer 503.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::Relaxed);
    }

    /// The `max-age` sent with the key set (default 300 s).
    pub fn set_jwks_max_age(&self, seconds: u64) {
        self.inner.jwks_max_age.store(seconds, Ordering::Relaxed);
    }

    /// Forgets every code, access and refresh token, as a provider with in-memory storage
    /// does when it restarts.
    pub fn forget_grants(&self) {
        let mut state = self.lock();
        state.codes.clear();
        state.access.clear();
        state.refresh.clear();
    }

    /// Lifetime of issued tokens (default 300 s).
    pub fn set_token_ttl(&self, seconds: u64) {
        self.inner.token_ttl.store(seconds, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs `login` in for the authorization request at `authorize_url`, as the login form
    /// would, and returns the redirect back to the client (with `code` and `state`).
    pub fn login(&self, authorize_url: &str, login: &str) -> Result<Url, String> {
        let url = Url::parse(authorize_url).map_err(|e| e.to_string())?;
        let mut form: HashMap<String, String> = url.query_pairs().into_owned().collect();
        form.insert("login".into(), login.into());
        form.insert("password".into(), login.into());
        let response = self.finish_login(&form);
        response
            .headers()
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| Url::parse(l).ok())
            .ok_or_else(|| String::from_utf8_lossy(response.body()).into_owned())
    }

    /// Answers one request.
    pub fn handle(&self, request: http::Request<Vec<u8>>) -> Response {
        if self.inner.down.load(Ordering::Relaxed) {
            return html(503, "<h1>identity provider unavailable</h1>".into());
        }
        let issuer_path = Url::parse(&self.inner.issuer)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let path = request.uri().path();
        let Some(route) = path.strip_prefix(issuer_path.as_str()) else {
            return html(404, "not found".into());
        };
        let query = params(request.uri().query().unwrap_or_default().as_bytes());
        match (request.method().as_str(), route) {
            ("GET", "/.well-known/openid-configuration") => self.discovery(),
            ("GET", "/jwks") => self.jwks(),
            ("GET", "/authorize") => self.authorize(&query),
            ("POST", "/login") => self.finish_login(&params(request.body())),
            ("POST", "/token") => self.token(&request),
            ("GET" | "POST", "/userinfo") => self.userinfo(&request),
            ("POST", "/revoke") => self.revoke(&params(request.body())),
            ("GET", "/end_session") => self.end_session(&query),
            _ => html(404, "not found".into()),
        }
    }

    fn discovery(&self) -> Response {
        let i = &self.inner.issuer;
        json_response(
            200,
            &json!({
                "issuer": i,
                "authorization_endpoint": format!("{i}/authorize"),
                "token_endpoint": format!("{i}/token"),
                "userinfo_endpoint": format!("{i}/userinfo"),
                "jwks_uri": format!("{i}/jwks"),
                "revocation_endpoint": format!("{i}/revoke"),
                "end_session_endpoint": format!("{i}/end_session"),
                "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "preferred_username", "groups", "sid"],
            }),
        )
    }

    fn jwks(&self) -> Response {
        self.inner.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let keys = self.lock().keys.clone();
        let refs: Vec<&SigningKey> = keys.iter().map(|k| &**k).collect();
        let max_age = self.inner.jwks_max_age.load(Ordering::Relaxed);
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::CACHE_CONTROL,
                format!("public, max-age={max_age}"),
            )
            .body(jwks_of(&refs).to_string().into_bytes())
            .unwrap_or_default()
    }

    fn client(&self, id: &str) -> Option<DevClient> {
        self.lock().clients.iter().find(|c| c.id == id).cloned()
    }

    fn redirect_allowed(client: &DevClient, uri: &str) -> bool {
        if client.redirect_uris.is_empty() {
            // The demo client accepts any loopback redirect URI.
            return Url::parse(uri)
                .is_ok_and(|u| matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")));
        }
        client.redirect_uris.iter().any(|r| r == uri)
    }

    /// Validates the client and redirect URI; errors are shown, never redirected.
    fn checked_client(
        &self,
        form: &HashMap<String, String>,
    ) -> Result<(DevClient, String), Response> {
        let client_id = form
            .get("client_id")
            .map(String::as_str)
            .unwrap_or_default();
        let redirect_uri = form.get("redirect_uri").cloned().unwrap_or_default();
        match self.client(client_id) {
            Some(client) if Self::redirect_allowed(&client, &redirect_uri) => {
                Ok((client, redirect_uri))
            }
            Some(_) => Err(html(400, "<h1>redirect_uri is not registered</h1>".into())),
            None => Err(html(400, "<h1>unknown client_id</h1>".into())),
        }
    }

    fn authorize(&self, query: &HashMap<String, String>) -> Response {
        if let Err(page) = self.checked_client(query) {
            return page;
        }
        let users = self.lock().users.clone();
        let hidden: String = query
            .iter()
            .map(|(k, v)| {
                format!(
                    r#"<input type="hidden" name="{}" value="{}">"#,
                    escape(k),
                    escape(v)
                )
            })
            .collect();
        let options: String = users
            .iter()
            .map(|u| {
                format!(
                    r#"<option value="{0}">{0} ({1})</option>"#,
                    escape(&u.login),
                    escape(&u.name)
                )
            })
            .collect();
        let action = format!("{}/login", self.inner.issuer);
        html(
            200,
            format!(
                r#"<!doctype html><html><head><title>Development sign-in</title></head><body>
<h1>Development identity provider</h1>
<p>Pick a test user. The password is the user name.</p>
<form method="post" action="{action}">{hidden}
<label>User <select name="login" id="login">{options}</select></label>
<label>Password <input type="password" name="password" id="password"></label>
<button type="submit" id="submit">Sign in</button></form></body></html>"#
            ),
        )
    }

    fn finish_login(&self, form: &HashMap<String, String>) -> Response {
        let (client, redirect_uri) = match self.checked_client(form) {
            Ok(ok) => ok,
            Err(page) => return page,
        };
        let mut target = match Url::parse(&redirect_uri) {
            Ok(u) => u,
            Err(_) => return html(400, "<h1>bad redirect_uri</h1>".into()),
        };
        let state = form.get("state").cloned();
        let fail = |mut target: Url, error: &str| {
            {
                let mut q = target.query_pairs_mut();
                q.append_pair("error", error);
                if let Some(state) = &state {
                    q.append_pair("state", state);
                }
                q.append_pair("iss", &self.inner.issuer);
            }
            redirect(&target)
        };
        if form.get("response_type").map(String::as_str) != Some("code") {
            return fail(target, "unsupported_response_type");
        }
        let challenge = form.get("code_challenge").cloned();
        if challenge.is_none()
            || form.get("code_challenge_method").map(String::as_str) != Some("S256")
        {
            return fail(target, "invalid_request");
        }
        let login = form.get("login").map(String::as_str).unwrap_or_default();
        let password = form.get("password").map(String::as_str).unwrap_or_default();
        let user = self.lock().users.iter().find(|u| u.login == login).cloned();
        let Some(user) = user.filter(|u| ct_eq(&u.login, password)) else {
            return html(401, "<h1>wrong user or password</h1>".into());
        };
        let code = random();
        self.lock().codes.insert(
            code.clone(),
            Grant {
                client_id: client.id,
                user,
                nonce: form.get("nonce").cloned(),
                redirect_uri,
                challenge,
                scope: form.get("scope").cloned().unwrap_or_default(),
                sid: random(),
            },
        );
        {
            let mut q = target.query_pairs_mut();
            q.append_pair("code", &code);
            if let Some(state) = &state {
                q.append_pair("state", state);
            }
            q.append_pair("iss", &self.inner.issuer);
        }
        redirect(&target)
    }

    /// Authenticates the client of a token or revocation request.
    fn authenticate_client(
        &self,
        headers: &http::HeaderMap,
        form: &HashMap<String, String>,
    ) -> Result<DevClient, Response> {
        let invalid = || oauth_error(401, "invalid_client", "client authentication failed");
        let basic = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| STANDARD.decode(v).ok())
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| {
                let (id, secret) = v.split_once(':')?;
                let decode = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                Some((decode(id)?, decode(secret)?))
            });
        let (id, secret) = match basic {
            Some((id, secret)) => (id, Some(secret)),
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned(),
            ),
        };
        let client = self.client(&id).ok_or_else(invalid)?;
        match (&client.secret, secret) {
            (Some(expected), Some(given)) if ct_eq(expected, &given) => Ok(client),
            (None, None) => Ok(client),
            _ => Err(invalid()),
        }
    }

    fn token(&self, request: &http::Request<Vec<u8>>) -> Response {
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
        let form = params(request.body());
        let client = match self.authenticate_client(request.headers(), &form) {
            Ok(c) => c,
            Err(r) => return r,
        };
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        let grant = match get("grant_type") {
            "authorization_code" => {
                let Some(grant) = self.lock().codes.remove(get("code")) else {
                    return oauth_error(400, "invalid_grant", "unknown or used code");
                };
                if grant.client_id != client.id || grant.redirect_uri != get("redirect_uri") {
                    return oauth_error(
                        400,
                        "invalid_grant",
                        "code was issued to another client or redirect_uri",
                    );
                }
                let verifier = get("code_verifier");
                let computed = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    verifier.as_bytes(),
                ));
                if !grant
                    .challenge
                    .as_deref()
                    .is_some_and(|c| ct_eq(c, &computed))
                {
                    return oauth_error(400, "invalid_grant", "PKCE verification failed");
                }
                grant
            }
            "refresh_token" => {
                let mut state = self.lock();
                let Some(mut grant) = state.refresh.remove(get("refresh_token")) else {
                    return oauth_error(400, "invalid_grant", "unknown refresh token");
                };
                if grant.client_id != client.id {
                    return oauth_error(400, "invalid_grant", "refresh token of another client");
                }
                grant.nonce = None;
                // The user as they are now, not as they were at login.
                if let Some(now) = state.users.iter().find(|u| u.login == grant.user.login) {
                    grant.user = now.clone();
                }
                grant
            }
            _ => {
                return oauth_error(
                    400,
                    "unsupported_grant_type",
                    "only authorization_code and refresh_token",
                );
            }
        };
        let access = random();
        let refresh = random();
        let id_token = self.id_token(&grant, &access);
        let ttl = self.inner.token_ttl.load(Ordering::Relaxed);
        let scope = grant.scope.clone();
        {
            let mut state = self.lock();
            state.access.insert(access.clone(), grant.clone());
            state.refresh.insert(refresh.clone(), grant);
        }
        json_response(
            200,
            &json!({
                "access_token": access, "token_type": "Bearer", "expires_in": ttl,
                "refresh_token": refresh, "id_token": id_token, "scope": scope,
            }),
        )
    }

    fn id_token(&self, grant: &Grant, access_token: &str) -> String {
        let now = self.inner.clock.unix_now();
        let ttl = self.inner.token_ttl.load(Ordering::Relaxed) as i64;
        let key = self.signing_key();
        let mut claims = json!({
            "iss": self.inner.issuer, "sub": grant.user.sub, "aud": grant.client_id,
            "iat": now, "exp": now + ttl, "auth_time": now, "sid": grant.sid,
            "at_hash": crate::verify::half_hash(key.alg(), access_token),
            "email": grant.user.email, "email_verified": grant.user.email_verified,
            "name": grant.user.name,
            "preferred_username": grant.user.login, "groups": grant.user.groups,
        });
        if let Some(nonce) = &grant.nonce {
            claims["nonce"] = json!(nonce);
        }
        mint(&key, claims)
    }

    fn userinfo(&self, request: &http::Request<Vec<u8>>) -> Response {
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let grant = self.lock().access.get(token).cloned();
        match grant {
            Some(g) => json_response(
                200,
                &json!({
                    "sub": g.user.sub, "email": g.user.email,
                    "email_verified": g.user.email_verified,
                    "name": g.user.name, "preferred_username": g.user.login, "groups": g.user.groups,
                }),
            ),
            None => http::Response::builder()
                .status(401)
                .header(
                    http::header::WWW_AUTHENTICATE,
                    r#"Bearer error="invalid_token""#,
                )
                .body(Vec::new())
                .unwrap_or_default(),
        }
    }

    fn revoke(&self, form: &HashMap<String, String>) -> Response {
        let token = form.get("token").map(String::as_str).unwrap_or_default();
        let mut state = self.lock();
        state.access.remove(token);
        state.refresh.remove(token);
        json_response(200, &json!({}))
    }

    fn end_session(&self, query: &HashMap<String, String>) -> Response {
        let target = query.get("post_logout_redirect_uri");
        let client = query.get("client_id").and_then(|id| self.client(id));
        match (target, client) {
            (Some(uri), Some(client))
                if client.post_logout_redirect_uris.iter().any(|u| u == uri)
                    || (client.post_logout_redirect_uris.is_empty()
                        && Self::redirect_allowed(&client, uri)) =>
            {
                let Ok(mut url) = Url::parse(uri) else {
                    return html(400, "<h1>bad post_logout_redirect_uri</h1>".into());
                };
                if let Some(state) = query.get("state") {
                    url.query_pairs_mut().append_pair("state", state);
                }
                redirect(&url)
            }
            (Some(_), _) => html(
                400,
                "<h1>post_logout_redirect_uri is not registered</h1>".into(),
            ),
            (None, _) => html(200, "<h1>You are signed out.</h1>".into()),
        }
    }
}

impl HttpClient for DevProvider {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        let result = if self.inner.down.load(Ordering::Relaxed) {
            Err(HttpError::Connect {
                url: crate::http::display_url(request.uri()),
                reason: "connection refused (provider is down)".into(),
            })
        } else {
            Ok(self.handle(request))
        };
        Box::pin(std::future::ready(result))
    }
}
