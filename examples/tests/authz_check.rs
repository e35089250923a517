//! The `authz-check` contract (ARCHITECTURE.md), tested through the binary: the
//! conformance cases of `authz-policy/tests/data/istio`, exit codes, stdin, warnings and
//! `--lint`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use authz_policy::check::{CheckOutput, compare_expected};
use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_authz-check"))
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../authz-policy/tests/data")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The directories of the conformance cases, sorted.
fn conformance_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(data_dir().join("istio"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_conformance_case_through_the_binary() {
    let cases = conformance_cases();
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for dir in &cases {
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let policies = dir.join("policies.yaml");
        let request = dir.join("request.json");
        let mut args = vec![
            "--policies",
            policies.to_str().unwrap(),
            "--request",
            request.to_str().unwrap(),
        ];
        let extra: Vec<String> = expected["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        args.extend(extra.iter().map(String::as_str));
        let out = run(&args, None);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expected.get("exit").is_some() {
            let needle = expected["error_contains"].as_str().unwrap_or("");
            if out.status.code() != Some(2) || !stderr.contains(needle) {
                failures.push(format!(
                    "{name}: expected exit 2 with {needle:?}, got {:?}: {stderr}",
                    out.status.code()
                ));
            }
            continue;
        }
        if out.status.code() != Some(0) {
            failures.push(format!("{name}: exit {:?}: {stderr}", out.status.code()));
            continue;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.lines().count(),
            1,
            "{name}: one JSON object on stdout"
        );
        let actual: CheckOutput = serde_json::from_str(&stdout).unwrap();
        if let Err(e) = compare_expected(&expected, &actual) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn request_from_stdin_and_the_exact_output_shape() {
    let seeds = data_dir().join("seeds");
    let token = std::fs::read_to_string(seeds.join("token-group.jwt")).unwrap();
    let request = serde_json::json!({
        "namespace": "foo", "workload_labels": {"app": "httpbin"}, "method": "GET",
        "path": "/headers", "headers": {"Authorization": format!("Bearer {}", token.trim())},
    });
    let ra = seeds.join("003-request-authentication.yaml");
    let ap = seeds.join("003-require-jwt-groups.yaml");
    let out = run(
        &[
            "--policies",
            ra.to_str().unwrap(),
            "--policies",
            ap.to_str().unwrap(),
            "--request",
            "-",
        ],
        Some(&request.to_string()),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let positions: Vec<usize> = [
        "status",
        "decision",
        "policy",
        "rule",
        "custom_called",
        "principal",
        "reason",
    ]
    .iter()
    .map(|k| {
        text.find(&format!("\"{k}\":"))
            .unwrap_or_else(|| panic!("{k} missing: {text}"))
    })
    .collect();
    assert!(
        positions.is_sorted(),
        "keys in the contract's order: {text}"
    );
    assert!(text.ends_with("}\n") && text.lines().count() == 1);
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["status"], 200);
    assert_eq!(value["policy"], "foo/require-jwt");
    assert_eq!(
        value["principal"],
        "testing@secure.istio.io/testing@secure.istio.io"
    );
}

#[test]
fn unusable_input_exits_2_with_a_message() {
    let dir = tempdir("unusable");
    let bad_yaml = write(
        &dir,
        "bad.yaml",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: a}\nspec: {rules: [{to: [{operation: {ports: [http]}}]}]}\n",
    );
    let ok_yaml = write(
        &dir,
        "ok.yaml",
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: a}\nspec: {}\n",
    );
    let good_request = write(&dir, "r.json", r#"{"method":"GET","path":"/"}"#);
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (
            vec!["--policies", &bad_yaml, "--request", &good_request],
            None,
            "spec.rules[0].to[0].operation.ports[0]",
        ),
        (
            vec![
                "--policies",
                "/nonexistent.yaml",
                "--request",
                &good_request,
            ],
            None,
            "/nonexistent.yaml",
        ),
        (
            vec!["--policies", &ok_yaml, "--request", "-"],
            Some("{not json"),
            "request",
        ),
        (
            vec!["--policies", &ok_yaml, "--request", "-"],
            Some(r#"{"path":"/"}"#),
            "method",
        ),
        (
            vec!["--policies", &ok_yaml, "--request", "-"],
            Some(r#"{"method":"GET","path":"/","source":{"ip":"999.1.1.1"}}"#),
            "source.ip",
        ),
        (
            vec!["--policies", &ok_yaml, "--request", "-"],
            Some(r#"{"method":"GET","path":"/","colour":"red"}"#),
            "colour",
        ),
        (vec!["--policies", &ok_yaml], None, "--request"),
    ];
    for (args, stdin, needle) in cases {
        let out = run(&args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {stderr:?} lacks {needle:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn other_kinds_are_skipped_with_a_warning_and_lint_prints_json_lines() {
    let dir = tempdir("lint");
    let yaml = write(
        &dir,
        "p.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: httpbin}\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: wide, namespace: foo}\nspec:\n  rules:\n  - to: [{operation: {hosts: [\"httpbin.foo:8000\"], notPaths: [\"/a/../b\"]}}]\n",
    );
    let request = write(
        &dir,
        "r.json",
        r#"{"method":"GET","path":"/","namespace":"foo"}"#,
    );
    let out = run(&["--policies", &yaml, "--request", &request], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped v1 Service"));
    let out = run(&["--policies", &yaml, "--lint"], None);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields: Vec<&str> = lines.iter().map(|l| l["field"].as_str().unwrap()).collect();
    assert!(
        fields.contains(&"spec.rules[0].to[0].operation.hosts[0]"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"spec.rules[0].to[0].operation.notPaths[0]"),
        "{fields:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["object"] == "foo/wide" && l["warning"].is_string())
    );
}

fn tempdir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Serves `body` as JSON to every connection on a loopback port, for `count` connections.
fn serve_json(body: String, count: usize) -> u16 {
    use std::io::{BufRead as _, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count).flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn jwks_uri_keys_are_fetched_and_unreachable_keys_fail_with_401() {
    let seeds = data_dir().join("seeds");
    let jwks = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../oidc-core/tests/data/istio-seed/jwks.json"),
    )
    .unwrap();
    let token = std::fs::read_to_string(seeds.join("token.jwt")).unwrap();
    let port = serve_json(jwks, 4);
    let dir = tempdir("jwks-uri");
    let policy = |uri: &str| {
        format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: foo}}\nspec:\n  jwtRules: [{{issuer: testing@secure.istio.io, jwksUri: \"{uri}\"}}]\n"
        )
    };
    let request = serde_json::json!({
        "namespace": "foo", "method": "GET", "path": "/",
        "headers": {"authorization": format!("Bearer {}", token.trim())},
    })
    .to_string();
    let served = write(
        &dir,
        "served.yaml",
        &policy(&format!("http://127.0.0.1:{port}/jwks")),
    );
    let out = run(&["--policies", &served, "--request", "-"], Some(&request));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["status"], 200, "{value}");
    assert_eq!(
        value["principal"],
        "testing@secure.istio.io/testing@secure.istio.io"
    );

    // Nothing listens on port 9 of the loopback: the keys cannot be fetched.
    let dead = write(&dir, "dead.yaml", &policy("http://127.0.0.1:9/jwks"));
    let out = run(&["--policies", &dead, "--request", "-"], Some(&request));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (value["status"].as_u64(), value["decision"].as_str()),
        (Some(401), Some("unauthenticated"))
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("127.0.0.1:9"),
        "the fetch failure is reported"
    );
}

/// One conformance case as the gateway can see it: no mTLS identity (the gateway serves
/// plaintext), a peer address always (`source.ip`, or a documentation address), a port
/// always (the case's, or 8000). `None` for cases with inputs the gateway cannot be given:
/// a pinned clock, SNI, a destination address.
fn as_gateway_sees_it(request: &Value) -> Option<Value> {
    let mut r = request.clone();
    let o = r.as_object_mut()?;
    if ["now", "sni", "destination_ip"]
        .iter()
        .any(|k| o.contains_key(*k))
    {
        return None;
    }
    // HTTP/1 drops whitespace around a header value (RFC 9110 5.5), as Envoy's codec does:
    // `Bearer ` cannot be sent.
    let padded = |v: &Value| v.as_str().is_some_and(|s| s.trim() != s);
    if o.get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .any(|(_, v)| padded(v) || v.as_array().is_some_and(|a| a.iter().any(padded)))
    {
        return None;
    }
    let mut source = o
        .remove("source")
        .and_then(|s| s.as_object().cloned())
        .unwrap_or_default();
    source.remove("principal");
    source.remove("namespace");
    source
        .entry("ip")
        .or_insert_with(|| Value::String("192.0.2.1".into()));
    o.insert("source".into(), Value::Object(source));
    o.entry("port").or_insert_with(|| Value::from(8000));
    Some(r)
}

/// Sends `request` (contract JSON) to `gateway` over an in-process connection whose peer
/// is `source.ip`, with `source.remote_ip` as `X-Forwarded-For`; returns the status.
async fn through_gateway(gateway: &examples::gateway::Gateway, request: &Value) -> u16 {
    let text = |k: &str| request[k].as_str().unwrap_or_default().to_owned();
    let ip: std::net::IpAddr = request["source"]["ip"].as_str().unwrap().parse().unwrap();
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let server = gateway.clone();
    tokio::spawn(async move {
        let _ = server
            .serve_connection(server_io, std::net::SocketAddr::new(ip, 40000))
            .await;
    });
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(client_io))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut target = text("path");
    if let Some(q) = request["query"].as_str()
        && !target.contains('?')
    {
        target = format!("{target}?{q}");
    }
    let mut builder = http::Request::builder().method(text("method").as_str());
    builder = builder.uri(target);
    if let Some(host) = request["host"].as_str() {
        builder = builder.header("host", host);
    }
    if let Some(remote) = request["source"]["remote_ip"].as_str() {
        builder = builder.header("x-forwarded-for", remote);
    }
    for (name, value) in request["headers"].as_object().into_iter().flatten() {
        let values = match value {
            Value::Array(items) => items.clone(),
            one => vec![one.clone()],
        };
        for v in values {
            builder = builder.header(name.as_str(), v.as_str().unwrap());
        }
    }
    let req = builder
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    sender.send_request(req).await.unwrap().status().as_u16()
}

/// The gateway and `authz-check` decide the same way: every conformance case whose inputs
/// a gateway can see (method, path, host, headers, source address, JWT), given to both.
/// A gateway whose policies never see the client address, say, fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_decides_every_conformance_case_as_authz_check() {
    let cases = conformance_cases();
    let dir = tempdir("differential");
    let (mut compared, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap())
                .unwrap();
        let args: Vec<String> = expected["args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if args.iter().any(|a| a == "--custom-deny") {
            skipped.push(format!("{name}: a CUSTOM provider's answer is an input"));
            continue;
        }
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("request.json")).unwrap())
                .unwrap();
        let Some(seen) = as_gateway_sees_it(&request) else {
            skipped.push(format!(
                "{name}: clock, SNI, destination address or a padded header value"
            ));
            continue;
        };
        let request_file = dir.join(format!("{name}.json"));
        std::fs::write(&request_file, seen.to_string()).unwrap();
        let policies = case.join("policies.yaml");
        let mut cli = vec![
            "--policies".to_owned(),
            policies.display().to_string(),
            "--request".to_owned(),
            request_file.display().to_string(),
        ];
        cli.extend(args.iter().cloned());
        let cli: Vec<&str> = cli.iter().map(String::as_str).collect();
        let out = run(&cli, None);
        let cli_answer: Option<Value> =
            (out.status.code() == Some(0)).then(|| serde_json::from_slice(&out.stdout).unwrap());
        if cli_answer
            .as_ref()
            .is_some_and(|a| a["custom_called"] == true)
        {
            skipped.push(format!("{name}: a CUSTOM provider's answer is an input"));
            continue;
        }

        let mut map = json!({
            "http_address": format!("127.0.0.1:{}", seen["port"]),
            "upstreams": ["static://200"],
            "provider": "oidc",
            "oidc_issuer_url": "https://idp.invalid",
            "client_id": "app",
            "redirect_url": "https://app.invalid/oauth2/callback",
            "cookie_secret": "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
            "email_domains": ["*"],
            "request_logging": false,
            "skip_auth_routes": [".*"],
            "policies": [policies.display().to_string()],
            "workload_namespace": seen["namespace"].as_str().unwrap_or("default"),
        });
        // No labels for authz-check: one no selector names (the gateway's default,
        // istio=ingressgateway, would be selected by other policies).
        let labels = seen["workload_labels"]
            .as_object()
            .filter(|l| !l.is_empty())
            .cloned()
            .unwrap_or_else(|| {
                json!({"edge-sso.test/none": "x"})
                    .as_object()
                    .unwrap()
                    .clone()
            });
        map["workload_labels"] = labels
            .iter()
            .map(|(k, v)| Value::String(format!("{k}={}", v.as_str().unwrap())))
            .collect();
        if let Some(i) = args.iter().position(|a| a == "--root-namespace") {
            map["root_namespace"] = Value::String(args[i + 1].clone());
        }
        if seen["source"]["remote_ip"].is_string() {
            map["reverse_proxy"] = Value::Bool(true);
            map["trusted_proxy_ips"] = json!([seen["source"]["ip"]]);
        }
        let options = examples::flags::Options::from_map(map.as_object().unwrap().clone()).unwrap();
        let gateway = examples::gateway::Gateway::build(options).await;
        compared += 1;
        match (cli_answer, gateway) {
            (None, Err(_)) => {}
            (None, Ok(_)) => failures.push(format!(
                "{name}: authz-check refuses the policies, the gateway starts"
            )),
            (Some(_), Err(e)) => failures.push(format!(
                "{name}: authz-check decides, the gateway refuses to start: {e}"
            )),
            (Some(answer), Ok(gateway)) => {
                let status = through_gateway(&gateway, &seen).await;
                let cli_status = answer["status"].as_u64().unwrap() as u16;
                // A path Envoy cannot normalize never reaches RBAC: 400 at the gateway.
                let unnormalizable =
                    status == 400 && answer["reason"].as_str().unwrap_or("").contains("path");
                if status != cli_status && !unnormalizable {
                    failures.push(format!(
                        "{name}: gateway {status}, authz-check {cli_status} ({})",
                        answer["reason"]
                    ));
                }
            }
        }
    }
    assert!(
        compared > 250,
        "most cases are visible to a gateway: {compared}"
    );
    assert!(
        failures.is_empty(),
        "{} of {compared} cases differ (skipped {}):\n{}",
        failures.len(),
        skipped.len(),
        failures.join("\n")
    );
}
