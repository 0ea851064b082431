//! The AG-UI door: `POST /agui/{agents,teams,workflows}/{id}` takes the protocol's
//! `RunAgentInput` and answers its events over SSE, with the same token check and run service
//! as REST.
//!
//! `threadId` is the session, the last user message is the run's message,
//! `forwardedProps.factory_input` the factory's input, and the client's `runId` the run's
//! idempotency key (a retried request streams the same run). Input the factory refuses ends
//! the stream with `RUN_ERROR` naming the fields; nothing runs. A run that waits for a person
//! ends with `RUN_FINISHED` whose `outcome` is `interrupt`, carrying what it waits for; the
//! UI answers with the next request, either as trailing `tool` messages (one per waiting call:
//! `{"accepted": true|false, "note": ...}` for a confirmation, `{"values": {...}}` for input, the
//! result itself for a tool the client runs), or as the protocol's `resume` (`interruptId` the
//! run, `payload.requirements` agno's answered requirements). The run then goes on, streamed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::RouteScope;
use super::error::{ApiError, FieldProblem};
use super::runs::caller;
use super::state::OsState;
use super::wire::agui::AguiStream;
use crate::agent::Agent;
use crate::component::ComponentKind;
use crate::meta::new_id;
use crate::resolve::RawInput;
use crate::run::{Decision, Decisions};
use crate::run::{RunOutput, RunStatus};
use crate::runs::{Caller, ContinueAsk, RunAnswer, RunAsk, RunEvents, Runnable};
use crate::team::Team;
use crate::workflow::Workflow;

/// The protocol's `RunAgentInput`, the parts agentos reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunAgentInput {
    thread_id: Option<String>,
    run_id: Option<String>,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    forwarded_props: Value,
    /// The answer to an interrupt: `{interruptId, payload}`.
    #[serde(default)]
    resume: Option<Value>,
}

/// `POST /agui`: the component `AgentOsBuilder::agui` names, when it names one.
pub(crate) fn single(
    state: &OsState,
    guard: &impl Fn(MethodRouter<Arc<OsState>>, RouteScope) -> MethodRouter<Arc<OsState>>,
) -> Router<Arc<OsState>> {
    let Some((kind, id)) = state.config.agui.clone() else {
        return Router::new();
    };
    let scope = RouteScope::of(kind, "run");
    let route = match kind {
        ComponentKind::Agent => post(move |state, verified, headers, body| {
            run::<Agent>(state, Path(id), verified, headers, body)
        }),
        ComponentKind::Team => post(move |state, verified, headers, body| {
            run::<Team>(state, Path(id), verified, headers, body)
        }),
        ComponentKind::Workflow => post(move |state, verified, headers, body| {
            run::<Workflow>(state, Path(id), verified, headers, body)
        }),
    };
    Router::new().route("/agui", guard(route, scope))
}

/// `POST /agui/{kind}/{id}`.
pub(crate) async fn run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !state.runs.serves(C::KIND, &id) {
        return Err(ApiError::NotFound(C::KIND));
    }
    let input: RunAgentInput = serde_json::from_slice(&body).map_err(|error| {
        ApiError::InvalidField(FieldProblem {
            loc: vec!["body".into()],
            kind: "model_attributes_type",
            msg: format!("not the protocol's RunAgentInput: {error}"),
            input: Value::Null,
        })
    })?;
    let thread_id = input
        .thread_id
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(new_id);
    let run_id = input
        .run_id
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(new_id);
    // What a token says wins: `forwardedProps.user_id` counts only without authentication.
    let asserted = input
        .forwarded_props
        .get("user_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let caller = caller(verified, asserted);
    if let Some(answers) = Answers::of(&input) {
        return go_on::<C>(&state, &id, &caller, headers, answers, thread_id, run_id).await;
    }
    let message = last_user_message(&input.messages).ok_or_else(|| {
        ApiError::InvalidField(FieldProblem {
            loc: vec!["body".into(), "messages".into()],
            kind: "missing",
            msg: "a user message is required".into(),
            input: Value::Null,
        })
    })?;
    let ask = RunAsk {
        message,
        session_id: Some(thread_id.clone()),
        factory_input: input
            .forwarded_props
            .get("factory_input")
            .cloned()
            .map_or(RawInput::Absent, RawInput::Json),
        headers,
        stream: true,
        background: false,
        multitask: None,
        idempotency_key: Some(format!("agui:{run_id}")),
        cancel_on_disconnect: false,
    };
    let mut stream = AguiStream::new(thread_id, run_id);
    let started = stream.started();
    let events = match state.runs.start::<C>(&id, &caller, ask).await {
        Ok(answered) => answered.answer,
        Err(error) => {
            let error = ApiError::from(error);
            // Input the factory refuses, and refusals of the session, end the stream.
            if error.status().is_client_error() {
                let refused = AguiStream::refused(&error.to_string(), error.code());
                return Ok(sse(futures_util::stream::iter([started, refused])));
            }
            return Err(error);
        }
    };
    let events = match events {
        RunAnswer::Stream(events) => events,
        // A replayed idempotent request, or one that ran whole: its end only.
        RunAnswer::Whole(output) => {
            let mut finished = stream.next(&end_of(&output)).0;
            finished.insert(0, started);
            return Ok(sse(futures_util::stream::iter(finished)));
        }
        RunAnswer::Background { .. } => return Err(ApiError::BadBody("not served".into())),
    };
    Ok(streamed(started, stream, events))
}

/// `RUN_STARTED`, then the run's events as AG-UI's, until its end.
fn streamed(started: Value, mut stream: AguiStream, events: RunEvents) -> Response {
    let frames = super::wire::translated(events, move |event| stream.next(event));
    sse(futures_util::stream::iter([started]).chain(frames))
}

/// The last event of a run that answered whole, as its stream would have ended.
fn end_of(output: &RunOutput) -> Value {
    let name = match output.status {
        RunStatus::Paused => "RunPaused",
        RunStatus::Error => "RunError",
        RunStatus::Cancelled => "RunCancelled",
        RunStatus::Completed | RunStatus::Running | RunStatus::Pending => "RunCompleted",
    };
    let requirements = match &output.step_requirements {
        Some(steps) => serde_json::to_value(steps).ok(),
        None => output
            .requirements
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok()),
    };
    json!({
        "event": name,
        "run_id": output.run_id,
        "content": output.content,
        "requirements": requirements,
    })
}

/// The text of the last user message: a string, or the text parts of a list.
fn last_user_message(messages: &[Value]) -> Option<String> {
    let message = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match message.get("content")? {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let text: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
    .filter(|text| !text.trim().is_empty())
}

/// AG-UI events as SSE frames (`data:` lines of JSON, as the protocol's clients read them).
fn sse(events: impl futures_util::Stream<Item = Value> + Send + 'static) -> Response {
    let frames =
        events.map(|event| Ok::<_, Infallible>(SseEvent::default().data(event.to_string())));
    Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// What a UI answered to an interrupt: the run, when it names it, and the answers.
struct Answers {
    run_id: Option<String>,
    decisions: Decisions,
}

impl Answers {
    /// The answers `input` carries, if it answers an interrupt rather than asks anew.
    fn of(input: &RunAgentInput) -> Option<Answers> {
        if let Some(resume) = input.resume.as_ref().filter(|r| r.is_object()) {
            let requirements = resume
                .pointer("/payload/requirements")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            return Some(Answers {
                run_id: resume
                    .get("interruptId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                decisions: Decisions::from_agno(&requirements),
            });
        }
        // Trailing tool messages answer the calls the run waits on.
        let trailing: Vec<&Value> = input
            .messages
            .iter()
            .rev()
            .take_while(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
            .collect();
        if trailing.is_empty() {
            return None;
        }
        let mut decisions = HashMap::new();
        for message in trailing {
            let Some(call_id) = message.get("toolCallId").and_then(Value::as_str) else {
                continue;
            };
            let content = match message.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            decisions.insert(call_id.to_owned(), decision_of(&content));
        }
        Some(Answers {
            run_id: None,
            decisions: Decisions(decisions),
        })
    }
}

/// A tool message's answer: a confirmation, filled-in values, or the tool's result.
fn decision_of(content: &str) -> Decision {
    let parsed = serde_json::from_str::<Value>(content).ok();
    match parsed.as_ref() {
        Some(Value::Object(fields)) if fields.get("accepted").is_some_and(Value::is_boolean) => {
            Decision::Confirm {
                confirmed: fields["accepted"].as_bool().unwrap_or(false),
                note: fields
                    .get("note")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }
        }
        Some(Value::Object(fields)) if fields.get("values").is_some_and(Value::is_object) => {
            Decision::UserInput(fields["values"].as_object().cloned().unwrap_or_default())
        }
        _ => Decision::External(content.to_owned()),
    }
}

/// Continues the run the answers are for (the one they name, or the thread's paused run of
/// this component), streamed.
async fn go_on<C: Runnable>(
    state: &OsState,
    id: &str,
    caller: &Caller,
    headers: HeaderMap,
    answers: Answers,
    thread_id: String,
    run_id: String,
) -> Result<Response, ApiError> {
    let paused = match answers.run_id {
        Some(run_id) => run_id,
        None => {
            let (runs, _) = state
                .runs
                .session_runs(&thread_id, Some(C::KIND), caller)
                .await?;
            runs.into_iter()
                .rev()
                .find(|run| {
                    run.status == RunStatus::Paused
                        && run.parent_run_id.is_none()
                        && run.component_id == id
                })
                .map(|run| run.run_id)
                .ok_or(ApiError::NotPaused(RunStatus::Completed))?
        }
    };
    let ask = ContinueAsk {
        decisions: answers.decisions,
        session_id: Some(thread_id.clone()),
        headers,
        stream: true,
        background: false,
    };
    let answered = state
        .runs
        .continue_run::<C>(id, &paused, caller, ask)
        .await?;
    let mut stream = AguiStream::new(thread_id, run_id);
    let started = stream.started();
    match answered.answer {
        RunAnswer::Stream(events) => Ok(streamed(started, stream, events)),
        RunAnswer::Whole(output) => {
            let mut finished = stream.next(&end_of(&output)).0;
            finished.insert(0, started);
            Ok(sse(futures_util::stream::iter(finished)))
        }
        RunAnswer::Background { .. } => Err(ApiError::BadBody("not served".into())),
    }
}
