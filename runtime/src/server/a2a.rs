//! The Agent2Agent protocol's door (version 0.3): every team, agent and workflow, factories
//! with typed input included, at `/a2a/{teams,agents,workflows}/{id}`, behind the same token
//! check and run service as REST.
//!
//! - `GET .../.well-known/agent-card.json`: the agent card.
//! - `POST .../{id}`: JSON-RPC (`message/send`, `message/stream`, `tasks/get`,
//!   `tasks/cancel`), what the protocol's SDK clients call.
//! - `POST .../v1/message:send`, `.../v1/message:stream`, `.../v1/tasks:get`,
//!   `.../v1/tasks:cancel`: the same methods at agno's paths, with the same JSON-RPC bodies.
//!
//! A task that waits for a person (`input-required`) goes on when a message names it
//! (`taskId`) and carries the answered requirements (`metadata.requirements`, as its status
//! listed them). A task is a stored run, so it is read back after a restart and on any replica. A message's
//! `metadata.factory_input` is the factory's input; input the factory refuses fails the task,
//! with the field paths in its status message, and starts nothing. The message's `messageId`
//! is the run's idempotency key: a client that sends a message again gets the same task.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, post};
use futures_util::StreamExt;
use serde_json::Value;

use super::error::ApiError;
use super::runs::caller;
use super::state::OsState;
use super::wire::a2a::{self, RpcCode};
use crate::meta::new_id;
use crate::resolve::RawInput;
use crate::run::Decisions;
use crate::runs::{Caller, Cancelled, ContinueAsk, RunAnswer, RunAsk, RunError, Runnable};

/// A method of the protocol, as JSON-RPC names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Send,
    Stream,
    GetTask,
    CancelTask,
}

impl Method {
    fn named(name: &str) -> Option<Method> {
        match name {
            "message/send" => Some(Method::Send),
            "message/stream" => Some(Method::Stream),
            "tasks/get" => Some(Method::GetTask),
            "tasks/cancel" => Some(Method::CancelTask),
            _ => None,
        }
    }
}

/// `GET /a2a/{kind}/{id}/.well-known/agent-card.json`.
pub(crate) async fn agent_card<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let resolver = C::resolvers(state.runs.components())
        .iter()
        .find(|resolver| resolver.info().id == id)
        .ok_or(ApiError::NotFound(C::KIND))?;
    let url = format!("{}/a2a/{}/{id}", origin(&headers), C::KIND.plural());
    Ok(Json(a2a::agent_card(
        C::KIND,
        resolver.info(),
        resolver.input_schema(),
        &url,
    )))
}

/// `POST /a2a/{kind}/{id}`: any of the protocol's methods, named in the body.
pub(crate) async fn rpc<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer::<C>(&state, &id, verified, headers, &body, None).await
}

/// `POST /a2a/{kind}/{id}/v1/message:send` and the other agno paths: the method the path
/// names, with the same bodies.
pub(crate) fn at<C: Runnable>(method: Method) -> MethodRouter<Arc<OsState>> {
    post(
        move |State(state): State<Arc<OsState>>,
              Path(id): Path<String>,
              verified: Option<Extension<Caller>>,
              headers: HeaderMap,
              body: Bytes| async move {
            answer::<C>(&state, &id, verified, headers, &body, Some(method)).await
        },
    )
}

/// The JSON-RPC answer to `body`; `fixed` is the method a path names, which the body's
/// `method`, if any, does not change.
async fn answer<C: Runnable>(
    state: &OsState,
    id: &str,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: &[u8],
    fixed: Option<Method>,
) -> Response {
    if !state.runs.serves(C::KIND, id) {
        return ApiError::NotFound(C::KIND).into_response();
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        let error = a2a::rpc_error(&Value::Null, RpcCode::ParseError, "Parse error", None);
        return Json(error).into_response();
    };
    let rpc_id = request.get("id").cloned().unwrap_or(Value::Null);
    let named = request.get("method").and_then(Value::as_str);
    let method = match (fixed, named.and_then(Method::named)) {
        (Some(method), _) | (None, Some(method)) => method,
        (None, None) => {
            let (code, message) = match named {
                None => (RpcCode::InvalidRequest, "Request payload validation error"),
                Some(_) => (RpcCode::MethodNotFound, "Method not found"),
            };
            return Json(a2a::rpc_error(&rpc_id, code, message, None)).into_response();
        }
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let done = match method {
        Method::Send => send_message::<C>(state, id, verified, headers, &params).await,
        Method::Stream => {
            return match stream_message::<C>(state, id, verified, headers, &params, &rpc_id).await {
                Ok(response) => response,
                Err(Failed(code, message, data)) => {
                    Json(a2a::rpc_error(&rpc_id, code, &message, data)).into_response()
                }
            };
        }
        Method::GetTask => read_task::<C>(state, id, verified, &params).await,
        Method::CancelTask => cancel::<C>(state, id, verified, &params).await,
    };
    Json(match done {
        Ok(result) => a2a::rpc_result(&rpc_id, result),
        Err(Failed(code, message, data)) => a2a::rpc_error(&rpc_id, code, &message, data),
    })
    .into_response()
}

/// Why a method failed: its JSON-RPC code, message and data.
struct Failed(RpcCode, String, Option<Value>);

impl Failed {
    fn params(message: &str) -> Failed {
        Failed(RpcCode::InvalidParams, message.to_owned(), None)
    }

    /// What the REST route would have answered, as the error's data.
    fn api(error: ApiError) -> Failed {
        Failed(
            RpcCode::Internal,
            error.to_string(),
            Some(error.body_with_status()),
        )
    }
}

impl From<RunError> for Failed {
    fn from(error: RunError) -> Self {
        match error {
            RunError::RunNotFound => Failed(RpcCode::TaskNotFound, "Task not found".into(), None),
            other => Failed::api(ApiError::from(other)),
        }
    }
}

/// `message/send`: the message's text parts (and its data parts as JSON) are the run's
/// message; `contextId` its session; `metadata.factory_input` (of the message or the params)
/// the factory's input; `configuration.blocking: false` answers at once.
async fn send_message<C: Runnable>(
    state: &OsState,
    id: &str,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    params: &Value,
) -> Result<Value, Failed> {
    let (caller, ask) = ask_of(verified, headers, params, false)?;
    let context_id = ask.session_id.clone();
    match go::<C>(state, id, &caller, ask, params).await {
        Ok(answered) => Ok(match answered.answer {
            RunAnswer::Whole(output) => a2a::task(&output),
            RunAnswer::Background {
                run_id,
                session_id,
                status,
            } => a2a::started_task(&run_id, &session_id, status),
            // Never asked for: `stream` is false.
            RunAnswer::Stream(_) => return Err(Failed::params("streaming is not served here")),
        }),
        Err(error) => refused(error, context_id),
    }
}

/// `message/stream`: as `message/send`, answered as Server-Sent Events of JSON-RPC results:
/// the task, its answer's artifact updates, and its last status update.
async fn stream_message<C: Runnable>(
    state: &OsState,
    id: &str,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    params: &Value,
    rpc_id: &Value,
) -> Result<Response, Failed> {
    let (caller, ask) = ask_of(verified, headers, params, true)?;
    let context_id = ask.session_id.clone();
    let mut task = a2a::TaskStream::new(ask.message.clone());
    let events = match go::<C>(state, id, &caller, ask, params).await {
        Ok(answered) => match answered.answer {
            RunAnswer::Stream(events) => events,
            // A replayed idempotent request answers whole.
            RunAnswer::Whole(output) => return Ok(sse_of(vec![a2a::task(&output)], rpc_id)),
            RunAnswer::Background { .. } => {
                return Err(Failed::params(
                    "a streamed message cannot run in the background",
                ));
            }
        },
        Err(error) => return Ok(sse_of(vec![refused(error, context_id)?], rpc_id)),
    };
    let rpc_id = rpc_id.clone();
    let frames = super::wire::translated(events, move |event| task.next(event))
        .map(move |result| Ok::<_, Infallible>(frame(&rpc_id, result)));
    Ok(Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Starts the run `ask` asks for or, for a message that names a task waiting for a person
/// (`taskId`), continues that run with the answers in the message's `metadata.requirements`
/// (agno's requirements, answered) or in a data part holding `requirements`.
async fn go<C: Runnable>(
    state: &OsState,
    id: &str,
    caller: &Caller,
    ask: RunAsk,
    params: &Value,
) -> Result<crate::runs::Answered, RunError> {
    let message = &params["message"];
    let Some(task_id) = message.get("taskId").and_then(Value::as_str) else {
        return state.runs.start::<C>(id, caller, ask).await;
    };
    let mut answered: Vec<Value> = message
        .pointer("/metadata/requirements")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for part in message["parts"].as_array().into_iter().flatten() {
        if let Some(requirements) = part.pointer("/data/requirements").and_then(Value::as_array) {
            answered.extend(requirements.iter().cloned());
        }
    }
    let go_on = ContinueAsk {
        decisions: Decisions::from_agno(&answered),
        session_id: ask.session_id,
        headers: ask.headers,
        stream: ask.stream,
        background: false,
    };
    state
        .runs
        .continue_run::<C>(id, task_id, caller, go_on)
        .await
}

/// A stream of these results, already known.
fn sse_of(results: Vec<Value>, rpc_id: &Value) -> Response {
    let frames: Vec<Result<SseEvent, Infallible>> = results
        .into_iter()
        .map(|result| Ok(frame(rpc_id, result)))
        .collect();
    Sse::new(futures_util::stream::iter(frames)).into_response()
}

/// One result as an SSE frame, named by its kind (`task`, `status-update`, ...).
fn frame(rpc_id: &Value, result: Value) -> SseEvent {
    let kind = result
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("result")
        .to_owned();
    SseEvent::default()
        .event(kind)
        .data(a2a::rpc_result(rpc_id, result).to_string())
}

/// What a refused run becomes: input the factory refuses fails the task, saying which
/// fields, and runs nothing; anything else is a JSON-RPC error with the REST answer's body.
fn refused(error: RunError, context_id: Option<String>) -> Result<Value, Failed> {
    if let RunError::Factory(_) | RunError::Invalid(_) = &error {
        let error = ApiError::from(error);
        if error.status() == StatusCode::BAD_REQUEST {
            let context_id = context_id.unwrap_or_else(new_id);
            let task = a2a::refused_task(&new_id(), &context_id, &error.to_string(), error.body());
            return Ok(task);
        }
        return Err(Failed::api(error));
    }
    Err(error.into())
}

/// The caller and the run a `message/send` or `message/stream` asks for.
fn ask_of(
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    params: &Value,
    stream: bool,
) -> Result<(Caller, RunAsk), Failed> {
    let message = params
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| Failed::params("params.message is required"))?;
    if message.get("role").and_then(Value::as_str) != Some("user") {
        return Err(Failed::params(
            "only messages with the role 'user' are accepted",
        ));
    }
    let text =
        text_of(message).ok_or_else(|| Failed::params("the message has no text or data part"))?;
    let metadata = |of: &Value, key: &str| of.get("metadata").and_then(|m| m.get(key)).cloned();
    let asserted = metadata(message, "userId")
        .and_then(|user| user.as_str().map(str::to_owned))
        .or_else(|| user_header(&headers));
    let caller = caller(verified, asserted);
    let context_id = message
        .get("contextId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let factory_input = metadata(message, "factory_input")
        .or_else(|| metadata(params, "factory_input"))
        .map_or(RawInput::Absent, RawInput::Json);
    let blocking = params
        .pointer("/configuration/blocking")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let ask = RunAsk {
        message: text,
        session_id: context_id,
        factory_input,
        headers,
        stream,
        background: !blocking && !stream,
        multitask: None,
        idempotency_key: message
            .get("messageId")
            .and_then(Value::as_str)
            .map(|message_id| format!("a2a:{message_id}")),
        cancel_on_disconnect: false,
    };
    Ok((caller, ask))
}

/// `tasks/get`: the run `params.id`, read back from the store.
async fn read_task<C: Runnable>(
    state: &OsState,
    id: &str,
    verified: Option<Extension<Caller>>,
    params: &Value,
) -> Result<Value, Failed> {
    let task_id = task_id(params)?;
    let caller = caller(verified, None);
    let run = state.runs.run(C::KIND, id, task_id, &caller).await?;
    Ok(a2a::stored_task(&run))
}

/// `tasks/cancel`: stops the run `params.id`, here or on the replica running it.
async fn cancel<C: Runnable>(
    state: &OsState,
    id: &str,
    verified: Option<Extension<Caller>>,
    params: &Value,
) -> Result<Value, Failed> {
    let task_id = task_id(params)?;
    let caller = caller(verified, None);
    match state.runs.cancel(C::KIND, id, task_id, &caller).await? {
        Cancelled::Stopping => {
            let run = state.runs.run(C::KIND, id, task_id, &caller).await?;
            Ok(a2a::canceling_task(&run))
        }
        Cancelled::AlreadyEnded(status) => Err(Failed(
            RpcCode::TaskNotCancelable,
            format!("Task cannot be canceled: it is {}", status.as_str()),
            None,
        )),
    }
}

fn task_id(params: &Value) -> Result<&str, Failed> {
    params
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Failed::params("params.id is required"))
}

/// The run's message: the text parts, and the data parts as JSON, a line each.
fn text_of(message: &Value) -> Option<String> {
    let lines: Vec<String> = message
        .get("parts")?
        .as_array()?
        .iter()
        .filter_map(|part| match part.get("kind").and_then(Value::as_str) {
            Some("text") => part.get("text")?.as_str().map(str::to_owned),
            Some("data") => part.get("data").map(Value::to_string),
            _ => None,
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// agno's `X-User-ID`: who the caller says they are, on a server without authentication.
fn user_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-user-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The scheme and host the client reached, for the card's URL.
fn origin(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = text(header::HOST.as_str()).unwrap_or("127.0.0.1");
    let scheme = text("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
}
