//! Any bytes as a JWKS document; every key that parses is asked about every algorithm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::jwks::KeySet;
use oidc_core::verify::Algorithm;

fuzz_target!(|data: &[u8]| {
    let Ok(set) = KeySet::from_json(data) else {
        return;
    };
    for key in set.keys() {
        let _ = (key.kid(), key.key_type(), key.fingerprint());
        for alg in Algorithm::ALL {
            let allowed = key.allows(alg);
            let verified = key.verify(alg, b"header.payload", b"not a signature");
            assert!(allowed || !verified, "{alg:?} verified by a key that does not allow it");
        }
    }
});
