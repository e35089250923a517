//! What the gateway does with a request before any layer sees it: decide whom to believe
//! about the client's address, consume the client's hop-by-hop headers, and drop every
//! header a client must not supply.
//!
//! Who controls what:
//! - The TCP peer address is the only address we know first-hand (`source.ip`).
//! - `X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `X-Forwarded-Proto/-Host/-Port/-Prefix/
//!   -Uri/-Server`, `X-Original-URL`, `X-Rewrite-URL` are written by whoever sent the
//!   request: they are believed only from a peer in `--trusted-proxy-ip` (with
//!   `--reverse-proxy`), and dropped otherwise.
//! - `x-envoy-*` headers are Envoy's instructions between hops it trusts (retries,
//!   timeouts, `x-envoy-original-path`, `x-envoy-internal`): the sidecars behind the
//!   gateway treat its private address as internal and would obey a client's copy
//!   (Envoy's CVE-2024-45806). They are kept from a trusted proxy only.
//! - The identity headers (the SSO layer's, `X-Auth-Request-*`, the policies' JWT output
//!   headers) are only ever written by us: a client's copy is dropped under any spelling.
//! - `Connection` and the headers it names describe the client's own hop: they are
//!   consumed here, so they can never remove a header a layer sets later.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName, HeaderValue, Request, header};
use ipnet::IpNet;
use tower_sso::request::{ClientAddr, RemoteAddr};
use tower_sso::sso::headers::{OwnHeaders, has_prefix, same_name};

/// Headers about one connection, not the message (RFC 9110 7.6.1), plus the proxy ones.
pub(crate) const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Forwarding headers: believed from trusted proxies only.
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-real-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-method",
];

/// Every `X-Forwarded-*` header (`-For`, `-Proto`, `-Host`, `-Port`, `-Prefix`, `-Uri`,
/// `-Server`, ...).
const FORWARDING_PREFIX: &str = "x-forwarded-";

/// The forwarding headers believed from a trusted proxy, under exactly these names: the
/// client chain and the original scheme, host and port. Everything else of the family
/// (`X-Forwarded-Uri`, `X-Original-URL`, `x-envoy-*`, ...) overrides what the request
/// says it is, and a proxy in front passes a client's copy on unchanged: dropped from
/// every peer.
const TRUSTED_FORWARDING: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
];

/// Envoy's hop-to-hop instructions (`x-envoy-internal`, `x-envoy-original-path`,
/// `x-envoy-retry-on`, `x-envoy-upstream-rq-timeout-ms`, `x-envoy-external-address`, ...).
const ENVOY_PREFIX: &str = "x-envoy-";

/// Whether the request came through a trusted proxy, for the reverse proxy: its
/// forwarding headers are extended, else replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedHop(pub bool);

/// The client asked to switch to WebSocket (`Connection: upgrade`, `Upgrade: websocket`);
/// no other protocol is tunnelled (never `h2c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketUpgrade;

/// The ingress rules of one gateway.
#[derive(Debug, Clone)]
pub struct Ingress {
    trusted: Vec<IpNet>,
    own: OwnHeaders,
}

impl Ingress {
    /// `trusted`: the proxies whose forwarding headers are believed (empty: nobody);
    /// `own`: the headers only the gateway writes.
    pub fn new(trusted: Vec<IpNet>, own: OwnHeaders) -> Self {
        Self { trusted, own }
    }

    /// True when `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Prepares `req` from `peer` for the layers: the client's hop-by-hop headers
    /// consumed, forwarding headers kept only from a trusted proxy, identity headers
    /// dropped; the peer ([`ClientAddr`]), the original client behind trusted proxies
    /// ([`RemoteAddr`]), [`TrustedHop`] and [`WebSocketUpgrade`] in its extensions.
    ///
    /// `Err` (answer 400) for a request whose target host is ambiguous: two `Host`
    /// headers, or a `Host` that differs from the authority of the request target. Policies
    /// would read one and an upstream might serve the other.
    pub fn prepare<B>(&self, req: &mut Request<B>, peer: SocketAddr) -> Result<(), Ambiguous> {
        one_target(req)?;
        one_host(req)?;
        let websocket = consume_hop_by_hop(req.headers_mut());
        let headers = req.headers_mut();
        let trusted = self.trusts(peer.ip());
        let remote = if trusted {
            // Even from a trusted proxy, only the headers we read, under their own names
            // (`X_Forwarded_For` is not the one we read, and an upstream could).
            strip_forwarding(headers, |n| !TRUSTED_FORWARDING.contains(&n));
            self.original_client(headers, peer.ip())
        } else {
            strip_forwarding(headers, |_| true);
            canonical(peer.ip())
        };
        self.own.strip(headers);
        let extensions = req.extensions_mut();
        extensions.insert(ClientAddr(SocketAddr::new(
            canonical(peer.ip()),
            peer.port(),
        )));
        extensions.insert(RemoteAddr(remote));
        extensions.insert(TrustedHop(trusted));
        if websocket {
            extensions.insert(WebSocketUpgrade);
        }
        Ok(())
    }

    /// The original client behind a trusted `peer`: `X-Forwarded-For` read from the right,
    /// skipping trusted proxies; the first address that is not one is the client. An entry
    /// that is not an address stops the walk at the last hop we could believe.
    fn original_client(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let chain: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.as_bytes().split(|b| *b == b','))
            .collect();
        let mut client = canonical(peer);
        for entry in chain.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match parse_hop(entry) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, IPv6 optionally in brackets, an IPv4 with a
/// port tolerated (`1.2.3.4:5678`).
fn parse_hop(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .map(|(ip, _)| ip)
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .ok()
        .or_else(|| bare.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// An IPv4-mapped IPv6 address as IPv4 (a dual-stack listener sees `::ffff:10.0.0.1`).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The request's target host is ambiguous (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ambiguous(pub &'static str);

/// A path that starts with `/` (or `*` for `OPTIONS`), as Envoy requires: `GET admin` or
/// an authority-form target would be read as `/` by some and as `admin` by others.
fn one_target<B>(req: &Request<B>) -> Result<(), Ambiguous> {
    let target = req.uri().path_and_query().map_or("", |p| p.as_str());
    let asterisk = req.method() == http::Method::OPTIONS && target == "*";
    if !target.starts_with('/') && !asterisk {
        return Err(Ambiguous("the request target is not a path"));
    }
    Ok(())
}

/// Exactly one host: one `Host` or an authority (absolute form, HTTP/2 `:authority`), the
/// two equal (ASCII case ignored) when both are there, and no user information in it.
fn one_host<B>(req: &Request<B>) -> Result<(), Ambiguous> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Ambiguous("more than one Host header"));
    }
    if host.is_none() && req.uri().authority().is_none() {
        return Err(Ambiguous("no Host header"));
    }
    if host.is_some_and(|h| h.as_bytes().contains(&b'@'))
        || req
            .uri()
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
    {
        return Err(Ambiguous("user information in the host"));
    }
    if let (Some(host), Some(authority)) = (host, req.uri().authority())
        && !host
            .as_bytes()
            .eq_ignore_ascii_case(authority.as_str().as_bytes())
    {
        return Err(Ambiguous("the Host header differs from the request target"));
    }
    Ok(())
}

/// Removes the hop-by-hop headers and those the client's `Connection` names; true when
/// the client asked for a WebSocket upgrade.
fn consume_hop_by_hop(headers: &mut HeaderMap) -> bool {
    let mut asks_upgrade = false;
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.eq_ignore_ascii_case(b"upgrade") {
                asks_upgrade = true;
            } else if let Ok(name) = HeaderName::from_bytes(token) {
                named.push(name);
            }
        }
    }
    let websocket = asks_upgrade && {
        let mut upgrades = headers.get_all(header::UPGRADE).iter();
        matches!(
            (upgrades.next(), upgrades.next()),
            (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"websocket")
        )
    };
    // The client's Connection list is about its own hop: it never removes the host or
    // what a trusted proxy wrote about the client (Apache's CVE-2022-31813).
    for name in named.iter().filter(|n| !is_protected(n.as_str())) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    websocket
}

/// Headers a `Connection` list may not name away.
fn is_protected(name: &str) -> bool {
    name == "host" || has_prefix(name, FORWARDING_PREFIX) || same_name(name, "forwarded")
}

/// Drops the forwarding and `x-envoy-*` headers (under any spelling) whose name `also`
/// accepts.
fn strip_forwarding(headers: &mut HeaderMap, also: impl Fn(&str) -> bool) {
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            (has_prefix(n, FORWARDING_PREFIX)
                || has_prefix(n, ENVOY_PREFIX)
                || FORWARDING.iter().any(|f| same_name(n, f)))
                && also(n)
        })
        .cloned()
        .collect();
    for name in &drop {
        headers.remove(name);
    }
}

/// The `Upgrade` request headers for the upstream of a WebSocket request.
pub(crate) fn websocket_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

#[cfg(test)]
mod tests;
