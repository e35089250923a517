//! OpenID Connect Discovery 1.0: the provider's metadata.

use serde::Deserialize;
use url::Url;

use crate::error::{ConfigError, DiscoveryError, Error};
use crate::http::HttpClient;

/// The provider metadata this crate uses, from `{issuer}/.well-known/openid-configuration`.
///
/// Endpoint members are parsed as URLs; a malformed one makes the document malformed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// `issuer`: equals the configured issuer exactly.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Url,
    /// `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: Option<Url>,
    /// `jwks_uri`.
    pub jwks_uri: Url,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    pub introspection_endpoint: Option<Url>,
    /// `end_session_endpoint` (RP-Initiated Logout 1.0).
    pub end_session_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628).
    pub device_authorization_endpoint: Option<Url>,
    /// `registration_endpoint`.
    pub registration_endpoint: Option<Url>,
    /// `scopes_supported`.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `response_types_supported`.
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `grant_types_supported`.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// `subject_types_supported`.
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    /// `id_token_signing_alg_values_supported`.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `userinfo_signing_alg_values_supported`.
    #[serde(default)]
    pub userinfo_signing_alg_values_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (default `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `token_endpoint_auth_signing_alg_values_supported`.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// `code_challenge_methods_supported` (RFC 8414).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// `claims_supported`.
    #[serde(default)]
    pub claims_supported: Vec<String>,
    /// `backchannel_logout_supported`.
    #[serde(default)]
    pub backchannel_logout_supported: bool,
    /// `backchannel_logout_session_supported`.
    #[serde(default)]
    pub backchannel_logout_session_supported: bool,
}

impl ProviderMetadata {
    /// The discovery URL of `issuer`: `{issuer}/.well-known/openid-configuration`, with the
    /// issuer's trailing slash, if any, not doubled.
    pub fn discovery_url(issuer: &str) -> Result<Url, ConfigError> {
        let base = Url::parse(issuer).map_err(|e| ConfigError::InvalidUrl {
            what: "issuer",
            reason: e.to_string(),
        })?;
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                what: "issuer",
                reason: "an issuer has no query or fragment".into(),
            });
        }
        if !matches!(base.scheme(), "https" | "http") {
            return Err(ConfigError::InvalidUrl {
                what: "issuer",
                reason: format!("scheme {} is not http(s)", base.scheme()),
            });
        }
        let trimmed = issuer.trim_end_matches('/');
        Url::parse(&format!("{trimmed}/.well-known/openid-configuration")).map_err(|e| {
            ConfigError::InvalidUrl {
                what: "issuer",
                reason: e.to_string(),
            }
        })
    }

    /// Parses a discovery document and checks that it is for `issuer` (exact match).
    pub fn from_json(issuer: &str, bytes: &[u8]) -> Result<ProviderMetadata, DiscoveryError> {
        let url = Self::discovery_url(issuer)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| issuer.to_owned());
        let metadata: ProviderMetadata =
            serde_json::from_slice(bytes).map_err(|e| DiscoveryError::Malformed {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if metadata.issuer != issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        Ok(metadata)
    }

    /// Fetches and validates the discovery document of `issuer`.
    pub async fn discover(http: &dyn HttpClient, issuer: &str) -> Result<ProviderMetadata, Error> {
        let url = Self::discovery_url(issuer)?;
        let request = http::Request::get(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| crate::http::HttpError::InvalidRequest(e.to_string()))?;
        let response = http.execute(request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(DiscoveryError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            }
            .into());
        }
        Ok(Self::from_json(issuer, response.body())?)
    }

    /// The token endpoint, or an error naming it.
    pub fn require_token_endpoint(&self) -> Result<&Url, DiscoveryError> {
        self.token_endpoint
            .as_ref()
            .ok_or(DiscoveryError::MissingEndpoint("token_endpoint"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"issuer":"https://op.example/tenant","authorization_endpoint":"https://op.example/auth",
        "token_endpoint":"https://op.example/token","jwks_uri":"https://op.example/jwks",
        "end_session_endpoint":"https://op.example/logout","scopes_supported":["openid","email"]}"#;

    #[test]
    fn exact_issuer_is_required() {
        let m = ProviderMetadata::from_json("https://op.example/tenant", DOC.as_bytes()).unwrap();
        assert_eq!(m.jwks_uri.as_str(), "https://op.example/jwks");
        assert_eq!(m.scopes_supported, ["openid", "email"]);
        for other in [
            "https://op.example/tenant/",
            "https://OP.example/tenant",
            "https://op.example",
        ] {
            let err = ProviderMetadata::from_json(other, DOC.as_bytes()).unwrap_err();
            assert!(
                matches!(err, DiscoveryError::IssuerMismatch { .. }),
                "{other}: {err}"
            );
        }
    }

    #[test]
    fn malformed_documents_are_rejected_with_a_reason() {
        for doc in [
            "",
            "[]",
            r#"{"issuer":"https://op.example/tenant"}"#,
            r#"{"issuer":"https://op.example/tenant","authorization_endpoint":"not a url","jwks_uri":"https://x"}"#,
            r#"{"issuer":7}"#,
        ] {
            let err = ProviderMetadata::from_json("https://op.example/tenant", doc.as_bytes())
                .unwrap_err();
            assert!(
                matches!(err, DiscoveryError::Malformed { .. }),
                "{doc}: {err}"
            );
        }
    }

    #[test]
    fn discovery_url_keeps_the_issuer_path() {
        assert_eq!(
            ProviderMetadata::discovery_url("https://op.example/v2/x/oidc")
                .unwrap()
                .as_str(),
            "https://op.example/v2/x/oidc/.well-known/openid-configuration"
        );
        assert_eq!(
            ProviderMetadata::discovery_url("https://op.example/")
                .unwrap()
                .as_str(),
            "https://op.example/.well-known/openid-configuration"
        );
        assert!(ProviderMetadata::discovery_url("ftp://op.example").is_err());
        assert!(ProviderMetadata::discovery_url("https://op.example?x=1").is_err());
    }
}
