//! The verified-token cache: a token seen again skips the signature check.
//!
//! Entries are keyed by the SHA-256 digest of the token's bytes and kept until the token's
//! `exp` or the configured TTL, whichever is first. Each entry remembers the fingerprint of
//! the key that verified it; an entry whose key is no longer in the key set (rotation,
//! revocation) is a miss and is evicted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_lc_rs::digest;

use super::VerifiedToken;
use crate::jwks::KeySet;

/// Settings of the verified-token cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheConfig {
    /// The most entries kept; a full cache drops expired entries, then arbitrary ones.
    pub capacity: usize,
    /// The longest an entry is kept, whatever the token's `exp`.
    pub ttl: Duration,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            ttl: Duration::from_secs(300),
        }
    }
}

struct Entry {
    token: VerifiedToken,
    until: i64,
    fingerprint: u64,
}

pub(crate) struct TokenCache {
    config: TokenCacheConfig,
    map: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish()
    }
}

pub(crate) fn digest_of(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Self {
        Self {
            config,
            map: Mutex::new(HashMap::with_capacity(config.capacity.min(1024))),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub(crate) fn get(&self, key: &[u8; 32], now: i64, keys: &KeySet) -> Option<VerifiedToken> {
        let mut map = self.map.lock().ok()?;
        let entry = map.get(key)?;
        if entry.until > now && keys.has_fingerprint(entry.fingerprint) {
            return Some(entry.token.clone());
        }
        map.remove(key);
        None
    }

    pub(crate) fn insert(&self, key: [u8; 32], token: VerifiedToken, now: i64) {
        let ttl = i64::try_from(self.config.ttl.as_secs()).unwrap_or(i64::MAX);
        let until = match token.claims().exp {
            Some(exp) => exp.min(now.saturating_add(ttl)),
            None => now.saturating_add(ttl),
        };
        if until <= now || self.config.capacity == 0 {
            return;
        }
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= self.config.capacity {
            map.retain(|_, e| e.until > now);
            while map.len() >= self.config.capacity {
                let Some(victim) = map.keys().next().copied() else {
                    break;
                };
                map.remove(&victim);
            }
        }
        let fingerprint = token.key_fingerprint();
        map.insert(
            key,
            Entry {
                token,
                until,
                fingerprint,
            },
        );
    }
}
