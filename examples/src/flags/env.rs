//! `OAUTH2_PROXY_*` variables, and the names of options the gateway does not implement.

use std::ffi::OsString;

use serde_json::{Map, Value};
use tower_sso::sso::settings::SsoSettings;

use super::{FlagError, GATEWAY_KEYS};

/// oauth2-proxy's flags whose config-file name is their plural (`allowed_groups` is
/// `--allowed-group`); any other flag is its config-file name with `-` for `_`.
pub(super) const PLURAL_OPTIONS: &[(&str, &str)] = &[
    ("allowed_groups", "allowed-group"),
    ("allowed_roles", "allowed-role"),
    ("api_routes", "api-route"),
    ("cookie_domains", "cookie-domain"),
    ("email_domains", "email-domain"),
    ("github_users", "github-user"),
    ("gitlab_groups", "gitlab-group"),
    ("gitlab_projects", "gitlab-project"),
    ("google_groups", "google-group"),
    ("keycloak_groups", "keycloak-group"),
    ("oidc_audience_claims", "oidc-audience-claim"),
    ("oidc_extra_audiences", "oidc-extra-audience"),
    ("policies", "policy"),
    ("skip_auth_routes", "skip-auth-route"),
    ("trusted_ips", "trusted-ip"),
    ("trusted_proxy_ips", "trusted-proxy-ip"),
    ("upstreams", "upstream"),
    ("whitelist_domains", "whitelist-domain"),
    ("workload_labels", "workload-label"),
];

/// The flag of config-file option `option` (`allowed_groups` -> `--allowed-group`).
pub(super) fn flag_of(option: &str) -> String {
    match PLURAL_OPTIONS.iter().find(|(o, _)| *o == option) {
        Some((_, flag)) => format!("--{flag}"),
        None => format!("--{}", option.replace('_', "-")),
    }
}

pub(super) fn unknown(name: &str, option: &str) -> FlagError {
    FlagError(format!(
        "unknown option {name} ({}): not implemented by this gateway",
        flag_of(option)
    ))
}

/// Whether the gateway implements config-file option `option` (its own, or the SSO
/// layer's).
pub(super) fn implemented(option: &str) -> bool {
    GATEWAY_KEYS.contains(&option) || SsoSettings::option_names().contains(&option)
}

/// The options set by `OAUTH2_PROXY_*` variables, under their config-file names (and
/// `config`); an empty variable is unset, as in oauth2-proxy.
pub(super) fn env_options(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Map<String, Value>, FlagError> {
    let mut map = Map::new();
    for (key, value) in vars {
        let Some(name) = key.to_str() else {
            if key.as_encoded_bytes().starts_with(b"OAUTH2_PROXY_") {
                return Err(FlagError(format!(
                    "unknown option {}: the variable's name is not UTF-8",
                    key.to_string_lossy()
                )));
            }
            continue;
        };
        let Some(option) = tower_sso::sso::settings::env_option(name) else {
            continue;
        };
        if option != "config" && !implemented(&option) {
            return Err(unknown(name, &option));
        }
        let Some(value) = value.to_str() else {
            return Err(FlagError(format!("invalid {name}: not UTF-8")));
        };
        if value.is_empty() {
            continue;
        }
        let value = Value::String(value.to_owned());
        // One regex per variable: a regex may hold a comma.
        let value = match option.as_str() {
            "skip_auth_routes" | "skip_auth_regex" => Value::Array(vec![value]),
            _ => value,
        };
        map.insert(option, value);
    }
    Ok(map)
}
