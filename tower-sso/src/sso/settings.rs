//! The SSO configuration as data (TOML, YAML, JSON, environment), with oauth2-proxy's
//! option names, so an existing oauth2-proxy configuration carries over.

use std::time::Duration;

use serde::Deserialize;

use super::config::{SsoConfig, UpstreamToken};
use super::session::cookie::SameSitePolicy;
use crate::error::ConfigError;

/// oauth2-proxy's options that the SSO layer understands (config-file spelling:
/// `oidc_issuer_url`, `cookie_expire = "168h"`, ...). Unknown options are errors.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct SsoSettings {
    pub provider: Option<String>,
    pub oidc_issuer_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: String,
    pub client_secret_file: Option<String>,
    pub redirect_url: String,
    pub cookie_secret: String,
    pub cookie_name: Option<String>,
    pub cookie_domains: Option<Vec<String>>,
    pub cookie_path: Option<String>,
    pub cookie_secure: Option<bool>,
    pub cookie_httponly: Option<bool>,
    pub cookie_samesite: Option<String>,
    pub cookie_expire: Option<String>,
    pub cookie_refresh: Option<String>,
    pub scope: Option<String>,
    pub prompt: Option<String>,
    pub proxy_prefix: Option<String>,
    pub email_domains: Option<Vec<String>>,
    pub whitelist_domains: Option<Vec<String>>,
    pub pass_access_token: Option<bool>,
    pub pass_authorization_header: Option<bool>,
}

/// A Go duration as oauth2-proxy writes them: `168h`, `1h30m`, `90s`, `500ms`, `0`.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: a number needs a unit (h, m, s, ms)"))?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            other => return Err(format!("{text:?}: unknown unit {other:?}")),
        };
        total += Duration::from_secs_f64(value * seconds);
        rest = next;
    }
    Ok(total)
}

impl TryFrom<SsoSettings> for SsoConfig {
    type Error = ConfigError;

    fn try_from(s: SsoSettings) -> Result<SsoConfig, ConfigError> {
        let invalid = |what, reason: String| ConfigError::Invalid { what, reason };
        if let Some(p) = s.provider.as_deref()
            && p != "oidc"
        {
            return Err(invalid(
                "provider",
                format!("{p:?}: only oidc is supported"),
            ));
        }
        let secret = match (&s.client_secret_file, s.client_secret.is_empty()) {
            (Some(file), true) => std::fs::read_to_string(file)
                .map_err(|e| invalid("client-secret-file", format!("{file}: {e}")))?
                .trim()
                .to_owned(),
            (Some(_), false) => {
                return Err(invalid(
                    "client-secret-file",
                    "set either client_secret or client_secret_file".into(),
                ));
            }
            (None, _) => s.client_secret.clone(),
        };
        let mut config = SsoConfig::new(
            &s.oidc_issuer_url,
            &s.client_id,
            &secret,
            &s.redirect_url,
            &s.cookie_secret,
        )?;
        if let Some(name) = s.cookie_name {
            config.cookie.name = name;
        }
        if let Some(domain) = s.cookie_domains.and_then(|d| d.into_iter().next()) {
            config.cookie.domain = Some(domain);
        }
        if let Some(path) = s.cookie_path {
            config.cookie.path = path;
        }
        if let Some(secure) = s.cookie_secure {
            config.cookie.secure = secure;
        }
        if let Some(http_only) = s.cookie_httponly {
            config.cookie.http_only = http_only;
        }
        if let Some(same_site) = s.cookie_samesite.as_deref() {
            config.cookie.same_site = match same_site.to_ascii_lowercase().as_str() {
                "lax" | "" => SameSitePolicy::Lax,
                "strict" => SameSitePolicy::Strict,
                "none" => SameSitePolicy::None,
                other => {
                    return Err(invalid(
                        "cookie-samesite",
                        format!("{other:?}: lax, strict or none"),
                    ));
                }
            };
        }
        if let Some(expire) = s.cookie_expire.as_deref() {
            let d = parse_go_duration(expire).map_err(|e| invalid("cookie-expire", e))?;
            config = config.cookie_expire(d);
        }
        if let Some(refresh) = s.cookie_refresh.as_deref() {
            config.cookie_refresh =
                parse_go_duration(refresh).map_err(|e| invalid("cookie-refresh", e))?;
        }
        if let Some(scope) = s.scope {
            config.scopes = scope.split_whitespace().map(str::to_owned).collect();
        }
        config.prompt = s.prompt;
        if let Some(prefix) = s.proxy_prefix {
            config.proxy_prefix = prefix;
        }
        if let Some(domains) = s.email_domains {
            config.email_domains = domains;
        }
        if let Some(domains) = s.whitelist_domains {
            config.allowed_redirect_domains = domains;
        }
        if s.pass_access_token == Some(true) {
            config.headers.access_token = Some("x-forwarded-access-token".into());
        }
        if s.pass_authorization_header == Some(false) {
            config.upstream_token = UpstreamToken::None;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
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
        for bad in ["", "10", "5d", "h", "1x"] {
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
}
