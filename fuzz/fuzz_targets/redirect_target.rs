//! Arbitrary text as an `rd` redirect target: the check never panics, and what it accepts
//! is either a local path or an allowed origin, never another host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_sso::sso::redirect::RedirectPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let origin = url::Url::parse("https://app.example.com").expect("origin");
    let policy = RedirectPolicy::same_origin().allow_domains([".example.org"]);
    if let Some(safe) = policy.check(target, &origin) {
        if safe.starts_with('/') {
            assert!(!safe.starts_with("//") && !safe.starts_with("/\\"), "{safe}");
            let resolved = origin.join(&safe).expect("a path joins");
            assert_eq!(resolved.origin(), origin.origin(), "{target:?} -> {safe}");
        } else {
            let url = url::Url::parse(&safe).expect("absolute");
            let host = url.host_str().unwrap_or_default();
            assert!(host == "example.org" || host.ends_with(".example.org"), "{target:?} -> {safe}");
        }
    }
});
