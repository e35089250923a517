//! The Redis session store against a real `redis-server` started on 127.0.0.1 by the test.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use oidc_core::testing::DevProvider;
use tower::Layer as _;
use tower_sso::sso::session::codec::{Codec, CookieSecret};
use tower_sso::sso::session::redis::{RedisStore, RedisTopology};
use tower_sso::sso::{Sso, SsoConfig, SsoLayer};

use crate::browser::{Browser, Slow, app, concurrently};

/// A `redis-server` on a free loopback port, killed on drop.
pub(crate) struct RedisServer {
    child: Option<Child>,
    pub(crate) port: u16,
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl RedisServer {
    pub(crate) fn start(port: Option<u16>) -> RedisServer {
        Self::start_with(port, &[])
    }

    /// A server with `extra` arguments (`--cluster-enabled yes`, `--replicaof ...`); a
    /// first argument ending in `.conf` is its configuration file.
    pub(crate) fn start_with(port: Option<u16>, extra: &[&str]) -> RedisServer {
        let port = port.unwrap_or_else(free_port);
        let (conf, extra): (Vec<&str>, &[&str]) = match extra.first() {
            Some(f) if f.ends_with(".conf") => (vec![f], &extra[1..]),
            _ => (Vec::new(), extra),
        };
        let child = Command::new("redis-server")
            .args(conf)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "redis-server is required for these tests (apt-get install redis-server): {e}"
                )
            });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer {
            child: Some(child),
            port,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) const ISS: &str = crate::browser::DEV_ISSUER;
pub(crate) const SECRET: &str = crate::browser::COOKIE_SECRET;

async fn instance(
    op: DevProvider,
    redis_url: String,
) -> impl tower::Service<
    http::Request<http_body_util::Full<bytes::Bytes>>,
    Response = http::Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    instance_with(crate::browser::dev_config(&op), redis_url).await
}

async fn instance_with(
    config: SsoConfig,
    redis_url: String,
) -> impl tower::Service<
    http::Request<http_body_util::Full<bytes::Bytes>>,
    Response = http::Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    instance_on(config, RedisTopology::Single(redis_url)).await
}

/// The SSO over the demo app with sessions in Redis at `topology`.
pub(crate) async fn instance_on(
    config: SsoConfig,
    topology: RedisTopology,
) -> impl tower::Service<
    http::Request<http_body_util::Full<bytes::Bytes>>,
    Response = http::Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    let codec = Arc::new(Codec::new(&CookieSecret::parse(SECRET).unwrap(), &[]).unwrap());
    let store = RedisStore::connect_to(
        &topology,
        codec.clone(),
        config.cookie.clone(),
        config.cookie_expire,
    )
    .await
    .unwrap();
    let sso = Sso::with_store(config, codec, Arc::new(store)).unwrap();
    SsoLayer::new(sso).layer(tower::service_fn(app))
}

#[tokio::test]
async fn two_instances_share_sessions_and_sign_out_deletes_them() {
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let mut a = instance(op.clone(), redis.url()).await;
    let mut b = instance(op.clone(), redis.url()).await;
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut a, &op, "/", "alice").await.status, 200);
    // Only a ticket in the cookie.
    let cookie = browser.jar["_oauth2_proxy"].clone();
    assert!(cookie.len() < 200, "{} bytes", cookie.len());
    let on_b = browser
        .send(&mut b, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(on_b.status, 200);
    assert_eq!(on_b.json()["headers"]["x-forwarded-user"], "alice-sub");
    assert!(on_b.set_cookies().is_empty(), "a read writes nothing");

    let stolen = browser.clone();
    browser.send(&mut b, "GET", "/oauth2/sign_out", &[]).await;
    let mut replay = stolen;
    let after = replay
        .send(&mut a, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(
        after.status, 401,
        "the session is gone from Redis, not only from the browser"
    );
}

#[tokio::test]
async fn a_redis_restart_means_logging_in_again_never_a_500() {
    let mut redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let mut svc = instance(op.clone(), redis.url()).await;
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    let port = redis.port;
    redis.stop();
    let down = browser
        .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(down.status, 401, "{}", down.body);
    // A login while Redis is down ends on a clear 503 page, not a redirect loop.
    let mut newcomer = Browser::default();
    let page = newcomer.visit(&mut svc, &op, "/", "bob").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("cannot be stored"), "{}", page.body);
    let _redis = RedisServer::start(Some(port));
    // The connection manager reconnects; the old session is gone (no persistence here),
    // so the user logs in again and it works without restarting the app.
    let mut page = browser.visit(&mut svc, &op, "/", "alice").await;
    for _ in 0..20 {
        if page.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = browser.visit(&mut svc, &op, "/", "alice").await;
    }
    assert_eq!(page.status, 200, "{}", page.body);
}

#[tokio::test]
async fn back_channel_logout_deletes_the_sessions_for_every_instance() {
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let mut a = instance(op.clone(), redis.url()).await;
    let mut b = instance(op.clone(), redis.url()).await;
    let mut browser = Browser::default();
    let page = browser.visit(&mut a, &op, "/", "alice").await;
    let sid = crate::sso::id_token_claims(&page)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = crate::sso::logout_token(
        &op,
        serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": crate::sso::unix_now(), "jti": "bcl-1", "sid": sid,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    );
    // Delivered to instance A only: instance B, which never saw it, logs the user out too.
    assert_eq!(crate::sso::post_logout(&mut a, &token).await.status, 200);
    let on_b = browser
        .send(&mut b, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(on_b.status, 401);
}

/// The development provider answering after `delay_ms`, on `clock`, refreshing a minute
/// after login.
fn slow_config(op: &DevProvider, clock: &oidc_core::clock::FixedClock, delay_ms: u64) -> SsoConfig {
    crate::browser::dev_config(op)
        .http(Arc::new(Slow(op.clone(), Duration::from_millis(delay_ms))))
        .clock(Arc::new(clock.clone()))
        .cookie_refresh(Duration::from_secs(60))
}

#[tokio::test]
async fn two_instances_refresh_a_shared_session_once_with_rotating_tokens() {
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(crate::sso::unix_now());
    let a = instance_with(slow_config(&op, &clock, 200), redis.url()).await;
    let b = instance_with(slow_config(&op, &clock, 200), redis.url()).await;
    let mut browser = Browser::default();
    assert_eq!(
        browser
            .visit(&mut a.clone(), &op, "/", "alice")
            .await
            .status,
        200
    );
    clock.advance(61);
    let before = op.token_requests();
    let answers = concurrently(50, |i| {
        let (mut a, mut b, mut jar) = (a.clone(), b.clone(), browser.clone());
        async move {
            let svc = if i % 2 == 0 { &mut a } else { &mut b };
            jar.send(svc, "GET", "/api", &[("accept", "application/json")])
                .await
        }
    })
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(
        op.token_requests() - before,
        1,
        "one refresh across two instances"
    );
}

#[tokio::test]
async fn a_slow_provider_keeps_the_refresh_lock_alive_past_its_lease() {
    // The provider answers after 4.5 s, longer than the 3 s lease: the holder extends the
    // lease while it waits, so the other instance never takes the lock and refreshes a
    // second time (which rotating refresh tokens would punish).
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(crate::sso::unix_now());
    let mut login = instance_with(slow_config(&op, &clock, 0), redis.url()).await;
    let mut browser = Browser::default();
    assert_eq!(
        browser.visit(&mut login, &op, "/", "alice").await.status,
        200
    );
    let a = instance_with(slow_config(&op, &clock, 4500), redis.url()).await;
    let b = instance_with(slow_config(&op, &clock, 4500), redis.url()).await;
    clock.advance(61);
    let before = op.token_requests();
    let answers = concurrently(10, |i| {
        let (mut a, mut b, mut jar) = (a.clone(), b.clone(), browser.clone());
        async move {
            // B's requests start once A holds the lock and its first lease has run out.
            if i % 2 == 1 {
                tokio::time::sleep(Duration::from_millis(3500)).await;
            }
            let svc = if i % 2 == 0 { &mut a } else { &mut b };
            jar.send(svc, "GET", "/api", &[("accept", "application/json")])
                .await
        }
    })
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(
        op.token_requests() - before,
        1,
        "one refresh despite the slow provider"
    );
}

#[tokio::test]
async fn a_refresh_racing_a_sign_out_does_not_bring_the_redis_session_back() {
    refresh_racing(crate::sso::Ender::SignOut).await;
}

#[tokio::test]
async fn a_refresh_racing_a_back_channel_logout_does_not_bring_the_redis_session_back() {
    refresh_racing(crate::sso::Ender::BackChannel).await;
}

/// Instance A refreshes (holding the Redis lock) while instance B ends the session; A's
/// write of the refreshed session must not recreate it.
async fn refresh_racing(ender: crate::sso::Ender) {
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let clock = oidc_core::clock::FixedClock::at_unix(crate::sso::unix_now());
    let paused = crate::browser::PausedRefresh::new(&op);
    let a = instance_with(
        crate::browser::dev_config(&op)
            .http(Arc::new(paused.clone()))
            .clock(Arc::new(clock.clone()))
            .cookie_refresh(Duration::from_secs(60)),
        redis.url(),
    )
    .await;
    let b = instance_with(
        crate::browser::dev_config(&op).clock(Arc::new(clock.clone())),
        redis.url(),
    )
    .await;
    let json = [("accept", "application/json")];
    let mut browser = Browser::default();
    let page = browser.visit(&mut a.clone(), &op, "/", "alice").await;
    assert_eq!(page.status, 200);
    let sid = crate::sso::id_token_claims(&page)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(61);
    paused.arm();
    let (mut refresher, mut ender_jar) = (browser.clone(), browser.clone());
    let (during, ()) = tokio::join!(
        async { refresher.send(&mut a.clone(), "GET", "/api", &json).await },
        async {
            paused.reached().await;
            match ender {
                crate::sso::Ender::SignOut => {
                    let out = ender_jar
                        .send(&mut b.clone(), "GET", "/oauth2/sign_out", &[])
                        .await;
                    assert_eq!(out.status, 302);
                }
                crate::sso::Ender::BackChannel => {
                    let token = crate::sso::logout_token(
                        &op,
                        serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": crate::sso::unix_now(),
                            "jti": "race", "sid": sid,
                            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
                    );
                    let answer = crate::sso::post_logout(&mut b.clone(), &token).await;
                    assert_eq!(answer.status, 200, "{}", answer.body);
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
    // The ticket names a session that stays deleted, on every instance.
    for svc in [&a, &b] {
        let mut copy = browser.clone();
        let answer = copy.send(&mut svc.clone(), "GET", "/api", &json).await;
        assert_eq!(answer.status, 401, "{ender:?}: {}", answer.body);
    }
}

#[tokio::test]
async fn saving_a_refreshed_session_never_recreates_a_deleted_one() {
    use tower_sso::sso::session::{Session, SessionStore as _};
    let redis = RedisServer::start(None);
    let op = DevProvider::new(ISS);
    let codec = Arc::new(Codec::new(&CookieSecret::parse(SECRET).unwrap(), &[]).unwrap());
    let config = crate::browser::dev_config(&op);
    let store = RedisStore::connect(
        &redis.url(),
        codec.clone(),
        config.cookie.clone(),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    // A real session, as a login stores it, read back through its ticket.
    let sso = Sso::with_store(config, codec, Arc::new(store.clone())).unwrap();
    let mut svc = SsoLayer::new(sso).layer(tower::service_fn(app));
    let mut browser = Browser::default();
    let page = browser.visit(&mut svc, &op, "/", "alice").await;
    let sid = crate::sso::id_token_claims(&page)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        browser.cookie_header().parse().unwrap(),
    );
    let session: Arc<Session> = store.load(&headers).await.unwrap();
    let mut fresh = (*session).clone();
    fresh.refreshed_at += 1;
    assert!(
        store
            .save_refreshed(&headers, &fresh)
            .await
            .unwrap()
            .is_some(),
        "a live session takes its refresh"
    );
    assert_eq!(
        store.load_by_id(&session.id).await.unwrap().refreshed_at,
        fresh.refreshed_at
    );
    assert!(store.end_sessions(Some(&sid), None).await);
    fresh.refreshed_at += 1;
    assert!(
        store
            .save_refreshed(&headers, &fresh)
            .await
            .unwrap()
            .is_none(),
        "an ended session is not written again"
    );
    assert!(store.load_by_id(&session.id).await.is_none());
    assert!(store.load(&headers).await.is_none());
}

/// A sign-out whose Redis DEL fails (a failover, a timeout; here DEL is renamed away)
/// still ends the session: its id is deny-listed, so a copy of the cookie is worthless.
#[tokio::test]
async fn a_sign_out_whose_delete_fails_still_ends_the_session() {
    let redis = RedisServer::start_with(None, &["--rename-command", "DEL", ""]);
    let op = DevProvider::new(ISS);
    let mut svc = instance_on(
        crate::browser::dev_config(&op),
        RedisTopology::Single(redis.url()),
    )
    .await;
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut svc, &op, "/", "alice").await.status, 200);
    let stolen = browser.clone();
    let out = browser.send(&mut svc, "GET", "/oauth2/sign_out", &[]).await;
    assert_eq!(out.status, 302);
    let mut replay = stolen;
    let after = replay
        .send(&mut svc, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(after.status, 401, "the signed-out session is over");
}
