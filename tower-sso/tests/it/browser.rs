//! A browser-less browser: a cookie jar and redirect-following over a tower service and the
//! in-process development provider.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt as _, Full};
use oidc_core::testing::DevProvider;
use tower::{Service, ServiceExt as _};

/// The development provider's issuer in these tests (nothing listens there: the provider
/// answers in-process, as the configuration's HTTP client).
pub(crate) const DEV_ISSUER: &str = "http://127.0.0.1:9";
/// The cookie secret of the tests' configurations.
pub(crate) const COOKIE_SECRET: &str = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=";

/// The SSO configuration for the in-process development provider `op` (client
/// `dev-client`), for an application at `http://127.0.0.1:8080`.
pub(crate) fn dev_config(op: &DevProvider) -> tower_sso::SsoConfig {
    tower_sso::SsoConfig::new(
        DEV_ISSUER,
        "dev-client",
        "dev-secret",
        "http://127.0.0.1:8080/oauth2/callback",
        COOKIE_SECRET,
    )
    .unwrap()
    .http(std::sync::Arc::new(op.clone()))
}

/// The demo application: echoes the request headers it received as JSON.
pub(crate) async fn app(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    let body = serde_json::json!({"path": req.uri().path(), "headers": headers}).to_string();
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// A cookie jar that sends back what it was given, minus removals.
#[derive(Debug, Default, Clone)]
pub(crate) struct Browser {
    pub(crate) jar: BTreeMap<String, String>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

impl Browser {
    pub(crate) fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends one request with the jar's cookies and `extra` headers; stores Set-Cookie.
    pub(crate) async fn send<S, B>(
        &mut self,
        svc: &mut S,
        method: &str,
        uri: &str,
        extra: &[(&str, &str)],
    ) -> Answer
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.jar.is_empty() {
            req = req.header(header::COOKIE, self.cookie_header());
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let response = svc
            .ready()
            .await
            .unwrap()
            .call(req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        for line in parts.headers.get_all(header::SET_COOKIE) {
            let line = line.to_str().unwrap();
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Opens `n` protected pages `/tab/0` .. as a browser before any login finishes, and
    /// returns where each was sent to log in.
    pub(crate) async fn open_tabs<S, B>(&mut self, svc: &mut S, n: usize) -> Vec<String>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let mut starts = Vec::new();
        for i in 0..n {
            let answer = self
                .send(svc, "GET", &format!("/tab/{i}"), &[("accept", "text/html")])
                .await;
            assert_eq!(answer.status, 302, "{}", answer.body);
            starts.push(answer.location().to_owned());
        }
        starts
    }

    /// GET `uri` as a browser; when sent to the provider, logs `user` in there and follows
    /// the redirects back; returns the first answer that is not a redirect.
    pub(crate) async fn visit<S, B>(
        &mut self,
        svc: &mut S,
        op: &DevProvider,
        uri: &str,
        user: &str,
    ) -> Answer
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let mut next = uri.to_owned();
        for _ in 0..10 {
            let answer = self
                .send(svc, "GET", &next, &[("accept", "text/html")])
                .await;
            if answer.status != 302 {
                return answer;
            }
            let location = answer.location().to_owned();
            next = if location.starts_with(op.issuer()) {
                op.login(&location, user).unwrap().to_string()
            } else {
                location
            };
            // Our service is mounted at the root: keep path and query only.
            if let Ok(url) = url::Url::parse(&next) {
                next = url[url::Position::BeforePath..].to_owned();
            }
        }
        panic!("too many redirects");
    }
}

/// Answers through the provider after `delay`, so concurrent requests overlap.
#[derive(Debug)]
pub(crate) struct Slow(pub(crate) DevProvider, pub(crate) std::time::Duration);

impl oidc_core::http::HttpClient for Slow {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
    ) -> oidc_core::http::BoxFuture<'_, Result<Response<Vec<u8>>, oidc_core::http::HttpError>> {
        Box::pin(async move {
            tokio::time::sleep(self.1).await;
            self.0.execute(request).await
        })
    }
}

/// The provider, except that one refresh, once armed, stops at the provider until
/// released: a test ends the session exactly while a refresh is in flight.
#[derive(Debug, Clone)]
pub(crate) struct PausedRefresh {
    op: DevProvider,
    armed: Arc<std::sync::atomic::AtomicBool>,
    reached: Arc<tokio::sync::Notify>,
    go: Arc<tokio::sync::Notify>,
}

impl PausedRefresh {
    pub(crate) fn new(op: &DevProvider) -> PausedRefresh {
        PausedRefresh {
            op: op.clone(),
            armed: Arc::default(),
            reached: Arc::default(),
            go: Arc::default(),
        }
    }

    /// The next refresh stops at the provider.
    pub(crate) fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until the armed refresh has reached the provider.
    pub(crate) async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the stopped refresh go on.
    pub(crate) fn release(&self) {
        self.go.notify_one();
    }
}

impl oidc_core::http::HttpClient for PausedRefresh {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
    ) -> oidc_core::http::BoxFuture<'_, Result<Response<Vec<u8>>, oidc_core::http::HttpError>> {
        Box::pin(async move {
            let is_refresh = request
                .body()
                .windows(b"grant_type=refresh_token".len())
                .any(|w| w == b"grant_type=refresh_token");
            if is_refresh && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.reached.notify_one();
                self.go.notified().await;
            }
            self.op.execute(request).await
        })
    }
}

/// Runs `n` requests at once on this thread and returns their answers in order (a
/// LocalSet, as the services' types are not named `Send` in the tests).
pub(crate) async fn concurrently<F, Fut>(n: usize, make: F) -> Vec<Answer>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Answer> + 'static,
{
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let tasks: Vec<_> = (0..n).map(|i| tokio::task::spawn_local(make(i))).collect();
            let mut answers = Vec::with_capacity(n);
            for task in tasks {
                answers.push(task.await.unwrap());
            }
            answers
        })
        .await
}

/// Collects what `tracing` writes.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    /// Captures events at `level` and above on this thread until the guard drops.
    pub(crate) fn capture(level: tracing::Level) -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (logs.clone(), tracing::subscriber::set_default(subscriber))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub(crate) fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// The SSO middleware for `config` in front of [`app`].
pub(crate) fn sso_app(
    config: tower_sso::SsoConfig,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = Infallible,
> + Clone {
    use tower::Layer as _;
    tower_sso::SsoLayer::new(tower_sso::Sso::new(config).unwrap()).layer(tower::service_fn(app))
}
