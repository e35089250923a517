//! `Debug` for [`Flags`] with every secret redacted.

use super::Flags;

const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field named, so a new one cannot be added without deciding how it shows.
        // Redis URLs may carry passwords.
        let Flags {
            config,
            check_config,
            http_address,
            upstreams,
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
            path_normalization,
            root_namespace,
            provider,
            provider_display_name,
            oidc_issuer_url,
            client_id,
            client_secret,
            client_secret_file,
            code_challenge_method,
            cookie_secret,
            cookie_name,
            cookie_domains,
            cookie_path,
            cookie_secure,
            cookie_httponly,
            cookie_samesite,
            cookie_expire,
            cookie_refresh,
            redirect_url,
            scope,
            prompt,
            email_domains,
            whitelist_domains,
            skip_auth_routes,
            skip_auth_regex,
            skip_jwt_bearer_tokens,
            extra_jwt_issuers,
            pass_access_token,
            pass_authorization_header,
            set_authorization_header,
            set_xauthrequest,
            skip_provider_button,
            proxy_prefix,
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
        f.debug_struct("Flags")
            .field("config", config)
            .field("check_config", check_config)
            .field("http_address", http_address)
            .field("upstreams", upstreams)
            .field("upstream_timeout", upstream_timeout)
            .field("reverse_proxy", reverse_proxy)
            .field("trusted_proxy_ips", trusted_proxy_ips)
            .field("pass_host_header", pass_host_header)
            .field("ext_authz_address", ext_authz_address)
            .field("metrics_address", metrics_address)
            .field("metrics_on_http_address", metrics_on_http_address)
            .field("max_connections", max_connections)
            .field("request_logging", request_logging)
            .field("policies", policies)
            .field("workload_namespace", workload_namespace)
            .field("workload_labels", workload_labels)
            .field("path_normalization", path_normalization)
            .field("root_namespace", root_namespace)
            .field("provider", provider)
            .field("provider_display_name", provider_display_name)
            .field("oidc_issuer_url", oidc_issuer_url)
            .field("client_id", client_id)
            .field("client_secret", &client_secret.as_ref().map(|_| REDACTED))
            .field("client_secret_file", client_secret_file)
            .field("code_challenge_method", code_challenge_method)
            .field("cookie_secret", &cookie_secret.as_ref().map(|_| REDACTED))
            .field("cookie_name", cookie_name)
            .field("cookie_domains", cookie_domains)
            .field("cookie_path", cookie_path)
            .field("cookie_secure", cookie_secure)
            .field("cookie_httponly", cookie_httponly)
            .field("cookie_samesite", cookie_samesite)
            .field("cookie_expire", cookie_expire)
            .field("cookie_refresh", cookie_refresh)
            .field("redirect_url", redirect_url)
            .field("scope", scope)
            .field("prompt", prompt)
            .field("email_domains", email_domains)
            .field("whitelist_domains", whitelist_domains)
            .field("skip_auth_routes", skip_auth_routes)
            .field("skip_auth_regex", skip_auth_regex)
            .field("skip_jwt_bearer_tokens", skip_jwt_bearer_tokens)
            .field("extra_jwt_issuers", extra_jwt_issuers)
            .field("pass_access_token", pass_access_token)
            .field("pass_authorization_header", pass_authorization_header)
            .field("set_authorization_header", set_authorization_header)
            .field("set_xauthrequest", set_xauthrequest)
            .field("skip_provider_button", skip_provider_button)
            .field("proxy_prefix", proxy_prefix)
            .field("provider_logout", provider_logout)
            .field("provider_logout_url", provider_logout_url)
            .field("session_store_type", session_store_type)
            .field(
                "redis_connection_url",
                &redis_connection_url.as_ref().map(|_| REDACTED),
            )
            .field("redis_password", &redis_password.as_ref().map(|_| REDACTED))
            .field("redis_use_sentinel", redis_use_sentinel)
            .field("redis_sentinel_master_name", redis_sentinel_master_name)
            .field(
                "redis_sentinel_connection_urls",
                &redis_sentinel_connection_urls
                    .iter()
                    .map(|_| REDACTED)
                    .collect::<Vec<_>>(),
            )
            .field(
                "redis_sentinel_password",
                &redis_sentinel_password.as_ref().map(|_| REDACTED),
            )
            .field("redis_use_cluster", redis_use_cluster)
            .field(
                "redis_cluster_connection_urls",
                &redis_cluster_connection_urls
                    .iter()
                    .map(|_| REDACTED)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
