//! Injectable wall clock.
//!
//! Every time check in this crate (token `exp`/`nbf`/`iat`, cache expiry of verified tokens)
//! reads the time through a [`Clock`], so tests and replays can pin it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> OffsetDateTime;

    /// The current time as seconds since the Unix epoch.
    fn unix_now(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock pinned to a second, which tests can move.
///
/// ```
/// use oidc_core::clock::{Clock, FixedClock};
/// let clock = FixedClock::at_unix(1_700_000_000);
/// clock.advance(30);
/// assert_eq!(clock.unix_now(), 1_700_000_030);
/// ```
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    /// A clock that reads `unix` seconds until it is moved.
    pub fn at_unix(unix: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix)))
    }

    /// Sets the time to `unix` seconds.
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::Relaxed);
    }

    /// Moves the clock by `seconds` (negative moves it back).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.unix_now()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn unix_now(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A shared clock, as the verifier and caches hold it.
pub type SharedClock = Arc<dyn Clock>;
