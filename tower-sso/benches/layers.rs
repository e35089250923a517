//! `cargo bench -p tower-sso`: what each layer adds per request to an axum handler, against
//! the same handler without layers in the same run.
//!
//! (a) SsoLayer with a valid cookie session; (b) JwtAuthLayer with a valid RS256 bearer
//! token and warm keys, next to the bare signature verification of that token; (c) both
//! plus an AuthorizationLayer with 100 policies: the cookie session's ID token goes
//! upstream as the bearer, JwtAuthLayer verifies it, the policies decide.

#![allow(clippy::unwrap_used)] // Set-up failures should stop the bench loudly.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use authz_policy::{CompileOptions, PolicySet, Workload};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use oidc_core::testing::{DevProvider, TestKeys, mint};
use oidc_core::verify::Verifier;
use tower::{ServiceBuilder, ServiceExt as _};
use tower_sso::{AuthorizationLayer, JwtAuthLayer, Sso, SsoConfig, SsoLayer};

const ISS: &str = "https://idp.example";

fn handler_router() -> Router {
    Router::new().route("/api/orders", get(|| async { "ok" }))
}

/// A RequestAuthentication for `iss` / `aud` and `n` AuthorizationPolicies of two rules
/// each; only the last admits members of `group`.
fn policies(n: usize, iss: &str, aud: &str, jwks: &str, group: &str) -> String {
    let mut yaml = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: shop}}\nspec:\n  jwtRules: [{{issuer: \"{iss}\", audiences: [{aud}], jwks: '{jwks}'}}]\n"
    );
    for i in 0..n {
        let g = if i + 1 == n {
            group.to_owned()
        } else {
            format!("group-{i}")
        };
        yaml.push_str(&format!(
            "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p{i:03}, namespace: shop}}\nspec:\n  rules:\n  - from: [{{source: {{requestPrincipals: [\"{iss}/user-{i}\"]}}}}]\n    to: [{{operation: {{methods: [GET], paths: [\"/api/v{i}/*\"]}}}}]\n  - when: [{{key: \"request.auth.claims[groups]\", values: [\"{g}\"]}}]\n"
        ));
    }
    yaml
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = TestKeys::shared();
    let jwks = keys.jwks_json().to_string();
    let token = mint(
        &keys.rsa,
        serde_json::json!({"iss": ISS, "sub": "alice", "aud": "orders", "exp": 4_000_000_000i64, "groups": ["group-99"]}),
    );
    let bearer = format!("Bearer {token}");

    // (a) A cookie session made by logging in once at the in-process dev provider.
    let op = DevProvider::new("http://127.0.0.1:9");
    let config = SsoConfig::new(
        "http://127.0.0.1:9",
        "dev-client",
        "dev-secret",
        "http://127.0.0.1:8080/oauth2/callback",
        "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
    )
    .unwrap()
    .http(Arc::new(op.clone()));
    let sso = Sso::new(config).unwrap();
    let sso_svc = ServiceBuilder::new()
        .layer(SsoLayer::new(sso.clone()))
        .service(handler_router());
    let cookie = rt.block_on(async {
        let start = sso_svc
            .clone()
            .oneshot(Request::get("/oauth2/start").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let state_cookie = start.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let callback = op
            .login(start.headers()["location"].to_str().unwrap(), "alice")
            .unwrap();
        let back = sso_svc
            .clone()
            .oneshot(
                Request::get(&callback[url::Position::BeforePath..])
                    .header("cookie", state_cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        back.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .filter(|c| c.starts_with("_oauth2_proxy="))
            .collect::<Vec<_>>()
            .join("; ")
    });

    let set1 = Arc::new(
        PolicySet::from_yaml(
            &policies(0, ISS, "orders", &jwks, "-"),
            CompileOptions::default(),
        )
        .unwrap(),
    );
    // (c) trusts the development provider that issued the session's ID token.
    let dev_jwks = String::from_utf8(
        op.handle(
            Request::get("http://127.0.0.1:9/jwks")
                .body(Vec::new())
                .unwrap(),
        )
        .into_body(),
    )
    .unwrap();
    let set100 = Arc::new(
        PolicySet::from_yaml(
            &policies(100, "http://127.0.0.1:9", "dev-client", &dev_jwks, "admins"),
            CompileOptions::default(),
        )
        .unwrap(),
    );
    let workload = Workload::new("shop", [("app", "orders")]);
    let jwt_svc = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(set1, workload.clone()))
        .service(handler_router());
    let all_svc = ServiceBuilder::new()
        .layer(SsoLayer::new(sso.clone()))
        .layer(JwtAuthLayer::new(set100.clone(), workload.clone()))
        .layer(AuthorizationLayer::new(set100, workload))
        .service(handler_router());
    let bare = handler_router();
    let verifier = Verifier::builder(ISS).audience("orders").build().unwrap();
    let key_set = keys.key_set();

    let plain = || Request::get("/api/orders").body(Body::empty()).unwrap();
    let with_cookie = || {
        Request::get("/api/orders")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap()
    };
    let with_bearer = || {
        Request::get("/api/orders")
            .header("authorization", &bearer)
            .body(Body::empty())
            .unwrap()
    };

    // Every path answers 200, or the figures would mean nothing.
    rt.block_on(async {
        assert_eq!(
            sso_svc
                .clone()
                .oneshot(with_cookie())
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            jwt_svc
                .clone()
                .oneshot(with_bearer())
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            all_svc
                .clone()
                .oneshot(with_cookie())
                .await
                .unwrap()
                .status(),
            200
        );
    });

    let mut g = c.benchmark_group("layers");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    g.bench_function("baseline_axum_handler", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(black_box(plain()))))
    });
    g.bench_function("a_sso_cookie_session", |b| {
        b.iter(|| rt.block_on(sso_svc.clone().oneshot(black_box(with_cookie()))))
    });
    g.bench_function("b_bare_rs256_verify", |b| {
        b.iter(|| verifier.verify(black_box(&token), &key_set).unwrap())
    });
    g.bench_function("b_jwt_auth_rs256", |b| {
        b.iter(|| rt.block_on(jwt_svc.clone().oneshot(black_box(with_bearer()))))
    });
    g.bench_function("c_sso_jwt_and_100_policies", |b| {
        b.iter(|| rt.block_on(all_svc.clone().oneshot(black_box(with_cookie()))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
