//! The AG-UI door: `POST /agui/{agents,teams,workflows}/{id}` takes the protocol's
//! `RunAgentInput` and answers its events over SSE, with the same token check and run service
//! as REST.
//!
//! `threadId` is the session, the last user message is the run's message,
//! `forwardedProps.factory_input` the factory's input, and the client's `runId` the run's
//! idempotency key (a retried request streams the same run). Input the factory refuses ends
//! the stream with `RUN_ERROR` naming the fields; nothing runs. A run that waits for a person
//! ends with `RUN_FINISHED` whose `outcome` is `interrupt`, carrying what it waits for.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, FieldProblem};
use super::runs::caller;
use super::state::OsState;
use super::wire::agui::AguiStream;
use crate::meta::new_id;
use crate::resolve::RawInput;
use crate::run::{RunOutput, RunStatus};
use crate::runs::{Caller, RunAnswer, RunAsk, Runnable, StreamItem};

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
    let message = last_user_message(&input.messages).ok_or_else(|| {
        ApiError::InvalidField(FieldProblem {
            loc: vec!["body".into(), "messages".into()],
            kind: "missing",
            msg: "a user message is required".into(),
            input: Value::Null,
        })
    })?;
    let thread_id = input
        .thread_id
        .filter(|t| !t.is_empty())
        .unwrap_or_else(new_id);
    let run_id = input
        .run_id
        .filter(|r| !r.is_empty())
        .unwrap_or_else(new_id);
    let asserted = input
        .forwarded_props
        .get("user_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let caller = caller(verified, asserted);
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
    let frames = events
        .map(|item| match item {
            StreamItem::Live { event, .. } => serde_json::from_str::<Value>(event.json()),
            StreamItem::Stored(stored) => serde_json::from_str::<Value>(&stored.data),
            StreamItem::Notice { data, .. } => Ok(data),
        })
        .filter_map(|event| std::future::ready(event.ok()))
        .scan(false, move |ended, event| {
            if *ended {
                return std::future::ready(None);
            }
            let (out, last) = stream.next(&event);
            *ended = last;
            std::future::ready(Some(out))
        })
        .flat_map(futures_util::stream::iter);
    Ok(sse(futures_util::stream::iter([started]).chain(frames)))
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
