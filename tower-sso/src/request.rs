//! From `http` requests to authz-policy's request attributes.

use std::net::SocketAddr;

use authz_policy::request::Headers;
use http::request::Parts;

/// The client's address, as a request extension: servers put it there (the `examples`
/// gateway does; with axum, copy `ConnectInfo<SocketAddr>` into it). Policies read it as
/// `source.ip` / `ipBlocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The original client's address when the connection comes from a trusted proxy (taken
/// from its `X-Forwarded-For`), as a request extension. Policies read it as `remote.ip` /
/// `remoteIpBlocks`; absent, they use [`ClientAddr`]. Only a server that decided whom to
/// trust may set it: the `examples` gateway does, for peers in `--trusted-proxy-ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub std::net::IpAddr);

/// The mTLS peer identity of the connection (`cluster.local/ns/foo/sa/bar`), as a request
/// extension, for `principals` and `namespaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPrincipal(pub String);

/// The attributes of `parts` for policy evaluation; `port` is the server's own port.
pub(crate) fn attributes(parts: &Parts, port: Option<u16>) -> authz_policy::Request<'_> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut request = authz_policy::Request::new(parts.method.as_str(), path);
    request.host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    request.port = port;
    request.headers = Headers::Map(&parts.headers);
    request.peer.ip = parts.extensions.get::<ClientAddr>().map(|c| c.0.ip());
    request.peer.remote_ip = parts.extensions.get::<RemoteAddr>().map(|r| r.0);
    request.peer.principal = parts
        .extensions
        .get::<PeerPrincipal>()
        .map(|p| p.0.as_str());
    request
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
