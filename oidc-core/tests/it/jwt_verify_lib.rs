//! Token parsing as strict as Envoy's jwt_verify_lib (google/jwt_verify_lib: `src/jwt.cc`
//! `Jwt::parseFromString`, `src/struct_utils.cc`, protobuf's JSON parser for the header and
//! payload). One case per rule: each token below is refused by jwt_verify_lib with the
//! `Status` the case names, and must be refused by us as malformed, before any claim or
//! signature check could let it through. Every token is correctly signed, so a refusal can
//! only come from the rule under test.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use oidc_core::error::TokenError;
use oidc_core::testing::{FixedClock, TestKeys};
use oidc_core::verify::{Algorithm, Verifier};

const ISS: &str = "https://op.example";
const NOW: i64 = 1_700_000_000;
const HEADER: &str = r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#;

/// What the verifier must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// [`TokenError::is_malformed`].
    Malformed,
    /// The algorithm is refused before anything else ([`TokenError::UnsupportedAlgorithm`]).
    Unsupported,
    /// The signature cannot verify ([`TokenError::BadSignature`]).
    BadSignature,
}

struct Case {
    /// The jwt_verify_lib `Status` this case mirrors.
    check: &'static str,
    /// What is wrong with the token.
    what: &'static str,
    token: String,
    expect: Expect,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with the segments exactly as given, signed over
/// `header "." payload` by the RSA test key.
fn signed_segments(header: &str, payload: &str) -> String {
    let input = format!("{header}.{payload}");
    let signature = TestKeys::shared()
        .rsa
        .sign_with(Algorithm::RS256, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// A correctly signed token whose header and payload are exactly these JSON texts.
fn signed(header: &str, payload: &str) -> String {
    signed_segments(&b64(header.as_bytes()), &b64(payload.as_bytes()))
}

/// The base claims in this order, with `claim` set to the raw JSON text `raw` (added when
/// it is not a base claim).
fn claims_with(claim: &str, raw: &str) -> String {
    let base = [
        ("iss", format!("{ISS:?}")),
        ("sub", "\"alice\"".to_owned()),
        ("aud", "\"api\"".to_owned()),
        ("exp", (NOW + 300).to_string()),
        ("iat", NOW.to_string()),
    ];
    let mut parts: Vec<String> = base
        .iter()
        .map(|(k, v)| {
            let v = if *k == claim { raw } else { v.as_str() };
            format!("\"{k}\":{v}")
        })
        .collect();
    if !base.iter().any(|(k, _)| *k == claim) {
        parts.push(format!("\"{claim}\":{raw}"));
    }
    format!("{{{}}}", parts.join(","))
}

fn good_payload() -> String {
    claims_with("jti", "\"id-1\"")
}

/// `header.payload` in the standard base64 alphabet (`+`, `/`), which jwt_verify_lib's
/// `absl::WebSafeBase64Unescape` refuses.
fn standard_alphabet(json: &str) -> String {
    let encoded = STANDARD_NO_PAD.encode(json.as_bytes());
    assert!(
        encoded.contains(['+', '/']),
        "{json} must need + or /: {encoded}"
    );
    encoded
}

/// Nested arrays `depth` deep in a custom claim.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn cases() -> Vec<Case> {
    use Expect::{BadSignature, Malformed, Unsupported};
    let keys = TestKeys::shared();
    let good = signed(HEADER, &good_payload());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    // A header and a payload whose standard-alphabet encodings differ from base64url.
    let odd_header = r#"{"alg":"RS256","kid":"rsa-1","x":"~~~???>>>"}"#;
    let odd_payload = claims_with("x", "\"~~~???>>>\"");
    let case = |check, what, token: String, expect| Case {
        check,
        what,
        token,
        expect,
    };
    let claim = |check, what, name: &str, raw: &str| Case {
        check,
        what,
        token: signed(HEADER, &claims_with(name, raw)),
        expect: Malformed,
    };
    vec![
        // Structure: exactly three non-empty dot-separated sections.
        case(
            "JwtBadFormat",
            "two sections",
            format!("{h}.{p}"),
            Malformed,
        ),
        case(
            "JwtBadFormat",
            "four sections",
            format!("{good}.{s}"),
            Malformed,
        ),
        case(
            "JwtBadFormat",
            "empty signature",
            format!("{h}.{p}."),
            Malformed,
        ),
        case(
            "JwtBadFormat",
            "empty header",
            format!(".{p}.{s}"),
            Malformed,
        ),
        case("JwtBadFormat", "empty token", String::new(), Malformed),
        // Header encoding and JSON.
        case(
            "JwtHeaderParseErrorBadBase64",
            "header outside the base64url alphabet",
            format!("{h}!.{p}.{s}"),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadBase64",
            "header in the standard base64 alphabet",
            signed_segments(
                &standard_alphabet(odd_header),
                &b64(good_payload().as_bytes()),
            ),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header is not JSON",
            signed("not json", &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header is a JSON array",
            signed(r#"["RS256","rsa-1",null,null]"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header is a JSON string",
            signed(r#""RS256""#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header names alg twice",
            signed(
                r#"{"alg":"RS256","kid":"rsa-1","alg":"RS256"}"#,
                &good_payload(),
            ),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header names another member twice",
            signed(
                r#"{"alg":"RS256","kid":"rsa-1","x5u":"a","x5u":"b"}"#,
                &good_payload(),
            ),
            Malformed,
        ),
        case(
            "JwtHeaderParseErrorBadJson",
            "header has text after the object",
            signed(&format!("{HEADER} x"), &good_payload()),
            Malformed,
        ),
        // alg and kid.
        case(
            "JwtHeaderBadAlg",
            "no alg",
            signed(r#"{"kid":"rsa-1"}"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderBadAlg",
            "alg is a number",
            signed(r#"{"alg":256,"kid":"rsa-1"}"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderBadAlg",
            "alg is null",
            signed(r#"{"alg":null,"kid":"rsa-1"}"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderBadAlg",
            "header is null (an empty struct to protobuf: no alg)",
            signed("null", &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderNotImplementedAlg",
            "alg none",
            signed(r#"{"alg":"none","kid":"rsa-1"}"#, &good_payload()),
            Unsupported,
        ),
        case(
            "JwtHeaderNotImplementedAlg",
            "alg RS1",
            signed(r#"{"alg":"RS1","kid":"rsa-1"}"#, &good_payload()),
            Unsupported,
        ),
        case(
            "JwtHeaderBadKid",
            "kid is a number",
            signed(r#"{"alg":"RS256","kid":1}"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderBadKid",
            "kid is null",
            signed(r#"{"alg":"RS256","kid":null}"#, &good_payload()),
            Malformed,
        ),
        case(
            "JwtHeaderBadKid",
            "kid is an object",
            signed(r#"{"alg":"RS256","kid":{"id":"rsa-1"}}"#, &good_payload()),
            Malformed,
        ),
        // Payload encoding and JSON.
        case(
            "JwtPayloadParseErrorBadBase64",
            "payload outside the base64url alphabet",
            format!("{h}.{p}!.{s}"),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadBase64",
            "payload in the standard base64 alphabet",
            signed_segments(&b64(HEADER.as_bytes()), &standard_alphabet(&odd_payload)),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload is not JSON",
            signed(HEADER, "not json"),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload is a JSON array",
            signed(HEADER, &format!("[{}]", good_payload())),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload names sub twice",
            signed(HEADER, &claims_with("sub", r#""alice","sub":"admin""#)),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload names iss twice",
            signed(
                HEADER,
                &claims_with(
                    "iss",
                    r#""https://evil.example","iss":"https://op.example""#,
                ),
            ),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "a nested claim names a key twice",
            signed(
                HEADER,
                &claims_with("realm_access", r#"{"roles":["user"],"roles":["admin"]}"#),
            ),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload nests deeper than protobuf's 100 levels",
            signed(HEADER, &claims_with("deep", &nested(100))),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "payload has text after the object",
            signed(HEADER, &format!("{} x", good_payload())),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "a string holds a lone surrogate",
            signed(HEADER, &claims_with("name", r#""\ud800""#)),
            Malformed,
        ),
        case(
            "JwtPayloadParseErrorBadJson",
            "a string is not UTF-8",
            {
                let mut payload = claims_with("name", "\"x\"").into_bytes();
                let at = payload.iter().rposition(|b| *b == b'x').unwrap();
                payload[at] = 0xff;
                signed_segments(&b64(HEADER.as_bytes()), &b64(&payload))
            },
            Malformed,
        ),
        // Claim types (struct_utils.cc: GetString / GetUInt64 / GetStringList; a JSON null
        // is a value of the wrong type, not an absent claim).
        claim(
            "JwtPayloadParseErrorIssNotString",
            "iss is a number",
            "iss",
            "7",
        ),
        claim(
            "JwtPayloadParseErrorIssNotString",
            "iss is null",
            "iss",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorIssNotString",
            "iss is an array",
            "iss",
            r#"["https://op.example"]"#,
        ),
        claim(
            "JwtPayloadParseErrorSubNotString",
            "sub is a number",
            "sub",
            "7",
        ),
        claim(
            "JwtPayloadParseErrorSubNotString",
            "sub is null",
            "sub",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorSubNotString",
            "sub is an object",
            "sub",
            r#"{"id":"alice"}"#,
        ),
        claim(
            "JwtPayloadParseErrorIatNotInteger",
            "iat is a string",
            "iat",
            "\"1700000000\"",
        ),
        claim(
            "JwtPayloadParseErrorIatNotInteger",
            "iat is null",
            "iat",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorIatNotInteger",
            "iat is a bool",
            "iat",
            "true",
        ),
        claim(
            "JwtPayloadParseErrorIatOutOfRange",
            "iat is negative",
            "iat",
            "-1",
        ),
        claim(
            "JwtPayloadParseErrorIatOutOfRange",
            "iat is 1e20",
            "iat",
            "1e20",
        ),
        claim(
            "JwtPayloadParseErrorNbfNotInteger",
            "nbf is a string",
            "nbf",
            "\"1700000000\"",
        ),
        claim(
            "JwtPayloadParseErrorNbfNotInteger",
            "nbf is null",
            "nbf",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorNbfOutOfRange",
            "nbf is negative",
            "nbf",
            "-1",
        ),
        claim(
            "JwtPayloadParseErrorNbfOutOfRange",
            "nbf is 2^64",
            "nbf",
            "18446744073709551616",
        ),
        claim(
            "JwtPayloadParseErrorExpNotInteger",
            "exp is a string",
            "exp",
            "\"4000000000\"",
        ),
        claim(
            "JwtPayloadParseErrorExpNotInteger",
            "exp is null",
            "exp",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorExpNotInteger",
            "exp is an array",
            "exp",
            "[4000000000]",
        ),
        claim(
            "JwtPayloadParseErrorExpOutOfRange",
            "exp is negative",
            "exp",
            "-1",
        ),
        claim(
            "JwtPayloadParseErrorExpOutOfRange",
            "exp is 1e20",
            "exp",
            "1e20",
        ),
        claim(
            "JwtPayloadParseErrorExpOutOfRange",
            "exp is 2^64",
            "exp",
            "18446744073709551616",
        ),
        claim(
            "JwtPayloadParseErrorExpOutOfRange",
            "exp is u64::MAX (2^64 as a double)",
            "exp",
            "18446744073709551615",
        ),
        claim(
            "JwtPayloadParseErrorJtiNotString",
            "jti is a number",
            "jti",
            "7",
        ),
        claim(
            "JwtPayloadParseErrorJtiNotString",
            "jti is null",
            "jti",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorAudNotString",
            "aud is a number",
            "aud",
            "7",
        ),
        claim(
            "JwtPayloadParseErrorAudNotString",
            "aud is null",
            "aud",
            "null",
        ),
        claim(
            "JwtPayloadParseErrorAudNotString",
            "aud lists a number",
            "aud",
            "[\"api\",1]",
        ),
        claim(
            "JwtPayloadParseErrorAudNotString",
            "aud lists null",
            "aud",
            "[\"api\",null]",
        ),
        claim(
            "JwtPayloadParseErrorAudNotString",
            "aud is an object",
            "aud",
            r#"{"api":true}"#,
        ),
        // Signature encoding.
        case(
            "JwtSignatureParseErrorBadBase64",
            "signature outside the base64url alphabet",
            format!("{h}.{p}.{s}!"),
            Malformed,
        ),
        case(
            "JwtSignatureParseErrorBadBase64",
            "signature in the standard base64 alphabet",
            {
                let signature = keys
                    .rsa
                    .sign_with(Algorithm::RS256, format!("{h}.{p}").as_bytes());
                let standard = STANDARD_NO_PAD.encode(&signature);
                // RSA signatures are random-looking: one of + or / shows up in 342 chars.
                assert!(standard.contains(['+', '/']));
                format!("{h}.{p}.{standard}")
            },
            Malformed,
        ),
        case(
            "JwtEd25519SignatureWrongLength",
            "an EdDSA signature of 63 bytes",
            {
                let header = b64(br#"{"alg":"EdDSA","kid":"ed-1"}"#);
                let input = format!("{header}.{p}");
                let signature = keys.ed.sign_with(Algorithm::EdDSA, input.as_bytes());
                format!("{input}.{}", b64(&signature[..63]))
            },
            BadSignature,
        ),
    ]
}

/// Our default verifier, and one configured as authz-policy configures Envoy's rules (no
/// `exp` required, `iat` in the future accepted): both must refuse every case.
fn verifiers() -> [(&'static str, Verifier); 2] {
    let clock = || Arc::new(FixedClock::at_unix(NOW));
    [
        (
            "default",
            Verifier::builder(ISS)
                .audience("api")
                .clock(clock())
                .build()
                .unwrap(),
        ),
        (
            "envoy-like",
            Verifier::builder(ISS)
                .audience("api")
                .require_exp(false)
                .reject_future_iat(false)
                .zero_exp_is_absent(true)
                .clock(clock())
                .build()
                .unwrap(),
        ),
    ]
}

fn answered_as(expect: Expect, error: &TokenError) -> bool {
    match expect {
        Expect::Malformed => error.is_malformed(),
        Expect::Unsupported => matches!(error, TokenError::UnsupportedAlgorithm(_)),
        Expect::BadSignature => matches!(error, TokenError::BadSignature { .. }),
    }
}

#[test]
fn every_token_jwt_verify_lib_refuses_as_malformed_is_refused() {
    let keys = TestKeys::shared().key_set();
    let good = signed(HEADER, &good_payload());
    for (name, verifier) in verifiers() {
        assert!(
            verifier.verify(&good, &keys).is_ok(),
            "{name}: the base token verifies, so each refusal below is the rule's"
        );
    }
    let mut failures = Vec::new();
    for case in cases() {
        for (name, verifier) in verifiers() {
            match verifier.verify(&case.token, &keys) {
                Ok(_) => failures.push(format!(
                    "{} ({}): verified with the {name} verifier",
                    case.check, case.what
                )),
                Err(e) if !answered_as(case.expect, &e) => failures.push(format!(
                    "{} ({}): {name} verifier answered {e:?}, expected {:?}",
                    case.check, case.what, case.expect
                )),
                Err(e) => {
                    let message = e.to_string();
                    assert!(
                        !message.contains(&case.token) || case.token.is_empty(),
                        "the message never contains the token"
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} refusals missing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn what_jwt_verify_lib_accepts_still_verifies() {
    let keys = TestKeys::shared().key_set();
    let [(_, default), (_, envoy)] = verifiers();
    let accepted = [
        (
            "a float iat loses its decimals",
            claims_with("iat", "1700000000.5678"),
        ),
        ("a float exp", claims_with("exp", "1700000300.5")),
        ("an exponent exp", claims_with("exp", "1.7000003e9")),
        ("-0 nbf", claims_with("nbf", "-0")),
        (
            "an exp far beyond any clock",
            claims_with("exp", "18446744073709549568"),
        ),
        ("aud as a list", claims_with("aud", r#"["web","api"]"#)),
        (
            "nested claims",
            claims_with("x", r#"{"a":{"b":[1,{"c":null}]}}"#),
        ),
        ("a custom null claim", claims_with("x", "null")),
        (
            "null azp (not read by jwt_verify_lib)",
            claims_with("azp", "null"),
        ),
        ("100 levels of nesting", claims_with("deep", &nested(99))),
        (
            "the same key in two objects",
            claims_with("x", r#"{"a":{"a":1}}"#),
        ),
        (
            "escaped unicode",
            claims_with("name", r#""\u00e9\ud83d\ude00""#),
        ),
    ];
    for (what, payload) in accepted {
        let token = signed(HEADER, &payload);
        assert!(default.verify(&token, &keys).is_ok(), "{what}: {payload}");
        assert!(envoy.verify(&token, &keys).is_ok(), "{what}: {payload}");
    }
    // No exp: accepted where exp is not required (Envoy), refused by our default.
    let no_exp = signed(
        HEADER,
        &format!(r#"{{"iss":"{ISS}","sub":"alice","aud":"api"}}"#),
    );
    assert!(envoy.verify(&no_exp, &keys).is_ok());
    assert_eq!(
        default.verify(&no_exp, &keys).unwrap_err(),
        TokenError::MissingClaim("exp")
    );
}

#[test]
fn where_we_are_stricter_than_jwt_verify_lib() {
    // jwt_verify_lib accepts each of these; RFC 7515 / 7519 do not, and neither do we.
    let keys = TestKeys::shared().key_set();
    let good = signed(HEADER, &good_payload());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let stricter = [
        // absl::StrSplit(.., SkipEmpty) reads these as three sections.
        ("an empty section between dots", format!("{h}..{p}.{s}")),
        ("a trailing dot", format!("{good}.")),
        // absl::WebSafeBase64Unescape accepts padding.
        ("a padded header", format!("{h}=.{p}.{s}")),
        // jwt_verify_lib does not read typ or crit.
        (
            "a typ that is not a string",
            signed(r#"{"alg":"RS256","kid":"rsa-1","typ":1}"#, &good_payload()),
        ),
        ("a payload that is null", signed(HEADER, "null")),
    ];
    let [(_, default), (_, envoy)] = verifiers();
    for (what, token) in stricter {
        for verifier in [&default, &envoy] {
            let e = verifier.verify(&token, &keys).unwrap_err();
            assert!(e.is_malformed(), "{what}: {e:?}");
        }
    }
}
