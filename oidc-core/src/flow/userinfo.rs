//! The userinfo endpoint (OpenID Connect Core 5.3).

use serde_json::{Map, Value};

use super::Client;
use crate::error::{DiscoveryError, Error, FlowError, TokenError};
use crate::http::HttpError;
use crate::secret::TokenSecret;
use crate::verify::Verifier;

/// The claims the userinfo endpoint returned.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// `sub`, equal to the ID token's when one was given.
    pub sub: String,
    /// Every claim returned.
    pub claims: Map<String, Value>,
}

impl Client {
    /// Calls userinfo with `access_token`. A JSON answer and a signed JWT answer
    /// (`application/jwt`, verified with the provider's keys) are accepted. When
    /// `expected_sub` (the ID token's `sub`) is given, the answer's `sub` must equal it.
    pub async fn userinfo(
        &self,
        access_token: &TokenSecret,
        expected_sub: Option<&str>,
    ) -> Result<UserInfo, Error> {
        let endpoint = self
            .inner
            .metadata
            .userinfo_endpoint
            .as_ref()
            .ok_or(DiscoveryError::MissingEndpoint("userinfo_endpoint"))?;
        let mut authorization =
            http::HeaderValue::try_from(format!("Bearer {}", access_token.secret())).map_err(
                |_| HttpError::InvalidRequest("access token is not a header value".into()),
            )?;
        authorization.set_sensitive(true);
        let request = http::Request::get(endpoint.as_str())
            .header(http::header::AUTHORIZATION, authorization)
            .header(http::header::ACCEPT, "application/json, application/jwt")
            .body(Vec::new())
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        let response = self.http().execute(request).await?;
        let unexpected = |reason: String| FlowError::UnexpectedResponse {
            endpoint: "userinfo",
            reason,
        };
        if response.status() != http::StatusCode::OK {
            let detail = response
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" ({v})"))
                .unwrap_or_default();
            return Err(
                unexpected(format!("status {}{detail}", response.status().as_u16())).into(),
            );
        }
        let is_jwt = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/jwt")
            });
        let claims = if is_jwt {
            let body = std::str::from_utf8(response.body())
                .map_err(|_| unexpected("signed answer is not UTF-8".into()))?;
            self.verify_signed_userinfo(body.trim()).await?
        } else {
            serde_json::from_slice::<Map<String, Value>>(response.body())
                .map_err(|e| unexpected(format!("not a JSON object: {e}")))?
        };
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| unexpected("no sub".into()))?
            .to_owned();
        if expected_sub.is_some_and(|expected| expected != sub) {
            return Err(TokenError::SubjectMismatch.into());
        }
        Ok(UserInfo { sub, claims })
    }

    async fn verify_signed_userinfo(&self, jwt: &str) -> Result<Map<String, Value>, Error> {
        // A signed userinfo response carries iss and aud (5.3.2); it may lack exp. We
        // fetched it ourselves: a cnf in it binds nothing presented to us.
        let verifier = Verifier::builder(self.inner.metadata.issuer.clone())
            .audience(self.inner.config.client_id.clone())
            .require_exp(false)
            .accept_sender_constrained()
            .clock(self.inner.config.clock.clone())
            .clock_skew(self.inner.config.clock_skew)
            .build()?;
        let verified = verifier.verify_with_cache(jwt, &self.inner.jwks).await?;
        Ok(verified.claims().all.clone())
    }
}
