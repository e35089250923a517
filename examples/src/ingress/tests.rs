use super::*;

fn ingress(trusted: &[&str]) -> Ingress {
    let own = OwnHeaders::new()
        .name(HeaderName::from_static("x-forwarded-user"))
        .name(HeaderName::from_static("x-forwarded-email"))
        .prefix(tower_sso::sso::headers::X_AUTH_REQUEST_PREFIX);
    Ingress::new(trusted.iter().map(|n| n.parse().unwrap()).collect(), own)
}

/// A request with `headers` (and `Host: app.example.com` unless they name a host).
fn request(headers: &[(&str, &str)]) -> Request<()> {
    let mut req = Request::get("/").body(()).unwrap();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("app.example.com"));
    }
    for (k, v) in headers {
        req.headers_mut().append(
            HeaderName::try_from(*k).unwrap(),
            HeaderValue::try_from(*v).unwrap(),
        );
    }
    req
}

/// The header names left, but the host, sorted.
fn names(req: &Request<()>) -> Vec<&str> {
    let mut names: Vec<&str> = req
        .headers()
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| *n != "host")
        .collect();
    names.sort_unstable();
    names
}

fn peer(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

fn remote(req: &Request<()>) -> IpAddr {
    req.extensions().get::<RemoteAddr>().unwrap().0
}

#[test]
fn an_untrusted_client_cannot_claim_an_address_or_any_forwarding_header() {
    let ingress = ingress(&[]);
    let mut req = request(&[
        ("x-forwarded-for", "10.0.0.1"),
        ("x-real-ip", "10.0.0.1"),
        ("forwarded", "for=10.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "admin.example.com"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-uri", "/admin"),
        ("x-forwarded-server", "internal"),
        ("x_forwarded_for", "10.0.0.1"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-kept", "1"),
    ]);
    ingress.prepare(&mut req, peer("203.0.113.7")).unwrap();
    let names = names(&req);
    assert_eq!(names, ["x-kept"]);
    assert_eq!(remote(&req), "203.0.113.7".parse::<IpAddr>().unwrap());
    assert_eq!(
        req.extensions().get::<ClientAddr>().unwrap().0,
        peer("203.0.113.7")
    );
    assert_eq!(
        req.extensions().get::<TrustedHop>(),
        Some(&TrustedHop(false))
    );
}

#[test]
fn behind_trusted_proxies_the_client_is_the_first_untrusted_hop_from_the_right() {
    let ingress = ingress(&["10.0.0.0/8"]);
    // client 198.51.100.4 -> proxy 10.1.1.1 -> proxy 10.2.2.2 (peer)
    let mut req = request(&[
        ("x-forwarded-for", "6.6.6.6, 198.51.100.4"),
        ("x-forwarded-for", "10.1.1.1"),
        ("x-forwarded-proto", "https"),
    ]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    assert_eq!(remote(&req), "198.51.100.4".parse::<IpAddr>().unwrap());
    assert_eq!(req.headers()["x-forwarded-proto"], "https");
    assert_eq!(
        req.extensions().get::<TrustedHop>(),
        Some(&TrustedHop(true))
    );

    // The same headers from an untrusted peer: the peer is the client.
    let mut req = request(&[("x-forwarded-for", "198.51.100.4")]);
    ingress.prepare(&mut req, peer("192.0.2.1")).unwrap();
    assert_eq!(remote(&req), "192.0.2.1".parse::<IpAddr>().unwrap());

    // Garbage stops the walk at the last hop we believe.
    let mut req = request(&[("x-forwarded-for", "1.2.3.4, nonsense, 10.1.1.1")]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    assert_eq!(remote(&req), "10.1.1.1".parse::<IpAddr>().unwrap());

    // A chain of trusted hops only: the leftmost.
    let mut req = request(&[("x-forwarded-for", "[::ffff:10.3.3.3], 10.1.1.1:8080")]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    assert_eq!(remote(&req), "10.3.3.3".parse::<IpAddr>().unwrap());
}

#[test]
fn identity_headers_are_dropped_under_any_spelling_even_from_trusted_proxies() {
    let ingress = ingress(&["127.0.0.0/8"]);
    let mut req = request(&[
        ("x-forwarded-user", "mallory"),
        ("x_forwarded_email", "ceo@example.com"),
        ("X-Auth-Request-Groups", "admins"),
        ("x_auth_request_user", "mallory"),
        ("x-forwarded-for", "198.51.100.4"),
    ]);
    ingress.prepare(&mut req, peer("127.0.0.1")).unwrap();
    let names = names(&req);
    assert_eq!(names, ["x-forwarded-for"]);
}

#[test]
fn connection_names_are_consumed_at_ingress_and_only_websocket_upgrades() {
    let ingress = ingress(&[]);
    let mut req = request(&[
        ("connection", "keep-alive, x-hop, Upgrade"),
        ("x-hop", "1"),
        ("upgrade", "websocket"),
        ("te", "trailers"),
        ("authorization", "Bearer a.b.c"),
    ]);
    ingress.prepare(&mut req, peer("192.0.2.1")).unwrap();
    let names = names(&req);
    assert_eq!(names, ["authorization"]);
    assert!(req.extensions().get::<WebSocketUpgrade>().is_some());

    for (connection, upgrade) in [
        ("Upgrade, HTTP2-Settings", "h2c"),
        ("upgrade", "websocket, h2c"),
        ("keep-alive", "websocket"),
    ] {
        let mut req = request(&[("connection", connection), ("upgrade", upgrade)]);
        ingress.prepare(&mut req, peer("192.0.2.1")).unwrap();
        assert!(
            req.extensions().get::<WebSocketUpgrade>().is_none(),
            "{connection} / {upgrade}"
        );
        assert!(!req.headers().contains_key(header::UPGRADE));
    }
}

#[test]
fn a_connection_value_that_is_not_text_still_names_what_it_can() {
    let ingress = ingress(&[]);
    let mut req = request(&[("x-hop", "1")]);
    req.headers_mut().insert(
        header::CONNECTION,
        HeaderValue::from_bytes(b"x-hop, \xff").unwrap(),
    );
    ingress.prepare(&mut req, peer("192.0.2.1")).unwrap();
    assert!(names(&req).is_empty());
}

#[test]
fn an_ambiguous_host_is_refused() {
    let ingress = ingress(&[]);
    let mut two = request(&[
        ("host", "public.example.com"),
        ("host", "admin.example.com"),
    ]);
    assert!(ingress.prepare(&mut two, peer("192.0.2.1")).is_err());
    let mut differs = Request::get("http://admin.example.com/x")
        .header("host", "public.example.com")
        .body(())
        .unwrap();
    assert!(ingress.prepare(&mut differs, peer("192.0.2.1")).is_err());
    let mut same = Request::get("http://Public.example.com/x")
        .header("host", "public.example.com")
        .body(())
        .unwrap();
    assert!(ingress.prepare(&mut same, peer("192.0.2.1")).is_ok());
}

#[test]
fn a_trusted_proxy_still_cannot_send_another_spelling_of_a_forwarding_header() {
    let ingress = ingress(&["10.0.0.0/8"]);
    let mut req = request(&[
        ("x-forwarded-for", "198.51.100.4"),
        ("x_forwarded_for", "1.1.1.1"),
        ("x_real_ip", "1.1.1.1"),
    ]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    let names = names(&req);
    assert_eq!(names, ["x-forwarded-for"]);
}

#[test]
fn a_connection_list_never_removes_the_host_or_what_a_trusted_proxy_said() {
    let ingress = ingress(&["10.0.0.0/8"]);
    let mut req = request(&[
        ("connection", "host, x-forwarded-for, forwarded, x-hop"),
        ("x-forwarded-for", "198.51.100.4"),
        ("forwarded", "for=198.51.100.4"),
        ("x-hop", "1"),
    ]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    assert_eq!(req.headers()["host"], "app.example.com");
    assert_eq!(names(&req), ["forwarded", "x-forwarded-for"]);
    assert_eq!(remote(&req), "198.51.100.4".parse::<IpAddr>().unwrap());
}

#[test]
fn only_the_forwarding_headers_we_read_pass_even_from_a_trusted_proxy() {
    let ingress = ingress(&["10.0.0.0/8"]);
    let mut req = request(&[
        ("x-forwarded-proto", "https"),
        ("x-forwarded-uri", "/public"),
        ("x-original-url", "/admin"),
        ("x-envoy-original-path", "/admin"),
        ("x-real-ip", "1.1.1.1"),
    ]);
    ingress.prepare(&mut req, peer("10.2.2.2")).unwrap();
    assert_eq!(names(&req), ["x-forwarded-proto"]);
}

#[test]
fn a_target_that_is_not_a_path_or_a_request_without_a_host_is_refused() {
    let ingress = ingress(&[]);
    let mut no_host = Request::get("/x").body(()).unwrap();
    assert!(ingress.prepare(&mut no_host, peer("192.0.2.1")).is_err());
    let mut user_info = Request::get("http://x@app.example.com/x").body(()).unwrap();
    assert!(ingress.prepare(&mut user_info, peer("192.0.2.1")).is_err());
    let mut h2 = Request::get("http://app.example.com/x").body(()).unwrap();
    assert!(
        ingress.prepare(&mut h2, peer("192.0.2.1")).is_ok(),
        "an authority alone"
    );
    let mut star = request(&[]);
    *star.method_mut() = http::Method::OPTIONS;
    *star.uri_mut() = "*".parse().unwrap();
    assert!(ingress.prepare(&mut star, peer("192.0.2.1")).is_ok());
    let mut authority_form = request(&[]);
    *authority_form.uri_mut() = "app.example.com:80".parse().unwrap();
    assert!(
        ingress
            .prepare(&mut authority_form, peer("192.0.2.1"))
            .is_err()
    );
}
