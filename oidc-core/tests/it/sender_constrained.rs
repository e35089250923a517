//! Sender-constrained tokens are never plain bearers: a JWT with a `cnf` claim (RFC 7800)
//! is bound to a key, and without a verified proof of possession it is refused (RFC 9449
//! 7.2 for DPoP, RFC 8705 3 for mTLS). ID tokens are not bearer credentials and keep
//! verifying.

use std::sync::Arc;

use oidc_core::error::TokenError;
use oidc_core::testing::{FixedClock, TestKeys, mint};
use oidc_core::verify::{IdTokenChecks, IdTokenVerifier, TokenCacheConfig, Verifier};
use serde_json::{Value, json};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;

fn claims(cnf: Option<Value>) -> Value {
    let mut c = json!({"iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 300, "iat": NOW});
    if let Some(cnf) = cnf {
        c["cnf"] = cnf;
    }
    c
}

fn verifier() -> Verifier {
    Verifier::builder(ISS)
        .audience("api")
        .clock(Arc::new(FixedClock::at_unix(NOW)))
        .token_cache(TokenCacheConfig::default())
        .build()
        .unwrap()
}

/// Each confirmation method, and the binding the error names.
fn bound() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
            "jkt",
        ),
        (
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            "x5t#S256",
        ),
        (
            json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "f83O", "y": "x_FE"}}),
            "jwk",
        ),
        (
            json!({"kid": "dfd1aa97-6d8d-4575-a0fe-34b96de2bfad"}),
            "kid",
        ),
        (json!({"something-new": true}), "claim"),
        (json!({}), "claim"),
        (json!("not-an-object"), "claim"),
    ]
}

#[test]
fn a_token_with_cnf_is_refused_as_a_bearer_token_and_says_why() {
    let keys = TestKeys::shared();
    let verifier = verifier();
    for (cnf, binding) in bound() {
        let token = mint(&keys.rsa, claims(Some(cnf.clone())));
        // Twice: a refused token is never served from the verified-token cache.
        for _ in 0..2 {
            let e = verifier.verify(&token, &keys.key_set()).unwrap_err();
            assert_eq!(e, TokenError::SenderConstrained { binding }, "{cnf}");
            assert!(!e.is_malformed() && !e.is_signature() && !e.is_time());
            assert_eq!(
                e.to_string(),
                format!(
                    "token is sender-constrained (cnf {binding}) and cannot be used as a bearer token"
                )
            );
        }
    }
    assert_eq!(verifier.cached_tokens(), 0);
    // The same token without cnf is an ordinary bearer token.
    let plain = mint(&keys.rsa, claims(None));
    assert!(verifier.verify(&plain, &keys.key_set()).is_ok());
}

#[test]
fn a_forged_token_with_cnf_fails_on_its_signature_first() {
    // The cnf check comes after the signature: its message is only ever about a genuine
    // token.
    let keys = TestKeys::shared();
    let token = oidc_core::testing::mint_with_header(
        &keys.rsa2,
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &claims(Some(json!({"jkt": "x"}))),
    );
    assert!(matches!(
        verifier().verify(&token, &keys.key_set()),
        Err(TokenError::BadSignature { .. })
    ));
}

#[test]
fn id_tokens_with_cnf_still_verify_in_the_code_flow() {
    let keys = TestKeys::shared();
    let id_tokens = IdTokenVerifier::new(
        Verifier::builder(ISS).clock(Arc::new(FixedClock::at_unix(NOW))),
        "api",
    )
    .unwrap();
    let mut c = claims(Some(
        json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
    ));
    c["nonce"] = json!("n-0S6");
    let token = mint(&keys.ec, c);
    let checks = IdTokenChecks {
        nonce: Some("n-0S6"),
        ..Default::default()
    };
    assert!(id_tokens.verify(&token, &keys.key_set(), &checks).is_ok());
}
