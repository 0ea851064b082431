//! Discovery: `/teams`, `/agents`, `/config`, `/health`. Nothing here calls a factory.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::Value;

use super::error::ApiError;
use super::state::OsState;
use super::wire;
use crate::component::ComponentKind;
use crate::resolve::Resolver;
use crate::runs::{Caller, Runnable};

/// Whether the caller may see `id` (always, when route scopes are not checked).
fn visible(
    state: &OsState,
    caller: &Option<Extension<Caller>>,
    kind: ComponentKind,
    id: &str,
) -> bool {
    match (state.auth.as_ref(), caller) {
        (Some(auth), Some(Extension(caller))) if auth.checks_route_scopes() => {
            caller.may(kind.plural(), "read", Some(id))
        }
        _ => true,
    }
}

/// `GET /teams`, `GET /agents`: every component of the kind the caller may see.
pub(crate) async fn list_components<C: Runnable>(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Caller>>,
) -> Json<Vec<Value>> {
    let visible = C::resolvers(state.runs.components())
        .iter()
        .filter(|r| visible(&state, &caller, C::KIND, &r.info().id));
    Json(visible.map(wire::component).collect())
}

/// `GET /teams/{id}`, `GET /agents/{id}`.
pub(crate) async fn get_component<C: Runnable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    C::resolvers(state.runs.components())
        .iter()
        .find(|r| r.info().id == id)
        .map(|resolver| Json(wire::component(resolver)))
        .ok_or(ApiError::NotFound(C::KIND))
}

pub(crate) async fn config(State(state): State<Arc<OsState>>) -> Json<Value> {
    let components = state.runs.components();
    Json(wire::config(
        &state.config.os_id,
        state.config.description.as_deref(),
        components.agents.iter().map(wire::config_entry).collect(),
        components.teams.iter().map(wire::config_entry).collect(),
    ))
}

pub(crate) async fn health(State(state): State<Arc<OsState>>) -> Json<Value> {
    Json(wire::health(&state.started_at))
}

/// Used by the OpenAPI document: each component's kind, id and input schema.
pub(crate) fn components(
    state: &OsState,
) -> impl Iterator<Item = (ComponentKind, &str, Option<&Value>)> {
    fn entries<C: Runnable>(
        resolvers: &[Resolver<C>],
    ) -> impl Iterator<Item = (ComponentKind, &str, Option<&Value>)> {
        resolvers
            .iter()
            .map(|r| (C::KIND, r.info().id.as_str(), r.input_schema()))
    }
    let components = state.runs.components();
    entries(&components.teams).chain(entries(&components.agents))
}
