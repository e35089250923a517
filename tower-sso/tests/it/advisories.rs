//! Published advisories against oauth2-proxy, mod_auth_openidc and Envoy, replayed against
//! the layers as a library uses them. Each test is named after the advisory and says what
//! it was; `SECURITY.md` maps every advisory to its test. The gateway-level ones are in
//! `examples/tests/advisories.rs`, the policy-engine ones in `authz-policy/tests/it`.

use std::sync::{Arc, Mutex};

use oidc_core::testing::{DevProvider, mint};
use tower::Layer as _;
use tower_sso::sso::Sso;
use tower_sso::{AuthorizationLayer, CustomProvider, ExtAuthzHttp};

use crate::browser::{Browser, app};
use crate::sso::{id_token_claims, logout_token, post_logout, unix_now};

const ISS: &str = crate::browser::DEV_ISSUER;

use crate::browser::sso_app as service;

/// GHSA-wcvh-g65p-v576 (mod_auth_openidc 2.4.20): locally validated JWT access tokens were
/// checked for their signature only: no `aud`, no `iss`, and `exp` optional, so a token
/// minted for another resource server was accepted. `--skip-jwt-bearer-tokens` binds them
/// to the issuer, the client id as audience, and a required expiry.
#[tokio::test]
async fn ghsa_wcvh_g65p_v576_bearer_tokens_are_bound_to_issuer_audience_and_expiry() {
    let op = DevProvider::new(ISS);
    let mut config = crate::browser::dev_config(&op);
    config.skip_jwt_bearer_tokens = true;
    let mut svc = service(config);
    let now = unix_now();
    let claims = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = serde_json::json!({"iss": ISS, "aud": "dev-client", "sub": "svc-1",
                                       "email": "svc@example.com", "iat": now, "exp": now + 300});
        edit(&mut c);
        format!("Bearer {}", mint(&op.signing_key(), c))
    };
    let mut caller = Browser::default();
    let good = claims(&|_| {});
    let answer = caller
        .send(&mut svc, "GET", "/api", &[("authorization", &good)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["headers"]["x-forwarded-user"], "svc-1");
    for (why, bad) in [
        (
            "another audience",
            claims(&|c| c["aud"] = "other-api".into()),
        ),
        (
            "no audience",
            claims(&|c| drop(c.as_object_mut().unwrap().remove("aud"))),
        ),
        (
            "another issuer",
            claims(&|c| c["iss"] = "https://evil.example".into()),
        ),
        (
            "no issuer",
            claims(&|c| drop(c.as_object_mut().unwrap().remove("iss"))),
        ),
        (
            "no expiry",
            claims(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        ("expired", claims(&|c| c["exp"] = (now - 600).into())),
    ] {
        let answer = caller
            .send(&mut svc, "GET", "/api", &[("authorization", &bad)])
            .await;
        assert_eq!(answer.status, 401, "{why}: {}", answer.body);
        assert!(
            answer.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{why}"
        );
    }
}

/// mod_auth_openidc 2.4.20 (ChangeLog 2026-08: "reject duplicated protocol parameters"):
/// with `logout_token` twice, which one is verified and which one is acted on was up to
/// each component. A back-channel logout carries exactly one.
#[tokio::test]
async fn mod_auth_openidc_2_4_20_a_repeated_logout_token_is_refused() {
    let op = DevProvider::new(ISS);
    let mut svc = service(crate::browser::dev_config(&op));
    let mut alice = Browser::default();
    let page = alice.visit(&mut svc, &op, "/", "alice").await;
    let sid = id_token_claims(&page)["sid"].as_str().unwrap().to_owned();
    let token = |jti: &str| {
        logout_token(
            &op,
            serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": unix_now(), "jti": jti,
                               "sid": sid,
                               "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
        )
    };
    for form in [
        format!("{}&logout_token={}", token("one"), token("two")),
        format!("{}&logout_token=", token("three")),
    ] {
        let answer = post_logout(&mut svc, &form).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(answer.body.contains("repeated"), "{}", answer.body);
    }
    let html = [("accept", "text/html")];
    assert_eq!(alice.send(&mut svc, "GET", "/", &html).await.status, 200);
    assert_eq!(post_logout(&mut svc, &token("four")).await.status, 200);
    assert_eq!(alice.send(&mut svc, "GET", "/", &html).await.status, 302);
}

/// CVE-2025-55162 (GHSA-95j4-hw7f-v2rh, Envoy OAuth2 filter): sign-out cleared its
/// cookies without `Secure`, and browsers ignore a `Set-Cookie` for a `__Secure-` or
/// `__Host-` name without it, so signing out did nothing. Our removals repeat the
/// attributes the cookie was set with; a prefixed name whose rules the configuration
/// breaks is refused at start.
#[tokio::test]
async fn cve_2025_55162_prefixed_cookies_are_cleared_with_their_attributes() {
    let op = DevProvider::new(ISS);
    let mut config = crate::browser::dev_config(&op);
    config.cookie.name = "__Host-sso".into();
    // The dev configuration is plain http on loopback, where Secure is off by default.
    config.cookie.secure = true;
    let mut svc = service(config.clone());
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    assert!(browser.jar.keys().any(|k| k.starts_with("__Host-sso")));
    let out = browser.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;
    assert_eq!(out.status, 302);
    let removals: Vec<String> = out
        .set_cookies()
        .into_iter()
        .filter(|l| l.starts_with("__Host-sso"))
        .collect();
    assert!(!removals.is_empty());
    for line in &removals {
        assert!(line.contains("Max-Age=0"), "{line}");
        assert!(line.contains("; Secure"), "{line}");
        assert!(line.contains("Path=/"), "{line}");
        assert!(!line.contains("Domain"), "{line}");
    }
    assert!(!browser.jar.keys().any(|k| k.starts_with("__Host-sso")));

    // Names whose prefix rules the attributes break never reach a browser.
    let mut with_domain = config.clone();
    with_domain.cookie.domain = Some("example.com".into());
    let mut not_secure = config.clone();
    not_secure.cookie.secure = false;
    let mut other_path = config.clone();
    other_path.cookie.path = "/app".into();
    let mut secure_prefix = config;
    secure_prefix.cookie.name = "__Secure-sso".into();
    secure_prefix.cookie.secure = false;
    for bad in [with_domain, not_secure, other_path, secure_prefix] {
        let e = Sso::new(bad).unwrap_err().to_string();
        assert!(e.contains("cookie-name"), "{e}");
    }
}

/// An ext_authz authorizer that records each check request's headers and allows.
async fn recording_authorizer() -> (String, Arc<Mutex<Vec<http::HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let (remote, _) = crate::ext_authz::serve(tower::service_fn(
        move |req: http::Request<axum::body::Body>| {
            record.lock().unwrap().push(req.headers().clone());
            async {
                Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
            }
        },
    ))
    .await;
    (remote, seen)
}

/// CVE-2021-32777 (Envoy): the ext_authz check carried only the last value of a repeated
/// header, so the authorizer judged another request than the one forwarded. Every value
/// goes to the authorizer, in order.
#[tokio::test]
async fn cve_2021_32777_an_authorizer_sees_every_value_of_a_repeated_header() {
    let (remote, seen) = recording_authorizer().await;
    let provider = ExtAuthzHttp::builder(&remote)
        .include_request_headers_in_check(&["x-tenant"])
        .build()
        .unwrap();
    let mut svc =
        AuthorizationLayer::new(crate::ext_authz::seed_000(), crate::ext_authz::gateway())
            .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
            .layer(tower::service_fn(app));
    let req = http::Request::get("/productpage")
        .header("x-tenant", "public")
        .header("x-tenant", "admin")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let answer = tower::ServiceExt::oneshot(&mut svc, req).await.unwrap();
    assert_eq!(answer.status(), 200);
    let seen = seen.lock().unwrap();
    let values: Vec<&str> = seen[0]
        .get_all("x-tenant")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(values, ["public", "admin"]);
}

/// CVE-2024-34364 (Envoy): ext_authz and ext_proc buffered the authorizer's answer without
/// a bound. An answer over the HTTP client's 1 MiB cap is an authorizer error: the request
/// is denied with `statusOnError`, promptly, and the client sees none of that body.
#[tokio::test]
async fn cve_2024_34364_an_oversized_authorizer_answer_is_an_error_not_a_buffer() {
    let (remote, _) = crate::ext_authz::serve(tower::service_fn(
        |_: http::Request<axum::body::Body>| async {
            let mut r = http::Response::new(axum::body::Body::from(vec![b'x'; 5 << 20]));
            *r.status_mut() = http::StatusCode::FORBIDDEN;
            Ok::<_, std::convert::Infallible>(r)
        },
    ))
    .await;
    let provider = ExtAuthzHttp::builder(&remote).build().unwrap();
    let mut svc =
        AuthorizationLayer::new(crate::ext_authz::seed_000(), crate::ext_authz::gateway())
            .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
            .layer(tower::service_fn(app));
    let answer = Browser::default()
        .send(&mut svc, "GET", "/productpage", &[])
        .await;
    assert_eq!(answer.status, 403);
    assert!(answer.body.len() < 4096, "{} bytes", answer.body.len());
    assert!(
        answer.body.contains("ext_authz_unavailable"),
        "{}",
        answer.body
    );
}

/// GHSA-vjrc-mh2v-45x6 (CVE-2025-64484, oauth2-proxy 7.13.0), in the shape where a remote
/// authorizer decides (Istio CUSTOM through `ExtAuthzHttp`): the client's copies of the
/// headers an allowing answer sets are removed under every spelling, so
/// `X_Auth_Request_User` cannot sit next to the authorizer's `x-auth-request-user` for a
/// CGI-style application to pick. (The SSO layer's own case is
/// `fail_closed.rs::identity_headers_under_any_spelling_never_reach_the_app`.)
#[tokio::test]
async fn ghsa_vjrc_mh2v_45x6_an_authorizers_headers_replace_every_client_spelling() {
    let (remote, _) = crate::ext_authz::serve(tower::service_fn(
        |_: http::Request<axum::body::Body>| async {
            let mut ok = http::Response::new(axum::body::Body::empty());
            ok.headers_mut()
                .insert("x-auth-request-user", "carol".parse().unwrap());
            Ok::<_, std::convert::Infallible>(ok)
        },
    ))
    .await;
    let provider = ExtAuthzHttp::builder(&remote)
        .headers_to_upstream_on_allow(&["x-auth-request-*", "x-forwarded-email"])
        .build()
        .unwrap();
    let mut svc =
        AuthorizationLayer::new(crate::ext_authz::seed_000(), crate::ext_authz::gateway())
            .custom_provider("httpextauth-oidc", CustomProvider::ExtAuthzHttp(provider))
            .layer(tower::service_fn(app));
    let answer = Browser::default()
        .send(
            &mut svc,
            "GET",
            "/productpage",
            &[
                ("x_auth_request_user", "mallory"),
                ("X_Auth_Request_Groups", "admins"),
                ("x-forwarded_email", "ceo@example.com"),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen = answer.json();
    let headers = seen["headers"].as_object().unwrap();
    assert_eq!(headers["x-auth-request-user"], "carol");
    for (name, value) in headers {
        assert!(
            !["mallory", "admins", "ceo@example.com"].contains(&value.as_str().unwrap()),
            "{name}: {value}"
        );
    }
}
