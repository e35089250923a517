//! The sample JWKS and tokens of seed 003 (Istio's samples) verify as Istio says.

use oidc_core::error::TokenError;
use oidc_core::jwks::KeySet;
use oidc_core::verify::Verifier;

use crate::common::data;

const ISSUER: &str = "testing@secure.istio.io";

fn seed_keys() -> KeySet {
    KeySet::from_json(data("istio-seed/jwks.json").as_bytes()).expect("seed jwks parses")
}

fn verifier() -> Verifier {
    // The sample tokens carry no `aud`; Istio's jwtRule in the seed names no audiences.
    Verifier::builder(ISSUER)
        .insecure_accept_any_audience()
        .build()
        .expect("valid configuration")
}

#[test]
fn sample_token_verifies_with_the_sample_jwks() {
    let keys = seed_keys();
    assert_eq!(keys.keys().len(), 1);
    let verified = verifier()
        .verify(data("istio-seed/token.jwt").trim(), &keys)
        .expect("seed TOKEN verifies");
    let claims = verified.claims();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub.as_deref(), Some(ISSUER));
    assert_eq!(claims.exp, Some(4_685_989_700));
    assert_eq!(claims.all["foo"], "bar");
    assert!(claims.groups.is_empty());
    assert_eq!(
        verified.principal().as_deref(),
        Some("testing@secure.istio.io/testing@secure.istio.io")
    );
    assert_eq!(
        verified.header().kid.as_deref(),
        Some("DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ")
    );
}

#[test]
fn group_token_reads_its_groups_claim() {
    let verified = verifier()
        .verify(data("istio-seed/token-group.jwt").trim(), &seed_keys())
        .expect("seed TOKEN_GROUP verifies");
    assert_eq!(verified.claims().groups, ["group1", "group2"]);
    assert_eq!(verified.claims().scope, ["scope1", "scope2"]);
}

#[test]
fn invalidtoken_is_rejected_as_malformed() {
    let err = verifier().verify("invalidtoken", &seed_keys()).unwrap_err();
    assert!(matches!(err, TokenError::Malformed(_)), "{err}");
}

#[test]
fn sample_token_is_rejected_for_another_issuer_or_a_required_audience() {
    let token = data("istio-seed/token.jwt");
    let other = Verifier::builder("https://other.example")
        .insecure_accept_any_audience()
        .build()
        .unwrap();
    assert!(matches!(
        other.verify(token.trim(), &seed_keys()),
        Err(TokenError::WrongIssuer { .. })
    ));
    // A configured audience and a token without `aud`: rejected (jsonwebtoken#376).
    let with_aud = Verifier::builder(ISSUER)
        .audience("httpbin")
        .build()
        .unwrap();
    assert!(matches!(
        with_aud.verify(token.trim(), &seed_keys()),
        Err(TokenError::WrongAudience { found }) if found.is_empty()
    ));
}

#[test]
fn sample_token_with_a_flipped_signature_bit_is_rejected() {
    let token = data("istio-seed/token.jwt");
    let token = token.trim();
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<u8> = sig.bytes().collect();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}.{}", String::from_utf8(sig).unwrap());
    assert!(matches!(
        verifier().verify(&forged, &seed_keys()),
        Err(TokenError::BadSignature { .. })
    ));
}
