//! JSON Web Key Sets: parsing into ready-to-use keys, lookup, and a fetching cache.
//!
//! Keys a relying party cannot use are skipped, not fatal: `use: enc`, unsupported `kty` or
//! `crv`, `oct` (symmetric) keys and keys too short for their algorithm are listed in
//! [`KeySet::skipped`] with the reason, and the rest of the set stays usable.

mod cache;
mod key;

pub use self::cache::{JwksCache, JwksCacheConfig};
pub use self::key::{Key, KeyType};

use std::sync::Arc;

use serde::Deserialize;

use crate::error::{JwksError, TokenError};
use crate::verify::Algorithm;

/// A parsed key set.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    keys: Vec<Arc<Key>>,
    skipped: Vec<SkippedKey>,
}

/// A key of the set that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Its `kid`, if any.
    pub kid: Option<String>,
    /// Why it is skipped.
    pub reason: String,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`).
    ///
    /// ```
    /// let set = oidc_core::jwks::KeySet::from_json(br#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#)?;
    /// assert!(set.is_empty());
    /// assert_eq!(set.skipped().len(), 1);
    /// # Ok::<_, oidc_core::error::JwksError>(())
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let raw: RawSet =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Malformed(e.to_string()))?;
        let mut set = KeySet::default();
        for value in raw.keys {
            let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
            let parsed = serde_json::from_value::<key::RawJwk>(value)
                .map_err(|e| e.to_string())
                .and_then(Key::from_jwk);
            match parsed {
                Ok(key) => set.keys.push(Arc::new(key)),
                Err(reason) => set.skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok(set)
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// The keys that were skipped, with reasons.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// True when no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when a key with this `kid` is in the set.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// True when a key with this fingerprint is in the set.
    pub fn has_fingerprint(&self, fingerprint: u64) -> bool {
        self.keys.iter().any(|k| k.fingerprint() == fingerprint)
    }

    /// The keys to try for a token with this `kid` and `alg`.
    ///
    /// With a `kid`: the key of that id, and keys that have no `kid` at all (as Envoy
    /// does); an error when the key of that id does not allow `alg` (a token naming an RSA
    /// key with `alg: ES256` is rejected, never retried with other keys). Without a `kid`:
    /// every key that allows `alg`.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> Result<Candidates<'a>, TokenError> {
        if let Some(kid) = kid
            && let Some(named) = self.keys.iter().find(|k| k.kid() == Some(kid))
            && !named.allows(alg)
        {
            return Err(TokenError::AlgorithmNotAllowed {
                alg: alg.to_string(),
                kid: Some(kid.to_owned()),
            });
        }
        let candidates = Candidates {
            keys: &self.keys,
            kid,
            alg,
        };
        if candidates.clone().next().is_none() {
            return Err(TokenError::UnknownKey {
                kid: kid.map(str::to_owned),
            });
        }
        Ok(candidates)
    }
}

/// The keys that may have signed a token; see [`KeySet::candidates`].
#[derive(Debug, Clone)]
pub struct Candidates<'a> {
    keys: &'a [Arc<Key>],
    kid: Option<&'a str>,
    alg: Algorithm,
}

impl<'a> Iterator for Candidates<'a> {
    type Item = &'a Arc<Key>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some((first, rest)) = self.keys.split_first() {
            self.keys = rest;
            let kid_fits = match (self.kid, first.kid()) {
                (Some(wanted), Some(has)) => wanted == has,
                _ => true,
            };
            if kid_fits && first.allows(self.alg) {
                return Some(first);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
