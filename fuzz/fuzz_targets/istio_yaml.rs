//! Any text as Istio policy YAML: parsing, validation and compilation never panic, and a
//! set that compiles answers a fixed request and lints.
#![no_main]

use authz_policy::{CompileOptions, CustomVerdict, PolicySet, Request, Workload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = PolicySet::from_yaml(text, CompileOptions::default()) {
        let workload = Workload::new("foo", [("app", "httpbin")]);
        let mut request = Request::new("GET", "/a/../b?x=1");
        request.host = Some("httpbin.foo:8000");
        request.port = Some(8000);
        let _ = set.evaluate(&workload, &request, CustomVerdict::Allow);
        let _ = set.lint(&[workload]);
    }
});
