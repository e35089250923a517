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

/// What a connection is doing: requests (and response bodies) in flight, and when it last
/// made progress (a request began or ended, a response frame went out). Shared by the
/// connection's service and its watchdog.
#[derive(Debug)]
pub(super) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` of the last progress; `u64::MAX` until a first request.
    last: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last: AtomicU64::new(u64::MAX),
        })
    }

    /// A request starts; the guard ends it (drop it when its response body is done).
    pub(super) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.progress();
        InFlight(self.clone())
    }

    fn progress(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last.store(ms, Ordering::Release);
    }

    /// Completes when the connection has been quiet for too long: `first` before any
    /// request, `idle` after one with nothing in flight, `stalled` with requests in flight
    /// but no progress (a client that asked for a large body and does not read it).
    pub(super) async fn idle(&self, first: Duration, idle: Duration, stalled: Duration) {
        let mut deadline = self.opened + first;
        loop {
            tokio::time::sleep_until(deadline).await;
            let last = self.last.load(Ordering::Acquire);
            let until = if last == u64::MAX {
                self.opened + first
            } else if self.in_flight.load(Ordering::Acquire) > 0 {
                self.opened + Duration::from_millis(last) + stalled
            } else {
                self.opened + Duration::from_millis(last) + idle
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
        self.0.progress();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until it is done (a long download is
/// activity, not idleness).
#[derive(Debug)]
pub(super) struct Tracked<B> {
    inner: B,
    in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        Self { inner, in_flight }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            self.in_flight.0.progress();
        }
        polled
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
        let stalled = Duration::from_secs(300);
        // No request at all: closed after `first`.
        let a = Activity::new();
        let start = Instant::now();
        a.idle(first, idle, stalled).await;
        assert_eq!(start.elapsed(), first);

        // A response streamed for 10 minutes (a frame a minute), then quiet: closed
        // `idle` after it ended.
        let a = Activity::new();
        let guard = a.begin();
        let watchdog = tokio::spawn({
            let a = a.clone();
            async move { a.idle(first, idle, stalled).await }
        });
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(60)).await;
            a.progress();
        }
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
