//! Logouts against a full deny-list: refused or failing closed, never forgotten.

use std::sync::Arc;

use http::{HeaderMap, StatusCode, header};
use oidc_core::clock::Clock as _;
use oidc_core::testing::DevProvider;

use super::Sso;
use crate::sso::SsoConfig;
use crate::sso::logout::{DENY_LIST_CAPACITY, LogoutTarget};
use crate::sso::session::{Session, SessionUser};

const ISS: &str = "http://127.0.0.1:9";

fn sso(op: &DevProvider) -> Sso {
    let config = SsoConfig::new(
        ISS,
        "dev-client",
        "dev-secret",
        "http://127.0.0.1:8080/oauth2/callback",
        "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
    )
    .unwrap()
    .http(Arc::new(op.clone()))
    .clock(Arc::new(oidc_core::clock::FixedClock::at_unix(
        oidc_core::clock::SystemClock.unix_now(),
    )));
    Sso::new(config).unwrap()
}

/// Fills the deny-list with live back-channel logouts.
fn fill(sso: &Sso, now: i64) {
    for i in 0..DENY_LIST_CAPACITY / 2 {
        let target = LogoutTarget {
            sid: Some(format!("filler-{i}")),
            sub: None,
        };
        sso.inner
            .logouts
            .record(&target, &format!("jti-{i}"), now, now + 3600)
            .unwrap();
    }
}

/// A session of `sub` (provider session `sid-{sub}`) created at `created_at`.
fn plain(sub: &str, created_at: i64) -> Session {
    Session {
        id: format!("id-{sub}"),
        user: SessionUser {
            iss: ISS.into(),
            sub: sub.into(),
            sid: Some(format!("sid-{sub}")),
            ..SessionUser::default()
        },
        id_token: None,
        access_token: None,
        refresh_token: None,
        access_expires_at: None,
        created_at,
        refreshed_at: created_at,
        expires_at: None,
    }
}

/// A session of `sub` created at `created_at`, stored: the request headers carrying its
/// cookie.
async fn session(sso: &Sso, sub: &str, created_at: i64) -> HeaderMap {
    let session = plain(sub, created_at);
    let lines = sso
        .inner
        .store
        .save(&HeaderMap::new(), &session)
        .await
        .unwrap();
    let cookie = lines
        .iter()
        .map(|l| l.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, cookie.parse().unwrap());
    headers
}

#[tokio::test]
async fn a_back_channel_logout_that_cannot_be_recorded_is_a_503_for_the_provider_to_retry() {
    let op = DevProvider::new(ISS);
    let sso = sso(&op);
    let now = sso.now();
    let alice = session(&sso, "alice", now - 10).await;
    fill(&sso, now);
    let token = oidc_core::testing::mint_with_header(
        &op.signing_key(),
        &serde_json::json!({"alg": "RS256", "kid": op.signing_key().kid(), "typ": "logout+jwt"}),
        &serde_json::json!({"iss": ISS, "aud": "dev-client", "iat": now, "jti": "full",
            "sid": "sid-alice",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}),
    );
    let answer = sso
        .backchannel_logout(format!("logout_token={token}").as_bytes())
        .await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        sso.session(&alice).await.is_some(),
        "not recorded, and said so"
    );
    let mut filler = plain("filler", now - 10);
    filler.user.sid = Some("filler-0".into());
    assert!(sso.inner.logouts.ended(&filler), "live entries are kept");
}

#[tokio::test]
async fn a_sign_out_that_cannot_be_recorded_ends_every_session_created_until_then() {
    let op = DevProvider::new(ISS);
    let sso = sso(&op);
    let now = sso.now();
    let alice = session(&sso, "alice", now - 20).await;
    let bob = session(&sso, "bob", now - 10).await;
    fill(&sso, now);
    let (parts, ()) = http::Request::get("/oauth2/sign_out")
        .header(header::COOKIE, alice[header::COOKIE].clone())
        .body(())
        .unwrap()
        .into_parts();
    let out = sso.sign_out(&parts).await;
    assert_eq!(out.status(), StatusCode::FOUND);
    assert!(
        out.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "the browser's cookie is cleared"
    );
    assert!(
        sso.session(&alice).await.is_none(),
        "the copied cookie is dead"
    );
    assert!(
        sso.session(&bob).await.is_none(),
        "failing closed ends bob's too"
    );
    let later = session(&sso, "carol", now + 1).await;
    assert!(sso.session(&later).await.is_some(), "new logins work");
}
