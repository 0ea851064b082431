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
//!
//! Here: the accept loop and one connection's life. The limits (`limits`), the bound on open
//! connections (`bound`), the timeouts (`activity`) and what each request gets (`service`)
//! have rooms of their own.

mod activity;
mod bound;
mod limits;
mod service;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use activity::{Activity, Expired, Watched};
use bound::{Place, Registered, Shared};
pub(crate) use limits::raise_open_file_limit;
pub use limits::{ConnectionLimits, MAX_HEADER_BYTES, MAX_HEADER_FIELDS};
use limits::{HEALTH_RESERVE, HYPER_MAX_HEADERS, RESERVE_HEADER_READ, Settings};
use service::{ConnectionService, refuse};

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
            tracker.spawn(serve_connection(
                Arc::clone(&shared),
                stream,
                Place::ordinary(permit),
            ));
        } else if let Ok(reserved) = Arc::clone(&shared.reserve).try_acquire_owned() {
            shared.warn_full();
            let shared = Arc::clone(&shared);
            tracker.spawn(async move {
                let place = shared.make_room(reserved).await;
                serve_connection(shared, stream, place).await;
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

/// Serves one connection until it closes, expires or the server shuts down.
async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, place: Place) {
    let activity = Arc::new(Activity::new(shared.epoch, shared.now_ms()));
    let ordinary = place.ordinary;
    let settings = if ordinary {
        shared.settings
    } else {
        Settings {
            header_read: shared.settings.header_read.min(RESERVE_HEADER_READ),
            ..shared.settings
        }
    };
    let _registered = ordinary.then(|| Registered::new(&shared, &activity));
    let service = ConnectionService {
        shared: Arc::clone(&shared),
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
            _ = shared.closing.cancelled(), if !draining => {
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
