//! `/openapi.json`: the API, with each factory's input schema on its own run route.

use serde_json::{Map, Value, json};

use super::discovery::components;
use super::state::OsState;
use crate::component::ComponentKind;

/// Built once at start-up: the components never change while the server runs.
pub(crate) fn document(state: &OsState) -> Value {
    let mut paths = Map::new();
    for kind in [
        ComponentKind::Team,
        ComponentKind::Agent,
        ComponentKind::Workflow,
    ] {
        let plural = kind.plural();
        paths.insert(
            format!("/{plural}"),
            json!({"get": {"summary": format!("List {plural}"), "responses": {"200": {"description": "The list"}}}}),
        );
    }
    for (kind, id, schema) in components(state) {
        let plural = kind.plural();
        let factory_input = match schema {
            Some(schema) => json!({
                "description": "JSON text of the factory's input (an object in a JSON body).",
                "x-factory-input-schema": schema,
                "oneOf": [schema, {"type": "string"}],
            }),
            None => {
                json!({"type": "string", "description": "Ignored: this component takes no input."})
            }
        };
        let run_body = json!({
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {"type": "string"},
                "stream": {"type": "boolean", "default": true},
                "background": {"type": "boolean", "default": false},
                "session_id": {"type": "string"},
                "user_id": {"type": "string"},
                "factory_input": factory_input,
            }
        });
        paths.insert(
            format!("/{plural}/{id}/runs"),
            json!({
                "post": {
                    "summary": format!("Run the {} '{id}'", kind.as_str()),
                    "requestBody": {"required": true, "content": {
                        "multipart/form-data": {"schema": run_body},
                        "application/x-www-form-urlencoded": {"schema": run_body},
                        "application/json": {"schema": run_body},
                    }},
                    "responses": {
                        "200": {"description": "The run (JSON), or its events (text/event-stream)"},
                        "202": {"description": "Accepted to run in the background"},
                        "400": {"description": "Invalid factory_input"},
                        "403": {"description": "Permission denied"},
                        "404": {"description": "Unknown id"},
                        "422": {"description": "Missing message"},
                    }
                }
            }),
        );
        paths.insert(
            format!("/{plural}/{id}/runs/{{run_id}}/cancel"),
            json!({"post": {"summary": "Cancel a run", "responses": {"200": {"description": "Cancelling"}, "404": {"description": "No such run"}}}}),
        );
    }
    paths.insert("/config".into(), json!({"get": {"summary": "OS configuration", "responses": {"200": {"description": "The configuration"}}}}));
    paths.insert(
        "/health".into(),
        json!({"get": {"summary": "Liveness", "responses": {"200": {"description": "Alive"}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": state.config.os_id, "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
    })
}
