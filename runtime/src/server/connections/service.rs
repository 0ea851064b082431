//! What each request on a connection gets: the header limits, the body deadline, the health
//! reserve's refusals, and its time counted as in flight.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use crate::server::error::ApiError;

use super::activity::{Activity, InFlight};
use super::bound::Shared;
use super::limits::{MAX_HEADER_BYTES, MAX_HEADER_FIELDS, RETRY_AFTER};

/// The router, as one connection serves it.
#[derive(Clone)]
pub(super) struct ConnectionService {
    pub(super) shared: Arc<Shared>,
    pub(super) activity: Arc<Activity>,
    pub(super) health_only: bool,
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

pub(super) async fn answer(
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
pub(super) fn head_too_large<B>(request: &Request<B>) -> bool {
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
pub(super) fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers 503 without reading the request, then closes, draining what the client sent so
/// the kernel does not reset the connection before the client reads the answer.
pub(super) async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
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
pub(super) struct Tracked {
    pub(super) body: Body,
    pub(super) _in_flight: InFlight,
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
pub(super) struct BodyTimedOut(Duration);

/// A request body that fails once its deadline passes, and says so in `timed_out`.
pub(super) struct DeadlineBody {
    pub(super) inner: Incoming,
    pub(super) deadline: Pin<Box<Sleep>>,
    pub(super) limit: Duration,
    pub(super) timed_out: Arc<AtomicBool>,
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
