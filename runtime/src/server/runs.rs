//! `POST /{teams,agents}/{id}/runs`, cancel, and reading runs back: HTTP in and out, the run
//! service in between.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;

use super::body::{ContinueBody, ResumeBody, RunBody, parse_event_index};
use super::error::ApiError;
use super::state::OsState;
use super::wire;
use crate::run::RunOutput;
use crate::runs::{
    Caller, ContinueAsk, RunAnswer, RunAsk, RunEvents, Runnable, decisions_from_form,
};

/// The caller of a request: the verified one when authentication is on, else whoever the
/// request says it is.
pub(crate) fn caller(verified: Option<Extension<Caller>>, asserted: Option<String>) -> Caller {
    match verified {
        Some(Extension(caller)) => caller,
        None => Caller::open(asserted),
    }
}

/// A run's whole output as JSON, written into a buffer of about the size of the last one
/// instead of one grown by doubling from a few bytes (the copies were 3 % of a run's CPU).
fn whole_run(output: &RunOutput) -> Response {
    /// The size of the last whole output answered.
    static LAST_SIZE: AtomicUsize = AtomicUsize::new(4096);
    let last = LAST_SIZE.load(Ordering::Relaxed);
    let mut body = Vec::with_capacity(last + last / 8);
    match serde_json::to_writer(&mut body, output) {
        Ok(()) => {
            LAST_SIZE.store(body.len(), Ordering::Relaxed);
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response()
        }
        // The answers layer explains a bare 500 as JSON.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The header that makes a run request idempotent.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer that comes from the run an earlier request with the same key started.
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Runs the component: the whole output, an SSE stream, or 202 for a background run.
pub(crate) async fn create_run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<RunBody, ApiError>,
) -> Result<Response, ApiError> {
    if !state.runs.serves(C::KIND, &id) {
        return Err(ApiError::NotFound(C::KIND));
    }
    let body = body?;
    let idempotency_key = match headers.get(&IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::BadBody("Idempotency-Key must be visible ASCII".into()))?
                .to_owned(),
        ),
    };
    // What a token says wins over the body: its subject and session are the caller's.
    let caller = caller(verified, body.user_id);
    let ask = RunAsk {
        message: body.message,
        session_id: body.session_id,
        factory_input: body.factory_input,
        headers,
        stream: body.stream,
        background: body.background,
        multitask: body.multitask_strategy,
        idempotency_key,
        cancel_on_disconnect: body.cancel_on_disconnect,
    };
    let answered = state.runs.start::<C>(&id, &caller, ask).await?;
    let mut response = match answered.answer {
        RunAnswer::Whole(output) => whole_run(&output),
        RunAnswer::Background {
            run_id,
            session_id,
            status,
        } => (
            StatusCode::ACCEPTED,
            Json(wire::background_run(&run_id, &session_id, status)),
        )
            .into_response(),
        RunAnswer::Stream(events) => sse(&state, events),
    };
    if answered.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A run's stream as SSE, with a comment every 15 s so idle connections stay open.
fn sse(state: &OsState, events: RunEvents) -> Response {
    // Counted as open until the body is dropped: at its end, or when the client goes away.
    let open = state.runs.metrics().stream_opened();
    let frames = events.map(move |item| {
        let _open = &open;
        Ok::<_, Infallible>(wire::stream_frame(&item))
    });
    let mut response = Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // agno names the charset; some clients compare the whole header.
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

/// `GET /{teams,agents}/{id}/runs/{run_id}/resume`: the run's events after the one named by
/// `Last-Event-ID` (a browser `EventSource` reconnects with it), then its live events.
pub(crate) async fn resume_run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(query.last_event_id.as_deref())
    {
        Some(text) if !text.trim().is_empty() => parse_event_index(text)?,
        _ => None,
    };
    let caller = caller(verified, query.user_id);
    let events = state
        .runs
        .resume(C::KIND, &id, &run_id, &caller, after, false)
        .await?;
    Ok(sse(&state, events))
}

/// `POST /{teams,agents}/{id}/runs/{run_id}/resume`: agno's form (`last_event_index`,
/// `session_id`), answered with agno's notices first (`replay`, `catch_up`, `subscribed`).
pub(crate) async fn resume_run_form<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<OwnerQuery>,
    body: Result<ResumeBody, ApiError>,
) -> Result<Response, ApiError> {
    let body = body?;
    let caller = caller(verified, query.user_id);
    let events = state
        .runs
        .resume(C::KIND, &id, &run_id, &caller, body.last_event_index, true)
        .await?;
    let _ = body.session_id;
    Ok(sse(&state, events))
}

/// `POST /{teams,agents,workflows}/{id}/runs/{run_id}/continue`: a paused run goes on with
/// the person's answers, rebuilt through its factory with the input it was started with.
pub(crate) async fn continue_run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    verified: Option<Extension<Caller>>,
    headers: HeaderMap,
    body: Result<ContinueBody, ApiError>,
) -> Result<Response, ApiError> {
    if !state.runs.serves(C::KIND, &id) {
        return Err(ApiError::NotFound(C::KIND));
    }
    let body = body?;
    let caller = caller(verified, body.user_id);
    let ask = ContinueAsk {
        decisions: decisions_from_form(&body.answers)?,
        session_id: body.session_id,
        headers,
        stream: body.stream,
        background: body.background,
    };
    let answered = state
        .runs
        .continue_run::<C>(&id, &run_id, &caller, ask)
        .await?;
    Ok(match answered.answer {
        RunAnswer::Whole(output) => whole_run(&output),
        RunAnswer::Background {
            run_id,
            session_id,
            status,
        } => (
            StatusCode::ACCEPTED,
            Json(wire::background_run(&run_id, &session_id, status)),
        )
            .into_response(),
        RunAnswer::Stream(events) => sse(&state, events),
    })
}

/// Query of `GET .../resume`: an `EventSource` cannot set headers on its first connection.
#[derive(Deserialize)]
pub(crate) struct ResumeQuery {
    last_event_id: Option<String>,
    user_id: Option<String>,
}

/// Query of the read routes: agno clients pass `user_id` when authentication is off.
#[derive(Deserialize)]
pub(crate) struct OwnerQuery {
    pub(crate) user_id: Option<String>,
}

/// `POST /{teams,agents}/{id}/runs/{run_id}/cancel`: stops the run here, or asks the replica
/// running it to.
pub(crate) async fn cancel_run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(verified, query.user_id);
    let outcome = state.runs.cancel(C::KIND, &id, &run_id, &caller).await?;
    Ok(Json(wire::cancelled(&run_id, outcome)))
}

/// Query of `GET /{teams,agents}/{id}/runs`.
#[derive(Deserialize)]
pub(crate) struct RunsQuery {
    session_id: Option<String>,
    user_id: Option<String>,
}

/// `GET /{teams,agents}/{id}/runs?session_id=`: the component's runs in a session, oldest first.
pub(crate) async fn list_runs<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(session_id) = query.session_id else {
        return Err(ApiError::BadBody("session_id is required".into()));
    };
    let caller = caller(verified, query.user_id);
    let (runs, events) = state
        .runs
        .component_runs_with_events(C::KIND, &id, &session_id, &caller)
        .await?;
    Ok(Json(wire::stored_runs(&runs, &events)))
}

/// `GET /{teams,agents}/{id}/runs/{run_id}`.
pub(crate) async fn get_run<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(verified, query.user_id);
    let run = state.runs.run(C::KIND, &id, &run_id, &caller).await?;
    Ok(Json(wire::run(&run)))
}
