//! Arbitrary bytes as a Cookie header (any number of chunks, any values): reading the
//! session never panics, and a forged value never opens.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tower_sso::sso::session::CookieStore;
use tower_sso::sso::session::codec::{Codec, CookieSecret};
use tower_sso::sso::session::cookie::{self, CookieAttributes};

fn store() -> &'static CookieStore {
    static STORE: OnceLock<CookieStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let secret = CookieSecret::parse("q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=").expect("secret");
        let codec = Arc::new(Codec::new(&secret, &[]).expect("codec"));
        CookieStore::new(codec, CookieAttributes::new("_sso"))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut headers = http::HeaderMap::new();
    for line in data.split(|b| *b == b'\n').take(8) {
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            headers.append(http::header::COOKIE, value);
        }
    }
    let _ = cookie::present_names(&headers, "_sso");
    let _ = cookie::read(&headers, "_sso");
    // Without the key, no input can be a valid session.
    assert!(store().load_now(&headers).is_none());
});
