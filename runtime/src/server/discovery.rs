//! Discovery: `/teams`, `/agents`, `/config`, `/health`. Nothing here calls a factory.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::Value;

use super::error::ApiError;
use super::state::OsState;
use super::wire::{self, Described};
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
pub(crate) async fn list_components<C: Runnable + Described>(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Caller>>,
) -> Json<Vec<Value>> {
    let visible = C::resolvers(state.runs.components())
        .iter()
        .filter(|r| visible(&state, &caller, C::KIND, &r.info().id));
    let db_id = &state.config.db_id;
    Json(visible.map(|r| wire::component(r, db_id)).collect())
}

/// `GET /teams/{id}`, `GET /agents/{id}`.
pub(crate) async fn get_component<C: Runnable + Described>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    C::resolvers(state.runs.components())
        .iter()
        .find(|r| r.info().id == id)
        .map(|resolver| Json(wire::component(resolver, &state.config.db_id)))
        .ok_or(ApiError::NotFound(C::KIND))
}

pub(crate) async fn config(State(state): State<Arc<OsState>>) -> Json<Value> {
    Json(config_json(&state))
}

/// agno's `ConfigResponse` of this OS, for `/config` and the MCP door.
pub(crate) fn config_json(state: &OsState) -> Value {
    let components = state.runs.components();
    let config = &state.config;
    let db_id = &config.db_id;
    let os = wire::OsSummary {
        os_id: &config.os_id,
        name: config.name.as_deref(),
        description: config.description.as_deref(),
        db_id,
    };
    wire::config(
        os,
        available_models(components),
        components
            .agents
            .iter()
            .map(|r| wire::config_entry(r, db_id))
            .collect(),
        components
            .teams
            .iter()
            .map(|r| wire::config_entry(r, db_id))
            .collect(),
        components
            .workflows
            .iter()
            .map(|r| wire::config_entry(r, db_id))
            .collect(),
    )
}

/// The models of the static components, each `(id, provider)` once, as agno lists them;
/// a factory's are unknown until it runs.
fn available_models(components: &crate::resolve::Components) -> Vec<(String, String)> {
    use crate::team::Member;
    fn add(models: &mut Vec<(String, String)>, model: Option<&crate::model::ModelHandle>) {
        if let Some(model) = model {
            let entry = (model.id().to_owned(), model.provider().to_owned());
            if !models.contains(&entry) {
                models.push(entry);
            }
        }
    }
    fn add_team(models: &mut Vec<(String, String)>, team: &crate::team::Team) {
        add(models, team.model());
        for member in team.members() {
            match member {
                Member::Agent(agent) => add(models, agent.model()),
                Member::Team(team) => add_team(models, team),
            }
        }
    }
    let mut models = Vec::new();
    for team in components.teams.iter().filter_map(|r| r.prototype()) {
        add_team(&mut models, team);
    }
    for agent in components.agents.iter().filter_map(|r| r.prototype()) {
        add(&mut models, agent.model());
    }
    models
}

pub(crate) async fn health(State(state): State<Arc<OsState>>) -> Json<Value> {
    Json(wire::health(&state.started_at))
}

/// `GET /ready`: whether this process can serve runs now, for an orchestrator to stop sending
/// traffic while it cannot. `/health` says only that the process is alive.
pub(crate) async fn ready(State(state): State<Arc<OsState>>) -> Result<Json<Value>, ApiError> {
    const WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
    if state.runs.shutdown_token().is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }
    match tokio::time::timeout(WITHIN, state.runs.store().ping()).await {
        Ok(Ok(())) => Ok(Json(wire::ready(&state.started_at))),
        Ok(Err(error)) => Err(ApiError::StoreUnavailable(error)),
        Err(_) => Err(ApiError::StoreUnavailable(
            crate::store::StoreError::Unavailable(sea_orm::DbErr::Custom(format!(
                "no answer within {} s",
                WITHIN.as_secs()
            ))),
        )),
    }
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
    entries(&components.teams)
        .chain(entries(&components.agents))
        .chain(entries(&components.workflows))
}
