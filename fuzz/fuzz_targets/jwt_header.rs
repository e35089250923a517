//! Any bytes as the decoded JOSE header of an otherwise well-formed token, so the header
//! parser (`alg`, `kid`, `typ`, `crit`) sees arbitrary JSON, or none.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use oidc_core::jwks::KeySet;
use oidc_core::testing::TestKeys;
use oidc_core::verify::Verifier;

struct Setup {
    keys: KeySet,
    verifier: Verifier,
    /// `base64url(claims) + ".c2ln"`: valid claims and a (wrong) signature.
    rest: String,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let claims = serde_json::json!({
            "iss": "https://op.example", "sub": "alice", "aud": "api",
            "exp": 4_000_000_000i64, "iat": 1_700_000_000,
        });
        Setup {
            keys: TestKeys::shared().key_set(),
            verifier: Verifier::builder("https://op.example")
                .audience("api")
                .build()
                .expect("verifier"),
            rest: format!("{}.c2ln", URL_SAFE_NO_PAD.encode(claims.to_string())),
        }
    })
}

fuzz_target!(|header: &[u8]| {
    let s = setup();
    let token = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), s.rest);
    let _ = s.verifier.verify(&token, &s.keys);
});
