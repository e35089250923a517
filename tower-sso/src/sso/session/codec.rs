//! The session cookie's cryptography: the whole session is sealed once with AES-256-GCM
//! (aws-lc-rs), the cookie name is authenticated with it, and a one-byte key id lets old
//! cookies open after the secret is rotated.
//!
//! Wire form (before base64url): `version (1) | key id (1) | nonce (12) | ciphertext | tag (16)`.
//! The associated data is `edge-sso/v1|<cookie name>`, so a value moved to another cookie
//! name does not open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::error::ConfigError;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// A cookie secret as oauth2-proxy accepts it: base64 (standard or URL-safe, padded or not)
/// of 16, 24 or 32 bytes, or 16, 24 or 32 raw bytes. Its `Debug` is redacted.
#[derive(Clone)]
pub struct CookieSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieSecret([redacted])")
    }
}

impl CookieSecret {
    /// Parses a secret: decoded base64 first (as oauth2-proxy), then the raw bytes.
    pub fn parse(text: &str) -> Result<CookieSecret, ConfigError> {
        let ok = |n: usize| matches!(n, 16 | 24 | 32);
        for engine in [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD, &STANDARD_NO_PAD] {
            if let Ok(bytes) = engine.decode(text.trim())
                && ok(bytes.len())
            {
                return Ok(CookieSecret(Zeroizing::new(bytes)));
            }
        }
        if ok(text.len()) {
            return Ok(CookieSecret(Zeroizing::new(text.as_bytes().to_vec())));
        }
        Err(ConfigError::Invalid {
            what: "cookie-secret",
            reason: format!(
                "must be 16, 24 or 32 bytes, raw or base64 (got {} bytes); generate one with `openssl rand -base64 32 | tr -- '+/' '-_'`",
                text.len()
            ),
        })
    }

    /// A fresh random 32-byte secret (for the demo and tests).
    pub fn random() -> CookieSecret {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        // aws-lc's generator does not fail on supported platforms; a zero key would still
        // only be weak, not unsafe to use.
        let _ = aws_lc_rs::rand::fill(&mut bytes);
        CookieSecret(bytes)
    }
}

/// Fills `bytes` from the system's secure random generator (aws-lc-rs).
pub fn fill_random(bytes: &mut [u8]) -> Result<(), CodecError> {
    aws_lc_rs::rand::fill(bytes).map_err(|_| CodecError::Seal)
}

/// Why a sealed value did not open. Callers treat every variant as "no session".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Not base64url, too short, or an unknown version.
    #[error("malformed session cookie")]
    Malformed,
    /// Sealed with a key we do not have (rotated out).
    #[error("session cookie sealed with an unknown key")]
    UnknownKey,
    /// Authentication failed: tampered, truncated, or from another cookie name.
    #[error("session cookie does not authenticate")]
    Tampered,
    /// The system could not seal (no randomness).
    #[error("cannot seal the session")]
    Seal,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

struct SealingKey {
    id: u8,
    key: RandomizedNonceKey,
}

/// Seals and opens session cookies with a primary key and any previous keys.
pub struct Codec {
    keys: Vec<SealingKey>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn derive(secret: &CookieSecret) -> Result<SealingKey, ConfigError> {
    let prk = Salt::new(HKDF_SHA256, b"edge-sso session cookie v1").extract(&secret.0);
    let fail = || ConfigError::Invalid {
        what: "cookie-secret",
        reason: "key derivation failed".into(),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    prk.expand(&[b"aes-256-gcm key"], Len(32))
        .and_then(|okm| okm.fill(&mut key[..]))
        .map_err(|_| fail())?;
    let mut id = [0u8; 1];
    prk.expand(&[b"key id"], Len(1))
        .and_then(|okm| okm.fill(&mut id))
        .map_err(|_| fail())?;
    Ok(SealingKey {
        id: id[0],
        key: RandomizedNonceKey::new(&AES_256_GCM, &key[..]).map_err(|_| fail())?,
    })
}

fn aad(cookie_name: &str) -> Vec<u8> {
    let mut aad = b"edge-sso/v1|".to_vec();
    aad.extend_from_slice(cookie_name.as_bytes());
    aad
}

impl Codec {
    /// A codec sealing with `primary` and also opening what `previous` secrets sealed.
    pub fn new(primary: &CookieSecret, previous: &[CookieSecret]) -> Result<Codec, ConfigError> {
        let keys = std::iter::once(primary)
            .chain(previous)
            .map(derive)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Codec { keys })
    }

    /// Seals `plaintext` for the cookie `cookie_name`; the result is base64url text.
    pub fn seal(&self, cookie_name: &str, plaintext: &[u8]) -> Result<String, CodecError> {
        let primary = &self.keys[0];
        let mut in_out = Zeroizing::new(plaintext.to_vec());
        let nonce = primary
            .key
            .seal_in_place_append_tag(Aad::from(aad(cookie_name)), &mut *in_out)
            .map_err(|_| CodecError::Seal)?;
        let mut wire = Vec::with_capacity(2 + NONCE_LEN + in_out.len());
        wire.push(VERSION);
        wire.push(primary.id);
        wire.extend_from_slice(nonce.as_ref());
        wire.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(wire))
    }

    /// Opens a value sealed for `cookie_name`.
    pub fn open(&self, cookie_name: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, CodecError> {
        let mut wire = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(sealed)
                .map_err(|_| CodecError::Malformed)?,
        );
        if wire.len() < 2 + NONCE_LEN + TAG_LEN || wire[0] != VERSION {
            return Err(CodecError::Malformed);
        }
        let id = wire[1];
        let nonce: [u8; NONCE_LEN] = wire[2..2 + NONCE_LEN]
            .try_into()
            .map_err(|_| CodecError::Malformed)?;
        let mut candidates = self.keys.iter().filter(|k| k.id == id).peekable();
        if candidates.peek().is_none() {
            return Err(CodecError::UnknownKey);
        }
        let start = 2 + NONCE_LEN;
        let keys: Vec<&SealingKey> = candidates.collect();
        let last = keys.len() - 1;
        for (i, key) in keys.into_iter().enumerate() {
            // Opening in place consumes the buffer; keep a copy only when another key
            // with the same id may still be tried (rare: an id is one byte).
            let backup = (i < last).then(|| Zeroizing::new(wire[start..].to_vec()));
            let nonce = Nonce::assume_unique_for_key(nonce);
            if let Ok(plain) =
                key.key
                    .open_in_place(nonce, Aad::from(aad(cookie_name)), &mut wire[start..])
            {
                let len = plain.len();
                wire.copy_within(start..start + len, 0);
                wire.truncate(len);
                return Ok(wire);
            }
            if let Some(b) = backup {
                wire[start..].copy_from_slice(&b);
            }
        }
        Err(CodecError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> CookieSecret {
        CookieSecret::parse(s).unwrap()
    }

    #[test]
    fn secrets_as_oauth2_proxy_accepts_them() {
        // 32 random bytes, base64url (what `openssl rand -base64 32 | tr -- '+/' '-_'` gives).
        assert_eq!(
            secret("q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=")
                .0
                .len(),
            32
        );
        assert_eq!(
            secret("q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U")
                .0
                .len(),
            32
        );
        assert_eq!(secret("0123456789abcdef").0.len(), 16, "16 raw bytes");
        assert_eq!(secret("0123456789abcdef01234567").0.len(), 24);
        for bad in [
            "",
            "short",
            "0123456789abcdef0",
            "not base64 and not 16/24/32 bytes long",
        ] {
            let err = CookieSecret::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("16, 24 or 32 bytes"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            format!("{:?}", secret("0123456789abcdef")),
            "CookieSecret([redacted])"
        );
    }

    #[test]
    fn seal_open_round_trip_and_binding_to_the_cookie_name() {
        let codec = Codec::new(&CookieSecret::random(), &[]).unwrap();
        let sealed = codec.seal("_sso", b"{\"sub\":\"alice\"}").unwrap();
        assert_eq!(
            &*codec.open("_sso", &sealed).unwrap(),
            b"{\"sub\":\"alice\"}"
        );
        assert_eq!(codec.open("_other", &sealed), Err(CodecError::Tampered));
        // Two seals of the same data differ (random nonce).
        assert_ne!(sealed, codec.seal("_sso", b"{\"sub\":\"alice\"}").unwrap());
    }

    #[test]
    fn tampering_truncation_and_garbage_are_errors_never_panics() {
        let codec = Codec::new(&CookieSecret::random(), &[]).unwrap();
        let sealed = codec.seal("_sso", b"hello").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 2..bytes.len() {
            bytes[i] ^= 1;
            assert_eq!(
                codec.open("_sso", &URL_SAFE_NO_PAD.encode(&bytes)),
                Err(CodecError::Tampered),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        bytes[0] = 9;
        assert_eq!(
            codec.open("_sso", &URL_SAFE_NO_PAD.encode(&bytes)),
            Err(CodecError::Malformed)
        );
        for garbage in ["", "!!!", "AA", &sealed[..sealed.len() - 4]] {
            assert!(codec.open("_sso", garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn rotation_opens_cookies_of_the_previous_secret() {
        let old = CookieSecret::random();
        let new = CookieSecret::random();
        let sealed_old = Codec::new(&old, &[]).unwrap().seal("_sso", b"x").unwrap();
        let rotated = Codec::new(&new, std::slice::from_ref(&old)).unwrap();
        assert_eq!(&*rotated.open("_sso", &sealed_old).unwrap(), b"x");
        let without = Codec::new(&new, &[]).unwrap();
        assert!(matches!(
            without.open("_sso", &sealed_old),
            Err(CodecError::UnknownKey | CodecError::Tampered)
        ));
    }
}
