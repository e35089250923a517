//! Published Envoy and Istio advisories about authorization, replayed against the policy
//! engine. Each test is named after the advisory and says what it was; `SECURITY.md` maps
//! every advisory to its test. Older ones are conformance cases (named there).

use authz_policy::check::{CheckOutput, CheckRequest};
use authz_policy::{CompileOptions, CustomVerdict, PolicySet};
use serde_json::{Value, json};

fn policies(yaml: &str) -> PolicySet {
    PolicySet::from_yaml(yaml, CompileOptions::default()).unwrap()
}

/// The decision of `set` for `request` (authz-check's JSON input), as authz-check prints it.
fn decide(set: &PolicySet, request: Value) -> Value {
    let mut input = json!({"namespace": "foo", "workload_labels": {"app": "httpbin"},
                           "method": "GET", "path": "/", "host": "httpbin.foo", "port": 8000,
                           "source": {"ip": "10.0.0.1", "principal": "cluster.local/ns/sleep/sa/sleep"}});
    for (k, v) in request.as_object().unwrap() {
        input[k] = v.clone();
    }
    let input: CheckRequest = serde_json::from_value(input).unwrap();
    let headers = input.header_pairs();
    let request = input.request(&headers).unwrap();
    let decision = set.evaluate(&input.workload(), &request, CustomVerdict::Allow);
    serde_json::to_value(CheckOutput::from(&decision)).unwrap()
}

const DENY_ADMIN_TEMPLATE: &str = r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/{**}", "/files/{*}/raw"]}}]}]
"#;

/// CVE-2025-46821 (GHSA-c7cm-838g-6g67, Envoy 1.34.1; Istio 1.24.6 / 1.25.3): the path
/// template operators `{*}` and `{**}` did not match the `*` character, so a DENY on
/// `/admin/{**}` let `/admin/*secret` through. They match every RFC 3986 path character,
/// `*` and `=` included; `{*}` still stops at `/`.
#[test]
fn cve_2025_46821_path_templates_match_asterisk_and_equals() {
    let set = policies(DENY_ADMIN_TEMPLATE);
    for path in [
        "/admin/x",
        "/admin/*secret",
        "/admin/*",
        "/admin/a=b/c",
        "/admin/a*b=c/d",
        "/files/*/raw",
        "/files/a=b/raw",
    ] {
        let out = decide(&set, json!({"path": path}));
        assert_eq!(out["decision"], "deny", "{path}: {out}");
        assert_eq!(out["policy"], "foo/deny-admin", "{path}");
    }
    for path in [
        "/public/*",
        "/files/a/b/raw",
        "/files//raw",
        "/administrator",
    ] {
        let out = decide(&set, json!({"path": path}));
        assert_eq!(out["decision"], "allow", "{path}: {out}");
    }
}

const DENY_ADMIN_ROLE: &str = r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin-role, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules: [{when: [{key: "request.headers[x-role]", values: ["admin"]}]}]
"#;

/// CVE-2026-26308 (GHSA-ghc4-35x6-crw5, Envoy; Istio 2026-001): the RBAC header matcher
/// matched a repeated header as its values joined with `,`, so `x-role: user` plus
/// `x-role: admin` (`"user,admin"`) escaped a DENY on `admin`. Fixed Envoy matches each
/// value. The authz-check contract keeps Istio's documented joined form (conformance
/// cases `when-header-repeated-joined*`), so the engine still reads `"user,admin"`; what
/// we add is a lint warning on every rule a repeat can step around, and the mitigation it
/// recommends is shown to work.
#[test]
fn cve_2026_26308_repeated_headers_are_matched_joined_and_the_lint_says_so() {
    let set = policies(DENY_ADMIN_ROLE);
    let repeated = json!({"headers": {"x-role": ["user", "admin"]}});
    assert_eq!(
        decide(&set, repeated.clone())["decision"],
        "allow",
        "the contract's joined semantics"
    );
    let warnings = set.lint(&[]);
    let warning = warnings
        .iter()
        .find(|w| w.field == "spec.rules[0].when[0]")
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert!(warning.warning.contains("CVE-2026-26308"), "{warning:?}");
    assert!(
        warning.warning.contains(r#""*,admin""#) && warning.warning.contains(r#""admin,*""#),
        "{warning:?}"
    );
    // The mitigation the warning recommends denies every position of the value.
    let mitigated = policies(&DENY_ADMIN_ROLE.replace(
        r#"values: ["admin"]"#,
        r#"values: ["admin", "*,admin", "admin,*"]"#,
    ));
    for headers in [
        json!({"x-role": "admin"}),
        json!({"x-role": ["user", "admin"]}),
        json!({"x-role": ["admin", "user"]}),
    ] {
        let out = decide(&mitigated, json!({"headers": headers}));
        assert_eq!(out["decision"], "deny", "{headers}: {out}");
    }
    assert_eq!(
        decide(&mitigated, json!({"headers": {"x-role": "user"}}))["decision"],
        "allow"
    );
    // ALLOW with notValues is the same trap from the other side; positive ALLOW values
    // are not (a repeat only makes them miss).
    let allow_not_admin = DENY_ADMIN_ROLE
        .replace("action: DENY", "action: ALLOW")
        .replace("values:", "notValues:");
    assert!(
        policies(&allow_not_admin)
            .lint(&[])
            .iter()
            .any(|w| w.warning.contains("CVE-2026-26308"))
    );
    let allow_admin = DENY_ADMIN_ROLE.replace("action: DENY", "action: ALLOW");
    assert!(
        !policies(&allow_admin)
            .lint(&[])
            .iter()
            .any(|w| w.warning.contains("CVE-2026-26308"))
    );
}

/// CVE-2026-39350 (GHSA-9gcg-w975-3rjh, Istio): `serviceAccounts` were compiled into a
/// regular expression without escaping `.`, so an ALLOW for `cert-manager.io` also
/// matched `cert-managerXio`, and a DENY missed the one it named with any character
/// there. Service account names are compared literally.
#[test]
fn cve_2026_39350_service_account_names_are_literal() {
    let set = policies(
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-cert-manager, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules: [{from: [{source: {serviceAccounts: ["foo/cert-manager.io", "foo/a+b(c)"]}}]}]
"#,
    );
    let from = |principal: &str| {
        decide(
            &set,
            json!({"source": {"ip": "10.0.0.1", "principal": principal}}),
        )["decision"]
            .clone()
    };
    assert_eq!(from("cluster.local/ns/foo/sa/cert-manager.io"), "allow");
    assert_eq!(from("cluster.local/ns/foo/sa/a+b(c)"), "allow");
    for other in [
        "cluster.local/ns/foo/sa/cert-managerXio",
        "cluster.local/ns/foo/sa/cert-manager-io",
        "cluster.local/ns/foo/sa/aabc",
        "cluster.local/ns/foo/sa/a+b(c)x",
    ] {
        assert_eq!(from(other), "deny", "{other}");
    }
}
