//! The connection layer: an accept loop of our own on hyper's HTTP/1.1 server, so slow and
//! idle clients cannot starve the server.
//!
//! - **Header read timeout**: a request head must arrive whole within it, counted from the
//!   accept for a new connection and from the first byte of the next request on a kept-alive
//!   one; a client trickling its head is closed when it runs out.
//! - **Idle timeout**: a kept-alive connection with no request in flight for this long is
//!   closed. A request is in flight from its head until hyper is done with its answer, so a
//!   long run or a stream (SSE) is never cut, however long it is quiet.
//! - **Send stall**: a client that reads nothing of an answer for the idle timeout is closed;
//!   a slow but steady reader never is.
//! - **Body read timeout**: a request body must arrive whole within it, counted from the head;
//!   past it the request is answered 408 and the connection closed.
//! - **Header limits**: at most [`MAX_HEADER_FIELDS`] fields and [`MAX_HEADER_BYTES`] bytes
//!   of head, answered 431 with a JSON body. hyper's own limits are set above these, so only
//!   a head too large for hyper's buffer gets hyper's bare 431.
//! - **A bound on open connections**, with room kept for health checks: up to
//!   `max_connections` are served as usual. When they are all taken, a new connection first
//!   closes the one idle the longest (a kept-alive connection with nothing in flight, which
//!   HTTP lets a server close at any time) and takes its place. When none is idle, a small
//!   reserve of connections is served for `/health` and `/ready` only (anything else there is
//!   503 with `Retry-After`, one request a connection), so an orchestrator's probes still
//!   answer; past the reserve a connection is answered that 503 at once and closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::ApiError;

/// The most header fields a request may carry (431 above it).
pub const MAX_HEADER_FIELDS: usize = 100;
/// The most bytes a request's head may take, request line and header fields together (431
/// above it).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own field limit, above ours so that ours answers first, with a JSON body.
const HYPER_MAX_HEADERS: usize = 256;
/// Connections kept for `/health` and `/ready` once the bound is reached, and as many again
/// answered 503 at once; past both a new connection is closed unanswered.
const HEALTH_RESERVE: usize = 32;
/// The header timeout of a connection served for health checks: a probe sends its request at
/// once, and a silent client must not hold a reserved place for long.
const RESERVE_HEADER_READ: Duration = Duration::from_secs(2);
/// How long a new connection waits for the place of an idle one it closed.
const EVICTION_WAIT: Duration = Duration::from_secs(1);
/// What a refused client is told to wait, in seconds.
const RETRY_AFTER: u64 = 1;

/// How the server treats connections: timeouts and a bound on how many are open. Each
/// setting left unset is read from its environment variable, else takes its default.
///
/// ```
/// use std::time::Duration;
/// use agentos_runtime::server::ConnectionLimits;
///
/// let limits = ConnectionLimits::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .idle_timeout(Duration::from_secs(120))
///     .max_connections(2_000);
/// # let _ = limits;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionLimits {
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    body_read_timeout: Option<Duration>,
    max_connections: Option<usize>,
}

impl ConnectionLimits {
    /// How long a request head may take to arrive (default 10 s,
    /// `AGENTOS_HEADER_READ_TIMEOUT_SECS`).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = positive(timeout);
        self
    }

    /// How long a kept-alive connection may wait for its next request, and a client may
    /// leave an answer unread (default 75 s, `AGENTOS_IDLE_TIMEOUT_SECS`). Behind a load
    /// balancer, keep it above the balancer's own idle timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = positive(timeout);
        self
    }

    /// How long a request body may take to arrive whole (default 30 s,
    /// `AGENTOS_BODY_READ_TIMEOUT_SECS`).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = positive(timeout);
        self
    }

    /// How many connections are served at once, besides the few kept for health checks
    /// (default: derived from the open-file limit, `AGENTOS_MAX_CONNECTIONS`).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = (connections > 0).then_some(connections);
        self
    }

    /// The settings `AGENTOS_HEADER_READ_TIMEOUT_SECS`, `AGENTOS_IDLE_TIMEOUT_SECS`,
    /// `AGENTOS_BODY_READ_TIMEOUT_SECS` and `AGENTOS_MAX_CONNECTIONS` set (a missing, zero or
    /// unreadable one stays unset).
    pub fn from_env() -> Self {
        let read = |name: &str| crate::env::number(name).filter(|value| *value > 0);
        let seconds = |name: &str| read(name).map(Duration::from_secs);
        ConnectionLimits {
            header_read_timeout: seconds("AGENTOS_HEADER_READ_TIMEOUT_SECS"),
            idle_timeout: seconds("AGENTOS_IDLE_TIMEOUT_SECS"),
            body_read_timeout: seconds("AGENTOS_BODY_READ_TIMEOUT_SECS"),
            max_connections: read("AGENTOS_MAX_CONNECTIONS")
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// What is in force: this, else the environment, else the defaults (the bound derived
    /// from `open_files`, the process's open-file limit).
    fn resolve(self, open_files: Option<u64>) -> Settings {
        let env = ConnectionLimits::from_env();
        Settings {
            header_read: self
                .header_read_timeout
                .or(env.header_read_timeout)
                .unwrap_or(Duration::from_secs(10)),
            idle: self
                .idle_timeout
                .or(env.idle_timeout)
                .unwrap_or(Duration::from_secs(75)),
            body_read: self
                .body_read_timeout
                .or(env.body_read_timeout)
                .unwrap_or(Duration::from_secs(30)),
            max_connections: self
                .max_connections
                .or(env.max_connections)
                .unwrap_or_else(|| default_max_connections(open_files)),
        }
    }
}

fn positive(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// The bound that fits in `open_files` descriptors: an eighth of them (at least 128) stays
/// for the store's pool, logs and the files components open, and room for the health
/// reserve and the refused; capped, since each connection also costs memory.
fn default_max_connections(open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return 1_024;
    };
    let headroom = (open_files / 8).max(128) + 2 * HEALTH_RESERVE as u64;
    let usable = open_files.saturating_sub(headroom).clamp(16, 16_384);
    usize::try_from(usable).unwrap_or(16_384)
}

/// The settings in force for one server.
#[derive(Clone, Copy, Debug)]
struct Settings {
    header_read: Duration,
    idle: Duration,
    body_read: Duration,
    max_connections: usize,
}

/// Raises the process's open-file soft limit to its hard limit, once, and logs both values.
/// Answers the soft limit in force afterwards (`None` where there is no such limit).
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    static RAISED: OnceLock<Option<u64>> = OnceLock::new();
    *RAISED.get_or_init(raise_nofile)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn raise_nofile() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %io::Error::last_os_error(), "cannot read the open-file limit");
        return None;
    }
    let before = limit.rlim_cur as u64;
    let hard = limit.rlim_max;
    if limit.rlim_cur >= hard {
        tracing::info!(
            open_files = before,
            "open-file limit (RLIMIT_NOFILE) already at its hard limit"
        );
        return Some(before);
    }
    // macOS refuses a soft limit above OPEN_MAX, whatever the hard limit says.
    #[cfg(target_os = "macos")]
    let wanted = hard.min(libc::OPEN_MAX as libc::rlim_t);
    #[cfg(not(target_os = "macos"))]
    let wanted = hard;
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        tracing::warn!(
            error = %io::Error::last_os_error(),
            before,
            hard = hard as u64,
            "cannot raise the open-file limit (RLIMIT_NOFILE)"
        );
        return Some(before);
    }
    tracing::info!(
        before,
        after = wanted as u64,
        "raised the open-file limit (RLIMIT_NOFILE) to its hard limit"
    );
    Some(wanted as u64)
}

#[cfg(not(unix))]
fn raise_nofile() -> Option<u64> {
    None
}

/// Serves `router` on `listener` until `signal` resolves; then stops accepting, closes idle
/// connections, lets requests in flight finish, and resolves once every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let settings = limits.resolve(raise_open_file_limit());
    tracing::info!(
        max_connections = settings.max_connections,
        header_read_timeout_s = settings.header_read.as_secs_f64(),
        idle_timeout_s = settings.idle.as_secs_f64(),
        body_read_timeout_s = settings.body_read.as_secs_f64(),
        "connection limits"
    );
    let shared = Arc::new(Shared {
        settings,
        router,
        epoch: Instant::now(),
        ordinary: Arc::new(Semaphore::new(settings.max_connections)),
        reserve: Arc::new(Semaphore::new(HEALTH_RESERVE)),
        refusals: Arc::new(Semaphore::new(HEALTH_RESERVE)),
        open: Mutex::default(),
        next_id: AtomicU64::new(0),
        closing: CancellationToken::new(),
        last_full_warning: AtomicU64::new(0),
    });
    let tracker = TaskTracker::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        // Event frames are small writes: without TCP_NODELAY, Nagle's algorithm holds each
        // one back until the client's delayed ACK, about 40 ms a frame.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        if let Ok(permit) = Arc::clone(&shared.ordinary).try_acquire_owned() {
            tracker.spawn(Arc::clone(&shared).serve(stream, Place::ordinary(permit)));
        } else if let Ok(reserved) = Arc::clone(&shared.reserve).try_acquire_owned() {
            shared.warn_full();
            let shared = Arc::clone(&shared);
            tracker.spawn(async move {
                let place = shared.make_room(reserved).await;
                shared.serve(stream, place).await;
            });
        } else if let Ok(permit) = Arc::clone(&shared.refusals).try_acquire_owned() {
            tracker.spawn(refuse(stream, permit));
        } else {
            drop(stream);
        }
    }
    drop(listener);
    shared.closing.cancel();
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Descriptors run out (`EMFILE`) or the kernel is short of memory: wait a little rather
/// than spin on a listener that stays readable. A client that gave up before its accept is
/// no error at all.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What one server's connections share.
struct Shared {
    settings: Settings,
    router: Router,
    /// The time base of every connection's clock.
    epoch: Instant,
    ordinary: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    /// The ordinary connections, so a new one can close the one idle the longest.
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    closing: CancellationToken,
    /// When the bound was last reported, in ms since `epoch` (plus one; 0 = never).
    last_full_warning: AtomicU64,
}

/// How a connection is served, and the place it holds until it closes.
struct Place {
    /// Within the bound, as usual; else the bound is reached and it serves one request,
    /// health routes only.
    ordinary: bool,
    _permit: OwnedSemaphorePermit,
}

impl Place {
    fn ordinary(permit: OwnedSemaphorePermit) -> Self {
        Place {
            ordinary: true,
            _permit: permit,
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn warn_full(&self) {
        let now = self.now_ms() + 1;
        let last = self.last_full_warning.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) > 30_000)
            && self
                .last_full_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                max_connections = self.settings.max_connections,
                "connection bound reached: new connections close idle ones, else answer health checks only"
            );
        }
    }

    /// The bound is reached: closes the connection idle the longest, if there is one, and
    /// waits briefly for its place; else serves health checks on a reserved place.
    async fn make_room(&self, reserved: OwnedSemaphorePermit) -> Place {
        // A place may have come free since the accept.
        if let Ok(permit) = Arc::clone(&self.ordinary).try_acquire_owned() {
            return Place::ordinary(permit);
        }
        if self.evict_longest_idle()
            && let Ok(Ok(permit)) =
                tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.ordinary).acquire_owned())
                    .await
        {
            return Place::ordinary(permit);
        }
        Place {
            ordinary: false,
            _permit: reserved,
        }
    }

    fn evict_longest_idle(&self) -> bool {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let longest = open
            .values()
            .filter(|activity| activity.evictable())
            .min_by_key(|activity| activity.idle_since.load(Ordering::Relaxed));
        match longest {
            Some(activity) => {
                activity.evict.store(true, Ordering::Release);
                activity.changed.notify_one();
                true
            }
            None => false,
        }
    }

    async fn serve(self: Arc<Self>, stream: TcpStream, place: Place) {
        let activity = Arc::new(Activity::new(self.epoch, self.now_ms()));
        let ordinary = place.ordinary;
        let settings = if ordinary {
            self.settings
        } else {
            Settings {
                header_read: self.settings.header_read.min(RESERVE_HEADER_READ),
                ..self.settings
            }
        };
        let _registered = ordinary.then(|| Registered::new(&self, &activity));
        let service = ConnectionService {
            shared: Arc::clone(&self),
            activity: Arc::clone(&activity),
            health_only: !ordinary,
        };
        let io = TokioIo::new(Watched {
            stream,
            activity: Arc::clone(&activity),
        });
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            // hyper's own header timer also runs while a kept-alive connection is idle, which
            // would make the idle timeout the header timeout: `Activity` keeps both instead.
            .header_read_timeout(None)
            .max_headers(HYPER_MAX_HEADERS)
            .keep_alive(ordinary);
        let connection = http.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        let mut draining = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    break;
                }
                _ = self.closing.cancelled(), if !draining => {
                    // Shutting down: a connection with nothing in flight, even one halfway
                    // through a head, has nothing to finish.
                    if activity.in_flight.load(Ordering::Relaxed) == 0 {
                        break;
                    }
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
                why = activity.expired(&settings) => match why {
                    // Gracefully, so a request whose first bytes just came is still served.
                    Expired::Evicted => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    why => {
                        tracing::debug!(reason = why.as_str(), "closing a connection");
                        break;
                    }
                }
            }
        }
        drop(place);
    }
}

/// An ordinary connection's entry among the open ones, removed when it closes.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Registered {
    fn new(shared: &Arc<Shared>, activity: &Arc<Activity>) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::clone(activity));
        Registered {
            shared: Arc::clone(shared),
            id,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.id);
    }
}

/// Why a connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expired {
    HeaderTimeout,
    Idle,
    SendStalled,
    Evicted,
}

impl Expired {
    fn as_str(self) -> &'static str {
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
struct Activity {
    epoch: Instant,
    accepted: u64,
    /// Requests begun and answers hyper still holds.
    in_flight: AtomicU64,
    requests: AtomicU64,
    /// When the last request in flight ended (or the accept).
    idle_since: AtomicU64,
    /// When the first byte of the next head came, plus one.
    head_started: AtomicU64,
    /// When a write first found the client's window full, plus one.
    send_stalled: AtomicU64,
    evict: AtomicBool,
    /// Wakes the watchdog when a deadline may have moved closer.
    changed: Notify,
}

impl Activity {
    fn new(epoch: Instant, now: u64) -> Self {
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

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64, after: Duration) -> Instant {
        self.epoch + Duration::from_millis(ms) + after
    }

    /// Idle, and not in the middle of sending a request.
    fn evictable(&self) -> bool {
        !self.evict.load(Ordering::Acquire)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started
                .store(self.now_ms() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn write_blocked(&self) {
        if self.send_stalled.load(Ordering::Relaxed) == 0 {
            self.send_stalled
                .store(self.now_ms() + 1, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn wrote_some(&self) {
        self.send_stalled.store(0, Ordering::Relaxed);
    }

    fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// The nearest deadline and what it is for.
    fn deadline(&self, settings: &Settings) -> Option<(Instant, Expired)> {
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
    async fn expired(&self, settings: &Settings) -> Expired {
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
struct InFlight(Arc<Activity>);

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
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
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
    fn watch_write(&self, written: &Poll<io::Result<usize>>) {
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

/// The router, as one connection serves it.
#[derive(Clone)]
struct ConnectionService {
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    health_only: bool,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin_request();
        let router = self.shared.router.clone();
        let body_read = self.shared.settings.body_read;
        let health_only = self.health_only;
        Box::pin(async move {
            let response = answer(router, request, body_read, health_only).await;
            Ok(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

async fn answer(
    mut router: Router,
    request: Request<Incoming>,
    body_read: Duration,
    health_only: bool,
) -> Response<Body> {
    if head_too_large(&request) {
        return closing(ApiError::HeadersTooLarge.into_response());
    }
    if health_only && !matches!(request.uri().path(), "/health" | "/ready") {
        return closing(ApiError::TooManyConnections(RETRY_AFTER).into_response());
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|incoming| {
        if incoming.is_end_stream() {
            Body::new(incoming)
        } else {
            Body::new(DeadlineBody {
                inner: incoming,
                deadline: Box::pin(tokio::time::sleep(body_read)),
                limit: body_read,
                timed_out: Arc::clone(&timed_out),
            })
        }
    });
    // A router is always ready.
    let response = match std::future::poll_fn(|cx| {
        tower::Service::<Request<Body>>::poll_ready(&mut router, cx)
    })
    .await
    {
        Ok(()) => tower::Service::call(&mut router, request).await,
        Err(never) => match never {},
    };
    let response = response.unwrap_or_else(|never| match never {});
    if timed_out.load(Ordering::Acquire) {
        // Whatever the handler made of the broken body, the request never arrived whole.
        return closing(ApiError::RequestTimeout(body_read.as_secs().max(1)).into_response());
    }
    response
}

/// Whether the head is over [`MAX_HEADER_FIELDS`] or [`MAX_HEADER_BYTES`].
fn head_too_large<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    if headers.len() > MAX_HEADER_FIELDS {
        return true;
    }
    // The request line, then each field as `name: value\r\n`.
    let target = match request.uri().path_and_query() {
        Some(target) => target.as_str().len(),
        None => request.uri().to_string().len(),
    };
    let line = request.method().as_str().len() + target + 11;
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + fields > MAX_HEADER_BYTES
}

/// Asks hyper to close the connection after this answer.
fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers 503 without reading the request, then closes, draining what the client sent so
/// the kernel does not reset the connection before the client reads the answer.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let response = closing(ApiError::TooManyConnections(RETRY_AFTER).into_response());
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024).await else {
        return;
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let answered = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
}

/// An answer's body, holding its request in flight until hyper is done with it.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request body did not arrive within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTimedOut(Duration);

/// A request body that fails once its deadline passes, and says so in `timed_out`.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        ready!(this.deadline.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit)))))
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

    #[test]
    fn the_default_bound_leaves_room_for_other_files() {
        assert_eq!(default_max_connections(Some(1_024)), 1_024 - 128 - 64);
        assert_eq!(default_max_connections(Some(1_048_576)), 16_384);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(default_max_connections(None), 1_024);
    }

    #[test]
    fn settings_on_the_builder_win_and_zero_means_unset() {
        let settings = ConnectionLimits::default()
            .header_read_timeout(Duration::from_secs(3))
            .idle_timeout(Duration::ZERO)
            .max_connections(7)
            .resolve(Some(1_024));
        assert_eq!(settings.header_read, Duration::from_secs(3));
        assert_eq!(settings.max_connections, 7);
        if std::env::var_os("AGENTOS_IDLE_TIMEOUT_SECS").is_none() {
            assert_eq!(settings.idle, Duration::from_secs(75));
        }
    }
}
