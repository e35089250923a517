use super::*;

#[test]
fn go_durations() {
    assert_eq!(
        parse_go_duration("168h").unwrap(),
        Duration::from_secs(168 * 3600)
    );
    assert_eq!(
        parse_go_duration("1h30m").unwrap(),
        Duration::from_secs(5400)
    );
    assert_eq!(
        parse_go_duration("168h0m0s").unwrap(),
        Duration::from_secs(168 * 3600)
    );
    assert_eq!(
        parse_go_duration("500ms").unwrap(),
        Duration::from_millis(500)
    );
    assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
    for bad in ["", "10", "5d", "h", "1x", "100000000000000000h", "-5s"] {
        assert!(parse_go_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_oauth2_proxy_style_configuration_carries_over() {
    let settings: SsoSettings = serde_json::from_value(serde_json::json!({
        "provider": "oidc",
        "oidc_issuer_url": "https://idaas.example.com/v2/x/app_1/oidc",
        "client_id": "app_1", "client_secret": "s3cret",
        "redirect_url": "https://gw.example.com/oauth2/callback",
        "cookie_secret": "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
        "cookie_name": "_sso", "cookie_expire": "12h", "cookie_refresh": "1h",
        "cookie_samesite": "strict", "scope": "openid email",
        "email_domains": ["example.com"], "whitelist_domains": [".example.com"],
        "pass_access_token": true,
    }))
    .unwrap();
    let config = SsoConfig::try_from(settings).unwrap();
    assert_eq!(config.cookie.name, "_sso");
    assert_eq!(config.cookie_expire, Duration::from_secs(12 * 3600));
    assert_eq!(config.cookie_refresh, Duration::from_secs(3600));
    assert_eq!(config.cookie.same_site, SameSitePolicy::Strict);
    assert!(config.cookie.secure);
    assert_eq!(config.scopes, ["openid", "email"]);
    assert_eq!(
        config.headers.access_token.as_deref(),
        Some("x-forwarded-access-token")
    );
}

#[test]
fn bad_settings_name_the_option() {
    let base = serde_json::json!({
        "oidc_issuer_url": "https://op", "client_id": "c", "redirect_url": "https://a/cb",
        "cookie_secret": "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut s = base.clone();
        s[k] = v;
        serde_json::from_value::<SsoSettings>(s)
            .map_err(|e| e.to_string())
            .and_then(|s| SsoConfig::try_from(s).map_err(|e| e.to_string()))
    };
    assert!(
        with("cookie_secret", "short".into())
            .unwrap_err()
            .contains("cookie-secret")
    );
    assert!(
        with("cookie_expire", "7d".into())
            .unwrap_err()
            .contains("cookie-expire")
    );
    assert!(
        with("cookie_samesite", "sideways".into())
            .unwrap_err()
            .contains("cookie-samesite")
    );
    assert!(
        with("provider", "github".into())
            .unwrap_err()
            .contains("provider")
    );
    assert!(
        with("redirect_url", "/relative".into())
            .unwrap_err()
            .contains("redirect-url")
    );
    assert!(
        with("cookie_secure_typo", true.into())
            .unwrap_err()
            .contains("unknown field")
    );
}

const SECRET: &str = "q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=";

/// Complete settings as `OAUTH2_PROXY_*` variables, with `extra` after them.
fn env(extra: &[(&str, &str)]) -> Result<SsoConfig, String> {
    let base = [
        ("OAUTH2_PROXY_OIDC_ISSUER_URL", "https://op.example.com"),
        ("OAUTH2_PROXY_CLIENT_ID", "app"),
        ("OAUTH2_PROXY_CLIENT_SECRET", "s3cret"),
        (
            "OAUTH2_PROXY_REDIRECT_URL",
            "https://gw.example.com/oauth2/callback",
        ),
        ("OAUTH2_PROXY_COOKIE_SECRET", SECRET),
        ("OAUTH2_PROXY_EMAIL_DOMAINS", "example.com"),
        ("PATH", "/usr/bin"),
    ];
    let vars = base
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    SsoSettings::from_env_vars(vars)
        .and_then(SsoConfig::try_from)
        .map_err(|e| e.to_string())
}

#[test]
fn debug_shows_no_secret() {
    let settings: SsoSettings = serde_json::from_value(serde_json::json!({
        "oidc_issuer_url": "https://op.example.com", "client_id": "app",
        "client_secret": "client-s3cret", "cookie_secret": SECRET,
        "redirect_url": "https://gw.example.com/oauth2/callback",
        "session_store_type": "redis",
        "redis_connection_url": "redis://:url-pa55@redis:6379/0",
        "redis_password": "redis-pa55", "redis_sentinel_password": "sentinel-pa55",
        "redis_sentinel_connection_urls": ["redis://:s1-pa55@s1:26379"],
        "redis_cluster_connection_urls": ["redis://user:c1-pa55@c1:6379", "not a url"],
    }))
    .unwrap();
    let text = format!("{settings:?}");
    for secret in [
        "client-s3cret",
        SECRET,
        "url-pa55",
        "redis-pa55",
        "sentinel-pa55",
        "s1-pa55",
        "c1-pa55",
        "not a url",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("redis:6379") && text.contains("https://op.example.com"));
    assert!(text.contains("client_secret: \"[redacted]\""), "{text}");
    // And the configuration they make.
    let config = format!("{:?}", env(&[]).unwrap());
    assert!(config.contains("https://op.example.com"), "{config}");
    assert!(
        !config.contains("s3cret") && !config.contains(SECRET),
        "{config}"
    );
}

#[test]
fn unknown_environment_variables_are_refused_naming_them() {
    assert!(env(&[]).is_ok(), "{:?}", env(&[]));
    for name in [
        "OAUTH2_PROXY_ALLOWED_GROUPS",
        "OAUTH2_PROXY_ALLOWED_ROLES",
        "OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE",
        "OAUTH2_PROXY_COOKIE_SECRET_TYPO",
        "OAUTH2_PROXY_Cookie_Secure",
    ] {
        let e = env(&[(name, "admins")]).unwrap_err();
        assert!(e.contains(&format!("unknown option {name}")), "{e}");
        // An empty value names the option all the same.
        assert!(env(&[(name, "")]).is_err(), "{name}=");
    }
    // Kubernetes' links for a Service named oauth2-proxy are not options.
    for link in [
        ("OAUTH2_PROXY_SERVICE_HOST", "10.0.0.1"),
        ("OAUTH2_PROXY_SERVICE_PORT", "4180"),
        ("OAUTH2_PROXY_SERVICE_PORT_HTTP", "4180"),
        ("OAUTH2_PROXY_PORT", "tcp://10.0.0.1:4180"),
        ("OAUTH2_PROXY_PORT_4180_TCP", "tcp://10.0.0.1:4180"),
        ("OAUTH2_PROXY_PORT_4180_TCP_ADDR", "10.0.0.1"),
    ] {
        assert!(env(&[link]).is_ok(), "{link:?}");
    }
    // An empty known variable is unset, as oauth2-proxy's viper reads it.
    assert!(env(&[("OAUTH2_PROXY_COOKIE_SECURE", "")]).is_ok());
}

#[test]
fn no_email_domain_refuses_to_start_and_star_allows_everyone() {
    let base = serde_json::json!({
        "oidc_issuer_url": "https://op.example.com", "client_id": "app",
        "redirect_url": "https://gw.example.com/oauth2/callback", "cookie_secret": SECRET,
    });
    let with = |domains: Option<serde_json::Value>| {
        let mut s = base.clone();
        if let Some(d) = domains {
            s["email_domains"] = d;
        }
        SsoSettings::from_value(s)
            .and_then(SsoConfig::try_from)
            .map_err(|e| e.to_string())
    };
    for missing in [None, Some(serde_json::json!([])), Some("".into())] {
        let e = with(missing.clone()).unwrap_err();
        assert!(
            e.contains("email-domain") && e.contains("required"),
            "{missing:?}: {e}"
        );
    }
    assert_eq!(with(Some("*".into())).unwrap().email_domains, ["*"]);
    assert_eq!(
        with(Some(serde_json::json!(["example.com"])))
            .unwrap()
            .email_domains,
        ["example.com"]
    );
}

#[test]
fn options_that_would_have_no_effect_are_refused() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OAUTH2_PROXY_EXTRA_JWT_ISSUERS", "https://other=api")],
            "extra-jwt-issuers",
        ),
        (
            &[
                ("OAUTH2_PROXY_PROVIDER_LOGOUT", "false"),
                ("OAUTH2_PROXY_PROVIDER_LOGOUT_URL", "https://op/logout"),
            ],
            "provider-logout-url",
        ),
        (
            &[("OAUTH2_PROXY_REDIS_CONNECTION_URL", "redis://r:6379")],
            "redis-connection-url",
        ),
        (&[("OAUTH2_PROXY_REDIS_PASSWORD", "p")], "redis-password"),
        (
            &[
                ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
                ("OAUTH2_PROXY_REDIS_CONNECTION_URL", "redis://r:6379"),
                ("OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME", "m"),
            ],
            "redis-sentinel-master-name",
        ),
        (
            &[
                ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
                ("OAUTH2_PROXY_REDIS_USE_CLUSTER", "true"),
                (
                    "OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS",
                    "redis://c:6379",
                ),
                ("OAUTH2_PROXY_REDIS_CONNECTION_URL", "redis://r:6379"),
            ],
            "redis-connection-url",
        ),
    ];
    for (extra, flag) in cases {
        let e = env(extra).unwrap_err();
        assert!(
            e.contains(flag) && e.contains("no effect"),
            "{extra:?}: {e}"
        );
    }
    assert!(
        env(&[
            ("OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS", "true"),
            ("OAUTH2_PROXY_EXTRA_JWT_ISSUERS", "https://other=api"),
        ])
        .is_ok()
    );
}

#[cfg(feature = "redis")]
#[test]
fn the_redis_password_reaches_a_single_server() {
    use crate::sso::session::redis::RedisTopology;
    let settings = |url: &str| {
        SsoSettings::from_value(serde_json::json!({
            "oidc_issuer_url": "https://op.example.com", "client_id": "app",
            "redirect_url": "https://gw.example.com/oauth2/callback", "cookie_secret": SECRET,
            "session_store_type": "redis", "redis_connection_url": url,
            "redis_password": "pa55",
        }))
        .unwrap()
    };
    for url in ["redis://redis:6379/0", "redis://:old@redis:6379/0"] {
        let Some(RedisTopology::Single(url)) = settings(url).redis_topology().unwrap() else {
            panic!("a single server");
        };
        assert_eq!(url, "redis://:pa55@redis:6379/0");
    }
}
