//! The gateway as its users meet it: a reverse proxy, an ext_authz server, a policy
//! enforcer, a process with flags; and what it does with hostile requests.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::world::{Idp, client, get_json, login, raw_status, start_gateway, start_upstream};
use serde_json::{Value, json};

#[tokio::test]
async fn the_proxy_forwards_with_forwarding_headers_and_without_hop_by_hop_or_spoofed_ones() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let gw = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"pass_authorization_header": true}),
    )
    .await;
    let client = client();
    let cookie = login(&client, &gw.url, &idp.provider, "alice").await;
    let (status, seen) = get_json(
        &client,
        &format!("{}/orders/7?page=2", gw.url),
        &[
            ("cookie", &format!("theme=dark; {cookie}")),
            ("x-forwarded-user", "mallory"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-host", "evil.example"),
            ("connection", "x-private-hop"),
            ("x-private-hop", "secret"),
            ("x-kept", "yes"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["path"], "/orders/7");
    assert_eq!(seen["query"], "page=2");
    let h = &seen["headers"];
    assert_eq!(
        h["x-forwarded-user"], "alice-sub",
        "the session's, not the client's"
    );
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "not trusted without --reverse-proxy"
    );
    assert_eq!(h["x-forwarded-host"], gw.addr.to_string());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(
        h["forwarded"],
        format!("for=127.0.0.1;host=\"{}\";proto=http", gw.addr)
    );
    assert_eq!(h["host"], gw.addr.to_string(), "--pass-host-header");
    assert!(
        h.get("x-private-hop").is_none(),
        "named by Connection: hop-by-hop"
    );
    assert_eq!(h["x-kept"], "yes");
    assert!(
        h["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey")
    );
    assert_eq!(
        h["cookie"], "theme=dark",
        "the application's cookies pass; the sealed session stays at the edge"
    );

    // Behind a trusted proxy the chain is extended.
    let trusting = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"reverse_proxy": true, "trusted_proxy_ips": ["127.0.0.1"], "skip_auth_routes": ["^/open/"]}),
    )
    .await;
    let (_, seen) = get_json(
        &client,
        &format!("{}/open/x", trusting.url),
        &[("x-forwarded-for", "203.0.113.9")],
    )
    .await;
    assert_eq!(seen["headers"]["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
}

#[tokio::test]
async fn bodies_stream_both_ways_and_websockets_upgrade() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let gw = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"skip_auth_routes": ["^/open/"]}),
    )
    .await;
    let client = client();
    let upload = client
        .post(format!("{}/open/upload", gw.url))
        .body(vec![7u8; 8 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let seen: Value = upload.json_value().await;
    assert_eq!(seen["body_len"], 8 * 1024 * 1024);
    let download = client
        .get(format!("{}/open/big", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().len(), 128 * 64 * 1024);

    let mut ws = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    ws.write_all(
        format!(
            "GET /open/ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            gw.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ws.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    ws.write_all(b"hello through the tunnel").await.unwrap();
    let mut echo = [0u8; 24];
    tokio::time::timeout(Duration::from_secs(5), ws.read_exact(&mut echo))
        .await
        .expect("the tunnel echoes")
        .unwrap();
    assert_eq!(&echo, b"hello through the tunnel");
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_slow_one_504_within_the_timeout() {
    let idp = Idp::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let down = start_gateway(
        &idp.issuer,
        &format!("http://{dead}/"),
        json!({"skip_auth_routes": ["^/"]}),
    )
    .await;
    let client = client();
    let r = client.get(format!("{}/x", down.url)).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let body = r.json_value().await;
    assert_eq!(body["error"], "bad_gateway");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot be reached"),
        "{body}"
    );

    let upstream = start_upstream().await;
    let slow = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"skip_auth_routes": ["^/"], "upstream_timeout": "300ms"}),
    )
    .await;
    // The upstream takes 5 s; the answer must come from the 300 ms timeout, well before.
    let r = tokio::time::timeout(
        Duration::from_secs(3),
        client.get(format!("{}/slow", slow.url)).send(),
    )
    .await
    .expect("no hang beyond the upstream timeout")
    .unwrap();
    assert_eq!(r.status(), 504);
    let body = r.json_value().await;
    assert_eq!(body["error"], "gateway_timeout");
    assert!(
        body["message"].as_str().unwrap().contains("0.3 s"),
        "{body}"
    );
}

#[tokio::test]
async fn ext_authz_mode_answers_checks_as_oauth2_proxy_behind_istio_custom() {
    let idp = Idp::start().await;
    let gw = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"set_xauthrequest": true, "pass_authorization_header": true}),
    )
    .await;
    let client = client();
    // Envoy sends the original method and path with the headers it is told to include.
    let browser = client
        .get(format!("{}/productpage", gw.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    assert!(
        browser.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{}/authorize?", idp.issuer))
    );
    let api = client
        .get(format!("{}/api/orders", gw.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let cookie = login(&client, &gw.url, &idp.provider, "alice").await;
    let allowed = client
        .get(format!("{}/productpage", gw.url))
        .header("cookie", &cookie)
        .header("x-forwarded-user", "mallory")
        .header("x-auth-request-user", "mallory")
        .header("x-auth-request-groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    for spoofable in [
        "x-forwarded-user",
        "x-auth-request-user",
        "x-auth-request-groups",
    ] {
        let values: Vec<_> = allowed.headers().get_all(spoofable).iter().collect();
        assert_eq!(
            values.len(),
            1,
            "{spoofable}: only the gateway's value: {values:?}"
        );
        assert_ne!(values[0], "mallory", "{spoofable}");
    }
    // A user with no groups: the answer carries an empty X-Forwarded-Groups, which
    // replaces a client's copy upstream (Envoy keeps headers the answer lacks).
    idp.provider
        .add_user(oidc_core::testing::DevUser::new_for_tests("carol"));
    let carol = login(&client, &gw.url, &idp.provider, "carol").await;
    let answer = client
        .get(format!("{}/productpage", gw.url))
        .header("cookie", &carol)
        .header("x-forwarded-groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-forwarded-user"], "carol-sub");
    assert_eq!(answer.headers()["x-forwarded-groups"], "");

    // Without --set-xauthrequest the answer still carries X-Auth-Request-*, empty: the
    // mesh config forwards them, and Envoy would keep the client's copy of a header the
    // answer lacks.
    let quiet = start_gateway(&idp.issuer, "static://200", json!({})).await;
    let quiet_cookie = login(&client, &quiet.url, &idp.provider, "bob").await;
    let answer = client
        .get(format!("{}/productpage", quiet.url))
        .header("cookie", &quiet_cookie)
        .header("x-auth-request-user", "mallory")
        .header("x-auth-request-groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["x-forwarded-user"], "bob-sub");
    assert_eq!(answer.headers()["x-auth-request-user"], "");
    assert_eq!(answer.headers()["x-auth-request-groups"], "");
    let h = allowed.headers();
    assert_eq!(h["x-forwarded-user"], "alice-sub");
    assert_eq!(h["x-forwarded-email"], "alice@example.com");
    assert_eq!(h["x-auth-request-user"], "alice-sub");
    assert_eq!(h["x-auth-request-groups"], "admins,group1");
    assert!(
        h["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ey")
    );

    // The whole Istio path: an app whose AuthorizationPolicy is seed 000's CUSTOM rule,
    // with the mesh's envoyExtAuthzHttp provider pointing at the gateway.
    use tower::{Layer as _, ServiceExt as _};
    let policy = r#"
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: oidc, namespace: istio-system}
spec:
  action: CUSTOM
  provider: {name: httpextauth-oidc}
  rules: [{}]
  selector: {matchLabels: {istio: ingressgateway}}
"#;
    let policies = std::sync::Arc::new(
        authz_policy::PolicySet::from_yaml(policy, authz_policy::CompileOptions::default())
            .unwrap(),
    );
    let provider = tower_sso::ExtAuthzHttp::builder(&gw.url)
        .include_request_headers_in_check(&["cookie", "authorization"])
        .headers_to_upstream_on_allow(&["authorization", "x-forwarded-user", "x-auth-request-*"])
        .headers_to_downstream_on_deny(&["location", "set-cookie", "content-type"])
        .build()
        .unwrap();
    let app = tower_sso::AuthorizationLayer::new(
        policies,
        authz_policy::Workload::new("istio-system", [("istio", "ingressgateway")]),
    )
    .custom_provider(
        "httpextauth-oidc",
        tower_sso::CustomProvider::ExtAuthzHttp(provider),
    )
    .layer(tower::service_fn(|req: http::Request<String>| async move {
        let user = req
            .headers()
            .get("x-auth-request-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok::<_, std::convert::Infallible>(http::Response::new(user))
    }));
    let request = |cookie: Option<&str>| {
        let mut b = http::Request::get("/productpage").header("host", "shop.example.com");
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        b.body(String::new()).unwrap()
    };
    let through = app.clone().oneshot(request(Some(&cookie))).await.unwrap();
    assert_eq!(through.status(), 200);
    let body = http_body_util::BodyExt::collect(through.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"alice-sub");
    let refused = app.oneshot(request(None)).await.unwrap();
    assert_eq!(
        refused.status(),
        302,
        "no session: the gateway's login redirect goes back"
    );
    assert!(
        refused.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{}/authorize?", idp.issuer))
    );
}

#[tokio::test]
async fn policies_apply_to_sso_users_and_bearer_callers_alike_after_istio_normalization() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("gw-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, examples::demo::POLICY).unwrap();
    let extra = |normalization: &str| {
        json!({"policies": [policy.display().to_string()], "skip_jwt_bearer_tokens": true,
               "path_normalization": normalization})
    };
    let gw = start_gateway(&idp.issuer, &format!("http://{upstream}/"), extra("BASE")).await;
    let client = client();
    let alice = login(&client, &gw.url, &idp.provider, "alice").await;
    let bob = login(&client, &gw.url, &idp.provider, "bob").await;
    let status = |cookie: String, path: &'static str, url: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{url}{path}"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(alice.clone(), "/admin", gw.url.clone()).await, 200);
    assert_eq!(status(bob.clone(), "/admin", gw.url.clone()).await, 403);
    assert_eq!(
        status(bob.clone(), "/admin/users", gw.url.clone()).await,
        403
    );
    assert_eq!(status(bob.clone(), "/elsewhere", gw.url.clone()).await, 200);
    // Normalized before the policy and the upstream see it.
    for sneaky in [
        "/public/../admin",
        "/./admin",
        "/%61dmin",
        "/public/%2e%2e/admin",
    ] {
        let r = client
            .get(format!("{}{sneaky}", gw.url))
            .header("cookie", &bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{sneaky}");
    }
    // BASE keeps %2F (Istio's default): the policy and the upstream both see /admin%2Fx.
    let (s, seen) = get_json(
        &client,
        &format!("{}/admin%2Fx", gw.url),
        &[("cookie", &bob)],
    )
    .await;
    assert_eq!((s, seen["path"].as_str()), (200, Some("/admin%2Fx")));
    let strict = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        extra("DECODE_AND_MERGE_SLASHES"),
    )
    .await;
    let bob_strict = login(&client, &strict.url, &idp.provider, "bob").await;
    for sneaky in ["/admin%2Fx", "//admin", "/admin%5Cx"] {
        let r = client
            .get(format!("{}{sneaky}", strict.url))
            .header("cookie", &bob_strict)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{sneaky}");
    }

    // Bearer callers: the same policy.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |who: &str, groups: &[&str]| {
        oidc_core::testing::mint(
            &idp.provider.signing_key(),
            json!({"iss": idp.issuer, "aud": "dev-client", "sub": format!("{who}-svc"),
                   "groups": groups, "iat": now, "exp": now + 300}),
        )
    };
    let bearer = |t: String| format!("Bearer {t}");
    let admin = bearer(token("ops", &["admins"]));
    let other = bearer(token("batch", &["jobs"]));
    let (s, seen) = get_json(
        &client,
        &format!("{}/admin", gw.url),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(seen["headers"]["x-forwarded-user"], "ops-svc");
    let (s, _) = get_json(
        &client,
        &format!("{}/admin", gw.url),
        &[("authorization", &other)],
    )
    .await;
    assert_eq!(s, 403);
    let (s, body) = get_json(
        &client,
        &format!("{}/anything", gw.url),
        &[(
            "authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        )],
    )
    .await;
    assert_eq!(s, 401, "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn hostile_requests_get_4xx_never_5xx() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let gw = start_gateway(&idp.issuer, &format!("http://{upstream}/"), json!({})).await;
    let host = gw.addr;
    let get = |path: &str, headers: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n{headers}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let big = "a".repeat(100 * 1024);
    let chunks: String = (0..3000)
        .map(|i| format!("_oauth2_proxy_{i}=x"))
        .collect::<Vec<_>>()
        .join("; ");
    let many_cookies: String = (0..3000).map(|i| format!("Cookie: c{i}=1\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an oversized header", get("/", &format!("X-Big: {big}\r\n"))),
        ("an oversized cookie", get("/", &format!("Cookie: _oauth2_proxy={big}\r\n"))),
        ("thousands of cookie chunks", get("/", &format!("Cookie: {}\r\n", &chunks[..chunks.len().min(50_000)]))),
        ("thousands of Cookie headers", get("/", &many_cookies)),
        ("garbage session chunks", get("/", "Cookie: _oauth2_proxy_0=%%%; _oauth2_proxy_1=\u{1}\r\n")),
        ("invalid UTF-8 in the path", {
            let mut r = b"GET /caf\xc3\x28\xff HTTP/1.1\r\n".to_vec();
            r.extend_from_slice(format!("Host: {host}\r\nConnection: close\r\n\r\n").as_bytes());
            r
        }),
        ("percent-encoded invalid UTF-8", get("/%ff%fe%c3%28", "")),
        ("dot segments above the root", get("/../../../etc/passwd", "")),
        ("encoded slashes and dots", get("/..%2f..%2fetc%2fpasswd", "")),
        ("CRLF in rd", get("/oauth2/start?rd=%0d%0aSet-Cookie:%20pwned=1", "")),
        ("a NUL in rd", get("/oauth2/start?rd=/%00x", "")),
        ("a callback with no state", get("/oauth2/callback?code=x", "")),
        ("a callback with a forged state", get("/oauth2/callback?code=x&state=forged", "Cookie: _oauth2_proxy_csrf_zz=bad\r\n")),
        ("an unknown endpoint", get("/oauth2/../oauth2/nothing", "")),
        ("a bearer that is not a JWT", get("/", "Authorization: Bearer a.b\r\n")),
        ("a smuggling attempt", format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ).into_bytes()),
        ("a header with a bare CR", get("/", "X-Evil: a\rb\r\n")),
        ("an absurd method", get("/", "").into_iter().skip(3).fold(b"BREW".to_vec(), |mut v, b| { v.push(b); v })),
    ];
    for (what, request) in cases {
        let status = raw_status(gw.addr, &request).await;
        eprintln!("{what}: {status}");
        assert!(
            (400..500).contains(&status),
            "{what}: got {status}, expected a 4xx"
        );
    }
    // And it still serves.
    assert_eq!(raw_status(gw.addr, &get("/ping", "")).await, 200);
}

/// A gateway serving `listener` and `metrics` (`--metrics-address`), ready.
async fn start_with_metrics(
    issuer: &str,
    upstream: &str,
    extra: Value,
) -> (String, String, tokio::task::JoinHandle<Result<(), String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics_url = format!("http://{}", metrics.local_addr().unwrap());
    let options = common::world::options(addr, issuer, upstream, extra);
    let gateway = examples::gateway::Gateway::build(options).await.unwrap();
    let task = tokio::spawn(gateway.serve(listener, None, Some(metrics), std::future::pending()));
    let url = format!("http://{addr}");
    let client = client();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{url}/ready")).send().await
            && r.status() == 200
        {
            return (url, metrics_url, task);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the gateway did not become ready");
}

#[tokio::test]
async fn metrics_count_outcomes_logins_and_provider_calls_on_the_metrics_address_only() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let (url, metrics_url, serving) =
        start_with_metrics(&idp.issuer, &format!("http://{upstream}/"), json!({})).await;
    let client = client();
    let cookie = login(&client, &url, &idp.provider, "alice").await;
    for _ in 0..3 {
        let r = client
            .get(format!("{url}/x"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = client
        .get(format!("{url}/x"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let metrics = client
        .get(format!("{metrics_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |line_start: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line_start} in\n{metrics}"))
    };
    // Other tests in this process share the recorder: at least this test's counts.
    assert!(value("gateway_requests_total{outcome=\"passed\"}") >= 3.0);
    assert!(value("gateway_requests_total{outcome=\"unauthenticated\"}") >= 1.0);
    assert!(value("gateway_requests_total{outcome=\"redirected\"}") >= 1.0);
    assert!(value("sso_logins_total") >= 1.0);
    assert!(value("oidc_jwks_fetches_total{result=\"ok\"}") >= 1.0);
    assert!(value("gateway_provider_request_seconds_count") >= 3.0);
    assert!(!metrics.contains(&cookie), "no secrets in metrics");
    // Not on the main listener, as oauth2-proxy: whoever reaches the gateway is not told
    // its traffic. Neither the prefixed path nor the application's own /metrics.
    for (path, cookie) in [
        ("/oauth2/metrics", ""),
        ("/oauth2/metrics", cookie.as_str()),
        ("/metrics", ""),
    ] {
        let r = client
            .get(format!("{url}{path}"))
            .header("accept", "application/json")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_ne!(status, 200, "{path}: {body}");
        assert!(!body.contains("gateway_requests_total"), "{path}: {body}");
    }
    let ping = client.get(format!("{url}/ping")).send().await.unwrap();
    assert_eq!(ping.text().await.unwrap(), "OK");
    assert_eq!(
        client
            .get(format!("{url}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    serving.abort();

    // Asked for: also under the prefix on the main listener.
    let (url, _, serving) = start_with_metrics(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"metrics_on_http_address": true}),
    )
    .await;
    let r = client
        .get(format!("{url}/oauth2/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("gateway_requests_total"));
    serving.abort();
}

#[tokio::test]
async fn ready_only_once_the_provider_is_discovered() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let issuer = format!("http://127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A proxying listener answers /ping and /ready (one that answers checks does not).
    let options = common::world::options(addr, &issuer, "http://127.0.0.1:9/", json!({}));
    let gateway = examples::gateway::Gateway::build(options).await.unwrap();
    let _serving = tokio::spawn(gateway.serve(listener, None, None, std::future::pending()));
    let client = client();
    let ready = client
        .get(format!("http://{addr}/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "the provider is not there yet");
    assert_eq!(
        client
            .get(format!("http://{addr}/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The provider comes up on its port: ready without a restart.
    let idp_listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let _idp = tokio::spawn(examples::dev_idp::serve(
        idp_listener,
        oidc_core::testing::DevProvider::new(&issuer),
    ));
    let mut status = 0;
    for _ in 0..50 {
        status = client
            .get(format!("http://{addr}/ready"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, 200);
}

/// The binary, with a deadline.
fn gateway_bin(args: &[&str]) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "gateway {args:?} did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn base_args(issuer: &str) -> Vec<String> {
    [
        "--upstream=static://200".to_owned(),
        "--provider=oidc".to_owned(),
        format!("--oidc-issuer-url={issuer}"),
        "--client-id=dev-client".to_owned(),
        "--client-secret=dev-secret".to_owned(),
        format!("--cookie-secret={}", common::world::COOKIE_SECRET),
        "--redirect-url=http://127.0.0.1:4180/oauth2/callback".to_owned(),
        "--email-domain=*".to_owned(),
    ]
    .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn check_config_validates_flags_policies_and_discovery() {
    let idp = Idp::start().await;
    let args = base_args(&idp.issuer);
    let run = |extra: &[&str]| {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.push("--check-config");
        all.extend_from_slice(extra);
        let all: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = all.iter().map(String::as_str).collect();
                gateway_bin(&refs)
            })
            .await
            .unwrap()
        }
    };
    let ok = run(&[]).await;
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("discovery ok") && stdout.ends_with("configuration ok\n"),
        "{stdout}"
    );

    let dir = std::env::temp_dir().join(format!("gw-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lint = dir.join("lint.yaml");
    std::fs::write(
        &lint,
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system}\n\
         spec:\n  action: ALLOW\n  rules:\n  - to:\n    - operation:\n        paths: [\"/a/../b\"]\n",
    )
    .unwrap();
    let warned = run(&[&format!("--policy={}", lint.display())]).await;
    assert!(warned.status.success());
    assert!(String::from_utf8_lossy(&warned.stdout).contains("warning: istio-system/p"));

    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec: {action: MAYBE}\n").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut unreachable = base_args(&nowhere);
    unreachable.push("--check-config".into());
    let unreachable: Vec<&str> = unreachable.iter().map(String::as_str).collect();
    let failures: Vec<(std::process::Output, &str)> = vec![
        (
            run(&[&format!("--policy={}", broken.display())]).await,
            "--policy",
        ),
        (run(&["--cookie-secret=short"]).await, "--cookie-secret"),
        (run(&["--cookie-refresh=200h"]).await, "cookie-refresh"),
        (
            run(&["--upstream-timeout=forever"]).await,
            "--upstream-timeout",
        ),
        (run(&["--unknown-flag"]).await, "--unknown-flag"),
        (
            tokio::task::spawn_blocking({
                let a: Vec<String> = unreachable.iter().map(|s| (*s).to_owned()).collect();
                move || gateway_bin(&a.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .unwrap(),
            "--oidc-issuer-url",
        ),
    ];
    for (out, flag) in failures {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains(flag), "{flag}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("dev-secret"), "no secrets: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_in_flight_requests_finish_then_exits() {
    use std::io::{BufRead as _, BufReader};
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut args = base_args(&idp.issuer);
    args.retain(|a| !a.starts_with("--upstream") && !a.starts_with("--redirect-url"));
    args.extend([
        format!("--upstream=http://{upstream}/"),
        format!("--http-address=127.0.0.1:{port}"),
        format!("--redirect-url=http://127.0.0.1:{port}/oauth2/callback"),
        "--skip-auth-route=^/slow$".into(),
    ]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = rx
        .iter()
        .take_while(|_| true)
        .find(|l| l.contains("ready"))
        .is_some();
    assert!(ready, "the gateway logs that it is ready");
    let client = client();
    let url = format!("http://127.0.0.1:{port}/slow");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(15), in_flight)
            .await
            .expect("the in-flight request finishes")
            .unwrap()
            .unwrap(),
        200,
        "the request in flight at SIGTERM is answered"
    );
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(exited.expect("the gateway exits after draining").success());
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/ping"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

/// The `headersToUpstreamOnAllow` of `examples/deploy`'s mesh config (but `path`, which
/// is not an identity).
fn mesh_forwarded_headers() -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base/mesh-config.yaml"),
    )
    .unwrap();
    let mesh: Value = serde_saphyr::from_str(&text).unwrap();
    let provider = &mesh["spec"]["meshConfig"]["extensionProviders"][0]["envoyExtAuthzHttp"];
    let names: Vec<String> = provider["headersToUpstreamOnAllow"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .filter(|n| n != "path")
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    names
}

#[tokio::test]
async fn every_allowed_check_carries_every_header_the_mesh_forwards() {
    // Envoy lets an allowed request through with the client's own copy of any header the
    // answer does not carry: on login routes, skip-auth routes and bearer routes alike,
    // the answer carries them all, empty when the user has no value.
    let idp = Idp::start().await;
    let gw = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"skip_auth_routes": ["^/public/"], "skip_jwt_bearer_tokens": true,
               "pass_authorization_header": true}),
    )
    .await;
    let client = client();
    let forwarded = mesh_forwarded_headers();
    let spoofed: Vec<(String, String)> = forwarded
        .iter()
        .filter(|n| *n != "authorization")
        .flat_map(|n| {
            [
                (n.clone(), "mallory".to_owned()),
                (n.replace('-', "_"), "mallory".to_owned()),
            ]
        })
        .collect();
    idp.provider
        .add_user(oidc_core::testing::DevUser::new_for_tests("carol"));
    let carol = login(&client, &gw.url, &idp.provider, "carol").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = oidc_core::testing::mint(
        &idp.provider.signing_key(),
        json!({"iss": idp.issuer, "aud": "dev-client", "sub": "svc", "iat": now, "exp": now + 300}),
    );
    let routes = [
        (
            "session",
            "/app".to_owned(),
            vec![("cookie".to_owned(), carol.clone())],
        ),
        ("skip-auth", "/public/x".to_owned(), vec![]),
        (
            "skip-auth with a session",
            "/public/x".to_owned(),
            vec![("cookie".to_owned(), carol)],
        ),
        (
            "bearer",
            "/api".to_owned(),
            vec![("authorization".to_owned(), format!("Bearer {token}"))],
        ),
    ];
    for (what, path, headers) in routes {
        let mut request = client.get(format!("{}{path}", gw.url));
        for (k, v) in headers.iter().chain(&spoofed) {
            request = request.header(k.as_str(), v.as_str());
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{what}");
        for name in &forwarded {
            let values: Vec<&str> = answer
                .headers()
                .get_all(name.as_str())
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            if name == "authorization" && what.starts_with("skip-auth") {
                // The client's own Authorization is theirs to send on a public route.
                assert!(values.len() <= 1, "{what}: {name}: {values:?}");
                continue;
            }
            assert_eq!(
                values.len(),
                1,
                "{what}: {name} is answered once: {values:?}"
            );
            assert_ne!(values[0], "mallory", "{what}: {name}");
        }
        for (name, _) in &spoofed {
            if name.contains('_') {
                assert!(
                    !answer.headers().contains_key(name.as_str()),
                    "{what}: {name} is never echoed"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_check_for_ping_or_ready_is_a_check() {
    // On a listener that answers checks, /ping and /ready are application paths: a 200
    // there would let anyone reach the application's /ping (GHSA-5hvv-m4w4-gf6v's class).
    let idp = Idp::start().await;
    let gw = start_gateway(&idp.issuer, "static://200", json!({})).await;
    let client = client();
    let metrics = client
        .get(format!("{}/oauth2/metrics", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        metrics.status(),
        404,
        "the gateway's own prefix: no such endpoint"
    );
    for path in ["/ping", "/ready", "/metrics"] {
        let answer = client
            .get(format!("{}{path}", gw.url))
            .header("accept", "application/json")
            .header("x-forwarded-user", "mallory")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn policies_see_the_client_address_and_the_original_client_behind_trusted_proxies() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("gw-addr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        r#"apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-peer, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {ipBlocks: ["127.0.0.2"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {remoteIpBlocks: ["198.51.100.0/24"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-loopback, namespace: istio-system}
spec:
  action: ALLOW
  rules: [{from: [{source: {ipBlocks: ["127.0.0.0/8"]}}]}]
"#,
    )
    .unwrap();
    let gw = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"policies": [policy.display().to_string()], "skip_auth_routes": [".*"],
               "reverse_proxy": true, "trusted_proxy_ips": ["127.0.0.3"]}),
    )
    .await;
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(ip))
            .no_proxy()
            .build()
            .unwrap()
    };
    let status = |client: reqwest::Client, xff: Option<&'static str>| {
        let url = format!("{}/x", gw.url);
        async move {
            let mut r = client.get(url);
            if let Some(xff) = xff {
                r = r.header("x-forwarded-for", xff);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };
    // ALLOW by address lets the loopback peer in; DENY by address fires.
    assert_eq!(status(from([127, 0, 0, 1]), None).await, 200);
    assert_eq!(status(from([127, 0, 0, 2]), None).await, 403);
    // remote.ip from X-Forwarded-For only through a trusted proxy.
    assert_eq!(
        status(from([127, 0, 0, 3]), Some("198.51.100.7")).await,
        403
    );
    assert_eq!(status(from([127, 0, 0, 3]), Some("203.0.113.7")).await, 200);
    assert_eq!(
        status(from([127, 0, 0, 4]), Some("198.51.100.7")).await,
        200,
        "an untrusted client's X-Forwarded-For is ignored"
    );
}

#[tokio::test]
async fn a_clients_connection_list_cannot_remove_our_headers_and_h2c_is_never_tunnelled() {
    let idp = Idp::start().await;
    let upstream = start_upstream().await;
    let gw = start_gateway(
        &idp.issuer,
        &format!("http://{upstream}/"),
        json!({"pass_authorization_header": true}),
    )
    .await;
    let client = client();
    let cookie = login(&client, &gw.url, &idp.provider, "alice").await;
    let (status, seen) = get_json(
        &client,
        &format!("{}/x", gw.url),
        &[
            ("cookie", &cookie),
            (
                "connection",
                "authorization, x-forwarded-user, x-forwarded-email, x-forwarded-for, forwarded",
            ),
            ("x_forwarded_user", "mallory"),
            ("x-forwarded_email", "ceo@example.com"),
            ("x_auth_request_groups", "admins"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-user"], "alice-sub");
    assert_eq!(h["x-forwarded-email"], "alice@example.com");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(
        h["forwarded"]
            .as_str()
            .unwrap()
            .starts_with("for=127.0.0.1")
    );
    assert!(
        h["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ey")
    );
    for spoofed in [
        "x_forwarded_user",
        "x-forwarded_email",
        "x_auth_request_groups",
    ] {
        assert!(
            h.get(spoofed).is_none(),
            "{spoofed} reached the upstream: {h}"
        );
    }

    // h2c: answered as a plain request, never switched.
    let mut raw = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    raw.write_all(
        format!(
            "GET /x HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
            gw.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("upgrade: h2c"),
        "{head}"
    );
}

/// A gateway answering ext_authz checks with the provider in-process (no sockets but the
/// gateway's own), so paused time can run it.
async fn in_process_gateway(
    extra: Value,
) -> (
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), String>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let issuer = "http://idp.invalid";
    // A proxying listener, so /ping is the gateway's own (on a check listener it is a
    // check like any path).
    let options = common::world::options(addr, issuer, "http://127.0.0.1:9/", extra);
    let provider = oidc_core::testing::DevProvider::new(issuer);
    let gateway =
        examples::gateway::Gateway::build_with_http(options, Some(std::sync::Arc::new(provider)))
            .await
            .unwrap();
    let task = tokio::spawn(gateway.serve(listener, None, None, std::future::pending()));
    (addr, task)
}

/// Reads `stream` to its end: `Some(bytes)` when the gateway closes it within `within`
/// (paused time: no real wait), `None` when it holds it open.
async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt as _;
    let mut all = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut all)).await {
        Ok(_) => Some(all),
        Err(_) => None,
    }
}

fn ping_request(addr: std::net::SocketAddr) -> Vec<u8> {
    format!("GET /ping HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// HTTP/2's connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_no_request_is_closed_not_held() {
    use tokio::io::AsyncWriteExt as _;
    let (addr, _serving) = in_process_gateway(json!({})).await;
    // Nothing at all: not even enough bytes to tell HTTP/1 from HTTP/2.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(300))
            .await
            .is_some(),
        "a silent connection is closed"
    );
    // Half of HTTP/2's preface.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(&H2_PREFACE[..10]).await.unwrap();
    assert!(
        read_until_closed(&mut half, Duration::from_secs(300))
            .await
            .is_some(),
        "half a preface"
    );
    // An HTTP/2 connection that opens no stream.
    let mut idle_h2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle_h2.write_all(H2_PREFACE).await.unwrap();
    assert!(
        read_until_closed(&mut idle_h2, Duration::from_secs(300))
            .await
            .is_some(),
        "an HTTP/2 connection with no request"
    );
    // A request head that never ends (hyper's own bound).
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(300))
            .await
            .is_some(),
        "a head that never ends"
    );
    // The gateway still answers.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(&ping_request(addr)).await.unwrap();
    let answer = read_until_closed(&mut ok, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(start_paused = true)]
async fn connections_over_the_cap_wait_in_the_backlog_until_one_closes() {
    use tokio::io::AsyncWriteExt as _;
    let (addr, _serving) = in_process_gateway(json!({"max_connections": "2"})).await;
    let first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::task::yield_now().await;
    // The kernel completes the third connection; the gateway does not take it yet.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(&ping_request(addr)).await.unwrap();
    assert!(
        read_until_closed(&mut third, Duration::from_secs(5))
            .await
            .is_none(),
        "no answer while two connections are open"
    );
    drop(first);
    let answer = read_until_closed(&mut third, Duration::from_secs(300))
        .await
        .expect("answered once one closes");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A value that cannot work is refused at start.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut map = serde_json::Map::new();
    for (k, v) in [
        ("http_address", addr.to_string()),
        ("upstreams", "static://200".into()),
        ("oidc_issuer_url", "http://idp.invalid".into()),
        ("client_id", "c".into()),
        ("redirect_url", format!("http://{addr}/oauth2/callback")),
        ("cookie_secret", common::world::COOKIE_SECRET.into()),
        ("email_domains", "*".into()),
        ("max_connections", "0".into()),
    ] {
        map.insert(k.into(), Value::String(v));
    }
    let e = examples::flags::Options::from_map(map).unwrap_err();
    assert!(e.0.contains("--max-connections"), "{e}");
}

/// The server's SETTINGS parameters (identifier, value) from the first frame it sends.
async fn h2_server_settings(addr: std::net::SocketAddr) -> Vec<(u16, u32)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(H2_PREFACE).await.unwrap();
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(head[3], 0x4, "a SETTINGS frame first");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.unwrap();
    payload
        .chunks_exact(6)
        .map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
        .collect()
}

#[tokio::test]
async fn http2_has_the_same_head_limit_as_http1_and_bounded_streams() {
    let (addr, _serving) = in_process_gateway(json!({})).await;
    let settings = h2_server_settings(addr).await;
    // SETTINGS_MAX_CONCURRENT_STREAMS (3) and SETTINGS_MAX_HEADER_LIST_SIZE (6).
    assert!(
        settings.contains(&(3, examples::gateway::MAX_CONCURRENT_STREAMS)),
        "{settings:?}"
    );
    assert!(settings.contains(&(6, 64 * 1024)), "{settings:?}");
    // A 32 KiB header (a large session cookie, say) passes both ways; 100 KiB neither.
    let h1 = client();
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    for (name, client) in [("HTTP/1.1", &h1), ("HTTP/2", &h2)] {
        let send = |size: usize| {
            client
                .get(format!("http://{addr}/ping"))
                .header("x-big", "a".repeat(size))
                .send()
        };
        let r = send(32 * 1024).await.unwrap();
        assert_eq!(r.status(), 200, "{name}");
        if name == "HTTP/2" {
            assert_eq!(r.version(), reqwest::Version::HTTP_2);
        }
        match send(100 * 1024).await {
            Ok(r) => assert_eq!(r.status(), 431, "{name}"),
            Err(e) => assert!(name == "HTTP/2", "{name}: {e}"),
        }
    }
}

#[tokio::test]
async fn a_check_answer_for_a_session_always_carries_authorization() {
    // Without --pass-authorization-header the session forwards no token; an allow without
    // Authorization would let Envoy keep a client's forged one next to the session's
    // identity headers.
    let idp = Idp::start().await;
    let gw = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"set_xauthrequest": true}),
    )
    .await;
    let client = client();
    let cookie = login(&client, &gw.url, &idp.provider, "alice").await;
    let forged = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.x";
    for path in ["/app", "/oauth2/userinfo"] {
        let answer = client
            .get(format!("{}{path}", gw.url))
            .header("cookie", &cookie)
            .header("authorization", forged)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        let values: Vec<_> = answer.headers().get_all("authorization").iter().collect();
        assert_eq!(
            values,
            [""],
            "{path}: an empty Authorization replaces the client's"
        );
    }
    // A public route: the client's own Authorization is its business.
    let public = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"skip_auth_routes": ["^/public/"]}),
    )
    .await;
    let answer = client
        .get(format!("{}/public/x", public.url))
        .header("authorization", "Bearer mine")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["authorization"], "Bearer mine");
}

#[tokio::test]
async fn an_ambiguous_host_is_a_400_before_any_policy() {
    // Two Host headers: a policy would read one and the upstream might serve the other.
    let idp = Idp::start().await;
    let gw = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"skip_auth_routes": [".*"]}),
    )
    .await;
    let two = b"GET /x HTTP/1.1\r\nHost: public.example.com\r\nHost: admin.example.com\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(gw.addr, two).await, 400);
    let differs = b"GET http://admin.example.com/x HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(gw.addr, differs).await, 400);
    let one = b"GET /x HTTP/1.1\r\nHost: public.example.com\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(gw.addr, one).await, 200);
    let no_host = b"GET /x HTTP/1.0\r\n\r\n";
    assert_eq!(raw_status(gw.addr, no_host).await, 400);
    // A health checker that sends no Host (HAProxy's HTTP/1.0 check) still gets /ping on
    // a proxying listener.
    let proxying = start_gateway(&idp.issuer, "http://127.0.0.1:9/", json!({})).await;
    assert_eq!(
        raw_status(proxying.addr, b"GET /ping HTTP/1.0\r\n\r\n").await,
        200
    );
    assert_eq!(raw_status(proxying.addr, no_host).await, 400);
}

#[tokio::test]
async fn the_mesh_forwards_every_identity_header_the_gateway_writes() {
    // Envoy forwards a client's copy of any header headersToUpstreamOnAllow does not name:
    // each one the gateway writes must be named, or a client supplies it in ext_authz mode.
    let idp = Idp::start().await;
    let gw = start_gateway(
        &idp.issuer,
        "static://200",
        json!({"pass_access_token": true}),
    )
    .await;
    let forwarded = mesh_forwarded_headers();
    let ours = gw
        .gateway
        .sso()
        .own_headers()
        .names()
        .iter()
        .map(|n| n.as_str().to_owned())
        .chain(tower_sso::sso::headers::X_AUTH_REQUEST.map(str::to_owned))
        .chain(["authorization".to_owned()]);
    for name in ours {
        assert!(
            forwarded.contains(&name),
            "{name} is missing from the mesh config"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_http2_connection_gives_its_slot_back() {
    // hyper answers an HTTP/2 client's keep-alive PINGs forever: without a watchdog,
    // --max-connections idle HTTP/2 connections would lock the listener.
    let (addr, _serving) = in_process_gateway(json!({"max_connections": "1"})).await;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let ping = http::Request::get(format!("http://{addr}/ping"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(send.send_request(ping).await.unwrap().status(), 200);
    // Ten idle minutes later, the only slot is free again.
    tokio::time::sleep(Duration::from_secs(600)).await;
    use tokio::io::AsyncWriteExt as _;
    let mut other = tokio::net::TcpStream::connect(addr).await.unwrap();
    other.write_all(&ping_request(addr)).await.unwrap();
    let answer = read_until_closed(&mut other, Duration::from_secs(60))
        .await
        .expect("answered: the idle connection was closed");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    drop(send);
}
