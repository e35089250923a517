//! The SSO middleware against the in-process development provider.

use std::sync::Arc;

use oidc_core::testing::{DevProvider, DevUser};
use tower::Layer as _;
use tower_sso::sso::rules::{MatchRules, PathRule};
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Browser, Slow, concurrently};

const ISS: &str = crate::browser::DEV_ISSUER;

fn config(op: &DevProvider) -> SsoConfig {
    crate::browser::dev_config(op)
}

use crate::browser::sso_app as service;

#[tokio::test]
async fn a_browser_logs_in_and_the_app_sees_the_identity() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let page = browser
        .visit(&mut svc, &op, "/productpage?x=1", "alice")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = page.json();
    assert_eq!(seen["path"], "/productpage");
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-user"], "alice-sub");
    assert_eq!(h["x-forwarded-email"], "alice@example.com");
    assert_eq!(h["x-forwarded-preferred-username"], "alice");
    assert_eq!(h["x-forwarded-groups"], "admins,group1");
    assert!(
        h["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey"),
        "the ID token"
    );
    // The session cookie: HttpOnly, SameSite=Lax; not Secure only because this is http
    // on loopback.
    assert!(browser.jar.contains_key("_oauth2_proxy"));
    assert!(
        !browser.jar.keys().any(|k| k.contains("_csrf_")),
        "the login state is removed"
    );
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_app() {
    let op = DevProvider::new(ISS);
    let rules = MatchRules::bypass_if_matched(vec![PathRule::path("/public/*")]);
    let mut svc = service(config(&op).rules(rules));
    let mut browser = Browser::default();
    browser.visit(&mut svc, &op, "/", "bob").await;
    let spoof = [
        ("x-forwarded-user", "admin"),
        ("x-forwarded-email", "admin@corp"),
        ("x-forwarded-groups", "admins"),
        ("accept", "text/html"),
    ];
    let logged_in = browser
        .send(&mut svc, "GET", "/private", &spoof)
        .await
        .json();
    assert_eq!(logged_in["headers"]["x-forwarded-user"], "bob-sub");
    assert_eq!(logged_in["headers"]["x-forwarded-groups"], "group2");
    let mut anonymous = Browser::default();
    let public = anonymous
        .send(&mut svc, "GET", "/public/page", &spoof)
        .await
        .json();
    for name in [
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-groups",
    ] {
        assert!(
            public["headers"].get(name).is_none(),
            "{name} reached the app: {public}"
        );
    }
}

#[tokio::test]
async fn api_clients_get_401_json_never_a_redirect() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut client = Browser::default();
    for extra in [
        vec![("accept", "application/json")],
        vec![("x-requested-with", "XMLHttpRequest")],
        vec![("authorization", "Bearer abc")],
    ] {
        let r = client.send(&mut svc, "GET", "/api/orders", &extra).await;
        assert_eq!(r.status, 401, "{extra:?}");
        assert!(r.headers.contains_key("www-authenticate"));
        assert_eq!(r.json()["error"], "unauthorized");
    }
    let post = client
        .send(&mut svc, "POST", "/api/orders", &[("accept", "text/html")])
        .await;
    assert_eq!(post.status, 401, "a non-GET is never redirected");
}

#[tokio::test]
async fn seed_001_only_productpage_needs_a_login() {
    let op = DevProvider::new(ISS);
    let rules = MatchRules::authenticate_if_matched(vec![PathRule::path("/productpage")]);
    let mut svc = service(config(&op).rules(rules));
    let mut browser = Browser::default();
    let free = browser
        .send(
            &mut svc,
            "GET",
            "/static/app.css",
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(free.status, 200);
    let guarded = browser
        .send(&mut svc, "GET", "/productpage", &[("accept", "text/html")])
        .await;
    assert_eq!(guarded.status, 302);
    assert!(
        guarded
            .location()
            .starts_with("http://127.0.0.1:9/authorize?")
    );
    // The sign-out endpoint is reachable without a session.
    let out = browser.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;
    assert_eq!((out.status, out.location()), (302, "/"));
}

#[tokio::test]
async fn sign_out_clears_the_session_and_follows_the_provider_logout() {
    let op = DevProvider::new(ISS);
    let mut config = config(&op);
    config.provider_logout = true;
    let mut svc = service(config);
    let mut browser = Browser::default();
    browser.visit(&mut svc, &op, "/", "alice").await;
    let out = browser
        .send(&mut svc, "GET", "/oauth2/sign_out?rd=/bye", &[])
        .await;
    assert_eq!(out.status, 302);
    let location = url::Url::parse(out.location()).unwrap();
    assert_eq!(location.path(), "/end_session");
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert!(params["id_token_hint"].starts_with("ey"));
    assert_eq!(
        params["post_logout_redirect_uri"],
        "http://127.0.0.1:8080/bye"
    );
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=") && c.contains("Max-Age=0"))
    );
    assert!(browser.jar.is_empty());
    let again = browser
        .send(&mut svc, "GET", "/", &[("accept", "text/html")])
        .await;
    assert_eq!(again.status, 302, "logged out");
}

#[tokio::test]
async fn tampered_expired_or_foreign_cookies_mean_log_in_again_never_500() {
    let op = DevProvider::new(ISS);
    // Many groups make the session large enough to be chunked.
    let mut big = DevUser::new_for_tests("carol");
    big.groups = (0..300)
        .map(|i| format!("group-with-a-long-name-{i:04}"))
        .collect();
    op.add_user(big);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let page = browser.visit(&mut svc, &op, "/", "carol").await;
    assert_eq!(page.status, 200);
    let chunks: Vec<String> = browser
        .jar
        .keys()
        .filter(|k| k.starts_with("_oauth2_proxy_"))
        .cloned()
        .collect();
    assert!(chunks.len() >= 2, "{:?}", browser.jar.keys());

    let html = [("accept", "text/html")];
    let relogin = |status: u16| status == 302;
    // A flipped byte.
    let mut flipped = browser.clone();
    let v = flipped.jar.get_mut(&chunks[0]).unwrap();
    let c = if v.ends_with('A') { 'B' } else { 'A' };
    v.pop();
    v.push(c);
    assert!(relogin(
        flipped.send(&mut svc, "GET", "/", &html).await.status
    ));
    // Chunks swapped.
    let mut swapped = browser.clone();
    let (a, b) = (
        swapped.jar[&chunks[0]].clone(),
        swapped.jar[&chunks[1]].clone(),
    );
    swapped.jar.insert(chunks[0].clone(), b);
    swapped.jar.insert(chunks[1].clone(), a);
    assert!(relogin(
        swapped.send(&mut svc, "GET", "/", &html).await.status
    ));
    // A chunk missing.
    let mut missing = browser.clone();
    missing.jar.remove(&chunks[1]);
    assert!(relogin(
        missing.send(&mut svc, "GET", "/", &html).await.status
    ));
    // The value under another cookie name.
    let mut foreign = Browser::default();
    let joined: String = chunks.iter().map(|c| browser.jar[c].clone()).collect();
    foreign.jar.insert("_other".into(), joined.clone());
    let mut renamed = config(&op);
    renamed.cookie.name = "_other".into();
    let mut other_svc = service(renamed);
    assert!(relogin(
        foreign.send(&mut other_svc, "GET", "/", &html).await.status
    ));
    // Garbage.
    let mut garbage = Browser::default();
    garbage
        .jar
        .insert("_oauth2_proxy".into(), "%%%not-base64".into());
    assert!(relogin(
        garbage.send(&mut svc, "GET", "/", &html).await.status
    ));
    // The intact session still works.
    assert_eq!(browser.send(&mut svc, "GET", "/", &html).await.status, 200);
}

#[tokio::test]
async fn every_set_cookie_line_fits_4096_bytes_with_many_claims() {
    let op = DevProvider::new(ISS);
    let mut big = DevUser::new_for_tests("dave");
    big.groups = (0..400)
        .map(|i| format!("g-{i:05}-{}", "x".repeat(20)))
        .collect();
    op.add_user(big);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let start = browser
        .send(&mut svc, "GET", "/oauth2/start?rd=/", &[])
        .await;
    let callback = op.login(start.location(), "dave").unwrap();
    let answer = browser
        .send(&mut svc, "GET", &callback[url::Position::BeforePath..], &[])
        .await;
    assert_eq!(answer.status, 302);
    let lines = answer.set_cookies();
    assert!(lines.len() >= 3);
    for line in lines {
        assert!(
            "Set-Cookie: ".len() + line.len() <= 4096,
            "{} bytes",
            line.len()
        );
    }
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    for evil in [
        "//evil.example/",
        "/\\evil.example",
        "https://evil.example/",
        "https:evil.example",
        "/%0d%0aSet-Cookie:x=y",
    ] {
        let mut browser = Browser::default();
        let rd: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let start = browser
            .send(&mut svc, "GET", &format!("/oauth2/start?rd={rd}"), &[])
            .await;
        let callback = op.login(start.location(), "alice").unwrap();
        let back = browser
            .send(&mut svc, "GET", &callback[url::Position::BeforePath..], &[])
            .await;
        assert_eq!(back.status, 302);
        let location = back.location();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains("evil"),
            "{evil} -> {location}"
        );
    }
}

#[tokio::test]
async fn five_parallel_logins_in_one_browser_all_finish() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let starts = browser.open_tabs(&mut svc, 5).await;
    // Finish them in reverse order, as tabs do.
    for (i, start) in starts.iter().enumerate().rev() {
        let callback = op.login(start, "alice").unwrap();
        let back = browser
            .send(&mut svc, "GET", &callback[url::Position::BeforePath..], &[])
            .await;
        assert_eq!(
            (back.status, back.location()),
            (302, format!("/tab/{i}").as_str()),
            "{}",
            back.body
        );
    }
}

#[tokio::test]
async fn provider_down_gives_503_then_logins_work_without_restart() {
    let op = DevProvider::new(ISS);
    op.set_down(true);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let down = browser
        .send(&mut svc, "GET", "/", &[("accept", "text/html")])
        .await;
    assert_eq!(down.status, 503);
    assert!(down.body.contains("cannot be reached"));
    op.set_down(false);
    let page = browser.visit(&mut svc, &op, "/", "alice").await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn callback_errors_render_pages_not_500s() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    let unknown = browser
        .send(
            &mut svc,
            "GET",
            "/oauth2/callback?code=x&state=nope",
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(unknown.status, 403);
    assert!(unknown.body.contains("<html>") || unknown.body.contains("<!doctype html>"));
    let start = browser.send(&mut svc, "GET", "/oauth2/start", &[]).await;
    let state: String = url::Url::parse(start.location())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = browser
        .send(
            &mut svc,
            "GET",
            &format!("/oauth2/callback?error=access_denied&error_description=no&state={state}"),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(denied.status, 403);
    assert!(
        denied.json()["message"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );
}

#[tokio::test]
async fn userinfo_and_auth_endpoints() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .send(&mut svc, "GET", "/oauth2/auth", &[])
            .await
            .status,
        401
    );
    browser.visit(&mut svc, &op, "/", "alice").await;
    let info = browser.send(&mut svc, "GET", "/oauth2/userinfo", &[]).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["email"], "alice@example.com");
    let auth = browser.send(&mut svc, "GET", "/oauth2/auth", &[]).await;
    assert_eq!(auth.status, 202);
    assert_eq!(auth.headers["x-forwarded-user"], "alice-sub");
    assert_eq!(
        browser
            .send(&mut svc, "GET", "/oauth2/nothing", &[])
            .await
            .status,
        404
    );
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_requests_refresh_once_with_rotating_refresh_tokens() {
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let config = config(&op)
        .http(Arc::new(Slow(
            op.clone(),
            std::time::Duration::from_millis(50),
        )))
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(std::time::Duration::from_secs(60));
    let svc = service(config);
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .visit(&mut svc.clone(), &op, "/", "alice")
            .await
            .status,
        200
    );
    clock.advance(61);
    let before = op.token_requests();
    let answers = concurrently(50, |_| {
        let (mut svc, mut b) = (svc.clone(), browser.clone());
        async move {
            b.send(&mut svc, "GET", "/api", &[("accept", "application/json")])
                .await
        }
    })
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["headers"]["x-forwarded-user"], "alice-sub");
        assert!(
            !answer.set_cookies().is_empty(),
            "the refreshed session is written back"
        );
    }
    assert_eq!(
        op.token_requests() - before,
        1,
        "one refresh for fifty requests"
    );
    // The new cookie carries the new refresh token: the next refresh works too.
    let mut next = browser.clone();
    next.send(
        &mut svc.clone(),
        "GET",
        "/api",
        &[("accept", "application/json")],
    )
    .await;
    clock.advance(61);
    let again = next
        .send(
            &mut svc.clone(),
            "GET",
            "/api",
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(op.token_requests() - before, 2);
}

#[tokio::test]
async fn a_failed_refresh_ends_the_session() {
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let config = config(&op)
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(std::time::Duration::from_secs(60));
    let mut svc = service(config);
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    op.forget_grants();
    clock.advance(61);
    let api = browser
        .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status, 401, "{}", api.body);
    assert!(
        api.set_cookies().iter().any(|c| c.contains("Max-Age=0")),
        "the dead session is removed"
    );
    assert!(browser.jar.is_empty());
}

pub(crate) fn id_token_claims(app_answer: &crate::browser::Answer) -> serde_json::Value {
    use base64::Engine as _;
    let bearer = app_answer.json()["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let payload = bearer
        .trim_start_matches("Bearer ")
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub(crate) fn logout_token(op: &DevProvider, claims: serde_json::Value) -> String {
    oidc_core::testing::mint_with_header(
        &op.signing_key(),
        &serde_json::json!({"alg": "RS256", "kid": op.signing_key().kid(), "typ": "logout+jwt"}),
        &claims,
    )
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) async fn post_logout<S, B>(svc: &mut S, token: &str) -> crate::browser::Answer
where
    S: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let form = format!("logout_token={token}");
    let req = http::Request::post("/oauth2/backchannel_logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from(form)))
        .unwrap();
    let response = svc.ready().await.unwrap().call(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    crate::browser::Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test]
async fn back_channel_logout_ends_the_session_it_names() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut alice = Browser::default();
    let page = alice.visit(&mut svc, &op, "/", "alice").await;
    let sid = id_token_claims(&page)["sid"].as_str().unwrap().to_owned();
    let mut bob = Browser::default();
    bob.visit(&mut svc, &op, "/", "bob").await;
    let event = serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}});
    let claims = |extra: serde_json::Value| {
        let mut c = serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": unix_now(), "jti": format!("jti-{}", unix_now()), "events": event});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // Refused: missing event, nonce present, other audience, no sid/sub, garbage.
    for bad in [
        logout_token(&op, claims(serde_json::json!({"sid": sid, "events": {}}))),
        logout_token(&op, claims(serde_json::json!({"sid": sid, "nonce": "n"}))),
        logout_token(&op, claims(serde_json::json!({"sid": sid, "aud": "other"}))),
        logout_token(&op, claims(serde_json::json!({"jti": "x"}))),
        "not.a.token".to_owned(),
    ] {
        let answer = post_logout(&mut svc, &bad).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
    }
    assert_eq!(
        alice
            .send(&mut svc, "GET", "/", &[("accept", "text/html")])
            .await
            .status,
        200,
        "still logged in"
    );
    let good = logout_token(
        &op,
        claims(serde_json::json!({"sid": sid, "jti": "one-time"})),
    );
    assert_eq!(post_logout(&mut svc, &good).await.status, 200);
    assert_eq!(
        post_logout(&mut svc, &good).await.status,
        400,
        "a replayed jti is refused"
    );
    assert_eq!(
        alice
            .send(&mut svc, "GET", "/", &[("accept", "text/html")])
            .await
            .status,
        302,
        "alice logs in again"
    );
    assert_eq!(
        bob.send(&mut svc, "GET", "/", &[("accept", "text/html")])
            .await
            .status,
        200,
        "bob is untouched"
    );
    // A sub-only logout ends every session of that subject.
    let by_sub = logout_token(
        &op,
        claims(serde_json::json!({"sub": "bob-sub", "jti": "two"})),
    );
    assert_eq!(post_logout(&mut svc, &by_sub).await.status, 200);
    assert_eq!(
        bob.send(&mut svc, "GET", "/", &[("accept", "text/html")])
            .await
            .status,
        302
    );
}

/// A request body that sends its first bytes and then nothing, never ending.
struct Trickle(bool);

impl http_body::Body for Trickle {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if std::mem::replace(&mut self.0, true) {
            return std::task::Poll::Pending;
        }
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
            b"logout_token=eyJ",
        )))))
    }
}

#[tokio::test(start_paused = true)]
async fn a_back_channel_logout_body_that_never_ends_gets_408_not_a_held_connection() {
    use tower::ServiceExt as _;
    let op = DevProvider::new(ISS);
    let svc = SsoLayer::new(Sso::new(config(&op)).unwrap()).layer(tower::service_fn(
        |_: http::Request<Trickle>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::new(),
            )))
        },
    ));
    let request = http::Request::post("http://127.0.0.1:8080/oauth2/backchannel_logout")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Trickle(false))
        .unwrap();
    // Paused time: the wait below costs nothing real.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(600), svc.oneshot(request))
        .await
        .expect("answered, not waiting for the body forever")
        .unwrap();
    assert_eq!(answer.status(), 408);
}

#[tokio::test]
async fn skip_jwt_bearer_tokens_lets_verified_bearers_through_and_refuses_others() {
    use oidc_core::testing::mint;
    let op = DevProvider::new(ISS);
    let mut config = config(&op);
    config.skip_jwt_bearer_tokens = true;
    config.set_xauthrequest = true;
    let mut svc = service(config);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |aud: &str, exp: u64| {
        mint(
            &op.signing_key(),
            serde_json::json!({"iss": ISS, "aud": aud, "sub": "svc-1", "email": "svc@example.com",
                               "groups": ["robots"], "iat": now, "exp": exp}),
        )
    };
    let mut caller = Browser::default();
    let good = format!("Bearer {}", token("dev-client", now + 300));
    let answer = caller
        .send(
            &mut svc,
            "GET",
            "/api/orders",
            &[("authorization", &good), ("x-forwarded-user", "admin")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let h = &answer.json()["headers"];
    assert_eq!(
        h["x-forwarded-user"], "svc-1",
        "not the client's spoofed value"
    );
    assert_eq!(h["x-forwarded-email"], "svc@example.com");
    assert_eq!(h["x-forwarded-groups"], "robots");
    assert_eq!(
        h["authorization"],
        good.as_str(),
        "the bearer goes upstream"
    );
    assert_eq!(answer.headers["x-auth-request-user"], "svc-1");
    assert_eq!(answer.headers["x-auth-request-email"], "svc@example.com");

    for (bad, why) in [
        (token("another-client", now + 300), "audience"),
        (token("dev-client", now - 300), "expired"),
        (
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".to_owned(),
            "alg none",
        ),
    ] {
        let answer = caller
            .send(
                &mut svc,
                "GET",
                "/api/orders",
                &[("authorization", &format!("Bearer {bad}"))],
            )
            .await;
        assert_eq!(answer.status, 401, "{why}: {}", answer.body);
        assert_eq!(answer.json()["error"], "invalid_token", "{why}");
        assert!(
            answer.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{why}"
        );
        assert!(
            !answer.body.contains(&bad),
            "{why}: the token is not echoed"
        );
    }
}

/// The development provider, with every call to `down` (an issuer that cannot be
/// reached) counted and refused.
#[derive(Debug)]
struct Unreachable {
    provider: DevProvider,
    down: &'static str,
    calls: std::sync::atomic::AtomicUsize,
}

impl oidc_core::http::HttpClient for Unreachable {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> oidc_core::http::BoxFuture<'_, Result<http::Response<Vec<u8>>, oidc_core::http::HttpError>>
    {
        let url = request.uri().to_string();
        if !url.starts_with(self.down) {
            return self.provider.execute(request);
        }
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            Err(oidc_core::http::HttpError::Connect {
                url,
                reason: "connection refused".into(),
            })
        })
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_extra_issuer_is_retried_with_backoff_not_on_every_request() {
    use oidc_core::testing::mint;
    let op = DevProvider::new(ISS);
    let other = "https://other.example.com";
    let http = Arc::new(Unreachable {
        provider: op.clone(),
        down: other,
        calls: std::sync::atomic::AtomicUsize::new(0),
    });
    let mut config = config(&op).http(http.clone());
    config.skip_jwt_bearer_tokens = true;
    config.extra_jwt_issuers = vec![(other.to_owned(), "api".to_owned())];
    let mut svc = service(config);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |iss: &str, aud: &str| {
        let claims = serde_json::json!({"iss": iss, "aud": aud, "sub": "svc-1", "iat": now, "exp": now + 3600});
        format!("Bearer {}", mint(&op.signing_key(), claims))
    };
    let calls = || http.calls.load(std::sync::atomic::Ordering::Relaxed);
    let mut caller = Browser::default();
    let mut send = async |authorization: &str| {
        caller
            .send(&mut svc, "GET", "/api", &[("authorization", authorization)])
            .await
            .status
    };
    // A flood of tokens from the unreachable issuer: one discovery attempt, not one each.
    for _ in 0..20 {
        assert_eq!(send(&token(other, "api")).await, 401);
    }
    assert_eq!(calls(), 1, "one attempt until the backoff has passed");
    // Meanwhile the provider's own tokens verify.
    assert_eq!(send(&token(ISS, "dev-client")).await, 200);
    // After the backoff (1 s, then 2 s, ...), one more attempt each time.
    tokio::time::advance(std::time::Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(send(&token(other, "api")).await, 401);
    }
    assert_eq!(calls(), 2);
    tokio::time::advance(std::time::Duration::from_millis(1100)).await;
    assert_eq!(send(&token(other, "api")).await, 401);
    assert_eq!(calls(), 2, "the second wait is 2 s");
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    assert_eq!(send(&token(other, "api")).await, 401);
    assert_eq!(calls(), 3);
}

#[tokio::test]
async fn skip_jwt_bearer_tokens_refuses_sender_constrained_tokens() {
    use oidc_core::testing::mint;
    let op = DevProvider::new(ISS);
    let mut config = config(&op);
    config.skip_jwt_bearer_tokens = true;
    let mut svc = service(config);
    let now = unix_now();
    let token = |cnf: Option<serde_json::Value>| {
        let mut claims = serde_json::json!({"iss": ISS, "aud": "dev-client", "sub": "svc-1",
                                            "email": "svc@example.com", "iat": now, "exp": now + 300});
        if let Some(cnf) = cnf {
            claims["cnf"] = cnf;
        }
        format!("Bearer {}", mint(&op.signing_key(), claims))
    };
    let mut caller = Browser::default();
    for (cnf, binding) in [
        (
            serde_json::json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            "jkt",
        ),
        (
            serde_json::json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            "x5t#S256",
        ),
    ] {
        let answer = caller
            .send(
                &mut svc,
                "GET",
                "/api/orders",
                &[("authorization", &token(Some(cnf)))],
            )
            .await;
        assert_eq!(answer.status, 401, "{binding}: {}", answer.body);
        assert_eq!(answer.json()["error"], "invalid_token");
        assert_eq!(
            answer.json()["message"],
            format!(
                "token is sender-constrained (cnf {binding}) and cannot be used as a bearer token"
            )
        );
    }
    // The same token without cnf is a plain bearer token and gets through.
    let answer = caller
        .send(
            &mut svc,
            "GET",
            "/api/orders",
            &[("authorization", &token(None))],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["headers"]["x-forwarded-user"], "svc-1");
}

#[tokio::test]
async fn set_xauthrequest_adds_identity_to_auth_answers() {
    let op = DevProvider::new(ISS);
    let mut config = config(&op);
    config.set_xauthrequest = true;
    let mut svc = service(config);
    let mut browser = Browser::default();
    browser.visit(&mut svc, &op, "/", "alice").await;
    let auth = browser.send(&mut svc, "GET", "/oauth2/auth", &[]).await;
    assert_eq!(auth.status, 202);
    assert_eq!(auth.headers["x-auth-request-user"], "alice-sub");
    assert_eq!(auth.headers["x-auth-request-email"], "alice@example.com");
    assert_eq!(auth.headers["x-auth-request-preferred-username"], "alice");
    assert_eq!(auth.headers["x-auth-request-groups"], "admins,group1");
    let page = browser.send(&mut svc, "GET", "/x", &[]).await;
    assert_eq!(page.headers["x-auth-request-user"], "alice-sub");
    // Off by default: answered empty, so that a proxy never keeps a client's copy.
    let mut plain = service(crate::browser::dev_config(&op));
    let mut other = Browser::default();
    other.visit(&mut plain, &op, "/", "alice").await;
    let auth = other.send(&mut plain, "GET", "/oauth2/auth", &[]).await;
    assert_eq!(auth.headers["x-auth-request-user"], "");
}

const JSON: [(&str, &str); 1] = [("accept", "application/json")];
const HTML: [(&str, &str); 1] = [("accept", "text/html")];

/// True when `answer` sets the session cookie to a value (not only removes it).
fn sets_session_cookie(answer: &crate::browser::Answer) -> bool {
    answer
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("_oauth2_proxy=") && !c.contains("Max-Age=0"))
}

#[tokio::test]
async fn a_copy_of_the_cookie_is_worthless_after_sign_out() {
    let op = DevProvider::new(ISS);
    let mut svc = service(config(&op));
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    let mut copy = browser.clone();
    let out = browser.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;
    assert_eq!(out.status, 302);
    let page = copy.send(&mut svc, "GET", "/", &HTML).await;
    assert_eq!(page.status, 302, "a replayed cookie gets no session");
    assert!(page.location().starts_with("http://127.0.0.1:9/authorize?"));
    assert_eq!(copy.send(&mut svc, "GET", "/api", &JSON).await.status, 401);
    for endpoint in ["/oauth2/auth", "/oauth2/userinfo"] {
        assert_eq!(
            copy.send(&mut svc, "GET", endpoint, &JSON).await.status,
            401,
            "{endpoint}"
        );
    }
    // Signing out again with the copy changes nothing; logging in again works.
    copy.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
}

#[tokio::test]
async fn a_browser_session_cookie_still_ends_a_day_after_login() {
    // --cookie-expire=0: the browser drops the cookie when it closes; a copy of it still
    // stops working 24 hours after login, server-side.
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(unix_now());
    let config = config(&op)
        .clock(Arc::new(clock.clone()))
        .cookie_expire(std::time::Duration::ZERO);
    let mut svc = service(config);
    let mut browser = Browser::default();
    let mut login = browser
        .send(&mut svc, "GET", "/", &HTML)
        .await
        .location()
        .to_owned();
    let mut lines = Vec::new();
    for _ in 0..4 {
        if login.starts_with(ISS) {
            login = op.login(&login, "alice").unwrap().to_string();
        }
        let url = url::Url::parse(&login)
            .map(|u| u[url::Position::BeforePath..].to_owned())
            .unwrap_or(login.clone());
        let answer = browser.send(&mut svc, "GET", &url, &HTML).await;
        lines.extend(answer.set_cookies());
        if answer.status != 302 {
            assert_eq!(answer.status, 200, "{}", answer.body);
            break;
        }
        login = answer.location().to_owned();
    }
    let session_line = lines
        .iter()
        .find(|l| l.starts_with("_oauth2_proxy="))
        .unwrap();
    assert!(
        !session_line.contains("Max-Age") && !session_line.contains("Expires"),
        "a browser-session cookie: {session_line}"
    );
    let mut copy = browser.clone();

    // Another user signs out after an hour; her copied cookie stays refused all day.
    let mut bob = Browser::default();
    assert_eq!(bob.visit(&mut svc, &op, "/", "bob").await.status, 200);
    let mut bob_copy = bob.clone();
    clock.advance(3600);
    bob.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;

    clock.advance(22 * 3600);
    let day = copy.send(&mut svc, "GET", "/api", &JSON).await;
    assert_eq!(day.status, 200, "within the day (refreshed): {}", day.body);
    assert_eq!(
        bob_copy.send(&mut svc, "GET", "/api", &JSON).await.status,
        401,
        "a sign-out is remembered as long as the session could live"
    );
    clock.advance(3600);
    for jar in [&mut browser, &mut copy] {
        let answer = jar.send(&mut svc, "GET", "/api", &JSON).await;
        assert_eq!(answer.status, 401, "past 24 h: {}", answer.body);
    }
}

/// Ends a session while its refresh waits at the provider.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ender {
    SignOut,
    BackChannel,
}

#[tokio::test]
async fn a_refresh_racing_a_sign_out_does_not_bring_the_cookie_session_back() {
    refresh_racing(Ender::SignOut).await;
}

#[tokio::test]
async fn a_refresh_racing_a_back_channel_logout_does_not_bring_the_cookie_session_back() {
    refresh_racing(Ender::BackChannel).await;
}

async fn refresh_racing(ender: Ender) {
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(unix_now());
    let paused = crate::browser::PausedRefresh::new(&op);
    let config = config(&op)
        .http(Arc::new(paused.clone()))
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(std::time::Duration::from_secs(60));
    let svc = service(config);
    let mut browser = Browser::default();
    let page = browser.visit(&mut svc.clone(), &op, "/", "alice").await;
    assert_eq!(page.status, 200);
    let sid = id_token_claims(&page)["sid"].as_str().unwrap().to_owned();
    clock.advance(61);
    paused.arm();
    let (mut refresher, mut ender_jar) = (browser.clone(), browser.clone());
    let (during, ()) = tokio::join!(
        async { refresher.send(&mut svc.clone(), "GET", "/api", &JSON).await },
        async {
            paused.reached().await;
            match ender {
                Ender::SignOut => {
                    let out = ender_jar
                        .send(&mut svc.clone(), "GET", "/oauth2/sign_out", &[])
                        .await;
                    assert_eq!(out.status, 302);
                }
                Ender::BackChannel => {
                    let token = logout_token(
                        &op,
                        serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": unix_now(),
                            "jti": "race", "sid": sid,
                            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
                    );
                    assert_eq!(post_logout(&mut svc.clone(), &token).await.status, 200);
                }
            }
            paused.release();
        }
    );
    assert_eq!(
        during.status, 401,
        "{ender:?} during the refresh: {}",
        during.body
    );
    assert!(
        !sets_session_cookie(&during),
        "no refreshed session is handed out"
    );
    for mut jar in [refresher, browser] {
        let answer = jar.send(&mut svc.clone(), "GET", "/api", &JSON).await;
        assert_eq!(answer.status, 401, "{ender:?}: {}", answer.body);
    }
}
