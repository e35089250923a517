//! Configuration checks at build time, and what the cookie options mean on the wire.

use std::sync::Arc;
use std::time::Duration;

use oidc_core::clock::FixedClock;
use oidc_core::testing::{DevProvider, DevUser};
use tower::Layer as _;
use tower_sso::error::ConfigError;
use tower_sso::sso::settings::SsoSettings;
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Browser, Logs, app};

const ISS: &str = crate::browser::DEV_ISSUER;
const SECRET: &str = crate::browser::COOKIE_SECRET;
const REDIRECT: &str = "http://127.0.0.1:8080/oauth2/callback";

fn config(op: &DevProvider) -> SsoConfig {
    crate::browser::dev_config(op)
}

fn invalid_field(err: ConfigError) -> &'static str {
    match err {
        ConfigError::Invalid { what, .. } => what,
        other => panic!("not an Invalid error: {other}"),
    }
}

#[test]
fn the_redirect_url_must_point_at_the_callback_under_the_prefix() {
    let op = DevProvider::new(ISS);
    let mut elsewhere = config(&op);
    elsewhere.redirect_url = "http://127.0.0.1:8080/callback".parse().unwrap();
    let err = Sso::new(elsewhere).unwrap_err();
    assert!(err.to_string().contains("/oauth2/callback"), "{err}");
    assert_eq!(invalid_field(err), "redirect-url");

    let mut prefixed = config(&op);
    prefixed.proxy_prefix = "/sso".into();
    assert_eq!(
        invalid_field(Sso::new(prefixed.clone()).unwrap_err()),
        "redirect-url"
    );
    prefixed.redirect_url = "http://127.0.0.1:8080/sso/callback".parse().unwrap();
    assert!(Sso::new(prefixed).is_ok());

    let relative = SsoConfig::new(ISS, "c", "s", "/oauth2/callback", SECRET).unwrap_err();
    assert_eq!(invalid_field(relative), "redirect-url");
}

#[test]
fn the_refresh_interval_must_be_shorter_than_the_cookie_lifetime() {
    let op = DevProvider::new(ISS);
    let c = config(&op)
        .cookie_expire(Duration::from_secs(3600))
        .cookie_refresh(Duration::from_secs(3600));
    assert_eq!(invalid_field(Sso::new(c).unwrap_err()), "cookie-refresh");
    let ok = config(&op)
        .cookie_expire(Duration::from_secs(3600))
        .cookie_refresh(Duration::from_secs(600));
    assert!(Sso::new(ok).is_ok());
    // A browser-session cookie (expire 0) refreshes at any interval.
    let session_cookie = config(&op)
        .cookie_expire(Duration::ZERO)
        .cookie_refresh(Duration::from_secs(600));
    assert!(Sso::new(session_cookie).is_ok());
}

#[test]
fn bad_cookie_secrets_names_and_same_site_are_refused() {
    for secret in ["", "short", "0123456789abcdef0123", &"x".repeat(33)] {
        let err = SsoConfig::new(ISS, "c", "s", REDIRECT, secret).unwrap_err();
        assert!(err.to_string().contains("cookie"), "{secret:?}: {err}");
    }
    let op = DevProvider::new(ISS);
    let mut bad_name = config(&op);
    bad_name.cookie.name = "a b".into();
    assert_eq!(
        invalid_field(Sso::new(bad_name).unwrap_err()),
        "cookie-name"
    );
    let mut none_insecure = config(&op);
    none_insecure.cookie.same_site = tower_sso::sso::session::cookie::SameSitePolicy::None;
    none_insecure.cookie.secure = false;
    assert_eq!(
        invalid_field(Sso::new(none_insecure).unwrap_err()),
        "cookie-samesite"
    );
}

#[tokio::test]
async fn cookie_expire_zero_is_a_browser_session_cookie_and_refresh_zero_never_refreshes_early() {
    let op = DevProvider::new(ISS);
    let clock = FixedClock::at_unix(1_700_000_000);
    let c = config(&op)
        .cookie_expire(Duration::ZERO)
        .cookie_refresh(Duration::ZERO)
        .clock(Arc::new(clock.clone()));
    let mut svc = SsoLayer::new(Sso::new(c).unwrap()).layer(tower::service_fn(app));
    let mut browser = Browser::default();
    let mut lines = Vec::new();
    let mut next = "/".to_owned();
    // Follow the login by hand to see the session's Set-Cookie line.
    for _ in 0..5 {
        let a = browser
            .send(&mut svc, "GET", &next, &[("accept", "text/html")])
            .await;
        lines.extend(a.set_cookies());
        if a.status != 302 {
            break;
        }
        let loc = a.location().to_owned();
        next = if loc.starts_with(ISS) {
            op.login(&loc, "alice").unwrap().to_string()
        } else {
            loc
        };
        if let Ok(url) = url::Url::parse(&next) {
            next = url[url::Position::BeforePath..].to_owned();
        }
    }
    let session = lines
        .iter()
        .find(|l| l.starts_with("_oauth2_proxy="))
        .expect("a session cookie");
    assert!(
        !session.contains("Max-Age") && !session.contains("Expires"),
        "{session}"
    );
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    // Half an hour later, the access token still valid (the dev provider issues an hour):
    // no interval refresh, the session stands without any provider call.
    clock.set(1_700_000_000 + 30 * 60);
    let before = op.token_requests();
    let page = browser
        .send(&mut svc, "GET", "/", &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        op.token_requests(),
        before,
        "no refresh with cookie_refresh = 0"
    );
}

#[tokio::test]
async fn a_session_over_the_cookie_budget_logs_a_clear_warning_without_secrets() {
    let (logs, _guard) = Logs::capture(tracing::Level::WARN);

    let op = DevProvider::new(ISS);
    let mut big = DevUser::new_for_tests("carol");
    big.groups = (0..150)
        .map(|i| format!("group-with-a-long-name-{i:04}"))
        .collect();
    op.add_user(big);
    let mut small_budget = config(&op);
    small_budget.cookie_budget = 4096;
    let mut svc = SsoLayer::new(Sso::new(small_budget).unwrap()).layer(tower::service_fn(app));
    let page = Browser::default().visit(&mut svc, &op, "/", "carol").await;
    assert_eq!(page.status, 200, "over budget still works: it is a warning");
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("exceed their size budget"), "{text}");
    assert!(text.contains("budget=4096"), "{text}");
    assert!(!text.contains("eyJ"), "no token in the log: {text}");

    // Alice's small session stays within the default budget: no warning.
    logs.clear();
    let mut svc = SsoLayer::new(Sso::new(config(&op)).unwrap()).layer(tower::service_fn(app));
    Browser::default().visit(&mut svc, &op, "/", "alice").await;
    assert!(logs.text().is_empty());
}

#[tokio::test]
async fn an_explicit_idp_logout_url_gets_the_id_token_hint() {
    let op = DevProvider::new(ISS);
    let mut c = config(&op);
    c.provider_logout = true;
    c.provider_logout_url = Some("https://idp.example/logout?tenant=t1".parse().unwrap());
    let mut svc = SsoLayer::new(Sso::new(c).unwrap()).layer(tower::service_fn(app));
    let mut browser = Browser::default();
    browser.visit(&mut svc, &op, "/", "alice").await;
    let out = browser
        .send(&mut svc, "GET", "/oauth2/sign_out?rd=/bye", &[])
        .await;
    assert_eq!(out.status, 302);
    let location = url::Url::parse(out.location()).unwrap();
    assert_eq!(location.host_str(), Some("idp.example"));
    let params: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(params["tenant"], "t1", "the configured query is kept");
    assert!(params["id_token_hint"].starts_with("ey"));
    assert_eq!(
        params["post_logout_redirect_uri"],
        "http://127.0.0.1:8080/bye"
    );
    assert_eq!(params["client_id"], "dev-client");
    assert!(browser.jar.is_empty(), "the session is cleared");
    // Without a session there is no hint, and the provider still gets the rest.
    let anonymous = Browser::default()
        .send(&mut svc, "GET", "/oauth2/sign_out", &[])
        .await;
    let location = url::Url::parse(anonymous.location()).unwrap();
    assert!(!location.query_pairs().any(|(k, _)| k == "id_token_hint"));
}

/// One oauth2-proxy configuration, three spellings: TOML (oauth2-proxy's `--config`),
/// YAML, and `OAUTH2_PROXY_*` environment variables.
const TOML: &str = r#"
provider = "oidc"
oidc_issuer_url = "https://idaas.example.com/v2/x/app_1/oidc"
client_id = "app_1"
client_secret = "s3cret"
redirect_url = "https://gw.example.com/oauth2/callback"
cookie_secret = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U="
cookie_expire = "12h"
cookie_refresh = "1h"
cookie_domains = [".example.com"]
email_domains = ["example.com", "example.org"]
skip_auth_routes = ["GET=^/health$", "^/static/"]
match_mode = "authenticate_if_matched"
match_paths = ["/productpage", "/api/*"]
provider_logout_url = "https://idaas.example.com/logout"
"#;

const YAML: &str = r#"
provider: oidc
oidc_issuer_url: https://idaas.example.com/v2/x/app_1/oidc
client_id: app_1
client_secret: s3cret
redirect_url: https://gw.example.com/oauth2/callback
cookie_secret: q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=
cookie_expire: 12h
cookie_refresh: 1h
cookie_domains: [.example.com]
email_domains: [example.com, example.org]
skip_auth_routes: ["GET=^/health$", "^/static/"]
match_mode: authenticate_if_matched
match_paths: [/productpage, "/api/*"]
provider_logout_url: https://idaas.example.com/logout
"#;

const ENV: &[(&str, &str)] = &[
    ("OAUTH2_PROXY_PROVIDER", "oidc"),
    (
        "OAUTH2_PROXY_OIDC_ISSUER_URL",
        "https://idaas.example.com/v2/x/app_1/oidc",
    ),
    ("OAUTH2_PROXY_CLIENT_ID", "app_1"),
    ("OAUTH2_PROXY_CLIENT_SECRET", "s3cret"),
    (
        "OAUTH2_PROXY_REDIRECT_URL",
        "https://gw.example.com/oauth2/callback",
    ),
    (
        "OAUTH2_PROXY_COOKIE_SECRET",
        "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
    ),
    ("OAUTH2_PROXY_COOKIE_EXPIRE", "12h"),
    ("OAUTH2_PROXY_COOKIE_REFRESH", "1h"),
    ("OAUTH2_PROXY_COOKIE_DOMAINS", ".example.com"),
    ("OAUTH2_PROXY_EMAIL_DOMAINS", "example.com, example.org"),
    ("OAUTH2_PROXY_SKIP_AUTH_ROUTES", "GET=^/health$,^/static/"),
    ("OAUTH2_PROXY_MATCH_MODE", "authenticate_if_matched"),
    ("OAUTH2_PROXY_MATCH_PATHS", "/productpage,/api/*"),
    (
        "OAUTH2_PROXY_PROVIDER_LOGOUT_URL",
        "https://idaas.example.com/logout",
    ),
    // Kubernetes' link for a Service named oauth2-proxy: not an option.
    ("OAUTH2_PROXY_SERVICE_HOST", "10.0.0.1"),
    ("HOME", "/root"),
];

fn check_carried_over(settings: SsoSettings) {
    let c = SsoConfig::try_from(settings).unwrap();
    assert_eq!(c.issuer_url, "https://idaas.example.com/v2/x/app_1/oidc");
    assert_eq!(c.client_id, "app_1");
    assert_eq!(c.cookie_expire, Duration::from_secs(12 * 3600));
    assert_eq!(c.cookie_refresh, Duration::from_secs(3600));
    assert_eq!(c.cookie.domain.as_deref(), Some(".example.com"));
    assert_eq!(c.email_domains, ["example.com", "example.org"]);
    assert!(c.provider_logout);
    assert_eq!(
        c.provider_logout_url.as_ref().map(url::Url::as_str),
        Some("https://idaas.example.com/logout")
    );
    let r = &c.rules;
    assert!(r.requires_login("GET", "/productpage"));
    assert!(r.requires_login("POST", "/api/orders"));
    assert!(
        !r.requires_login("GET", "/about"),
        "authenticate if matched"
    );
    assert!(!r.requires_login("GET", "/static/app.js"), "skipped");
}

#[test]
fn toml_yaml_and_environment_configurations_carry_over() {
    check_carried_over(toml::from_str(TOML).unwrap());
    check_carried_over(serde_saphyr::from_str(YAML).unwrap());
    check_carried_over(
        SsoSettings::from_env_vars(ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .unwrap(),
    );
}

#[test]
fn bad_settings_are_refused_naming_the_option() {
    let env = |extra: (&str, &str)| {
        let mut vars: Vec<(String, String)> = ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        vars.push((extra.0.to_owned(), extra.1.to_owned()));
        SsoSettings::from_env_vars(vars).and_then(SsoConfig::try_from)
    };
    let msg = |r: Result<SsoConfig, ConfigError>| r.unwrap_err().to_string();
    assert!(msg(env(("OAUTH2_PROXY_COOKIE_SECURE", "maybe"))).contains("cookie_secure"));
    assert!(msg(env(("OAUTH2_PROXY_SKIP_AUTH_ROUTES", "GET=("))).contains("skip-auth-route"));
    assert!(msg(env(("OAUTH2_PROXY_MATCH_MODE", "sometimes"))).contains("match-mode"));
    assert!(msg(env(("OAUTH2_PROXY_COOKIE_DOMAINS", "a.com,b.com"))).contains("cookie-domain"));
    // An option the SSO layer does not have is refused, never ignored: with oauth2-proxy
    // it would restrict who gets in. A program with options of its own takes them out.
    for unknown in ["OAUTH2_PROXY_ALLOWED_GROUPS", "OAUTH2_PROXY_HTTP_ADDRESS"] {
        let e = msg(env((unknown, "x")));
        assert!(e.contains(&format!("unknown option {unknown}")), "{e}");
    }
    assert!(
        SsoSettings::from_env_vars(ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
            .is_ok()
    );
    let typo = toml::from_str::<SsoSettings>(&format!("{TOML}\ncookie_secure_typo = true\n"));
    assert!(typo.unwrap_err().to_string().contains("unknown field"));
}
