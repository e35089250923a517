use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::clock::FixedClock;
use crate::testing::{TestKeys, jwks_of, mint};

const NOW: i64 = 1_700_000_000;

fn claims() -> Value {
    json!({"iss": "https://op.example", "sub": "alice", "aud": "api", "exp": NOW + 300})
}

#[test]
fn tenant_template_issuer_matches_the_tid_claim() {
    let keys = TestKeys::shared();
    let verifier = Verifier::builder_with_issuer(IssuerMatch::TenantTemplate(
        "https://login.microsoftonline.com/{tenantid}/v2.0".into(),
    ))
    .audience("api")
    .clock(Arc::new(FixedClock::at_unix(NOW)))
    .build()
    .unwrap();
    let token = |iss: &str, tid: Value| {
        let mut c = claims();
        c["iss"] = json!(iss);
        c["tid"] = tid;
        mint(&keys.rsa, c)
    };
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let iss = format!("https://login.microsoftonline.com/{tenant}/v2.0");
    assert!(
        verifier
            .verify(&token(&iss, json!(tenant)), &keys.key_set())
            .is_ok()
    );
    // tid of another tenant, a missing tid, or a tid that smuggles path segments: rejected.
    for tid in [json!("other-tenant"), Value::Null, json!("x/../y")] {
        assert!(
            matches!(
                verifier.verify(&token(&iss, tid.clone()), &keys.key_set()),
                Err(TokenError::WrongIssuer { .. })
            ),
            "{tid}"
        );
    }
    assert!(
        Verifier::builder_with_issuer(IssuerMatch::TenantTemplate("https://x".into()))
            .insecure_accept_any_audience()
            .build()
            .is_err()
    );
}

#[test]
fn required_type_and_algorithm_allow_list() {
    let keys = TestKeys::shared();
    let verifier = Verifier::builder("https://op.example")
        .audience("api")
        .required_types(["at+jwt"])
        .algorithms([Algorithm::ES256])
        .clock(Arc::new(FixedClock::at_unix(NOW)))
        .build()
        .unwrap();
    // mint() sets typ JWT.
    assert!(matches!(
        verifier.verify(&mint(&keys.ec, claims()), &keys.key_set()),
        Err(TokenError::WrongType { .. })
    ));
    let at = crate::testing::mint_with_header(
        &keys.ec,
        &json!({"alg": "ES256", "kid": "ec-1", "typ": "AT+JWT"}),
        &claims(),
    );
    assert!(verifier.verify(&at, &keys.key_set()).is_ok());
    let rsa = crate::testing::mint_with_header(
        &keys.rsa,
        &json!({"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}),
        &claims(),
    );
    assert!(matches!(
        verifier.verify(&rsa, &keys.key_set()),
        Err(TokenError::AlgorithmNotAllowed { .. })
    ));
}

#[test]
fn token_cache_hits_until_exp_and_forgets_tokens_of_rotated_keys() {
    let keys = TestKeys::shared();
    let clock = FixedClock::at_unix(NOW);
    let verifier = Verifier::builder("https://op.example")
        .audience("api")
        .clock(Arc::new(clock.clone()))
        .token_cache(TokenCacheConfig {
            capacity: 2,
            ttl: Duration::from_secs(3600),
        })
        .build()
        .unwrap();
    let set = keys.key_set();
    let token = mint(&keys.rsa, claims());
    let first = verifier.verify(&token, &set).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let again = verifier.verify(&token, &set).unwrap();
    assert!(Arc::ptr_eq(&first.0, &again.0), "served from the cache");

    // The key that signed it is gone from the set: a miss, then a real check that fails.
    let rotated = KeySet::from_json(jwks_of(&[&keys.ec]).to_string().as_bytes()).unwrap();
    assert!(matches!(
        verifier.verify(&token, &rotated),
        Err(TokenError::UnknownKey { .. })
    ));
    assert_eq!(verifier.cached_tokens(), 0);

    // Past exp (the cache keeps entries until exp at most); the skew still applies on the
    // real check afterwards.
    let fresh = verifier.verify(&token, &set).unwrap();
    clock.set(NOW + 300);
    let after_exp = verifier.verify(&token, &set).unwrap();
    assert!(
        !Arc::ptr_eq(&fresh.0, &after_exp.0),
        "re-verified after exp"
    );
    clock.set(NOW + 361);
    assert!(matches!(
        verifier.verify(&token, &set),
        Err(TokenError::Expired { .. })
    ));

    // Capacity is bounded.
    clock.set(NOW);
    for sub in ["a", "b", "c", "d"] {
        let mut c = claims();
        c["sub"] = json!(sub);
        verifier.verify(&mint(&keys.rsa, c), &set).unwrap();
        assert!(verifier.cached_tokens() <= 2);
    }
}

#[test]
fn a_rejected_token_is_never_cached() {
    let keys = TestKeys::shared();
    let verifier = Verifier::builder("https://op.example")
        .audience("other")
        .clock(Arc::new(FixedClock::at_unix(NOW)))
        .token_cache(TokenCacheConfig::default())
        .build()
        .unwrap();
    let token = mint(&keys.rsa, claims());
    for _ in 0..2 {
        assert!(verifier.verify(&token, &keys.key_set()).is_err());
    }
    assert_eq!(verifier.cached_tokens(), 0);
}

#[test]
fn half_hash_matches_the_oidc_core_example() {
    // OpenID Connect Core, Appendix A.3: at_hash of this access token with RS256.
    assert_eq!(
        half_hash(
            Algorithm::RS256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        ),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
}

#[test]
fn verify_at_pins_the_time_per_call() {
    let keys = TestKeys::shared();
    let verifier = Verifier::builder("https://op.example")
        .audience("api")
        .build()
        .unwrap();
    let token = mint(&keys.rsa, claims());
    assert!(verifier.verify_at(&token, &keys.key_set(), NOW).is_ok());
    assert!(matches!(
        verifier.verify_at(&token, &keys.key_set(), NOW + 361),
        Err(TokenError::Expired { .. })
    ));
}

#[test]
fn envoy_audience_normalization_is_opt_in() {
    let keys = TestKeys::shared();
    let mut c = claims();
    c["aud"] = json!("https://api.example/");
    let token = mint(&keys.rsa, c);
    let exact = Verifier::builder("https://op.example")
        .audience("api.example")
        .build()
        .unwrap();
    assert!(matches!(
        exact.verify_at(&token, &keys.key_set(), NOW),
        Err(TokenError::WrongAudience { .. })
    ));
    let envoy = Verifier::builder("https://op.example")
        .audience("http://api.example")
        .normalize_audience_urls(true)
        .build()
        .unwrap();
    assert!(envoy.verify_at(&token, &keys.key_set(), NOW).is_ok());
}

#[test]
fn negative_numeric_dates_are_malformed() {
    let keys = TestKeys::shared();
    let mut c = claims();
    c["iat"] = json!(-5);
    let verifier = Verifier::builder("https://op.example")
        .audience("api")
        .build()
        .unwrap();
    assert!(matches!(
        verifier.verify_at(&mint(&keys.rsa, c), &keys.key_set(), NOW),
        Err(TokenError::InvalidClaim { claim: "iat", .. })
    ));
}

#[test]
fn token_cache_keeps_an_entry_for_its_ttl_when_that_comes_before_exp() {
    let keys = TestKeys::shared();
    let clock = FixedClock::at_unix(NOW);
    let verifier = Verifier::builder("https://op.example")
        .audience("api")
        .clock(Arc::new(clock.clone()))
        .token_cache(TokenCacheConfig {
            capacity: 8,
            ttl: Duration::from_secs(60),
        })
        .build()
        .unwrap();
    let set = keys.key_set();
    let token = mint(&keys.rsa, claims()); // exp = NOW + 300
    let first = verifier.verify(&token, &set).unwrap();
    clock.set(NOW + 59);
    let hit = verifier.verify(&token, &set).unwrap();
    assert!(Arc::ptr_eq(&first.0, &hit.0), "within the TTL: a hit");
    clock.set(NOW + 60);
    let after_ttl = verifier.verify(&token, &set).unwrap();
    assert!(
        !Arc::ptr_eq(&first.0, &after_ttl.0),
        "past the TTL, before exp: verified again"
    );
}

#[test]
fn id_token_c_hash_must_match_the_code() {
    use crate::verify::{IdTokenChecks, IdTokenVerifier};
    let keys = TestKeys::shared();
    let verifier = IdTokenVerifier::new(
        Verifier::builder("https://op.example").clock(Arc::new(FixedClock::at_unix(NOW))),
        "my-client",
    )
    .unwrap();
    let code = "SplxlOBeZQQYbYS6WxSbIA";
    let id_token = |c_hash: &str| {
        mint(
            &keys.rsa,
            json!({"iss": "https://op.example", "sub": "alice", "aud": "my-client",
                   "exp": NOW + 300, "iat": NOW, "c_hash": c_hash}),
        )
    };
    let checks = IdTokenChecks {
        code: Some(code),
        ..Default::default()
    };
    // RS256: the left half of SHA-256 of the code, base64url (OpenID Connect Core 3.3.2.11).
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code.as_bytes());
    let good = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &digest.as_ref()[..16],
    );
    assert!(
        verifier
            .verify(&id_token(&good), &keys.key_set(), &checks)
            .is_ok()
    );
    let other = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"another code").as_ref()[..16],
    );
    for bad in [other.as_str(), "", "not-base64!"] {
        assert!(
            matches!(
                verifier.verify(&id_token(bad), &keys.key_set(), &checks),
                Err(TokenError::CodeHashMismatch)
            ),
            "c_hash {bad:?}"
        );
    }
}
