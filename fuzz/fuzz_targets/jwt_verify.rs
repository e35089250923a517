//! Any string as a token: `Verifier::verify` and `IdTokenVerifier::verify` return an error,
//! never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oidc_core::jwks::KeySet;
use oidc_core::testing::TestKeys;
use oidc_core::verify::{IdTokenChecks, IdTokenVerifier, Verifier};

struct Setup {
    keys: KeySet,
    access: Verifier,
    id_token: IdTokenVerifier,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        keys: TestKeys::shared().key_set(),
        access: Verifier::builder("https://op.example")
            .audience("api")
            .build()
            .expect("verifier"),
        id_token: IdTokenVerifier::new(Verifier::builder("https://op.example"), "api")
            .expect("ID-token verifier"),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let s = setup();
    let _ = s.access.verify(token, &s.keys);
    let checks = IdTokenChecks {
        nonce: Some("n"),
        access_token: Some("at"),
        code: Some("c"),
    };
    let _ = s.id_token.verify(token, &s.keys, &checks);
});
