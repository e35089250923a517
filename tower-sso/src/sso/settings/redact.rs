//! `Debug` for [`SsoSettings`] with every secret redacted.

use super::SsoSettings;

impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field named, so a new one cannot be added without deciding how it shows.
        let SsoSettings {
            provider,
            oidc_issuer_url,
            client_id,
            client_secret,
            client_secret_file,
            redirect_url,
            cookie_secret,
            cookie_name,
            cookie_domains,
            cookie_path,
            cookie_secure,
            cookie_httponly,
            cookie_samesite,
            cookie_expire,
            cookie_refresh,
            scope,
            prompt,
            proxy_prefix,
            email_domains,
            whitelist_domains,
            pass_access_token,
            pass_authorization_header,
            skip_jwt_bearer_tokens,
            insecure_oidc_allow_unverified_email,
            extra_jwt_issuers,
            set_xauthrequest,
            skip_auth_routes,
            skip_auth_regex,
            match_mode,
            match_paths,
            provider_logout,
            provider_logout_url,
            session_store_type,
            redis_connection_url,
            redis_password,
            redis_use_sentinel,
            redis_sentinel_master_name,
            redis_sentinel_connection_urls,
            redis_sentinel_password,
            redis_use_cluster,
            redis_cluster_connection_urls,
        } = self;
        let secret = |v: &str| if v.is_empty() { "" } else { REDACTED };
        let optional = |v: &Option<String>| v.as_ref().map(|_| REDACTED);
        let urls = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|l| l.iter().map(|u| redact_url(u)).collect::<Vec<_>>())
        };
        f.debug_struct("SsoSettings")
            .field("provider", provider)
            .field("oidc_issuer_url", oidc_issuer_url)
            .field("client_id", client_id)
            .field("client_secret", &secret(client_secret))
            .field("client_secret_file", client_secret_file)
            .field("redirect_url", redirect_url)
            .field("cookie_secret", &secret(cookie_secret))
            .field("cookie_name", cookie_name)
            .field("cookie_domains", cookie_domains)
            .field("cookie_path", cookie_path)
            .field("cookie_secure", cookie_secure)
            .field("cookie_httponly", cookie_httponly)
            .field("cookie_samesite", cookie_samesite)
            .field("cookie_expire", cookie_expire)
            .field("cookie_refresh", cookie_refresh)
            .field("scope", scope)
            .field("prompt", prompt)
            .field("proxy_prefix", proxy_prefix)
            .field("email_domains", email_domains)
            .field("whitelist_domains", whitelist_domains)
            .field("pass_access_token", pass_access_token)
            .field("pass_authorization_header", pass_authorization_header)
            .field("skip_jwt_bearer_tokens", skip_jwt_bearer_tokens)
            .field(
                "insecure_oidc_allow_unverified_email",
                insecure_oidc_allow_unverified_email,
            )
            .field("extra_jwt_issuers", extra_jwt_issuers)
            .field("set_xauthrequest", set_xauthrequest)
            .field("skip_auth_routes", skip_auth_routes)
            .field("skip_auth_regex", skip_auth_regex)
            .field("match_mode", match_mode)
            .field("match_paths", match_paths)
            .field("provider_logout", provider_logout)
            .field("provider_logout_url", provider_logout_url)
            .field("session_store_type", session_store_type)
            .field(
                "redis_connection_url",
                &redis_connection_url.as_deref().map(redact_url),
            )
            .field("redis_password", &optional(redis_password))
            .field("redis_use_sentinel", redis_use_sentinel)
            .field("redis_sentinel_master_name", redis_sentinel_master_name)
            .field(
                "redis_sentinel_connection_urls",
                &urls(redis_sentinel_connection_urls),
            )
            .field(
                "redis_sentinel_password",
                &optional(redis_sentinel_password),
            )
            .field("redis_use_cluster", redis_use_cluster)
            .field(
                "redis_cluster_connection_urls",
                &urls(redis_cluster_connection_urls),
            )
            .finish()
    }
}

const REDACTED: &str = "[redacted]";

/// `url` with its password replaced (a Redis URL may carry one); `[redacted]` whole when
/// it does not parse.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some(REDACTED));
            }
            parsed.to_string()
        }
        Err(_) => REDACTED.to_owned(),
    }
}
