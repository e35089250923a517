use super::*;

const SECRET: &str = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=";

fn gateway(args: &[&str]) -> Result<Options, String> {
    let mut all = vec!["gateway"];
    all.extend_from_slice(args);
    match Launch::parse_from(all).map_err(|e| e.0)? {
        Launch::Gateway(options) => Ok(*options),
        Launch::Demo => Err("demo".into()),
    }
}

/// The minimum an oauth2-proxy command line has, oauth2-proxy's spelling.
fn base() -> Vec<String> {
    [
        "--provider=oidc",
        "--oidc-issuer-url=https://idaas.example.com/api/v2/app_1/oidc",
        "--client-id=app_1",
        "--client-secret=s3cret",
        &format!("--cookie-secret={SECRET}"),
        "--redirect-url=https://gw.example.com/oauth2/callback",
        "--upstream=static://200",
        "--email-domain=*",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn with(extra: &[&str]) -> Result<Options, String> {
    let mut args: Vec<String> = base();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    gateway(&refs)
}

#[test]
fn no_options_at_all_is_the_demo() {
    assert!(matches!(
        Launch::parse_from(["gateway"]).unwrap(),
        Launch::Demo
    ));
}

#[test]
fn an_oauth2_proxy_command_line_from_the_seeds_works_unchanged() {
    let o = with(&[
        "--http-address=0.0.0.0:4180",
        "--cookie-secure=false",
        "--cookie-name=_sso",
        "--cookie-domain=.example.com",
        "--cookie-expire=12h",
        "--cookie-refresh=1h",
        "--scope=openid email profile",
        "--skip-auth-route=GET=^/healthz$",
        "--skip-auth-route=^/public/",
        "--skip-jwt-bearer-tokens",
        "--extra-jwt-issuers=https://other.example.com=api",
        "--pass-access-token=true",
        "--pass-authorization-header",
        "--set-xauthrequest",
        "--set-authorization-header=true",
        "--reverse-proxy",
        "--trusted-proxy-ip=10.0.0.0/8,127.0.0.6",
        "--proxy-prefix=/oauth2",
        "--whitelist-domain=.example.com",
        "--skip-provider-button=true",
        "--code-challenge-method=S256",
    ])
    .unwrap();
    assert_eq!(o.http_address, "0.0.0.0:4180".parse().unwrap());
    assert_eq!(o.upstream, Upstream::Static(http::StatusCode::OK));
    assert!(o.reverse_proxy);
    assert_eq!(
        o.trusted_proxy_ips,
        [
            "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap(),
            "127.0.0.6/32".parse().unwrap()
        ]
    );
    let s = &o.sso;
    assert_eq!(s.cookie_secure, Some(false));
    assert_eq!(
        s.cookie_domains.as_deref(),
        Some(&[".example.com".to_owned()][..])
    );
    assert_eq!(
        s.skip_auth_routes.as_deref(),
        Some(&["GET=^/healthz$".to_owned(), "^/public/".to_owned()][..])
    );
    assert_eq!(s.skip_jwt_bearer_tokens, Some(true));
    assert_eq!(s.set_xauthrequest, Some(true));
    let config = tower_sso::SsoConfig::try_from(s.clone()).unwrap();
    assert_eq!(config.cookie.name, "_sso");
    assert!(!config.cookie.secure);
    assert!(config.skip_jwt_bearer_tokens && config.set_xauthrequest);
    assert_eq!(
        config.extra_jwt_issuers,
        [("https://other.example.com".to_owned(), "api".to_owned())]
    );
    assert_eq!(
        config.headers.access_token.as_deref(),
        Some("x-forwarded-access-token")
    );
    assert!(!config.rules.requires_login("GET", "/healthz"));
    assert!(config.rules.requires_login("POST", "/healthz"));
    assert!(!config.rules.requires_login("GET", "/public/x"));
    assert!(config.rules.requires_login("GET", "/private"));
}

#[test]
fn defaults_are_oauth2_proxys() {
    let o = with(&[]).unwrap();
    assert_eq!(o.http_address, "127.0.0.1:4180".parse().unwrap());
    assert_eq!(o.upstream_timeout, Duration::from_secs(30));
    assert!(o.pass_host_header && o.request_logging && !o.reverse_proxy);
    assert_eq!(o.workload_namespace, "istio-system");
    assert_eq!(
        o.workload_labels,
        [("istio".into(), "ingressgateway".into())]
    );
    let http = with(&["--upstream=http://127.0.0.1:8080/", "--http-address=:4180"]);
    let http = http.unwrap_err();
    assert!(http.contains("one upstream only"), "{http}");
}

#[test]
fn bad_options_fail_with_one_line_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--cookie-secret=short"], "cookie-secret"),
        (&["--cookie-expire=7d"], "cookie-expire"),
        (&["--cookie-secure=maybe"], "--cookie-secure"),
        (&["--http-address=localhost"], "--http-address"),
        (&["--upstream-timeout=soon"], "--upstream-timeout"),
        (
            &["--code-challenge-method=plain"],
            "--code-challenge-method",
        ),
        (&["--extra-jwt-issuers=nope"], "extra-jwt-issuers"),
        (&["--skip-auth-route=GET=("], "skip-auth-route"),
        (&["--provider=github"], "provider"),
        (&["--session-store-type=memcached"], "session-store-type"),
        (&["--workload-label=nolabel"], "--workload-label"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--redirect-url=/oauth2/callback"], "redirect-url"),
    ];
    for (extra, flag) in cases {
        let mut args = base();
        args.retain(|a| {
            !extra
                .iter()
                .any(|e| a.split('=').next() == e.split('=').next())
        });
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = gateway(&refs)
            .map(|_| ())
            .expect_err(&format!("{extra:?} is refused"));
        assert!(e.contains(flag), "{extra:?}: {e}");
        assert!(!e.contains('\n'), "{extra:?}: one line: {e}");
    }
    for (upstream, why) in [
        ("http://app:8080/api/", "path routing"),
        ("https://app", "http://"),
        ("static://abc", "static://STATUS"),
        ("app:8080", "upstream"),
    ] {
        let mut args = base();
        args.retain(|a| !a.starts_with("--upstream"));
        args.push(format!("--upstream={upstream}"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let e = gateway(&refs).map(|_| ()).unwrap_err();
        assert!(
            e.contains("--upstream") && e.contains(why),
            "{upstream}: {e}"
        );
    }
    let e = gateway(&["--upstream=static://200"])
        .map(|_| ())
        .unwrap_err();
    assert!(
        e.contains("--oidc-issuer-url") && e.contains("required"),
        "{e}"
    );
}

#[test]
fn a_config_file_in_toml_or_yaml_under_the_flags() {
    let dir = std::env::temp_dir().join(format!("gw-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("gateway.toml");
    std::fs::write(
        &toml,
        format!(
            r#"
http_address = "127.0.0.1:9000"
upstreams = ["http://127.0.0.1:8080/"]
provider = "oidc"
oidc_issuer_url = "https://op.example.com"
client_id = "app"
client_secret = "s"
cookie_secret = "{SECRET}"
redirect_url = "https://gw.example.com/oauth2/callback"
email_domains = ["example.com"]
skip_auth_routes = ["^/public/"]
cookie_secure = true
"#
        ),
    )
    .unwrap();
    let path = toml.display().to_string();
    let o = gateway(&[&format!("--config={path}"), "--http-address=127.0.0.1:9001"]).unwrap();
    assert_eq!(
        o.http_address,
        "127.0.0.1:9001".parse().unwrap(),
        "flags win"
    );
    assert_eq!(
        o.upstream,
        Upstream::Http(url::Url::parse("http://127.0.0.1:8080/").unwrap())
    );
    assert_eq!(
        o.sso.email_domains.as_deref(),
        Some(&["example.com".to_owned()][..])
    );

    let yaml = dir.join("gateway.yaml");
    std::fs::write(
        &yaml,
        format!(
            "upstreams: [static://200]\noidc_issuer_url: https://op.example.com\nclient_id: app\n\
             cookie_secret: {SECRET}\nredirect_url: https://gw.example.com/oauth2/callback\n\
             cookie_secure_typo: true\n"
        ),
    )
    .unwrap();
    let e = gateway(&[&format!("--config={}", yaml.display())])
        .map(|_| ())
        .unwrap_err();
    assert!(e.contains("cookie_secure_typo"), "{e}");
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "upstreams: [unclosed\n").unwrap();
    let e = gateway(&[&format!("--config={}", broken.display())])
        .map(|_| ())
        .unwrap_err();
    assert!(e.starts_with("invalid --config"), "{e}");
    let e = gateway(&["--config=/nonexistent/gateway.toml"])
        .map(|_| ())
        .unwrap_err();
    assert!(e.contains("--config") && e.contains("/nonexistent"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn oauth2_proxy_environment_variables_are_read() {
    // Through clap's `env`, as the binary does; Flags::try_parse_from reads the process
    // environment, so this test sets variables no other test uses.
    let flags = Flags::try_parse_from(["gateway"]).unwrap();
    assert!(flags.cookie_secret.is_none(), "a clean environment");
    let mut map = Map::new();
    for (k, v) in [
        ("upstreams", "static://200"),
        ("oidc_issuer_url", "https://op.example.com"),
        ("client_id", "app"),
        ("cookie_secret", SECRET),
        ("redirect_url", "https://gw.example.com/oauth2/callback"),
        ("email_domains", "a.com,b.com"),
        ("skip_jwt_bearer_tokens", "true"),
        ("reverse_proxy", "true"),
        ("trusted_proxy_ips", "10.0.0.0/8"),
    ] {
        map.insert(k.into(), Value::String(v.into()));
    }
    let o = Options::from_map(map).unwrap();
    assert!(o.reverse_proxy);
    assert_eq!(
        o.sso.email_domains.as_deref(),
        Some(&["a.com".to_owned(), "b.com".to_owned()][..])
    );
    assert_eq!(o.sso.skip_jwt_bearer_tokens, Some(true));
}

#[test]
fn forwarding_headers_are_believed_only_from_listed_proxies() {
    let base = [
        "--upstream=static://200",
        "--oidc-issuer-url=https://op.example.com",
        "--client-id=app",
        "--redirect-url=https://gw.example.com/oauth2/callback",
        "--email-domain=*",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["gateway", "--cookie-secret", SECRET];
        args.extend(base);
        args.extend(extra);
        Launch::parse_from(args)
    };
    // --reverse-proxy alone would trust nobody: that is an error, never a no-op.
    let e = run(&["--reverse-proxy"]).unwrap_err();
    assert!(
        e.0.contains("--reverse-proxy") && e.0.contains("--trusted-proxy-ip"),
        "{e}"
    );
    let e = run(&["--trusted-proxy-ip=10.0.0.1"]).unwrap_err();
    assert!(
        e.0.contains("--trusted-proxy-ip") && e.0.contains("--reverse-proxy"),
        "{e}"
    );
    let e = run(&["--reverse-proxy", "--trusted-proxy-ip=10.0.0.300"]).unwrap_err();
    assert!(
        e.0.contains("--trusted-proxy-ip") && e.0.contains("10.0.0.300"),
        "{e}"
    );
    let Launch::Gateway(o) =
        run(&["--reverse-proxy", "--trusted-proxy-ip=10.1.2.3/8,::1"]).unwrap()
    else {
        panic!("options were given")
    };
    assert_eq!(o.trusted_proxy_ips.len(), 2);
    assert_eq!(o.trusted_proxy_ips[0].to_string(), "10.0.0.0/8");
}
