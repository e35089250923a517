//! Code exchange and refresh at the token endpoint.

use std::time::Duration;

use oauth2::basic::BasicErrorResponse;
use oauth2::{
    AuthorizationCode, PkceCodeVerifier, RefreshToken, RequestTokenError, TokenResponse as _,
};
use time::OffsetDateTime;

use super::{AuthorizationRequest, Client, TokenResponse};
use crate::error::{Error, FlowError, TokenError};
use crate::http::HttpError;
use crate::secret::TokenSecret;
use crate::verify::{IdTokenChecks, VerifiedToken};

/// The tokens of a successful exchange or refresh.
#[derive(Debug, Clone)]
pub struct TokenSet {
    access_token: TokenSecret,
    token_type: String,
    refresh_token: Option<TokenSecret>,
    expires_at: Option<OffsetDateTime>,
    scopes: Option<Vec<String>>,
    id_token: Option<(TokenSecret, VerifiedToken)>,
}

impl TokenSet {
    /// The access token.
    pub fn access_token(&self) -> &TokenSecret {
        &self.access_token
    }

    /// The token type (`Bearer`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The refresh token, if one was issued. After a refresh without a new one, keep using
    /// the previous refresh token.
    pub fn refresh_token(&self) -> Option<&TokenSecret> {
        self.refresh_token.as_ref()
    }

    /// When the access token expires, from `expires_in`.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }

    /// The granted scopes, when the provider says.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }

    /// The verified ID token.
    pub fn id_token(&self) -> Option<&VerifiedToken> {
        self.id_token.as_ref().map(|(_, v)| v)
    }

    /// The raw ID token (for `id_token_hint` at logout).
    pub fn id_token_raw(&self) -> Option<&TokenSecret> {
        self.id_token.as_ref().map(|(raw, _)| raw)
    }
}

impl Client {
    /// Exchanges the callback's `code` (RFC 6749 4.1.3) with the request's PKCE verifier,
    /// and verifies the ID token: signature, `iss`, `aud`, `azp`, times, `nonce`, and
    /// `at_hash` / `c_hash` when present. A response without an ID token is an error.
    pub async fn exchange_code(
        &self,
        code: &TokenSecret,
        request: &AuthorizationRequest,
    ) -> Result<TokenSet, Error> {
        let mut exchange = self
            .inner
            .oauth
            .exchange_code(AuthorizationCode::new(code.secret().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                request.pkce_verifier.secret().to_owned(),
            ));
        for (name, value) in self.assertion_params(self.inner.oauth.token_uri().url())? {
            exchange = exchange.add_extra_param(name, value);
        }
        let http = super::OAuthHttp(&*self.inner.http);
        let response = exchange.request_async(&http).await.map_err(token_error)?;
        let raw_id = response
            .extra_fields()
            .id_token
            .clone()
            .ok_or(FlowError::MissingIdToken)?;
        let checks = IdTokenChecks {
            nonce: Some(request.nonce.secret()),
            access_token: Some(response.access_token().secret()),
            code: Some(code.secret()),
        };
        let verified = self
            .inner
            .id_tokens
            .verify_with_cache(&raw_id, &self.inner.jwks, &checks)
            .await?;
        Ok(self.token_set(response, Some((TokenSecret::new(raw_id), verified))))
    }

    /// Refreshes (RFC 6749 6). When the response carries an ID token it is verified, and
    /// its `sub` must be `expected_sub` (OpenID Connect Core 12.2) when given.
    pub async fn refresh(
        &self,
        refresh_token: &TokenSecret,
        expected_sub: Option<&str>,
    ) -> Result<TokenSet, Error> {
        let token = RefreshToken::new(refresh_token.secret().to_owned());
        let mut request = self.inner.oauth.exchange_refresh_token(&token);
        for (name, value) in self.assertion_params(self.inner.oauth.token_uri().url())? {
            request = request.add_extra_param(name, value);
        }
        let http = super::OAuthHttp(&*self.inner.http);
        let response = request.request_async(&http).await.map_err(token_error)?;
        let id_token = match response.extra_fields().id_token.clone() {
            None => None,
            Some(raw) => {
                let checks = IdTokenChecks {
                    access_token: Some(response.access_token().secret()),
                    ..IdTokenChecks::default()
                };
                let verified = self
                    .inner
                    .id_tokens
                    .verify_with_cache(&raw, &self.inner.jwks, &checks)
                    .await?;
                if let Some(expected) = expected_sub
                    && verified.claims().sub.as_deref() != Some(expected)
                {
                    return Err(TokenError::SubjectMismatch.into());
                }
                Some((TokenSecret::new(raw), verified))
            }
        };
        Ok(self.token_set(response, id_token))
    }

    fn token_set(
        &self,
        response: TokenResponse,
        id_token: Option<(TokenSecret, VerifiedToken)>,
    ) -> TokenSet {
        let now = self.inner.config.clock.now();
        TokenSet {
            access_token: TokenSecret::new(response.access_token().secret().to_owned()),
            token_type: "Bearer".to_owned(),
            refresh_token: response
                .refresh_token()
                .map(|t| TokenSecret::new(t.secret().to_owned())),
            expires_at: response
                .expires_in()
                .map(|d| now + d.min(Duration::from_secs(10 * 365 * 24 * 3600))),
            scopes: response
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect()),
            id_token,
        }
    }
}

/// Maps the `oauth2` crate's error into ours, keeping the provider's `error` code.
pub(crate) fn token_error(e: RequestTokenError<HttpError, BasicErrorResponse>) -> Error {
    match e {
        RequestTokenError::ServerResponse(r) => FlowError::TokenEndpoint {
            error: r.error().as_ref().to_owned(),
            description: r.error_description().cloned(),
        }
        .into(),
        RequestTokenError::Request(e) => e.into(),
        RequestTokenError::Parse(e, _) => FlowError::UnexpectedResponse {
            endpoint: "token",
            reason: e.to_string(),
        }
        .into(),
        RequestTokenError::Other(reason) => FlowError::UnexpectedResponse {
            endpoint: "token",
            reason,
        }
        .into(),
    }
}
