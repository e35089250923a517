//! A CUSTOM policy whose provider is a remote ext_authz HTTP service, as Istio's
//! `envoyExtAuthzHttp`: seed 000's YAML verbatim, with an "existing oauth2-proxy" served
//! over HTTP on loopback (our SsoLayer over `IdentityEcho`, what the gateway's ext_authz
//! mode is). The whole login runs through check requests, as it does behind Envoy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authz_policy::{CompileOptions, PolicySet, Workload};
use oidc_core::testing::DevProvider;
use tower::Layer as _;
use tower_sso::ext_authz::IdentityEcho;
use tower_sso::{AuthorizationLayer, CustomProvider, ExtAuthzHttp, Sso, SsoLayer};

use crate::browser::{Browser, app};

const ISS: &str = crate::browser::DEV_ISSUER;

/// Serves `svc` on a loopback port; counts the requests it gets.
pub(crate) async fn serve<S>(svc: S) -> (String, Arc<AtomicUsize>)
where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = http::Response<axum::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let counting = tower::service_fn(move |req: http::Request<axum::body::Body>| {
        counted.fetch_add(1, Ordering::SeqCst);
        let mut svc = svc.clone();
        async move { tower::Service::call(&mut svc, req).await }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().fallback_service(counting);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, hits)
}

pub(crate) fn seed_000() -> Arc<PolicySet> {
    let path = format!(
        "{}/../authz-policy/tests/data/seeds/000-custom-oidc.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = std::fs::read_to_string(&path).unwrap();
    Arc::new(PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap())
}

pub(crate) fn gateway() -> Workload {
    Workload::new("istio-system", [("istio", "ingressgateway")])
}

/// The remote authorizer: an SSO over the dev provider, answering checks.
fn oauth2_proxy(
    op: DevProvider,
) -> impl tower::Service<
    http::Request<axum::body::Body>,
    Response = http::Response<axum::body::Body>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let config = crate::browser::dev_config(&op);
    let sso = SsoLayer::new(Sso::new(config).unwrap()).layer(IdentityEcho::new(&[]));
    tower::ServiceBuilder::new()
        .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
        .service(sso)
}

#[tokio::test]
async fn seed_000_against_a_remote_authorizer_logs_in_through_check_requests() {
    let op = DevProvider::new(ISS);
    let (remote, checks) = serve(oauth2_proxy(op.clone())).await;
    let provider = ExtAuthzHttp::builder(&remote)
        .include_request_headers_in_check(&[
            "cookie",
            "authorization",
            "accept",
            "x-requested-with",
        ])
        .headers_to_upstream_on_allow(&["authorization", "x-forwarded-*"])
        .headers_to_downstream_on_deny(&["content-type", "set-cookie"])
        .build()
        .unwrap();
    let mut svc = AuthorizationLayer::new(seed_000(), gateway())
        .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
        .layer(tower::service_fn(app));

    let mut browser = Browser::default();
    let first = browser
        .send(&mut svc, "GET", "/productpage", &[("accept", "text/html")])
        .await;
    assert_eq!(first.status, 302, "{}", first.body);
    assert!(first.location().starts_with("http://127.0.0.1:9/authorize"));
    assert!(
        browser.jar.keys().any(|k| k.contains("_csrf_")),
        "the login state cookie came through the deny answer"
    );
    // The callback, too, is a check request the remote answers (302 + session cookie).
    let page = browser.visit(&mut svc, &op, "/productpage", "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = page.json();
    assert_eq!(seen["path"], "/productpage");
    assert_eq!(seen["headers"]["x-forwarded-user"], "alice-sub");
    assert_eq!(seen["headers"]["x-forwarded-groups"], "admins,group1");
    assert!(
        seen["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey")
    );
    assert!(checks.load(Ordering::SeqCst) >= 3);

    // Spoofed identity headers: the remote's answer replaces them.
    let spoofed = browser
        .send(
            &mut svc,
            "GET",
            "/headers",
            &[("accept", "text/html"), ("x-forwarded-user", "admin")],
        )
        .await;
    assert_eq!(spoofed.json()["headers"]["x-forwarded-user"], "alice-sub");

    // An API client without a session: the remote's 401 reaches it.
    let api = Browser::default()
        .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status, 401);
    assert!(
        api.headers.contains_key("www-authenticate"),
        "always passed on deny"
    );
}

#[tokio::test]
async fn an_unreachable_authorizer_fails_closed_or_open_as_configured() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for (fail_open, status_on_error, expected) in
        [(false, 403, 403), (false, 503, 503), (true, 403, 200)]
    {
        let provider = ExtAuthzHttp::builder(&dead)
            .fail_open(fail_open)
            .status_on_error(status_on_error)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut svc = AuthorizationLayer::new(seed_000(), gateway())
            .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
            .layer(tower::service_fn(app));
        let answer = Browser::default().send(&mut svc, "GET", "/", &[]).await;
        assert_eq!(
            answer.status, expected,
            "fail_open={fail_open} status_on_error={status_on_error}"
        );
    }
}

#[tokio::test]
async fn a_silent_authorizer_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    // Accepts and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let provider = ExtAuthzHttp::builder(&silent)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut svc = AuthorizationLayer::new(seed_000(), gateway())
        .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
        .layer(tower::service_fn(app));
    let started = std::time::Instant::now();
    let answer = Browser::default().send(&mut svc, "GET", "/", &[]).await;
    assert_eq!(answer.status, 403);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_check_carries_method_path_host_and_only_the_included_headers() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = seen.clone();
    let (remote, _) = serve(tower::service_fn(
        move |req: http::Request<axum::body::Body>| {
            let record = record.clone();
            async move {
                *record.lock().unwrap() = Some((
                    req.method().clone(),
                    req.uri().to_string(),
                    req.headers().clone(),
                ));
                let mut ok = http::Response::new(axum::body::Body::empty());
                ok.headers_mut()
                    .insert("x-auth-request-user", "carol".parse().unwrap());
                ok.headers_mut()
                    .insert("x-other", "not forwarded".parse().unwrap());
                ok.headers_mut()
                    .insert("set-cookie", "refreshed=1".parse().unwrap());
                Ok::<_, std::convert::Infallible>(ok)
            }
        },
    ))
    .await;
    let provider = ExtAuthzHttp::builder(&remote)
        .path_prefix("/check")
        .include_request_headers_in_check(&["cookie", "x-tenant-*"])
        .include_additional_headers_in_check(&[("x-from", "gateway")])
        .headers_to_upstream_on_allow(&["x-auth-request-*"])
        .headers_to_downstream_on_allow(&["set-cookie"])
        .build()
        .unwrap();
    let mut svc = AuthorizationLayer::new(seed_000(), gateway())
        .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
        .layer(tower::service_fn(app));
    let answer = Browser::default()
        .send(
            &mut svc,
            "POST",
            "http://shop.example/cart?id=7",
            &[
                ("host", "shop.example"),
                ("cookie", "a=b"),
                ("x-tenant-id", "t1"),
                ("authorization", "Bearer secret"),
                ("x-auth-request-user", "spoofed"),
                ("x-auth-request-groups", "admins"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (method, uri, headers) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(method, http::Method::POST);
    assert_eq!(uri, "/check/cart?id=7");
    assert_eq!(headers["host"], "shop.example");
    assert_eq!(headers["cookie"], "a=b");
    assert_eq!(headers["x-tenant-id"], "t1");
    assert_eq!(headers["x-from"], "gateway");
    assert!(!headers.contains_key("authorization"), "not included");
    let app_saw = answer.json();
    assert_eq!(app_saw["headers"]["x-auth-request-user"], "carol");
    assert!(app_saw["headers"].get("x-other").is_none());
    assert!(
        app_saw["headers"].get("x-auth-request-groups").is_none(),
        "a client copy of a header the authorizer did not set is removed"
    );
    assert_eq!(answer.headers["set-cookie"], "refreshed=1");
}
