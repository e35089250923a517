//! Every path a request can take fails closed: identity headers under any spelling,
//! e-mail checks, header bytes that are not text (issue "Fail closed on every path").

use std::sync::Arc;

use authz_policy::{CompileOptions, PolicySet, Workload};
use bytes::Bytes;
use http_body_util::Full;
use oidc_core::testing::{DevProvider, DevUser, mint};
use tower::{Layer as _, ServiceExt as _};
use tower_sso::sso::rules::{MatchRules, PathRule};
use tower_sso::sso::{Sso, SsoLayer};
use tower_sso::{AuthorizationLayer, JwtAuthLayer};

use crate::browser::{Answer, Browser, app};

const ISS: &str = crate::browser::DEV_ISSUER;

use crate::browser::sso_app as service;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// GET /api with a bearer token of `op` carrying `claims` (plus `iss`, `aud` and times).
async fn as_bearer<S, B>(svc: &mut S, op: &DevProvider, claims: serde_json::Value) -> Answer
where
    S: tower::Service<
            http::Request<Full<Bytes>>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let mut all =
        serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": now(), "exp": now() + 300});
    for (k, v) in claims.as_object().into_iter().flatten() {
        all[k] = v.clone();
    }
    let token = mint(&op.signing_key(), all);
    Browser::default()
        .send(
            svc,
            "GET",
            "/api",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await
}

/// Sends a request whose `name` header has the raw `value` bytes; returns the status.
async fn send_raw<S, B>(svc: &mut S, path: &str, name: &str, value: &[u8]) -> u16
where
    S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    S::Error: std::fmt::Debug,
{
    let req = http::Request::get(path)
        .header(name, http::HeaderValue::from_bytes(value).unwrap())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = svc.ready().await.unwrap().call(req).await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn identity_headers_under_any_spelling_never_reach_the_app() {
    // CVE-2025-64484 (GHSA-vjrc-mh2v-45x6): X-Forwarded_Email reads as X-Forwarded-Email
    // in CGI, WSGI, Rack and PHP.
    let op = DevProvider::new(ISS);
    let rules = MatchRules::bypass_if_matched(vec![PathRule::path("/public/*")]);
    let mut config = crate::browser::dev_config(&op).rules(rules);
    config.set_xauthrequest = true;
    let mut svc = service(config);
    let mut browser = Browser::default();
    browser.visit(&mut svc, &op, "/", "bob").await;
    let spoof = [
        ("x_forwarded_user", "admin"),
        ("X-Forwarded_Email", "admin@corp"),
        ("x_forwarded_groups", "admins"),
        ("x-forwarded-preferred_username", "admin"),
        ("x-auth-request-user", "admin"),
        ("x_auth_request_groups", "admins"),
        ("accept", "text/html"),
    ];
    for path in ["/private", "/public/page"] {
        let seen = browser.send(&mut svc, "GET", path, &spoof).await.json();
        let headers = seen["headers"].as_object().unwrap();
        for (name, value) in headers {
            assert_ne!(value, "admin", "{path}: {name} reached the app");
            assert_ne!(value, "admins", "{path}: {name} reached the app");
            assert_ne!(value, "admin@corp", "{path}: {name} reached the app");
        }
    }
}

#[tokio::test]
async fn an_unverified_email_is_refused_unless_allowed_insecurely() {
    let op = DevProvider::new(ISS);
    let mut mallory = DevUser::new_for_tests("mallory");
    mallory.email = "ceo@example.com".into();
    mallory.email_verified = false;
    op.add_user(mallory);

    let mut svc = service(crate::browser::dev_config(&op));
    let page = Browser::default()
        .visit(&mut svc, &op, "/", "mallory")
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("not verified"), "{}", page.body);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "a page for the browser"
    );

    // Bearer: 403 as well.
    let mut config = crate::browser::dev_config(&op);
    config.skip_jwt_bearer_tokens = true;
    let mut svc = service(config.clone());
    let token = |verified: bool| {
        mint(
            &op.signing_key(),
            serde_json::json!({"iss": ISS, "aud": "dev-client", "sub": "m", "email": "ceo@example.com",
                               "email_verified": verified, "iat": now(), "exp": now() + 300}),
        )
    };
    let mut caller = Browser::default();
    let bearer = format!("Bearer {}", token(false));
    let answer = caller
        .send(&mut svc, "GET", "/api", &[("authorization", &bearer)])
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let ok = format!("Bearer {}", token(true));
    let answer = caller
        .send(&mut svc, "GET", "/api", &[("authorization", &ok)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // --insecure-oidc-allow-unverified-email lets both in.
    config.insecure_allow_unverified_email = true;
    let mut svc = service(config);
    let answer = caller
        .send(&mut svc, "GET", "/api", &[("authorization", &bearer)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = Browser::default()
        .visit(&mut svc, &op, "/", "mallory")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn an_address_with_two_ats_matches_no_domain() {
    // GHSA-c5c4-8r6x-56w3: `attacker@evil.com@example.com` must not pass
    // --email-domain=example.com, at login or as a bearer.
    let op = DevProvider::new(ISS);
    let mut eve = DevUser::new_for_tests("eve");
    eve.email = "eve@evil.com@example.com".into();
    op.add_user(eve);
    let mut config = crate::browser::dev_config(&op);
    config.email_domains = vec!["example.com".into()];
    config.skip_jwt_bearer_tokens = true;
    let mut svc = service(config);
    let page = Browser::default().visit(&mut svc, &op, "/", "eve").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let page = Browser::default().visit(&mut svc, &op, "/", "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for (email, status) in [("eve@evil.com@example.com", 403), ("eve@example.com", 200)] {
        let answer = as_bearer(
            &mut svc,
            &op,
            serde_json::json!({"sub": "eve", "email": email}),
        )
        .await;
        assert_eq!(answer.status, status, "{email}: {}", answer.body);
    }
}

#[tokio::test]
async fn an_authorization_that_cannot_be_read_is_a_malformed_token() {
    // --skip-jwt-bearer-tokens: 401, not "no token" (which would go on to the session).
    let op = DevProvider::new(ISS);
    let mut config = crate::browser::dev_config(&op);
    config.skip_jwt_bearer_tokens = true;
    config.rules = MatchRules::bypass_if_matched(vec![PathRule::path("/public/*")]);
    let mut svc = service(config);
    assert_eq!(
        send_raw(&mut svc, "/api", "authorization", b"Bearer a.b.\xffc").await,
        401
    );

    // RequestAuthentication (Envoy's jwt_authn): 401, not an anonymous request that an
    // ALLOW policy without requestPrincipals then lets through.
    let yaml = format!(
        r#"apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: jwt, namespace: foo}}
spec:
  jwtRules: [{{issuer: "{ISS}", jwks: '{jwks}'}}]
"#,
        jwks = oidc_core::testing::jwks_of(&[&op.signing_key()])
    );
    let set = Arc::new(PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap());
    let workload = Workload::new("foo", [("app", "httpbin")]);
    let mut layered = JwtAuthLayer::new(set, workload).layer(tower::service_fn(app));
    assert_eq!(
        send_raw(&mut layered, "/", "authorization", b"Bearer \xff\xfe").await,
        401
    );
    assert_eq!(send_raw(&mut layered, "/", "x-other", b"\xff").await, 200);
}

#[tokio::test]
async fn policy_header_conditions_compare_bytes() {
    // A value that is not text is still a value: a DENY on its presence fires, and an
    // exact match compares the bytes.
    let yaml = r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-debug, namespace: foo}
spec:
  action: DENY
  rules: [{when: [{key: "request.headers[x-debug]", values: ["*"]}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-role, namespace: foo}
spec:
  action: DENY
  rules: [{when: [{key: "request.headers[x-role]", values: ["caf\u00e9"]}]}]
"#;
    let set = Arc::new(PolicySet::from_yaml(yaml, CompileOptions::default()).unwrap());
    let workload = Workload::new("foo", [("app", "httpbin")]);
    let mut svc = AuthorizationLayer::new(set, workload).layer(tower::service_fn(app));
    assert_eq!(send_raw(&mut svc, "/", "x-debug", b"\xff").await, 403);
    assert_eq!(
        send_raw(&mut svc, "/", "x-role", "café".as_bytes()).await,
        403
    );
    assert_eq!(send_raw(&mut svc, "/", "x-role", b"caf\xe9").await, 200);
    assert_eq!(send_raw(&mut svc, "/", "x-other", b"\xff").await, 200);
}

#[tokio::test]
async fn a_refresh_updates_the_identity_headers_policies_and_token_agree() {
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(now() as i64);
    let config = crate::browser::dev_config(&op)
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(std::time::Duration::from_secs(60));
    let sso = Sso::new(config).unwrap();
    let yaml = r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: admins-only, namespace: foo}
spec:
  action: ALLOW
  rules: [{to: [{operation: {paths: ["/admin"]}}], when: [{key: "request.auth.claims[groups]", values: ["admins"]}]},
          {to: [{operation: {notPaths: ["/admin"]}}]}]
"#;
    let set = Arc::new(PolicySet::from_yaml(yaml, CompileOptions::default()).unwrap());
    let mut svc = SsoLayer::new(sso).layer(
        AuthorizationLayer::new(set, Workload::new("foo", [("app", "httpbin")]))
            .layer(tower::service_fn(app)),
    );
    let mut browser = Browser::default();
    let page = browser.visit(&mut svc, &op, "/admin", "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.json()["headers"]["x-forwarded-groups"],
        "admins,group1"
    );

    // The provider removes alice from admins; after the next refresh she is out.
    let mut alice = DevUser::new_for_tests("alice");
    alice.name = "Alice Example".into();
    alice.groups = vec!["group1".into()];
    op.add_user(alice.clone());
    clock.advance(61);
    let page = browser
        .send(&mut svc, "GET", "/elsewhere", &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["headers"]["x-forwarded-groups"], "group1");
    let token = crate::sso::id_token_claims(&page);
    assert_eq!(
        token["groups"],
        serde_json::json!(["group1"]),
        "the forwarded token agrees"
    );
    let denied = browser
        .send(&mut svc, "GET", "/admin", &[("accept", "text/html")])
        .await;
    assert_eq!(denied.status, 403, "the policy sees the refreshed groups");

    // An e-mail no longer verified at the provider ends the session at the next refresh.
    alice.email_verified = false;
    op.add_user(alice);
    clock.advance(61);
    let api = browser
        .send(
            &mut svc,
            "GET",
            "/elsewhere",
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(api.status, 401, "{}", api.body);
}

#[tokio::test]
async fn the_auth_endpoint_answers_every_identity_header_empty_when_the_user_has_none() {
    // Envoy (ext_authz over HTTP with a path prefix) keeps a client's copy of any header
    // the 2xx answer does not carry.
    let op = DevProvider::new(ISS);
    op.add_user(DevUser::new_for_tests("carol"));
    let mut svc = service(crate::browser::dev_config(&op));
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "carol").await.status, 200);
    let answer = browser
        .send(
            &mut svc,
            "GET",
            "/oauth2/auth",
            &[
                ("x-forwarded-groups", "admins"),
                ("x-auth-request-groups", "admins"),
            ],
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let h = &answer.headers;
    assert_eq!(h["x-forwarded-user"], "carol-sub");
    for name in [
        "x-forwarded-groups",
        "x-forwarded-access-token",
        "x-auth-request-user",
        "x-auth-request-groups",
        "x-auth-request-access-token",
    ] {
        assert_eq!(h.get_all(name).iter().count(), 1, "{name}");
        assert_ne!(h[name], "admins", "{name}");
    }
    assert_eq!(h["x-forwarded-groups"], "");
}

#[tokio::test]
async fn an_email_verified_that_is_not_true_is_unverified() {
    // "FALSE", 0 or null are not "the provider did not say": the address is unverified.
    let op = DevProvider::new(ISS);
    let mut config = crate::browser::dev_config(&op);
    config.skip_jwt_bearer_tokens = true;
    config.email_domains = vec!["example.com".into()];
    let mut svc = service(config);
    for (verified, status) in [
        (serde_json::json!("FALSE"), 403),
        (serde_json::json!("no"), 403),
        (serde_json::json!(0), 403),
        (serde_json::Value::Null, 403),
        (serde_json::json!("true"), 200),
        (serde_json::json!(true), 200),
    ] {
        let claims = serde_json::json!({"sub": "m", "email": "ceo@example.com",
                                        "email_verified": verified});
        let answer = as_bearer(&mut svc, &op, claims).await;
        assert_eq!(answer.status, status, "{verified}: {}", answer.body);
    }
}
