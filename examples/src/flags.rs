//! The gateway's options with oauth2-proxy's names: flags (`--cookie-secret`), environment
//! variables (`OAUTH2_PROXY_COOKIE_SECRET`) and a configuration file (`cookie_secret = ..`,
//! TOML or YAML). Flags and variables override the file, as in oauth2-proxy.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde_json::{Map, Value};
use tower_sso::sso::settings::{SsoSettings, parse_go_duration};

mod env;
mod redact;

#[cfg(test)]
use env::{PLURAL_OPTIONS, flag_of};
use env::{env_options, implemented, unknown};

/// A configuration error, for one line on stderr: which option, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError(pub String);

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FlagError {}

impl FlagError {
    /// The first line of clap's message (`unexpected argument '--x' found`).
    pub fn from_clap(e: &clap::Error) -> FlagError {
        let text = e.render().to_string();
        let line = text.lines().next().unwrap_or("invalid command line");
        FlagError(line.trim_start_matches("error: ").to_owned())
    }
}

fn invalid(flag: &str, reason: impl std::fmt::Display) -> FlagError {
    FlagError(format!("invalid --{flag}: {reason}"))
}

/// The command line. Every option also reads `OAUTH2_PROXY_<NAME>` (the config-file name
/// in upper case; lists there are comma-separated), through [`Launch::from_flags`], which
/// refuses a variable naming an option the gateway does not implement. `Debug` shows no
/// secret.
#[derive(Default, Parser)]
#[command(
    name = "gateway",
    version,
    about = "An SSO gateway and ext_authz server with oauth2-proxy's options and Istio's policies.\n\
             With no options at all it runs the demo: a development identity provider, a demo app and the gateway in front of it.",
    after_help = "Every option can also be set in the environment as OAUTH2_PROXY_<NAME>, NAME being its \
                  config-file name in upper case (OAUTH2_PROXY_COOKIE_SECRET, OAUTH2_PROXY_UPSTREAMS=a,b). \
                  Flags win over variables, variables over --config. An option, variable or config-file key \
                  this gateway does not implement (oauth2-proxy's --allowed-group, say) is an error."
)]
#[allow(missing_docs)]
pub struct Flags {
    /// A TOML (.toml) or YAML (.yaml, .yml) file with options in oauth2-proxy's
    /// config-file spelling (`http_address`, `upstreams`, `cookie_secret`, ...).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Checks the options, the policies (with the linter) and the provider's discovery
    /// document, prints a summary and exits (0 when all is well).
    #[arg(long)]
    pub check_config: bool,

    /// `[http://]host:port` to listen on (default 127.0.0.1:4180).
    #[arg(long)]
    pub http_address: Option<String>,
    /// The upstream: `http://host:port` (reverse proxy) or `static://200` (answer with that
    /// status and the identity headers: the ext_authz server for Istio's CUSTOM action).
    #[arg(long = "upstream", value_delimiter = ',')]
    pub upstreams: Vec<String>,
    /// How long to wait for the upstream's response headers (default 30s).
    #[arg(long)]
    pub upstream_timeout: Option<String>,
    /// Trust `X-Forwarded-*` / `Forwarded` from the client (behind another proxy); else
    /// they are replaced.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub reverse_proxy: Option<bool>,
    /// The proxies (IPs or CIDRs, repeatable or comma-separated) whose `X-Forwarded-For`
    /// and other forwarding headers are believed, with `--reverse-proxy`. Nobody by
    /// default: a client's forwarding headers are dropped.
    #[arg(long = "trusted-proxy-ip", value_delimiter = ',')]
    pub trusted_proxy_ips: Vec<String>,
    /// Send the client's `Host` upstream (default true); false: the upstream's.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pass_host_header: Option<bool>,
    /// Ours: a second listener answering ext_authz checks (as `--upstream=static://200`)
    /// while `--http-address` proxies.
    #[arg(long)]
    pub ext_authz_address: Option<String>,
    /// Serve Prometheus metrics at `/metrics` on this address (only there, as
    /// oauth2-proxy).
    #[arg(long)]
    pub metrics_address: Option<String>,
    /// Ours: also serve the metrics on `--http-address`, at `{--proxy-prefix}/metrics`
    /// (default false: whoever reaches the gateway would read them).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub metrics_on_http_address: Option<bool>,
    /// Ours: open connections per listener (default 4096); more wait in the listen
    /// backlog until one closes.
    #[arg(long)]
    pub max_connections: Option<String>,
    /// Log one line per request (default true).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub request_logging: Option<bool>,

    /// Ours: Istio `AuthorizationPolicy` / `RequestAuthentication` YAML applied to every
    /// request (repeatable).
    #[arg(long = "policy", value_delimiter = ',')]
    pub policies: Vec<PathBuf>,
    /// Ours: the namespace the gateway is in, for policy selection (default istio-system).
    #[arg(long)]
    pub workload_namespace: Option<String>,
    /// Ours: the gateway's labels, `key=value` (repeatable; default istio=ingressgateway).
    #[arg(long = "workload-label", value_delimiter = ',')]
    pub workload_labels: Vec<String>,
    /// Ours: how paths are normalized before policies and the upstream see them, as
    /// Istio's MeshConfig `pathNormalization`: BASE (default), MERGE_SLASHES,
    /// DECODE_AND_MERGE_SLASHES or NONE.
    #[arg(long)]
    pub path_normalization: Option<String>,
    /// Ours: the mesh root namespace (default istio-system).
    #[arg(long)]
    pub root_namespace: Option<String>,

    /// `oidc` (the only provider).
    #[arg(long)]
    pub provider: Option<String>,
    /// Accepted for compatibility: there is no sign-in button page.
    #[arg(long)]
    pub provider_display_name: Option<String>,
    /// The issuer; endpoints come from its discovery document.
    #[arg(long)]
    pub oidc_issuer_url: Option<String>,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub client_secret: Option<String>,
    #[arg(long)]
    pub client_secret_file: Option<String>,
    /// PKCE method: S256 (always used; plain is refused).
    #[arg(long)]
    pub code_challenge_method: Option<String>,
    /// 32 random bytes, base64 (or 32 raw characters).
    #[arg(long)]
    pub cookie_secret: Option<String>,
    #[arg(long)]
    pub cookie_name: Option<String>,
    #[arg(long = "cookie-domain", value_delimiter = ',')]
    pub cookie_domains: Vec<String>,
    #[arg(long)]
    pub cookie_path: Option<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cookie_secure: Option<bool>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cookie_httponly: Option<bool>,
    #[arg(long)]
    pub cookie_samesite: Option<String>,
    /// Go duration (`168h0m0s`).
    #[arg(long)]
    pub cookie_expire: Option<String>,
    #[arg(long)]
    pub cookie_refresh: Option<String>,
    /// Absolute: `https://gateway.example.com/oauth2/callback`.
    #[arg(long)]
    pub redirect_url: Option<String>,
    #[arg(long)]
    pub scope: Option<String>,
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long = "email-domain", value_delimiter = ',')]
    pub email_domains: Vec<String>,
    #[arg(long = "whitelist-domain", value_delimiter = ',')]
    pub whitelist_domains: Vec<String>,
    /// `METHOD=regex`, `METHOD!=regex`, `regex` or `!=regex` (repeatable).
    #[arg(long = "skip-auth-route")]
    pub skip_auth_routes: Vec<String>,
    /// Path regexes (repeatable; older form of --skip-auth-route).
    #[arg(long = "skip-auth-regex")]
    pub skip_auth_regex: Vec<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub skip_jwt_bearer_tokens: Option<bool>,
    /// `issuer=audience` (repeatable).
    #[arg(long = "extra-jwt-issuers", value_delimiter = ',')]
    pub extra_jwt_issuers: Vec<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pass_access_token: Option<bool>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pass_authorization_header: Option<bool>,
    /// Accepted for compatibility: the ext_authz answer always carries `Authorization`
    /// when a token goes upstream.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub set_authorization_header: Option<bool>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub set_xauthrequest: Option<bool>,
    /// Accepted for compatibility: there is no sign-in button page.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub skip_provider_button: Option<bool>,
    #[arg(long)]
    pub proxy_prefix: Option<String>,
    /// Ours: `sign_out` also ends the provider session.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub provider_logout: Option<bool>,
    /// Ours: the IdP logout URL (else the discovered `end_session_endpoint`).
    #[arg(long)]
    pub provider_logout_url: Option<String>,
    /// `cookie` (default) or `redis`.
    #[arg(long)]
    pub session_store_type: Option<String>,
    #[arg(long)]
    pub redis_connection_url: Option<String>,
    #[arg(long)]
    pub redis_password: Option<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub redis_use_sentinel: Option<bool>,
    #[arg(long)]
    pub redis_sentinel_master_name: Option<String>,
    #[arg(long = "redis-sentinel-connection-urls", value_delimiter = ',')]
    pub redis_sentinel_connection_urls: Vec<String>,
    #[arg(long)]
    pub redis_sentinel_password: Option<String>,
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub redis_use_cluster: Option<bool>,
    #[arg(long = "redis-cluster-connection-urls", value_delimiter = ',')]
    pub redis_cluster_connection_urls: Vec<String>,
}

impl Flags {
    /// The options given on the command line or in the environment, under their
    /// config-file names.
    fn given(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut text = |key: &str, v: &Option<String>| {
            if let Some(v) = v {
                map.insert(key.into(), Value::String(v.clone()));
            }
        };
        text("http_address", &self.http_address);
        text("upstream_timeout", &self.upstream_timeout);
        text("ext_authz_address", &self.ext_authz_address);
        text("metrics_address", &self.metrics_address);
        text("max_connections", &self.max_connections);
        text("workload_namespace", &self.workload_namespace);
        text("root_namespace", &self.root_namespace);
        text("path_normalization", &self.path_normalization);
        text("provider", &self.provider);
        text("provider_display_name", &self.provider_display_name);
        text("oidc_issuer_url", &self.oidc_issuer_url);
        text("client_id", &self.client_id);
        text("client_secret", &self.client_secret);
        text("client_secret_file", &self.client_secret_file);
        text("code_challenge_method", &self.code_challenge_method);
        text("cookie_secret", &self.cookie_secret);
        text("cookie_name", &self.cookie_name);
        text("cookie_path", &self.cookie_path);
        text("cookie_samesite", &self.cookie_samesite);
        text("cookie_expire", &self.cookie_expire);
        text("cookie_refresh", &self.cookie_refresh);
        text("redirect_url", &self.redirect_url);
        text("scope", &self.scope);
        text("prompt", &self.prompt);
        text("proxy_prefix", &self.proxy_prefix);
        text("provider_logout_url", &self.provider_logout_url);
        text("session_store_type", &self.session_store_type);
        text("redis_connection_url", &self.redis_connection_url);
        text("redis_password", &self.redis_password);
        text(
            "redis_sentinel_master_name",
            &self.redis_sentinel_master_name,
        );
        text("redis_sentinel_password", &self.redis_sentinel_password);
        let mut flag = |key: &str, v: Option<bool>| {
            if let Some(v) = v {
                map.insert(key.into(), Value::Bool(v));
            }
        };
        flag("reverse_proxy", self.reverse_proxy);
        flag("pass_host_header", self.pass_host_header);
        flag("request_logging", self.request_logging);
        flag("metrics_on_http_address", self.metrics_on_http_address);
        flag("cookie_secure", self.cookie_secure);
        flag("cookie_httponly", self.cookie_httponly);
        flag("skip_jwt_bearer_tokens", self.skip_jwt_bearer_tokens);
        flag("pass_access_token", self.pass_access_token);
        flag("pass_authorization_header", self.pass_authorization_header);
        flag("set_authorization_header", self.set_authorization_header);
        flag("set_xauthrequest", self.set_xauthrequest);
        flag("skip_provider_button", self.skip_provider_button);
        flag("provider_logout", self.provider_logout);
        flag("redis_use_sentinel", self.redis_use_sentinel);
        flag("redis_use_cluster", self.redis_use_cluster);
        let mut list = |key: &str, v: &[String]| {
            if !v.is_empty() {
                map.insert(key.into(), v.iter().cloned().map(Value::String).collect());
            }
        };
        list("upstreams", &self.upstreams);
        list("trusted_proxy_ips", &self.trusted_proxy_ips);
        list("workload_labels", &self.workload_labels);
        list("cookie_domains", &self.cookie_domains);
        list("email_domains", &self.email_domains);
        list("whitelist_domains", &self.whitelist_domains);
        list("skip_auth_routes", &self.skip_auth_routes);
        list("skip_auth_regex", &self.skip_auth_regex);
        list("extra_jwt_issuers", &self.extra_jwt_issuers);
        list(
            "redis_sentinel_connection_urls",
            &self.redis_sentinel_connection_urls,
        );
        list(
            "redis_cluster_connection_urls",
            &self.redis_cluster_connection_urls,
        );
        let policies: Vec<String> = self
            .policies
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        list("policies", &policies);
        map
    }
}

/// Where requests that pass go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// Reverse proxy to this origin.
    Http(url::Url),
    /// Answer with this status and the identity headers (`static://200`): ext_authz mode.
    Static(http::StatusCode),
}

/// The gateway's options, checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// `--check-config`.
    pub check_config: bool,
    /// `--http-address`.
    pub http_address: SocketAddr,
    /// `--upstream`.
    pub upstream: Upstream,
    /// `--upstream-timeout`.
    pub upstream_timeout: Duration,
    /// `--reverse-proxy`.
    pub reverse_proxy: bool,
    /// `--trusted-proxy-ip` (empty unless `--reverse-proxy`).
    pub trusted_proxy_ips: Vec<ipnet::IpNet>,
    /// `--pass-host-header`.
    pub pass_host_header: bool,
    /// `--ext-authz-address`.
    pub ext_authz_address: Option<SocketAddr>,
    /// `--metrics-address`.
    pub metrics_address: Option<SocketAddr>,
    /// `--metrics-on-http-address`.
    pub metrics_on_http_address: bool,
    /// `--max-connections`: open connections per listener.
    pub max_connections: usize,
    /// `--request-logging`.
    pub request_logging: bool,
    /// `--policy` files.
    pub policies: Vec<PathBuf>,
    /// `--workload-namespace`.
    pub workload_namespace: String,
    /// `--workload-label`.
    pub workload_labels: Vec<(String, String)>,
    /// `--root-namespace`.
    pub root_namespace: String,
    /// `--path-normalization`.
    pub path_normalization: authz_policy::path::PathNormalization,
    /// The SSO options.
    pub sso: SsoSettings,
}

/// Keys the gateway reads itself; the rest are the SSO layer's ([`SsoSettings`]).
const GATEWAY_KEYS: &[&str] = &[
    "http_address",
    "upstreams",
    "upstream_timeout",
    "reverse_proxy",
    "trusted_proxy_ips",
    "pass_host_header",
    "ext_authz_address",
    "metrics_address",
    "metrics_on_http_address",
    "max_connections",
    "request_logging",
    "policies",
    "workload_namespace",
    "workload_labels",
    "root_namespace",
    "path_normalization",
    "provider_display_name",
    "code_challenge_method",
    "set_authorization_header",
    "skip_provider_button",
];

/// What the command line asks for.
#[derive(Debug)]
pub enum Launch {
    /// No options at all: the demo.
    Demo,
    /// The gateway with these options.
    Gateway(Box<Options>),
}

impl Launch {
    /// Reads the options from `flags`, from the `OAUTH2_PROXY_*` variables among `vars`
    /// (the process environment: `std::env::vars_os()`) and from the configuration file
    /// they name. Flags win over variables, variables over the file. A variable, key or
    /// flag naming an option the gateway does not implement is an error naming it.
    pub fn from_flags(
        flags: Flags,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Launch, FlagError> {
        let mut env = env_options(vars)?;
        let config = match (flags.config.clone(), env.remove("config")) {
            (Some(path), _) => Some(path),
            (None, Some(Value::String(path))) => Some(PathBuf::from(path)),
            (None, _) => None,
        };
        let mut map = match &config {
            Some(path) => read_file(path)?,
            None => Map::new(),
        };
        let given = flags.given();
        if config.is_none() && given.is_empty() && env.is_empty() && !flags.check_config {
            return Ok(Launch::Demo);
        }
        map.extend(env);
        map.extend(given);
        let mut options = Options::from_map(map)?;
        options.check_config = flags.check_config;
        Ok(Launch::Gateway(Box::new(options)))
    }

    /// Parses `args` (the program name first) as the command line, with `vars` as the
    /// environment; clap's errors become [`FlagError`]s.
    pub fn parse_from<I, T>(
        args: I,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Launch, FlagError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let flags = Flags::try_parse_from(args).map_err(|e| FlagError::from_clap(&e))?;
        Launch::from_flags(flags, vars)
    }
}

/// A configuration file as a map of option names.
fn read_file(path: &std::path::Path) -> Result<Map<String, Value>, FlagError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("config", format!("{}: {e}", path.display())))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let value: Value = match ext {
        "toml" => toml::from_str(&text).map_err(|e| {
            invalid(
                "config",
                format!("{}: {}", path.display(), e.to_string().trim()),
            )
        })?,
        "yaml" | "yml" => serde_saphyr::from_str(&text)
            .map_err(|e| invalid("config", format!("{}: {e}", path.display())))?,
        _ => {
            return Err(invalid(
                "config",
                format!("{}: name it .toml, .yaml or .yml", path.display()),
            ));
        }
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(invalid(
            "config",
            format!("{}: expected a table of options", path.display()),
        )),
    }
}

/// `host:port`, optionally with `http://` (oauth2-proxy's spelling).
fn socket_address(flag: &str, text: &str) -> Result<SocketAddr, FlagError> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    let bare = bare.strip_suffix('/').unwrap_or(bare);
    let bare = if bare.starts_with(':') {
        format!("0.0.0.0{bare}")
    } else {
        bare.to_owned()
    };
    bare.parse().map_err(|_| {
        invalid(
            flag,
            format!("{text:?} is not host:port with a numeric IP (e.g. 127.0.0.1:4180)"),
        )
    })
}

fn take_text(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, FlagError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(invalid(
            &key.replace('_', "-"),
            format!("expected text, got {other}"),
        )),
    }
}

fn take_bool(map: &mut Map<String, Value>, key: &str) -> Result<Option<bool>, FlagError> {
    let flag = key.replace('_', "-");
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(invalid(&flag, format!("{s:?} is not true or false"))),
        },
        Some(other) => Err(invalid(&flag, format!("{other} is not true or false"))),
    }
}

fn take_list(map: &mut Map<String, Value>, key: &str) -> Result<Vec<String>, FlagError> {
    let flag = key.replace('_', "-");
    match map.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(invalid(&flag, format!("{other} is not text"))),
            })
            .collect(),
        Some(other) => Err(invalid(&flag, format!("expected a list, got {other}"))),
    }
}

impl Options {
    /// Options from a map of config-file names (a parsed file with the flags over it).
    pub fn from_map(mut map: Map<String, Value>) -> Result<Options, FlagError> {
        if let Some(key) = map.keys().find(|k| !implemented(k)) {
            return Err(unknown(key, key));
        }
        let http_address = match take_text(&mut map, "http_address")? {
            Some(a) => socket_address("http-address", &a)?,
            None => SocketAddr::from(([127, 0, 0, 1], 4180)),
        };
        let upstreams = take_list(&mut map, "upstreams")?;
        let upstream = match upstreams.as_slice() {
            [] => {
                return Err(invalid(
                    "upstream",
                    "is required (http://host:port or static://200)",
                ));
            }
            [one] => parse_upstream(one)?,
            _ => {
                return Err(invalid(
                    "upstream",
                    "one upstream only (path-based routing to several is not supported)",
                ));
            }
        };
        let upstream_timeout = match take_text(&mut map, "upstream_timeout")? {
            Some(t) => parse_go_duration(&t).map_err(|e| invalid("upstream-timeout", e))?,
            None => Duration::from_secs(30),
        };
        if upstream_timeout.is_zero() {
            return Err(invalid("upstream-timeout", "must be more than 0"));
        }
        let address = |map: &mut Map<String, Value>, key: &str| {
            take_text(map, key)?
                .map(|a| socket_address(&key.replace('_', "-"), &a))
                .transpose()
        };
        let ext_authz_address = address(&mut map, "ext_authz_address")?;
        let metrics_address = address(&mut map, "metrics_address")?;
        let metrics_on_http_address =
            take_bool(&mut map, "metrics_on_http_address")?.unwrap_or(false);
        let max_connections = match take_text(&mut map, "max_connections")? {
            None => 4096,
            Some(n) => match n.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(invalid(
                        "max-connections",
                        format!("{n:?}: a number above 0"),
                    ));
                }
            },
        };
        let reverse_proxy = take_bool(&mut map, "reverse_proxy")?.unwrap_or(false);
        let trusted_proxy_ips = take_list(&mut map, "trusted_proxy_ips")?
            .iter()
            .map(|t| {
                parse_net(t).ok_or_else(|| {
                    invalid(
                        "trusted-proxy-ip",
                        format!("{t:?} is not an IP address or CIDR"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        match (reverse_proxy, trusted_proxy_ips.is_empty()) {
            (true, true) => {
                return Err(invalid(
                    "reverse-proxy",
                    "needs --trusted-proxy-ip: the addresses of the proxies in front of the gateway, whose X-Forwarded-* headers are believed (nobody is trusted by default)",
                ));
            }
            (false, false) => {
                return Err(invalid(
                    "trusted-proxy-ip",
                    "has no effect without --reverse-proxy",
                ));
            }
            _ => {}
        }
        let pass_host_header = take_bool(&mut map, "pass_host_header")?.unwrap_or(true);
        let request_logging = take_bool(&mut map, "request_logging")?.unwrap_or(true);
        let policies = take_list(&mut map, "policies")?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let workload_namespace =
            take_text(&mut map, "workload_namespace")?.unwrap_or_else(|| "istio-system".into());
        let mut workload_labels = Vec::new();
        for label in take_list(&mut map, "workload_labels")? {
            let Some((k, v)) = label.split_once('=') else {
                return Err(invalid(
                    "workload-label",
                    format!("{label:?}: write key=value"),
                ));
            };
            workload_labels.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if workload_labels.is_empty() {
            workload_labels.push(("istio".into(), "ingressgateway".into()));
        }
        let root_namespace =
            take_text(&mut map, "root_namespace")?.unwrap_or_else(|| "istio-system".into());
        let path_normalization = match take_text(&mut map, "path_normalization")?
            .map(|m| m.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("BASE" | "DEFAULT") => authz_policy::path::PathNormalization::Base,
            Some("NONE") => authz_policy::path::PathNormalization::None,
            Some("MERGE_SLASHES") => authz_policy::path::PathNormalization::MergeSlashes,
            Some("DECODE_AND_MERGE_SLASHES") => {
                authz_policy::path::PathNormalization::DecodeAndMergeSlashes
            }
            Some(other) => {
                return Err(invalid(
                    "path-normalization",
                    format!("{other:?}: BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES or NONE"),
                ));
            }
        };
        if let Some(method) = take_text(&mut map, "code_challenge_method")?
            && method != "S256"
        {
            return Err(invalid(
                "code-challenge-method",
                format!("{method:?}: only S256 (plain gives no protection)"),
            ));
        }
        // Accepted for compatibility: it only names the provider on oauth2-proxy's sign-in
        // page, which this gateway does not have.
        take_text(&mut map, "provider_display_name")?;
        // Accepted with the value we honour only. Our answers (ext_authz, /oauth2/auth)
        // carry `Authorization` exactly when the token goes upstream.
        let pass_authorization = {
            let mut probe: Map<String, Value> = map
                .get_key_value("pass_authorization_header")
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect();
            take_bool(&mut probe, "pass_authorization_header")?.unwrap_or(false)
        };
        if let Some(set) = take_bool(&mut map, "set_authorization_header")?
            && set != pass_authorization
        {
            return Err(invalid(
                "set-authorization-header",
                format!(
                    "{set} is not supported with --pass-authorization-header={pass_authorization}: \
                     this gateway's answers carry Authorization exactly when the token goes upstream; \
                     give both the same value"
                ),
            ));
        }
        // There is no sign-in page: users always go straight to the provider.
        if take_bool(&mut map, "skip_provider_button")? == Some(false) {
            return Err(invalid(
                "skip-provider-button",
                "false is not supported: this gateway has no sign-in page and always sends users \
                 straight to the provider (true)",
            ));
        }
        debug_assert!(GATEWAY_KEYS.iter().all(|k| !map.contains_key(*k)));
        for key in [
            "oidc_issuer_url",
            "client_id",
            "redirect_url",
            "cookie_secret",
        ] {
            if !map.contains_key(key) {
                return Err(invalid(&key.replace('_', "-"), "is required"));
            }
        }
        let sso = SsoSettings::from_value(Value::Object(map)).map_err(|e| {
            // "invalid settings: cookie_secure_typo: unknown field ..." -> name the flag.
            let text = e.to_string();
            FlagError(
                text.strip_prefix("invalid settings: ")
                    .map(|rest| format!("invalid option {rest}"))
                    .unwrap_or(text),
            )
        })?;
        // Everything the SSO layer checks is checked here, before any connection.
        let flag_error = |e: tower_sso::error::ConfigError| {
            let text = e.to_string().replacen("invalid ", "invalid --", 1);
            // One line, even for a regex error drawn over several.
            FlagError(text.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        tower_sso::SsoConfig::try_from(sso.clone()).map_err(flag_error)?;
        sso.redis_topology().map_err(flag_error)?;
        Ok(Options {
            check_config: false,
            http_address,
            upstream,
            upstream_timeout,
            reverse_proxy,
            trusted_proxy_ips,
            pass_host_header,
            ext_authz_address,
            metrics_address,
            metrics_on_http_address,
            max_connections,
            request_logging,
            policies,
            workload_namespace,
            workload_labels,
            root_namespace,
            path_normalization,
            sso,
        })
    }
}

/// An address (`10.0.0.1`, `::1`: that host) or a network (`10.0.0.0/8`).
fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        })
}

fn parse_upstream(text: &str) -> Result<Upstream, FlagError> {
    if let Some(code) = text.strip_prefix("static://") {
        let code: u16 = code.trim_end_matches('/').parse().map_err(|_| {
            invalid(
                "upstream",
                format!("{text:?}: static://STATUS, e.g. static://200"),
            )
        })?;
        let status = http::StatusCode::from_u16(code)
            .map_err(|_| invalid("upstream", format!("{text:?}: {code} is not a status")))?;
        return Ok(Upstream::Static(status));
    }
    let url = url::Url::parse(text).map_err(|e| invalid("upstream", format!("{text:?}: {e}")))?;
    if url.scheme() != "http" {
        return Err(invalid(
            "upstream",
            format!("{text:?}: http:// or static:// (TLS to the upstream is the mesh's job)"),
        ));
    }
    if url.host().is_none() || !(url.path() == "/" || url.path().is_empty()) {
        return Err(invalid(
            "upstream",
            format!("{text:?}: give an origin (http://host:port/); path routing is not supported"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "upstream",
            format!("{text:?}: no query, fragment or credentials"),
        ));
    }
    Ok(Upstream::Http(url))
}

#[cfg(test)]
mod tests;
