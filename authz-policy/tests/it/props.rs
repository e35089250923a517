//! Properties of the matchers, through the public API.

use authz_policy::path::{PathNormalization, normalize};
use authz_policy::request::Headers;
use authz_policy::{CompileOptions, CustomVerdict, PolicySet, Request, Workload};
use proptest::prelude::*;

fn allows(yaml_rule: &str, request: &Request<'_>) -> bool {
    let yaml = format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p, namespace: ns}}\nspec:\n  rules:\n  - {yaml_rule}\n"
    );
    let set = PolicySet::from_yaml(&yaml, CompileOptions::default()).unwrap();
    set.evaluate(
        &Workload::new("ns", [("app", "a")]),
        request,
        CustomVerdict::Allow,
    )
    .is_allowed()
}

/// Istio's value syntax, as a naive model: `*` alone, one leading or trailing `*`.
fn model(pattern: &str, s: &str, star_is_non_empty: bool) -> bool {
    if pattern == "*" {
        return !star_is_non_empty || !s.is_empty();
    }
    if let Some(rest) = pattern.strip_prefix('*') {
        return s.ends_with(rest);
    }
    if let Some(rest) = pattern.strip_suffix('*') {
        return s.starts_with(rest);
    }
    pattern == s
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn not_paths_is_the_complement_of_paths(value in "[*]?/[ab/]{0,4}[*]?", path in "/[ab/]{0,5}") {
        let request = Request::new("GET", &path);
        let positive = allows(&format!("to: [{{operation: {{paths: [{}]}}}}]", json(&value)), &request);
        let negative = allows(&format!("to: [{{operation: {{notPaths: [{}]}}}}]", json(&value)), &request);
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, model(&value, &path, true));
    }

    #[test]
    fn header_values_and_not_values_are_complements(value in "[*]?[xy]{1,3}[*]?|[*]", header in proptest::option::of("[xy]{0,3}")) {
        let pairs: Vec<(&str, &str)> = header.iter().map(|h| ("x-h", h.as_str())).collect();
        let mut request = Request::new("GET", "/");
        request.headers = Headers::Pairs(&pairs);
        let positive = allows(&format!("when: [{{key: 'request.headers[X-H]', values: [{}]}}]", json(&value)), &request);
        let negative = allows(&format!("when: [{{key: 'request.headers[x-h]', notValues: [{}]}}]", json(&value)), &request);
        prop_assert_ne!(positive, negative);
        // An absent header matches no value (not even `*`); `*` accepts an empty value.
        prop_assert_eq!(positive, header.as_deref().is_some_and(|h| model(&value, h, false)));
    }

    #[test]
    fn hosts_match_case_insensitively_and_complement(value in "[*]?[aB.]{1,4}[*]?", host in "[Ab.:8]{1,6}") {
        let mut request = Request::new("GET", "/");
        request.host = Some(&host);
        let positive = allows(&format!("to: [{{operation: {{hosts: [{}]}}}}]", json(&value)), &request);
        let negative = allows(&format!("to: [{{operation: {{notHosts: [{}]}}}}]", json(&value)), &request);
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, model(&value.to_ascii_lowercase(), &host.to_ascii_lowercase(), false));
    }

    #[test]
    fn ports_and_not_ports_are_complements(value in 0u16..4, port in proptest::option::of(0u16..4)) {
        let mut request = Request::new("GET", "/");
        request.port = port;
        let positive = allows(&format!("to: [{{operation: {{ports: ['{value}']}}}}]"), &request);
        let negative = allows(&format!("to: [{{operation: {{notPorts: ['{value}']}}}}]"), &request);
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, port == Some(value));
    }

    #[test]
    fn methods_and_not_methods_are_complements(value in "[*]?[GETPOS]{1,3}[*]?", method in "[GETPOS]{1,4}") {
        let request = Request::new(&method, "/");
        let positive = allows(&format!("to: [{{operation: {{methods: [{}]}}}}]", json(&value)), &request);
        let negative = allows(&format!("to: [{{operation: {{notMethods: [{}]}}}}]", json(&value)), &request);
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, model(&value, &method, false));
    }

    #[test]
    fn principals_and_namespaces_come_from_the_peer_identity_only(
        sa in "[ab]{1,2}", ns in "[xy]{1,2}", value in "[*]?[ab]{0,2}[*]?", peer in proptest::bool::ANY,
    ) {
        let principal = format!("cluster.local/ns/{ns}/sa/{sa}");
        let mut request = Request::new("GET", "/");
        if peer {
            request.peer.principal = Some(&principal);
        }
        let pattern = format!("cluster.local/ns/{ns}/sa/{value}");
        let positive = allows(&format!("from: [{{source: {{principals: [{}]}}}}]", json(&pattern)), &request);
        let negative = allows(&format!("from: [{{source: {{notPrincipals: [{}]}}}}]", json(&pattern)), &request);
        // Plaintext (no peer principal): the positive form never matches, so the negated
        // form (Envoy's `not_id` over `authenticated`) always does.
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, peer && model(&pattern, &principal, true));
        let in_ns = allows(&format!("from: [{{source: {{namespaces: [{}]}}}}]", json(&ns)), &request);
        let not_in_ns = allows(&format!("from: [{{source: {{notNamespaces: [{}]}}}}]", json(&ns)), &request);
        prop_assert_eq!((in_ns, not_in_ns), (peer, !peer));
    }

    #[test]
    fn ip_blocks_and_not_ip_blocks_are_complements(a in 0u8..4, b in 0u8..4, prefix in 24u8..=32) {
        let ip: std::net::IpAddr = format!("10.0.{a}.{b}").parse().unwrap();
        let mut request = Request::new("GET", "/");
        request.peer.ip = Some(ip);
        let cidr = format!("10.0.{a}.1/{prefix}");
        let positive = allows(&format!("from: [{{source: {{ipBlocks: ['{cidr}']}}}}]"), &request);
        let negative = allows(&format!("from: [{{source: {{notIpBlocks: ['{cidr}']}}}}]"), &request);
        prop_assert_ne!(positive, negative);
        prop_assert_eq!(positive, prefix < 30 || b == 1 || (prefix == 31 && b == 0) || (prefix == 30 && b <= 3));
    }

    #[test]
    fn normalization_is_idempotent_and_never_panics(path in "[/a.%2eEfF5cC\\\\?]{0,12}") {
        for mode in [PathNormalization::Base, PathNormalization::MergeSlashes, PathNormalization::DecodeAndMergeSlashes] {
            if let Ok(once) = normalize(&path, mode) {
                let twice = normalize(&once, mode).unwrap();
                if mode != PathNormalization::DecodeAndMergeSlashes {
                    prop_assert_eq!(&*once, &*twice, "{:?}", mode);
                }
            }
        }
    }
}
