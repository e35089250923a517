//! Signing keys made at start, and token minting, for tests and the development provider.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    self as sig, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::jwks::KeySet;
use crate::verify::Algorithm;

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its public JWK.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// A fresh 2048-bit RSA key, signing with `alg` (an RS* or PS* algorithm).
    pub fn rsa(kid: &str, alg: Algorithm) -> SigningKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": alg.name(),
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        SigningKey {
            kid: kid.into(),
            alg,
            pair: Pair::Rsa(pair),
            jwk,
        }
    }

    /// A fresh P-256 (`ES256`) or P-384 (`ES384`) key.
    pub fn ec(kid: &str, alg: Algorithm) -> SigningKey {
        let (signing, crv, len) = match alg {
            Algorithm::ES384 => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
            _ => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        };
        let pair = EcdsaKeyPair::generate(signing).expect("EC key generation");
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "kid": kid, "use": "sig", "alg": alg.name(), "crv": crv,
            "x": b64(&point[1..1 + len]), "y": b64(&point[1 + len..]),
        });
        SigningKey {
            kid: kid.into(),
            alg,
            pair: Pair::Ec(pair),
            jwk,
        }
    }

    /// A fresh Ed25519 (`EdDSA`) key.
    pub fn ed25519(kid: &str) -> SigningKey {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        let jwk = json!({
            "kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
            "x": b64(pair.public_key().as_ref()),
        });
        SigningKey {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            pair: Pair::Ed(pair),
            jwk,
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The private key as PKCS#8 DER (EC and Ed25519 keys), e.g. for `private_key_jwt`.
    pub fn pkcs8_der(&self) -> Option<Vec<u8>> {
        match &self.pair {
            Pair::Ec(pair) => pair.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            Pair::Ed(pair) => pair.to_pkcs8().ok().map(|d| d.as_ref().to_vec()),
            Pair::Rsa(_) => None,
        }
    }

    /// Signs `message` with `alg` (which must fit the key's type).
    pub fn sign_with(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let encoding: &'static dyn sig::RsaEncoding = match alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &rng, message, &mut out)
                    .expect("RSA signing");
                out
            }
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .expect("EC signing")
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// A token signed by `key` with header `{"alg", "kid", "typ": "JWT"}` and `claims`.
pub fn mint(key: &SigningKey, claims: Value) -> String {
    let header = json!({"alg": key.alg().name(), "kid": key.kid(), "typ": "JWT"});
    mint_with_header(key, &header, &claims)
}

/// A token with any header (it may lie about `alg` or `kid`), signed by `key` with the
/// algorithm the header names when the key supports it, else with the key's own.
pub fn mint_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(Algorithm::from_name)
        .filter(|a| crate::jwks::KeyType::algorithms(key_type(key)).contains(a))
        .unwrap_or(key.alg());
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = key.sign_with(alg, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn key_type(key: &SigningKey) -> crate::jwks::KeyType {
    use crate::jwks::KeyType;
    match (&key.pair, key.alg) {
        (Pair::Rsa(_), _) => KeyType::Rsa,
        (Pair::Ec(_), Algorithm::ES384) => KeyType::EcP384,
        (Pair::Ec(_), _) => KeyType::EcP256,
        (Pair::Ed(_), _) => KeyType::Ed25519,
    }
}

/// One key of each supported type, made once per process.
#[derive(Debug)]
pub struct TestKeys {
    /// RSA 2048, `RS256`, kid `rsa-1`.
    pub rsa: SigningKey,
    /// A second RSA 2048 key, `RS256`, kid `rsa-2` (for rotation).
    pub rsa2: SigningKey,
    /// RSA 2048 signing `PS256`, kid `pss-1`.
    pub pss: SigningKey,
    /// P-256, `ES256`, kid `ec-1`.
    pub ec: SigningKey,
    /// P-384, `ES384`, kid `ec384-1`.
    pub ec384: SigningKey,
    /// Ed25519, `EdDSA`, kid `ed-1`.
    pub ed: SigningKey,
}

impl TestKeys {
    /// The process-wide set (RSA generation is slow, so it happens once).
    pub fn shared() -> Arc<TestKeys> {
        static KEYS: OnceLock<Arc<TestKeys>> = OnceLock::new();
        KEYS.get_or_init(|| {
            Arc::new(TestKeys {
                rsa: SigningKey::rsa("rsa-1", Algorithm::RS256),
                rsa2: SigningKey::rsa("rsa-2", Algorithm::RS256),
                pss: SigningKey::rsa("pss-1", Algorithm::PS256),
                ec: SigningKey::ec("ec-1", Algorithm::ES256),
                ec384: SigningKey::ec("ec384-1", Algorithm::ES384),
                ed: SigningKey::ed25519("ed-1"),
            })
        })
        .clone()
    }

    /// Every key except `rsa2`, in a JWKS document.
    pub fn jwks_json(&self) -> Value {
        jwks_of(&[&self.rsa, &self.pss, &self.ec, &self.ec384, &self.ed])
    }

    /// [`TestKeys::jwks_json`] parsed.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_json(self.jwks_json().to_string().as_bytes()).expect("test key set")
    }
}

/// A JWKS document of these keys' public halves.
pub fn jwks_of(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()})
}
