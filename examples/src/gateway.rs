//! The gateway: oauth2-proxy's job done with tower-sso. Every request goes through
//!
//! ```text
//! /ping /ready  ->  path normalization (Istio's BASE)  ->  SsoLayer
//!   ->  JwtAuthLayer + AuthorizationLayer (--policy files)  ->  reverse proxy | static answer
//! ```
//!
//! With `--upstream=static://200` the gateway is an ext_authz HTTP server for Istio's CUSTOM
//! action (`envoyExtAuthzHttp`): a checked request is answered 200 with the identity
//! headers, anything else with the redirect or 401 the client should get.
//!
//! Prometheus metrics are served on `--metrics-address` only (at `/metrics`), unless
//! `--metrics-on-http-address` also puts them at `{--proxy-prefix}/metrics` there.
//!
//! Against slow and greedy clients: at most `--max-connections` open connections per
//! listener (more wait in the listen backlog), a connection that sends no request within
//! 30 s is closed, a request head must arrive within 30 s and fit 64 KiB (HTTP/1 and
//! HTTP/2 alike), and an HTTP/2 connection carries at most 100 concurrent streams.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use authz_policy::{CompileOptions, PolicySet, Workload};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Either;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use metrics_exporter_prometheus::PrometheusHandle;
use oidc_core::http::{BoxFuture, HttpClient, HttpError, SharedHttpClient};
use tokio::net::TcpListener;
use tower::Layer as _;
use tower_sso::ext_authz::IdentityEcho;
use tower_sso::sso::SsoService;
use tower_sso::{AuthorizationLayer, CustomProvider, JwtAuthLayer, Sso, SsoLayer};

use crate::flags::{Options, Upstream};
use crate::ingress::Ingress;
use crate::proxy::{FromUpstream, Proxy, ProxyBody};

mod activity;
mod front;

use self::activity::{Activity, Tracked};

use self::front::{Front, MetricsHere, RequestCounters};

/// The response body of the gateway.
pub type GatewayBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Largest request head accepted (Envoy's default limit is 60 KiB); larger is a 431, on
/// HTTP/1 and HTTP/2 alike.
const MAX_HEAD: usize = 64 * 1024;
/// How long a client may take to send a request head, and a new connection its first
/// request (HTTP/1 or HTTP/2), before it is closed.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent streams per HTTP/2 connection (advertised in its SETTINGS).
pub const MAX_CONCURRENT_STREAMS: u32 = 100;
/// How long a connection may stay open with no request in flight (HTTP/1 keep-alive is
/// bounded by [`HEAD_TIMEOUT`] already).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a connection with a request in flight may make no progress (no response
/// frame read by the client), as Envoy's `stream_idle_timeout` (5 min).
const STALLED_TIMEOUT: Duration = Duration::from_secs(300);
/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);

/// The provider client with call latency and failures counted.
#[derive(Debug)]
struct MeteredHttp(SharedHttpClient);

impl HttpClient for MeteredHttp {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<Response<Vec<u8>>, HttpError>> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.0.execute(request).await;
            metrics::histogram!("gateway_provider_request_seconds")
                .record(started.elapsed().as_secs_f64());
            if result.is_err() {
                metrics::counter!("gateway_provider_errors_total").increment(1);
            }
            result
        })
    }
}

/// The process-wide Prometheus recorder (installed once).
fn prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: std::sync::OnceLock<Result<PrometheusHandle, String>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("metrics: {e}"))?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| format!("metrics: {e}"))?;
            Ok(handle)
        })
        .clone()
}

/// Where a checked request goes: the upstream, or the ext_authz answer.
#[derive(Debug, Clone)]
enum Backend {
    Proxy(Arc<Proxy>),
    Static(StatusCode, IdentityEcho),
}

impl tower::Service<Request<Incoming>> for Backend {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        match self.clone() {
            Backend::Proxy(proxy) => Box::pin(async move { Ok(proxy.forward(req).await) }),
            Backend::Static(status, mut echo) => Box::pin(async move {
                let Ok(mut response) = tower::Service::call(&mut echo, req).await;
                *response.status_mut() = status;
                response.extensions_mut().insert(FromUpstream);
                Ok(response.map(Either::Right))
            }),
        }
    }
}

type Stack = SsoService<tower_sso::jwt::JwtAuth<tower_sso::authz::Authorization<Backend>>>;

/// A built gateway: its options, SSO and policies; serve it with [`Gateway::serve`].
#[derive(Debug, Clone)]
pub struct Gateway {
    options: Arc<Options>,
    sso: Sso,
    policies: Arc<PolicySet>,
    workload: Arc<Workload>,
    metrics: PrometheusHandle,
    counters: Arc<RequestCounters>,
    ready: Arc<AtomicBool>,
}

/// What `--check-config` found.
#[derive(Debug)]
pub struct CheckReport {
    /// One line per thing checked.
    pub lines: Vec<String>,
    /// Linter warnings on the policies.
    pub warnings: Vec<String>,
}

impl Gateway {
    /// Reads the policies and builds the SSO (connecting to Redis when configured). The
    /// provider is discovered in the background; `/ready` says when.
    pub async fn build(options: Options) -> Result<Gateway, String> {
        Self::build_with_http(options, None).await
    }

    /// As [`Gateway::build`], talking to the provider through `http`.
    pub async fn build_with_http(
        options: Options,
        http: Option<SharedHttpClient>,
    ) -> Result<Gateway, String> {
        let metrics = prometheus()?;
        let http = match http {
            Some(http) => http,
            None => oidc_core::http::default_client().map_err(|e| e.to_string())?,
        };
        let http: SharedHttpClient = Arc::new(MeteredHttp(http));
        let policies = Arc::new(load_policies(&options, http.clone())?);
        let labels: Vec<(&str, &str)> = options
            .workload_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let workload = Arc::new(Workload::new(&options.workload_namespace, labels));
        let sso = options
            .sso
            .clone()
            .build_with_http(Some(http))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Gateway {
            options: Arc::new(options),
            sso,
            policies,
            workload,
            metrics,
            counters: Arc::new(RequestCounters::new()),
            ready: Arc::new(AtomicBool::new(false)),
        })
    }

    /// `--check-config`: the options are valid (else [`Gateway::build`] failed), the
    /// provider's discovery document is fetched and validated, the policies are linted.
    pub async fn check(&self) -> Result<CheckReport, String> {
        let client = self
            .sso
            .client()
            .await
            .map_err(|e| format!("invalid --oidc-issuer-url: discovery failed: {e}"))?;
        let m = client.metadata();
        let mut lines = vec![
            format!(
                "provider {}: discovery ok (authorization {}, jwks {})",
                m.issuer, m.authorization_endpoint, m.jwks_uri
            ),
            format!(
                "listen {}; upstream {:?}",
                self.options.http_address, self.options.upstream
            ),
        ];
        lines.push(format!(
            "policies: {} file(s); CUSTOM providers {:?} map to this gateway's SSO",
            self.options.policies.len(),
            self.policies.custom_providers()
        ));
        let warnings = self
            .policies
            .lint(std::slice::from_ref(&*self.workload))
            .into_iter()
            .map(|w| format!("{} {}: {}", w.object, w.field, w.warning))
            .collect();
        Ok(CheckReport { lines, warnings })
    }

    /// The SSO state (for tests and embedding).
    pub fn sso(&self) -> &Sso {
        &self.sso
    }

    fn stack(&self, upstream: &Upstream) -> Result<Stack, String> {
        let backend = match upstream {
            Upstream::Http(url) => Backend::Proxy(Arc::new(
                Proxy::new(
                    url,
                    self.options.upstream_timeout,
                    self.options.pass_host_header,
                )?
                .strip_session_cookie(&self.sso.config().cookie.name),
            )),
            // Only what the SSO layer set on the request is echoed: X-Auth-Request-* come
            // from the SSO layer's response headers, never from the client's request.
            Upstream::Static(status) => {
                Backend::Static(*status, IdentityEcho::new(&self.output_headers()))
            }
        };
        let mut authz = AuthorizationLayer::new(self.policies.clone(), (*self.workload).clone())
            .port(self.options.http_address.port());
        for name in self.policies.custom_providers() {
            authz = authz.custom_provider(name, CustomProvider::Sso(self.sso.clone()));
        }
        let jwt = JwtAuthLayer::new(self.policies.clone(), (*self.workload).clone())
            .port(self.options.http_address.port());
        Ok(SsoLayer::new(self.sso.clone()).layer(jwt.layer(authz.layer(backend))))
    }

    /// The policies' JWT output headers, as header names.
    fn output_headers(&self) -> Vec<http::HeaderName> {
        self.policies
            .output_headers()
            .into_iter()
            .filter_map(|h| http::HeaderName::try_from(h).ok())
            .collect()
    }

    /// What the ingress strips and whom it trusts.
    fn ingress(&self) -> Ingress {
        let mut own = self.sso.own_headers().clone();
        for name in self.output_headers() {
            own = own.name(name);
        }
        Ingress::new(self.options.trusted_proxy_ips.clone(), own)
    }

    /// The headers a 2xx check answer always carries (empty when the user has none), so
    /// that the proxy asking never keeps a client's copy: the SSO layer's identity
    /// headers, `X-Auth-Request-*` and the policies' JWT output headers.
    fn answered_headers(&self) -> Vec<http::HeaderName> {
        let mut names: Vec<http::HeaderName> = self.sso.own_headers().names().to_vec();
        names.extend(
            tower_sso::sso::headers::X_AUTH_REQUEST
                .into_iter()
                .map(http::HeaderName::from_static),
        );
        names.extend(self.output_headers());
        names
    }

    /// The front service for `upstream` (what a listener serves).
    fn front(&self, upstream: &Upstream) -> Result<Front, String> {
        let answers_checks = matches!(upstream, Upstream::Static(_));
        // On a listener that answers checks every path is the application's.
        let metrics = if self.options.metrics_on_http_address && !answers_checks {
            MetricsHere::UnderPrefix
        } else {
            MetricsHere::No
        };
        Ok(Front {
            stack: self.stack(upstream)?,
            gateway: self.clone(),
            ingress: Arc::new(self.ingress()),
            answered: answers_checks.then(|| Arc::new(self.answered_headers())),
            peer: None,
            metrics,
        })
    }

    /// True once the provider's discovery succeeded (what `/ready` answers).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Marks the gateway ready once the provider's discovery succeeds (retried every
    /// second until it does).
    fn watch_readiness(&self) {
        let (sso, ready) = (self.sso.clone(), self.ready.clone());
        tokio::spawn(async move {
            loop {
                match sso.client().await {
                    Ok(_) => {
                        ready.store(true, Ordering::Release);
                        tracing::info!("provider discovered; ready");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "provider discovery failed; not ready yet");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// Serves one connection `io` whose peer is `peer` as the main listener does (for
    /// transports other than TCP, and for tests that need a client address other than
    /// loopback's); returns when the connection ends.
    pub async fn serve_connection<I>(&self, io: I, peer: SocketAddr) -> Result<(), String>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let front = self.front(&self.options.upstream)?.for_peer(peer);
        let service = hyper_util::service::TowerToHyperService::new(front);
        connection_builder()
            .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(io), service)
            .await
            .map_err(|e| e.to_string())
    }

    /// Serves `listener` (the upstream of the options), `ext_authz` (ext_authz answers,
    /// when given) and `metrics` (`/metrics` only, when given) until `shutdown` completes,
    /// then lets in-flight requests finish (at most 10 s).
    pub async fn serve(
        self,
        listener: TcpListener,
        ext_authz: Option<TcpListener>,
        metrics: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        self.watch_readiness();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let cap = self.options.max_connections;
        let main = self.front(&self.options.upstream)?;
        tasks.spawn(accept_loop(listener, main, cap, stop_rx.clone()));
        if let Some(listener) = ext_authz {
            let front = self.front(&Upstream::Static(StatusCode::OK))?;
            let front = front.with_metrics(MetricsHere::No);
            tasks.spawn(accept_loop(listener, front, cap, stop_rx.clone()));
        }
        if let Some(listener) = metrics {
            let front = self.front(&Upstream::Static(StatusCode::NOT_FOUND))?;
            let front = front.with_metrics(MetricsHere::Only);
            tasks.spawn(accept_loop(listener, front, cap, stop_rx.clone()));
        }
        shutdown.await;
        tracing::info!("shutting down: no new connections; draining");
        let _ = stop_tx.send(true);
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// Listens on `addr` with a backlog of 4096 (a burst of new connections is queued, not
/// refused), as the gateway's listeners do.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

fn load_policies(options: &Options, http: SharedHttpClient) -> Result<PolicySet, String> {
    let mut text = String::new();
    for path in &options.policies {
        let file = std::fs::read_to_string(path)
            .map_err(|e| format!("invalid --policy: {}: {e}", path.display()))?;
        if !text.is_empty() {
            text.push_str("\n---\n");
        }
        text.push_str(&file);
    }
    let compile = CompileOptions::default()
        .root_namespace(options.root_namespace.clone())
        .path_normalization(options.path_normalization)
        .http(http);
    PolicySet::from_yaml(&text, compile).map_err(|e| {
        let files: Vec<String> = options
            .policies
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        format!("invalid --policy ({}): {e}", files.join(", "))
    })
}

/// How the gateway serves a connection: HTTP/1 with a head of at most [`MAX_HEAD`] read
/// within [`HEAD_TIMEOUT`], or HTTP/2 with the same head limit and bounded streams.
fn connection_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    let mut http =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    http.http1()
        .max_buf_size(MAX_HEAD)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    http.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEAD as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    http
}

/// Accepts connections until `stop` turns true, then waits for open connections to
/// finish their requests (bounded by [`DRAIN`]). At most `max_connections` are open at
/// once: more wait in the listen backlog until one closes.
async fn accept_loop(
    listener: TcpListener,
    front: Front,
    max_connections: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = connection_builder();
    let open = Arc::new(tokio::sync::Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        // hyper bounds the wait for an HTTP/1 request head, but not for a connection's
        // first bytes nor an idle HTTP/2 connection: a watchdog closes quiet ones.
        let activity = Activity::new();
        let service = {
            let activity = activity.clone();
            let front = front.for_peer(peer);
            hyper::service::service_fn(move |req| {
                let in_flight = activity.begin();
                let answer = tower::ServiceExt::oneshot(front.clone(), req);
                async move {
                    let Ok(response) = answer.await;
                    Ok::<_, Infallible>(response.map(|body| Tracked::new(body, in_flight)))
                }
            })
        };
        let connection = http
            .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            tokio::select! {
                _ = watched => {}
                () = activity.idle(HEAD_TIMEOUT, IDLE_TIMEOUT, STALLED_TIMEOUT) => {
                    tracing::debug!(%peer, "connection idle; closed");
                }
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
}
