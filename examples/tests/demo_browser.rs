//! The one-command demo used as a person would: a headless Chromium (driven over WebDriver
//! by chromedriver) opens the URL the demo prints, lands on the development identity
//! provider's sign-in page, signs in, sees the application greet the user with the ID
//! token's claims, and signs out.
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: `chromium`, `chromium-driver`).

mod common;

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::chromium::Browser;

/// The one-command demo: prints `open <URL> ...` on a line of its stdout.
const DEMO_EXE: &str = env!("CARGO_BIN_EXE_gateway");

/// The demo, started on free ports, killed on drop.
struct Demo {
    child: Child,
    /// The URL it asks to open, as printed.
    url: String,
    /// Its origin (`http://127.0.0.1:PORT`).
    origin: String,
}

impl Demo {
    /// Starts `exe` and reads the URL from the first stdout line starting with `open `.
    fn start(exe: &str) -> Demo {
        let mut child = Command::new(exe)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{exe}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keeps reading to the end, so that the demo never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("open ")
                    && let Some(url) = rest.split_whitespace().next()
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        // Owned before the wait, so that a panic below still kills the process.
        let mut demo = Demo {
            child,
            url: String::new(),
            origin: String::new(),
        };
        demo.url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{exe} printed no `open <URL>` line within 30 s: {e}"));
        demo.origin = origin(&demo.url);
        demo
    }

    /// Whether `url` is a page of the application.
    fn serves(&self, url: &str) -> bool {
        origin(url) == self.origin
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn origin(url: &str) -> String {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url:?}: {e}"))
        .origin()
        .ascii_serialization()
}

/// Opens the demo's URL and expects the provider's sign-in page; returns the provider's
/// origin (its issuer: the development provider is served at the root).
async fn open_sign_in_page(browser: &Browser, demo: &Demo) -> String {
    browser.goto(&demo.url).await;
    let url = browser
        .wait_for_url("the identity provider's sign-in page", |u| !demo.serves(u))
        .await;
    browser.find("form select#login").await;
    browser.find("form input#password[type=password]").await;
    browser.find("form #submit").await;
    assert!(
        browser.try_find("#hello").await.is_none(),
        "not signed in yet"
    );
    origin(&url)
}

/// Fills in and submits the sign-in form.
async fn sign_in(browser: &Browser, user: &str, password: &str) {
    browser.select("#login", user).await;
    browser.type_into("#password", password).await;
    browser.click("#submit").await;
}

/// The claims the application shows, parsed.
async fn shown_claims(browser: &Browser) -> serde_json::Value {
    let text = browser.text("#claims").await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("#claims is not JSON ({e}): {text}"))
}

/// Checks the screenshot is a PNG of a plausible size and returns its width and height.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &png[..png.len().min(16)]
    );
    assert!(
        (2_000..20_000_000).contains(&png.len()),
        "implausible PNG size: {} bytes",
        png.len()
    );
    // The IHDR chunk comes first: width and height, big-endian, at bytes 16..24.
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

fn screenshot_path() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("demo-screenshot.png")
}

#[tokio::test]
async fn alice_signs_in_sees_her_claims_and_signs_out() {
    let started = Instant::now();
    let demo = Demo::start(DEMO_EXE);
    let browser = Browser::start().await;
    println!(
        "demo at {}; browser ready after {:?}",
        demo.url,
        started.elapsed()
    );

    let issuer = open_sign_in_page(&browser, &demo).await;
    assert_eq!(browser.title().await, "Development sign-in");
    sign_in(&browser, "alice", "alice").await;

    let url = browser
        .wait_for_url("the application", |u| demo.serves(u))
        .await;
    let hello = browser.wait_for_text("#hello", "alice").await;
    assert_eq!(hello, "Hello, alice", "at {url}");
    let claims = shown_claims(&browser).await;
    assert_eq!(claims["preferred_username"], "alice", "{claims:#}");
    assert_eq!(claims["iss"], issuer.as_str(), "{claims:#}");
    assert_eq!(claims["email"], "alice@example.com", "{claims:#}");
    assert_eq!(claims["sub"], "alice-sub", "{claims:#}");
    assert!(
        claims["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "admins")),
        "{claims:#}"
    );
    let session_cookies: Vec<String> = browser
        .cookies()
        .await
        .into_iter()
        .filter(|c| c.http_only)
        .map(|c| c.name)
        .collect();
    assert!(
        !session_cookies.is_empty(),
        "the session is an HttpOnly cookie"
    );

    let png = browser.screenshot().await;
    let (width, height) = png_size(&png);
    assert!(width >= 400 && height >= 300, "{width}x{height}");
    let path = screenshot_path();
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!(
        "screenshot ({width}x{height}, {} bytes): {}",
        png.len(),
        path.display()
    );

    browser.click("#sign-out").await;
    browser.wait_gone("#hello").await;
    let left: Vec<String> = browser
        .cookies()
        .await
        .into_iter()
        .map(|c| c.name)
        .filter(|name| session_cookies.contains(name))
        .collect();
    assert!(left.is_empty(), "signed out, yet still holds {left:?}");

    // Opening the URL again asks to sign in again.
    assert_eq!(open_sign_in_page(&browser, &demo).await, issuer);
    println!("done in {:?}", started.elapsed());
}

#[tokio::test]
async fn bob_is_refused_with_a_wrong_password_then_signs_in() {
    let demo = Demo::start(DEMO_EXE);
    let browser = Browser::start().await;

    open_sign_in_page(&browser, &demo).await;
    sign_in(&browser, "bob", "alice").await;
    browser.wait_for_text("h1", "wrong user or password").await;
    assert!(browser.try_find("#hello").await.is_none());

    let issuer = open_sign_in_page(&browser, &demo).await;
    sign_in(&browser, "bob", "bob").await;
    browser
        .wait_for_url("the application", |u| demo.serves(u))
        .await;
    assert_eq!(browser.wait_for_text("#hello", "bob").await, "Hello, bob");
    let claims = shown_claims(&browser).await;
    assert_eq!(claims["preferred_username"], "bob", "{claims:#}");
    assert_eq!(claims["iss"], issuer.as_str(), "{claims:#}");
    assert_eq!(
        claims["groups"],
        serde_json::json!(["group2"]),
        "{claims:#}"
    );
}
