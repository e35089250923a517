//! RP-Initiated Logout 1.0: the URL that ends the session at the provider.

use url::Url;

use super::Client;
use crate::error::{ConfigError, DiscoveryError, Error};

/// What to send to the end-session endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogoutRequest<'a> {
    /// The ID token of the session (`id_token_hint`), recommended.
    pub id_token_hint: Option<&'a str>,
    /// Where the provider sends the browser afterwards; must be registered.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// Returned with the redirect.
    pub state: Option<&'a str>,
}

impl Client {
    /// The end-session URL with `id_token_hint`, `post_logout_redirect_uri`, `state` and
    /// `client_id`, keeping any query the endpoint already has.
    pub fn logout_url(&self, request: &LogoutRequest<'_>) -> Result<Url, Error> {
        let mut url = self
            .inner
            .metadata
            .end_session_endpoint
            .clone()
            .ok_or(DiscoveryError::MissingEndpoint("end_session_endpoint"))?;
        if let Some(uri) = request.post_logout_redirect_uri {
            Url::parse(uri).map_err(|e| ConfigError::InvalidUrl {
                what: "post_logout_redirect_uri",
                reason: e.to_string(),
            })?;
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = request.id_token_hint {
                query.append_pair("id_token_hint", hint);
            }
            if let Some(uri) = request.post_logout_redirect_uri {
                query.append_pair("post_logout_redirect_uri", uri);
            }
            if let Some(state) = request.state {
                query.append_pair("state", state);
            }
            query.append_pair("client_id", &self.inner.config.client_id);
        }
        Ok(url)
    }
}
