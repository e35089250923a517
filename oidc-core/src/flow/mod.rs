//! The authorization-code flow with PKCE, for one client of one provider.
//!
//! ```no_run
//! # async fn run() -> Result<(), oidc_core::Error> {
//! use oidc_core::flow::{Client, ClientAuth, ClientConfig};
//! use oidc_core::secret::ClientSecret;
//!
//! let config = ClientConfig::new(
//!     "my-client",
//!     ClientAuth::ClientSecretBasic(ClientSecret::new("s3cret")),
//!     "https://app.example/oauth2/callback",
//! )?;
//! let http = oidc_core::http::default_client()?;
//! let client = Client::discover("https://op.example", config, http).await?;
//! let request = client.authorization_request().build()?;
//! // Redirect the browser to `request.url`; keep `request` (state, nonce, PKCE verifier)
//! // until the callback, then:
//! # let callback_query = "";
//! let code = client.parse_callback(callback_query, &request.state)?;
//! let tokens = client.exchange_code(&code, &request).await?;
//! println!("hello {:?}", tokens.id_token().map(|t| t.claims().sub.clone()));
//! # Ok(()) }
//! ```

mod authorize;
mod client_auth;
mod logout;
mod revoke;
mod token;
mod userinfo;

pub use self::authorize::{AuthorizationRequest, AuthorizationRequestBuilder};
#[cfg(feature = "testing")]
pub(crate) use self::client_auth::random_token;
pub use self::client_auth::{ClientAuth, PrivateKey};
pub use self::logout::LogoutRequest;
pub use self::revoke::TokenKind;
pub use self::token::TokenSet;
pub use self::userinfo::UserInfo;

use std::sync::Arc;

use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet, RedirectUrl, RevocationUrl,
    StandardRevocableToken, StandardTokenIntrospectionResponse, StandardTokenResponse, TokenUrl,
};
use url::Url;

use crate::clock::{SharedClock, SystemClock};
use crate::discovery::ProviderMetadata;
use crate::error::{ConfigError, Error};
use crate::http::SharedHttpClient;
use crate::jwks::{JwksCache, JwksCacheConfig};
use crate::verify::{DEFAULT_CLOCK_SKEW, IdTokenVerifier, Verifier};

/// The scopes requested when none are configured, as oauth2-proxy and the seeds use.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// The client's registration at the provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The `client_id`.
    pub client_id: String,
    /// How the client authenticates at the token endpoint.
    pub auth: ClientAuth,
    /// The registered redirect URI, sent verbatim.
    pub redirect_uri: Url,
    /// The scopes to request (default [`DEFAULT_SCOPES`]).
    pub scopes: Vec<String>,
    /// Tolerance for ID-token time claims (default 60 s).
    pub clock_skew: std::time::Duration,
    /// The clock (default the system clock).
    pub clock: SharedClock,
    /// Key-cache settings.
    pub jwks: JwksCacheConfig,
}

impl ClientConfig {
    /// A configuration with the default scopes, skew and clock.
    pub fn new(
        client_id: impl Into<String>,
        auth: ClientAuth,
        redirect_uri: &str,
    ) -> Result<Self, ConfigError> {
        let client_id = client_id.into();
        if client_id.is_empty() {
            return Err(ConfigError::Missing("client_id"));
        }
        let redirect_uri = Url::parse(redirect_uri).map_err(|e| ConfigError::InvalidUrl {
            what: "redirect",
            reason: e.to_string(),
        })?;
        if redirect_uri.fragment().is_some() {
            return Err(ConfigError::InvalidUrl {
                what: "redirect",
                reason: "a redirect URI has no fragment (RFC 6749 3.1.2)".into(),
            });
        }
        Ok(Self {
            client_id,
            auth,
            redirect_uri,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            clock_skew: DEFAULT_CLOCK_SKEW,
            clock: Arc::new(SystemClock),
            jwks: JwksCacheConfig::default(),
        })
    }

    /// Replaces the requested scopes.
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the key-cache settings.
    #[must_use]
    pub fn jwks(mut self, jwks: JwksCacheConfig) -> Self {
        self.jwks = jwks;
        self
    }
}

/// The ID-token fields of a token response (`id_token`), for the `oauth2` crate.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub(crate) struct IdTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenFields {}

pub(crate) type TokenResponse = StandardTokenResponse<IdTokenFields, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    StandardTokenIntrospectionResponse<oauth2::EmptyExtraTokenFields, BasicTokenType>,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointSet,
>;

/// Bridges our [`HttpClient`](crate::http::HttpClient) to the `oauth2` crate. A named type
/// rather than a closure, so the futures of the flow stay `Send` for every lifetime (a
/// closure returning a borrowed future is not, and tower services need `Send`).
struct OAuthHttp<'a>(&'a dyn crate::http::HttpClient);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = crate::http::HttpError;
    type Future = crate::http::BoxFuture<'c, Result<oauth2::HttpResponse, Self::Error>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        self.0.execute(request)
    }
}

/// A relying party of one provider: builds authorization requests, handles callbacks,
/// exchanges and refreshes tokens, calls userinfo and revocation, builds logout URLs.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    metadata: ProviderMetadata,
    config: ClientConfig,
    http: SharedHttpClient,
    jwks: JwksCache,
    id_tokens: IdTokenVerifier,
    oauth: OAuthClient,
}

impl Client {
    /// Discovers the provider at `issuer` and builds a client.
    pub async fn discover(
        issuer: &str,
        config: ClientConfig,
        http: SharedHttpClient,
    ) -> Result<Client, Error> {
        let metadata = ProviderMetadata::discover(&*http, issuer).await?;
        Client::new(metadata, config, http)
    }

    /// A client for already known provider metadata.
    pub fn new(
        metadata: ProviderMetadata,
        config: ClientConfig,
        http: SharedHttpClient,
    ) -> Result<Client, Error> {
        let token_endpoint = metadata.require_token_endpoint()?.clone();
        let jwks = JwksCache::new(metadata.jwks_uri.clone(), http.clone(), config.jwks);
        let id_tokens = IdTokenVerifier::new(
            Verifier::builder(metadata.issuer.clone())
                .clock(config.clock.clone())
                .clock_skew(config.clock_skew),
            &config.client_id,
        )?;
        let mut oauth = oauth2::Client::new(oauth2::ClientId::new(config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(metadata.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(token_endpoint))
            .set_revocation_url_option(
                metadata
                    .revocation_endpoint
                    .clone()
                    .map(RevocationUrl::from_url),
            )
            .set_redirect_uri(RedirectUrl::from_url(config.redirect_uri.clone()));
        oauth = match &config.auth {
            ClientAuth::ClientSecretBasic(secret) => oauth
                .set_client_secret(oauth2::ClientSecret::new(secret.secret().to_owned()))
                .set_auth_type(AuthType::BasicAuth),
            ClientAuth::ClientSecretPost(secret) => oauth
                .set_client_secret(oauth2::ClientSecret::new(secret.secret().to_owned()))
                .set_auth_type(AuthType::RequestBody),
            _ => oauth.set_auth_type(AuthType::RequestBody),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                metadata,
                config,
                http,
                jwks,
                id_tokens,
                oauth,
            }),
        })
    }

    /// The provider's metadata.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.inner.metadata
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The provider's key cache.
    pub fn jwks(&self) -> &JwksCache {
        &self.inner.jwks
    }

    /// The ID-token verifier for this client.
    pub fn id_token_verifier(&self) -> &IdTokenVerifier {
        &self.inner.id_tokens
    }

    fn http(&self) -> &SharedHttpClient {
        &self.inner.http
    }

    /// The `client_assertion` parameters for the JWT methods, empty for the others.
    fn assertion_params(&self, audience: &Url) -> Result<Vec<(&'static str, String)>, Error> {
        let now = self.inner.config.clock.unix_now();
        Ok(client_auth::assertion(
            &self.inner.config.auth,
            &self.inner.config.client_id,
            audience.as_str(),
            now,
        )?
        .map(|assertion| {
            vec![
                (
                    "client_assertion_type",
                    client_auth::ASSERTION_TYPE.to_owned(),
                ),
                ("client_assertion", assertion),
            ]
        })
        .unwrap_or_default())
    }
}
