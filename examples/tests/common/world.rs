//! A gateway in this process, in front of a local upstream, with the development provider
//! served on loopback; and an HTTP login through it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Frame, Incoming};
use oidc_core::testing::DevProvider;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A cookie secret for the tests' gateways.
pub(crate) const COOKIE_SECRET: &str = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=";

/// The development provider on a loopback port.
pub(crate) struct Idp {
    pub(crate) provider: DevProvider,
    pub(crate) issuer: String,
    task: JoinHandle<()>,
}

impl Idp {
    pub(crate) async fn start() -> Idp {
        let (provider, issuer, task) = examples::dev_idp::start_on_loopback().await.unwrap();
        Idp {
            provider,
            issuer,
            task,
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type UpBody = http_body_util::Either<Full<Bytes>, Chunks>;

/// A streamed body: `left` chunks of `size` bytes.
pub(crate) struct Chunks {
    left: usize,
    size: usize,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
    }
}

/// The upstream: `/slow` waits 5 s; `/big` streams 8 MiB; an `Upgrade` request switches
/// protocols and echoes bytes; anything else answers JSON with the method, path, query,
/// headers and the request body's length.
async fn upstream(req: http::Request<Incoming>) -> Result<http::Response<UpBody>, Infallible> {
    let json = |v: serde_json::Value| {
        let mut r = http::Response::new(UpBody::Left(Full::new(Bytes::from(v.to_string()))));
        r.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        r
    };
    if req.headers().contains_key(http::header::UPGRADE) {
        let mut req = req;
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(io) = on.await {
                let mut io = hyper_util::rt::TokioIo::new(io);
                let (mut r, mut w) = tokio::io::split(&mut io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut r = http::Response::new(UpBody::Left(Full::new(Bytes::new())));
        *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
        r.headers_mut()
            .insert("connection", "upgrade".parse().unwrap());
        r.headers_mut()
            .insert("upgrade", req.headers()["upgrade"].clone());
        return Ok(r);
    }
    match req.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(json(serde_json::json!({"slow": true})))
        }
        "/open/big" => Ok(http::Response::new(UpBody::Right(Chunks {
            left: 128,
            size: 64 * 1024,
        }))),
        _ => {
            let (parts, body) = req.into_parts();
            let len = body
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or("?").to_owned().into(),
                    )
                })
                .collect();
            Ok(json(serde_json::json!({
                "method": parts.method.as_str(), "path": parts.uri.path(),
                "query": parts.uri.query(), "headers": headers, "body_len": len,
            })))
        }
    }
}

/// Starts the upstream on a loopback port.
pub(crate) async fn start_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(upstream),
                    )
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// A gateway served by this process.
pub(crate) struct Running {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    pub(crate) gateway: examples::gateway::Gateway,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Running {
    /// Stops accepting and waits for the server to drain.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("the gateway drains within its bound")
            .unwrap()
            .unwrap();
    }
}

/// Options for a gateway at `addr` in front of `upstream`, for the provider at `issuer`,
/// with `extra` options (config-file names) over them.
pub(crate) fn options(
    addr: SocketAddr,
    issuer: &str,
    upstream: &str,
    extra: serde_json::Value,
) -> examples::flags::Options {
    let mut map = serde_json::json!({
        "http_address": addr.to_string(),
        "upstreams": [upstream],
        "provider": "oidc",
        "oidc_issuer_url": issuer,
        "client_id": "dev-client",
        "client_secret": "dev-secret",
        "redirect_url": format!("http://{addr}/oauth2/callback"),
        "cookie_secret": COOKIE_SECRET,
        "email_domains": ["*"],
        "request_logging": false,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        map[k] = v;
    }
    examples::flags::Options::from_map(map.as_object().unwrap().clone()).unwrap()
}

/// Starts a gateway (see [`options`]) and waits until it is ready.
pub(crate) async fn start_gateway(
    issuer: &str,
    upstream: &str,
    extra: serde_json::Value,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = examples::gateway::Gateway::build(options(addr, issuer, upstream, extra))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.clone().serve(listener, None, None, async move {
        let _ = stopped.await;
    }));
    let running = Running {
        url: format!("http://{addr}"),
        addr,
        gateway,
        stop: Some(stop),
        task,
    };
    // A listener that answers checks has no /ready of its own (a check for /ready is a
    // check): ask the gateway.
    for _ in 0..100 {
        if running.gateway.is_ready() {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not become ready");
}

/// A client that follows no redirects and keeps no cookies.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `name=value` of every `Set-Cookie` that sets (not deletes) a cookie.
pub(crate) fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.contains("Max-Age=0"))
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect()
}

/// Logs `user` in through the gateway at `url` as a browser would; returns the session's
/// `Cookie` header.
pub(crate) async fn login(
    client: &reqwest::Client,
    url: &str,
    idp: &DevProvider,
    user: &str,
) -> String {
    let start = client
        .get(format!("{url}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "a browser is sent to the provider");
    let state = set_cookies(&start).join("; ");
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = idp.login(&authorize, user).unwrap();
    let back = client
        .get(callback.as_str())
        .header("accept", "text/html")
        .header("cookie", state)
        .send()
        .await
        .unwrap();
    assert_eq!(
        back.status(),
        302,
        "{}",
        back.text().await.unwrap_or_default()
    );
    let session = set_cookies(&back);
    assert!(
        session.iter().any(|c| c.starts_with("_oauth2_proxy")),
        "a session cookie: {session:?}"
    );
    session
        .into_iter()
        .filter(|c| !c.contains("_csrf_"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sends raw bytes and returns the status code of the answer (0: the connection closed
/// without one).
pub(crate) async fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends raw bytes (end them with `Connection: close`) and returns everything the gateway
/// answers until it closes the connection, lossily as text.
pub(crate) async fn raw_answer(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// GET `url` with `headers`; the status and the JSON body (or the text as a JSON string).
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut request = client.get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
