//! Any bytes as an authz-check request, evaluated against a fixed policy set that uses
//! every kind of check (the seed JWT rule and policy, CUSTOM, DENY, paths, headers, claims).
#![no_main]

use std::sync::OnceLock;

use authz_policy::check::{CheckOutput, CheckRequest};
use authz_policy::{CompileOptions, CustomVerdict, PolicySet};
use libfuzzer_sys::fuzz_target;

const POLICIES: &str = include_str!("../policies.yaml");

fn set() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        PolicySet::from_yaml(POLICIES, CompileOptions::default()).expect("fixed policies compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = serde_json::from_slice::<CheckRequest>(data) else {
        return;
    };
    let headers = input.header_pairs();
    let Ok(request) = input.request(&headers) else {
        return;
    };
    for verdict in [CustomVerdict::Allow, CustomVerdict::Deny] {
        let decision = set().evaluate(&input.workload(), &request, verdict);
        let out = CheckOutput::from(&decision);
        assert!(matches!(out.status, 200 | 401 | 403), "{out:?}");
    }
});
