//! Token-endpoint client authentication: the five methods of OpenID Connect Core 9.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use crate::error::{ConfigError, FlowError};
use crate::secret::ClientSecret;

/// How the client authenticates at the token, revocation and introspection endpoints.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the form-encoded id and secret (RFC 6749 2.3.1).
    ClientSecretBasic(ClientSecret),
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost(ClientSecret),
    /// `client_secret_jwt`: an HS256 assertion keyed with the client secret.
    ClientSecretJwt(ClientSecret),
    /// `private_key_jwt`: an assertion signed with the client's private key.
    PrivateKeyJwt(PrivateKey),
    /// `none`: a public client, identified by `client_id` only (PKCE protects the code).
    None,
}

impl ClientAuth {
    /// The method's registered name (`client_secret_basic`, ...).
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::ClientSecretBasic(_) => "client_secret_basic",
            ClientAuth::ClientSecretPost(_) => "client_secret_post",
            ClientAuth::ClientSecretJwt(_) => "client_secret_jwt",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
            ClientAuth::None => "none",
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientAuth({})", self.method())
    }
}

/// A private key for `private_key_jwt`. Its `Debug` shows only the algorithm and `kid`.
#[derive(Clone)]
pub struct PrivateKey {
    key: EncodingKey,
    alg: jsonwebtoken::Algorithm,
    kid: Option<String>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A key from PEM (PKCS#8 or PKCS#1 for RSA, PKCS#8 or SEC1 for EC, PKCS#8 for
    /// Ed25519), used with `alg` (RS*, PS*, ES256, ES384 or EdDSA).
    pub fn from_pem(
        pem: &[u8],
        alg: jsonwebtoken::Algorithm,
        kid: Option<String>,
    ) -> Result<Self, ConfigError> {
        use jsonwebtoken::Algorithm::*;
        let invalid = |e: jsonwebtoken::errors::Error| ConfigError::Invalid {
            what: "client private key",
            reason: e.to_string(),
        };
        let key = match alg {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
                EncodingKey::from_rsa_pem(pem).map_err(invalid)?
            }
            ES256 | ES384 => EncodingKey::from_ec_pem(pem).map_err(invalid)?,
            EdDSA => EncodingKey::from_ed_pem(pem).map_err(invalid)?,
            other => {
                return Err(ConfigError::Invalid {
                    what: "client private key",
                    reason: format!("{other:?} is not an asymmetric algorithm"),
                });
            }
        };
        Ok(Self { key, alg, kid })
    }

    /// A key from an already built `jsonwebtoken` key.
    pub fn from_encoding_key(
        key: EncodingKey,
        alg: jsonwebtoken::Algorithm,
        kid: Option<String>,
    ) -> Self {
        Self { key, alg, kid }
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The `client_assertion` for the JWT methods (RFC 7523 3), or `None` for the others.
pub(crate) fn assertion(
    auth: &ClientAuth,
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<Option<String>, FlowError> {
    let (key, header) = match auth {
        ClientAuth::ClientSecretJwt(secret) => (
            EncodingKey::from_secret(secret.secret().as_bytes()),
            Header::new(jsonwebtoken::Algorithm::HS256),
        ),
        ClientAuth::PrivateKeyJwt(private) => {
            let mut header = Header::new(private.alg);
            header.kid = private.kid.clone();
            (private.key.clone(), header)
        }
        _ => return Ok(None),
    };
    let claims = AssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        jti: random_token(24)?,
        iat: now,
        exp: now + 60,
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Some)
        .map_err(|e| FlowError::ClientAssertion(e.to_string()))
}

/// `bytes` random bytes, base64url-encoded.
pub(crate) fn random_token(bytes: usize) -> Result<String, FlowError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| FlowError::ClientAssertion("no randomness available".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The `client_assertion_type` of RFC 7523.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
