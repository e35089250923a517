//! End to end against the real `oidc-provider`, with the application served over HTTP on
//! loopback (the provider delivers back-channel logout to it) and a browser-less browser:
//! our service in-process or over HTTP, the provider's forms submitted by the harness.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oidc_core::clock::FixedClock;
use oidc_core::http::{HttpClient, ReqwestClient};
use tower::Layer as _;
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Answer, Browser as Jar, app, concurrently};
use crate::interop::finish_login;
use crate::provider::{self, OidcProvider};

const CLIENT: &str = "client-app";
const CLIENT_SECRET: &str = "secret-app-0123456789-0123456789-abcdefghijk";
const SECRET: &str = crate::browser::COOKIE_SECRET;
const LIMIT: Duration = Duration::from_secs(90);

/// Counts the refresh-token grants the provider is sent.
#[derive(Debug)]
struct CountingRefreshes {
    inner: ReqwestClient,
    refreshes: Arc<AtomicUsize>,
}

impl HttpClient for CountingRefreshes {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> oidc_core::http::BoxFuture<'_, Result<http::Response<Vec<u8>>, oidc_core::http::HttpError>>
    {
        if request.method() == http::Method::POST
            && request
                .body()
                .windows(b"grant_type=refresh_token".len())
                .any(|w| w == b"grant_type=refresh_token")
        {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.execute(request)
    }
}

/// The provider, and the loopback port our application will be served on.
struct World {
    op: OidcProvider,
    listener: Option<tokio::net::TcpListener>,
    origin: String,
    clock: FixedClock,
    refreshes: Arc<AtomicUsize>,
}

impl World {
    async fn start(rotate_refresh_tokens: bool) -> World {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let mut env = vec![("OP_APP_ORIGIN", origin.as_str())];
        if rotate_refresh_tokens {
            env.push(("OP_ROTATE_REFRESH", "1"));
        }
        let op = OidcProvider::start_with_env(None, None, None, &env).await;
        World {
            op,
            listener: Some(listener),
            origin,
            clock: FixedClock::at_unix(crate::sso::unix_now()),
            refreshes: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn callback(&self) -> String {
        format!("{}/oauth2/callback", self.origin)
    }

    fn config(&self) -> SsoConfig {
        let mut config = SsoConfig::new(
            &self.op.issuer,
            CLIENT,
            CLIENT_SECRET,
            &self.callback(),
            SECRET,
        )
        .unwrap()
        .clock(Arc::new(self.clock.clone()))
        .cookie_refresh(Duration::from_secs(60))
        .http(Arc::new(CountingRefreshes {
            inner: ReqwestClient::new().unwrap(),
            refreshes: self.refreshes.clone(),
        }));
        config.scopes = ["openid", "email", "profile", "groups", "offline_access"]
            .map(String::from)
            .to_vec();
        config.prompt = Some("consent".into());
        config.headers.access_token = Some("x-forwarded-access-token".into());
        config
    }

    /// Serves `sso` (over an application that echoes its request) on the world's port.
    fn serve(&mut self, sso: Sso) {
        let listener = self.listener.take().expect("served once");
        let router = axum::Router::new()
            .fallback(|headers: http::HeaderMap| async move {
                let names: Vec<String> = headers.keys().map(|k| k.to_string()).collect();
                serde_json::json!({ "headers": names }).to_string()
            })
            .layer(SsoLayer::new(sso));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    }

    /// Logs `user` in at `path` through the provider.
    async fn log_in<S, B>(
        &self,
        svc: &mut S,
        jar: &mut Jar,
        idp: &mut provider::Browser,
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
        crate::interop::log_in(svc, jar, idp, &self.callback(), path, user).await
    }

    /// Ends the user's provider session from the provider's side (another application's
    /// logout, say): the provider then tells every client by back-channel logout.
    async fn log_out_at_provider(&self, idp: &mut provider::Browser) {
        let url = format!(
            "{}/session/end?client_id={CLIENT}&post_logout_redirect_uri={}",
            self.op.issuer,
            url::form_urlencoded::byte_serialize(provider::POST_LOGOUT_REDIRECT_URI.as_bytes())
                .collect::<String>()
        );
        idp.logout(&url)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", self.op.logs()));
    }
}

fn service(
    sso: Sso,
) -> impl tower::Service<
    http::Request<http_body_util::Full<bytes::Bytes>>,
    Response = http::Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    SsoLayer::new(sso).layer(tower::service_fn(app))
}

const API: [(&str, &str); 1] = [("accept", "application/json")];

/// Polls `svc` until the session is refused (back-channel logout arrives asynchronously).
async fn until_logged_out<S, B>(svc: &mut S, jar: &mut Jar) -> u16
where
    S: tower::Service<
            http::Request<http_body_util::Full<bytes::Bytes>>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        >,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    for _ in 0..50 {
        let answer = jar.send(svc, "GET", "/api", &API).await;
        if answer.status != 200 {
            return answer.status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    200
}

#[tokio::test]
async fn back_channel_logout_from_the_provider_ends_the_cookie_session() {
    tokio::time::timeout(LIMIT, async {
        let mut world = World::start(false).await;
        let sso = Sso::new(world.config()).unwrap();
        world.serve(sso.clone());
        let mut svc = service(sso);
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        let page = world
            .log_in(&mut svc, &mut jar, &mut idp, "/", "alice")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            crate::sso::id_token_claims(&page)["sid"].is_string(),
            "the provider puts sid in the ID token"
        );
        world.log_out_at_provider(&mut idp).await;
        assert_eq!(
            until_logged_out(&mut svc, &mut jar).await,
            401,
            "the provider's logout_token ended the session:\n{}",
            world.op.logs()
        );
    })
    .await
    .expect("bounded");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn back_channel_logout_and_refresh_across_two_instances_sharing_redis() {
    use tower_sso::sso::session::codec::{Codec, CookieSecret};
    use tower_sso::sso::session::redis::RedisStore;

    tokio::time::timeout(LIMIT, async {
        let redis = crate::redis::RedisServer::start(None);
        let mut world = World::start(true).await;
        let instance = || async {
            let config = world.config();
            let codec = Arc::new(Codec::new(&CookieSecret::parse(SECRET).unwrap(), &[]).unwrap());
            let store = RedisStore::connect(
                &redis.url(),
                codec.clone(),
                config.cookie.clone(),
                config.cookie_expire,
            )
            .await
            .unwrap();
            Sso::with_store(config, codec, Arc::new(store)).unwrap()
        };
        let (sso_a, sso_b) = (instance().await, instance().await);
        world.serve(sso_a.clone());
        let (a, b) = (service(sso_a), service(sso_b));
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        let page = world
            .log_in(&mut a.clone(), &mut jar, &mut idp, "/", "alice")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            jar.send(&mut b.clone(), "GET", "/api", &API).await.status,
            200,
            "shared"
        );

        // Fifty requests over both instances after the refresh interval: one refresh at
        // the provider, whose refresh tokens are single use here.
        world.clock.advance(61);
        let answers = concurrently(50, |i| {
            let (mut a, mut b, mut jar) = (a.clone(), b.clone(), jar.clone());
            async move {
                let svc = if i % 2 == 0 { &mut a } else { &mut b };
                jar.send(svc, "GET", "/api", &API).await
            }
        })
        .await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        assert_eq!(
            world.refreshes.load(Ordering::SeqCst),
            1,
            "one refresh for two instances"
        );
        // The rotated refresh token is the one stored: the next refresh works (reusing the
        // old one would have revoked the grant).
        world.clock.advance(61);
        assert_eq!(
            jar.send(&mut b.clone(), "GET", "/api", &API).await.status,
            200
        );
        assert_eq!(world.refreshes.load(Ordering::SeqCst), 2);

        // The provider's back-channel logout reaches instance A; B's requests end too.
        world.log_out_at_provider(&mut idp).await;
        assert_eq!(
            until_logged_out(&mut b.clone(), &mut jar).await,
            401,
            "{}",
            world.op.logs()
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn fifty_concurrent_requests_refresh_once_with_rotating_refresh_tokens() {
    tokio::time::timeout(LIMIT, async {
        let world = World::start(true).await;
        let svc = service(Sso::new(world.config()).unwrap());
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        let page = world
            .log_in(&mut svc.clone(), &mut jar, &mut idp, "/", "bob")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        world.clock.advance(61);
        let answers = concurrently(50, |_| {
            let (mut svc, mut jar) = (svc.clone(), jar.clone());
            async move { jar.send(&mut svc, "GET", "/api", &API).await }
        })
        .await;
        for answer in &answers {
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        assert_eq!(world.refreshes.load(Ordering::SeqCst), 1);
        // Keep the cookie one of them set, as a browser would, and refresh again later.
        let fresh = answers
            .iter()
            .find(|a| !a.set_cookies().is_empty())
            .expect("a new cookie");
        for line in fresh.set_cookies() {
            let (pair, _) = line.split_once(';').unwrap_or((&line, ""));
            let (k, v) = pair.split_once('=').unwrap();
            jar.jar.insert(k.to_owned(), v.to_owned());
        }
        world.clock.advance(61);
        let again = jar.send(&mut svc.clone(), "GET", "/api", &API).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(world.refreshes.load(Ordering::SeqCst), 2);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn five_parallel_logins_in_one_browser_all_finish() {
    tokio::time::timeout(LIMIT, async {
        let world = World::start(false).await;
        let mut svc = service(Sso::new(world.config()).unwrap());
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        // Five tabs opened before any login finishes.
        let starts = jar.open_tabs(&mut svc, 5).await;
        for (i, start) in starts.iter().enumerate() {
            let back = finish_login(
                &mut svc,
                &mut jar,
                &mut idp,
                &world.callback(),
                start,
                "carol",
            )
            .await;
            assert_eq!(
                (back.status, back.location()),
                (302, format!("/tab/{i}").as_str()),
                "{}",
                back.body
            );
        }
        let page = jar.send(&mut svc, "GET", "/tab/4", &API).await;
        assert_eq!(page.json()["headers"]["x-forwarded-user"], "carol");
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_session_with_many_large_claims_fits_4096_bytes_per_set_cookie_line() {
    tokio::time::timeout(LIMIT, async {
        let world = World::start(false).await;
        let mut svc = service(Sso::new(world.config()).unwrap());
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        let first = jar
            .send(&mut svc, "GET", "/", &[("accept", "text/html")])
            .await;
        let back = finish_login(
            &mut svc,
            &mut jar,
            &mut idp,
            &world.callback(),
            first.location(),
            "big-dave",
        )
        .await;
        let lines = back.set_cookies();
        let session: Vec<&String> = lines
            .iter()
            .filter(|l| l.starts_with("_oauth2_proxy_"))
            .collect();
        assert!(session.len() >= 2, "chunked: {} lines", session.len());
        for line in &lines {
            assert!(
                "Set-Cookie: ".len() + line.len() <= 4096,
                "{} bytes: {}",
                line.len(),
                &line[..60]
            );
        }
        let page = jar.send(&mut svc, "GET", "/", &API).await;
        assert_eq!(page.status, 200);
        let groups = page.json()["headers"]["x-forwarded-groups"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(groups.split(',').count(), 300);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn hostile_cookies_headers_and_redirects_never_get_through() {
    tokio::time::timeout(LIMIT, async {
        let world = World::start(false).await;
        let mut config = world.config();
        config = config
            .cookie_expire(Duration::from_secs(3600))
            .cookie_refresh(Duration::ZERO);
        let mut svc = service(Sso::new(config).unwrap());
        let (mut jar, mut idp) = (Jar::default(), provider::Browser::new());
        let page = world
            .log_in(&mut svc, &mut jar, &mut idp, "/", "erin")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let html = [("accept", "text/html")];

        // Spoofed identity headers are replaced by the session's.
        let spoofed = jar
            .send(
                &mut svc,
                "GET",
                "/api",
                &[
                    ("accept", "application/json"),
                    ("x-forwarded-user", "admin"),
                    ("x-forwarded-groups", "admins"),
                ],
            )
            .await
            .json();
        assert_eq!(spoofed["headers"]["x-forwarded-user"], "erin");
        assert_eq!(spoofed["headers"]["x-forwarded-groups"], "group1,group2");

        // A flipped byte: log in again (302 to the provider), never a 500.
        let mut flipped = jar.clone();
        let v = flipped.jar.get_mut("_oauth2_proxy").expect("one cookie");
        let c = if v.ends_with('A') { 'B' } else { 'A' };
        v.pop();
        v.push(c);
        let answer = flipped.send(&mut svc, "GET", "/", &html).await;
        assert_eq!(answer.status, 302);
        assert!(answer.location().starts_with(&world.op.issuer));
        // A cookie of another cookie name: not a session here.
        let mut foreign = Jar::default();
        foreign
            .jar
            .insert("_other".into(), jar.jar["_oauth2_proxy"].clone());
        let mut other_name = world.config();
        other_name.cookie.name = "_other".into();
        let mut other = service(Sso::new(other_name).unwrap());
        assert_eq!(foreign.send(&mut other, "GET", "/", &API).await.status, 401);
        // Expired: past cookie_expire the session is over.
        world.clock.advance(3601);
        assert_eq!(
            jar.clone().send(&mut svc, "GET", "/", &API).await.status,
            401
        );
        world.clock.advance(-3601);

        // Open redirects: after a real login, rd never leaves our origin.
        for rd in [
            "//evil.example/x",
            "/\\evil.example",
            "https:evil.example",
            "https://evil.example/",
            "%2F%2Fevil.example",
        ] {
            let mut fresh = Jar::default();
            let start = fresh
                .send(
                    &mut svc,
                    "GET",
                    &format!(
                        "/oauth2/start?rd={}",
                        url::form_urlencoded::byte_serialize(rd.as_bytes()).collect::<String>()
                    ),
                    &html,
                )
                .await;
            assert_eq!(start.status, 302);
            let back = finish_login(
                &mut svc,
                &mut fresh,
                &mut idp,
                &world.callback(),
                start.location(),
                "erin",
            )
            .await;
            assert_eq!(back.status, 302, "{rd}: {}", back.body);
            let loc = back.location();
            assert!(
                loc.starts_with('/') && !loc.starts_with("//") && !loc.starts_with("/\\"),
                "{rd} led to {loc}"
            );
        }
    })
    .await
    .expect("bounded");
}
