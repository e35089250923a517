//! The SSO configuration as data (TOML, YAML, JSON, environment), with oauth2-proxy's
//! option names, so an existing oauth2-proxy configuration carries over.

use std::time::Duration;

use serde::Deserialize;

use super::config::{SsoConfig, UpstreamToken};
use super::rules::{MatchRules, PathRule};
use super::session::cookie::SameSitePolicy;
use crate::error::ConfigError;

mod env;
mod redact;

pub use env::env_option;

/// oauth2-proxy's options that the SSO layer understands (config-file spelling:
/// `oidc_issuer_url`, `cookie_expire = "168h"`, ...), and a few of ours where oauth2-proxy
/// has none (`match_mode`, `match_paths`, `provider_logout`, `provider_logout_url`).
/// Unknown options are errors. Booleans and lists may also be written as strings
/// (`"true"`, `"a.com,b.com"`), as environment variables carry them. `Debug` shows no
/// secret: the client and cookie secrets, Redis passwords and the passwords in Redis URLs
/// are redacted.
#[derive(Clone, Default, Deserialize)]
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
    #[serde(default, deserialize_with = "flex::list")]
    pub cookie_domains: Option<Vec<String>>,
    pub cookie_path: Option<String>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub cookie_secure: Option<bool>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub cookie_httponly: Option<bool>,
    pub cookie_samesite: Option<String>,
    /// How long a session lasts after login (default `168h`). `0` makes a browser-session
    /// cookie (no `Max-Age`), as oauth2-proxy's `--cookie-expire=0`; unlike oauth2-proxy,
    /// the session still ends server-side 24 h after login
    /// ([`BROWSER_SESSION_MAX_AGE`](super::config::BROWSER_SESSION_MAX_AGE)), so a copied
    /// cookie does not live forever. A signed-out cookie session is refused until then.
    pub cookie_expire: Option<String>,
    /// Refresh the tokens this long after they were issued (must be shorter than
    /// `cookie_expire`, or than 24 h with `cookie_expire = "0"`).
    pub cookie_refresh: Option<String>,
    pub scope: Option<String>,
    pub prompt: Option<String>,
    pub proxy_prefix: Option<String>,
    #[serde(default, deserialize_with = "flex::list")]
    pub email_domains: Option<Vec<String>>,
    #[serde(default, deserialize_with = "flex::list")]
    pub whitelist_domains: Option<Vec<String>>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub pass_access_token: Option<bool>,
    /// The ID token upstream as `Authorization: Bearer` (default false, as oauth2-proxy;
    /// `SsoConfig::new` itself defaults to passing it).
    #[serde(default, deserialize_with = "flex::boolean")]
    pub pass_authorization_header: Option<bool>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub skip_jwt_bearer_tokens: Option<bool>,
    /// Accept an `email` whose `email_verified` is false (default false, as oauth2-proxy).
    #[serde(default, deserialize_with = "flex::boolean")]
    pub insecure_oidc_allow_unverified_email: Option<bool>,
    /// `issuer=audience` pairs.
    #[serde(default, deserialize_with = "flex::list")]
    pub extra_jwt_issuers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub set_xauthrequest: Option<bool>,
    /// `METHOD=regex`, `METHOD!=regex`, `regex`, `!=regex`: no login needed.
    #[serde(default, deserialize_with = "flex::list")]
    pub skip_auth_routes: Option<Vec<String>>,
    /// oauth2-proxy's older form of `skip_auth_routes`: path regexes.
    #[serde(default, deserialize_with = "flex::list")]
    pub skip_auth_regex: Option<Vec<String>>,
    /// Ours (seed 001): `bypass_if_matched` (default) or `authenticate_if_matched`.
    pub match_mode: Option<String>,
    /// Ours: the paths of `match_mode`, Istio-style (`/exact`, `/prefix*`, `*.suffix`),
    /// optionally `METHOD=path`.
    #[serde(default, deserialize_with = "flex::list")]
    pub match_paths: Option<Vec<String>>,
    /// Ours: `sign_out` also ends the provider session ("single-step logout").
    #[serde(default, deserialize_with = "flex::boolean")]
    pub provider_logout: Option<bool>,
    /// Ours: the IdP logout URL (else the discovered `end_session_endpoint`); implies
    /// `provider_logout`.
    pub provider_logout_url: Option<String>,
    /// `cookie` (default) or `redis`.
    pub session_store_type: Option<String>,
    pub redis_connection_url: Option<String>,
    pub redis_password: Option<String>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub redis_use_sentinel: Option<bool>,
    pub redis_sentinel_master_name: Option<String>,
    #[serde(default, deserialize_with = "flex::list")]
    pub redis_sentinel_connection_urls: Option<Vec<String>>,
    pub redis_sentinel_password: Option<String>,
    #[serde(default, deserialize_with = "flex::boolean")]
    pub redis_use_cluster: Option<bool>,
    #[serde(default, deserialize_with = "flex::list")]
    pub redis_cluster_connection_urls: Option<Vec<String>>,
}

/// Booleans and lists that may arrive as strings (environment variables).
mod flex {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrText {
        Bool(bool),
        Text(String),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }

    pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<BoolOrText>::deserialize(d)? {
            None => Ok(None),
            Some(BoolOrText::Bool(b)) => Ok(Some(b)),
            Some(BoolOrText::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                other => Err(serde::de::Error::custom(format!(
                    "{other:?} is not a boolean (true or false)"
                ))),
            },
        }
    }

    pub(super) fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        Ok(match Option::<ListOrText>::deserialize(d)? {
            None => None,
            Some(ListOrText::List(l)) => Some(l),
            Some(ListOrText::Text(t)) => Some(
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        })
    }
}

/// The option names [`SsoSettings`] accepts, as serde sees them.
fn field_names() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    struct Names(&'static [&'static str]);
    impl<'de> de::Deserializer<'de> for &mut Names {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("names only"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("names only"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    static NAMES: std::sync::OnceLock<&'static [&'static str]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = Names(&[]);
        let _ = SsoSettings::deserialize(&mut names);
        names.0
    })
}

impl SsoSettings {
    /// The option names these settings accept (config-file spelling: `cookie_secret`).
    pub fn option_names() -> &'static [&'static str] {
        field_names()
    }

    /// Where sessions live: `None` for the cookie store, else the Redis topology
    /// (`session_store_type = "redis"` with `redis_connection_url`, or
    /// `redis_use_sentinel` / `redis_use_cluster` and their URLs).
    #[cfg(feature = "redis")]
    pub fn redis_topology(
        &self,
    ) -> Result<Option<super::session::redis::RedisTopology>, ConfigError> {
        use super::session::redis::RedisTopology;
        let invalid = |what, reason: &str| ConfigError::Invalid {
            what,
            reason: reason.to_owned(),
        };
        match self.session_store_type.as_deref() {
            None | Some("cookie") => return Ok(None),
            Some("redis") => {}
            Some(_) => return Err(invalid("session-store-type", "cookie or redis")),
        }
        let urls = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        match (
            self.redis_use_sentinel == Some(true),
            self.redis_use_cluster == Some(true),
        ) {
            (true, true) => Err(invalid(
                "redis-use-sentinel",
                "choose Sentinel or Cluster, not both",
            )),
            (true, false) => {
                let sentinels = urls(&self.redis_sentinel_connection_urls);
                let master_name = self.redis_sentinel_master_name.clone().unwrap_or_default();
                if sentinels.is_empty() || master_name.is_empty() {
                    return Err(invalid(
                        "redis-sentinel-connection-urls",
                        "Sentinel needs --redis-sentinel-master-name and --redis-sentinel-connection-urls",
                    ));
                }
                Ok(Some(RedisTopology::Sentinel {
                    master_name,
                    sentinels,
                    password: self.redis_password.clone(),
                    sentinel_password: self.redis_sentinel_password.clone(),
                }))
            }
            (false, true) => {
                let nodes = urls(&self.redis_cluster_connection_urls);
                if nodes.is_empty() {
                    return Err(invalid(
                        "redis-cluster-connection-urls",
                        "a Cluster needs at least one node URL",
                    ));
                }
                Ok(Some(RedisTopology::Cluster {
                    nodes,
                    password: self.redis_password.clone(),
                }))
            }
            (false, false) => match self.redis_connection_url.as_deref() {
                Some(url) if !url.is_empty() => {
                    Ok(Some(RedisTopology::Single(self.with_redis_password(url)?)))
                }
                _ => Err(invalid(
                    "redis-connection-url",
                    "the redis session store needs --redis-connection-url",
                )),
            },
        }
    }

    /// `url` with `--redis-password` in it (which wins over one the URL has, as in
    /// oauth2-proxy).
    #[cfg(feature = "redis")]
    fn with_redis_password(&self, url: &str) -> Result<String, ConfigError> {
        let Some(password) = self.redis_password.as_deref().filter(|p| !p.is_empty()) else {
            return Ok(url.to_owned());
        };
        let invalid = |reason: &str| ConfigError::Invalid {
            what: "redis-password",
            reason: reason.to_owned(),
        };
        let mut parsed =
            url::Url::parse(url).map_err(|_| invalid("--redis-connection-url is not a URL"))?;
        parsed
            .set_password(Some(password))
            .map_err(|()| invalid("--redis-connection-url cannot carry a password"))?;
        Ok(parsed.to_string())
    }

    /// Refuses options that are set but would have no effect with the others, so none is
    /// silently ignored (`--extra-jwt-issuers` without `--skip-jwt-bearer-tokens`, Redis
    /// options with the cookie store, Sentinel options without `--redis-use-sentinel`, ...).
    fn check_no_option_ignored(&self) -> Result<(), ConfigError> {
        let text = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        let list = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|l| !l.is_empty());
        let redis = self.session_store_type.as_deref() == Some("redis");
        let sentinel = self.redis_use_sentinel == Some(true);
        let cluster = self.redis_use_cluster == Some(true);
        let skip_jwt = self.skip_jwt_bearer_tokens == Some(true);
        let checks: [(&'static str, bool, bool, &str); 10] = [
            (
                "extra-jwt-issuers",
                list(&self.extra_jwt_issuers),
                skip_jwt,
                "--skip-jwt-bearer-tokens",
            ),
            (
                "provider-logout-url",
                text(&self.provider_logout_url),
                self.provider_logout != Some(false),
                "--provider-logout (it is set to false)",
            ),
            (
                "redis-connection-url",
                text(&self.redis_connection_url),
                redis && !sentinel && !cluster,
                "--session-store-type=redis, and not with Sentinel or Cluster",
            ),
            (
                "redis-password",
                text(&self.redis_password),
                redis,
                "--session-store-type=redis",
            ),
            (
                "redis-use-sentinel",
                sentinel,
                redis,
                "--session-store-type=redis",
            ),
            (
                "redis-sentinel-master-name",
                text(&self.redis_sentinel_master_name),
                redis && sentinel,
                "--session-store-type=redis and --redis-use-sentinel",
            ),
            (
                "redis-sentinel-connection-urls",
                list(&self.redis_sentinel_connection_urls),
                redis && sentinel,
                "--session-store-type=redis and --redis-use-sentinel",
            ),
            (
                "redis-sentinel-password",
                text(&self.redis_sentinel_password),
                redis && sentinel,
                "--session-store-type=redis and --redis-use-sentinel",
            ),
            (
                "redis-use-cluster",
                cluster,
                redis,
                "--session-store-type=redis",
            ),
            (
                "redis-cluster-connection-urls",
                list(&self.redis_cluster_connection_urls),
                redis && cluster,
                "--session-store-type=redis and --redis-use-cluster",
            ),
        ];
        for (what, set, effective, needs) in checks {
            if set && !effective {
                return Err(ConfigError::Invalid {
                    what,
                    reason: format!("has no effect without {needs}; remove it or set that"),
                });
            }
        }
        Ok(())
    }

    /// The SSO these settings describe, with its session store (connecting to Redis when
    /// configured).
    pub async fn build(self) -> Result<super::Sso, ConfigError> {
        self.build_with_http(None).await
    }

    /// As [`SsoSettings::build`], talking to the provider through `http` (default: the
    /// reqwest client), e.g. one that records metrics.
    pub async fn build_with_http(
        self,
        http: Option<oidc_core::http::SharedHttpClient>,
    ) -> Result<super::Sso, ConfigError> {
        #[cfg(feature = "redis")]
        let topology = self.redis_topology()?;
        #[cfg(not(feature = "redis"))]
        if self
            .session_store_type
            .as_deref()
            .is_some_and(|t| t != "cookie")
        {
            return Err(ConfigError::Invalid {
                what: "session-store-type",
                reason: "this build has no redis support (feature `redis`)".into(),
            });
        }
        let mut config = SsoConfig::try_from(self)?;
        if http.is_some() {
            config.http = http;
        }
        #[cfg(feature = "redis")]
        if let Some(topology) = topology {
            let codec = std::sync::Arc::new(super::session::codec::Codec::new(
                &config.cookie_secret,
                &config.previous_cookie_secrets,
            )?);
            let store = super::session::redis::RedisStore::connect_to(
                &topology,
                codec.clone(),
                config.cookie.clone(),
                config.session_max_age(),
            )
            .await?;
            return super::Sso::with_store(config, codec, std::sync::Arc::new(store));
        }
        super::Sso::new(config)
    }

    /// The settings in a JSON value (what TOML and YAML documents deserialize into too).
    pub fn from_value(value: serde_json::Value) -> Result<SsoSettings, ConfigError> {
        serde_path_to_error::deserialize(value).map_err(|e| ConfigError::Invalid {
            what: "settings",
            reason: match e.path().to_string().as_str() {
                "." => e.inner().to_string(),
                path => format!("{path}: {}", e.inner()),
            },
        })
    }
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
        let part = Duration::try_from_secs_f64(value * seconds)
            .map_err(|_| format!("{text:?}: out of range"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{text:?}: out of range"))?;
        rest = next;
    }
    Ok(total)
}

impl TryFrom<SsoSettings> for SsoConfig {
    type Error = ConfigError;

    fn try_from(s: SsoSettings) -> Result<SsoConfig, ConfigError> {
        let invalid = |what, reason: String| ConfigError::Invalid { what, reason };
        s.check_no_option_ignored()?;
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
        match s.cookie_domains.as_deref() {
            None | Some([]) => {}
            Some([domain]) => config.cookie.domain = Some(domain.clone()),
            Some(_) => {
                return Err(invalid(
                    "cookie-domain",
                    "one domain only (oauth2-proxy picks among several by the request's host; we do not)"
                        .into(),
                ));
            }
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
        // As oauth2-proxy: no --email-domain at all refuses to start; `*` allows everyone.
        match s.email_domains {
            Some(domains) if !domains.is_empty() => config.email_domains = domains,
            _ => {
                return Err(invalid(
                    "email-domain",
                    "is required: the e-mail domains allowed in, or * for every address".into(),
                ));
            }
        }
        if let Some(domains) = s.whitelist_domains {
            config.allowed_redirect_domains = domains;
        }
        if s.pass_access_token == Some(true) {
            config.headers.access_token = Some("x-forwarded-access-token".into());
        }
        // oauth2-proxy's default: no token upstream unless --pass-authorization-header.
        if s.pass_authorization_header != Some(true) {
            config.upstream_token = UpstreamToken::None;
        }
        config.skip_jwt_bearer_tokens = s.skip_jwt_bearer_tokens == Some(true);
        config.insecure_allow_unverified_email =
            s.insecure_oidc_allow_unverified_email == Some(true);
        for pair in s.extra_jwt_issuers.iter().flatten() {
            let Some((issuer, audience)) = pair
                .split_once('=')
                .filter(|(i, a)| url::Url::parse(i).is_ok() && !a.is_empty())
            else {
                return Err(invalid(
                    "extra-jwt-issuers",
                    format!("{pair:?}: write issuer=audience, the issuer an absolute URL"),
                ));
            };
            config
                .extra_jwt_issuers
                .push((issuer.to_owned(), audience.to_owned()));
        }
        config.set_xauthrequest = s.set_xauthrequest == Some(true);
        let mut skipped = Vec::new();
        for route in s.skip_auth_routes.iter().flatten() {
            skipped.push(
                PathRule::oauth2_proxy_route(route)
                    .map_err(|e| invalid("skip-auth-route", e.to_string()))?,
            );
        }
        for regex in s.skip_auth_regex.iter().flatten() {
            // A path regex only: a `=` in it is not a method separator here.
            let route = format!("={regex}");
            skipped.push(
                PathRule::oauth2_proxy_route(&route)
                    .map_err(|e| invalid("skip-auth-regex", e.to_string()))?,
            );
        }
        let paths: Vec<PathRule> = s
            .match_paths
            .iter()
            .flatten()
            .map(|p| PathRule::parse_istio(p))
            .collect();
        let rules = match s.match_mode.as_deref() {
            None | Some("bypass_if_matched") => MatchRules::bypass_if_matched(paths),
            Some("authenticate_if_matched") => MatchRules::authenticate_if_matched(paths),
            Some(other) => {
                return Err(invalid(
                    "match-mode",
                    format!("{other:?}: bypass_if_matched or authenticate_if_matched"),
                ));
            }
        };
        config.rules = rules.skip(skipped);
        if let Some(url) = s.provider_logout_url.as_deref() {
            config.provider_logout_url = Some(
                url::Url::parse(url)
                    .map_err(|e| invalid("provider-logout-url", format!("{url:?}: {e}")))?,
            );
            config.provider_logout = true;
        }
        if let Some(on) = s.provider_logout {
            config.provider_logout = on;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests;
