//! The attack corpus: each forged or broken token is rejected with the error that names
//! what is wrong.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_core::error::TokenError;
use oidc_core::jwks::{JwksCache, JwksCacheConfig};
use oidc_core::testing::{DevProvider, FixedClock, TestKeys, mint, mint_with_header};
use oidc_core::verify::{IdTokenChecks, IdTokenVerifier, Verifier};
use serde_json::{Value, json};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 300, "iat": NOW})
}

fn verifier() -> Verifier {
    Verifier::builder(ISS)
        .audience("api")
        .clock(Arc::new(FixedClock::at_unix(NOW)))
        .build()
        .unwrap()
}

fn reject(token: &str) -> TokenError {
    verifier()
        .verify(token, &TestKeys::shared().key_set())
        .expect_err("token must be rejected")
}

fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

#[test]
fn a_good_token_passes_so_the_rejections_below_mean_something() {
    let keys = TestKeys::shared();
    for key in [&keys.rsa, &keys.pss, &keys.ec, &keys.ec384, &keys.ed] {
        let v = verifier().verify(&mint(key, claims()), &keys.key_set());
        assert!(v.is_ok(), "{:?}: {v:?}", key.alg());
    }
}

#[test]
fn alg_none_is_rejected() {
    let token = unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims(), b"x");
    assert_eq!(
        reject(&token),
        TokenError::UnsupportedAlgorithm("none".into())
    );
    let token = unsigned(&json!({"alg": "None"}), &claims(), b"x");
    assert_eq!(
        reject(&token),
        TokenError::UnsupportedAlgorithm("None".into())
    );
    // The unsecured JWS form (RFC 7519 6.1) has an empty signature: malformed, as in
    // jwt_verify_lib (two sections).
    let token = unsigned(&json!({"alg": "none"}), &claims(), b"");
    assert!(reject(&token).is_malformed());
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let keys = TestKeys::shared();
    let header = json!({"alg": "HS256", "kid": "rsa-1"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    // The classic confusion: HMAC keyed with the public key the attacker can download.
    let public = keys.rsa.public_jwk().to_string();
    let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&mac_key, input.as_bytes());
    let token = format!("{input}.{}", b64(tag.as_ref()));
    assert_eq!(
        reject(&token),
        TokenError::UnsupportedAlgorithm("HS256".into())
    );
}

#[test]
fn unknown_kid_is_rejected() {
    let keys = TestKeys::shared();
    let token = mint_with_header(
        &keys.rsa,
        &json!({"alg": "RS256", "kid": "nobody"}),
        &claims(),
    );
    assert_eq!(
        reject(&token),
        TokenError::UnknownKey {
            kid: Some("nobody".into())
        }
    );
}

#[test]
fn kid_of_a_key_of_another_type_is_rejected() {
    let keys = TestKeys::shared();
    // ES256 signature, but the header points at the RSA key.
    let token = mint_with_header(
        &keys.ec,
        &json!({"alg": "ES256", "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(
        reject(&token),
        TokenError::AlgorithmNotAllowed {
            alg: "ES256".into(),
            kid: Some("rsa-1".into())
        }
    );
    // An RSA key whose JWK pins RS256 does not verify PS256.
    let token = mint_with_header(
        &keys.rsa,
        &json!({"alg": "PS256", "kid": "rsa-1"}),
        &claims(),
    );
    assert!(matches!(
        reject(&token),
        TokenError::AlgorithmNotAllowed { .. }
    ));
}

#[test]
fn bad_signature_is_rejected() {
    let keys = TestKeys::shared();
    // Signed by rsa-2, claims to be rsa-1.
    let token = mint_with_header(
        &keys.rsa2,
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &claims(),
    );
    assert_eq!(
        reject(&token),
        TokenError::BadSignature {
            kid: Some("rsa-1".into())
        }
    );
    // Claims changed after signing.
    let good = mint(&keys.ec, claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims();
    evil["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(evil.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        reject(&tampered),
        TokenError::BadSignature {
            kid: Some("ec-1".into())
        }
    );
}

#[test]
fn es256_with_r_and_s_zero_is_rejected() {
    let token = unsigned(
        &json!({"alg": "ES256", "kid": "ec-1"}),
        &claims(),
        &[0u8; 64],
    );
    assert_eq!(
        reject(&token),
        TokenError::BadSignature {
            kid: Some("ec-1".into())
        }
    );
}

#[test]
fn expiry_and_not_before_at_and_beyond_the_skew_boundary() {
    let keys = TestKeys::shared();
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        verifier().verify(&mint(&keys.rsa, c), &keys.key_set())
    };
    // 60 s skew: exp exactly 60 s ago is still accepted (Envoy: now > exp + skew fails).
    assert!(with(json!({"exp": NOW - 60})).is_ok());
    assert_eq!(
        with(json!({"exp": NOW - 61})).unwrap_err(),
        TokenError::Expired {
            exp: NOW - 61,
            now: NOW,
            skew: 60
        }
    );
    assert!(with(json!({"nbf": NOW + 60})).is_ok());
    assert_eq!(
        with(json!({"nbf": NOW + 61})).unwrap_err(),
        TokenError::NotYetValid {
            nbf: NOW + 61,
            now: NOW,
            skew: 60
        }
    );
    assert!(with(json!({"iat": NOW + 60})).is_ok());
    assert!(matches!(
        with(json!({"iat": NOW + 61})),
        Err(TokenError::IssuedInFuture { .. })
    ));
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        reject(&mint(&keys.rsa, no_exp)),
        TokenError::MissingClaim("exp")
    );
    // A null exp is not a missing one: malformed, as jwt_verify_lib reads it.
    assert!(matches!(
        with(json!({"exp": null})),
        Err(TokenError::InvalidClaim { claim: "exp", .. })
    ));
    // Claim types as Envoy's jwt_verify_lib: a string exp is malformed, a float is fine.
    assert!(matches!(
        with(json!({"exp": "4000000000"})),
        Err(TokenError::InvalidClaim { claim: "exp", .. })
    ));
    assert!(with(json!({"exp": (NOW + 10) as f64 + 0.5})).is_ok());
}

#[test]
fn wrong_issuer_and_wrong_audience_are_rejected() {
    let keys = TestKeys::shared();
    let mut c = claims();
    c["iss"] = json!("https://op.example/");
    assert_eq!(
        reject(&mint(&keys.rsa, c)),
        TokenError::WrongIssuer {
            found: "https://op.example/".into()
        }
    );
    let mut c = claims();
    c["aud"] = json!(["billing", "web"]);
    assert_eq!(
        reject(&mint(&keys.rsa, c)),
        TokenError::WrongAudience {
            found: vec!["billing".into(), "web".into()]
        }
    );
}

#[test]
fn no_aud_or_empty_aud_is_rejected_when_an_audience_is_configured() {
    let keys = TestKeys::shared();
    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut empty_aud = claims();
    empty_aud["aud"] = json!([]);
    for c in [no_aud, empty_aud] {
        assert_eq!(
            reject(&mint(&keys.rsa, c)),
            TokenError::WrongAudience { found: vec![] }
        );
    }
    // A null aud is of the wrong type (jwt_verify_lib's JwtPayloadParseErrorAudNotString).
    let mut null_aud = claims();
    null_aud["aud"] = Value::Null;
    assert!(reject(&mint(&keys.rsa, null_aud)).is_malformed());
    // The check cannot be switched off by forgetting it: build() refuses.
    assert!(Verifier::builder(ISS).build().is_err());
}

#[test]
fn several_audiences_need_azp_equal_to_the_client() {
    let keys = TestKeys::shared();
    let verifier = IdTokenVerifier::new(
        Verifier::builder(ISS).clock(Arc::new(FixedClock::at_unix(NOW))),
        "web",
    )
    .unwrap();
    let id = |extra: Value| {
        let mut c = claims();
        c["aud"] = json!(["web", "api"]);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        verifier.verify(
            &mint(&keys.rsa, c),
            &keys.key_set(),
            &IdTokenChecks::default(),
        )
    };
    assert_eq!(
        id(json!({})).unwrap_err(),
        TokenError::WrongAuthorizedParty { found: None }
    );
    assert_eq!(
        id(json!({"azp": "api"})).unwrap_err(),
        TokenError::WrongAuthorizedParty {
            found: Some("api".into())
        }
    );
    assert!(id(json!({"azp": "web"})).is_ok());
}

#[test]
fn unknown_crit_header_is_rejected() {
    let keys = TestKeys::shared();
    let header = json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1});
    let token = mint_with_header(&keys.rsa, &header, &claims());
    assert_eq!(reject(&token), TokenError::UnknownCritical("exp".into()));
}

#[test]
fn structurally_broken_tokens_are_malformed() {
    let keys = TestKeys::shared();
    let good = mint(&keys.rsa, claims());
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        parts[..2].join("."),                                      // 2 segments
        format!("{good}.{}", parts[2]),                            // 4 segments
        format!("{good}.x.y"),                                     // 5 segments (JWE shape)
        format!(".{}.{}", parts[1], parts[2]),                     // empty header
        format!("{}!.{}.{}", parts[0], parts[1], parts[2]),        // invalid base64url
        format!("{}==.{}.{}", parts[0], parts[1], parts[2]),       // padding
        format!("{}.{}.{}", b64(b"[1,2]"), parts[1], parts[2]),    // header not an object
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]), // header not JSON
        format!("{}.{}.{}", parts[0], b64(b"\"str\""), parts[2]),  // payload not an object
        format!("{}.{}.{}!", parts[0], parts[1], parts[2]),        // bad signature encoding
        String::new(),
        "invalidtoken".to_owned(),
    ];
    for (i, token) in cases.iter().enumerate() {
        let err = reject(token);
        assert!(matches!(err, TokenError::Malformed(_)), "case {i}: {err}");
    }
}

#[tokio::test]
async fn a_one_mebibyte_token_is_rejected_before_any_key_fetch_or_crypto() {
    let op = DevProvider::new("https://op.example");
    let cache = JwksCache::new(
        "https://op.example/jwks".parse().unwrap(),
        Arc::new(op.clone()),
        JwksCacheConfig::default(),
    );
    let huge = format!("{}.{}.{}", "a".repeat(1 << 19), "b".repeat(1 << 19), "c");
    let err = verifier()
        .verify_with_cache(&huge, &cache)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::TooLarge { limit: 65536, .. }),
        "{err}"
    );
    assert_eq!(op.jwks_fetches(), 0);
}
