//! A headless Chromium driven over the W3C WebDriver protocol by `chromedriver`, with a
//! tiny client of our own over reqwest: enough to use a web application as a person
//! would (open a page, fill in a form, click, read text, take a screenshot).
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: the packages `chromium` and
//! `chromium-driver`). Every wait is bounded; dropping the [`Browser`] ends the session,
//! stops chromedriver and removes the temporary profile.

#![allow(dead_code)] // Not every test uses every helper.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long chromedriver may take to answer `/status` with `ready: true`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long element look-ups and the `wait_*` helpers poll.
const WAIT: Duration = Duration::from_secs(15);
/// The polling interval.
const POLL: Duration = Duration::from_millis(100);
/// The bound on one WebDriver command (page loads are bounded below it, see `PAGE_LOAD`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The browser's page-load timeout, in milliseconds.
const PAGE_LOAD_MS: u64 = 30_000;
/// The key of a web element reference in WebDriver JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The flags Chromium runs with (besides `--user-data-dir`). The networking ones keep it
/// from reaching outside hosts (which this network refuses and which would slow it down);
/// `--no-sandbox` is needed when running as root.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-proxy-server",
    "--window-size=1280,900",
];

/// An error a WebDriver command answered with (or a transport failure).
#[derive(Debug)]
pub(crate) struct WebDriverError {
    /// The HTTP status (0: no answer).
    pub(crate) status: u16,
    /// The WebDriver error code, e.g. `no such element`.
    pub(crate) error: String,
    /// The message.
    pub(crate) message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first_line = self.message.lines().next().unwrap_or_default();
        write!(f, "{} ({}): {first_line}", self.error, self.status)
    }
}

impl WebDriverError {
    fn transport(e: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            error: "transport".into(),
            message: e.to_string(),
        }
    }

    /// Errors that go away when the page settles (navigation under way, re-rendering).
    fn is_transient(&self) -> bool {
        matches!(
            self.error.as_str(),
            "no such element"
                | "stale element reference"
                | "element not interactable"
                | "element click intercepted"
        )
    }
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone)]
pub(crate) struct Cookie {
    /// Name.
    pub(crate) name: String,
    /// Value.
    pub(crate) value: String,
    /// Domain.
    pub(crate) domain: String,
    /// Path.
    pub(crate) path: String,
    /// The `Secure` attribute.
    pub(crate) secure: bool,
    /// The `HttpOnly` attribute.
    pub(crate) http_only: bool,
    /// The `SameSite` attribute, as reported (`Lax`, `Strict`, `None`).
    pub(crate) same_site: String,
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        for _ in 0..100 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            let dir = std::env::temp_dir().join(format!(
                "edge-sso-chromium-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return TempDir(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", dir.display()),
            }
        }
        panic!("no fresh temporary directory in 100 tries")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running chromedriver; dropping it kills it and any Chromium left on its profile.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_leftover_chromium(&self.profile);
    }
}

/// A headless Chromium session.
pub(crate) struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session_url: String,
    session_id: String,
    // Dropped in this order: the session (in `drop`), chromedriver, then the directory.
    driver: Driver,
    dir: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking and dependency-free, so that it works outside (and inside) a runtime.
        delete_session(self.driver.port, &self.session_id);
    }
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session with a
    /// fresh profile.
    ///
    /// # Panics
    /// When `chromedriver` or `chromium` is not on `PATH`, or when they do not start.
    pub(crate) async fn start() -> Browser {
        let driver_exe = which("chromedriver").unwrap_or_else(|| missing("chromedriver"));
        let chromium = which("chromium")
            .or_else(|| which("chromium-browser"))
            .unwrap_or_else(|| missing("chromium"));
        let dir = TempDir::new();
        let profile = dir.0.join("profile");
        let log = dir.0.join("chromedriver.log");
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .no_proxy()
            .build()
            .expect("reqwest client");

        // The free port may be taken between finding and using it: try a few.
        let mut failures = Vec::new();
        let mut started = None;
        for _ in 0..3 {
            let port = free_port();
            let log_file = std::fs::File::create(&log).expect("chromedriver log file");
            let child = Command::new(&driver_exe)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log file handle"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_exe.display()));
            let mut driver = Driver {
                child,
                port,
                profile: profile.clone(),
            };
            match wait_ready(&http, &mut driver).await {
                Ok(()) => {
                    started = Some(driver);
                    break;
                }
                Err(why) => failures.push(format!("port {port}: {why}\n{}", tail(&log))),
            }
        }
        let Some(driver) = started else {
            panic!("chromedriver did not start:\n{}", failures.join("\n"));
        };

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "pageLoadStrategy": "normal",
                    "timeouts": {"implicit": 0, "pageLoad": PAGE_LOAD_MS, "script": 10_000},
                    "goog:chromeOptions": {
                        "binary": chromium.to_string_lossy(),
                        "args": args,
                    },
                },
            },
        });
        let base = format!("http://127.0.0.1:{}", driver.port);
        let created = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(&capabilities),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "chromedriver could not start {}: {e}\n{}",
                chromium.display(),
                tail(&log)
            )
        });
        let session_id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {created}"))
            .to_owned();
        Browser {
            http,
            session_url: format!("{base}/session/{session_id}"),
            session_id,
            driver,
            dir,
        }
    }

    async fn get(&self, path: &str) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.session_url);
        send(&self.http, reqwest::Method::GET, &url, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.session_url);
        send(&self.http, reqwest::Method::POST, &url, Some(body)).await
    }

    /// Opens `url` and waits until it has loaded (redirects followed).
    pub(crate) async fn goto(&self, url: &str) {
        self.post("/url", &json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The URL of the page shown.
    pub(crate) async fn current_url(&self) -> String {
        let value = self
            .get("/url")
            .await
            .unwrap_or_else(|e| panic!("current url: {e}"));
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The page's title.
    pub(crate) async fn title(&self) -> String {
        let value = self
            .get("/title")
            .await
            .unwrap_or_else(|e| panic!("title: {e}"));
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The page's HTML (as the browser serializes the DOM).
    pub(crate) async fn page_source(&self) -> String {
        let value = self
            .get("/source")
            .await
            .unwrap_or_else(|e| panic!("page source: {e}"));
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css` now, if any (no waiting).
    pub(crate) async fn try_find(&self, css: &str) -> Option<String> {
        match self
            .post("/element", &json!({"using": "css selector", "value": css}))
            .await
        {
            Ok(value) => Some(element_id(&value)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css:?}: {e}"),
        }
    }

    /// The first element matching `css`, waiting (bounded) for it to appear.
    pub(crate) async fn find(&self, css: &str) -> String {
        self.find_until(css, Instant::now() + WAIT).await
    }

    async fn find_until(&self, css: &str, deadline: Instant) -> String {
        loop {
            if let Some(id) = self.try_find(css).await {
                return id;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("no element {css:?} within {WAIT:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics with `what`, the current URL and the start of the page.
    async fn fail(&self, what: &str) -> ! {
        let url = self.current_url().await;
        let source = self.page_source().await;
        let start: String = source.chars().take(2000).collect();
        panic!("{what}\nat {url}\npage: {start}")
    }

    /// Runs an element command on the element matching `css` (GET without a body, POST
    /// with one), retrying while the page settles.
    async fn on_element(&self, css: &str, command: &str, body: Option<&Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let id = self.find_until(css, deadline).await;
            let path = format!("/element/{id}/{command}");
            let result = match body {
                Some(body) => self.post(&path, body).await,
                None => self.get(&path).await,
            };
            match result {
                Ok(value) => return value,
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => self.fail(&format!("{command} on {css:?}: {e}")).await,
            }
        }
    }

    /// The rendered text of the element matching `css` (waiting for it).
    pub(crate) async fn text(&self, css: &str) -> String {
        let value = self.on_element(css, "text", None).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (bounded) until the element matching `css` shows text containing `needle`;
    /// returns the text.
    pub(crate) async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        loop {
            if let Some(id) = self.try_find(css).await {
                match self.get(&format!("/element/{id}/text")).await {
                    Ok(value) => {
                        let text = value.as_str().unwrap_or_default().to_owned();
                        if text.contains(needle) {
                            return text;
                        }
                        last = Some(text);
                    }
                    Err(e) if e.is_transient() => {}
                    Err(e) => panic!("text of {css:?}: {e}"),
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "{css:?} did not show {needle:?} within {WAIT:?} (last: {last:?})"
                ))
                .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits (bounded) until no element matches `css`.
    pub(crate) async fn wait_gone(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        while self.try_find(css).await.is_some() {
            if Instant::now() >= deadline {
                self.fail(&format!("{css:?} still there after {WAIT:?}"))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits (bounded) until the current URL satisfies `ok`; returns it. `what` names the
    /// expected page in the panic message.
    pub(crate) async fn wait_for_url(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if ok(&url) {
                return url;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("not on {what} within {WAIT:?}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clears the field matching `css` and types `text` into it.
    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clear", Some(&json!({}))).await;
        self.on_element(css, "value", Some(&json!({ "text": text })))
            .await;
    }

    /// Picks the option with value `value` of the `<select>` matching `css`.
    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// Clicks the element matching `css` (and waits for a navigation it starts).
    pub(crate) async fn click(&self, css: &str) {
        self.on_element(css, "click", Some(&json!({}))).await;
    }

    /// A PNG screenshot of the viewport.
    pub(crate) async fn screenshot(&self) -> Vec<u8> {
        let value = self
            .get("/screenshot")
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"))
    }

    /// The cookies visible to the current page.
    pub(crate) async fn cookies(&self) -> Vec<Cookie> {
        let value = self
            .get("/cookie")
            .await
            .unwrap_or_else(|e| panic!("cookies: {e}"));
        let string = |c: &Value, k: &str| c[k].as_str().unwrap_or_default().to_owned();
        value
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|c| Cookie {
                name: string(c, "name"),
                value: string(c, "value"),
                domain: string(c, "domain"),
                path: string(c, "path"),
                secure: c["secure"].as_bool().unwrap_or_default(),
                http_only: c["httpOnly"].as_bool().unwrap_or_default(),
                same_site: string(c, "sameSite"),
            })
            .collect()
    }
}

/// Sends one WebDriver command; the answer's `value`, or its error.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).map_err(WebDriverError::transport)?);
    }
    let response = request.send().await.map_err(WebDriverError::transport)?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(WebDriverError::transport)?;
    let mut answer: Value = serde_json::from_slice(&bytes).map_err(|e| WebDriverError {
        status,
        error: "invalid answer".into(),
        message: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
    })?;
    let value = answer["value"].take();
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        Err(WebDriverError {
            status,
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

fn element_id(value: &Value) -> String {
    value[ELEMENT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("not an element reference: {value}"))
        .to_owned()
}

/// Polls chromedriver's `/status` until it says ready.
async fn wait_ready(http: &reqwest::Client, driver: &mut Driver) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{}/status", driver.port);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = driver.child.try_wait() {
            return Err(format!("chromedriver exited: {status}"));
        }
        let answer = http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok();
        if let Some(answer) = answer
            && let Ok(bytes) = answer.bytes().await
            && let Ok(status) = serde_json::from_slice::<Value>(&bytes)
            && status["value"]["ready"] == json!(true)
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready within {READY_TIMEOUT:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Ends the session (chromedriver then quits Chromium), bounded, without a runtime.
fn delete_session(port: u16, session_id: &str) {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let request = format!(
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // chromedriver keeps the connection open despite `Connection: close`: read the head
    // and `Content-Length` bytes of body (the answer comes once Chromium has quit).
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Kills the Chromium processes still running on `profile` (only when the session could
/// not be ended: chromedriver quits Chromium otherwise). Linux only; elsewhere a no-op.
fn kill_leftover_chromium(profile: &Path) {
    let needle = format!("--user-data-dir={}", profile.display());
    let on_profile = || -> Vec<String> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == needle.as_bytes())
                    .then(|| pid.to_string())
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut pids = on_profile();
    while !pids.is_empty() && Instant::now() < deadline {
        std::thread::sleep(POLL);
        pids = on_profile();
    }
    if !pids.is_empty() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The last part of chromedriver's log, for failure messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len().saturating_sub(3000);
    format!(
        "chromedriver log ({}):\n{}",
        log.display(),
        chars[start..].iter().collect::<String>()
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn missing(program: &str) -> ! {
    panic!(
        "`{program}` is not on PATH: the browser tests need Chromium and its WebDriver \
         (Debian: `apt-get install chromium chromium-driver`)"
    )
}
