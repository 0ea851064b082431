//! `/sessions`: listing, reading and deleting stored sessions.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::runs::{OwnerQuery, caller};
use super::state::OsState;
use super::wire;
use crate::component::ComponentKind;
use crate::runs::Caller;
use crate::store::SessionQuery;

/// Query of `GET /sessions`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(rename = "type")]
    session_type: Option<String>,
    component_id: Option<String>,
    user_id: Option<String>,
    page: Option<u64>,
    limit: Option<u64>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

fn parse_kind(kind: Option<&str>) -> Result<Option<ComponentKind>, ApiError> {
    match kind {
        None | Some("") => Ok(None),
        Some(name) => ComponentKind::parse(name).map(Some).ok_or_else(|| {
            ApiError::BadBody(format!("type must be 'team' or 'agent', got '{name}'"))
        }),
    }
}

/// `GET /sessions`: `{data, meta}`, newest first unless asked otherwise.
pub(crate) async fn list_sessions(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(20).clamp(1, 200);
    let page = query.page.unwrap_or(1).max(1);
    let request = SessionQuery {
        kind: parse_kind(query.session_type.as_deref())?,
        component_id: query.component_id,
        user_id: query.user_id.clone().map(Some),
        page,
        limit,
        ascending: query.sort_order.as_deref() == Some("asc"),
        by_created: query.sort_by.as_deref() == Some("created_at"),
    };
    let caller = caller(verified, query.user_id);
    let found = state.runs.sessions(request, &caller).await?;
    Ok(Json(wire::session_page(&found, page, limit)))
}

/// `GET /sessions/{id}`: the session with its exchanges.
pub(crate) async fn get_session(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(verified, query.user_id);
    let (session, runs) = state.runs.session(&session_id, &caller).await?;
    Ok(Json(wire::session_detail(&session, &runs)))
}

/// `GET /sessions/{id}/runs`: every run of the session, member runs included, oldest first.
pub(crate) async fn session_runs(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(session_id): Path<String>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(verified, query.user_id);
    let (_, runs) = state.runs.session(&session_id, &caller).await?;
    Ok(Json(wire::runs(&runs)))
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
