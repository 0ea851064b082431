//! The mock servers' common body: an accept loop of its own, counters, injected faults, and
//! the dispatch of each request to the wire protocol it speaks.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::conversation::Conversation;
use super::openai::{chat_body, chat_chunks, responses_body, responses_events};
use super::protocol::{Protocol, Wire};
use super::{anthropic, gemini};

/// Put this in a user message to make the mock apply the fault set with
/// [`MockOpenAi::set_marker_fault`] to that request only.
pub const ERROR_MARKER: &str = "[[fake-error]]";

/// How long a [`Fault::Hold`] waits for company before answering anyway, so a test that gets
/// its concurrency wrong fails on an assertion instead of hanging.
const HOLD_LIMIT: Duration = Duration::from_secs(5);

/// Something the mock does instead of (or before) answering normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and the protocol's error body.
    Status(u16),
    /// Answer 429 asking the client to wait this long (`retry-after-ms`, and `retry-after` in
    /// whole seconds rounded up).
    RateLimited {
        /// The wait asked for.
        retry_after: Duration,
    },
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

/// An in-process, deterministic model provider speaking protocol `P`; use it as
/// [`MockOpenAi`], [`MockAnthropic`] or [`MockGemini`].
///
/// It counts requests and accepted TCP connections, tracks the peak number of requests handled
/// at once, and can inject [`Fault`]s. It stops when dropped.
pub struct MockServer<P: Protocol> {
    address: SocketAddr,
    state: Arc<MockState>,
    shutdown: CancellationToken,
    accept_loop: JoinHandle<()>,
    protocol: PhantomData<P>,
}

#[derive(Default)]
struct MockState {
    requests: AtomicUsize,
    connections: AtomicUsize,
    max_in_flight: AtomicUsize,
    in_flight: watch::Sender<usize>,
    ids: AtomicU64,
    faults: Mutex<Faults>,
    /// The last [`KEPT_REQUESTS`] request bodies, oldest first.
    recent: Mutex<VecDeque<Value>>,
}

/// How many request bodies a mock keeps for tests to read.
const KEPT_REQUESTS: usize = 32;

#[derive(Default)]
struct Faults {
    standing: Option<Fault>,
    scripted: VecDeque<Fault>,
    marked: Option<Fault>,
}

impl<P: Protocol> MockServer<P> {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound, which leaves a test nothing to test.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("the mock server cannot bind 127.0.0.1:0: {error}"))
    }

    /// Binds `address` (a loopback address: the mock is for tests) and starts serving, for a
    /// mock that another process is told where to find.
    pub async fn start_on(address: impl tokio::net::ToSocketAddrs) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(MockState::default());
        let shutdown = CancellationToken::new();
        let router = router(P::WIRE, state.clone());
        let accept_loop = tokio::spawn(accept_loop(
            listener,
            router,
            state.clone(),
            shutdown.clone(),
        ));
        Ok(MockServer {
            address,
            state,
            shutdown,
            accept_loop,
            protocol: PhantomData,
        })
    }

    /// The base URL to give a model: `http://127.0.0.1:PORT/v1` for OpenAI's clients (which
    /// want the version in it), `http://127.0.0.1:PORT` for Anthropic's and Gemini's (which
    /// add it themselves, as `ANTHROPIC_BASE_URL` and `GEMINI_BASE_URL` expect).
    pub fn base_url(&self) -> String {
        match P::WIRE {
            Wire::OpenAi | Wire::OpenAiCompatible => format!("http://{}/v1", self.address),
            Wire::Anthropic | Wire::Gemini => format!("http://{}", self.address),
        }
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

    /// The bodies of the last 32 requests, oldest first, as JSON: what a test reads to see
    /// what a model was sent.
    pub fn recent_requests(&self) -> Vec<Value> {
        self.state
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.state
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<P: Protocol> Drop for MockServer<P> {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.accept_loop.abort();
    }
}

impl<P: Protocol> std::fmt::Debug for MockServer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("protocol", &P::WIRE)
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
async fn accept_loop(
    listener: TcpListener,
    router: Router,
    state: Arc<MockState>,
    shutdown: CancellationToken,
) {
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

/// The routes of one protocol.
fn router(wire: Wire, state: Arc<MockState>) -> Router {
    let router = match wire {
        Wire::OpenAi => Router::new()
            .route("/v1/responses", post(responses_route))
            .route("/v1/chat/completions", post(chat_route)),
        Wire::OpenAiCompatible => Router::new().route("/v1/chat/completions", post(chat_route)),
        Wire::Anthropic => Router::new().route("/v1/messages", post(messages_route)),
        Wire::Gemini => Router::new().route("/v1beta/models/{call}", post(gemini_route)),
    };
    router.with_state(state)
}

/// The API a request came to.
#[derive(Clone, PartialEq, Eq)]
enum Api {
    Responses,
    Chat,
    Messages,
    /// `generateContent` (or `streamGenerateContent`) of the model in the path.
    Generate {
        model: String,
        stream: bool,
    },
}

impl Api {
    fn wire(&self) -> Wire {
        match self {
            Api::Responses | Api::Chat => Wire::OpenAi,
            Api::Messages => Wire::Anthropic,
            Api::Generate { .. } => Wire::Gemini,
        }
    }
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

/// Anthropic's API refuses a request without its key or its version header.
async fn messages_route(
    State(state): State<Arc<MockState>>,
    Extension(kill): Extension<ConnectionKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !headers.contains_key("x-api-key") {
        state.requests.fetch_add(1, Ordering::SeqCst);
        return error_response(
            Wire::Anthropic,
            StatusCode::UNAUTHORIZED,
            "x-api-key header is required",
        );
    }
    if !headers.contains_key("anthropic-version") {
        state.requests.fetch_add(1, Ordering::SeqCst);
        return error_response(
            Wire::Anthropic,
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        );
    }
    handle(state, kill, Api::Messages, body).await
}

/// `{model}:generateContent`, or `{model}:streamGenerateContent` with `alt=sse`.
async fn gemini_route(
    State(state): State<Arc<MockState>>,
    Extension(kill): Extension<ConnectionKill>,
    Path(call): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = match call.rsplit_once(':') {
        Some((model, "generateContent")) => Api::Generate {
            model: model.to_string(),
            stream: false,
        },
        Some((model, "streamGenerateContent"))
            if query.get("alt").map(String::as_str) == Some("sse") =>
        {
            Api::Generate {
                model: model.to_string(),
                stream: true,
            }
        }
        _ => {
            state.requests.fetch_add(1, Ordering::SeqCst);
            return error_response(Wire::Gemini, StatusCode::NOT_FOUND, "no such method");
        }
    };
    if !headers.contains_key("x-goog-api-key") && !query.contains_key("key") {
        state.requests.fetch_add(1, Ordering::SeqCst);
        return error_response(
            Wire::Gemini,
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers",
        );
    }
    handle(state, kill, api, body).await
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

    let wire = api.wire();
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("invalid JSON: {error}");
            return error_response(wire, StatusCode::BAD_REQUEST, &message);
        }
    };
    {
        let mut recent = state.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == KEPT_REQUESTS {
            recent.pop_front();
        }
        recent.push_back(request.clone());
    }
    let conversation = match &api {
        Api::Responses => Conversation::from_responses(&request),
        Api::Chat => Conversation::from_chat(&request),
        Api::Messages => Conversation::from_anthropic(&request),
        Api::Generate { model, .. } => Conversation::from_gemini(&request, model),
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
            let message = format!("{} injected HTTP {status}", server_name(wire));
            return error_response(wire, status, &message);
        }
        Some(Fault::RateLimited { retry_after }) => {
            let message = format!("{} injected HTTP 429", server_name(wire));
            let mut response = error_response(wire, StatusCode::TOO_MANY_REQUESTS, &message);
            let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
            let headers = response.headers_mut();
            headers.insert("retry-after-ms", millis.into());
            headers.insert("retry-after", millis.div_ceil(1000).into());
            return response;
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

    let reply = conversation.reply(server_name(wire));
    let id = state.ids.fetch_add(1, Ordering::SeqCst) + 1;
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let usage = conversation.usage(&reply);
    let model = &conversation.model;
    match (api, stream) {
        (Api::Messages, false) => {
            axum::Json(anthropic::message_body(model, id, &reply, usage)).into_response()
        }
        (Api::Messages, true) => sse(anthropic::message_events(model, id, &reply, usage)),
        (Api::Generate { stream: false, .. }, _) => {
            axum::Json(gemini::generate_body(model, id, &reply, usage)).into_response()
        }
        (Api::Generate { stream: true, .. }, _) => {
            sse(gemini::generate_chunks(model, id, &reply, usage))
        }
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

/// The name the fake model signs its replies with.
fn server_name(wire: Wire) -> &'static str {
    match wire {
        Wire::OpenAi | Wire::OpenAiCompatible => "fake-openai",
        Wire::Anthropic => "fake-anthropic",
        Wire::Gemini => "fake-gemini",
    }
}

/// An error in the protocol's own body shape.
fn error_response(wire: Wire, status: StatusCode, message: &str) -> Response {
    let body = match wire {
        Wire::OpenAi | Wire::OpenAiCompatible => {
            let kind = match status.as_u16() {
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                _ => "server_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Wire::Anthropic => anthropic::error_body(status.as_u16(), message),
        Wire::Gemini => gemini::error_body(status.as_u16(), message),
    };
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
