//! agno's JSON shapes, built in one place from the run service's typed values: what agno's
//! clients and control plane parse. Handlers never assemble JSON themselves.

use axum::response::sse::Event;
use serde_json::{Map, Value, json};

use crate::component::{Component, ComponentKind};
use crate::resolve::Resolver;
use crate::run::{RunEvent, RunStatus};
use crate::runs::{Cancelled, StreamItem};
use crate::store::{SessionPage, StoredRun, StoredSession};

/// The RFC 3339 time of unix microseconds.
fn timestamp(micros: i64) -> String {
    super::rfc3339(std::time::Duration::from_micros(micros.max(0) as u64))
}

/// agno's key for a component id: `team_id` or `agent_id`.
fn id_key(kind: ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Team => "team_id",
        ComponentKind::Agent => "agent_id",
    }
}

/// A run as agno's run JSON: the whole output once it has ended, the fields known so far
/// while it runs.
pub(crate) fn run(run: &StoredRun) -> Value {
    if let Some(output) = &run.output
        && let Ok(value) = serde_json::to_value(output)
    {
        return value;
    }
    let mut summary = Map::new();
    summary.insert("run_id".into(), json!(run.run_id));
    summary.insert(id_key(run.kind).into(), json!(run.component_id));
    summary.insert("session_id".into(), json!(run.session_id));
    if let Some(parent) = &run.parent_run_id {
        summary.insert("parent_run_id".into(), json!(parent));
    }
    summary.insert("user_id".into(), json!(run.user_id));
    summary.insert("status".into(), json!(run.status));
    summary.insert("input".into(), json!({"input_content": run.input}));
    summary.insert("created_at".into(), json!(run.created_at / 1_000_000));
    Value::Object(summary)
}

/// A list of runs.
pub(crate) fn runs(runs: &[StoredRun]) -> Value {
    Value::Array(runs.iter().map(run).collect())
}

/// A session as agno lists it.
pub(crate) fn session(session: &StoredSession) -> Value {
    json!({
        "session_id": session.session_id,
        "session_name": session.name,
        "session_state": session.state,
        "created_at": timestamp(session.created_at),
        "updated_at": timestamp(session.updated_at),
        "session_type": session.kind,
        "user_id": session.user_id,
        id_key(session.kind): session.component_id,
    })
}

/// A page of sessions: `{data, meta}`.
pub(crate) fn session_page(page: &SessionPage, page_number: u64, limit: u64) -> Value {
    json!({
        "data": page.sessions.iter().map(session).collect::<Vec<_>>(),
        "meta": {
            "page": page_number,
            "limit": limit,
            "total_count": page.total,
            "total_pages": page.total.div_ceil(limit),
        }
    })
}

/// A session with its exchanges: the user's messages and the answers of its top-level runs.
pub(crate) fn session_detail(session_row: &StoredSession, runs: &[StoredRun]) -> Value {
    let mut chat_history = Vec::new();
    for run in runs.iter().filter(|r| r.parent_run_id.is_none()) {
        let created_at = run.created_at / 1_000_000;
        chat_history.push(json!({
            "role": "user",
            "content": run.input,
            "created_at": created_at,
        }));
        if let Some(output) = &run.output {
            chat_history.push(json!({
                "role": "assistant",
                "content": output.content,
                "created_at": created_at,
            }));
        }
    }
    let mut body = session(session_row);
    body["chat_history"] = Value::Array(chat_history);
    body
}

/// The answer to a run started in the background.
pub(crate) fn background_run(run_id: &str, session_id: &str, status: RunStatus) -> Value {
    json!({
        "run_id": run_id,
        "session_id": session_id,
        "status": status,
    })
}

/// The answer to a cancel request.
pub(crate) fn cancelled(run_id: &str, outcome: Cancelled) -> Value {
    let status = match outcome {
        Cancelled::Stopping => "CANCELLING",
        Cancelled::AlreadyEnded(status) => status.as_str(),
    };
    json!({"run_id": run_id, "status": status})
}

/// One SSE frame of an event: `id:` its number, `event:` its name, `data:` its JSON with the
/// number again as agno's `event_index`.
pub fn event_frame(event: &RunEvent, seq: u64) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    numbered_frame(event.event.as_str(), &data, seq)
}

fn numbered_frame(name: &str, data: &str, seq: u64) -> Event {
    // The JSON is an object; the index goes first so the rest is sent as it was produced.
    let data = match data.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"event_index\":{seq}}}"),
        Some(rest) => format!("{{\"event_index\":{seq},{rest}"),
        None => data.to_owned(),
    };
    Event::default().event(name).id(seq.to_string()).data(data)
}

/// One SSE frame of a run's stream: a live or stored event, or one of agno's resume notices
/// (which carry no `id:`, so a reconnecting client's `Last-Event-ID` stays an event's).
pub(crate) fn stream_frame(item: &StreamItem) -> Event {
    match item {
        StreamItem::Live { seq, event } => event_frame(event, *seq),
        StreamItem::Stored(stored) => numbered_frame(&stored.event, &stored.data, stored.seq),
        StreamItem::Notice { name, data } => Event::default().event(*name).data(data.to_string()),
    }
}

/// How discovery describes one component: from its factory info, never by building it.
pub(crate) fn component<C: Component>(resolver: &Resolver<C>) -> Value {
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

/// A component's entry in `/config`.
pub(crate) fn config_entry<C: Component>(resolver: &Resolver<C>) -> Value {
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
    out.insert("is_factory".into(), json!(info.is_factory));
    if let Some(schema) = resolver.input_schema() {
        out.insert("factory_input_schema".into(), schema.clone());
    }
    Value::Object(out)
}

/// `/config`.
pub(crate) fn config(
    os_id: &str,
    description: Option<&str>,
    agents: Vec<Value>,
    teams: Vec<Value>,
) -> Value {
    json!({
        "os_id": os_id,
        "description": description,
        "agents": agents,
        "teams": teams,
        "workflows": [],
        "interfaces": [],
    })
}

/// `/health`.
pub(crate) fn health(started_at: &str) -> Value {
    json!({"status": "ok", "instantiated_at": started_at})
}
