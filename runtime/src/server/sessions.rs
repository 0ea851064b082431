//! `/sessions`: listing, reading, creating, changing and deleting stored sessions.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;

use super::body::json_body;
use super::error::{ApiError, FieldProblem};
use super::params::{LIMIT, PAGE};
use super::runs::{OwnerQuery, caller};
use super::state::OsState;
use super::wire;
use crate::component::ComponentKind;
use crate::runs::{Caller, SessionChange, SessionCreate};
use crate::store::SessionQuery;

/// Query of `GET /sessions`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "type")]
    session_type: Option<String>,
    component_id: Option<String>,
    user_id: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// Query of the routes on one session: its type (optional) and, without authentication, who
/// asks.
#[derive(Deserialize)]
pub(crate) struct SessionQueryParams {
    #[serde(rename = "type")]
    session_type: Option<String>,
    user_id: Option<String>,
}

fn parse_kind(kind: Option<&str>) -> Result<Option<ComponentKind>, ApiError> {
    match kind {
        None | Some("") => Ok(None),
        Some(name) => ComponentKind::parse(name).map(Some).ok_or_else(|| {
            ApiError::InvalidField(FieldProblem {
                loc: vec!["query".into(), "type".into()],
                kind: "enum",
                msg: "type must be 'team' or 'agent'".into(),
                input: Value::String(name.to_owned()),
            })
        }),
    }
}

/// `GET /sessions`: `{data, meta}`, newest first unless asked otherwise.
pub(crate) async fn list_sessions(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let limit = LIMIT.read(query.limit.as_deref())?.unwrap_or(20);
    let page = PAGE.read(query.page.as_deref())?.unwrap_or(1).max(1);
    let request = SessionQuery {
        kind: parse_kind(query.session_type.as_deref())?,
        component_id: query.component_id,
        user_id: query.user_id.clone().map(Some),
        page,
        limit,
        ascending: query.sort_order.as_deref() == Some("asc"),
        by_created: query.sort_by.as_deref().is_none_or(|by| by == "created_at"),
    };
    let caller = caller(verified, query.user_id);
    let (found, metrics) = state.runs.session_listing(request, &caller).await?;
    let search_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(wire::session_page(
        &found,
        &metrics,
        page,
        limit,
        search_time_ms,
    )))
}

/// `GET /sessions/{id}`: the session with its exchanges.
pub(crate) async fn get_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<SessionQueryParams>,
) -> Result<Json<Value>, ApiError> {
    let kind = parse_kind(query.session_type.as_deref())?;
    let caller = caller(verified, query.user_id);
    let detail = state
        .runs
        .session_detail(&session_id, kind, &caller)
        .await?;
    Ok(Json(wire::session_detail(
        &detail.session,
        &detail.runs,
        detail.metrics.as_ref(),
    )))
}

/// `GET /sessions/{id}/runs`: every run of the session, each member run right before the
/// run that delegated to it.
pub(crate) async fn session_runs(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<SessionQueryParams>,
) -> Result<Json<Value>, ApiError> {
    let kind = parse_kind(query.session_type.as_deref())?;
    let caller = caller(verified, query.user_id);
    let (runs, events) = state.runs.session_runs(&session_id, kind, &caller).await?;
    Ok(Json(wire::stored_runs(&runs, &events)))
}

/// `GET /sessions/{id}/runs/{run_id}`: one run of the session.
pub(crate) async fn session_run(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path((session_id, run_id)): Path<(String, String)>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(verified, query.user_id);
    let (run, events) = state
        .runs
        .session_run(&session_id, &run_id, &caller)
        .await?;
    Ok(Json(wire::stored_run(&run, events.as_ref())))
}

/// Body of `POST /sessions`.
#[derive(Deserialize, Default)]
pub(crate) struct CreateBody {
    session_id: Option<String>,
    session_name: Option<String>,
    session_state: Option<Value>,
    metadata: Option<Value>,
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    workflow_id: Option<String>,
}

/// Query of `POST /sessions`.
#[derive(Deserialize)]
pub(crate) struct CreateQuery {
    #[serde(rename = "type")]
    session_type: Option<String>,
}

/// `POST /sessions?type=`: 201 with the new, empty session; 409 when the id is taken.
pub(crate) async fn create_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<CreateQuery>,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // agno creates an agent session when no type is given.
    let kind = parse_kind(query.session_type.as_deref())?.unwrap_or(ComponentKind::Agent);
    let body = json_body(body)?;
    let caller = caller(verified, body.user_id);
    let component_id = match kind {
        ComponentKind::Team => body.team_id,
        ComponentKind::Agent => body.agent_id,
        ComponentKind::Workflow => body.workflow_id,
    };
    let create = SessionCreate {
        session_id: body.session_id,
        component_id,
        name: body.session_name,
        state: body.session_state,
        metadata: body.metadata,
    };
    let detail = state.runs.create_session(kind, create, &caller).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::session_detail(
            &detail.session,
            &detail.runs,
            detail.metrics.as_ref(),
        )),
    ))
}

/// Body of `POST /sessions/{id}/rename`.
#[derive(Deserialize)]
pub(crate) struct RenameBody {
    session_name: String,
}

/// `POST /sessions/{id}/rename`: the renamed session.
pub(crate) async fn rename_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<SessionQueryParams>,
    body: Result<Json<RenameBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let kind = parse_kind(query.session_type.as_deref())?;
    let body = json_body(body)?;
    let caller = caller(verified, query.user_id);
    let change = SessionChange {
        name: Some(body.session_name),
        ..SessionChange::default()
    };
    let detail = state
        .runs
        .update_session(&session_id, kind, change, &caller)
        .await?;
    Ok(Json(wire::session_detail(
        &detail.session,
        &detail.runs,
        detail.metrics.as_ref(),
    )))
}

/// Body of `PATCH /sessions/{id}`. agno's `summary` is accepted and not kept: a session's
/// summary is written by its component (`SessionSummaries`), not by clients.
#[derive(Deserialize, Default)]
pub(crate) struct UpdateBody {
    session_name: Option<String>,
    session_state: Option<Value>,
    metadata: Option<Value>,
}

/// `PATCH /sessions/{id}`: the changed session.
pub(crate) async fn update_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<SessionQueryParams>,
    body: Result<Json<UpdateBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let kind = parse_kind(query.session_type.as_deref())?;
    let body = json_body(body)?;
    let caller = caller(verified, query.user_id);
    let change = SessionChange {
        name: body.session_name,
        state: body.session_state,
        metadata: body.metadata,
    };
    let detail = state
        .runs
        .update_session(&session_id, kind, change, &caller)
        .await?;
    Ok(Json(wire::session_detail(
        &detail.session,
        &detail.runs,
        detail.metrics.as_ref(),
    )))
}

/// `DELETE /sessions/{id}`: idempotent; 204 whether or not it existed.
pub(crate) async fn delete_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<OwnerQuery>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(verified, query.user_id);
    state.runs.delete_session(&session_id, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `DELETE /sessions`.
#[derive(Deserialize)]
pub(crate) struct DeleteManyBody {
    session_ids: Vec<String>,
    session_types: Vec<String>,
}

/// `DELETE /sessions`: several sessions at once, each with its type; 204.
pub(crate) async fn delete_sessions(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<OwnerQuery>,
    body: Result<Json<DeleteManyBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let body = json_body(body)?;
    if body.session_ids.len() != body.session_types.len() {
        return Err(ApiError::BadBody(
            "session_ids and session_types must be lists of the same length".into(),
        ));
    }
    let mut sessions = Vec::with_capacity(body.session_ids.len());
    for (session_id, kind) in body.session_ids.into_iter().zip(&body.session_types) {
        sessions.push((session_id, parse_kind(Some(kind))?));
    }
    let caller = caller(verified, query.user_id);
    state.runs.delete_sessions(&sessions, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
