//! Each lint warning, raised where it should be and not elsewhere.

use authz_policy::{CompileOptions, LintWarning, PolicySet, Workload};

const JWT_RULE: &str = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: foo}\nspec:\n  selector: {matchLabels: {app: httpbin}}\n  jwtRules: [{issuer: https://idp.example, jwksUri: https://idp.example/jwks}]\n";

fn lint(yaml: &str, workloads: &[Workload]) -> Vec<LintWarning> {
    PolicySet::from_yaml(yaml, CompileOptions::default())
        .unwrap()
        .lint(workloads)
}

fn fields(warnings: &[LintWarning]) -> Vec<&str> {
    warnings.iter().map(|w| w.field.as_str()).collect()
}

#[test]
fn request_authentication_without_a_policy_that_requires_a_principal() {
    let alone = lint(JWT_RULE, &[]);
    assert!(fields(&alone).contains(&"spec.jwtRules"), "{alone:?}");
    assert!(
        alone
            .iter()
            .any(|w| w.warning.contains("requests without a token pass"))
    );
    let guarded = format!(
        "{JWT_RULE}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: require, namespace: foo}}\nspec:\n  selector: {{matchLabels: {{app: httpbin}}}}\n  rules: [{{from: [{{source: {{requestPrincipals: [\"https://idp.example/alice\"]}}}}]}}]\n"
    );
    assert!(!fields(&lint(&guarded, &[])).contains(&"spec.jwtRules"));
    // A policy for another app does not guard this one.
    let elsewhere = guarded.replace("app: httpbin}}\n  rules", "app: other}}\n  rules");
    assert!(fields(&lint(&elsewhere, &[])).contains(&"spec.jwtRules"));
}

#[test]
fn jwt_rule_without_audiences() {
    let w = lint(JWT_RULE, &[]);
    assert!(fields(&w).contains(&"spec.jwtRules[0].audiences"));
    let with = JWT_RULE.replace("jwksUri:", "audiences: [httpbin], jwksUri:");
    assert!(!fields(&lint(&with, &[])).contains(&"spec.jwtRules[0].audiences"));
}

fn policy(rule: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: foo}}\nspec:\n  selector: {{matchLabels: {{app: httpbin}}}}\n  rules:\n  - {rule}\n"
    )
}

#[test]
fn wildcard_request_principals_need_a_sub() {
    let w = lint(
        &policy("from: [{source: {requestPrincipals: [\"*\", \"https://idp.example/alice\"]}}]"),
        &[],
    );
    assert_eq!(
        fields(&w),
        ["spec.rules[0].from[0].source.requestPrincipals[0]"]
    );
    assert!(w[0].warning.contains("sub"));
}

#[test]
fn allow_rules_made_only_of_negations() {
    let w = lint(&policy("to: [{operation: {notPaths: [\"/admin*\"]}}]"), &[]);
    assert_eq!(fields(&w), ["spec.rules[0]"]);
    assert!(
        lint(
            &policy("to: [{operation: {paths: [\"/api*\"], notPaths: [\"/api/admin*\"]}}]"),
            &[]
        )
        .is_empty()
    );
    // The same negation in a DENY policy is the recommended pattern.
    let deny = policy("to: [{operation: {notPaths: [\"/public*\"]}}]")
        .replace("spec:\n", "spec:\n  action: DENY\n");
    assert!(lint(&deny, &[]).is_empty());
}

#[test]
fn hosts_with_ports_and_paths_that_never_match() {
    let w = lint(
        &policy(
            "to: [{operation: {hosts: [\"httpbin.foo\", \"httpbin.foo:8000\"], paths: [\"/a/../b\", \"/ok\", \"nope\", \"/x?y=1\", \"/%41\"]}}]",
        ),
        &[],
    );
    assert_eq!(
        fields(&w),
        [
            "spec.rules[0].to[0].operation.hosts[1]",
            "spec.rules[0].to[0].operation.paths[0]",
            "spec.rules[0].to[0].operation.paths[2]",
            "spec.rules[0].to[0].operation.paths[3]",
            "spec.rules[0].to[0].operation.paths[4]",
        ]
    );
    assert!(
        w.iter()
            .all(|x| x.object == "foo/p" && x.warning.contains("istio.io"))
    );
}

#[test]
fn policies_that_select_no_known_workload() {
    let yaml = policy("to: [{operation: {paths: [\"/ok\"]}}]");
    let httpbin = Workload::new("foo", [("app", "httpbin")]);
    let other = Workload::new("foo", [("app", "sleep")]);
    assert!(lint(&yaml, std::slice::from_ref(&httpbin)).is_empty());
    let w = lint(&yaml, &[other]);
    assert_eq!(fields(&w), ["spec.selector"]);
    assert!(
        lint(&yaml, &[]).is_empty(),
        "without workloads the check is off"
    );
}
