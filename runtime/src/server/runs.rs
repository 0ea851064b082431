//! `POST /{teams,agents}/{id}/runs`, cancel, and reading runs back: HTTP in and out, the run
//! service in between.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::Deserialize;

use super::body::RunBody;
use super::error::ApiError;
use super::state::OsState;
use super::wire;
use crate::runs::{Caller, RunAnswer, RunAsk, Runnable};

/// The caller of a request: the verified one when authentication is on, else whoever the
/// request says it is.
pub(crate) fn caller(verified: Option<Extension<Caller>>, asserted: Option<String>) -> Caller {
    match verified {
        Some(Extension(caller)) => caller,
        None => Caller::open(asserted),
    }
}

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
    // What a token says wins over the body: its subject and session are the caller's.
    let caller = caller(verified, body.user_id);
    let ask = RunAsk {
        message: body.message,
        session_id: body.session_id,
        factory_input: body.factory_input,
        headers,
        stream: body.stream,
        background: body.background,
    };
    Ok(match state.runs.start::<C>(&id, &caller, ask).await? {
        RunAnswer::Whole(output) => Json(output).into_response(),
        RunAnswer::Background { run_id, session_id } => (
            StatusCode::ACCEPTED,
            Json(wire::background_run(&run_id, &session_id)),
        )
            .into_response(),
        RunAnswer::Stream(events) => {
            let frames = events
                .enumerate()
                .map(|(index, event)| Ok::<_, Infallible>(wire::event_frame(&event, index as u64)));
            let mut response = Sse::new(frames)
                .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
                .into_response();
            // agno names the charset; some clients compare the whole header.
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/event-stream; charset=utf-8"),
            );
            response
        }
    })
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
