//! What verifying one JWT costs, per algorithm, as a ratio to a same-run baseline.
//!
//! For RS256, PS256, ES256 and EdDSA:
//! - `<alg>/jsonwebtoken_decode`: the baseline, `jsonwebtoken::decode` into a small typed
//!   struct with its `DecodingKey` and `Validation` built once;
//! - `<alg>/oidc_core_verify`: [`Verifier::verify`] with the verifier and the key set built
//!   once (keys parsed when the set is loaded);
//! - `RS256/oidc_core_cache_hit`: the same with the verified-token cache on and the same
//!   token each time, so every call is a cache hit.
//!
//! Every path is checked once before it is timed: it must accept the token and reject the
//! same token with a damaged signature, so a broken path cannot look fast.
//!
//! Run with `cargo bench -p oidc-core --bench verify`; report ratios, not absolute times.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use oidc_core::jwks::KeySet;
use oidc_core::testing::{SigningKey, TestKeys, mint};
use oidc_core::verify::{TokenCacheConfig, Verifier};
use serde::Deserialize;

const ISS: &str = "https://issuer.example";
const AUD: &str = "orders-api";

/// The baseline's claims: the registered claims the token carries, typed.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
}

fn token_for(key: &SigningKey) -> String {
    mint(
        key,
        serde_json::json!({
            "iss": ISS, "sub": "alice", "aud": AUD,
            "exp": 4_000_000_000i64, "iat": 1_700_000_000,
        }),
    )
}

/// `token` with one signature character changed (in the middle, so the base64 stays
/// canonical and only the signature check can catch it).
fn with_bad_signature(token: &str) -> String {
    let dot = token.rfind('.').expect("a JWS has a signature part");
    let at = dot + 1 + (token.len() - dot - 1) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("still ASCII")
}

fn baseline_key(key: &SigningKey) -> DecodingKey {
    let jwk: Jwk = serde_json::from_value(key.public_jwk().clone()).expect("public JWK parses");
    DecodingKey::from_jwk(&jwk).expect("jsonwebtoken accepts the JWK")
}

fn baseline_validation(alg: jsonwebtoken::Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.validate_exp = true;
    validation
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    group
}

fn bench_alg(
    c: &mut Criterion,
    name: &str,
    key: &SigningKey,
    alg: jsonwebtoken::Algorithm,
    keys: &KeySet,
    cache_hit: bool,
) {
    let token = token_for(key);
    let forged = with_bad_signature(&token);

    // Baseline: key and validation built once.
    let decoding_key = baseline_key(key);
    let validation = baseline_validation(alg);
    let decoded = jsonwebtoken::decode::<Claims>(&token, &decoding_key, &validation)
        .unwrap_or_else(|e| panic!("{name}: jsonwebtoken rejects the token: {e}"));
    let claims = &decoded.claims;
    assert_eq!(
        (
            claims.iss.as_str(),
            claims.sub.as_str(),
            claims.aud.as_str()
        ),
        (ISS, "alice", AUD),
        "{name}: jsonwebtoken claims"
    );
    assert_eq!(
        (claims.exp, claims.iat),
        (4_000_000_000, 1_700_000_000),
        "{name}: jsonwebtoken times"
    );
    assert!(
        jsonwebtoken::decode::<Claims>(&forged, &decoding_key, &validation).is_err(),
        "{name}: jsonwebtoken accepts a bad signature"
    );

    // Ours: verifier and key set built once.
    let verifier = Verifier::builder(ISS)
        .audience(AUD)
        .build()
        .expect("verifier config");
    let verified = verifier
        .verify(&token, keys)
        .unwrap_or_else(|e| panic!("{name}: oidc-core rejects the token: {e}"));
    assert_eq!(
        verified.claims().sub.as_deref(),
        Some("alice"),
        "{name}: sub"
    );
    assert_eq!(verified.header().alg.name(), name, "{name}: alg");
    assert!(
        verifier.verify(&forged, keys).is_err(),
        "{name}: oidc-core accepts a bad signature"
    );

    let mut group = group(c, name);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<Claims>(black_box(&token), &decoding_key, &validation)
                .expect("accepted above")
        })
    });
    group.bench_function("oidc_core_verify", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&token), keys)
                .expect("accepted above")
        })
    });

    if cache_hit {
        let cached = Verifier::builder(ISS)
            .audience(AUD)
            .token_cache(TokenCacheConfig::default())
            .build()
            .expect("verifier config");
        assert!(
            cached.verify(&forged, keys).is_err(),
            "{name}: cached verifier accepts a bad signature"
        );
        let first = cached
            .verify(&token, keys)
            .unwrap_or_else(|e| panic!("{name}: cached verifier rejects the token: {e}"));
        assert_eq!(cached.cached_tokens(), 1, "{name}: the token is cached");
        let hit = cached.verify(&token, keys).expect("a cache hit");
        assert_eq!(
            hit.claims(),
            first.claims(),
            "{name}: the hit is the same token"
        );
        assert!(
            cached.verify(&forged, keys).is_err(),
            "{name}: a bad signature is not a cache hit"
        );
        group.bench_function("oidc_core_cache_hit", |b| {
            b.iter(|| cached.verify(black_box(&token), keys).expect("a cache hit"))
        });
        assert_eq!(
            cached.cached_tokens(),
            1,
            "{name}: every timed call was a hit"
        );
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    let test_keys = TestKeys::shared();
    let keys = test_keys.key_set();
    use jsonwebtoken::Algorithm as A;
    bench_alg(c, "RS256", &test_keys.rsa, A::RS256, &keys, true);
    bench_alg(c, "PS256", &test_keys.pss, A::PS256, &keys, false);
    bench_alg(c, "ES256", &test_keys.ec, A::ES256, &keys, false);
    bench_alg(c, "EdDSA", &test_keys.ed, A::EdDSA, &keys, false);
}

criterion_group!(benches, verify);
criterion_main!(benches);
