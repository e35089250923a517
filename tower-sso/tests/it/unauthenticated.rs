//! What an unauthenticated request gets, per route (mod_auth_openidc's `OIDCUnAuthAction`),
//! and how many login attempts a browser keeps in flight.

use oidc_core::testing::DevProvider;
use tower::Layer as _;
use tower_sso::sso::rules::{MatchRules, PathRule, UnauthenticatedAction};
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Browser, app};

const ISS: &str = crate::browser::DEV_ISSUER;

fn config(op: &DevProvider) -> SsoConfig {
    crate::browser::dev_config(op)
}

#[tokio::test]
async fn each_route_can_redirect_answer_401_403_or_pass() {
    let op = DevProvider::new(ISS);
    let rules = MatchRules::bypass_if_matched(vec![])
        .on_unauthenticated(
            PathRule::path("/api/*"),
            UnauthenticatedAction::Unauthorized,
        )
        .on_unauthenticated(PathRule::path("/admin/*"), UnauthenticatedAction::Forbidden)
        .on_unauthenticated(PathRule::path("/maybe/*"), UnauthenticatedAction::Pass);
    let mut svc =
        SsoLayer::new(Sso::new(config(&op).rules(rules)).unwrap()).layer(tower::service_fn(app));
    let html = [("accept", "text/html"), ("x-forwarded-user", "spoofed")];
    let mut browser = Browser::default();

    let api = browser.send(&mut svc, "GET", "/api/x", &html).await;
    assert_eq!(api.status, 401, "a browser too gets 401 here");
    assert!(api.headers.contains_key("www-authenticate"));

    let admin = browser.send(&mut svc, "GET", "/admin/x", &html).await;
    assert_eq!(admin.status, 403);
    assert!(!admin.headers.contains_key("location"));

    let maybe = browser.send(&mut svc, "GET", "/maybe/x", &html).await;
    assert_eq!(maybe.status, 200, "passed to the app without identity");
    assert!(
        maybe.json()["headers"].get("x-forwarded-user").is_none(),
        "spoofed header stripped"
    );

    let page = browser.send(&mut svc, "GET", "/page", &html).await;
    assert_eq!(page.status, 302, "the default: a browser is sent to log in");
    assert!(page.location().starts_with(ISS));

    // Logged in, every route reaches the app with the identity.
    let mut user = Browser::default();
    user.visit(&mut svc, &op, "/page", "alice").await;
    for path in ["/api/x", "/admin/x", "/maybe/x"] {
        let a = user.send(&mut svc, "GET", path, &html).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(
            a.json()["headers"]["x-forwarded-user"],
            "alice-sub",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_sixth_login_attempt_replaces_the_oldest_state_cookie() {
    let op = DevProvider::new(ISS);
    let mut svc = SsoLayer::new(Sso::new(config(&op)).unwrap()).layer(tower::service_fn(app));
    let mut browser = Browser::default();
    let mut logins = browser.open_tabs(&mut svc, 5).await;
    let states = |b: &Browser| b.jar.keys().filter(|k| k.contains("_csrf_")).count();
    assert_eq!(states(&browser), 5);
    let sixth = browser
        .send(&mut svc, "GET", "/tab/5", &[("accept", "text/html")])
        .await;
    logins.push(sixth.location().to_owned());
    assert_eq!(states(&browser), 5, "at most five attempts in flight");
    assert!(
        sixth
            .set_cookies()
            .iter()
            .any(|c| c.contains("_csrf_") && c.contains("Max-Age=0")),
        "one older state cookie is removed"
    );
    // The newest attempt finishes; the one whose cookie was dropped cannot.
    let mut finished = 0;
    let mut refused = 0;
    for login in &logins {
        let callback = op.login(login, "alice").unwrap();
        let path = &callback[url::Position::BeforePath..];
        let a = browser
            .clone()
            .send(&mut svc, "GET", path, &[("accept", "text/html")])
            .await;
        match a.status {
            302 => finished += 1,
            403 => refused += 1,
            other => panic!("{other}: {}", a.body),
        }
    }
    assert_eq!((finished, refused), (5, 1));
    let last = op.login(&logins[5], "alice").unwrap();
    let a = browser
        .send(
            &mut svc,
            "GET",
            &last[url::Position::BeforePath..],
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!((a.status, a.location()), (302, "/tab/5"));
}
