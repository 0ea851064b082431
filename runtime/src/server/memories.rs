//! agno's memory routes: `/memories`, `/memories/{memory_id}`, `/memory_topics` and
//! `/user_memory_stats`. Which user's memories a request reaches is the run service's rule
//! (`Caller::memory_scope`); these handlers read the request and shape the answer.

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
use crate::runs::{Caller, MemoryWrite, Page};
use crate::store::MemoryQuery;

/// Body of `POST /memories` and `PATCH /memories/{id}` (agno's `UserMemoryCreateSchema`).
#[derive(Deserialize)]
pub(crate) struct MemoryBody {
    memory: String,
    user_id: Option<String>,
    topics: Option<Vec<String>>,
}

impl From<MemoryBody> for MemoryWrite {
    fn from(body: MemoryBody) -> Self {
        MemoryWrite {
            memory: body.memory,
            topics: body.topics,
            user_id: body.user_id,
        }
    }
}

/// `POST /memories`: the new memory.
pub(crate) async fn create_memory(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    body: Result<Json<MemoryBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body)?;
    let caller = caller(verified, body.user_id.clone());
    let created = state.runs.create_memory(&caller, body.into()).await?;
    Ok(Json(wire::memory(&created)))
}

/// `GET /memories/{memory_id}`: one memory; 404 when it is missing or not the caller's.
pub(crate) async fn get_memory(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(memory_id): Path<String>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(verified, query.user_id.clone());
    let found = state
        .runs
        .memory(&caller, query.user_id.as_deref(), &memory_id)
        .await?;
    Ok(Json(wire::memory(&found)))
}

/// `PATCH /memories/{memory_id}`: the memory with its new text and topics.
pub(crate) async fn update_memory(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(memory_id): Path<String>,
    body: Result<Json<MemoryBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(body)?;
    let caller = caller(verified, body.user_id.clone());
    let updated = state
        .runs
        .update_memory(&caller, &memory_id, body.into())
        .await?;
    Ok(Json(wire::memory(&updated)))
}

/// `DELETE /memories/{memory_id}`: 204, as agno answers, whether or not there was one the
/// caller reaches.
pub(crate) async fn delete_memory(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Path(memory_id): Path<String>,
    Query(query): Query<OwnerQuery>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(verified, query.user_id.clone());
    state
        .runs
        .delete_memories(&caller, query.user_id.as_deref(), &[memory_id])
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `DELETE /memories`.
#[derive(Deserialize)]
pub(crate) struct DeleteManyBody {
    memory_ids: Vec<String>,
    user_id: Option<String>,
}

/// `DELETE /memories`: those of the listed memories the caller reaches; 204.
pub(crate) async fn delete_memories(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    body: Result<Json<DeleteManyBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let body = json_body(body)?;
    if body.memory_ids.is_empty() {
        return Err(ApiError::InvalidField(FieldProblem {
            loc: vec!["body".into(), "memory_ids".into()],
            kind: "too_short",
            msg: "List should have at least 1 item after validation, not 0".into(),
            input: Value::Array(Vec::new()),
        }));
    }
    let caller = caller(verified, body.user_id.clone());
    state
        .runs
        .delete_memories(&caller, body.user_id.as_deref(), &body.memory_ids)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /memories`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    user_id: Option<String>,
    agent_id: Option<String>,
    team_id: Option<String>,
    /// Comma-separated; a memory with any of them is kept.
    topics: Option<String>,
    search_content: Option<String>,
    limit: Option<String>,
    page: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

/// A query parameter holding something other than one of the values it takes: a 422.
fn not_one_of(name: &str, allowed: &str, value: &str) -> ApiError {
    ApiError::InvalidField(FieldProblem {
        loc: vec!["query".into(), name.into()],
        kind: "enum",
        msg: format!("Input should be {allowed}"),
        input: Value::String(value.to_owned()),
    })
}

/// The page a listing asks for.
fn page(limit: Option<&str>, page: Option<&str>) -> Result<Page, ApiError> {
    Ok(Page {
        limit: LIMIT.read(limit)?.unwrap_or(20),
        number: PAGE.read(page)?.unwrap_or(1).max(1),
    })
}

/// `GET /memories`: `{data, meta}`, most recently changed first unless asked otherwise.
pub(crate) async fn list_memories(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let page = page(query.limit.as_deref(), query.page.as_deref())?;
    let ascending = match query.sort_order.as_deref() {
        None | Some("") | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(not_one_of("sort_order", "'asc' or 'desc'", other)),
    };
    let by_created = match query.sort_by.as_deref() {
        None | Some("") | Some("updated_at") => false,
        Some("created_at") => true,
        Some(other) => {
            return Err(not_one_of("sort_by", "'updated_at' or 'created_at'", other));
        }
    };
    let request = MemoryQuery {
        agent_id: query.agent_id,
        team_id: query.team_id,
        topics: query
            .topics
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|topic| !topic.is_empty())
            .map(str::to_owned)
            .collect(),
        search: query.search_content.filter(|text| !text.is_empty()),
        ascending,
        by_created,
    };
    let caller = caller(verified, query.user_id.clone());
    let (memories, total) = state
        .runs
        .memory_page(&caller, query.user_id.as_deref(), &request, page)
        .await?;
    let search_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(wire::memory_page(
        &memories,
        total,
        page.number,
        page.limit,
        search_time_ms,
    )))
}

/// `GET /memory_topics`: the topics of the caller's memories, sorted.
pub(crate) async fn memory_topics(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<OwnerQuery>,
) -> Result<Json<Vec<String>>, ApiError> {
    let caller = caller(verified, query.user_id.clone());
    let topics = state
        .runs
        .memory_topics(&caller, query.user_id.as_deref())
        .await?;
    Ok(Json(topics))
}

/// Query of `GET /user_memory_stats`.
#[derive(Deserialize)]
pub(crate) struct StatsQuery {
    user_id: Option<String>,
    limit: Option<String>,
    page: Option<String>,
}

/// `GET /user_memory_stats`: per user, how many memories and when the latest changed.
pub(crate) async fn user_memory_stats(
    State(state): State<Arc<OsState>>,
    verified: Option<Extension<Caller>>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let page = page(query.limit.as_deref(), query.page.as_deref())?;
    let caller = caller(verified, query.user_id.clone());
    let (stats, total) = state
        .runs
        .memory_user_stats(&caller, query.user_id.as_deref(), page)
        .await?;
    let search_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(wire::user_stats_page(
        &stats,
        total,
        page.number,
        page.limit,
        search_time_ms,
    )))
}
