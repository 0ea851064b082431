//! Discovery: `/teams`, `/agents`, `/config`, `/health`. Nothing here calls a factory.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::runs::Servable;
use super::state::OsState;
use crate::agent::Agent;
use crate::component::ComponentKind;
use crate::resolve::Resolver;
use crate::team::Team;

/// How discovery describes one component: from its factory info, never by building it.
pub(crate) fn describe<C: crate::component::Component>(resolver: &Resolver<C>) -> Value {
    let info = resolver.info();
    let mut out = Map::new();
    out.insert("id".into(), json!(info.id));
    out.insert(
        "name".into(),
        json!(info.name.as_deref().unwrap_or(&info.id)),
    );
    if let Some(description) = &info.description {
        out.insert("description".into(), json!(description));
    }
    if let Some(schema) = resolver.input_schema() {
        out.insert("input_schema".into(), schema.clone());
        out.insert("factory_input_schema".into(), schema.clone());
    }
    out.insert("is_factory".into(), json!(info.is_factory));
    out.insert("is_component".into(), json!(false));
    out.insert("sandboxed".into(), json!(false));
    if !info.scopes.is_empty() {
        out.insert("required_scopes".into(), json!(info.scopes));
    }
    Value::Object(out)
}

/// Whether the caller may see `id` (always, when route scopes are not checked).
fn visible(
    state: &OsState,
    caller: &Option<Extension<Arc<Caller>>>,
    resource: &str,
    id: &str,
) -> bool {
    match (state.auth.as_ref(), caller) {
        (Some(auth), Some(Extension(caller))) if auth.checks_route_scopes() => {
            caller.may(resource, "read", Some(id))
        }
        _ => true,
    }
}

pub(crate) async fn list_teams(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
) -> Json<Vec<Value>> {
    let visible = state
        .teams
        .iter()
        .filter(|r| visible(&state, &caller, "teams", &r.info().id));
    Json(visible.map(describe).collect())
}

pub(crate) async fn list_agents(
    State(state): State<Arc<OsState>>,
    caller: Option<Extension<Arc<Caller>>>,
) -> Json<Vec<Value>> {
    let visible = state
        .agents
        .iter()
        .filter(|r| visible(&state, &caller, "agents", &r.info().id));
    Json(visible.map(describe).collect())
}

pub(crate) async fn get_component<C: Servable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    C::resolver(&state, &id)
        .map(|resolver| Json(describe(resolver)))
        .ok_or(ApiError::NotFound(C::KIND))
}

pub(crate) async fn config(State(state): State<Arc<OsState>>) -> Json<Value> {
    let summary = |value: Value| {
        let mut keep = Map::new();
        for key in [
            "id",
            "name",
            "description",
            "is_factory",
            "factory_input_schema",
        ] {
            if let Some(field) = value.get(key) {
                keep.insert(key.into(), field.clone());
            }
        }
        Value::Object(keep)
    };
    Json(json!({
        "os_id": state.config.os_id,
        "description": state.config.description,
        "agents": state.agents.iter().map(|r| summary(describe(r))).collect::<Vec<_>>(),
        "teams": state.teams.iter().map(|r| summary(describe(r))).collect::<Vec<_>>(),
        "workflows": [],
        "interfaces": [],
    }))
}

pub(crate) async fn health(State(state): State<Arc<OsState>>) -> Json<Value> {
    Json(json!({"status": "ok", "instantiated_at": state.started_at}))
}

/// Used by the OpenAPI document: each component's resolver with its kind.
pub(crate) fn components(
    state: &OsState,
) -> impl Iterator<Item = (ComponentKind, &str, Option<&Value>)> {
    let teams = state
        .teams
        .iter()
        .map(|r: &Resolver<Team>| (ComponentKind::Team, r.info().id.as_str(), r.input_schema()));
    let agents = state
        .agents
        .iter()
        .map(|r: &Resolver<Agent>| (ComponentKind::Agent, r.info().id.as_str(), r.input_schema()));
    teams.chain(agents)
}
