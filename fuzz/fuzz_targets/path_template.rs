//! A path policy value and a request path from any bytes: validation, template matching and
//! path normalization never panic, whatever the two contain.
#![no_main]

use authz_policy::path::{PathNormalization, normalize};
use authz_policy::{CompileOptions, CustomVerdict, PolicySet, Request, Workload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, path) = text.split_once('\n').unwrap_or((text, "/"));
    for mode in [PathNormalization::Base, PathNormalization::DecodeAndMergeSlashes] {
        let _ = normalize(path, mode);
    }
    let yaml = format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: ns}}\nspec:\n  rules:\n  - to: [{{operation: {{paths: [{}]}}}}]\n",
        serde_json::to_string(pattern).unwrap_or_default()
    );
    if let Ok(set) = PolicySet::from_yaml(&yaml, CompileOptions::default()) {
        let _ = set.evaluate(&Workload::new("ns", [("a", "b")]), &Request::new("GET", path), CustomVerdict::Allow);
    }
});
