//! The timeouts: what each connection is doing (its reads, writes and requests in flight),
//! and the deadlines that follow from it: header read, idle, and a client that reads nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits::Settings;

/// Why a connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expired {
    HeaderTimeout,
    Idle,
    SendStalled,
    Evicted,
}

impl Expired {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Expired::HeaderTimeout => "header read timeout",
            Expired::Idle => "idle timeout",
            Expired::SendStalled => "the client read nothing of the answer",
            Expired::Evicted => "made room for a new connection",
        }
    }
}

/// What a connection is doing, kept by its reads, writes and requests; times are ms since
/// the server's epoch, and 0 in an `Option`-like field means none.
pub(super) struct Activity {
    pub(super) epoch: Instant,
    pub(super) accepted: u64,
    /// Requests begun and answers hyper still holds.
    pub(super) in_flight: AtomicU64,
    pub(super) requests: AtomicU64,
    /// When the last request in flight ended (or the accept).
    pub(super) idle_since: AtomicU64,
    /// When the first byte of the next head came, plus one.
    pub(super) head_started: AtomicU64,
    /// When a write first found the client's window full, plus one.
    pub(super) send_stalled: AtomicU64,
    pub(super) evict: AtomicBool,
    /// Wakes the watchdog when a deadline may have moved closer.
    pub(super) changed: Notify,
}

impl Activity {
    pub(super) fn new(epoch: Instant, now: u64) -> Self {
        Activity {
            epoch,
            accepted: now,
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(now),
            head_started: AtomicU64::new(0),
            send_stalled: AtomicU64::new(0),
            evict: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn at(&self, ms: u64, after: Duration) -> Instant {
        self.epoch + Duration::from_millis(ms) + after
    }

    /// Idle, and not in the middle of sending a request.
    pub(super) fn evictable(&self) -> bool {
        !self.evict.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
    }

    pub(super) fn read_some(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started
                .store(self.now_ms() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    pub(super) fn write_blocked(&self) {
        if self.send_stalled.load(Ordering::Relaxed) == 0 {
            self.send_stalled
                .store(self.now_ms() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    pub(super) fn wrote_some(&self) {
        self.send_stalled.store(0, Ordering::Relaxed);
    }

    pub(super) fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// The nearest deadline and what it is for.
    pub(super) fn deadline(&self, settings: &Settings) -> Option<(Instant, Expired)> {
        let stalled = match self.send_stalled.load(Ordering::Relaxed) {
            0 => None,
            since => Some((self.at(since - 1, settings.idle), Expired::SendStalled)),
        };
        let waiting = if self.in_flight.load(Ordering::Relaxed) > 0 {
            None
        } else if self.requests.load(Ordering::Relaxed) == 0 {
            // A new connection has the header timeout, from its accept, to send its request.
            Some((
                self.at(self.accepted, settings.header_read),
                Expired::HeaderTimeout,
            ))
        } else {
            match self.head_started.load(Ordering::Relaxed) {
                0 => Some((
                    self.at(self.idle_since.load(Ordering::Relaxed), settings.idle),
                    Expired::Idle,
                )),
                since => Some((
                    self.at(since - 1, settings.header_read),
                    Expired::HeaderTimeout,
                )),
            }
        };
        match (stalled, waiting) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Resolves when the connection should close, and why.
    pub(super) async fn expired(&self, settings: &Settings) -> Expired {
        loop {
            // `notify_one` keeps a wake-up given while nobody waits, so a change between the
            // check below and the wait is not lost.
            let changed = self.changed.notified();
            if self.evict.swap(false, Ordering::AcqRel) {
                return Expired::Evicted;
            }
            match self.deadline(settings) {
                None => changed.await,
                Some((at, why)) => {
                    if at <= Instant::now() {
                        return why;
                    }
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
            }
        }
    }
}

/// A request in flight; ends when hyper drops its answer's body.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since
            .store(activity.now_ms(), Ordering::Relaxed);
        if activity.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            activity.changed.notify_one();
        }
    }
}

/// The socket, telling the connection's [`Activity`] what it reads and writes.
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some();
        }
        read
    }
}

impl Watched {
    pub(super) fn watch_write(&self, written: &Poll<io::Result<usize>>) {
        match written {
            Poll::Pending => self.activity.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.activity.wrote_some(),
            Poll::Ready(_) => {}
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, data);
        this.watch_write(&written);
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, data);
        this.watch_write(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
