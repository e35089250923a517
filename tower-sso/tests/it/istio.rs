//! The seeds' Istio scenarios through JwtAuthLayer and AuthorizationLayer (and SsoLayer as
//! a CUSTOM provider).

use std::sync::Arc;

use authz_policy::{CompileOptions, PolicySet, Workload};
use oidc_core::testing::DevProvider;
use tower::{Layer as _, ServiceBuilder};
use tower_sso::sso::rules::MatchRules;
use tower_sso::{AuthorizationLayer, CustomProvider, JwtAuthLayer, Sso, SsoLayer};

use crate::browser::{Browser, app};

fn seed(name: &str) -> String {
    let path = format!(
        "{}/../authz-policy/tests/data/seeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn policies(files: &[&str]) -> Arc<PolicySet> {
    let yaml: Vec<String> = files.iter().map(|f| seed(f)).collect();
    Arc::new(PolicySet::from_yaml(&yaml.join("\n---\n"), CompileOptions::default()).unwrap())
}

fn httpbin() -> Workload {
    Workload::new("foo", [("app", "httpbin")])
}

#[tokio::test]
async fn seed_003_tables_through_the_layers() {
    let token = seed("token.jwt");
    let group_token = seed("token-group.jwt");
    let bearer = |t: &str| format!("Bearer {}", t.trim());
    let cases: [(&[&str], Option<String>, u16); 7] = [
        // RequestAuthentication alone: valid 200, invalid 401, none 200.
        (
            &["003-request-authentication.yaml"],
            Some(bearer(&token)),
            200,
        ),
        (
            &["003-request-authentication.yaml"],
            Some("Bearer invalidtoken".into()),
            401,
        ),
        (&["003-request-authentication.yaml"], None, 200),
        // With require-jwt: valid 200, none 403 (invalid: 401, the JWT filter runs first).
        (
            &["003-request-authentication.yaml", "003-require-jwt.yaml"],
            Some(bearer(&token)),
            200,
        ),
        (
            &["003-request-authentication.yaml", "003-require-jwt.yaml"],
            None,
            403,
        ),
        // With the groups condition.
        (
            &[
                "003-request-authentication.yaml",
                "003-require-jwt-groups.yaml",
            ],
            Some(bearer(&group_token)),
            200,
        ),
        (
            &[
                "003-request-authentication.yaml",
                "003-require-jwt-groups.yaml",
            ],
            Some(bearer(&token)),
            403,
        ),
    ];
    for (files, auth, status) in cases {
        let set = policies(files);
        let mut svc = ServiceBuilder::new()
            .layer(JwtAuthLayer::new(set.clone(), httpbin()))
            .layer(AuthorizationLayer::new(set, httpbin()))
            .service(tower::service_fn(app));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let answer = Browser::default()
            .send(&mut svc, "GET", "/headers", &headers)
            .await;
        assert_eq!(answer.status, status, "{files:?} {auth:?}: {}", answer.body);
        if status == 200 && auth.is_some() {
            // forwardOriginalToken is false: the token does not reach the app.
            assert!(answer.json()["headers"].get("authorization").is_none());
        }
        if status == 401 {
            assert!(
                answer.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .contains("invalid_token")
            );
        }
    }
}

#[tokio::test]
async fn opt_in_401_for_requests_denied_for_want_of_a_token() {
    let set = policies(&["003-request-authentication.yaml", "003-require-jwt.yaml"]);
    let mut svc = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(set.clone(), httpbin()))
        .layer(AuthorizationLayer::new(set, httpbin()).unauthenticated_as_401(true))
        .service(tower::service_fn(app));
    let answer = Browser::default()
        .send(&mut svc, "GET", "/headers", &[])
        .await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.headers["www-authenticate"], "Bearer");
}

const ISS: &str = crate::browser::DEV_ISSUER;

fn sso(op: &DevProvider) -> Sso {
    let config = crate::browser::dev_config(op)
        // The SSO layer only serves its endpoints here; the CUSTOM policy decides.
        .rules(MatchRules::authenticate_if_matched(vec![]));
    Sso::new(config).unwrap()
}

fn gateway() -> Workload {
    Workload::new("istio-system", [("istio", "ingressgateway")])
}

#[tokio::test]
async fn seed_000_custom_provider_is_our_sso_and_every_request_needs_a_login() {
    let op = DevProvider::new(ISS);
    let sso = sso(&op);
    let set = policies(&["000-custom-oidc.yaml"]);
    let authz = AuthorizationLayer::new(set, gateway())
        .custom_provider("httpextauth-oidc", CustomProvider::Sso(sso.clone()));
    let mut svc = SsoLayer::new(sso).layer(authz.layer(tower::service_fn(app)));
    let mut browser = Browser::default();
    let first = browser
        .send(&mut svc, "GET", "/productpage", &[("accept", "text/html")])
        .await;
    assert_eq!(first.status, 302, "{}", first.body);
    assert!(first.location().starts_with("http://127.0.0.1:9/authorize"));
    let page = browser.visit(&mut svc, &op, "/productpage", "alice").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = page.json();
    assert_eq!(seen["headers"]["x-forwarded-user"], "alice-sub");
    assert!(
        seen["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey")
    );
    // An API client without a session gets 401.
    let api = Browser::default()
        .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status, 401);
}

#[tokio::test]
async fn seed_002_port_80_is_exempt_from_the_custom_provider() {
    let op = DevProvider::new(ISS);
    let sso = sso(&op);
    let set = policies(&["002-custom-not-ports.yaml"]);
    for (port, status) in [(80, 200), (443, 302)] {
        let authz = AuthorizationLayer::new(set.clone(), gateway())
            .port(port)
            .custom_provider("httpextauth-oidc", CustomProvider::Sso(sso.clone()));
        let mut svc = SsoLayer::new(sso.clone()).layer(authz.layer(tower::service_fn(app)));
        let answer = Browser::default()
            .send(&mut svc, "GET", "/auth/admin", &[("accept", "text/html")])
            .await;
        assert_eq!(answer.status, status, "port {port}");
    }
}

#[tokio::test]
async fn an_unmapped_custom_provider_fails_closed() {
    let set = policies(&["000-custom-oidc.yaml"]);
    let mut svc = AuthorizationLayer::new(set, gateway()).layer(tower::service_fn(app));
    let answer = Browser::default().send(&mut svc, "GET", "/", &[]).await;
    assert_eq!(answer.status, 403);
}

#[tokio::test]
async fn sso_identity_feeds_request_principals_and_claims_rules() {
    let op = DevProvider::new(ISS);
    let sso = sso(&op).clone();
    let yaml = format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: admins, namespace: foo}}\nspec:\n  rules:\n  - from: [{{source: {{requestPrincipals: [\"{ISS}/*\"]}}}}]\n    when: [{{key: \"request.auth.claims[groups]\", values: [admins]}}]\n"
    );
    let set = Arc::new(PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap());
    let mut config = sso.config().clone();
    config.rules = MatchRules::default();
    let sso = Sso::new(config).unwrap();
    let mut svc = SsoLayer::new(sso)
        .layer(AuthorizationLayer::new(set, httpbin()).layer(tower::service_fn(app)));
    let mut alice = Browser::default();
    assert_eq!(
        alice.visit(&mut svc, &op, "/", "alice").await.status,
        200,
        "alice is in admins"
    );
    let mut bob = Browser::default();
    assert_eq!(
        bob.visit(&mut svc, &op, "/", "bob").await.status,
        403,
        "bob is not"
    );
}

/// An application that reports what the layers left in the request: headers, URI, and the
/// identity and decision extensions.
async fn inspect(
    req: http::Request<http_body_util::Full<bytes::Bytes>>,
) -> Result<http::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    let headers: std::collections::BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
        .collect();
    let identity = req.extensions().get::<authz_policy::Identity>();
    let decision = req.extensions().get::<authz_policy::Decision>();
    let body = serde_json::json!({
        "uri": req.uri().to_string(),
        "headers": headers,
        "principal": identity.and_then(|i| i.principal()),
        "groups": identity.map(|i| i.claims().groups.clone()),
        "decision": decision.map(|d| serde_json::json!({
            "status": d.status, "policy": d.policy.as_deref(), "rule": d.rule,
        })),
    });
    Ok(http::Response::new(http_body_util::Full::new(
        bytes::Bytes::from(body.to_string()),
    )))
}

#[tokio::test]
async fn jwt_outputs_and_the_identity_reach_the_application() {
    let ra = seed("003-request-authentication.yaml").replace(
        "  - issuer: \"testing@secure.istio.io\"\n",
        concat!(
            "  - issuer: \"testing@secure.istio.io\"\n",
            "    outputPayloadToHeader: x-jwt-payload\n",
            "    outputClaimToHeaders:\n",
            "    - header: x-jwt-sub\n",
            "      claim: sub\n",
        ),
    );
    let yaml = format!("{ra}\n---\n{}", seed("003-require-jwt-groups.yaml"));
    let set = Arc::new(PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap());
    let mut svc = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(set.clone(), httpbin()))
        .layer(AuthorizationLayer::new(set, httpbin()))
        .service(tower::service_fn(inspect));
    let token = seed("token-group.jwt");
    let token = token.trim();
    let seen = Browser::default()
        .send(
            &mut svc,
            "GET",
            &format!("/headers?access_token={token}&keep=1"),
            &[
                ("x-jwt-sub", "spoofed"),
                ("x_jwt_sub", "spoofed"),
                ("X-Jwt_Payload", "spoofed"),
            ],
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let seen = seen.json();
    for spelling in ["x_jwt_sub", "x-jwt_payload"] {
        assert!(
            seen["headers"].get(spelling).is_none(),
            "{spelling}: an output header is never the client's, however spelled"
        );
    }
    assert_eq!(seen["uri"], "/headers?keep=1", "the token left the query");
    assert_eq!(seen["headers"]["x-jwt-sub"], "testing@secure.istio.io");
    assert_eq!(
        seen["headers"]["x-jwt-payload"],
        token.split('.').nth(1).unwrap()
    );
    assert_eq!(
        seen["principal"],
        "testing@secure.istio.io/testing@secure.istio.io"
    );
    assert_eq!(seen["groups"], serde_json::json!(["group1", "group2"]));
    assert_eq!(seen["decision"]["status"], 200);
    assert_eq!(seen["decision"]["policy"], "foo/require-jwt");
    assert_eq!(seen["decision"]["rule"], 0);

    // From the Authorization header: removed before the application (forwardOriginalToken
    // is false), as Istio does.
    let bearer = format!("Bearer {token}");
    let seen = Browser::default()
        .send(&mut svc, "GET", "/headers", &[("authorization", &bearer)])
        .await
        .json();
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");
    assert_eq!(seen["headers"]["x-jwt-sub"], "testing@secure.istio.io");
}

#[tokio::test]
async fn a_denial_is_logged_in_an_authorization_span_naming_the_policy() {
    let (logs, _guard) = crate::browser::Logs::capture(tracing::Level::INFO);
    let set = policies(&["003-request-authentication.yaml", "003-require-jwt.yaml"]);
    let mut svc = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(set.clone(), httpbin()))
        .layer(AuthorizationLayer::new(set, httpbin()))
        .service(tower::service_fn(app));
    let answer = Browser::default()
        .send(&mut svc, "GET", "/headers", &[])
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["message"], "RBAC: access denied");
    let text = logs.text();
    assert!(text.contains("authorization{"), "{text}");
    assert!(text.contains("status=403"), "{text}");
    assert!(text.contains("request denied"), "{text}");
}

#[tokio::test]
async fn a_custom_sso_provider_refreshes_due_sessions_too() {
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(crate::sso::unix_now());
    let config = sso(&op)
        .config()
        .clone()
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(std::time::Duration::from_secs(60));
    let sso = Sso::new(config).unwrap();
    let authz = AuthorizationLayer::new(policies(&["000-custom-oidc.yaml"]), gateway())
        .custom_provider("httpextauth-oidc", CustomProvider::Sso(sso.clone()));
    let mut svc = SsoLayer::new(sso).layer(authz.layer(tower::service_fn(app)));
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    clock.advance(61);
    let before = op.token_requests();
    let page = browser
        .send(&mut svc, "GET", "/", &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(op.token_requests() - before, 1, "refreshed once");
    assert!(
        page.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=")),
        "the refreshed session reaches the browser"
    );
    // And the next request needs no refresh.
    let again = browser
        .send(&mut svc, "GET", "/", &[("accept", "text/html")])
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(op.token_requests() - before, 1);
}

/// The token of an `authz-policy` conformance case's request.
fn conformance_case(name: &str) -> (Arc<PolicySet>, String) {
    let dir = format!(
        "{}/../authz-policy/tests/data/istio/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let yaml = std::fs::read_to_string(format!("{dir}/policies.yaml")).unwrap();
    let request: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/request.json")).unwrap())
            .unwrap();
    let set = Arc::new(PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap());
    let authorization = request["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    (set, authorization)
}

#[tokio::test]
async fn jwt_auth_layer_refuses_sender_constrained_tokens_as_bearers() {
    for (case, status, says) in [
        (
            "jwt-cnf-jkt-refused",
            401,
            Some("sender-constrained (cnf jkt)"),
        ),
        (
            "jwt-cnf-x5t-refused",
            401,
            Some("sender-constrained (cnf x5t#S256)"),
        ),
        // The same issuer, subject and key, without cnf.
        ("jwt-valid-rs256", 200, None),
    ] {
        let (set, authorization) = conformance_case(case);
        let mut svc = ServiceBuilder::new()
            .layer(JwtAuthLayer::new(set.clone(), httpbin()))
            .layer(AuthorizationLayer::new(set, httpbin()))
            .service(tower::service_fn(app));
        let answer = Browser::default()
            .send(
                &mut svc,
                "GET",
                "/headers",
                &[("authorization", &authorization)],
            )
            .await;
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        if let Some(says) = says {
            assert_eq!(answer.json()["error"], "invalid_token", "{case}");
            let message = answer.json()["message"].as_str().unwrap().to_owned();
            assert!(
                message.contains(says) && message.contains("cannot be used as a bearer token"),
                "{case}: {message}"
            );
        }
    }
}
