//! What RequestAuthentication changes on the way upstream (`Decision::upstream`):
//! the token header removed unless `forwardOriginalToken`, the payload and claims copied
//! into headers, and client-sent copies of those headers removed first.
//! <https://istio.io/latest/docs/reference/config/security/jwt/>

use authz_policy::{CompileOptions, CustomVerdict, Decision, PolicySet, Request, Workload};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Seed 003's RequestAuthentication with `extra` fields added to its one JWT rule.
fn set(extra: &str) -> PolicySet {
    let yaml = data("003-request-authentication.yaml").replace(
        "  - issuer: \"testing@secure.istio.io\"\n",
        &format!("  - issuer: \"testing@secure.istio.io\"\n{extra}"),
    );
    assert!(yaml.contains(extra), "the seed's rule was found");
    PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap()
}

fn decide(set: &PolicySet, headers: &[(&str, &str)], query: Option<&str>) -> Decision {
    let mut request = Request::new("GET", "/headers");
    request.headers = authz_policy::request::Headers::Pairs(headers);
    request.query_string = query;
    let workload = Workload::new("foo", [("app", "httpbin")]);
    set.evaluate(&workload, &request, CustomVerdict::Allow)
}

#[test]
fn the_token_is_removed_by_default_and_kept_with_forward_original_token() {
    let token = data("token.jwt");
    let bearer = format!("Bearer {}", token.trim());
    let default = decide(&set(""), &[("authorization", &bearer)], None);
    assert_eq!(default.status, 200);
    assert_eq!(default.upstream.remove, ["authorization"]);
    assert!(default.upstream.add.is_empty());

    let forwarded = decide(
        &set("    forwardOriginalToken: true\n"),
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(forwarded.status, 200);
    assert!(
        forwarded.upstream.remove.is_empty(),
        "{:?}",
        forwarded.upstream
    );

    // A token from the query string: the parameter is removed instead.
    let query = format!("access_token={}", token.trim());
    let from_query = decide(&set(""), &[], Some(&query));
    assert_eq!(from_query.status, 200);
    assert_eq!(from_query.upstream.remove_query_params, ["access_token"]);
}

#[test]
fn payload_and_claims_are_output_to_headers_and_client_copies_removed() {
    let token = data("token-group.jwt");
    let bearer = format!("Bearer {}", token.trim());
    let set = set(concat!(
        "    outputPayloadToHeader: x-jwt-payload\n",
        "    outputClaimToHeaders:\n",
        "    - header: x-jwt-sub\n",
        "      claim: sub\n",
        "    - header: x-jwt-groups\n",
        "      claim: groups\n",
        "    - header: x-jwt-absent\n",
        "      claim: no-such-claim\n",
    ));
    let spoofed = [
        ("authorization", bearer.as_str()),
        ("x-jwt-sub", "admin"),
        ("x-jwt-payload", "e30"),
    ];
    let decision = decide(&set, &spoofed, None);
    assert_eq!(decision.status, 200);
    let payload = token.trim().split('.').nth(1).unwrap();
    let added: Vec<(&str, &str)> = decision
        .upstream
        .add
        .iter()
        .map(|(h, v)| (h.as_str(), v.as_str()))
        .collect();
    assert!(added.contains(&("x-jwt-payload", payload)), "{added:?}");
    assert!(
        added.contains(&("x-jwt-sub", "testing@secure.istio.io")),
        "{added:?}"
    );
    // A list claim goes out as base64 of its JSON, as Envoy's `claim_to_headers` does.
    let groups = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        r#"["group1","group2"]"#,
    );
    assert!(
        added.contains(&("x-jwt-groups", groups.as_str())),
        "{added:?}"
    );
    assert!(
        !added.iter().any(|(h, _)| *h == "x-jwt-absent"),
        "absent claims add nothing"
    );
    for h in [
        "x-jwt-payload",
        "x-jwt-sub",
        "x-jwt-groups",
        "authorization",
    ] {
        assert!(
            decision.upstream.remove.iter().any(|r| r == h),
            "{h} removed first: {:?}",
            decision.upstream.remove
        );
    }

    // No token: no identity, but client-sent output headers are still removed.
    let none = decide(&set, &[("x-jwt-sub", "admin")], None);
    assert_eq!(none.status, 200);
    assert!(none.identity.is_none());
    assert!(none.upstream.remove.iter().any(|r| r == "x-jwt-sub"));
    assert!(none.upstream.add.is_empty());
}
