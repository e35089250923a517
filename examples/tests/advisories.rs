//! Published advisories against oauth2-proxy, mod_auth_openidc, Envoy and Istio, replayed
//! against the gateway as an attacker would send them. Each test is named after the
//! advisory and its doc comment says what the advisory was; `SECURITY.md` maps every
//! advisory to the test that proves where we stand. Library-level ones live in
//! `tower-sso/tests/it/advisories.rs`, policy-engine ones in
//! `authz-policy/tests/it/advisories.rs`.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::world::{Idp, Running, client, get_json, login, raw_answer, start_gateway};
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

/// An upstream that counts the requests it gets and echoes each as JSON (method, path,
/// query, headers, body length). It never switches protocols, whatever it is asked.
struct Upstream {
    url: String,
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                let service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let (parts, body) = req.into_parts();
                            let len = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes().len())
                                .unwrap_or(0);
                            let mut headers = serde_json::Map::new();
                            for (k, v) in &parts.headers {
                                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                                match headers.get_mut(k.as_str()) {
                                    Some(Value::String(s)) => {
                                        s.push_str(", ");
                                        s.push_str(&v);
                                    }
                                    _ => {
                                        headers.insert(k.as_str().to_owned(), v.into());
                                    }
                                }
                            }
                            let body = json!({"method": parts.method.as_str(), "path": parts.uri.path(),
                                          "query": parts.uri.query(), "headers": headers, "body_len": len});
                            let mut r =
                                http::Response::new(Full::new(Bytes::from(body.to_string())));
                            r.headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(r)
                        }
                    },
                );
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Upstream {
            url: format!("http://{addr}/"),
            addr,
            hits,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `GET url` as an API client (JSON, no cookie) with `headers`: the status and the JSON
/// body (or the text).
async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("accept", "application/json")];
    all.extend_from_slice(headers);
    get_json(&client(), url, &all).await
}

/// A raw HTTP/1.1 request to `gw` for `target` with `headers` (each `Name: value\r\n`),
/// as an API client unless `headers` has an `Accept`, closing the connection.
fn raw(gw: &Running, method: &str, target: &str, headers: &str) -> Vec<u8> {
    let accept = if headers.contains("Accept:") {
        ""
    } else {
        "Accept: application/json\r\n"
    };
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\n{accept}{headers}Connection: close\r\n\r\n",
        gw.addr
    )
    .into_bytes()
}

/// The names of the cookies in a `Cookie` value.
fn cookie_names(value: &str) -> Vec<&str> {
    value
        .split(';')
        .map(|pair| pair.split('=').next().unwrap_or_default().trim())
        .collect()
}

/// The status of the first response in a raw answer (0: none).
fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The statuses of every response in a raw answer, in order.
fn statuses(answer: &str) -> Vec<u16> {
    answer
        .match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| answer[i + 9..].get(..3)?.parse().ok())
        .collect()
}

/// Writes `yaml` to a policy file of its own and returns its path.
fn policy_file(name: &str, yaml: &str) -> String {
    let dir = std::env::temp_dir().join(format!("gw-advisories-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

/// Parses a gateway command line: oauth2-proxy's minimum plus `extra`; the error text.
fn launch(extra: &[&str]) -> Result<(), String> {
    let mut args = vec![
        "gateway",
        "--provider=oidc",
        "--oidc-issuer-url=https://idp.example.com",
        "--client-id=app",
        "--client-secret=s3cret",
        "--cookie-secret=q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
        "--redirect-url=https://gw.example.com/oauth2/callback",
        "--upstream=http://127.0.0.1:1/",
        "--email-domain=*",
    ];
    args.extend_from_slice(extra);
    let no_variables: [(std::ffi::OsString, std::ffi::OsString); 0] = [];
    examples::flags::Launch::parse_from(args, no_variables)
        .map(|_| ())
        .map_err(|e| e.0)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// GHSA-7rh7-c77v-6434 (CVE-2025-54576, oauth2-proxy 7.11.0): `skip_auth_routes` were
/// matched against the path *and query*, so `/api/private/sensitive?path=/status` passed
/// `^/api/.*/status` without a login. Our rules only ever see the path.
#[tokio::test]
async fn ghsa_7rh7_c77v_6434_a_query_never_widens_a_skip_route() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/api/.*/status", "\\.css$"]}),
    )
    .await;
    for target in [
        "/api/private/sensitive?path=/status",
        "/api/private/sensitive?x=/api/a/status",
        "/admin?style=x.css",
        "/admin?%2Fstatus",
    ] {
        let (status, body) = get(&format!("{}{target}", gw.url), &[]).await;
        assert_eq!(status, 401, "{target}: {body}");
    }
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    let (status, seen) = get(&format!("{}/api/foo/status?verbose=1", gw.url), &[]).await;
    assert_eq!(status, 200, "the route itself is skipped: {seen}");
    assert_eq!(seen["path"], "/api/foo/status");
    assert_eq!(up.hits(), 1);
}

/// GHSA-pxq7-h93f-9jrg (CVE-2026-41059, oauth2-proxy 7.15.2): a skip-auth regex such as
/// `^/foo/.*/bar$` matched `/foo/secret%23/bar`, which upstreams that decode `%23` and
/// take `#` as a fragment serve as `/foo/secret`. The same family: `;` path parameters
/// (`/admin;x.css` is `/admin` to Tomcat and Spring) and encoded `/` before `..`. A skip
/// route lets a request through only when every such reading of its path matches.
#[tokio::test]
async fn ghsa_pxq7_h93f_9jrg_encoded_hash_in_path_does_not_match_a_skip_route() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/foo/.*/bar$", "\\.css$", "GET=^/public/"]}),
    )
    .await;
    for target in [
        "/foo/secret%23/bar",
        "/foo/secret%23/bar?x=1",
        "/foo/secret%2523%23/bar",
        "/foo/secret%3F/bar",
        "/admin;x.css",
        "/admin%3Bx.css",
        "/admin%23.css",
        "/public/..%2Fadmin",
        "/public/..%5cadmin",
        "/public/..;/admin",
    ] {
        let answer = raw_answer(gw.addr, &raw(&gw, "GET", target, "")).await;
        assert_eq!(status_of(&answer), 401, "{target}: {answer}");
    }
    // A literal `#` never reaches the path: the request target ends before it.
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/foo/secret#/bar", "")).await;
    assert_eq!(status_of(&answer), 401, "{answer}");
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    // What the rules mean still passes, parameters included when both readings match.
    for target in [
        "/foo/public/bar",
        "/static/site.css",
        "/public/app.js;jsessionid=1",
        "/public/a%20b",
    ] {
        let answer = raw_answer(gw.addr, &raw(&gw, "GET", target, "")).await;
        assert_eq!(status_of(&answer), 200, "{target}: {answer}");
    }
    assert_eq!(up.hits(), 4);
}

/// GHSA-7x63-xv5r-3p2x (CVE-2026-40575, oauth2-proxy 7.15.2) and oauth2-proxy issue #3506:
/// with `--reverse-proxy`, a client's `X-Forwarded-Uri: /public/x` decided the skip-auth
/// match while `/admin` went upstream; the fix's default still trusted every peer. Our
/// rules read the request's own path, from any peer, trusted or not, and
/// `--reverse-proxy` without `--trusted-proxy-ip` does not start
/// (`examples/src/flags/tests.rs::forwarding_headers_are_believed_only_from_listed_proxies`).
#[tokio::test]
async fn ghsa_7x63_xv5r_3p2x_a_forwarded_uri_never_decides_a_skip_route() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let spoof = [
        ("x-forwarded-uri", "/public/x"),
        ("x-original-url", "/public/x"),
        ("x-rewrite-url", "/public/x"),
        ("x-forwarded-prefix", "/public"),
        ("x-forwarded-path", "/public/x"),
    ];
    for extra in [
        json!({}),
        json!({"reverse_proxy": true, "trusted_proxy_ips": ["127.0.0.1"]}),
    ] {
        let mut options = extra.clone();
        options["skip_auth_routes"] = json!(["^/public/"]);
        let gw = start_gateway(&idp.issuer, &up.url, options).await;
        let (status, body) = get(&format!("{}/admin", gw.url), &spoof).await;
        assert_eq!(status, 401, "{extra}: {body}");
    }
    assert_eq!(up.hits(), 0);
    let refused = launch(&["--reverse-proxy"]).unwrap_err();
    assert!(
        refused.contains("--trusted-proxy-ip"),
        "--reverse-proxy alone trusts nobody, so it is refused: {refused}"
    );
}

/// GHSA-5hvv-m4w4-gf6v (CVE-2026-34457, oauth2-proxy 7.15.2): with a health-check
/// `User-Agent` configured, that agent got "OK" on *any* path, so `/oauth2/auth`
/// (nginx `auth_request`) allowed everything. We have no agent-based health check (the
/// option is refused), and a listener that answers checks treats `/ping` and `/ready` as
/// application paths (`examples/tests/gateway.rs::a_check_for_ping_or_ready_is_a_check`).
#[tokio::test]
async fn ghsa_5hvv_m4w4_gf6v_a_health_check_user_agent_is_no_pass() {
    let idp = Idp::start().await;
    let checks = start_gateway(&idp.issuer, "static://200", json!({})).await;
    let up = Upstream::start().await;
    let proxy = start_gateway(&idp.issuer, &up.url, json!({})).await;
    for agent in ["GoogleHC/1.0", "kube-probe/1.30", "ELB-HealthChecker/2.0"] {
        for (gw, path) in [
            (&checks, "/ping"),
            (&checks, "/ready"),
            (&checks, "/secret"),
            (&proxy, "/oauth2/auth"),
            (&proxy, "/secret"),
        ] {
            let (status, body) = get(&format!("{}{path}", gw.url), &[("user-agent", agent)]).await;
            assert_eq!(status, 401, "{agent} {path}: {body}");
        }
    }
    assert_eq!(up.hits(), 0);
    for option in ["--ping-user-agent=GoogleHC/1.0", "--gcp-healthchecks"] {
        let refused = launch(&[option]).unwrap_err();
        let name = option.split('=').next().unwrap();
        assert!(
            refused.contains(name),
            "{option} is refused by name: {refused}"
        );
    }
}

/// GHSA-vjrc-mh2v-45x6 (CVE-2025-64484, oauth2-proxy 7.13.0): identity headers were
/// stripped by exact name only, and WSGI, Rack, PHP and CGI read `X_Forwarded_Email` as
/// `X-Forwarded-Email`. mod_auth_openidc 2.4.19.4 fixed the same on its unauthenticated
/// paths ("scrub OIDC_* headers on paths let through without authentication"). Every
/// spelling is dropped at ingress, on session, skip-auth and bearer routes alike. (The
/// library-level test is `tower-sso/tests/it/fail_closed.rs::
/// identity_headers_under_any_spelling_never_reach_the_app`.)
#[tokio::test]
async fn ghsa_vjrc_mh2v_45x6_identity_header_spellings_never_reach_the_upstream_on_any_path() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/public/"], "skip_jwt_bearer_tokens": true,
               "set_xauthrequest": true, "pass_access_token": true}),
    )
    .await;
    let alice = login(&client(), &gw.url, &idp.provider, "alice").await;
    let now = unix_now();
    let token = oidc_core::testing::mint(
        &idp.provider.signing_key(),
        json!({"iss": idp.issuer, "aud": "dev-client", "sub": "svc", "iat": now, "exp": now + 300}),
    );
    let bearer = format!("Bearer {token}");
    let spoof = [
        ("X_Forwarded_User", "mallory"),
        ("x-forwarded_email", "mallory@example.com"),
        ("X_FORWARDED_GROUPS", "mallory-admins"),
        ("x_forwarded_preferred_username", "mallory"),
        ("x_forwarded_access_token", "mallory-token"),
        ("X_Auth_Request_User", "mallory"),
        ("x-auth-request-email", "mallory@example.com"),
        ("x_auth_request_groups", "mallory-admins"),
        ("X-Auth-Request-Anything", "mallory"),
    ];
    for (what, path, auth) in [
        ("session", "/app", ("cookie", alice.as_str())),
        ("skip-auth", "/public/x", ("x-none", "")),
        (
            "skip-auth with a session",
            "/public/x",
            ("cookie", alice.as_str()),
        ),
        ("bearer", "/api", ("authorization", bearer.as_str())),
        (
            "preflight on a skip-auth route",
            "/public/x",
            ("access-control-request-method", "POST"),
        ),
    ] {
        let mut headers = spoof.to_vec();
        headers.push(auth);
        let (status, seen) = get(&format!("{}{path}", gw.url), &headers).await;
        assert_eq!(status, 200, "{what}: {seen}");
        for (name, value) in seen["headers"].as_object().unwrap() {
            let value = value.as_str().unwrap();
            assert!(!value.contains("mallory"), "{what}: {name}: {value}");
        }
    }
}

/// CVE-2024-45806 (Envoy; Istio 2024-006): Envoy took every RFC 1918 peer for internal and
/// obeyed the `x-envoy-*` headers it sent. The gateway sits on a private address in front
/// of sidecars, so a client's `x-envoy-original-path`, `x-envoy-internal` or
/// `x-envoy-retry-on` passed through would be obeyed by them (also Envoy CVE-2023-27487,
/// a client's `x-envoy-original-path`). They are kept from a trusted proxy only.
#[tokio::test]
async fn cve_2024_45806_a_clients_envoy_headers_stop_at_the_edge() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let envoy = [
        ("x-envoy-internal", "true"),
        ("X-Envoy-Original-Path", "/admin"),
        ("x-envoy-retry-on", "5xx"),
        ("x_envoy_upstream_rq_timeout_ms", "1"),
        ("x-envoy-external-address", "10.0.0.1"),
        ("x-envoy-force-trace", "true"),
    ];
    let untrusted = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/open/"]}),
    )
    .await;
    let (status, seen) = get(&format!("{}/open/x", untrusted.url), &envoy).await;
    assert_eq!(status, 200, "{seen}");
    let names: Vec<&String> = seen["headers"].as_object().unwrap().keys().collect();
    assert!(
        !names
            .iter()
            .any(|n| n.replace('_', "-").starts_with("x-envoy-")),
        "{names:?}"
    );
    // Nor through a trusted proxy in front: a load balancer passes a client's copies on
    // unchanged, and the sidecar behind us writes its own.
    let trusted = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/open/"], "reverse_proxy": true, "trusted_proxy_ips": ["127.0.0.1"]}),
    )
    .await;
    let (status, seen) = get(&format!("{}/open/x", trusted.url), &envoy).await;
    assert_eq!(status, 200, "{seen}");
    let names: Vec<&String> = seen["headers"].as_object().unwrap().keys().collect();
    assert!(
        !names
            .iter()
            .any(|n| n.replace('_', "-").starts_with("x-envoy-")),
        "{names:?}"
    );
}

/// CVE-2023-28625 (GHSA-f5xw-rvfr-24qr, mod_auth_openidc 2.4.13.2): `OIDCStripCookies`
/// crashed on crafted `Cookie` headers. Ours are parsed, never a 5xx, and our session
/// cookie never reaches the upstream, even next to a value that is not text.
#[tokio::test]
async fn cve_2023_28625_odd_cookie_headers_never_fail_and_never_leak_ours() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["^/open/"]}),
    )
    .await;
    let session = login(&client(), &gw.url, &idp.provider, "alice").await;
    let many = "a=b; ".repeat(200);
    for cookie in [
        ";".to_owned(),
        "=".to_owned(),
        ";;=;".to_owned(),
        "_oauth2_proxy".to_owned(),
        "_oauth2_proxy=".to_owned(),
        "_oauth2_proxy_0=x".to_owned(),
        "=_oauth2_proxy".to_owned(),
        many,
        session.clone(),
        format!("x=1;{session};;"),
    ] {
        let answer = raw_answer(
            gw.addr,
            &raw(&gw, "GET", "/open/x", &format!("Cookie: {cookie}\r\n")),
        )
        .await;
        assert_eq!(status_of(&answer), 200, "{cookie}: {answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let seen: Value = serde_json::from_str(body).unwrap();
        let forwarded = seen["headers"]["cookie"].as_str().unwrap_or_default();
        assert!(
            !cookie_names(forwarded)
                .iter()
                .any(|n| n.starts_with("_oauth2_proxy")),
            "{cookie}: {forwarded}"
        );
    }
    // Our cookie next to a byte that is not text: still ours, still stripped.
    let mut request = raw(&gw, "GET", "/open/x", "");
    let end = request.len() - 2;
    let line = format!("Cookie: {session}; theme=caf\u{e9}");
    let mut line = line.into_bytes();
    let accent = line.len() - 2;
    line.splice(accent.., [0xe9]);
    line.extend_from_slice(b"\r\n");
    request.splice(end..end, line);
    let answer = raw_answer(gw.addr, &request).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let seen: Value = serde_json::from_str(body).unwrap();
    let forwarded = seen["headers"]["cookie"].as_str().unwrap_or_default();
    assert!(!forwarded.contains("_oauth2_proxy"), "{forwarded}");
    assert!(forwarded.starts_with("theme=caf"), "{forwarded}");
}

/// CVE-2024-24814 (GHSA-hxr6-w4gc-7vvv, mod_auth_openidc 2.4.15.2): a client-supplied chunk
/// count cookie (`mod_auth_openidc_session_chunks=99999999`) drove a loop of that size.
/// We have no count cookie and read at most 16 chunks; sign-out removes only chunk names
/// we could have set, so thousands of `_oauth2_proxy_N` cookies cost a bounded answer.
#[tokio::test]
async fn cve_2024_24814_a_client_chosen_chunk_count_costs_little() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(&idp.issuer, &up.url, json!({})).await;
    let chunks: String = (0..3000)
        .map(|i| format!("_oauth2_proxy_{i}=a"))
        .chain(["_oauth2_proxy_99999999999999999999999=a".to_owned()])
        .collect::<Vec<_>>()
        .join("; ");
    let cookie = format!("Cookie: {chunks}\r\n");
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/x", &cookie)).await;
    assert_eq!(
        status_of(&answer),
        401,
        "{}",
        &answer[..answer.len().min(300)]
    );
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/oauth2/sign_out", &cookie)).await;
    assert_eq!(
        status_of(&answer),
        302,
        "{}",
        &answer[..answer.len().min(300)]
    );
    let removals = answer
        .to_ascii_lowercase()
        .matches("set-cookie: _oauth2_proxy")
        .count();
    assert!((1..=17).contains(&removals), "{removals} removal lines");
    assert_eq!(up.hits(), 0);
}

/// CVE-2025-31492 (GHSA-59jp-rwph-878r, mod_auth_openidc 2.4.16.11): with POST
/// authorization requests, the login form was written and then the protected content as
/// well. Every answer we make ourselves (redirect, 401, 403) ends the request: the
/// upstream never sees an unauthenticated request, whatever its method.
#[tokio::test]
async fn cve_2025_31492_unauthenticated_requests_never_reach_the_upstream() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(&idp.issuer, &up.url, json!({})).await;
    let html = "Accept: text/html\r\n";
    let cases = [
        ("GET", "/x", html.to_owned(), 302),
        ("GET", "/x", String::new(), 401),
        ("HEAD", "/x", String::new(), 401),
        ("DELETE", "/x", String::new(), 401),
        (
            "POST",
            "/x",
            "Content-Type: text/plain\r\nContent-Length: 5\r\n".to_owned(),
            401,
        ),
        // Only GET and HEAD are sent to log in (a form would be lost on the way).
        ("POST", "/x", format!("{html}Content-Length: 0\r\n"), 401),
        (
            "OPTIONS",
            "/x",
            "Origin: https://evil.example\r\nAccess-Control-Request-Method: DELETE\r\n".to_owned(),
            401,
        ),
    ];
    for (method, target, headers, expected) in cases {
        let mut request = raw(&gw, method, target, &headers);
        if headers.contains("Content-Length: 5") {
            request.extend_from_slice(b"hello");
        }
        let answer = raw_answer(gw.addr, &request).await;
        assert_eq!(
            status_of(&answer),
            expected,
            "{method} {headers:?}: {answer}"
        );
        if expected == 302 {
            let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
            assert!(
                !body.contains("\"path\""),
                "no upstream body after a redirect"
            );
        }
    }
    assert_eq!(up.hits(), 0, "the upstream never saw one");
}

/// CVE-2025-3891 (GHSA-x7cf-8wgv-5j86, mod_auth_openidc 2.4.17.1): a POST without a
/// `Content-Type` crashed the module (with `OIDCPreservePost`). Our only body-reading
/// endpoint, the back-channel logout, answers 400 to every malformed form; a POST to the
/// application without a login is a 401.
#[tokio::test]
async fn cve_2025_3891_a_post_without_a_content_type_is_a_4xx() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(&idp.issuer, &up.url, json!({})).await;
    let big = "a".repeat(65 * 1024);
    let cases = [
        (
            "/oauth2/backchannel_logout",
            String::new(),
            String::new(),
            400,
        ),
        (
            "/oauth2/backchannel_logout",
            "Content-Type: text/plain\r\n".to_owned(),
            "logout_token=x".to_owned(),
            400,
        ),
        (
            "/oauth2/backchannel_logout",
            "Content-Type: application/x-www-form-urlencoded\r\n".to_owned(),
            format!("logout_token={big}"),
            400,
        ),
        (
            "/oauth2/backchannel_logout",
            "Content-Type: application/x-www-form-urlencoded\r\n".to_owned(),
            "logout_token=a&logout_token=b".to_owned(),
            400,
        ),
        ("/x", "Accept: text/html\r\n".to_owned(), String::new(), 401),
        ("/x", String::new(), "a=b".to_owned(), 401),
    ];
    for (path, headers, body, expected) in cases {
        let mut request = raw(
            &gw,
            "POST",
            path,
            &format!("{headers}Content-Length: {}\r\n", body.len()),
        );
        request.extend_from_slice(body.as_bytes());
        let answer = raw_answer(gw.addr, &request).await;
        assert_eq!(status_of(&answer), expected, "{path} {headers:?}: {answer}");
    }
    assert_eq!(up.hits(), 0);
}

/// A gateway in front of `up` with `policy` (skip-auth for every path, so the policies
/// alone decide).
async fn policy_gateway(idp: &Idp, up: &Upstream, name: &str, policy: &str) -> Running {
    start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": [".*"], "policies": [policy_file(name, policy)]}),
    )
    .await
}

/// CVE-2025-46821 (GHSA-c7cm-838g-6g67, Envoy; Istio 1.24.6 / 1.25.3): path templates
/// `{*}` / `{**}` did not match `*`, so `paths: ["/admin/{**}"]` in a DENY let
/// `/admin/*secret` through. Through the gateway, with Istio's normalization before it.
#[tokio::test]
async fn cve_2025_46821_a_deny_on_a_path_template_covers_asterisks() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = policy_gateway(
        &idp,
        &up,
        "deny-admin-template",
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin/{**}"]}}]}]
"#,
    )
    .await;
    for target in [
        "/admin/*secret",
        "/admin/*",
        "/admin/a=b",
        "/admin/%2a",
        "/x/../admin/*",
    ] {
        let answer = raw_answer(gw.addr, &raw(&gw, "GET", target, "")).await;
        assert_eq!(status_of(&answer), 403, "{target}: {answer}");
    }
    assert_eq!(up.hits(), 0);
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/public/*", "")).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
}

/// CVE-2021-39156 (Istio; Envoy CVE-2021-32779): a `#fragment` in the request target was
/// part of the path policies saw, so `/admin#x` escaped a DENY on `/admin`. The target
/// ends before `#`: policies and the upstream see `/admin`.
#[tokio::test]
async fn cve_2021_39156_a_fragment_is_not_part_of_the_path() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = policy_gateway(
        &idp,
        &up,
        "deny-admin",
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin"]}}]}]
"#,
    )
    .await;
    for target in ["/admin#x", "/admin#/../public", "/admin?x#y"] {
        let answer = raw_answer(gw.addr, &raw(&gw, "GET", target, "")).await;
        assert_eq!(status_of(&answer), 403, "{target}: {answer}");
    }
    assert_eq!(up.hits(), 0);
}

/// CVE-2026-26308 (GHSA-ghc4-35x6-crw5, Envoy; Istio 2026-001): a repeated header was
/// matched as its values joined with `,`, so `X-Role: user` + `X-Role: admin` escaped a
/// DENY on `admin`. The authz-check contract keeps Istio's joined semantics; `--lint`
/// warns on such rules (`authz-policy/tests/it/advisories.rs`) and the values it
/// recommends deny the repeat at the gateway. Envoy CVE-2019-9900's NUL byte, which split
/// what policies saw from what was routed, is refused before any policy.
#[tokio::test]
async fn cve_2026_26308_a_repeated_header_cannot_step_around_the_recommended_deny() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = policy_gateway(
        &idp,
        &up,
        "deny-admin-role",
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin-role, namespace: istio-system}
spec:
  action: DENY
  rules: [{when: [{key: "request.headers[x-role]", values: ["admin", "*,admin", "admin,*"]}]}]
"#,
    )
    .await;
    for headers in [
        "X-Role: admin\r\n",
        "X-Role: user\r\nX-Role: admin\r\n",
        "X-Role: admin\r\nX-Role: user\r\n",
        "X-Role: user,admin\r\n",
    ] {
        let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/x", headers)).await;
        assert_eq!(status_of(&answer), 403, "{headers:?}: {answer}");
    }
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/x", "X-Role: admin\0\r\n")).await;
    assert_eq!(status_of(&answer), 400, "a NUL byte: {answer}");
    assert_eq!(up.hits(), 0);
    let answer = raw_answer(gw.addr, &raw(&gw, "GET", "/x", "X-Role: user\r\n")).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
}

/// CVE-2024-23326 (Envoy; Istio 2024-004): Envoy switched to tunnel mode although the
/// upstream answered an upgrade request with something other than 101, so the next
/// request on the connection reached the upstream unexamined. We tunnel only after a 101:
/// the pipelined request is judged like any other.
#[tokio::test]
async fn cve_2024_23326_no_tunnel_without_a_101() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(&idp.issuer, &up.url, json!({"skip_auth_routes": ["^/ws$"]})).await;
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {0}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        gw.addr
    )
    .into_bytes();
    request.extend_from_slice(&raw(&gw, "GET", "/admin", ""));
    let answer = raw_answer(gw.addr, &request).await;
    assert_eq!(statuses(&answer), [200, 401], "{answer}");
    assert_eq!(
        up.hits(),
        1,
        "only the upgrade request reached the upstream"
    );
}

/// CVE-2025-64763 (Envoy; Istio 2025-003): bytes a client sent after a CONNECT (or an
/// upgrade) reached the upstream before it agreed, as an unexamined request. The gateway
/// is not a forward proxy: CONNECT is refused (it used to be proxied, and its 200 opened a
/// tunnel), and what follows on the connection is an ordinary request, judged as one.
#[tokio::test]
async fn cve_2025_64763_connect_is_refused_and_what_follows_is_judged() {
    let idp = Idp::start().await;
    let up = Upstream::start().await;
    let gw = start_gateway(
        &idp.issuer,
        &up.url,
        json!({"skip_auth_routes": ["!=^/admin"]}),
    )
    .await;
    let mut request = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", up.addr).into_bytes();
    request.extend_from_slice(&raw(&gw, "GET", "/admin", ""));
    let answer = raw_answer(gw.addr, &request).await;
    assert_eq!(statuses(&answer), [405, 401], "{answer}");
    assert_eq!(up.hits(), 0, "{answer}");
}
