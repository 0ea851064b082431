//! `/sessions`: listing, reading and deleting stored sessions, agno's shapes.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::state::OsState;
use crate::component::ComponentKind;
use crate::store::SessionQuery;
use crate::store::entity::session;

/// With trust on, a caller who is not an admin sees only their own sessions and runs.
fn owner_filter(caller: &Option<Extension<Arc<Caller>>>) -> Option<Option<String>> {
    match caller {
        Some(Extension(caller)) if !caller.is_admin => Some(caller.user_id.clone()),
        _ => None,
    }
}

pub(crate) fn may_see_run(caller: &Option<Extension<Arc<Caller>>>, owner: Option<&str>) -> bool {
    match owner_filter(caller) {
        Some(user) => user.as_deref().is_some_and(|user| Some(user) == owner),
        None => true,
    }
}

pub(crate) async fn may_see_session(
    state: &OsState,
    caller: &Option<Extension<Arc<Caller>>>,
    session_id: &str,
) -> Result<bool, ApiError> {
    if owner_filter(caller).is_none() {
        return Ok(true);
    }
    let session = state.store.get_session(session_id).await?;
    Ok(session.is_some_and(|s| may_see_run(caller, s.user_id.as_deref())))
}

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
        Some("team") => Ok(Some(ComponentKind::Team)),
        Some("agent") => Ok(Some(ComponentKind::Agent)),
        Some(other) => Err(ApiError::BadBody(format!(
            "type must be 'team' or 'agent', got '{other}'"
        ))),
    }
}

/// The RFC 3339 time of unix microseconds.
fn timestamp(micros: i64) -> String {
    super::rfc3339(std::time::Duration::from_micros(micros.max(0) as u64))
}

fn session_json(row: &session::Model) -> Value {
    let id_field = if row.session_type == "team" {
        "team_id"
    } else {
        "agent_id"
    };
    json!({
        "session_id": row.session_id,
        "session_name": row.session_name,
        "session_state": row.session_state,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "session_type": row.session_type,
        "user_id": row.user_id,
        id_field: row.component_id,
    })
}

/// `GET /sessions`: `{data, meta}`, newest first unless asked otherwise.
pub(crate) async fn list_sessions(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(20).clamp(1, 200);
    let page = query.page.unwrap_or(1).max(1);
    let user_id = match owner_filter(&caller) {
        // A caller who is not an admin cannot widen the filter to other users.
        Some(own) => Some(own.unwrap_or_default()),
        None => query.user_id,
    };
    let request = SessionQuery {
        session_type: parse_kind(query.session_type.as_deref())?,
        component_id: query.component_id,
        user_id,
        page,
        limit,
        ascending: query.sort_order.as_deref() == Some("asc"),
        by_created: query.sort_by.as_deref() == Some("created_at"),
    };
    let found = state.store.list_sessions(&request).await?;
    Ok(Json(json!({
        "data": found.sessions.iter().map(session_json).collect::<Vec<_>>(),
        "meta": {
            "page": page,
            "limit": limit,
            "total_count": found.total,
            "total_pages": found.total.div_ceil(limit),
        }
    })))
}

/// `GET /sessions/{id}`: the session with its exchanges.
pub(crate) async fn get_session(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
    Path(session_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = state
        .store
        .get_session(&session_id)
        .await?
        .filter(|s| may_see_run(&caller, s.user_id.as_deref()))
        .ok_or(ApiError::SessionNotFound)?;
    let runs = state.store.session_runs(&session_id).await?;
    let mut chat_history = Vec::new();
    for run in runs
        .iter()
        .filter(|r| r.get("parent_run_id").is_none_or(Value::is_null))
    {
        let created_at = run.get("created_at").cloned().unwrap_or(Value::Null);
        chat_history.push(json!({
            "role": "user",
            "content": run["input"]["input_content"],
            "created_at": created_at,
        }));
        if let Some(content) = run.get("content") {
            chat_history
                .push(json!({"role": "assistant", "content": content, "created_at": created_at}));
        }
    }
    let mut body = session_json(&session);
    body["chat_history"] = Value::Array(chat_history);
    Ok(Json(body))
}

/// `GET /sessions/{id}/runs`: every run of the session, member runs included, oldest first.
pub(crate) async fn session_runs(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
    Path(session_id): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    if !may_see_session(&state, &caller, &session_id).await?
        || state.store.get_session(&session_id).await?.is_none()
    {
        return Err(ApiError::SessionNotFound);
    }
    Ok(Json(state.store.session_runs(&session_id).await?))
}

/// `DELETE /sessions/{id}`: idempotent; 204 whether or not it existed.
pub(crate) async fn delete_session(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
    Path(session_id): Path<String>,
) -> Result<Response, ApiError> {
    if may_see_session(&state, &caller, &session_id).await? {
        state.store.delete_session(&session_id).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
