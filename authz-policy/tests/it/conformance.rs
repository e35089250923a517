//! The conformance suite: every case under `tests/data/istio/<case>/` (policies.yaml,
//! request.json, expected.json; see the README there) through the public API. The same
//! cases run through the `authz-check` binary in `examples/tests/authz_check.rs`.

use std::path::{Path, PathBuf};

use authz_policy::check::{CheckOutput, CheckRequest, compare_expected};
use authz_policy::{CompileOptions, CustomVerdict, PolicySet};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/istio");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one case; `Err` describes the mismatch.
fn run(dir: &Path) -> Result<(), String> {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
            .map_err(|e| format!("expected.json: {e}"))?;
    let args: Vec<String> = expected
        .get("args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut options = CompileOptions::default();
    if let Some(i) = args.iter().position(|a| a == "--root-namespace") {
        options = options.root_namespace(args[i + 1].clone());
    }
    let verdict = if args.iter().any(|a| a == "--custom-deny") {
        CustomVerdict::Deny
    } else {
        CustomVerdict::Allow
    };
    let yaml = std::fs::read_to_string(dir.join("policies.yaml")).unwrap();
    let compiled = PolicySet::from_yaml(&yaml, options);
    if let Some(Value::Number(code)) = expected.get("exit") {
        assert_eq!(code.as_u64(), Some(2), "only exit 2 is expected by cases");
        let needle = expected
            .get("error_contains")
            .and_then(Value::as_str)
            .unwrap_or("");
        return match compiled {
            Err(e) if e.to_string().contains(needle) => Ok(()),
            Err(e) => Err(format!("error {e:?} does not contain {needle:?}")),
            Ok(_) => Err("policies were accepted; expected an error".into()),
        };
    }
    let set = compiled.map_err(|e| format!("policies rejected: {e}"))?;
    let input: CheckRequest =
        serde_json::from_str(&std::fs::read_to_string(dir.join("request.json")).unwrap())
            .map_err(|e| format!("request.json: {e}"))?;
    let headers = input.header_pairs();
    let request = input.request(&headers)?;
    let decision = set.evaluate(&input.workload(), &request, verdict);
    compare_expected(&expected, &CheckOutput::from(&decision))
}

#[test]
fn every_conformance_case_decides_as_istio() {
    let cases = cases();
    assert!(!cases.is_empty(), "no cases under tests/data/istio");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|dir| {
            run(dir)
                .err()
                .map(|e| format!("{}: {e}", dir.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
