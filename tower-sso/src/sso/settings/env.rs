//! oauth2-proxy's `OAUTH2_PROXY_*` environment variables.

use super::{SsoSettings, field_names};
use crate::error::ConfigError;

/// The option an environment variable sets, in config-file spelling
/// (`OAUTH2_PROXY_COOKIE_SECRET` -> `cookie_secret`), as oauth2-proxy reads them: the
/// name after `OAUTH2_PROXY_` in upper case. `None` for a variable that is not an option:
/// one without that prefix, or one of the service links Kubernetes adds for a Service
/// named `oauth2-proxy` (`OAUTH2_PROXY_SERVICE_HOST`, `OAUTH2_PROXY_PORT_4180_TCP`, ...),
/// which no option is named like. A name that is not all upper case comes back as written
/// (`OAUTH2_PROXY_Cookie_Secret` -> `Cookie_Secret`): oauth2-proxy does not read it, so it
/// matches no option and is refused as unknown.
pub fn env_option(variable: &str) -> Option<String> {
    let name = variable.strip_prefix("OAUTH2_PROXY_")?;
    if is_service_link(name) {
        return None;
    }
    let upper = name
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    Some(if upper {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    })
}

/// Kubernetes' service-link variables for a Service `oauth2-proxy`: `SERVICE_HOST`,
/// `SERVICE_PORT[_NAME]`, `PORT` and `PORT_<number>_<PROTO>[_PROTO|_PORT|_ADDR]`.
fn is_service_link(name: &str) -> bool {
    name == "SERVICE_HOST"
        || name == "SERVICE_PORT"
        || name.starts_with("SERVICE_PORT_")
        || name == "PORT"
        || name
            .strip_prefix("PORT_")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

impl SsoSettings {
    /// The settings in `OAUTH2_PROXY_*` environment variables (oauth2-proxy's names:
    /// `OAUTH2_PROXY_CLIENT_ID`, `OAUTH2_PROXY_COOKIE_SECRET`, `OAUTH2_PROXY_EMAIL_DOMAINS`
    /// = `a.com,b.com`, ...). A variable naming an option the SSO layer does not have
    /// (`OAUTH2_PROXY_ALLOWED_GROUPS`, say) is an error, never ignored: a program with
    /// `OAUTH2_PROXY_*` options of its own takes them out and calls
    /// [`SsoSettings::from_env_vars`] with the rest. An empty variable counts as unset,
    /// as in oauth2-proxy.
    pub fn from_env() -> Result<SsoSettings, ConfigError> {
        Self::from_env_vars(std::env::vars())
    }

    /// As [`SsoSettings::from_env`], from the given variables.
    pub fn from_env_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<SsoSettings, ConfigError> {
        let names = field_names();
        let mut map = serde_json::Map::new();
        for (key, value) in vars {
            let Some(name) = env_option(&key) else {
                continue;
            };
            if !names.contains(&name.as_str()) {
                return Err(ConfigError::Invalid {
                    what: "settings",
                    reason: format!("unknown option {key}: not implemented by the SSO layer"),
                });
            }
            if !value.is_empty() {
                map.insert(name, serde_json::Value::String(value));
            }
        }
        Self::from_value(serde_json::Value::Object(map))
    }
}
