//! The authentication request (state, nonce, PKCE S256) and the callback.

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use url::Url;

use super::Client;
use crate::error::{Error, FlowError};
use crate::secret::{Nonce, PkceVerifier, State, TokenSecret};

/// Random bytes in `state` and `nonce`: 32, so each is 43 base64url characters (the seed
/// asks for at least 32).
const RANDOM_BYTES: u32 = 32;

/// An authentication request ready to send: redirect the browser to `url` and keep the
/// rest (in an encrypted cookie or a server-side session) until the callback.
///
/// Its `Debug` shows the endpoint only: the URL's query carries `state` and `nonce`.
#[derive(Clone)]
pub struct AuthorizationRequest {
    /// Where to send the browser.
    pub url: Url,
    /// The `state` sent; the callback must return it.
    pub state: State,
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: Nonce,
    /// The PKCE code verifier, for the code exchange.
    pub pkce_verifier: PkceVerifier,
}

impl std::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut endpoint = self.url.clone();
        endpoint.set_query(None);
        f.debug_struct("AuthorizationRequest")
            .field("endpoint", &endpoint.as_str())
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("pkce_verifier", &self.pkce_verifier)
            .finish()
    }
}

/// Builds an [`AuthorizationRequest`]; see [`Client::authorization_request`].
#[derive(Debug)]
#[must_use]
pub struct AuthorizationRequestBuilder<'c> {
    client: &'c Client,
    scopes: Vec<String>,
    extra: Vec<(String, String)>,
}

impl Client {
    /// Starts an authentication request with the configured scopes.
    pub fn authorization_request(&self) -> AuthorizationRequestBuilder<'_> {
        AuthorizationRequestBuilder {
            client: self,
            scopes: self.inner.config.scopes.clone(),
            extra: Vec::new(),
        }
    }

    /// Reads the callback's query string (or whole callback URL): checks `state` in
    /// constant time, checks `iss` when the provider sends it (RFC 9207), surfaces
    /// `error` / `error_description`, and returns the authorization code.
    pub fn parse_callback(&self, callback: &str, expected: &State) -> Result<TokenSecret, Error> {
        let query = match callback.split_once('?') {
            Some((_, q)) => q,
            None => callback,
        };
        let query = query.split('#').next().unwrap_or_default();
        let mut state = None;
        let mut code = None;
        let mut error = None;
        let mut description = None;
        let mut iss = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "state" => &mut state,
                "code" => &mut code,
                "error" => &mut error,
                "error_description" => &mut description,
                "iss" => &mut iss,
                _ => continue,
            };
            if slot.is_some() {
                return Err(FlowError::UnexpectedResponse {
                    endpoint: "callback",
                    reason: format!("parameter {name} is repeated"),
                }
                .into());
            }
            *slot = Some(value.into_owned());
        }
        if !state.as_deref().is_some_and(|s| expected.ct_eq(s)) {
            return Err(FlowError::StateMismatch.into());
        }
        if let Some(iss) = iss
            && iss != self.inner.metadata.issuer
        {
            return Err(FlowError::UnexpectedResponse {
                endpoint: "callback",
                reason: "iss is not the provider's issuer (mix-up attack?)".into(),
            }
            .into());
        }
        if let Some(error) = error {
            return Err(FlowError::Provider { error, description }.into());
        }
        code.filter(|c| !c.is_empty())
            .map(TokenSecret::new)
            .ok_or_else(|| FlowError::MissingCode.into())
    }
}

impl AuthorizationRequestBuilder<'_> {
    /// Replaces the scopes (`openid` is added when missing).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds `prompt` (`login`, `consent`, `none`, `select_account`).
    pub fn prompt(self, prompt: &str) -> Self {
        self.param("prompt", prompt)
    }

    /// Adds `login_hint`.
    pub fn login_hint(self, hint: &str) -> Self {
        self.param("login_hint", hint)
    }

    /// Adds `acr_values`.
    pub fn acr_values(self, acr: &str) -> Self {
        self.param("acr_values", acr)
    }

    /// Adds another parameter (e.g. `resource`, `max_age`, `ui_locales`). The protocol's
    /// own parameters (`state`, `nonce`, `code_challenge`, ...) cannot be replaced.
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Builds the URL with fresh random `state`, `nonce` and PKCE S256 challenge.
    pub fn build(self) -> Result<AuthorizationRequest, Error> {
        const RESERVED: [&str; 8] = [
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
        ];
        if let Some((name, _)) = self
            .extra
            .iter()
            .find(|(n, _)| RESERVED.contains(&n.as_str()))
        {
            return Err(crate::error::ConfigError::Invalid {
                what: "authorization parameter",
                reason: format!("{name} is set by the flow"),
            }
            .into());
        }
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(RANDOM_BYTES);
        let nonce = CsrfToken::new_random_len(RANDOM_BYTES);
        let mut scopes = self.scopes;
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let mut request = self
            .client
            .inner
            .oauth
            .authorize_url(|| CsrfToken::new_random_len(RANDOM_BYTES))
            .add_scopes(scopes.into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.secret().clone());
        for (name, value) in self.extra {
            request = request.add_extra_param(name, value);
        }
        let (url, state) = request.url();
        Ok(AuthorizationRequest {
            url,
            state: State::new(state.secret().clone()),
            nonce: Nonce::new(nonce.secret().clone()),
            pkce_verifier: PkceVerifier::new(verifier.secret().clone()),
        })
    }
}
