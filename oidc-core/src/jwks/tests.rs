use serde_json::json;

use super::*;
use crate::testing::TestKeys;

#[test]
fn every_supported_key_type_parses_with_its_allow_list() {
    let keys = TestKeys::shared();
    let set = keys.key_set();
    assert_eq!(set.keys().len(), 5);
    assert!(set.skipped().is_empty(), "{:?}", set.skipped());
    let rsa = &set.keys()[0];
    assert_eq!(rsa.key_type(), KeyType::Rsa);
    // The test JWK pins alg RS256, so PS256 is not allowed for it.
    assert!(rsa.allows(Algorithm::RS256));
    assert!(!rsa.allows(Algorithm::PS256));
    assert!(!rsa.allows(Algorithm::ES256));
    let ec = set.keys().iter().find(|k| k.kid() == Some("ec-1")).unwrap();
    assert_eq!(ec.key_type(), KeyType::EcP256);
    assert!(ec.allows(Algorithm::ES256) && !ec.allows(Algorithm::ES384));
}

#[test]
fn an_rsa_key_without_alg_allows_the_whole_rsa_family() {
    let mut jwk = TestKeys::shared().rsa.public_jwk().clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let set = KeySet::from_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
    let key = &set.keys()[0];
    for alg in [
        Algorithm::RS256,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS512,
    ] {
        assert!(key.allows(alg), "{alg}");
    }
    assert!(!key.allows(Algorithm::EdDSA));
}

#[test]
fn unusable_keys_are_skipped_with_a_reason_and_the_rest_stays() {
    let good = TestKeys::shared().ec.public_jwk().clone();
    let mut enc = good.clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    let n = TestKeys::shared().rsa.public_jwk()["n"].clone();
    let doc = json!({"keys": [
        good,
        enc,
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "short", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
        {"kty": "RSA", "kid": "empty-n", "n": "", "e": "AQAB"},
        {"kty": "RSA", "kid": "bad-b64", "n": "!!!", "e": "AQAB"},
        {"kty": "EC", "kid": "wrong-len", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "RSA", "kid": "pinned-wrong", "alg": "ES256", "n": n, "e": "AQAB"},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AAAA"},
        {"kid": "no-kty"},
        "not an object",
        {"kty": "EC", "kid": "ops", "key_ops": ["encrypt"], "crv": "P-256", "x": "AA", "y": "AA"},
    ]});
    let set = KeySet::from_json(doc.to_string().as_bytes()).unwrap();
    let kept: Vec<_> = set.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(kept, [Some("ec-1")]);
    assert_eq!(set.keys()[0].kid(), Some("ec-1"));
    assert_eq!(set.skipped().len(), 13);
    for skipped in set.skipped() {
        assert!(!skipped.reason.is_empty());
    }
    let reason = |kid: &str| {
        set.skipped()
            .iter()
            .find(|s| s.kid.as_deref() == Some(kid))
            .map(|s| s.reason.clone())
            .unwrap()
    };
    assert!(reason("enc-key").contains("use"));
    assert!(reason("hmac").contains("oct"));
    assert!(reason("short").contains("17 bits"), "{}", reason("short"));
    // Found by the jwks fuzz target: an empty modulus underflowed the bit count.
    assert!(
        reason("empty-n").contains("0 bits"),
        "{}",
        reason("empty-n")
    );
    assert!(reason("pinned-wrong").contains("does not fit"));
}

#[test]
fn a_malformed_document_is_an_error() {
    for doc in [
        "",
        "{}",
        "[]",
        r#"{"keys": {}}"#,
        r#"{"keys": "x"}"#,
        "null",
    ] {
        assert!(KeySet::from_json(doc.as_bytes()).is_err(), "{doc}");
    }
    assert!(KeySet::from_json(br#"{"keys": []}"#).unwrap().is_empty());
}

#[test]
fn candidates_by_kid_and_without_kid() {
    let set = TestKeys::shared().key_set();
    let by_kid: Vec<_> = set
        .candidates(Some("ed-1"), Algorithm::EdDSA)
        .unwrap()
        .collect();
    assert_eq!(by_kid.len(), 1);
    assert!(matches!(
        set.candidates(Some("ed-1"), Algorithm::RS256),
        Err(TokenError::AlgorithmNotAllowed { .. })
    ));
    assert!(matches!(
        set.candidates(Some("missing"), Algorithm::RS256),
        Err(TokenError::UnknownKey { .. })
    ));
    // Without kid: every key that fits the alg.
    let es: Vec<_> = set.candidates(None, Algorithm::ES256).unwrap().collect();
    assert_eq!(es.len(), 1);
    assert_eq!(es[0].kid(), Some("ec-1"));
    assert!(matches!(
        set.candidates(None, Algorithm::RS512),
        Err(TokenError::UnknownKey { kid: None })
    ));
}

#[test]
fn the_same_key_fetched_twice_has_the_same_fingerprint() {
    let a = TestKeys::shared().key_set();
    let b = TestKeys::shared().key_set();
    assert_eq!(a.keys()[0].fingerprint(), b.keys()[0].fingerprint());
    assert_ne!(a.keys()[0].fingerprint(), a.keys()[1].fingerprint());
    assert!(a.has_fingerprint(b.keys()[2].fingerprint()));
}

#[test]
fn a_token_kid_also_tries_keys_that_have_no_kid() {
    let mut jwk = TestKeys::shared().ec.public_jwk().clone();
    jwk.as_object_mut().unwrap().remove("kid");
    let set = KeySet::from_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
    let found: Vec<_> = set
        .candidates(Some("any-kid"), Algorithm::ES256)
        .unwrap()
        .collect();
    assert_eq!(found.len(), 1, "a kid-less key is a candidate, as in Envoy");
    assert!(matches!(
        set.candidates(Some("any-kid"), Algorithm::RS256),
        Err(TokenError::UnknownKey { .. })
    ));
}
