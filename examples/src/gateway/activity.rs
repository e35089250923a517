//! How long a connection may stay open doing nothing: a connection holds one of
//! `--max-connections` slots, so one that is idle is closed. hyper bounds the wait for an
//! HTTP/1 request head, but not an HTTP/2 connection between streams (its keep-alive PINGs
//! are answered by any client), nor a connection's first bytes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// What a connection is doing: requests (and response bodies) in flight, and when the last
/// one ended. Shared by the connection's service and its watchdog.
#[derive(Debug)]
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the connection last went quiet; `u64::MAX` until a
    /// first request.
    quiet_since: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(u64::MAX),
        })
    }

    /// A request starts; the guard ends it (drop it when its response body is done).
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Completes when the connection has been quiet for too long: `first` before any
    /// request, `idle` after one with nothing in flight.
    pub(super) async fn idle(&self, first: Duration, idle: Duration) {
        let mut deadline = self.opened + first;
        loop {
            tokio::time::sleep_until(deadline).await;
            if self.in_flight.load(Ordering::Acquire) > 0 {
                deadline = Instant::now() + idle;
                continue;
            }
            let quiet = self.quiet_since.load(Ordering::Acquire);
            let until = if quiet == u64::MAX {
                self.opened + first
            } else {
                self.opened + Duration::from_millis(quiet) + idle
            };
            if Instant::now() >= until {
                return;
            }
            deadline = until;
        }
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = u64::try_from(a.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        a.quiet_since.store(ms, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is done (a long download is
/// activity, not idleness).
#[derive(Debug)]
pub(super) struct Tracked<B> {
    inner: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        Self {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quiet_connections_end_and_busy_ones_do_not() {
        let (first, idle) = (Duration::from_secs(30), Duration::from_secs(120));
        // No request at all: closed after `first`.
        let a = Activity::new();
        let start = Instant::now();
        a.idle(first, idle).await;
        assert_eq!(start.elapsed(), first);

        // A request that lasts 10 minutes, then quiet: closed `idle` after it ended.
        let a = Activity::new();
        let guard = a.begin();
        let watchdog = tokio::spawn({
            let a = a.clone();
            async move { a.idle(first, idle).await }
        });
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watchdog.is_finished(), "busy is not idle");
        drop(guard);
        let ended = Instant::now();
        watchdog.await.unwrap();
        let waited = ended.elapsed();
        assert!(
            waited >= idle && waited < idle + Duration::from_secs(1),
            "{waited:?}"
        );
    }
}
