//! The attributes of one request, as plain borrowed data any HTTP stack or a CLI can fill.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The request's headers: a list of name/value pairs (names in any case; a repeated header
/// is several pairs), or an `http::HeaderMap`.
///
/// Values are bytes, as Envoy compares them: a value that is not visible ASCII (an
/// `http::HeaderValue` may carry any byte but controls) is still a value, never absent.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Headers<'a> {
    /// Name/value pairs.
    Pairs(&'a [(&'a str, &'a str)]),
    /// An `http` header map.
    Map(&'a http::HeaderMap),
}

impl Default for Headers<'_> {
    fn default() -> Self {
        Headers::Pairs(&[])
    }
}

impl<'a> Headers<'a> {
    /// Every value of header `name` (case-insensitive), in order, as bytes.
    pub fn get_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        let (pairs, map): (&'a [(&'a str, &'a str)], Option<&'a http::HeaderMap>) = match *self {
            Headers::Pairs(p) => (p, None),
            Headers::Map(m) => (&[], Some(m)),
        };
        let from_pairs = pairs
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes());
        let from_map = map
            .into_iter()
            .flat_map(move |m| m.get_all(name).iter())
            .map(http::HeaderValue::as_bytes);
        from_pairs.chain(from_map)
    }

    /// The header's values joined with `,` as Envoy matches a repeated header, or `None`.
    pub fn joined(&self, name: &str) -> Option<std::borrow::Cow<'a, [u8]>> {
        let mut values = self.get_all(name);
        let first = values.next()?;
        match values.next() {
            None => Some(std::borrow::Cow::Borrowed(first)),
            Some(second) => {
                let mut joined = first.to_vec();
                for v in std::iter::once(second).chain(values) {
                    joined.push(b',');
                    joined.extend_from_slice(v);
                }
                Some(std::borrow::Cow::Owned(joined))
            }
        }
    }
}

/// The peer and client of the request.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Peer<'a> {
    /// The direct peer address (`source.ip`, `ipBlocks`).
    pub ip: Option<IpAddr>,
    /// The original client address (`remote.ip`, `remoteIpBlocks`); absent: the peer.
    pub remote_ip: Option<IpAddr>,
    /// The mTLS peer identity, e.g. `cluster.local/ns/foo/sa/sleep` (a `spiffe://` prefix
    /// is accepted). Absent on plaintext connections: `principals`, `namespaces`,
    /// `serviceAccounts` then never match.
    pub principal: Option<&'a str>,
}

/// One HTTP request as authorization sees it.
///
/// ```
/// use authz_policy::Request;
/// let headers = [("authorization", "Bearer abc"), ("x-env", "prod")];
/// let mut request = Request::new("GET", "/headers?a=b");
/// request.host = Some("httpbin.foo:8000");
/// request.port = Some(8000);
/// request.headers = authz_policy::request::Headers::Pairs(&headers);
/// assert_eq!(request.query(), Some("a=b"));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Request<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path` as received, with its query.
    pub path: &'a str,
    /// `:authority` verbatim, port included when the client sent one.
    pub host: Option<&'a str>,
    /// The destination (workload) port.
    pub port: Option<u16>,
    /// The destination address.
    pub destination_ip: Option<IpAddr>,
    /// The headers.
    pub headers: Headers<'a>,
    /// The raw query string; absent: the part of `path` after `?`.
    pub query_string: Option<&'a str>,
    /// Who sends it.
    pub peer: Peer<'a>,
    /// The TLS SNI (`connection.sni`).
    pub sni: Option<&'a str>,
    /// The time for token checks, seconds since the epoch; absent: the wall clock.
    pub now: Option<i64>,
}

impl<'a> Request<'a> {
    /// A request with a method and a path, everything else absent.
    pub fn new(method: &'a str, path: &'a str) -> Self {
        Self {
            method,
            path,
            ..Self::default()
        }
    }

    /// The raw query string.
    pub fn query(&self) -> Option<&'a str> {
        self.query_string.or_else(|| {
            self.path
                .split_once('?')
                .map(|(_, q)| q.split('#').next().unwrap_or(q))
        })
    }

    /// The client address for `remote.ip`: `peer.remote_ip`, else `peer.ip`.
    pub fn remote_ip(&self) -> Option<IpAddr> {
        self.peer.remote_ip.or(self.peer.ip)
    }
}

/// The workload a request is for: its namespace and labels (and, for a Gateway API gateway,
/// the label `gateway.networking.k8s.io/gateway-name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// The namespace.
    pub namespace: String,
    /// The pod labels.
    pub labels: BTreeMap<String, String>,
}

impl Workload {
    /// A workload in `namespace` with `labels`.
    pub fn new<I, K, V>(namespace: &str, labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            namespace: namespace.to_owned(),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The Gateway API gateway this workload runs, if any.
    pub fn gateway_name(&self) -> Option<&str> {
        self.labels
            .get("gateway.networking.k8s.io/gateway-name")
            .map(String::as_str)
    }
}
