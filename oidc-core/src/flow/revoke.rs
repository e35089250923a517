//! Token revocation (RFC 7009).
//!
//! Sent directly rather than through the `oauth2` crate, which refuses `http:` revocation
//! endpoints even on loopback.

use super::Client;
use crate::error::{DiscoveryError, Error, FlowError};
use crate::http::HttpError;
use crate::secret::TokenSecret;

/// Which kind of token is revoked (sent as `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    AccessToken,
    /// A refresh token (revoking it usually ends the grant).
    RefreshToken,
}

impl Client {
    /// Revokes `token` at the provider's revocation endpoint, authenticating as at the
    /// token endpoint. An unknown or already revoked token is success (RFC 7009 2.2).
    pub async fn revoke(&self, token: &TokenSecret, kind: TokenKind) -> Result<(), Error> {
        let endpoint = self
            .inner
            .metadata
            .revocation_endpoint
            .clone()
            .ok_or(DiscoveryError::MissingEndpoint("revocation_endpoint"))?;
        let hint = match kind {
            TokenKind::AccessToken => "access_token",
            TokenKind::RefreshToken => "refresh_token",
        };
        let request = self.authenticated_form(
            &endpoint,
            &[("token", token.secret()), ("token_type_hint", hint)],
        )?;
        let response = self.http().execute(request).await?;
        if response.status().is_success() {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct OAuthError {
            error: String,
            error_description: Option<String>,
        }
        let reason = match serde_json::from_slice::<OAuthError>(response.body()) {
            Ok(e) => format!(
                "{}{}",
                e.error,
                e.error_description
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Err(_) => format!("status {}", response.status().as_u16()),
        };
        Err(FlowError::UnexpectedResponse {
            endpoint: "revocation",
            reason,
        }
        .into())
    }

    /// A form POST to `endpoint` with the client's authentication applied.
    pub(crate) fn authenticated_form(
        &self,
        endpoint: &url::Url,
        params: &[(&str, &str)],
    ) -> Result<http::Request<Vec<u8>>, Error> {
        use super::ClientAuth;
        use base64::Engine as _;
        let config = &self.inner.config;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        let mut request = http::Request::post(endpoint.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        match &config.auth {
            ClientAuth::ClientSecretBasic(secret) => {
                // RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", encode(&config.client_id), encode(secret.secret()));
                let mut value = http::HeaderValue::try_from(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
                .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
                value.set_sensitive(true);
                request = request.header(http::header::AUTHORIZATION, value);
            }
            ClientAuth::ClientSecretPost(secret) => {
                form.append_pair("client_id", &config.client_id);
                form.append_pair("client_secret", secret.secret());
            }
            _ => {
                form.append_pair("client_id", &config.client_id);
                let audience = self.inner.oauth.token_uri().url().clone();
                for (name, value) in self.assertion_params(&audience)? {
                    form.append_pair(name, &value);
                }
            }
        }
        request
            .body(form.finish().into_bytes())
            .map_err(|e| HttpError::InvalidRequest(e.to_string()).into())
    }
}
