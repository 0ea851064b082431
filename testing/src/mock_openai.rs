//! An in-process, deterministic OpenAI-compatible server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
/// use agentos_runtime::testing::MockOpenAi;
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

/// The conversation of a request, the same whichever API carried it.
struct Conversation {
    model: String,
    entries: Vec<Entry>,
    tools: Vec<ToolSpec>,
}

enum Entry {
    User(String),
    Other(String),
    ToolResult(String),
}

struct ToolSpec {
    name: String,
    description: String,
    parameters: Value,
}

/// What the fake model says.
enum Reply {
    Text(String),
    Call { name: String, arguments: String },
}

impl Conversation {
    fn from_responses(request: &Value) -> Self {
        let mut entries = Vec::new();
        if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
            entries.push(Entry::Other(instructions.to_string()));
        }
        match request.get("input") {
            Some(Value::String(text)) => entries.push(Entry::User(text.clone())),
            Some(Value::Array(items)) => {
                for item in items {
                    let kind = item
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("message");
                    match kind {
                        "function_call_output" => entries.push(Entry::ToolResult(text_of(
                            item.get("output").unwrap_or(&Value::Null),
                        ))),
                        "function_call" => entries.push(Entry::Other(
                            item.get("arguments")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        )),
                        _ => entries.push(message_entry(item)),
                    }
                }
            }
            _ => {}
        }
        let tools = tool_list(request, |tool| tool);
        Conversation {
            model: model_of(request),
            entries,
            tools,
        }
    }

    fn from_chat(request: &Value) -> Self {
        let entries = request
            .get("messages")
            .and_then(Value::as_array)
            .map(|messages| {
                messages
                    .iter()
                    .map(|message| {
                        if message.get("role").and_then(Value::as_str) == Some("tool") {
                            Entry::ToolResult(text_of(
                                message.get("content").unwrap_or(&Value::Null),
                            ))
                        } else {
                            message_entry(message)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tools = tool_list(request, |tool| tool.get("function").unwrap_or(tool));
        Conversation {
            model: model_of(request),
            entries,
            tools,
        }
    }

    fn last_user(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|entry| match entry {
            Entry::User(text) => Some(text.as_str()),
            _ => None,
        })
    }

    fn reply(&self) -> Reply {
        let user = self.last_user().unwrap_or_default();
        if let (Some(tool), Some(Entry::User(_))) = (self.tools.first(), self.entries.last()) {
            return Reply::Call {
                name: tool.name.clone(),
                arguments: tool_arguments(tool, user).to_string(),
            };
        }
        let start = self
            .entries
            .iter()
            .rposition(|entry| matches!(entry, Entry::User(_)))
            .unwrap_or(0);
        let results: Vec<&str> = self.entries[start..]
            .iter()
            .filter_map(|entry| match entry {
                Entry::ToolResult(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let mut text = format!("[fake-openai model={}] reply to: {user}", self.model);
        if !results.is_empty() {
            text.push_str(" | tool results: ");
            text.push_str(&results.join("; "));
        }
        Reply::Text(text)
    }

    /// Whitespace-separated words stand in for tokens: deterministic and good enough to see
    /// usage move with the conversation.
    fn usage(&self, reply: &Reply) -> (u64, u64) {
        let words = |text: &str| text.split_whitespace().count() as u64;
        let input = self
            .entries
            .iter()
            .map(|entry| match entry {
                Entry::User(text) | Entry::Other(text) | Entry::ToolResult(text) => words(text),
            })
            .sum::<u64>()
            .max(1);
        let output = match reply {
            Reply::Text(text) => words(text),
            Reply::Call { arguments, .. } => words(arguments),
        }
        .max(1);
        (input, output)
    }
}

fn model_of(request: &Value) -> String {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}

fn message_entry(message: &Value) -> Entry {
    let text = text_of(message.get("content").unwrap_or(&Value::Null));
    match message.get("role").and_then(Value::as_str) {
        Some("user") => Entry::User(text),
        _ => Entry::Other(text),
    }
}

/// The text of a content value: a string, or the `text` of each part of a list.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn tool_list(request: &Value, function: impl Fn(&Value) -> &Value) -> Vec<ToolSpec> {
    request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .map(&function)
                .filter_map(|tool| {
                    Some(ToolSpec {
                        name: tool.get("name")?.as_str()?.to_string(),
                        description: tool
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        parameters: tool.get("parameters").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tool_arguments(tool: &ToolSpec, user: &str) -> Value {
    match tool.name.as_str() {
        "delegate_task_to_member" => json!({"member_id": pick_member(tool, user), "task": user}),
        "delegate_task_to_members" => json!({"task": user}),
        _ => agentos_runtime::model::test_model::schema_example(&tool.parameters, user),
    }
}

/// The member named in the message, else the first one the tool lists.
fn pick_member(tool: &ToolSpec, user: &str) -> String {
    let member_schema = tool.parameters.pointer("/properties/member_id");
    let mut candidates: Vec<String> = member_schema
        .and_then(|schema| schema.get("enum"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if candidates.is_empty() {
        // Without an enum the ids are only in prose: take slug-like words such as
        // `billing-agent` from the descriptions.
        let prose = format!(
            "{} {}",
            tool.description,
            member_schema
                .and_then(|schema| schema.get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        candidates = prose
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|word| word.contains('-') && word.chars().any(|c| c.is_ascii_lowercase()))
            .map(str::to_string)
            .collect();
    }
    let message = user.to_lowercase();
    let named = candidates.iter().find(|id| {
        let id = id.to_lowercase();
        message.contains(&id)
            || id
                .split(['-', '_'])
                .next()
                .is_some_and(|head| head.len() > 2 && message.contains(head))
    });
    named
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| "member".to_string())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// The reply in a few pieces, as a streaming model would send it.
fn chunks(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let size = words.len().div_ceil(4).max(1);
    words.chunks(size).map(|piece| piece.concat()).collect()
}

fn responses_output(id: u64, reply: &Reply) -> Value {
    match reply {
        Reply::Text(text) => json!({
            "type": "message",
            "id": format!("msg_{id}"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
        Reply::Call { name, arguments } => json!({
            "type": "function_call",
            "id": format!("fc_{id}"),
            "call_id": format!("call_{id}"),
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }),
    }
}

fn responses_body(model: &str, id: u64, reply: &Reply, (input, output): (u64, u64)) -> Value {
    json!({
        "id": format!("resp_{id}"),
        "object": "response",
        "created_at": now(),
        "status": "completed",
        "model": model,
        "output": [responses_output(id, reply)],
        "parallel_tool_calls": true,
        "usage": {
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output,
        },
    })
}

fn responses_events(
    model: &str,
    id: u64,
    reply: &Reply,
    usage: (u64, u64),
) -> Vec<(Option<&'static str>, String)> {
    let done = responses_body(model, id, reply, usage);
    let mut created = done.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    let mut sequence = 0;
    let mut next = || {
        sequence += 1;
        sequence
    };
    let mut events = vec![(
        Some("response.created"),
        json!({"type": "response.created", "sequence_number": next(), "response": created})
            .to_string(),
    )];
    if let Reply::Text(text) = reply {
        for delta in chunks(text) {
            events.push((
                Some("response.output_text.delta"),
                json!({
                    "type": "response.output_text.delta",
                    "sequence_number": next(),
                    "item_id": format!("msg_{id}"),
                    "output_index": 0,
                    "content_index": 0,
                    "delta": delta,
                })
                .to_string(),
            ));
        }
    }
    events.push((
        Some("response.output_item.done"),
        json!({
            "type": "response.output_item.done",
            "sequence_number": next(),
            "output_index": 0,
            "item": responses_output(id, reply),
        })
        .to_string(),
    ));
    events.push((
        Some("response.completed"),
        json!({"type": "response.completed", "sequence_number": next(), "response": done})
            .to_string(),
    ));
    events
}

fn chat_usage((input, output): (u64, u64)) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

fn chat_body(model: &str, id: u64, reply: &Reply, usage: (u64, u64)) -> Value {
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::Call { name, arguments } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{id}"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }],
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": chat_usage(usage),
    })
}

fn chat_chunks(
    model: &str,
    id: u64,
    reply: &Reply,
    usage: Option<(u64, u64)>,
) -> Vec<(Option<&'static str>, String)> {
    let created = now();
    let chunk = |choices: Value, usage: Value| {
        (
            None,
            json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
            })
            .to_string(),
        )
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
    let mut events = vec![chunk(
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        Value::Null,
    )];
    let finish = match reply {
        Reply::Text(text) => {
            for piece in chunks(text) {
                events.push(chunk(
                    delta(json!({"content": piece}), Value::Null),
                    Value::Null,
                ));
            }
            "stop"
        }
        Reply::Call { name, arguments } => {
            events.push(chunk(
                delta(
                    json!({"tool_calls": [{
                        "index": 0,
                        "id": format!("call_{id}"),
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    Value::Null,
                ),
                Value::Null,
            ));
            // Arguments in two pieces, as real servers split them.
            let middle = arguments.len() / 2;
            let split = (0..=middle)
                .rev()
                .find(|index| arguments.is_char_boundary(*index))
                .unwrap_or(0);
            for piece in [&arguments[..split], &arguments[split..]] {
                events.push(chunk(
                    delta(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        Value::Null,
                    ),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(delta(json!({}), json!(finish)), Value::Null));
    if let Some(usage) = usage {
        events.push(chunk(json!([]), chat_usage(usage)));
    }
    events.push((None, "[DONE]".to_string()));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, parameters: Value) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters,
        }
    }

    #[test]
    fn delegation_picks_the_member_named_in_the_message() {
        let delegate = tool(
            "delegate_task_to_member",
            json!({"properties": {"member_id": {"type": "string",
                "enum": ["billing-agent", "tech-support-agent"]}}}),
        );
        let args = tool_arguments(&delegate, "my router is broken, tech support please");
        assert_eq!(args["member_id"], "tech-support-agent");
        let args = tool_arguments(&delegate, "hello");
        assert_eq!(args["member_id"], "billing-agent");
        assert_eq!(args["task"], "hello");
    }

    #[test]
    fn schema_arguments_fill_required_properties_only() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric"],
        });
        assert_eq!(
            agentos_runtime::model::test_model::schema_example(&schema, "task"),
            json!({"city": "example", "days": 1, "metric": true})
        );
    }

    #[test]
    fn chunks_rebuild_the_text() {
        let text = "[fake-openai model=m] reply to: hello there";
        assert!(chunks(text).len() > 1);
        assert_eq!(chunks(text).concat(), text);
    }
}
