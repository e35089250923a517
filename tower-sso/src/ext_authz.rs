//! A remote HTTP authorization service for CUSTOM policies, with the semantics of Istio's
//! `envoyExtAuthzHttp` extension provider (so an existing oauth2-proxy, or our gateway in
//! ext_authz mode, can stay the decision maker).
//!
//! For each request a CUSTOM rule matches, a check request goes to
//! `service + path_prefix + original path`, with the original method, `Host`, an empty
//! body, and the client headers the configuration includes. A `200 OK` allows: the
//! listed headers of the answer are copied onto the upstream request (and onto the
//! client's response). Any other status denies: the answer's status, headers and body go
//! to the client (a login redirect, a 401). When the service cannot be reached or does not
//! answer in time, the request is denied with `status_on_error` (403), or allowed with
//! `fail_open`.
//!
//! Knowingly different from Istio: the default `timeout` is 10 s (Istio: 600 s), and client
//! headers named by `headersToUpstreamOnAllow` are removed before the authorizer's are set
//! (Envoy keeps a client's copy of a header the authorizer did not return).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use oidc_core::http::SharedHttpClient;
use url::Url;

use crate::error::ConfigError;
use crate::sso::headers::{has_prefix, same_name};
use crate::sso::respond::{self, Body};

/// A header-name pattern as Istio writes them: exact, `prefix*` or `*suffix`,
/// case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NamePattern(String);

impl NamePattern {
    fn matches(&self, name: &str) -> bool {
        let p = self.0.as_str();
        if let Some(prefix) = p.strip_suffix('*') {
            name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
        } else if let Some(suffix) = p.strip_prefix('*') {
            name.len() >= suffix.len()
                && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        } else {
            name.eq_ignore_ascii_case(p)
        }
    }

    /// The same match with `_` equal to `-`, as CGI-style servers read names: for the
    /// client headers an answer's headers replace (oauth2-proxy's CVE-2025-64484).
    fn matches_any_spelling(&self, name: &str) -> bool {
        let p = self.0.as_str();
        if let Some(prefix) = p.strip_suffix('*') {
            has_prefix(name, prefix)
        } else if let Some(suffix) = p.strip_prefix('*') {
            name.len() >= suffix.len()
                && name.is_char_boundary(name.len() - suffix.len())
                && same_name(&name[name.len() - suffix.len()..], suffix)
        } else {
            same_name(name, p)
        }
    }
}

fn patterns<S: AsRef<str>>(list: &[S]) -> Result<Vec<NamePattern>, ConfigError> {
    list.iter()
        .map(|p| {
            let p = p.as_ref();
            let bare = p.trim_start_matches('*').trim_end_matches('*');
            if bare.is_empty() || HeaderName::try_from(bare).is_err() || p.matches('*').count() > 1
            {
                return Err(ConfigError::Invalid {
                    what: "ext_authz header pattern",
                    reason: format!("{p:?}: a header name, `prefix*` or `*suffix`"),
                });
            }
            Ok(NamePattern(p.to_ascii_lowercase()))
        })
        .collect()
}

/// Istio's `envoyExtAuthzHttp` provider: where the authorization service is and which
/// headers cross in each direction. Cheap to clone.
#[derive(Clone)]
pub struct ExtAuthzHttp {
    inner: Arc<Config>,
}

struct Config {
    service: Url,
    path_prefix: String,
    include_request_headers: Vec<NamePattern>,
    additional_headers: Vec<(HeaderName, HeaderValue)>,
    to_upstream_on_allow: Vec<NamePattern>,
    to_downstream_on_allow: Vec<NamePattern>,
    to_downstream_on_deny: Vec<NamePattern>,
    timeout: Duration,
    fail_open: bool,
    status_on_error: StatusCode,
    http: SharedHttpClient,
}

impl std::fmt::Debug for ExtAuthzHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtAuthzHttp")
            .field("service", &self.inner.service.as_str())
            .field("path_prefix", &self.inner.path_prefix)
            .field("timeout", &self.inner.timeout)
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}

/// Builds an [`ExtAuthzHttp`]; the field names are Istio's.
#[derive(Debug, Clone)]
#[must_use]
pub struct ExtAuthzHttpBuilder {
    service: String,
    path_prefix: String,
    include_request_headers: Vec<String>,
    additional_headers: Vec<(String, String)>,
    to_upstream_on_allow: Vec<String>,
    to_downstream_on_allow: Vec<String>,
    to_downstream_on_deny: Vec<String>,
    timeout: Duration,
    fail_open: bool,
    status_on_error: u16,
    http: Option<SharedHttpClient>,
}

impl ExtAuthzHttp {
    /// A provider at `service`, a base URL such as
    /// `http://oauth2-proxy.istio-system.svc.cluster.local:4180` (Istio's `service` and
    /// `port`).
    pub fn builder(service: &str) -> ExtAuthzHttpBuilder {
        ExtAuthzHttpBuilder {
            service: service.to_owned(),
            path_prefix: String::new(),
            include_request_headers: Vec::new(),
            additional_headers: Vec::new(),
            to_upstream_on_allow: Vec::new(),
            to_downstream_on_allow: Vec::new(),
            to_downstream_on_deny: Vec::new(),
            timeout: Duration::from_secs(10),
            fail_open: false,
            status_on_error: 403,
            http: None,
        }
    }
}

impl ExtAuthzHttpBuilder {
    /// `pathPrefix`: prepended to the original path in the check request.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = prefix.to_owned();
        self
    }

    /// `includeRequestHeadersInCheck`: client headers sent with the check (besides `Host`;
    /// exact, `prefix*`, `*suffix`). oauth2-proxy needs `cookie` (and `authorization` for
    /// bearer callers).
    pub fn include_request_headers_in_check(mut self, names: &[&str]) -> Self {
        self.include_request_headers = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `includeAdditionalHeadersInCheck`: fixed headers added to every check.
    pub fn include_additional_headers_in_check(mut self, headers: &[(&str, &str)]) -> Self {
        self.additional_headers = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self
    }

    /// `headersToUpstreamOnAllow`: headers of an allowing answer set on the upstream
    /// request (none by default).
    pub fn headers_to_upstream_on_allow(mut self, names: &[&str]) -> Self {
        self.to_upstream_on_allow = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `headersToDownstreamOnAllow`: headers of an allowing answer added to the client's
    /// response (none by default), e.g. `set-cookie` for a refreshed session.
    pub fn headers_to_downstream_on_allow(mut self, names: &[&str]) -> Self {
        self.to_downstream_on_allow = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `headersToDownstreamOnDeny`: headers of a denying answer sent to the client (all
    /// but `Host` and hop-by-hop headers by default).
    pub fn headers_to_downstream_on_deny(mut self, names: &[&str]) -> Self {
        self.to_downstream_on_deny = names.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `timeout` for the check (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `failOpen`: allow when the service cannot be reached (default: deny).
    pub fn fail_open(mut self, on: bool) -> Self {
        self.fail_open = on;
        self
    }

    /// `statusOnError`: the status when the service cannot be reached (default 403).
    pub fn status_on_error(mut self, status: u16) -> Self {
        self.status_on_error = status;
        self
    }

    /// The HTTP client for the checks (default: oidc-core's reqwest client).
    pub fn http(mut self, http: SharedHttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the configuration.
    pub fn build(self) -> Result<ExtAuthzHttp, ConfigError> {
        let invalid = |what, reason: String| ConfigError::Invalid { what, reason };
        let service = Url::parse(&self.service)
            .map_err(|e| invalid("ext_authz service", format!("{:?}: {e}", self.service)))?;
        if !matches!(service.scheme(), "http" | "https") || service.query().is_some() {
            return Err(invalid(
                "ext_authz service",
                format!("{:?}: an http(s) URL without a query", self.service),
            ));
        }
        if !self.path_prefix.is_empty() && !self.path_prefix.starts_with('/') {
            return Err(invalid(
                "ext_authz pathPrefix",
                format!("{:?} must start with /", self.path_prefix),
            ));
        }
        let status_on_error = StatusCode::from_u16(self.status_on_error)
            .map_err(|_| invalid("ext_authz statusOnError", self.status_on_error.to_string()))?;
        let additional_headers = self
            .additional_headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::try_from(k.as_str()).map_err(|_| {
                    invalid(
                        "ext_authz includeAdditionalHeadersInCheck",
                        format!("{k:?}"),
                    )
                })?;
                let value = HeaderValue::try_from(v.as_str()).map_err(|_| {
                    invalid(
                        "ext_authz includeAdditionalHeadersInCheck",
                        format!("{k}: bad value"),
                    )
                })?;
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let http = match self.http {
            Some(http) => http,
            None => oidc_core::http::default_client()
                .map_err(|e| invalid("http client", e.to_string()))?,
        };
        Ok(ExtAuthzHttp {
            inner: Arc::new(Config {
                service,
                path_prefix: self.path_prefix.trim_end_matches('/').to_owned(),
                include_request_headers: patterns(&self.include_request_headers)?,
                additional_headers,
                to_upstream_on_allow: patterns(&self.to_upstream_on_allow)?,
                to_downstream_on_allow: patterns(&self.to_downstream_on_allow)?,
                to_downstream_on_deny: patterns(&self.to_downstream_on_deny)?,
                timeout: self.timeout,
                fail_open: self.fail_open,
                status_on_error,
                http,
            }),
        })
    }
}

/// The outcome of a check.
#[derive(Debug)]
pub enum Verdict {
    /// Allowed: headers to set on the upstream request and to add to the response.
    Allow {
        /// For the upstream request (replacing the client's).
        upstream: HeaderMap,
        /// For the client's response.
        downstream: HeaderMap,
    },
    /// Denied: the response for the client.
    Deny(Response<Body>),
}

/// Headers that describe a connection, not a message (RFC 9110 7.6.1), and framing.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
            | "host"
    )
}

fn copy_matching(from: &HeaderMap, patterns: &[NamePattern], to: &mut HeaderMap) {
    for name in from.keys() {
        if patterns.iter().any(|p| p.matches(name.as_str())) {
            to.remove(name);
            for value in from.get_all(name) {
                to.append(name.clone(), value.clone());
            }
        }
    }
}

impl ExtAuthzHttp {
    fn check_request(&self, parts: &Parts) -> Result<http::Request<Vec<u8>>, String> {
        let c = &self.inner;
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let base = c.service.as_str().trim_end_matches('/');
        let uri = format!("{base}{}{path}", c.path_prefix);
        let mut request = http::Request::builder()
            .method(parts.method.clone())
            .uri(&uri)
            .body(Vec::new())
            .map_err(|e| format!("cannot build the check request: {e}"))?;
        let headers = request.headers_mut();
        for (name, value) in &parts.headers {
            if !is_hop_by_hop(name)
                && c.include_request_headers
                    .iter()
                    .any(|p| p.matches(name.as_str()))
            {
                headers.append(name.clone(), value.clone());
            }
        }
        // The original authority, as Envoy sends it (the client's Host, or the URI's).
        let host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::try_from(a.as_str()).ok())
        });
        if let Some(host) = host {
            headers.insert(header::HOST, host);
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        for (name, value) in &c.additional_headers {
            headers.insert(name.clone(), value.clone());
        }
        Ok(request)
    }

    fn on_error(&self, reason: &str) -> Verdict {
        let c = &self.inner;
        tracing::warn!(service = %c.service, %reason, fail_open = c.fail_open, "ext_authz check failed");
        if c.fail_open {
            return Verdict::Allow {
                upstream: HeaderMap::new(),
                downstream: HeaderMap::new(),
            };
        }
        let mut r = respond::json(
            c.status_on_error,
            &serde_json::json!({"error": "ext_authz_unavailable", "message": "the authorization service did not answer"}),
        );
        *r.status_mut() = c.status_on_error;
        Verdict::Deny(r)
    }

    /// Sets an allowing answer's `upstream` headers on the request, after removing every
    /// client header that `headers_to_upstream_on_allow` names, under any spelling (`_`
    /// for `-`): a header the authorizer did not set this time (no groups, say) cannot
    /// then be supplied by the client. Knowingly stricter than Envoy, which keeps the
    /// client's copy.
    pub fn apply_upstream(&self, headers: &mut HeaderMap, upstream: &HeaderMap) {
        let spoofable: Vec<HeaderName> = headers
            .keys()
            .filter(|n| {
                self.inner
                    .to_upstream_on_allow
                    .iter()
                    .any(|p| p.matches_any_spelling(n.as_str()))
            })
            .cloned()
            .collect();
        for name in spoofable {
            headers.remove(name);
        }
        for (name, value) in upstream {
            headers.append(name.clone(), value.clone());
        }
    }

    /// Asks the service about the request `parts` describes.
    pub async fn check(&self, parts: &Parts) -> Verdict {
        let c = &self.inner;
        let request = match self.check_request(parts) {
            Ok(r) => r,
            Err(e) => return self.on_error(&e),
        };
        let answer = match tokio::time::timeout(c.timeout, c.http.execute(request)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return self.on_error(&e.to_string()),
            Err(_) => return self.on_error(&format!("no answer within {:?}", c.timeout)),
        };
        let (head, body) = answer.into_parts();
        if head.status == StatusCode::OK {
            let mut upstream = HeaderMap::new();
            copy_matching(&head.headers, &c.to_upstream_on_allow, &mut upstream);
            let mut downstream = HeaderMap::new();
            copy_matching(&head.headers, &c.to_downstream_on_allow, &mut downstream);
            return Verdict::Allow {
                upstream,
                downstream,
            };
        }
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = head.status;
        let out = response.headers_mut();
        if c.to_downstream_on_deny.is_empty() {
            for (name, value) in &head.headers {
                if !is_hop_by_hop(name) {
                    out.append(name.clone(), value.clone());
                }
            }
        } else {
            copy_matching(&head.headers, &c.to_downstream_on_deny, out);
            // As Envoy: these always reach the client.
            for name in [header::LOCATION, header::WWW_AUTHENTICATE] {
                for value in head.headers.get_all(&name) {
                    out.append(name.clone(), value.clone());
                }
            }
        }
        Verdict::Deny(response)
    }
}

/// The other side: an ext_authz HTTP server made of an [`SsoLayer`](crate::SsoLayer) over
/// this service. Envoy (or [`ExtAuthzHttp`]) sends it every request a CUSTOM policy
/// matches; the SSO layer answers what needs answering (a login redirect, the callback,
/// sign-out, 401) and passes checked requests here, which answers `200 OK` with the
/// identity headers the SSO layer set (`Authorization`, `X-Forwarded-User`, ...), for
/// `headersToUpstreamOnAllow`. An identity header the SSO layer did not set (no groups,
/// say, or a route that needs no login) is answered empty: Envoy keeps a client's copy of
/// a header the answer lacks, and the empty value replaces it.
///
/// ```
/// # fn make(sso: tower_sso::Sso) {
/// use tower::Layer as _;
/// let server = tower_sso::SsoLayer::new(sso).layer(tower_sso::ext_authz::IdentityEcho::new(&[]));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct IdentityEcho {
    names: Arc<[HeaderName]>,
}

impl IdentityEcho {
    /// Echoes `Authorization` and the default identity headers (`X-Forwarded-User`,
    /// `-Email`, `-Preferred-Username`, `-Groups`, `-Access-Token`), plus `extra` names
    /// (for renamed identity headers).
    pub fn new(extra: &[HeaderName]) -> Self {
        let mut names: Vec<HeaderName> = [
            "authorization",
            "x-forwarded-user",
            "x-forwarded-email",
            "x-forwarded-preferred-username",
            "x-forwarded-groups",
            "x-forwarded-access-token",
        ]
        .into_iter()
        .map(HeaderName::from_static)
        .collect();
        names.extend(extra.iter().cloned());
        Self {
            names: names.into(),
        }
    }
}

impl<B> tower::Service<http::Request<B>> for IdentityEcho {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Response<Body>, std::convert::Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::new()));
        for name in self.names.iter() {
            let mut values = req.headers().get_all(name).iter().peekable();
            // Authorization is ours to answer when a session authenticated the request:
            // the SSO layer removed the client's, and an answer without one would let
            // Envoy keep it. Otherwise it is the client's own (a public route).
            let ours = name != http::header::AUTHORIZATION
                || req
                    .extensions()
                    .get::<crate::sso::session::SessionUser>()
                    .is_some();
            if values.peek().is_none() && ours {
                // Envoy keeps a client's copy of a header the answer does not carry: an
                // empty value replaces it (a user with no groups sends none of their own).
                response
                    .headers_mut()
                    .insert(name.clone(), http::HeaderValue::from_static(""));
            }
            for value in values {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        std::future::ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_patterns_are_exact_prefix_or_suffix_and_case_insensitive() {
        let p = patterns(&["Cookie", "x-auth-request-*", "*-id"]).unwrap();
        let any = |n: &str| p.iter().any(|p| p.matches(n));
        assert!(any("cookie") && any("COOKIE"));
        assert!(any("x-auth-request-user") && any("X-Auth-Request-Email"));
        assert!(any("tenant-id") && !any("identity"));
        assert!(!any("cookies") && !any("x-auth"));
        for bad in ["", "*", "a*b*", "bad header"] {
            assert!(patterns(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_authorizers_upstream_headers_are_never_the_clients_however_spelled() {
        let remote = ExtAuthzHttp::builder("http://authz:9000")
            .headers_to_upstream_on_allow(&["x-user", "x-auth-request-*"])
            .build()
            .unwrap();
        let mut headers = HeaderMap::new();
        for name in ["x-user", "x_user", "X_Auth_Request_Groups", "x-kept"] {
            headers.insert(
                HeaderName::try_from(name).unwrap(),
                http::HeaderValue::from_static("mallory"),
            );
        }
        let mut upstream = HeaderMap::new();
        upstream.insert("x-user", http::HeaderValue::from_static("alice"));
        remote.apply_upstream(&mut headers, &upstream);
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["x-kept", "x-user"]);
        assert_eq!(headers["x-user"], "alice");
    }

    #[test]
    fn bad_service_urls_and_statuses_are_refused() {
        for bad in ["", "oauth2-proxy:4180", "ftp://x", "http://x/?q=1"] {
            assert!(ExtAuthzHttp::builder(bad).build().is_err(), "{bad:?}");
        }
        assert!(
            ExtAuthzHttp::builder("http://x")
                .status_on_error(1000)
                .build()
                .is_err()
        );
        assert!(
            ExtAuthzHttp::builder("http://x")
                .path_prefix("auth")
                .build()
                .is_err()
        );
        let ok = ExtAuthzHttp::builder("http://oauth2-proxy:4180")
            .build()
            .unwrap();
        assert!(format!("{ok:?}").contains("oauth2-proxy"));
    }
}
