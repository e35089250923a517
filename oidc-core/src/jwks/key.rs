//! One verification key, built once from its JWK.

use std::fmt;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::verify::Algorithm;

/// The key type of a JWK (`kty`, with the curve for EC and OKP keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`, `crv: P-256`.
    EcP256,
    /// `kty: EC`, `crv: P-384`.
    EcP384,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl KeyType {
    /// The algorithms a key of this type may verify: the allow-list per key type.
    pub fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            KeyType::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            KeyType::EcP256 => &[ES256],
            KeyType::EcP384 => &[ES384],
            KeyType::Ed25519 => &[EdDSA],
        }
    }
}

/// The fields of a JWK this crate reads. Unknown members are ignored (RFC 7517, 4).
#[derive(Deserialize)]
pub(crate) struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// A public key ready to verify signatures: parsed once when the key set is loaded.
pub struct Key {
    kid: Option<String>,
    kty: KeyType,
    fingerprint: u64,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kty", &self.kty)
            .field(
                "algorithms",
                &self.verifiers.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Key {
    /// The key id (`kid`), if the JWK has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.kty
    }

    /// A stable digest of the key material, equal for the same key fetched twice.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// True when this key may verify `alg` (its type allows it and its JWK `alg`, if any,
    /// names it).
    pub fn allows(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// Checks `signature` over `message` with `alg`. False when the key does not allow
    /// `alg` or the signature is wrong.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, key)| key.verify_sig(message, signature).is_ok())
    }

    /// Builds a key from a JWK. `Err` carries why the key is skipped.
    pub(crate) fn from_jwk(jwk: RawJwk) -> Result<Key, String> {
        if let Some(use_) = jwk.use_.as_deref()
            && use_ != "sig"
        {
            return Err(format!("use {use_:?} is not sig"));
        }
        if let Some(ops) = &jwk.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err("key_ops does not include verify".into());
        }
        let kty = jwk.kty.as_deref().ok_or("no kty")?;
        let pinned = match jwk.alg.as_deref() {
            None => None,
            Some(name) => Some(
                Algorithm::from_name(name)
                    .ok_or_else(|| format!("alg {name:?} is not supported"))?,
            ),
        };
        let (key_type, material) = match kty {
            "RSA" => {
                let n = strip_leading_zeros(b64(&jwk.n, "n")?);
                let e = strip_leading_zeros(b64(&jwk.e, "e")?);
                // The verification algorithms accept 2048 to 8192 bits; say so at load.
                let bits = match n.first() {
                    Some(first) => n.len() * 8 - first.leading_zeros() as usize,
                    None => 0,
                };
                if !(2048..=8192).contains(&bits) {
                    return Err(format!("RSA modulus of {bits} bits is outside 2048..=8192"));
                }
                (KeyType::Rsa, Material::Rsa { n, e })
            }
            "EC" => {
                let (key_type, len) = match jwk.crv.as_deref() {
                    Some("P-256") => (KeyType::EcP256, 32),
                    Some("P-384") => (KeyType::EcP384, 48),
                    other => return Err(format!("crv {other:?} is not supported")),
                };
                let x = b64(&jwk.x, "x")?;
                let y = b64(&jwk.y, "y")?;
                if x.len() != len || y.len() != len {
                    return Err("EC coordinates have the wrong length".into());
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (key_type, Material::Raw(point))
            }
            "OKP" => match jwk.crv.as_deref() {
                Some("Ed25519") => {
                    let x = b64(&jwk.x, "x")?;
                    if x.len() != 32 {
                        return Err("Ed25519 key has the wrong length".into());
                    }
                    (KeyType::Ed25519, Material::Raw(x))
                }
                other => return Err(format!("crv {other:?} is not supported")),
            },
            other => return Err(format!("kty {other:?} is not supported")),
        };
        let algorithms: Vec<Algorithm> = match pinned {
            Some(alg) if key_type.algorithms().contains(&alg) => vec![alg],
            Some(alg) => return Err(format!("alg {alg} does not fit kty {kty}")),
            None => key_type.algorithms().to_vec(),
        };
        let mut verifiers = Vec::with_capacity(algorithms.len());
        for alg in algorithms {
            let parsed = material
                .parse(alg)
                .map_err(|e| format!("key rejected for {alg}: {e}"))?;
            verifiers.push((alg, parsed));
        }
        Ok(Key {
            kid: jwk.kid,
            kty: key_type,
            fingerprint: material.fingerprint(key_type),
            verifiers,
        })
    }
}

enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Raw(Vec<u8>),
}

impl Material {
    fn parse(&self, alg: Algorithm) -> Result<ParsedPublicKey, aws_lc_rs::error::KeyRejected> {
        match self {
            Material::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.to_parsed_public_key(rsa_params(alg))
            }
            Material::Raw(bytes) => ParsedPublicKey::new(raw_params(alg), bytes),
        }
    }

    fn fingerprint(&self, key_type: KeyType) -> u64 {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(format!("{key_type:?}").as_bytes());
        match self {
            Material::Rsa { n, e } => {
                ctx.update(n);
                ctx.update(b".");
                ctx.update(e);
            }
            Material::Raw(bytes) => ctx.update(bytes),
        }
        let digest = ctx.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        u64::from_be_bytes(first)
    }
}

fn rsa_params(alg: Algorithm) -> &'static sig::RsaParameters {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn raw_params(alg: Algorithm) -> &'static dyn sig::VerificationAlgorithm {
    match alg {
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        _ => &sig::ECDSA_P256_SHA256_FIXED,
    }
}

fn b64(value: &Option<String>, member: &str) -> Result<Vec<u8>, String> {
    let value = value
        .as_deref()
        .ok_or_else(|| format!("member {member} is missing"))?;
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("member {member} is not base64url"))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros.min(bytes.len().saturating_sub(1)));
    bytes
}
