//! An in-process, deterministic OpenAI-compatible server.

mod conversation;
mod wire;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use conversation::Conversation;
use wire::{chat_body, chat_chunks, responses_body, responses_events};

/// Put this in a user message to make the mock apply the fault set with
/// [`MockOpenAi::set_marker_fault`] to that request only.
pub const ERROR_MARKER: &str = "[[fake-error]]";

/// How long a [`Fault::Hold`] waits for company before answering anyway, so a test that gets
/// its concurrency wrong fails on an assertion instead of hanging.
const HOLD_LIMIT: Duration = Duration::from_secs(5);

/// Something the mock does instead of (or before) answering normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and an OpenAI-style error body.
    Status(u16),
    /// Wait this long, then answer normally (make it longer than the client's timeout).
    Delay(Duration),
    /// Close the connection without sending any response.
    DropConnection,
    /// Answer 200 with a body that is not valid JSON.
    MalformedJson,
    /// Wait until this many requests are being handled at once (at most 5 s), then answer.
    Hold {
        /// The number of concurrent requests to wait for.
        until_in_flight: usize,
    },
}

/// An OpenAI-compatible server on `127.0.0.1:0` answering `POST /v1/responses` and
/// `POST /v1/chat/completions`, JSON or SSE (`stream: true`), with usage.
///
/// It behaves like the fake behind the recordings in `wire/`: when a request offers tools and
/// ends with a user message it calls the first tool once (for `delegate_task_to_member` it picks
/// the member named in the message), otherwise it answers
/// `[fake-openai model=M] reply to: <message>[ | tool results: ...]`.
///
/// It counts requests and accepted TCP connections, tracks the peak number of requests handled
/// at once, and can inject [`Fault`]s. It stops when dropped.
///
/// ```
/// use agentos_runtime::model::{Message, Model, ModelRequest, OpenAIChat};
/// use agentos_testing::MockOpenAi;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mock = MockOpenAi::start().await;
/// let model = OpenAIChat::new("gpt-4o-mini").with_base_url(mock.base_url()).with_api_key("test");
/// let request = ModelRequest::new(vec![Message::user("hi")], vec![]);
/// let answer = model.complete(request).await.unwrap();
/// assert_eq!(answer.content, "[fake-openai model=gpt-4o-mini] reply to: hi");
/// assert_eq!(mock.requests(), 1);
/// # });
/// ```
pub struct MockOpenAi {
    address: SocketAddr,
    state: Arc<MockState>,
    shutdown: CancellationToken,
    accept_loop: JoinHandle<()>,
}

#[derive(Default)]
struct MockState {
    requests: AtomicUsize,
    connections: AtomicUsize,
    max_in_flight: AtomicUsize,
    in_flight: watch::Sender<usize>,
    ids: AtomicU64,
    faults: Mutex<Faults>,
}

#[derive(Default)]
struct Faults {
    standing: Option<Fault>,
    scripted: VecDeque<Fault>,
    marked: Option<Fault>,
}

impl MockOpenAi {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound, which leaves a test nothing to test.
    pub async fn start() -> MockOpenAi {
        Self::start_on("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("MockOpenAi cannot bind 127.0.0.1:0: {error}"))
    }

    /// Binds `address` (a loopback address: the mock is for tests) and starts serving, for a
    /// mock that another process is told where to find.
    pub async fn start_on(address: impl tokio::net::ToSocketAddrs) -> std::io::Result<MockOpenAi> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(MockState::default());
        let shutdown = CancellationToken::new();
        let accept_loop = tokio::spawn(accept_loop(listener, state.clone(), shutdown.clone()));
        Ok(MockOpenAi {
            address,
            state,
            shutdown,
            accept_loop,
        })
    }

    /// The base URL to give a model, such as `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The socket address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// HTTP requests received so far (retries included).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The most requests it has been handling at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Applies `fault` to every request from now on (scripted faults go first).
    pub fn set_fault(&self, fault: Fault) {
        self.faults().standing = Some(fault);
    }

    /// Removes the fault set with [`set_fault`](Self::set_fault), the scripted ones and the
    /// marker fault.
    pub fn clear_faults(&self) {
        *self.faults() = Faults::default();
    }

    /// Applies `fault` to one coming request; several calls script several requests in order.
    pub fn push_fault(&self, fault: Fault) {
        self.faults().scripted.push_back(fault);
    }

    /// Applies `fault` to every request whose last user message contains [`ERROR_MARKER`].
    pub fn set_marker_fault(&self, fault: Fault) {
        self.faults().marked = Some(fault);
    }

    /// Stops serving and closes every open connection.
    pub fn shutdown(self) {
        // Drop does the work.
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.state
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.accept_loop.abort();
    }
}

impl std::fmt::Debug for MockOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOpenAi")
            .field("address", &self.address)
            .field("requests", &self.requests())
            .field("connections", &self.connections())
            .finish()
    }
}

/// Closes the connection a request arrived on (the [`Fault::DropConnection`] fault).
#[derive(Clone)]
struct ConnectionKill(CancellationToken);

/// The accept loop is ours rather than `axum::serve`'s so each accept can be counted and a
/// handler can close its own connection without answering.
async fn accept_loop(listener: TcpListener, state: Arc<MockState>, shutdown: CancellationToken) {
    let router = Router::new()
        .route("/v1/responses", post(responses_route))
        .route("/v1/chat/completions", post(chat_route))
        .with_state(state.clone());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let kill = CancellationToken::new();
        let connection_kill = ConnectionKill(kill.clone());
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(connection_kill.clone());
                request
            },
        );
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            // Dropping the connection future closes the socket, mid-request or not.
            tokio::select! {
                _ = connection => {}
                _ = kill.cancelled() => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Responses,
    Chat,
}

async fn responses_route(
    State(state): State<Arc<MockState>>,
    Extension(kill): Extension<ConnectionKill>,
    body: Bytes,
) -> Response {
    handle(state, kill, Api::Responses, body).await
}

async fn chat_route(
    State(state): State<Arc<MockState>>,
    Extension(kill): Extension<ConnectionKill>,
    body: Bytes,
) -> Response {
    handle(state, kill, Api::Chat, body).await
}

/// Counts a request as in flight while it lives, including when its connection is dropped.
struct InFlight<'a>(&'a MockState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a MockState) -> Self {
        state.in_flight.send_modify(|count| *count += 1);
        let now = *state.in_flight.borrow();
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .send_modify(|count| *count = count.saturating_sub(1));
    }
}

async fn handle(state: Arc<MockState>, kill: ConnectionKill, api: Api, body: Bytes) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(&state);

    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_response(StatusCode::BAD_REQUEST, &format!("invalid JSON: {error}"));
        }
    };
    let conversation = match api {
        Api::Responses => Conversation::from_responses(&request),
        Api::Chat => Conversation::from_chat(&request),
    };

    let fault = {
        let mut faults = state.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let marked = conversation
            .last_user()
            .is_some_and(|text| text.contains(ERROR_MARKER));
        faults
            .scripted
            .pop_front()
            .or_else(|| faults.standing.clone())
            .or_else(|| faults.marked.clone().filter(|_| marked))
    };
    match fault {
        Some(Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error_response(status, &format!("fake-openai injected HTTP {status}"));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::DropConnection) => {
            kill.0.cancel();
            // The connection task drops this future when it closes the socket.
            std::future::pending::<()>().await;
        }
        Some(Fault::MalformedJson) => {
            return (
                [(header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"broken\", \"output\": [",
            )
                .into_response();
        }
        Some(Fault::Hold { until_in_flight }) => {
            let mut watcher = state.in_flight.subscribe();
            let _ = tokio::time::timeout(
                HOLD_LIMIT,
                watcher.wait_for(|count| *count >= until_in_flight),
            )
            .await;
        }
        None => {}
    }

    let reply = conversation.reply();
    let id = state.ids.fetch_add(1, Ordering::SeqCst) + 1;
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let usage = conversation.usage(&reply);
    match (api, stream) {
        (Api::Responses, false) => {
            axum::Json(responses_body(&conversation.model, id, &reply, usage)).into_response()
        }
        (Api::Responses, true) => sse(responses_events(&conversation.model, id, &reply, usage)),
        (Api::Chat, false) => {
            axum::Json(chat_body(&conversation.model, id, &reply, usage)).into_response()
        }
        (Api::Chat, true) => {
            let include_usage = request
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true);
            sse(chat_chunks(
                &conversation.model,
                id,
                &reply,
                include_usage.then_some(usage),
            ))
        }
    }
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let kind = match status.as_u16() {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

/// `(event name, data)` pairs as a `text/event-stream` body.
fn sse(events: Vec<(Option<&'static str>, String)>) -> Response {
    let mut body = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            body.push_str("event: ");
            body.push_str(name);
            body.push('\n');
        }
        body.push_str("data: ");
        body.push_str(&data);
        body.push_str("\n\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from(body),
    )
        .into_response()
}
