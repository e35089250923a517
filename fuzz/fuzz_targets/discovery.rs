//! Any bytes as a discovery document for `https://op.example`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_core::discovery::ProviderMetadata;

fuzz_target!(|data: &[u8]| {
    if let Ok(metadata) = ProviderMetadata::from_json("https://op.example", data) {
        let _ = metadata.require_token_endpoint();
    }
});
