use super::*;

const SECRET: &str = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=";

fn gateway(args: &[&str]) -> Result<Options, String> {
    gateway_env(args, &[])
}

/// The gateway's options from `args` with `env` as the process environment.
fn gateway_env(args: &[&str], env: &[(&str, &str)]) -> Result<Options, String> {
    let mut all = vec!["gateway"];
    all.extend_from_slice(args);
    match Launch::parse_from(all, vars(env)).map_err(|e| e.0)? {
        Launch::Gateway(options) => Ok(*options),
        Launch::Demo => Err("demo".into()),
    }
}

fn vars(env: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    env.iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
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
        Launch::parse_from(["gateway"], vars(&[("PATH", "/bin")])).unwrap(),
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
fn oauth2_proxy_environment_variables_are_read_under_the_flags() {
    let env = [
        ("OAUTH2_PROXY_UPSTREAMS", "static://200"),
        ("OAUTH2_PROXY_OIDC_ISSUER_URL", "https://op.example.com"),
        ("OAUTH2_PROXY_CLIENT_ID", "app"),
        ("OAUTH2_PROXY_COOKIE_SECRET", SECRET),
        (
            "OAUTH2_PROXY_REDIRECT_URL",
            "https://gw.example.com/oauth2/callback",
        ),
        ("OAUTH2_PROXY_EMAIL_DOMAINS", "a.com,b.com"),
        ("OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS", "true"),
        ("OAUTH2_PROXY_REVERSE_PROXY", "true"),
        ("OAUTH2_PROXY_TRUSTED_PROXY_IPS", "10.0.0.0/8"),
        ("OAUTH2_PROXY_SKIP_AUTH_ROUTES", "^/a{1,2}$"),
        ("OAUTH2_PROXY_HTTP_ADDRESS", "127.0.0.1:9000"),
        ("OAUTH2_PROXY_COOKIE_SECURE", ""),
        ("HOME", "/root"),
    ];
    let o = gateway_env(&[], &env).unwrap();
    assert!(o.reverse_proxy);
    assert_eq!(o.http_address, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(
        o.sso.email_domains.as_deref(),
        Some(&["a.com".to_owned(), "b.com".to_owned()][..])
    );
    assert_eq!(o.sso.skip_jwt_bearer_tokens, Some(true));
    assert_eq!(
        o.sso.skip_auth_routes.as_deref(),
        Some(&["^/a{1,2}$".to_owned()][..]),
        "one regex per variable"
    );
    assert_eq!(o.sso.cookie_secure, None, "an empty variable is unset");
    let o = gateway_env(&["--http-address=127.0.0.1:9001"], &env).unwrap();
    assert_eq!(
        o.http_address,
        "127.0.0.1:9001".parse().unwrap(),
        "flags win"
    );
}

#[test]
fn variables_keys_and_flags_the_gateway_lacks_are_refused_naming_them() {
    let args: Vec<String> = base();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(gateway_env(&args, &[]).is_ok());
    // oauth2-proxy's options with no counterpart here: with them set, oauth2-proxy would
    // restrict who gets in; ignoring them would let everyone in.
    for (name, flag) in [
        ("OAUTH2_PROXY_ALLOWED_GROUPS", "--allowed-group"),
        ("OAUTH2_PROXY_ALLOWED_ROLES", "--allowed-role"),
        (
            "OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE",
            "--authenticated-emails-file",
        ),
        ("OAUTH2_PROXY_TRUSTED_IPS", "--trusted-ip"),
        ("OAUTH2_PROXY_COOKIE_SECURE_TYPO", "--cookie-secure-typo"),
        ("OAUTH2_PROXY_CHECK_CONFIG", "--check-config"),
    ] {
        let e = gateway_env(&args, &[(name, "admins")]).unwrap_err();
        assert_eq!(
            e,
            format!("unknown option {name} ({flag}): not implemented by this gateway")
        );
        // The demo is no way around it either.
        let e = Launch::parse_from(["gateway"], vars(&[(name, "admins")])).unwrap_err();
        assert!(e.0.contains(name), "{e}");
    }
    // Kubernetes' links for a Service named oauth2-proxy are not options.
    let links = [
        ("OAUTH2_PROXY_SERVICE_HOST", "10.0.0.1"),
        ("OAUTH2_PROXY_PORT_4180_TCP_ADDR", "10.0.0.1"),
        ("OAUTH2_PROXY_PORT", "tcp://10.0.0.1:4180"),
    ];
    assert!(gateway_env(&args, &links).is_ok());
    assert!(matches!(
        Launch::parse_from(["gateway"], vars(&links)).unwrap(),
        Launch::Demo
    ));
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt as _;
        let name = OsString::from_vec(b"OAUTH2_PROXY_\xff".to_vec());
        let e = Launch::parse_from(args.clone(), [(name, "x".into())]).unwrap_err();
        assert!(e.0.starts_with("unknown option OAUTH2_PROXY_"), "{e}");
        let value = OsString::from_vec(b"\xff".to_vec());
        let e =
            Launch::parse_from(args.clone(), [("OAUTH2_PROXY_SCOPE".into(), value)]).unwrap_err();
        assert_eq!(e.0, "invalid OAUTH2_PROXY_SCOPE: not UTF-8");
    }
    // A flag, as clap refuses it.
    let e = with(&["--allowed-group=admins"]).unwrap_err();
    assert!(e.contains("--allowed-group"), "{e}");
    // A config-file key.
    let dir = std::env::temp_dir().join(format!("gw-unknown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in [
        ("a.toml", "allowed_groups = [\"admins\"]\n"),
        ("a.yaml", "allowed_groups: [admins]\n"),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let e = with(&[&format!("--config={}", path.display())]).unwrap_err();
        assert_eq!(
            e,
            "unknown option allowed_groups (--allowed-group): not implemented by this gateway"
        );
        // OAUTH2_PROXY_CONFIG names the file as --config does.
        let e = gateway_env(
            &args,
            &[("OAUTH2_PROXY_CONFIG", &path.display().to_string())],
        )
        .unwrap_err();
        assert!(e.contains("allowed_groups"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_email_domain_refuses_to_start_and_star_allows_everyone() {
    let mut args = base();
    args.retain(|a| !a.starts_with("--email-domain"));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let e = gateway(&refs).unwrap_err();
    assert!(
        e.contains("--email-domain") && e.contains("required"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    let o = gateway_env(&refs, &[("OAUTH2_PROXY_EMAIL_DOMAINS", "*")]).unwrap();
    assert_eq!(o.sso.email_domains.as_deref(), Some(&["*".to_owned()][..]));
}

#[test]
fn compatibility_options_accept_only_the_value_we_honour() {
    // Our answers carry Authorization exactly when the token goes upstream.
    assert!(with(&["--set-authorization-header", "--pass-authorization-header"]).is_ok());
    assert!(with(&["--set-authorization-header=false"]).is_ok());
    for refused in [
        &["--set-authorization-header=true"][..],
        &[
            "--set-authorization-header=false",
            "--pass-authorization-header",
        ][..],
    ] {
        let e = with(refused).unwrap_err();
        assert!(e.starts_with("invalid --set-authorization-header"), "{e}");
    }
    // There is no sign-in page: users always go straight to the provider.
    assert!(with(&["--skip-provider-button"]).is_ok());
    let e = with(&["--skip-provider-button=false"]).unwrap_err();
    assert!(e.starts_with("invalid --skip-provider-button"), "{e}");
    // Options that would have no effect.
    let e = with(&["--extra-jwt-issuers=https://other.example.com=api"]).unwrap_err();
    assert!(
        e.contains("extra-jwt-issuers") && e.contains("--skip-jwt-bearer-tokens"),
        "{e}"
    );
    let e = with(&["--redis-connection-url=redis://r:6379"]).unwrap_err();
    assert!(
        e.contains("redis-connection-url") && e.contains("no effect"),
        "{e}"
    );
}

#[test]
fn debug_shows_no_secret() {
    let secrets = [
        "client-s3cret",
        SECRET,
        "redis-pa55",
        "url-pa55",
        "sentinel-pa55",
        "node-pa55",
    ];
    let args = [
        "gateway",
        "--upstream=static://200",
        "--client-secret=client-s3cret",
        &format!("--cookie-secret={SECRET}"),
        "--redis-password=redis-pa55",
        "--redis-connection-url=redis://:url-pa55@redis:6379",
        "--redis-sentinel-password=sentinel-pa55",
        "--redis-sentinel-connection-urls=redis://:node-pa55@s1:26379",
        "--redis-cluster-connection-urls=redis://:node-pa55@c1:6379",
    ];
    let flags = Flags::try_parse_from(args).unwrap();
    let text = format!("{flags:?}");
    assert!(text.contains("static://200"), "{text}");
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let o = with(&[
        "--session-store-type=redis",
        "--redis-connection-url=redis://:url-pa55@redis:6379",
        "--redis-password=redis-pa55",
    ])
    .unwrap();
    let launch = Launch::Gateway(Box::new(o.clone()));
    for text in [format!("{o:?}"), format!("{launch:?}")] {
        assert!(text.contains("redis:6379"), "{text}");
        for secret in secrets.iter().chain(&["s3cret"]) {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn every_flag_is_also_a_variable_and_clap_reads_none_itself() {
    use clap::CommandFactory as _;
    for arg in Flags::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        assert!(
            arg.get_env().is_none(),
            "--{long}: variables go through Launch::from_flags, which refuses unknown ones"
        );
        if ["config", "check-config", "help", "version"].contains(&long) {
            continue;
        }
        let option = PLURAL_OPTIONS
            .iter()
            .find(|(_, flag)| *flag == long)
            .map_or_else(
                || long.replace('-', "_"),
                |(option, _)| (*option).to_owned(),
            );
        assert!(
            implemented(&option),
            "--{long}: {option} is not implemented"
        );
        assert_eq!(flag_of(&option), format!("--{long}"));
    }
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
        Launch::parse_from(args, vars(&[]))
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
