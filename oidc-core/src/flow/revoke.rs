//! Token revocation (RFC 7009).

use oauth2::{AccessToken, RefreshToken, RequestTokenError, StandardRevocableToken};

use super::Client;
use crate::error::{DiscoveryError, Error, FlowError};
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
    /// Revokes `token` at the provider's revocation endpoint.
    pub async fn revoke(&self, token: &TokenSecret, kind: TokenKind) -> Result<(), Error> {
        let token = match kind {
            TokenKind::AccessToken => {
                StandardRevocableToken::AccessToken(AccessToken::new(token.secret().to_owned()))
            }
            TokenKind::RefreshToken => {
                StandardRevocableToken::RefreshToken(RefreshToken::new(token.secret().to_owned()))
            }
        };
        let mut request = self
            .inner
            .oauth
            .revoke_token(token)
            .map_err(|_| DiscoveryError::MissingEndpoint("revocation_endpoint"))?;
        for (name, value) in self.assertion_params(self.inner.oauth.token_uri().url())? {
            request = request.add_extra_param(name, value);
        }
        let http = &*self.inner.http;
        let call = |req| http.execute(req);
        request.request_async(&call).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => FlowError::UnexpectedResponse {
                endpoint: "revocation",
                reason: r.error().as_ref().to_owned(),
            }
            .into(),
            RequestTokenError::Request(e) => e.into(),
            RequestTokenError::Parse(e, _) => Error::from(FlowError::UnexpectedResponse {
                endpoint: "revocation",
                reason: e.to_string(),
            }),
            RequestTokenError::Other(reason) => FlowError::UnexpectedResponse {
                endpoint: "revocation",
                reason,
            }
            .into(),
        })
    }
}
