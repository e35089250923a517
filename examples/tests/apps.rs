//! The demo applications over real HTTP: the development provider and the app each on a
//! loopback port, a browser-less client following the login (the provider's HTML form
//! included), with redirects asserted, not followed.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashMap;
use std::time::Duration;

/// A client with a cookie jar of its own and redirects off.
struct Client {
    http: reqwest::Client,
    jar: HashMap<String, String>,
}

impl Client {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            http,
            jar: HashMap::new(),
        }
    }

    async fn request(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<String>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, url).header("accept", "text/html");
        let host = url::Url::parse(url).unwrap();
        let cookies: Vec<String> = self
            .jar
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{}|", host.port().unwrap_or(80))))
            .map(|(k, v)| format!("{}={v}", k.split_once('|').unwrap().1))
            .collect();
        if !cookies.is_empty() {
            req = req.header("cookie", cookies.join("; "));
        }
        if let Some(form) = form {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form);
        }
        let response = req.send().await.unwrap();
        for line in response.headers().get_all("set-cookie") {
            let line = line.to_str().unwrap();
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let key = format!("{}|{name}", host.port().unwrap_or(80));
            if attrs.contains("Max-Age=0") {
                self.jar.remove(&key);
            } else {
                self.jar.insert(key, value.to_owned());
            }
        }
        response
    }

    /// Logs in: app -> provider's login page -> form post -> callback -> app.
    async fn log_in(&mut self, app_url: &str, user: &str) -> String {
        let first = self
            .request(reqwest::Method::GET, &format!("{app_url}/"), None)
            .await;
        assert_eq!(first.status(), 302);
        let authorize = first.headers()["location"].to_str().unwrap().to_owned();
        let page = self.request(reqwest::Method::GET, &authorize, None).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let action = between(&html, "action=\"", "\"");
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for input in html.split("<input type=\"hidden\"").skip(1) {
            form.append_pair(
                &unescape(between(input, "name=\"", "\"")),
                &unescape(between(input, "value=\"", "\"")),
            );
        }
        form.append_pair("login", user)
            .append_pair("password", user);
        let back = self
            .request(reqwest::Method::POST, action, Some(form.finish()))
            .await;
        assert_eq!(back.status(), 302);
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        let to_app = self.request(reqwest::Method::GET, &callback, None).await;
        assert_eq!(to_app.status(), 302, "{:?}", to_app.text().await);
        let target = format!(
            "{app_url}{}",
            to_app.headers()["location"].to_str().unwrap()
        );
        let page = self.request(reqwest::Method::GET, &target, None).await;
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A demo binary started on a free port, killed on drop.
struct Running {
    child: std::process::Child,
    url: String,
}

impl Running {
    /// Starts `exe` and reads the URL it prints (`open http://127.0.0.1:PORT/ ...`).
    fn start(exe: &str) -> Running {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(exe)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{exe}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{exe} printed no URL within 30 s"));
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        Running { child, url }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn axum_app_login_shows_claims_and_signs_out() {
    let app = Running::start(env!("CARGO_BIN_EXE_axum-app"));
    let mut client = Client::new();
    let page = client.log_in(&app.url, "alice").await;
    assert!(page.contains("Hello, alice"), "{page}");
    assert!(page.contains("\"groups\""), "the decoded claims are shown");
    let out = client
        .request(
            reqwest::Method::GET,
            &format!("{}/oauth2/sign_out", app.url),
            None,
        )
        .await;
    assert_eq!(out.status(), 302);
    let again = client
        .request(reqwest::Method::GET, &format!("{}/", app.url), None)
        .await;
    assert_eq!(again.status(), 302, "signed out: back to the login");
}

#[tokio::test]
async fn hyper_app_behind_the_same_layer() {
    let app = Running::start(env!("CARGO_BIN_EXE_hyper-app"));
    let mut client = Client::new();
    let page = client.log_in(&app.url, "bob").await;
    assert_eq!(page, "hello bob@example.com\n");
    let api = reqwest::Client::new()
        .get(format!("{}/", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}
