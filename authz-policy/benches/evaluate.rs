//! `cargo bench -p authz-policy`: evaluation of (a) the seed 003 policy, (b) 100 policies of
//! 10 rules with mixed matchers, (c) 1,000 such policies, for an allowed and a denied
//! request; and compiling (c). Signature verification is excluded: the token is verified
//! once and the identity handed to `authorize`. The baseline is an empty policy set.

#![allow(clippy::unwrap_used)] // Set-up failures should stop the bench loudly.

use std::hint::black_box;
use std::time::Duration;

use authz_policy::request::Headers;
use authz_policy::{CompileOptions, CustomVerdict, Identity, PolicySet, Request, Workload};
use criterion::{Criterion, criterion_group, criterion_main};
use oidc_core::jwks::KeySet;
use oidc_core::verify::Verifier;

const SEED_POLICY: &str = include_str!("../tests/data/seeds/003-require-jwt-groups.yaml");
const SEED_JWKS: &str = include_str!("../../oidc-core/tests/data/istio-seed/jwks.json");
const SEED_TOKEN: &str = include_str!("../../oidc-core/tests/data/istio-seed/token-group.jwt");

/// `n` policies of 10 rules in namespace `bench`. A quarter select the benchmarked
/// workload (`app: svc`); the others select other apps and can never match it. Every
/// tenth policy is DENY. Rules mix hosts, methods, paths (prefix, suffix, templates),
/// ip blocks, headers and claims.
fn policies(n: usize) -> String {
    let mut yaml = String::new();
    for i in 0..n {
        let app = if i % 4 == 0 {
            "svc".to_owned()
        } else {
            format!("other-{i}")
        };
        let action = if i % 10 == 5 { "DENY" } else { "ALLOW" };
        yaml.push_str(&format!(
            "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p{i:04}, namespace: bench}}\nspec:\n  selector: {{matchLabels: {{app: {app}}}}}\n  action: {action}\n  rules:\n"
        ));
        for j in 0..10 {
            let rule = match j % 5 {
                0 => format!(
                    "  - to: [{{operation: {{hosts: [\"svc{i}.example.com\", \"*.svc{i}.internal\"], methods: [GET, HEAD], paths: [\"/api/v{i}/r{j}/*\"]}}}}]\n"
                ),
                1 => format!(
                    "  - from: [{{source: {{ipBlocks: [\"10.{}.{j}.0/24\"]}}}}]\n    to: [{{operation: {{methods: [POST], paths: [\"*.json\"]}}}}]\n",
                    i % 250
                ),
                2 => format!(
                    "  - to: [{{operation: {{paths: [\"/items/{{*}}/v{i}/{{**}}\"], notMethods: [DELETE]}}}}]\n"
                ),
                3 => format!(
                    "  - when: [{{key: \"request.headers[x-tenant]\", values: [\"t{i}-{j}\"]}}, {{key: \"request.auth.claims[groups]\", values: [\"g{i}\"]}}]\n"
                ),
                _ => format!(
                    "  - to: [{{operation: {{ports: [\"{}\"], paths: [\"/static/{i}/{j}\"]}}}}]\n",
                    8000 + j
                ),
            };
            yaml.push_str(&rule);
        }
    }
    yaml
}

fn bench(c: &mut Criterion) {
    let workload = Workload::new("bench", [("app", "svc")]);
    let seed_workload = Workload::new("foo", [("app", "httpbin")]);
    let keys = KeySet::from_json(SEED_JWKS.as_bytes()).unwrap();
    let verifier = Verifier::builder("testing@secure.istio.io")
        .insecure_accept_any_audience()
        .build()
        .unwrap();
    let identity = Identity::new(verifier.verify(SEED_TOKEN.trim(), &keys).unwrap());

    let empty = PolicySet::from_yaml("", CompileOptions::default()).unwrap();
    let seed = PolicySet::from_yaml(SEED_POLICY, CompileOptions::default()).unwrap();
    let p100 = PolicySet::from_yaml(&policies(100), CompileOptions::default()).unwrap();
    let text_1000 = policies(1000);
    let p1000 = PolicySet::from_yaml(&text_1000, CompileOptions::default()).unwrap();

    let headers = [("x-tenant", "t96-3"), ("user-agent", "bench")];
    let mut allow = Request::new("GET", "/api/v96/r0/items?page=2");
    allow.host = Some("svc96.example.com");
    allow.port = Some(8080);
    allow.headers = Headers::Pairs(&headers);
    allow.peer.ip = Some("192.168.1.1".parse().unwrap());
    let mut deny = allow.clone();
    deny.path = "/nothing/here";
    let mut seed_request = Request::new("GET", "/headers");
    seed_request.host = Some("httpbin.foo.svc.cluster.local:8000");

    // Each path gives the decision the table claims, or the figures would mean nothing.
    assert!(
        seed.authorize(
            &seed_workload,
            &seed_request,
            Some(&identity),
            CustomVerdict::Allow
        )
        .is_allowed()
    );
    assert!(
        !seed
            .authorize(&seed_workload, &seed_request, None, CustomVerdict::Allow)
            .is_allowed()
    );
    for set in [&p100, &p1000] {
        let d = set.authorize(&workload, &allow, Some(&identity), CustomVerdict::Allow);
        assert!(d.is_allowed(), "{d:?}");
        assert!(
            !set.authorize(&workload, &deny, Some(&identity), CustomVerdict::Allow)
                .is_allowed()
        );
    }

    let mut g = c.benchmark_group("evaluate");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    g.bench_function("baseline_empty_set", |b| {
        b.iter(|| {
            black_box(empty.authorize(
                &workload,
                black_box(&allow),
                Some(&identity),
                CustomVerdict::Allow,
            ))
        })
    });
    for (name, set, w, req, id) in [
        (
            "a_seed_allow",
            &seed,
            &seed_workload,
            &seed_request,
            Some(&identity),
        ),
        ("a_seed_deny", &seed, &seed_workload, &seed_request, None),
        ("b_100x10_allow", &p100, &workload, &allow, Some(&identity)),
        ("b_100x10_deny", &p100, &workload, &deny, Some(&identity)),
        (
            "c_1000x10_allow",
            &p1000,
            &workload,
            &allow,
            Some(&identity),
        ),
        ("c_1000x10_deny", &p1000, &workload, &deny, Some(&identity)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(set.authorize(w, black_box(req), id, CustomVerdict::Allow)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("compile");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    g.bench_function("c_1000x10_from_yaml", |b| {
        b.iter(|| {
            black_box(
                PolicySet::from_yaml(black_box(&text_1000), CompileOptions::default()).unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
