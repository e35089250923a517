//! The reverse proxy: forwards a request to the upstream with hyper's pooled client,
//! streaming both bodies, tunnelling WebSocket upgrades (with an idle and a total
//! lifetime), setting `X-Forwarded-*` and `Forwarded`, removing hop-by-hop headers; 502
//! when the upstream cannot be reached, 504 when it does not answer in time.
//!
//! It expects requests prepared by [`crate::ingress`]: the client's `Connection` list is
//! consumed there, so nothing a client sends can remove a header the layers set.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tower_sso::request::ClientAddr;

use crate::ingress::{HOP_BY_HOP, TrustedHop, WebSocketUpgrade, websocket_headers};

/// A WebSocket tunnel closes after this long without a byte either way.
pub const TUNNEL_IDLE: Duration = Duration::from_secs(15 * 60);
/// A WebSocket tunnel closes after this long whatever happens (sessions end; a tunnel
/// must not outlive the login that opened it by days).
pub const TUNNEL_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The body of a proxied response: the upstream's, streamed, or ours.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Marks a response that came from the upstream (for the request metrics).
#[derive(Debug, Clone, Copy)]
pub struct FromUpstream;

/// The proxy to one upstream origin. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Incoming>,
    scheme_authority: (http::uri::Scheme, http::uri::Authority),
    timeout: Duration,
    pass_host_header: bool,
    session_cookie: Option<String>,
}

/// Removes the hop-by-hop headers of an upstream's response, including those its
/// `Connection` names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

impl Proxy {
    /// A proxy to `upstream` (an `http://host:port` origin).
    pub fn new(
        upstream: &url::Url,
        timeout: Duration,
        pass_host_header: bool,
    ) -> Result<Proxy, String> {
        let authority = upstream
            .host_str()
            .map(|h| match upstream.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
            .ok_or("the upstream has no host")?;
        let authority = http::uri::Authority::try_from(authority).map_err(|e| e.to_string())?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            // Idle upstream connections kept after a burst; more are opened while busy.
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Proxy {
            client,
            scheme_authority: (http::uri::Scheme::HTTP, authority),
            timeout,
            pass_host_header,
            session_cookie: None,
        })
    }

    /// Removes the gateway's own cookies (`name`, its chunks `name_0`, `name_1`, ... and
    /// login states `name_csrf_*`) from requests sent upstream: the sealed session stays
    /// at the edge, and the upstream gets the identity headers instead.
    #[must_use]
    pub fn strip_session_cookie(mut self, name: &str) -> Self {
        self.session_cookie = Some(name.to_owned());
        self
    }

    /// Works on bytes: a `Cookie` value with a byte that is not text still has its pairs
    /// read, so our cookie cannot ride upstream next to one (CVE-2023-28625's class:
    /// odd `Cookie` headers are parsed, never skipped).
    fn remove_session_cookies(&self, headers: &mut HeaderMap) {
        let Some(ours) = self.session_cookie.as_deref() else {
            return;
        };
        let is_ours = |pair: &[u8]| {
            let name = pair
                .split(|b| *b == b'=')
                .next()
                .unwrap_or(b"")
                .trim_ascii();
            name == ours.as_bytes()
                || name
                    .strip_prefix(ours.as_bytes())
                    .is_some_and(|rest| rest.starts_with(b"_"))
        };
        let cookies: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
        let pairs = || {
            cookies
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
                .map(<[u8]>::trim_ascii)
        };
        if !pairs().any(is_ours) {
            return;
        }
        headers.remove(header::COOKIE);
        let kept: Vec<&[u8]> = pairs()
            .filter(|pair| !pair.is_empty() && !is_ours(pair))
            .collect();
        if !kept.is_empty()
            && let Ok(v) = HeaderValue::from_bytes(&kept.join(&b"; "[..]))
        {
            headers.insert(header::COOKIE, v);
        }
    }

    /// Sets the forwarding headers: `X-Forwarded-For` / `-Proto` / `-Host` and `Forwarded`
    /// (appended to when the client is a trusted proxy, else replaced).
    fn forwarding_headers(
        &self,
        headers: &mut HeaderMap,
        client: Option<SocketAddr>,
        host: &str,
        trusted: bool,
    ) {
        let ip = client.map(|a| a.ip().to_string());
        let xff = HeaderName::from_static("x-forwarded-for");
        // A trusted chain is extended as the bytes it is: a value that is not text is
        // still part of it, never dropped (that would hide the client behind the proxy).
        let mut chain: Vec<u8> = Vec::new();
        if trusted {
            for value in headers.get_all(&xff) {
                if !chain.is_empty() {
                    chain.extend_from_slice(b", ");
                }
                chain.extend_from_slice(value.as_bytes());
            }
        }
        if let Some(ip) = &ip {
            if !chain.is_empty() {
                chain.extend_from_slice(b", ");
            }
            chain.extend_from_slice(ip.as_bytes());
        }
        headers.remove(&xff);
        if !chain.is_empty()
            && let Ok(v) = HeaderValue::from_bytes(&chain)
        {
            headers.insert(xff, v);
        }
        let proto = HeaderName::from_static("x-forwarded-proto");
        let fwd_host = HeaderName::from_static("x-forwarded-host");
        if !(trusted && headers.contains_key(&proto)) {
            headers.insert(proto, HeaderValue::from_static("http"));
        }
        if !(trusted && headers.contains_key(&fwd_host))
            && let Ok(v) = HeaderValue::try_from(host)
        {
            headers.insert(fwd_host, v);
        }
        let node = match client.map(|a| a.ip()) {
            Some(std::net::IpAddr::V6(v6)) => format!("\"[{v6}]\""),
            Some(v4) => v4.to_string(),
            None => "unknown".into(),
        };
        let quoted_host = if host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            host.to_owned()
        } else {
            format!("\"{}\"", host.replace(['"', '\\'], ""))
        };
        let element = format!("for={node};host={quoted_host};proto=http");
        let mut forwarded: Vec<u8> = Vec::new();
        if trusted {
            for before in headers.get_all(header::FORWARDED) {
                forwarded.extend_from_slice(before.as_bytes());
                forwarded.extend_from_slice(b", ");
            }
        }
        forwarded.extend_from_slice(element.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&forwarded) {
            headers.insert(header::FORWARDED, v);
        }
    }

    /// Forwards `req` and returns the upstream's response (or 502/504).
    pub async fn forward(&self, mut req: Request<Incoming>) -> Response<ProxyBody> {
        let client_addr = req.extensions().get::<ClientAddr>().map(|c| c.0);
        let trusted = req.extensions().get::<TrustedHop>().is_some_and(|t| t.0);
        // The ingress made sure there is exactly one host, text or not.
        let host = req
            .headers()
            .get(header::HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let websocket = req.extensions().get::<WebSocketUpgrade>().is_some();
        let client_upgrade = websocket.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let (scheme, authority) = self.scheme_authority.clone();
        let Ok(uri) = http::Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query(path_and_query)
            .build()
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request target is invalid.",
            );
        };
        parts.uri = uri;
        parts.version = http::Version::HTTP_11;
        // The client's Connection list was consumed at ingress; what is left of the
        // hop-by-hop family (a layer never sets one) goes.
        for name in HOP_BY_HOP {
            parts.headers.remove(name);
        }
        self.remove_session_cookies(&mut parts.headers);
        self.forwarding_headers(&mut parts.headers, client_addr, &host, trusted);
        // The host the policies judged goes upstream (--pass-host-header), set explicitly:
        // without it the client would fill in the upstream's own address.
        let upstream_host = if self.pass_host_header {
            host.as_str()
        } else {
            authority.as_str()
        };
        if let Ok(v) = HeaderValue::try_from(upstream_host)
            && !upstream_host.is_empty()
        {
            parts.headers.insert(header::HOST, v);
        }
        if websocket {
            websocket_headers(&mut parts.headers);
        }
        let request = Request::from_parts(parts, body);
        let started = std::time::Instant::now();
        let mut response = match tokio::time::timeout(self.timeout, self.client.request(request))
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let reason = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string());
                tracing::warn!(upstream = %authority, error = %reason, "upstream unreachable");
                return error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    &format!("The upstream service cannot be reached ({reason})."),
                );
            }
            Err(_) => {
                tracing::warn!(upstream = %authority, timeout = ?self.timeout, "upstream timed out");
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway_timeout",
                    &format!(
                        "The upstream service did not answer within {} s.",
                        self.timeout.as_secs_f64()
                    ),
                );
            }
        };
        metrics::histogram!("gateway_upstream_response_seconds")
            .record(started.elapsed().as_secs_f64());
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let upstream_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await)
                else {
                    return;
                };
                let ended = tunnel(
                    TokioIo::new(client),
                    TokioIo::new(upstream),
                    TUNNEL_IDLE,
                    TUNNEL_LIFETIME,
                )
                .await;
                tracing::debug!(?ended, "websocket tunnel closed");
            });
            let (mut parts, _) = response.into_parts();
            let upgrade = parts.headers.get(header::UPGRADE).cloned();
            remove_hop_by_hop(&mut parts.headers);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Some(u) = upgrade {
                parts.headers.insert(header::UPGRADE, u);
            }
            parts.extensions.insert(FromUpstream);
            return Response::from_parts(parts, Either::Right(Full::new(Bytes::new())));
        }
        remove_hop_by_hop(response.headers_mut());
        response.extensions_mut().insert(FromUpstream);
        response.map(Either::Left)
    }
}

/// Why a tunnel ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEnd {
    /// One side closed (or failed).
    Closed,
    /// No byte went either way for the idle time.
    Idle,
    /// The total lifetime passed.
    Lifetime,
}

/// Copies bytes both ways between `a` and `b` until one side closes, nothing moves for
/// `idle`, or `lifetime` has passed; then shuts both down.
pub async fn tunnel<A, B>(mut a: A, mut b: B, idle: Duration, lifetime: Duration) -> TunnelEnd
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + lifetime;
    let (mut from_a, mut from_b) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let end = loop {
        let idle_until = (tokio::time::Instant::now() + idle).min(deadline);
        let moved = tokio::select! {
            n = a.read(&mut from_a) => match n {
                Ok(0) | Err(_) => None,
                Ok(n) => b.write_all(&from_a[..n]).await.ok(),
            },
            n = b.read(&mut from_b) => match n {
                Ok(0) | Err(_) => None,
                Ok(n) => a.write_all(&from_b[..n]).await.ok(),
            },
            () = tokio::time::sleep_until(idle_until) => {
                break if tokio::time::Instant::now() >= deadline {
                    TunnelEnd::Lifetime
                } else {
                    TunnelEnd::Idle
                };
            }
        };
        if moved.is_none() {
            break TunnelEnd::Closed;
        }
    };
    let _ = a.shutdown().await;
    let _ = b.shutdown().await;
    end
}

/// A short JSON error (the SSO layer's pages are for its own answers; these come from the
/// proxy, whose callers may be browsers or APIs alike).
fn error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    tower_sso::sso::respond::json(
        status,
        &serde_json::json!({"error": code, "message": message}),
    )
    .map(Either::Right)
}

/// Reads a whole body (tests and small upstream answers).
pub async fn collect(body: ProxyBody) -> Result<Bytes, String> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(
            header::PROXY_AUTHORIZATION,
            HeaderValue::from_static("Basic x"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn the_gateways_cookies_stay_at_the_edge() {
        let proxy = proxy().strip_session_cookie("_oauth2_proxy");
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; _oauth2_proxy_0=aaa; _oauth2_proxy_1=bbb"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("_oauth2_proxy_csrf_12=x; lang=en; _oauth2_proxyish=keep"),
        );
        proxy.remove_session_cookies(&mut h);
        assert_eq!(
            h[header::COOKIE],
            "theme=dark; lang=en; _oauth2_proxyish=keep"
        );
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, HeaderValue::from_static("_oauth2_proxy=s"));
        proxy.remove_session_cookies(&mut only);
        assert!(!only.contains_key(header::COOKIE));
    }

    fn proxy() -> Proxy {
        Proxy::new(
            &url::Url::parse("http://127.0.0.1:9/").unwrap(),
            Duration::from_secs(1),
            true,
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_tunnel_ends_when_idle_and_at_its_lifetime_however_busy() {
        let idle = Duration::from_secs(60);
        let (client, mut client_end) = tokio::io::duplex(64);
        let (upstream, _upstream_end) = tokio::io::duplex(64);
        let quiet = tokio::spawn(tunnel(client, upstream, idle, Duration::from_secs(3600)));
        tokio::time::sleep(Duration::from_secs(61)).await;
        assert_eq!(quiet.await.unwrap(), TunnelEnd::Idle);
        let mut byte = [0u8; 1];
        assert_eq!(client_end.read(&mut byte).await.unwrap(), 0, "shut down");

        // A chatty tunnel still ends at its lifetime.
        let (client, mut client_end) = tokio::io::duplex(64);
        let (upstream, mut upstream_end) = tokio::io::duplex(64);
        let busy = tokio::spawn(tunnel(client, upstream, idle, Duration::from_secs(300)));
        let chat = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                if client_end.write_all(b"x").await.is_err()
                    || upstream_end.read(&mut buf).await.unwrap_or(0) == 0
                {
                    return;
                }
            }
        });
        assert_eq!(busy.await.unwrap(), TunnelEnd::Lifetime);
        chat.abort();
    }

    #[tokio::test]
    async fn a_tunnel_copies_both_ways_until_a_side_closes() {
        let (client, mut client_end) = tokio::io::duplex(64);
        let (upstream, mut upstream_end) = tokio::io::duplex(64);
        let t = tokio::spawn(tunnel(
            client,
            upstream,
            Duration::from_secs(60),
            Duration::from_secs(60),
        ));
        client_end.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        upstream_end.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        upstream_end.write_all(b"pong").await.unwrap();
        client_end.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        drop(client_end);
        assert_eq!(t.await.unwrap(), TunnelEnd::Closed);
    }

    #[test]
    fn a_trusted_chain_that_is_not_text_is_extended_not_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap(),
        );
        let client = Some(SocketAddr::from(([10, 0, 0, 7], 5555)));
        proxy().forwarding_headers(&mut h, client, "app.example.com", true);
        assert_eq!(
            h["x-forwarded-for"].as_bytes(),
            b"\xff, 203.0.113.9, 10.0.0.7"
        );
    }

    #[test]
    fn forwarding_headers_replace_a_clients_unless_trusted() {
        let client = Some(SocketAddr::from(([10, 0, 0, 7], 5555)));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        let mut untrusted = h.clone();
        proxy().forwarding_headers(&mut untrusted, client, "app.example.com", false);
        assert_eq!(untrusted["x-forwarded-for"], "10.0.0.7");
        assert_eq!(untrusted["x-forwarded-host"], "app.example.com");
        assert_eq!(untrusted["x-forwarded-proto"], "http");
        assert_eq!(
            untrusted[header::FORWARDED],
            "for=10.0.0.7;host=app.example.com;proto=http"
        );
        let mut trusted = h;
        proxy().forwarding_headers(&mut trusted, client, "app.example.com", true);
        assert_eq!(trusted["x-forwarded-for"], "6.6.6.6, 10.0.0.7");
        assert_eq!(trusted["x-forwarded-host"], "evil.example");
        assert_eq!(
            trusted[header::FORWARDED],
            "for=6.6.6.6, for=10.0.0.7;host=app.example.com;proto=http"
        );
        let mut v6 = HeaderMap::new();
        proxy().forwarding_headers(&mut v6, Some("[::1]:80".parse().unwrap()), "h:8080", false);
        assert_eq!(
            v6[header::FORWARDED],
            "for=\"[::1]\";host=\"h:8080\";proto=http"
        );
    }
}
