//! Test harness: a real OpenID Provider (the npm package `oidc-provider`, run by
//! `tests/oidc-provider/provider.mjs`) on 127.0.0.1, and a cookie-keeping HTTP
//! "browser" that drives its development login, consent and logout forms.
//!
//! Needs `node` and `npm` on `PATH`. The first start runs `npm ci` in
//! `tests/oidc-provider` when its `node_modules` is missing.
//!
//! The provider's clients (all with redirect URI `http://127.0.0.1/callback`, post-logout
//! redirect URI `http://127.0.0.1/logged-out`, response type `code`, PKCE S256 required):
//! see the `CLIENT_*` constants.

// Items here are used by some tests and not others, and are `pub` for the tests' sake.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use url::Url;

/// `client_secret_basic` client.
pub const CLIENT_BASIC: &str = "client-basic";
/// Secret of [`CLIENT_BASIC`].
pub const CLIENT_BASIC_SECRET: &str = "secret-basic-0123456789-0123456789-abcdefgh";
/// `client_secret_post` client.
pub const CLIENT_POST: &str = "client-post";
/// Secret of [`CLIENT_POST`].
pub const CLIENT_POST_SECRET: &str = "secret-post-0123456789-0123456789-abcdefghij";
/// `client_secret_jwt` client (HS256).
pub const CLIENT_SECRET_JWT: &str = "client-secret-jwt";
/// Secret (HMAC key) of [`CLIENT_SECRET_JWT`].
pub const CLIENT_SECRET_JWT_SECRET: &str =
    "secret-jwt-0123456789-0123456789-0123456789-abcdefghijkl";
/// `private_key_jwt` client; registered only when `start` is given a client JWKS file.
pub const CLIENT_PRIVATE_KEY_JWT: &str = "client-private-key-jwt";
/// Public client (`token_endpoint_auth_method` `none`).
pub const CLIENT_PUBLIC: &str = "client-public";
/// The registered redirect URI of every client.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The registered post-logout redirect URI of every client.
pub const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1/logged-out";
/// The resource indicator for which the provider issues JWT access tokens (`typ: at+jwt`,
/// `aud: urn:api`, scopes `api:read api:write`).
pub const API_RESOURCE: &str = "urn:api";

/// How long `start` waits for the provider's `READY` line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one `login` / `logout` run.
const BROWSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on requests (redirects and form posts) in one `login` / `logout` run.
const MAX_HOPS: usize = 20;
/// Bound on the provider output kept for `logs()`.
const MAX_LOG_BYTES: usize = 256 * 1024;

/// Serializes `npm ci` between the tests of this process; the file lock in
/// `ensure_installed` covers other processes.
static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// The directory of `package.json` and `provider.mjs`.
pub fn provider_dir() -> PathBuf {
    // oidc-core owns the provider; other crates' tests include this file and find it there.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests/oidc-provider");
    if own.exists() {
        own
    } else {
        manifest.join("../oidc-core/tests/oidc-provider")
    }
}

/// A running `oidc-provider`. Dropping it kills the process.
#[derive(Debug)]
pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
    /// Kept open: the provider exits when its stdin closes.
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts the provider and waits (at most 30 s) until it listens.
    ///
    /// * `jwks_file`: a private JWKS (`{"keys":[...]}`) it signs with; `None`: one fresh
    ///   RS256 key.
    /// * `client_jwks_file`: the public JWKS of `client-private-key-jwt`; `None`: that
    ///   client is not registered.
    /// * `port`: a fixed port (to restart it under the same issuer); `None`: a free port.
    ///
    /// Panics when `node` or `npm` is missing, when `npm ci` fails, or when the provider
    /// does not come up; the panic message carries its output.
    pub async fn start(
        jwks_file: Option<&Path>,
        client_jwks_file: Option<&Path>,
        port: Option<u16>,
    ) -> OidcProvider {
        Self::start_with_env(jwks_file, client_jwks_file, port, &[]).await
    }

    /// Like [`OidcProvider::start`], with extra environment variables for `provider.mjs`
    /// (for example `("OP_ID_TOKEN_ALG", "ES256")` with an EC key set).
    pub async fn start_with_env(
        jwks_file: Option<&Path>,
        client_jwks_file: Option<&Path>,
        port: Option<u16>,
        env: &[(&str, &str)],
    ) -> OidcProvider {
        require_tool("node");
        require_tool("npm");
        ensure_installed().await;

        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            match spawn_once(jwks_file, client_jwks_file, port, env, deadline).await {
                Ok(provider) => return provider,
                // A fixed port may still be held by the provider this one replaces.
                Err(Failure { retry: true, .. })
                    if port.is_some() && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(Failure { log, .. }) => {
                    panic!("oidc-provider did not start; its output:\n{log}")
                }
            }
        }
    }

    /// Stops this provider and starts a new one on the same port (so under the same
    /// issuer), e.g. with a new key set. Sessions, grants and refresh tokens are lost:
    /// the provider keeps them in memory.
    pub async fn restart(
        self,
        jwks_file: Option<&Path>,
        client_jwks_file: Option<&Path>,
    ) -> OidcProvider {
        let port = self.port;
        self.stop().await;
        Self::start(jwks_file, client_jwks_file, Some(port)).await
    }

    /// Kills the provider and waits for it to exit.
    pub async fn stop(mut self) {
        self.stdin.take();
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// `issuer` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The provider's `/.well-known/openid-configuration` URL.
    pub fn discovery_url(&self) -> String {
        self.url("/.well-known/openid-configuration")
    }

    /// What the provider printed so far (stderr, and stdout after `READY`), for
    /// failure messages.
    pub fn logs(&self) -> String {
        lock(&self.log).clone()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

struct Failure {
    log: String,
    /// The port was in use.
    retry: bool,
}

async fn spawn_once(
    jwks_file: Option<&Path>,
    client_jwks_file: Option<&Path>,
    port: Option<u16>,
    env: &[(&str, &str)],
    deadline: tokio::time::Instant,
) -> Result<OidcProvider, Failure> {
    let mut cmd = Command::new("node");
    cmd.arg("provider.mjs")
        .current_dir(provider_dir())
        .env_remove("OP_JWKS_FILE")
        .env_remove("OP_CLIENT_JWKS_FILE")
        .env_remove("OP_PORT")
        .env_remove("OP_ID_TOKEN_ALG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(file) = jwks_file {
        cmd.env("OP_JWKS_FILE", file);
    }
    if let Some(file) = client_jwks_file {
        cmd.env("OP_CLIENT_JWKS_FILE", file);
    }
    if let Some(port) = port {
        cmd.env("OP_PORT", port.to_string());
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node provider.mjs`: {e}"));

    let log = Arc::new(Mutex::new(String::new()));
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_task = tokio::spawn(drain(stderr, Arc::clone(&log)));

    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout_at(deadline, async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) => match line.strip_prefix("READY ") {
                    Some(issuer) => return Some(issuer.trim().to_owned()),
                    None => append(&log, &line),
                },
                Ok(None) | Err(_) => return None,
            }
        }
    })
    .await;

    let issuer = match ready {
        Ok(Some(issuer)) => issuer,
        Ok(None) => {
            let what = "\n(exited before READY)".to_owned();
            return Err(failure(child, stderr_task, &log, what).await);
        }
        Err(_) => {
            let what = format!("\n(no READY line within {READY_TIMEOUT:?})");
            return Err(failure(child, stderr_task, &log, what).await);
        }
    };
    let Some(port) = Url::parse(&issuer).ok().and_then(|u| u.port()) else {
        let what = format!("\n(bad READY line: {issuer})");
        return Err(failure(child, stderr_task, &log, what).await);
    };
    // Keep reading stdout so the provider never blocks on a full pipe.
    let stdout_log = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            append(&stdout_log, &line);
        }
    });

    Ok(OidcProvider {
        issuer,
        port,
        child: Some(child),
        stdin,
        log,
    })
}

async fn failure(
    mut child: Child,
    stderr_task: tokio::task::JoinHandle<()>,
    log: &Mutex<String>,
    what: String,
) -> Failure {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stderr_task).await;
    let mut text = lock(log).clone();
    text.push_str(&what);
    Failure {
        retry: text.contains("EADDRINUSE"),
        log: text,
    }
}

async fn drain(stream: impl AsyncRead + Unpin, log: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        append(&log, &line);
    }
}

fn append(log: &Mutex<String>, line: &str) {
    let mut log = lock(log);
    if log.len() + line.len() < MAX_LOG_BYTES {
        log.push_str(line);
        log.push('\n');
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Panics, naming the tool, when `tool` is not an executable file on `PATH`.
fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(tool);
            std::fs::metadata(&candidate).is_ok_and(|m| m.is_file())
        })
    });
    assert!(
        found,
        "`{tool}` is not on PATH: the oidc-provider interop tests need Node.js (node and npm)"
    );
}

/// Runs `npm ci` in the provider directory unless `node_modules/oidc-provider` is there.
async fn ensure_installed() {
    let dir = provider_dir();
    if installed(&dir) {
        return;
    }
    tokio::task::spawn_blocking(move || {
        let _guard = lock(&INSTALL_LOCK);
        // Another test binary (or another cargo) may install at the same time.
        let lock_path = dir.join("node_modules.lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
        lock_file
            .lock()
            .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
        if installed(&dir) {
            return;
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `npm ci`: {e}"));
        assert!(
            out.status.success(),
            "`npm ci` in {} failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            installed(&dir),
            "`npm ci` succeeded but node_modules/oidc-provider is missing"
        );
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
}

fn installed(dir: &Path) -> bool {
    dir.join("node_modules/oidc-provider/package.json")
        .is_file()
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh empty directory under cargo's per-target scratch dir, for key files.
pub fn scratch_dir(name: &str) -> PathBuf {
    let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("oidc-provider")
        .join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Writes a private JWKS for `OP_JWKS_FILE` into `dir` under a new name and returns its
/// path. `keys_json` is a `{"keys":[...]}` object, an array of JWKs, or one JWK.
pub fn write_private_jwks(dir: &Path, keys_json: &serde_json::Value) -> PathBuf {
    write_jwks(dir, "op-private-jwks", keys_json)
}

/// Writes a public JWKS (for `client_jwks_file`) into `dir` under a new name and
/// returns its path. Accepts the same shapes as [`write_private_jwks`].
pub fn write_public_jwks(dir: &Path, keys_json: &serde_json::Value) -> PathBuf {
    write_jwks(dir, "client-public-jwks", keys_json)
}

fn write_jwks(dir: &Path, prefix: &str, keys_json: &serde_json::Value) -> PathBuf {
    let jwks = match keys_json {
        serde_json::Value::Object(map) if map.contains_key("keys") => keys_json.clone(),
        serde_json::Value::Array(_) => serde_json::json!({ "keys": keys_json }),
        serde_json::Value::Object(_) => serde_json::json!({ "keys": [keys_json] }),
        other => panic!("not a JWKS, JWK array or JWK: {other}"),
    };
    let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{prefix}-{n}.json"));
    let text = serde_json::to_string_pretty(&jwks).expect("a JSON value serializes");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Logs in as `login` (any password) through the provider's development login and
/// consent forms, with a fresh cookie jar, and returns the redirect to
/// `http://127.0.0.1/callback...` (not requested). An authorization error is such a
/// redirect too, with `error=` in its query.
pub async fn login(authorize_url: &str, login: &str) -> Result<Url, String> {
    Browser::new().login(authorize_url, login).await
}

/// Follows an RP-initiated logout (`end_session_endpoint?...`) with a fresh cookie jar,
/// confirming with `logout=yes`, and returns the redirect to
/// `http://127.0.0.1/logged-out...`. Without the login's cookies the provider has no
/// session to end; use [`Browser`] to log in and out with one jar.
pub async fn logout(end_session_url: &str) -> Result<Url, String> {
    Browser::new().logout(end_session_url).await
}

/// A minimal browser: a cookie jar (name → value, all sent to the provider) and an HTTP
/// client that does not follow redirects by itself.
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain reqwest client builds");
        Self {
            client,
            cookies: HashMap::new(),
        }
    }

    /// The cookies held now.
    pub fn cookies(&self) -> &HashMap<String, String> {
        &self.cookies
    }

    /// Goes to `authorize_url`, logs in as `login` when the provider asks, consents when
    /// it asks, and returns the redirect to `http://127.0.0.1/callback...`. With the
    /// session of an earlier login in this browser, no form may be shown at all.
    pub async fn login(&mut self, authorize_url: &str, login: &str) -> Result<Url, String> {
        self.navigate(authorize_url, REDIRECT_URI, Some(login), &[])
            .await
    }

    /// Goes to `end_session_url`, confirms the logout (`logout=yes`), and returns the
    /// redirect to `http://127.0.0.1/logged-out...`. The URL needs a
    /// `post_logout_redirect_uri` (with `client_id` or `id_token_hint`), or the provider
    /// ends on its own "Sign-out Success" page, which is an `Err` here.
    pub async fn logout(&mut self, end_session_url: &str) -> Result<Url, String> {
        self.navigate(
            end_session_url,
            POST_LOGOUT_REDIRECT_URI,
            None,
            &[("logout", "yes")],
        )
        .await
    }

    /// Requests `start`, follows redirects and submits the forms it is shown (filling
    /// `login` / `password` when `login` is given, adding `extra` fields it lacks) until a
    /// redirect to a URL starting with `stop_prefix`, which it returns without requesting.
    pub async fn navigate(
        &mut self,
        start: &str,
        stop_prefix: &str,
        login: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<Url, String> {
        let start = Url::parse(start).map_err(|e| format!("bad URL {start}: {e}"))?;
        tokio::time::timeout(
            BROWSE_TIMEOUT,
            self.navigate_inner(start, stop_prefix, login, extra),
        )
        .await
        .map_err(|_| format!("no redirect to {stop_prefix} within {BROWSE_TIMEOUT:?}"))?
    }

    async fn navigate_inner(
        &mut self,
        start: Url,
        stop_prefix: &str,
        login: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<Url, String> {
        let mut url = start;
        let mut body: Option<String> = None;
        let mut trail = Vec::new();
        for _ in 0..MAX_HOPS {
            trail.push(format!(
                "{} {url}",
                if body.is_some() { "POST" } else { "GET" }
            ));
            let mut request = match &body {
                Some(form) => self
                    .client
                    .post(url.clone())
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.clone()),
                None => self.client.get(url.clone()),
            };
            if let Some(cookie) = self.cookie_header() {
                request = request.header(reqwest::header::COOKIE, cookie);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("{} failed: {e}", trail.join(" -> ")))?;
            self.store_cookies(&response);
            let status = response.status();

            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("{status} without Location from {url}"))?;
                let next = url
                    .join(location)
                    .map_err(|e| format!("bad Location {location}: {e}"))?;
                if next.as_str().starts_with(stop_prefix) {
                    return Ok(next);
                }
                url = next;
                body = None;
                continue;
            }

            let text = response.text().await.unwrap_or_default();
            if !status.is_success() {
                return Err(format!(
                    "{status} from {url} (after {}):\n{}",
                    trail.join(" -> "),
                    page_text(&text)
                ));
            }
            let Some(form) = parse_form(&text) else {
                return Err(format!(
                    "page without a form at {url} (after {}):\n{}",
                    trail.join(" -> "),
                    page_text(&text)
                ));
            };
            let mut fields = form.fields;
            if fields.iter().any(|(name, _)| name == "login") {
                let login = login
                    .ok_or_else(|| format!("{url} shows a login form, and no login was given"))?;
                for (name, value) in fields.iter_mut() {
                    match name.as_str() {
                        "login" => login.clone_into(value),
                        "password" => "any-password".clone_into(value),
                        _ => {}
                    }
                }
            }
            for (name, value) in extra {
                if !fields.iter().any(|(n, _)| n == name) {
                    fields.push(((*name).to_owned(), (*value).to_owned()));
                }
            }
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter())
                .finish();
            let action = if form.action.is_empty() {
                url.clone()
            } else {
                url.join(&form.action)
                    .map_err(|e| format!("bad form action {}: {e}", form.action))?
            };
            if form.method.eq_ignore_ascii_case("post") {
                url = action;
                body = Some(encoded);
            } else {
                url = action;
                url.set_query(Some(&encoded));
                body = None;
            }
        }
        Err(format!(
            "no redirect to {stop_prefix} within {MAX_HOPS} requests: {}",
            trail.join(" -> ")
        ))
    }

    fn cookie_header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        let mut pairs: Vec<_> = self.cookies.iter().collect();
        pairs.sort();
        Some(
            pairs
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    fn store_cookies(&mut self, response: &reqwest::Response) {
        for header in response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
        {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() {
                continue;
            }
            let mut expired = false;
            for attribute in parts {
                let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
                let (key, val) = (key.trim(), val.trim());
                if key.eq_ignore_ascii_case("max-age") {
                    if val.parse::<i64>().is_ok_and(|age| age <= 0) {
                        expired = true;
                    }
                } else if key.eq_ignore_ascii_case("expires")
                    && parse_http_date(val).is_some_and(|at| at <= now_unix())
                {
                    expired = true;
                }
            }
            if expired {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds since the epoch of an IMF-fixdate such as `Thu, 01 Jan 1970 00:00:00 GMT`
/// (also accepts `-` between the date parts, as some servers write).
fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.split_once(',').map_or(text, |(_, rest)| rest);
    let mut words = text.split([' ', '-']).filter(|w| !w.is_empty());
    let day: i64 = words.next()?.parse().ok()?;
    let month = match words.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let mut year: i64 = words.next()?.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = words.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from civil (proleptic Gregorian), March-based year.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

struct Form {
    action: String,
    method: String,
    /// Named `<input>`s in document order, with their (entity-decoded) values.
    fields: Vec<(String, String)>,
}

/// The first `<form>` of `html`: its action, method and named inputs (submit buttons
/// are left out; the caller adds what it needs).
fn parse_form(html: &str) -> Option<Form> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<form")?;
    let tag_end = start + lower[start..].find('>')?;
    let attrs = parse_attributes(&html[start + "<form".len()..tag_end]);
    let end = lower[tag_end..]
        .find("</form")
        .map_or(html.len(), |i| tag_end + i);
    let mut fields = Vec::new();
    let mut at = tag_end;
    while let Some(i) = lower[at..end].find("<input") {
        let input_start = at + i + "<input".len();
        let Some(j) = lower[input_start..end].find('>') else {
            break;
        };
        let input = parse_attributes(&html[input_start..input_start + j]);
        at = input_start + j;
        let kind = attr(&input, "type").unwrap_or("text").to_ascii_lowercase();
        if matches!(kind.as_str(), "submit" | "button" | "image" | "reset") {
            continue;
        }
        if let Some(name) = attr(&input, "name") {
            let value = attr(&input, "value").unwrap_or("");
            fields.push((name.to_owned(), value.to_owned()));
        }
    }
    Some(Form {
        action: attr(&attrs, "action").unwrap_or("").to_owned(),
        method: attr(&attrs, "method").unwrap_or("get").to_owned(),
        fields,
    })
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Attributes of a tag's inside (`name="v"`, `name='v'`, `name=v`, bare `name`), with
/// entity-decoded values.
fn parse_attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches('/');
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            break;
        }
        let name_len = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        rest = rest[name_len..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let close = inner.find(quote).unwrap_or(inner.len());
                    (&inner[..close], inner.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let stop = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..stop], &after[stop..])
                }
            };
            value = decode_entities(raw);
            rest = remaining;
        }
        if name.is_empty() {
            // Stray `=` or quote: skip a character to make progress.
            let mut chars = rest.chars();
            chars.next();
            rest = chars.as_str();
            continue;
        }
        out.push((name.to_ascii_lowercase(), value));
    }
    out
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&j| j <= 10).and_then(|j| {
            let entity = &rest[1..j];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, j + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The visible text of an HTML page (tags, styles and scripts dropped), shortened, for
/// error messages; the provider's error page shows `error` and `error_description`.
fn page_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let lower = rest.get(..8).unwrap_or(rest).to_ascii_lowercase();
        let skip_to = if lower.starts_with("<style") {
            "</style>"
        } else if lower.starts_with("<script") {
            "</script>"
        } else {
            ">"
        };
        match rest.to_ascii_lowercase().find(skip_to) {
            Some(j) => rest = &rest[j + skip_to.len()..],
            None => rest = "",
        }
        out.push(' ');
    }
    out.push_str(rest);
    let text = decode_entities(&out.split_whitespace().collect::<Vec<_>>().join(" "));
    match text.char_indices().nth(2000) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn forms() {
        let html = r#"<html><body><form autocomplete="off" action="/interaction/a&amp;b" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type=password name='password'>
  <input type="submit" name="go" value="x">
  <button type="submit">Sign-in</button></form><form action="/other"><input name="z"></form>"#;
        let form = parse_form(html).expect("a form");
        assert_eq!(form.action, "/interaction/a&b");
        assert_eq!(form.method, "post");
        assert_eq!(
            form.fields,
            vec![
                ("prompt".to_owned(), "login".to_owned()),
                ("login".to_owned(), String::new()),
                ("password".to_owned(), String::new()),
            ]
        );
        assert!(parse_form("<p>no form</p>").is_none());
        assert_eq!(decode_entities("a&#39;b&#x41;&amp;&bogus"), "a'bA&&bogus");
        assert_eq!(
            page_text("<style>x{}</style><h1>oops</h1><pre>error: <b>bad</b></pre>"),
            "oops error: bad"
        );
    }
}
