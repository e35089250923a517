//! End to end against a real OpenID Provider (the npm package `oidc-provider`, started on
//! 127.0.0.1 by oidc-core's test harness): the middleware in-process, the provider over
//! HTTP, its login and consent forms driven without a browser.

use std::sync::Arc;
use std::time::Duration;

use oidc_core::clock::FixedClock;
use tower::Layer as _;
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Answer, Browser as Jar, app};
use crate::provider::{self, OidcProvider};

const CALLBACK: &str = "http://127.0.0.1/oauth2/callback";
const SECRET: &str = crate::browser::COOKIE_SECRET;
const LIMIT: Duration = Duration::from_secs(60);

fn clock() -> FixedClock {
    FixedClock::at_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    )
}

fn config(op: &OidcProvider, clock: &FixedClock) -> SsoConfig {
    let mut config = SsoConfig::new(
        &op.issuer,
        provider::CLIENT_BASIC,
        provider::CLIENT_BASIC_SECRET,
        CALLBACK,
        SECRET,
    )
    .unwrap()
    .clock(Arc::new(clock.clone()))
    .cookie_refresh(Duration::from_secs(60));
    config.scopes = ["openid", "email", "profile", "groups", "offline_access"]
        .map(String::from)
        .to_vec();
    config.prompt = Some("consent".into());
    config.provider_logout = true;
    config.headers.access_token = Some("x-forwarded-access-token".into());
    config
}

/// Finishes a login that our service sent to `start` at the provider: the provider's
/// forms for `user` until it redirects to `callback`, then that callback on our service,
/// whose answer is returned.
pub(crate) async fn finish_login<S, B>(
    svc: &mut S,
    jar: &mut Jar,
    idp: &mut provider::Browser,
    callback: &str,
    start: &str,
    user: &str,
) -> Answer
where
    S: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let back = idp
        .navigate(start, callback, Some(user), &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    jar.send(svc, "GET", &back[url::Position::BeforePath..], &[])
        .await
}

/// Logs `user` in through the real provider: `path` on our service redirects, the
/// provider's forms are submitted by the harness until it redirects to `callback`, which
/// goes back to our service; returns the page the callback redirects to.
pub(crate) async fn log_in<S, B>(
    svc: &mut S,
    jar: &mut Jar,
    idp: &mut provider::Browser,
    callback: &str,
    path: &str,
    user: &str,
) -> Answer
where
    S: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let first = jar.send(svc, "GET", path, &[("accept", "text/html")]).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let back = finish_login(svc, jar, idp, callback, first.location(), user).await;
    assert_eq!(back.status, 302, "{}", back.body);
    jar.send(svc, "GET", back.location(), &[("accept", "text/html")])
        .await
}

#[tokio::test]
async fn login_refresh_restart_and_logout_against_oidc_provider() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let clock = clock();
        let mut svc =
            SsoLayer::new(Sso::new(config(&op, &clock)).unwrap()).layer(tower::service_fn(app));
        let mut jar = Jar::default();
        let mut idp = provider::Browser::new();

        let page = log_in(
            &mut svc,
            &mut jar,
            &mut idp,
            CALLBACK,
            "/productpage",
            "alice",
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let seen = page.json();
        assert_eq!(seen["path"], "/productpage");
        assert_eq!(seen["headers"]["x-forwarded-user"], "alice");
        assert_eq!(seen["headers"]["x-forwarded-email"], "alice@example.com");
        assert_eq!(seen["headers"]["x-forwarded-groups"], "group1,group2");
        assert!(
            seen["headers"]["authorization"]
                .as_str()
                .unwrap()
                .starts_with("Bearer ey")
        );

        // The session survives a restart of the application (the cookie store is stateless).
        let mut restarted =
            SsoLayer::new(Sso::new(config(&op, &clock)).unwrap()).layer(tower::service_fn(app));
        let after = jar
            .send(
                &mut restarted,
                "GET",
                "/api",
                &[("accept", "application/json")],
            )
            .await;
        assert_eq!(after.status, 200, "{}", after.body);

        // Past cookie_refresh the tokens are refreshed at the provider, once.
        clock.advance(61);
        let refreshed = jar
            .send(
                &mut restarted,
                "GET",
                "/api",
                &[("accept", "application/json")],
            )
            .await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        assert!(
            !refreshed.set_cookies().is_empty(),
            "the refreshed session is written back"
        );
        let token = |a: &serde_json::Value| {
            a["headers"]["x-forwarded-access-token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_ne!(
            token(&refreshed.json()),
            token(&seen),
            "a new access token upstream"
        );

        // An API client without a session gets 401 JSON.
        let api = Jar::default()
            .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
            .await;
        assert_eq!(api.status, 401);

        // Sign out: our cookies go, and the provider's session ends too.
        let out = jar
            .send(&mut svc, "GET", "/oauth2/sign_out?rd=/logged-out", &[])
            .await;
        assert_eq!(out.status, 302);
        assert!(out.location().starts_with(&op.issuer), "{}", out.location());
        let back = idp.logout(out.location()).await.unwrap();
        assert!(
            back.as_str()
                .starts_with(provider::POST_LOGOUT_REDIRECT_URI),
            "{back}"
        );
        assert!(jar.jar.is_empty());
        // Logging in again needs the provider's login form: the provider session is gone.
        let again = jar
            .send(&mut svc, "GET", "/productpage", &[("accept", "text/html")])
            .await;
        let page = idp.navigate(again.location(), CALLBACK, None, &[]).await;
        assert!(
            page.is_err(),
            "without credentials the provider's login form stops the flow"
        );
    })
    .await
    .expect("bounded");
}
