//! The key cache: freshness, rate-limited refetch, single flight, stale keys when down.
//! Time is tokio's paused clock, so intervals pass instantly and exactly.

use std::sync::Arc;
use std::time::Duration;

use oidc_core::error::TokenError;
use oidc_core::http::{BoxFuture, HttpClient, HttpError};
use oidc_core::jwks::{JwksCache, JwksCacheConfig};
use oidc_core::testing::{DevProvider, SigningKey, mint};
use oidc_core::verify::{Algorithm, Verifier};
use serde_json::json;

const ISS: &str = "https://op.example";

/// Answers through the provider after a delay, so concurrent callers overlap.
#[derive(Debug)]
struct Slow(DevProvider);

impl HttpClient for Slow {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.0.execute(request).await
        })
    }
}

fn cache(op: &DevProvider, config: JwksCacheConfig) -> JwksCache {
    JwksCache::new(
        format!("{ISS}/jwks").parse().unwrap(),
        Arc::new(Slow(op.clone())),
        config,
    )
}

fn config(min_refresh: u64) -> JwksCacheConfig {
    JwksCacheConfig {
        min_refresh_interval: Duration::from_secs(min_refresh),
        ..JwksCacheConfig::default()
    }
}

fn verifier() -> Verifier {
    Verifier::builder(ISS).audience("api").build().unwrap()
}

fn token(key: &SigningKey) -> String {
    mint(
        key,
        json!({"iss": ISS, "sub": "alice", "aud": "api", "exp": 4_000_000_000i64}),
    )
}

#[tokio::test(start_paused = true)]
async fn keys_are_fetched_once_and_again_after_cache_control_max_age() {
    let op = DevProvider::new(ISS);
    op.set_jwks_max_age(120);
    let cache = cache(&op, config(30));
    assert!(cache.keys().is_empty(), "nothing fetched before first use");
    let t = token(&op.signing_key());
    for _ in 0..5 {
        verifier().verify_with_cache(&t, &cache).await.unwrap();
    }
    assert_eq!(op.jwks_fetches(), 1);
    tokio::time::advance(Duration::from_secs(119)).await;
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    assert_eq!(op.jwks_fetches(), 1, "still fresh");
    tokio::time::advance(Duration::from_secs(2)).await;
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    assert_eq!(op.jwks_fetches(), 2, "max-age passed");
}

#[tokio::test(start_paused = true)]
async fn no_store_is_bounded_below_by_the_refresh_interval() {
    let op = DevProvider::new(ISS);
    op.set_jwks_max_age(0);
    let cache = cache(&op, config(30));
    let t = token(&op.signing_key());
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    tokio::time::advance(Duration::from_secs(10)).await;
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    assert_eq!(
        op.jwks_fetches(),
        1,
        "max-age=0 does not mean a fetch per token"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rotated_key_is_picked_up_with_one_refetch_and_unknown_kids_are_rate_limited() {
    let op = DevProvider::new(ISS);
    let cache = cache(&op, config(30));
    let old = op.signing_key();
    verifier()
        .verify_with_cache(&token(&old), &cache)
        .await
        .unwrap();
    assert_eq!(op.jwks_fetches(), 1);

    tokio::time::advance(Duration::from_secs(31)).await;
    let new = Arc::new(SigningKey::ec("rotated", Algorithm::ES256));
    op.set_keys(vec![new.clone(), old.clone()]);
    verifier()
        .verify_with_cache(&token(&new), &cache)
        .await
        .unwrap();
    assert_eq!(op.jwks_fetches(), 2, "exactly one refetch for the new kid");

    // Unknown kids within the interval: no more fetches, each token rejected.
    let stranger = SigningKey::ec("stranger", Algorithm::ES256);
    for _ in 0..20 {
        let err = verifier()
            .verify_with_cache(&token(&stranger), &cache)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TokenError::UnknownKey {
                kid: Some("stranger".into())
            }
        );
    }
    assert_eq!(op.jwks_fetches(), 2);
    tokio::time::advance(Duration::from_secs(31)).await;
    let _ = verifier()
        .verify_with_cache(&token(&stranger), &cache)
        .await;
    assert_eq!(op.jwks_fetches(), 3, "one more after the interval");
}

#[tokio::test(start_paused = true)]
async fn concurrent_refreshes_collapse_into_one_fetch() {
    let op = DevProvider::new(ISS);
    let cache = cache(&op, config(0));
    let t = token(&op.signing_key());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            verifier().verify_with_cache(&t, &cache).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(op.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_goes_down_leaves_the_last_good_keys_in_use() {
    let op = DevProvider::new(ISS);
    op.set_jwks_max_age(60);
    let cache = cache(&op, config(30));
    let t = token(&op.signing_key());
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    op.set_down(true);
    tokio::time::advance(Duration::from_secs(3600)).await;
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    assert!(cache.last_error().unwrap().contains("connection refused"));
    // Failed attempts are rate-limited too: the down provider is not hammered.
    let attempts = cache.fetch_count();
    for _ in 0..10 {
        verifier().verify_with_cache(&t, &cache).await.unwrap();
    }
    assert_eq!(cache.fetch_count(), attempts);
    op.set_down(false);
    tokio::time::advance(Duration::from_secs(31)).await;
    verifier().verify_with_cache(&t, &cache).await.unwrap();
    assert!(cache.last_error().is_none(), "recovered");
}

#[tokio::test(start_paused = true)]
async fn no_keys_ever_fetched_is_keys_unavailable_with_the_reason() {
    let op = DevProvider::new(ISS);
    op.set_down(true);
    let cache = cache(&op, config(30));
    let err = verifier()
        .verify_with_cache(&token(&op.signing_key()), &cache)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TokenError::KeysUnavailable(reason) if reason.contains("connection refused")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn garbage_from_the_provider_keeps_the_previous_keys() {
    #[derive(Debug)]
    struct Garbage;
    impl HttpClient for Garbage {
        fn execute(
            &self,
            _: http::Request<Vec<u8>>,
        ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
            Box::pin(async { Ok(http::Response::new(b"<html>oops</html>".to_vec())) })
        }
    }
    let cache = JwksCache::new(
        format!("{ISS}/jwks").parse().unwrap(),
        Arc::new(Garbage),
        config(30),
    );
    let err = cache.refresh_now().await.unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    assert!(cache.keys().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_refetch_in_flight_does_not_stall_tokens_with_known_keys() {
    let op = DevProvider::new(ISS);
    let cache = cache(&op, config(0));
    let good = token(&op.signing_key());
    verifier().verify_with_cache(&good, &cache).await.unwrap();
    // A token with an unknown kid starts a slow (200 ms) refetch...
    let stranger = token(&SigningKey::ec("stranger", Algorithm::ES256));
    let background = {
        let cache = cache.clone();
        tokio::spawn(async move { verifier().verify_with_cache(&stranger, &cache).await })
    };
    tokio::task::yield_now().await;
    // ...while a token with a known kid is answered at once.
    let quick = tokio::time::timeout(
        Duration::from_millis(10),
        verifier().verify_with_cache(&good, &cache),
    )
    .await;
    assert!(matches!(quick, Ok(Ok(_))), "{quick:?}");
    assert!(!background.is_finished(), "the refetch was still in flight");
    assert!(background.await.unwrap().is_err());
    assert_eq!(op.jwks_fetches(), 2);
}
