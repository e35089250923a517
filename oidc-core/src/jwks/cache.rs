//! A provider's key set, fetched over HTTP and kept fresh.
//!
//! - Readers take a snapshot ([`JwksCache::keys`]) without locking or I/O.
//! - The set is refetched when its Cache-Control `max-age` (bounded by the configuration)
//!   has passed, and when a token names an unknown `kid`, at most once per
//!   [`JwksCacheConfig::min_refresh_interval`]: a flood of tokens with random `kid`s costs
//!   one fetch per interval, not one per token.
//! - Concurrent refreshes collapse into one fetch; the others wait for it and read its result.
//! - When the provider is unreachable or serves garbage, the last good keys stay in use.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;
use url::Url;

use super::KeySet;
use crate::error::JwksError;
use crate::http::{HttpError, SharedHttpClient};

/// How a [`JwksCache`] refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksCacheConfig {
    /// The shortest time between two fetches caused by unknown `kid`s or failures.
    pub min_refresh_interval: Duration,
    /// How long a set is used when the response has no Cache-Control `max-age`.
    pub default_max_age: Duration,
    /// The longest a set is used before it is refetched, whatever `max-age` says.
    pub max_max_age: Duration,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(30),
            default_max_age: Duration::from_secs(600),
            max_max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// A fetching, refreshing cache of one `jwks_uri`. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: Url,
    http: SharedHttpClient,
    config: JwksCacheConfig,
    keys: ArcSwap<KeySet>,
    /// When the set stops being fresh, in nanoseconds after `base` (0: never fetched).
    /// Read without the lock, so a refetch in flight never stalls readers of a fresh set.
    fresh_until: AtomicU64,
    base: Instant,
    state: tokio::sync::Mutex<State>,
    /// Completed fetch attempts; a waiter that sees it move knows someone fetched for it.
    attempts: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

#[derive(Debug, Default)]
struct State {
    last_attempt: Option<Instant>,
}

impl JwksCache {
    /// A cache for `jwks_uri`; nothing is fetched until keys are first needed.
    pub fn new(jwks_uri: Url, http: SharedHttpClient, config: JwksCacheConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: jwks_uri,
                http,
                config,
                keys: ArcSwap::from_pointee(KeySet::default()),
                fresh_until: AtomicU64::new(0),
                base: Instant::now(),
                state: tokio::sync::Mutex::new(State::default()),
                attempts: AtomicU64::new(0),
                last_error: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The `jwks_uri`.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The current snapshot, without I/O (empty before the first fetch).
    pub fn keys(&self) -> Arc<KeySet> {
        self.inner.keys.load_full()
    }

    /// How many fetches were attempted so far.
    pub fn fetch_count(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// Why the last fetch failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// The keys to use now: fetches on first use and when the set's age is past its
    /// `max-age`; serves the last good set when a fetch fails. Empty only when no fetch has
    /// ever succeeded (see [`JwksCache::last_error`]).
    pub async fn current(&self) -> Arc<KeySet> {
        if self.is_fresh(Instant::now()) {
            return self.keys();
        }
        self.refresh(Trigger::Stale).await
    }

    /// Refetches because a token named a `kid` that is not in the set: at most once per
    /// `min_refresh_interval`. Returns the (possibly unchanged) snapshot.
    pub async fn refresh_for_unknown_kid(&self) -> Arc<KeySet> {
        self.refresh(Trigger::UnknownKid).await
    }

    /// Fetches now, ignoring freshness but not the rate limit; the error says why the fetch
    /// failed (the previous keys stay in use).
    pub async fn refresh_now(&self) -> Result<Arc<KeySet>, JwksError> {
        let before = self.fetch_count();
        let keys = self.refresh(Trigger::UnknownKid).await;
        match self.last_error() {
            Some(reason) if self.fetch_count() != before => Err(JwksError::Unavailable {
                url: self.inner.url.to_string(),
                reason,
            }),
            _ => Ok(keys),
        }
    }

    fn is_fresh(&self, now: Instant) -> bool {
        let until = self.inner.fresh_until.load(Ordering::Acquire);
        until != 0 && self.nanos_since_base(now) < until
    }

    fn nanos_since_base(&self, t: Instant) -> u64 {
        u64::try_from(t.duration_since(self.inner.base).as_nanos()).unwrap_or(u64::MAX)
    }

    async fn refresh(&self, trigger: Trigger) -> Arc<KeySet> {
        let seen = self.inner.attempts.load(Ordering::Acquire);
        let mut state = self.inner.state.lock().await;
        if self.inner.attempts.load(Ordering::Acquire) != seen {
            // Another caller fetched while we waited: use its result.
            return self.keys();
        }
        let now = Instant::now();
        let fresh = self.is_fresh(now);
        let rate_limited = state
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < self.inner.config.min_refresh_interval);
        let fetch = match trigger {
            Trigger::Stale => !fresh && !rate_limited,
            Trigger::UnknownKid => !rate_limited,
        };
        if !fetch {
            return self.keys();
        }
        state.last_attempt = Some(now);
        let result = self.fetch().await;
        self.inner.attempts.fetch_add(1, Ordering::AcqRel);
        let mut last_error = self.inner.last_error.lock().ok();
        match result {
            Ok((set, max_age)) => {
                let until = self.nanos_since_base(Instant::now() + max_age).max(1);
                self.inner.fresh_until.store(until, Ordering::Release);
                if let Some(e) = last_error.as_deref_mut() {
                    *e = None;
                }
                self.inner.keys.store(Arc::new(set));
            }
            Err(reason) => {
                tracing::warn!(jwks_uri = %self.inner.url, %reason, "key set fetch failed; keeping the last good keys");
                if let Some(e) = last_error.as_deref_mut() {
                    *e = Some(reason);
                }
            }
        }
        self.keys()
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let result = self.fetch_once().await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("oidc_jwks_fetches_total", "result" => outcome).increment(1);
        result
    }

    async fn fetch_once(&self) -> Result<(KeySet, Duration), String> {
        let request = http::Request::get(self.inner.url.as_str())
            .header(
                http::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .body(Vec::new())
            .map_err(|e| HttpError::InvalidRequest(e.to_string()).to_string())?;
        let response = self
            .inner
            .http
            .execute(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("status {}", response.status().as_u16()));
        }
        let set = KeySet::from_json(response.body()).map_err(|e| e.to_string())?;
        if set.is_empty() {
            return Err("the key set has no usable key".into());
        }
        let max_age = max_age(response.headers())
            .unwrap_or(self.inner.config.default_max_age)
            .clamp(
                self.inner.config.min_refresh_interval,
                self.inner
                    .config
                    .max_max_age
                    .max(self.inner.config.min_refresh_interval),
            );
        Ok((set, max_age))
    }
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Stale,
    UnknownKid,
}

/// The `max-age` of a Cache-Control header; `no-cache`/`no-store` count as zero.
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let lower = directive.to_ascii_lowercase();
            if lower == "no-cache" || lower == "no-store" {
                return Some(Duration::ZERO);
            }
            if let Some(secs) = lower.strip_prefix("max-age=") {
                found = secs
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        let mut h = http::HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(
            http::header::CACHE_CONTROL,
            "public, max-age=3600".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(3600)));
        h.insert(http::header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&h), Some(Duration::ZERO));
        h.insert(http::header::CACHE_CONTROL, "max-age=junk".parse().unwrap());
        assert_eq!(max_age(&h), None);
    }
}
