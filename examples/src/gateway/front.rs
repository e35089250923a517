//! The outermost service of a listener: the ingress, operations endpoints, path
//! normalization, request metrics and logs, then the stack; and a check listener's
//! answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use oidc_core::http::BoxFuture;
use tower::ServiceExt as _;

use super::{Gateway, GatewayBody, Stack};
use crate::ingress::Ingress;
use crate::proxy::FromUpstream;

/// Whether a listener serves the Prometheus metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MetricsHere {
    /// No: the path is the application's.
    No,
    /// At `{--proxy-prefix}/metrics` (`--metrics-on-http-address`).
    UnderPrefix,
    /// At `/metrics`, and nothing else but `/ping` and `/ready` (`--metrics-address`).
    Only,
}

/// The outermost service: operations endpoints, path normalization, request metrics and
/// logs, then the stack.
#[derive(Debug, Clone)]
pub(super) struct Front {
    pub(super) stack: Stack,
    pub(super) gateway: Gateway,
    pub(super) ingress: Arc<Ingress>,
    /// On a listener that answers ext_authz checks: the headers every 2xx answer carries.
    pub(super) answered: Option<Arc<Vec<http::HeaderName>>>,
    pub(super) peer: Option<SocketAddr>,
    pub(super) metrics: MetricsHere,
}

impl Front {
    pub(super) fn for_peer(&self, peer: SocketAddr) -> Front {
        Front {
            peer: Some(peer),
            ..self.clone()
        }
    }

    pub(super) fn with_metrics(self, metrics: MetricsHere) -> Front {
        Front { metrics, ..self }
    }
}

fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<GatewayBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The outcomes of `gateway_requests_total{outcome}`.
const OUTCOMES: [&str; 10] = [
    "passed",
    "redirected",
    "unauthenticated",
    "denied",
    "upstream_unreachable",
    "upstream_timeout",
    "unavailable",
    "bad_request",
    "error",
    "answered",
];

/// `gateway_requests_total` per outcome, registered once (no lookup per request).
#[derive(Debug)]
pub(super) struct RequestCounters([metrics::Counter; OUTCOMES.len()]);

impl RequestCounters {
    pub(super) fn new() -> Self {
        Self(OUTCOMES.map(|o| metrics::counter!("gateway_requests_total", "outcome" => o)))
    }

    fn count(&self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.0[i].increment(1);
        }
    }
}

/// The request's outcome, one of [`OUTCOMES`].
fn outcome<B>(response: &Response<B>) -> &'static str {
    let status = response.status();
    if response.extensions().get::<FromUpstream>().is_some() {
        return OUTCOMES[0];
    }
    match status.as_u16() {
        302 | 303 | 307 => "redirected",
        401 => "unauthenticated",
        403 => "denied",
        502 => "upstream_unreachable",
        504 => "upstream_timeout",
        503 => "unavailable",
        400..=499 => "bad_request",
        500..=599 => "error",
        _ => "answered",
    }
}

impl tower::Service<Request<Incoming>> for Front {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<GatewayBody>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let Front {
            stack,
            gateway,
            ingress,
            answered,
            peer,
            metrics,
        } = self.clone();
        Box::pin(async move {
            let gateway = &gateway;
            // Not a forward proxy: a CONNECT would open a tunnel to the upstream whose
            // bytes no layer examines (Envoy's CVE-2025-64763 class).
            if req.method() == http::Method::CONNECT {
                gateway.counters.count("bad_request");
                let mut refused = full(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "application/json",
                    serde_json::json!({"error": "method_not_allowed", "message": "CONNECT is not proxied"}).to_string(),
                );
                refused.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                );
                return Ok(refused);
            }
            // Operations first: a health checker may send no Host (HTTP/1.0), which the
            // ingress refuses for everything else.
            let path = req.uri().path();
            let metrics_only = metrics == MetricsHere::Only;
            let metrics_here = match metrics {
                MetricsHere::No => false,
                MetricsHere::Only => path == "/metrics",
                // Under the prefix the gateway owns: the application's own /metrics stays
                // reachable.
                MetricsHere::UnderPrefix => {
                    path.strip_prefix(gateway.sso.config().proxy_prefix.as_str())
                        == Some("/metrics")
                }
            };
            if metrics_here {
                return Ok(full(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    gateway.metrics.render(),
                ));
            }
            // On a listener that answers checks, every path is an application path: a check
            // for the application's /ping is a check, not our health probe.
            let ops_here = metrics_only || answered.is_none();
            match path {
                "/ping" if ops_here => return Ok(full(StatusCode::OK, "text/plain", "OK")),
                "/ready" if ops_here => {
                    return Ok(if gateway.ready.load(Ordering::Acquire) {
                        full(StatusCode::OK, "text/plain", "OK")
                    } else {
                        full(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            "not ready: the provider has not been discovered yet",
                        )
                    });
                }
                _ if metrics_only => {
                    return Ok(full(
                        StatusCode::NOT_FOUND,
                        "text/plain",
                        "only /metrics here",
                    ));
                }
                _ => {}
            }
            // Before anything reads the request: whom to believe, and what a client may
            // not send. A server without a peer address (none here) sees the client as
            // unknown, and address rules then do not match.
            if let Some(peer) = peer
                && let Err(ambiguous) = ingress.prepare(&mut req, peer)
            {
                gateway.counters.count("bad_request");
                return Ok(full(
                    StatusCode::BAD_REQUEST,
                    "application/json",
                    serde_json::json!({"error": "bad_request", "message": ambiguous.0}).to_string(),
                ));
            }
            if let Err(rejected) = normalize_path(&mut req, gateway.options.path_normalization) {
                gateway.counters.count("bad_request");
                return Ok(full(
                    StatusCode::BAD_REQUEST,
                    "application/json",
                    serde_json::json!({"error": "bad_request", "message": rejected}).to_string(),
                ));
            }
            let log = gateway.options.request_logging.then(|| {
                let path = req.uri().path().to_owned();
                (std::time::Instant::now(), req.method().clone(), path)
            });
            let Ok(mut response) = stack.oneshot(req).await;
            if let Some(names) = answered
                && response.status().is_success()
            {
                // A 2xx answer lets the request through with the client's own copy of any
                // header the answer does not carry: carry them all.
                // The SSO layer's own 2xx answers (/oauth2/userinfo, say) are allows too:
                // a client's Authorization must not ride on them.
                if response.extensions().get::<FromUpstream>().is_none() {
                    response
                        .headers_mut()
                        .entry(header::AUTHORIZATION)
                        .or_insert(HeaderValue::from_static(""));
                }
                for name in names.iter() {
                    if !response.headers().contains_key(name) {
                        response
                            .headers_mut()
                            .insert(name.clone(), HeaderValue::from_static(""));
                    }
                }
            }
            let outcome = outcome(&response);
            gateway.counters.count(outcome);
            if let Some((started, method, path)) = log {
                tracing::info!(
                    %method, %path, status = response.status().as_u16(), outcome,
                    ms = started.elapsed().as_secs_f64() * 1000.0, "request"
                );
            }
            Ok(response.map(BodyExt::boxed_unsync))
        })
    }
}

/// Rewrites the request path as Istio's `pathNormalization` does (`BASE`: dot segments,
/// `\`, percent-encoded unreserved characters), so policies and the upstream see the same
/// path; a path Envoy would refuse is an error (400).
fn normalize_path<B>(
    req: &mut Request<B>,
    mode: authz_policy::path::PathNormalization,
) -> Result<(), String> {
    let path = req.uri().path();
    let normal = authz_policy::path::normalize(path, mode).map_err(|e| e.to_string())?;
    if normal == path {
        return Ok(());
    }
    let target = match req.uri().query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal.into_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(
        target
            .parse()
            .map_err(|_| "the path cannot be normalized".to_owned())?,
    );
    *req.uri_mut() = http::Uri::from_parts(parts).map_err(|e| e.to_string())?;
    Ok(())
}
