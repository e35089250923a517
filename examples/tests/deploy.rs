//! The Kubernetes and Istio manifests of `examples/deploy`: every AuthorizationPolicy and
//! RequestAuthentication compiles with `authz-policy` and decides the seeds' requests as
//! the seeds say, every CUSTOM policy's provider is the mesh config's entry for our
//! gateway's Service, and the gateway Deployments carry the flags, probes and security
//! settings the README describes.
//!
//! Every document of every file, whatever its kind, is also read with `serde-saphyr` into a
//! `serde_json::Value` for the checks on Deployments, Services and the IstioOperator.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use authz_policy::model::Action;
use authz_policy::request::Headers;
use authz_policy::{
    CompileOptions, CustomVerdict, Decision, Outcome, PolicySet, Request, Workload,
};
use serde_json::Value;

/// The image of our gateway in the manifests (a placeholder name, see the README).
const GATEWAY_IMAGE: &str = "ghcr.io/edge-sso/gateway:0.1";
/// The extension provider's name, the seeds' `httpextauth-oidc`.
const PROVIDER: &str = "httpextauth-oidc";
/// The `*.yaml` files under `examples/deploy` (README.md lists them).
const FILES: usize = 17;
/// AuthorizationPolicy documents: base/access-policies.yaml (2), 000 (1), 001 (2), 002 (1),
/// 003 (1).
const AUTHORIZATION_POLICIES: usize = 7;
/// RequestAuthentication documents: 003 (1).
const REQUEST_AUTHENTICATIONS: usize = 1;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every `*.yaml` under `examples/deploy`, sorted, as paths relative to it.
fn yaml_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
    }
    let root = deploy_dir();
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    let mut files: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    files.sort();
    files
}

fn read(file: &str) -> String {
    let path = deploy_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One Kubernetes object of a manifest file.
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn kind(&self) -> &str {
        self.str_at("/kind")
    }

    fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }

    fn namespace(&self) -> &str {
        match self.str_at("/metadata/namespace") {
            "" => "default",
            ns => ns,
        }
    }

    fn at(&self, pointer: &str) -> &Value {
        self.value.pointer(pointer).unwrap_or(&Value::Null)
    }
}

/// Every object of every manifest file, in file order.
fn manifests() -> Vec<Doc> {
    yaml_files()
        .into_iter()
        .flat_map(|file| {
            let documents: Vec<Value> = serde_saphyr::from_multiple(&read(&file))
                .unwrap_or_else(|e| panic!("examples/deploy/{file}: {e}"));
            documents
                .into_iter()
                // An empty document (between two `---`) is not an object.
                .filter(|value| !value.is_null())
                .map(move |value| Doc {
                    file: file.clone(),
                    value,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn compile(file: &str) -> PolicySet {
    PolicySet::from_yaml(&read(file), CompileOptions::default())
        .unwrap_or_else(|e| panic!("examples/deploy/{file}: {e}"))
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// The pods of the ingress gateway, which Istio's installation creates (not these files).
fn ingress_gateway() -> Workload {
    Workload::new(
        "istio-system",
        [("istio", "ingressgateway"), ("app", "istio-ingressgateway")],
    )
}

/// The workloads the manifests create (namespace and pod labels of every Deployment), and
/// the ingress gateway.
fn workloads(docs: &[Doc]) -> Vec<Workload> {
    let mut out: Vec<Workload> = docs
        .iter()
        .filter(|d| d.kind() == "Deployment")
        .map(|d| {
            Workload::new(
                d.namespace(),
                labels(d.at("/spec/template/metadata/labels")),
            )
        })
        .collect();
    out.push(ingress_gateway());
    out
}

fn containers(deployment: &Doc) -> &[Value] {
    deployment
        .at("/spec/template/spec/containers")
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The `args` of every container that runs our gateway image.
fn gateway_args() -> Vec<Vec<String>> {
    manifests()
        .iter()
        .filter(|d| d.kind() == "Deployment")
        .flat_map(|d| containers(d).to_vec())
        .filter(|c| c["image"] == GATEWAY_IMAGE)
        .map(|c| strings(&c["args"]))
        .collect()
}

/// The Deployments that run our gateway image.
fn gateway_deployments(docs: &[Doc]) -> Vec<&Doc> {
    docs.iter()
        .filter(|d| d.kind() == "Deployment")
        .filter(|d| containers(d).iter().any(|c| c["image"] == GATEWAY_IMAGE))
        .collect()
}

/// A Service port's `targetPort` resolved against a container's ports (by number or name).
fn target_port(service_port: &Value, container: &Value) -> Option<i64> {
    let target = match &service_port["targetPort"] {
        Value::Null => &service_port["port"],
        t => t,
    };
    let ports = container["ports"].as_array()?;
    match target {
        Value::Number(n) => ports
            .iter()
            .find(|p| p["containerPort"].as_i64() == n.as_i64())
            .and_then(|p| p["containerPort"].as_i64()),
        Value::String(name) => ports
            .iter()
            .find(|p| p["name"] == name.as_str())
            .and_then(|p| p["containerPort"].as_i64()),
        _ => None,
    }
}

fn ingress_request(path: &str, port: u16) -> Request<'_> {
    let mut request = Request::new("GET", path);
    request.host = Some("203.0.113.10");
    request.port = Some(port);
    request.peer.ip = Some("10.0.0.1".parse().unwrap());
    request.peer.remote_ip = Some("198.51.100.7".parse().unwrap());
    request
}

/// Whether the ingress gateway would call the extension provider for this request.
fn checked(set: &PolicySet, path: &str, port: u16) -> bool {
    let decision = set.evaluate(
        &ingress_gateway(),
        &ingress_request(path, port),
        CustomVerdict::Allow,
    );
    assert!(decision.is_allowed(), "{path}: {}", decision.reason());
    match &decision.custom {
        Some(call) => {
            assert_eq!(&*call.provider, PROVIDER, "{path}");
            assert_eq!(&*call.policy, "istio-system/oidc", "{path}");
            true
        }
        None => false,
    }
}

#[test]
fn every_security_object_compiles_and_is_counted() {
    let files = yaml_files();
    assert_eq!(files.len(), FILES, "{files:?}");
    let docs = manifests();
    let (mut policies, mut authns) = (0, 0);
    for file in &files {
        let set = compile(file);
        let objects = set.objects();
        // serde-saphyr into `Value` and authz-policy's typed reading see the same documents.
        let ours = |kind: &str| {
            docs.iter()
                .filter(|d| &d.file == file && d.kind() == kind)
                .count()
        };
        assert_eq!(
            objects.authorization_policies.len(),
            ours("AuthorizationPolicy"),
            "{file}"
        );
        assert_eq!(
            objects.request_authentications.len(),
            ours("RequestAuthentication"),
            "{file}"
        );
        let documents = docs.iter().filter(|d| &d.file == file).count();
        assert_eq!(
            objects.authorization_policies.len()
                + objects.request_authentications.len()
                + set.skipped().len(),
            documents,
            "{file}: {:?}",
            set.skipped()
        );
        policies += objects.authorization_policies.len();
        authns += objects.request_authentications.len();
    }
    assert_eq!(
        (policies, authns),
        (AUTHORIZATION_POLICIES, REQUEST_AUTHENTICATIONS)
    );
    // `kubectl apply -f FILE` needs no `-n`: every namespaced object names its namespace.
    for doc in &docs {
        assert!(
            !doc.name().is_empty(),
            "{}: a {} without a name",
            doc.file,
            doc.kind()
        );
        assert!(
            doc.kind() == "Namespace" || !doc.str_at("/metadata/namespace").is_empty(),
            "{}: {} {} has no namespace",
            doc.file,
            doc.kind(),
            doc.name()
        );
    }
}

#[test]
fn lint_reports_only_the_missing_audiences_of_seed_003() {
    let docs = manifests();
    let known = workloads(&docs);
    let mut findings = Vec::new();
    for file in yaml_files() {
        for w in compile(&file).lint(&known) {
            findings.push((file.clone(), w.object, w.field));
        }
    }
    // The lint has warnings only. This one is the seed's choice: its tokens carry no `aud`,
    // so the RequestAuthentication cannot list audiences (the file's comment says so).
    let expected = [(
        "003-jwt/policies.yaml".to_owned(),
        "foo/jwt-example".to_owned(),
        "spec.jwtRules[0].audiences".to_owned(),
    )];
    assert_eq!(findings, expected);
}

#[test]
fn custom_providers_are_the_gateway_service() {
    let docs = manifests();
    let operators: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind() == "IstioOperator")
        .collect();
    assert_eq!(operators.len(), 1);
    let providers: BTreeMap<&str, &Value> = operators[0]
        .at("/spec/meshConfig/extensionProviders")
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), &p["envoyExtAuthzHttp"]))
        .collect();

    let mut custom = 0;
    for file in yaml_files() {
        for p in &compile(&file).objects().authorization_policies {
            if p.spec.action != Some(Action::CUSTOM) {
                continue;
            }
            custom += 1;
            let name = p.spec.provider.as_ref().and_then(|pr| pr.name.as_deref());
            assert!(
                name.is_some_and(|n| providers.contains_key(n)),
                "{file}: provider {name:?} is not in {:?}",
                providers.keys()
            );
        }
    }
    assert_eq!(custom, 4, "000, 001 (two modes), 002");

    let provider = providers[PROVIDER];
    let service = provider["service"].as_str().unwrap();
    let port = provider["port"].as_i64().unwrap();
    assert_eq!(port, 4180);
    let mut parts = service.split('.');
    let (name, namespace) = (parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(
        parts.collect::<Vec<_>>(),
        ["svc", "cluster", "local"],
        "{service}"
    );

    // The Service exists (once per IdP setup), serves that port, and leads to a container
    // of our gateway listening on 4180.
    let services: Vec<&Doc> = docs
        .iter()
        .filter(|d| d.kind() == "Service" && d.name() == name && d.namespace() == namespace)
        .collect();
    assert_eq!(services.len(), 2, "000-idaas and 002-keycloak");
    let gateways = gateway_deployments(&docs);
    for svc in services {
        let service_port = svc
            .at("/spec/ports")
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["port"].as_i64() == Some(port))
            .unwrap_or_else(|| panic!("{}: no port {port}", svc.file));
        let selector = labels(svc.at("/spec/selector"));
        let backends: Vec<&&Doc> = gateways
            .iter()
            .filter(|d| d.file == svc.file && d.namespace() == namespace)
            .filter(|d| selects(&selector, &labels(d.at("/spec/template/metadata/labels"))))
            .collect();
        assert_eq!(backends.len(), 1, "{}", svc.file);
        let container = containers(backends[0])
            .iter()
            .find(|c| c["image"] == GATEWAY_IMAGE)
            .unwrap();
        assert_eq!(
            target_port(service_port, container),
            Some(4180),
            "{}",
            svc.file
        );
    }

    // What the gateway needs in the check, and what its answers carry.
    assert_eq!(
        strings(&provider["includeRequestHeadersInCheck"]),
        ["authorization", "cookie"]
    );
    let upstream = strings(&provider["headersToUpstreamOnAllow"]);
    for header in [
        "authorization",
        "x-auth-request-user",
        "x-auth-request-email",
    ] {
        assert!(upstream.iter().any(|h| h == header), "{header}");
    }
    let on_deny = strings(&provider["headersToDownstreamOnDeny"]);
    for header in ["location", "set-cookie", "content-type"] {
        assert!(on_deny.iter().any(|h| h == header), "{header}");
    }
    assert_eq!(
        strings(&provider["headersToDownstreamOnAllow"]),
        ["set-cookie"]
    );

    // The /oauth2 routes of the VirtualServices go to the same Service and port.
    let mut routes = 0;
    for vs in docs.iter().filter(|d| d.kind() == "VirtualService") {
        for http in vs.at("/spec/http").as_array().unwrap() {
            let oauth2 = http["match"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m.pointer("/uri/prefix") == Some(&Value::from("/oauth2")));
            if oauth2 {
                routes += 1;
                let destination = &http["route"][0]["destination"];
                assert_eq!(destination["host"], service, "{}", vs.file);
                assert_eq!(destination["port"]["number"], port, "{}", vs.file);
            }
        }
    }
    assert_eq!(routes, 2, "000-idaas and 002-keycloak");
}

#[test]
fn seed_000_checks_every_request_at_the_ingress_gateway() {
    let set = compile("000-idaas/authorization-policy.yaml");
    for path in ["/", "/headers", "/oauth2/callback?code=x&state=y"] {
        assert!(checked(&set, path, 80), "{path}");
    }
    // The provider decides: its deny is the answer (the login redirect, for a browser).
    let denied = set.evaluate(
        &ingress_gateway(),
        &ingress_request("/headers", 80),
        CustomVerdict::Deny,
    );
    assert_eq!((denied.outcome, denied.status), (Outcome::Deny, 403));
    assert!(denied.custom_called());
    // Only the ingress gateway is selected: a sidecar's traffic is not checked.
    let httpbin = Workload::new("default", [("app", "httpbin"), ("version", "v1")]);
    let inside = set.evaluate(
        &httpbin,
        &Request::new("GET", "/headers"),
        CustomVerdict::Deny,
    );
    assert!(inside.is_allowed() && !inside.custom_called());
}

#[test]
fn seed_001_checks_and_bypasses_paths() {
    let auth_if_matched = compile("001-path-rules/auth-if-matched.yaml");
    assert!(checked(&auth_if_matched, "/productpage", 80));
    assert!(checked(&auth_if_matched, "/productpage?u=normal", 80));
    // Envoy normalizes the path before matching: a detour does not escape the check.
    assert!(checked(&auth_if_matched, "/static/../productpage", 80));
    assert!(!checked(&auth_if_matched, "/static/bootstrap.min.css", 80));
    assert!(!checked(&auth_if_matched, "/oauth2/callback", 80));

    let bypass_if_matched = compile("001-path-rules/bypass-if-matched.yaml");
    assert!(!checked(&bypass_if_matched, "/oauth2/sign_out", 80));
    assert!(checked(&bypass_if_matched, "/productpage", 80));
    assert!(checked(
        &bypass_if_matched,
        "/oauth2/sign_out/../../admin",
        80
    ));
}

#[test]
fn seed_002_checks_everything_but_the_keycloak_port() {
    let set = compile("002-keycloak/authorization-policy.yaml");
    assert!(checked(&set, "/headers", 443));
    assert!(checked(&set, "/oauth2/start", 443));
    assert!(!checked(
        &set,
        "/realms/Test-oidc/protocol/openid-connect/auth",
        80
    ));
}

fn seed_token(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../authz-policy/tests/data/seeds")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// `curl -H "Authorization: Bearer $token" httpbin.foo.svc.cluster.local:8000` from sleep.
fn httpbin_in_foo(set: &PolicySet, token: Option<&str>) -> Decision {
    let header = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = header
        .iter()
        .map(|h| ("authorization", h.as_str()))
        .collect();
    let mut request = Request::new("GET", "/headers");
    request.host = Some("httpbin.foo.svc.cluster.local:8000");
    request.port = Some(80);
    request.headers = Headers::Pairs(&headers);
    request.peer.principal = Some("cluster.local/ns/foo/sa/sleep");
    request.now = Some(1_700_000_000);
    let workload = Workload::new("foo", [("app", "httpbin"), ("version", "v1")]);
    set.evaluate(&workload, &request, CustomVerdict::Allow)
}

#[test]
fn seed_003_decides_the_seed_tokens_as_its_tables_say() {
    let set = compile("003-jwt/policies.yaml");
    let with_group = httpbin_in_foo(&set, Some(&seed_token("token-group.jwt")));
    assert_eq!(with_group.status, 200, "{}", with_group.reason());
    assert_eq!(
        with_group.principal().as_deref(),
        Some("testing@secure.istio.io/testing@secure.istio.io")
    );
    assert_eq!(with_group.policy.as_deref(), Some("foo/require-jwt"));
    // A valid token without the groups claim, and no token: 403.
    let without_group = httpbin_in_foo(&set, Some(&seed_token("token.jwt")));
    assert_eq!(
        (without_group.status, without_group.outcome),
        (403, Outcome::Deny)
    );
    assert!(without_group.principal().is_some());
    let none = httpbin_in_foo(&set, None);
    assert_eq!((none.status, none.outcome), (403, Outcome::Deny));
    // A token that fails verification: 401, as Envoy answers.
    let invalid = httpbin_in_foo(&set, Some("invalidtoken"));
    assert_eq!(
        (invalid.status, invalid.outcome),
        (401, Outcome::Unauthenticated)
    );
}

#[test]
fn only_the_ingress_gateway_calls_the_gateway_and_only_the_gateway_calls_redis() {
    let set = compile("base/access-policies.yaml");
    let call = |workload: &Workload, port: u16, principal: Option<&str>| {
        let mut request = Request::new("GET", "/oauth2/auth");
        request.port = Some(port);
        request.peer.ip = Some("10.0.0.2".parse().unwrap());
        request.peer.principal = principal;
        set.evaluate(workload, &request, CustomVerdict::Allow)
            .is_allowed()
    };
    let gateway = Workload::new("edge-sso", [("app", "sso-gateway"), ("version", "v1")]);
    let redis = Workload::new("edge-sso", [("app", "redis")]);
    let ingress = Some("cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account");
    let gateway_sa = Some("cluster.local/ns/edge-sso/sa/sso-gateway");
    let sleep = Some("cluster.local/ns/foo/sa/sleep");

    assert!(call(&gateway, 4180, ingress));
    assert!(!call(&gateway, 4180, sleep));
    assert!(!call(&gateway, 4180, None), "plaintext has no identity");
    assert!(call(&redis, 6379, gateway_sa));
    assert!(!call(&redis, 6379, ingress));
    assert!(!call(&redis, 6379, None));
}

/// A valid `--cookie-secret`: 32 bytes in base64url (with `-` and `_`, so not plain base64).
const COOKIE_SECRET: &str = "--__--__--__--__--__--__--__--__--__--__AQI=";

#[test]
fn gateway_args_select_oidc_in_ext_authz_mode() {
    let all = gateway_args();
    assert_eq!(all.len(), 2, "000-idaas and 002-keycloak");
    for args in all {
        for flag in ["--provider=oidc", "--upstream=static://200"] {
            assert!(
                args.iter().any(|a| a == flag),
                "{flag} missing from {args:?}"
            );
        }
        // Our flag parser accepts the list, with the two secrets in the environment as
        // the Deployments give them (from a Secret).
        let env = [
            ("OAUTH2_PROXY_CLIENT_SECRET", "x"),
            ("OAUTH2_PROXY_COOKIE_SECRET", COOKIE_SECRET),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        match examples::flags::Launch::parse_from(
            std::iter::once("gateway".to_owned()).chain(args.clone()),
            env,
        ) {
            Ok(examples::flags::Launch::Gateway(options)) => assert_eq!(
                options.upstream,
                examples::flags::Upstream::Static(http::StatusCode::OK),
                "{args:?}"
            ),
            Ok(examples::flags::Launch::Demo) => panic!("{args:?}: the demo"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }
}

#[test]
fn gateway_deployments_follow_the_readme() {
    let docs = manifests();
    let deployments = gateway_deployments(&docs);
    assert_eq!(deployments.len(), 2);
    for deployment in deployments {
        let file = &deployment.file;
        let same_file = |kind: &str| -> Vec<&Doc> {
            docs.iter()
                .filter(|d| &d.file == file && d.kind() == kind)
                .filter(|d| d.namespace() == deployment.namespace())
                .collect()
        };
        let replicas = deployment.at("/spec/replicas").as_i64().unwrap();
        assert!(replicas >= 2, "{file}");
        let pod_labels = labels(deployment.at("/spec/template/metadata/labels"));
        let pod = deployment.at("/spec/template/spec");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{file}");
        let container = containers(deployment)
            .iter()
            .find(|c| c["image"] == GATEWAY_IMAGE)
            .unwrap();
        let args = strings(&container["args"]);
        let arg = |name: &str| -> Option<&str> {
            args.iter()
                .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
        };
        assert_eq!(arg("--http-address"), Some("0.0.0.0:4180"), "{file}");
        assert_eq!(arg("--session-store-type"), Some("redis"), "{file}");
        assert!(
            url::Url::parse(arg("--oidc-issuer-url").unwrap()).is_ok(),
            "{file}"
        );
        assert!(
            url::Url::parse(arg("--redirect-url").unwrap())
                .unwrap()
                .path()
                .ends_with("/oauth2/callback"),
            "{file}"
        );

        // The Redis URL names a Service of these manifests, on a port it serves.
        let redis = url::Url::parse(arg("--redis-connection-url").unwrap()).unwrap();
        assert_eq!(redis.scheme(), "redis");
        let host = redis.host_str().unwrap();
        let redis_port = i64::from(redis.port().unwrap());
        let found = docs.iter().any(|d| {
            d.kind() == "Service"
                && host == format!("{}.{}.svc.cluster.local", d.name(), d.namespace())
                && d.at("/spec/ports")
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["port"].as_i64() == Some(redis_port))
        });
        assert!(found, "{file}: {redis}");

        // Probes on the metrics address: on the serving port (ext_authz mode) every path
        // is a check, /ping and /ready included.
        let metrics_port: i64 = arg("--metrics-address")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{file}: --metrics-address"));
        assert_ne!(metrics_port, 4180, "{file}");
        for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/ping")] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{file} {probe}");
            let port = serde_json::json!({"port": 0, "targetPort": get["port"]});
            assert_eq!(
                target_port(&port, container),
                Some(metrics_port),
                "{file} {probe}"
            );
        }
        // Prometheus scrapes --metrics-address: the gateway serves no metrics on 4180.
        let annotations = deployment.at("/spec/template/metadata/annotations");
        let metrics_port = arg("--metrics-address")
            .and_then(|a| a.rsplit(':').next())
            .unwrap_or_else(|| panic!("{file}: --metrics-address"));
        assert_eq!(annotations["prometheus.io/port"], metrics_port, "{file}");
        assert_eq!(annotations["prometheus.io/path"], "/metrics", "{file}");
        let security = &container["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{file}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{file}");
        assert_eq!(security["capabilities"]["drop"][0], "ALL", "{file}");
        for bound in ["requests", "limits"] {
            assert!(
                container["resources"][bound]["memory"].is_string(),
                "{file}"
            );
        }

        // The secrets come from keys of the Secret defined alongside.
        let secrets = same_file("Secret");
        let mut env_names = Vec::new();
        for env in container["env"].as_array().unwrap() {
            env_names.push(env["name"].as_str().unwrap());
            let reference = &env["valueFrom"]["secretKeyRef"];
            let (name, key) = (reference["name"].as_str(), reference["key"].as_str());
            let defined = secrets.iter().any(|s| {
                Some(s.name()) == name && key.is_some_and(|k| s.at("/stringData").get(k).is_some())
            });
            assert!(defined, "{file}: {env}");
        }
        assert_eq!(
            env_names,
            ["OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"],
            "{file}"
        );

        // A PodDisruptionBudget for these pods that still lets a node drain proceed.
        let budgets = same_file("PodDisruptionBudget");
        assert_eq!(budgets.len(), 1, "{file}");
        assert!(selects(
            &labels(budgets[0].at("/spec/selector/matchLabels")),
            &pod_labels
        ));
        let min = budgets[0].at("/spec/minAvailable").as_i64().unwrap();
        assert!((1..replicas).contains(&min), "{file}");

        // The pods run as the ServiceAccount of the same file, which redis-from-sso-gateway
        // names as cluster.local/ns/edge-sso/sa/sso-gateway.
        let account = pod["serviceAccountName"].as_str().unwrap();
        assert!(
            same_file("ServiceAccount")
                .iter()
                .any(|a| a.name() == account)
        );
        assert_eq!(
            format!("{}/{account}", deployment.namespace()),
            "edge-sso/sso-gateway"
        );
    }
}

#[test]
fn every_secret_in_the_manifests_is_a_placeholder() {
    let docs = manifests();
    let secrets: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "Secret").collect();
    assert_eq!(secrets.len(), 3);
    for secret in secrets {
        assert!(
            secret.at("/data").is_null(),
            "{}: use stringData",
            secret.file
        );
        let values = secret.at("/stringData").as_object().unwrap();
        assert!(!values.is_empty());
        for (key, value) in values {
            assert!(
                value.as_str().unwrap().starts_with("REPLACE-ME"),
                "{}: {key} is not a placeholder",
                secret.file
            );
        }
    }
}

#[test]
fn the_ingress_gateway_refuses_header_names_with_underscores() {
    // Envoy forwards a client's `X_Forwarded_User` past an ext_authz answer; upstreams
    // read it as `X-Forwarded-User` (CVE-2025-64484). The ingress gateway must refuse it.
    let docs = manifests();
    let filter = docs
        .iter()
        .find(|d| d.kind() == "EnvoyFilter" && d.name() == "reject-underscore-headers")
        .expect("base/ingress-headers.yaml");
    let selector = labels(filter.at("/spec/workloadSelector/labels"));
    assert!(
        selects(&selector, &ingress_gateway().labels),
        "{selector:?}"
    );
    let patch = filter.at("/spec/configPatches/0");
    assert_eq!(patch["match"]["context"], "GATEWAY");
    assert_eq!(
        patch["patch"]["value"]["typed_config"]["common_http_protocol_options"]["headers_with_underscores_action"],
        "REJECT_REQUEST"
    );
}
