//! Sessions in agno's session JSON: a listing's rows and page, and one session with its runs
//! and chat history.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::fields::{id_key, model_class, page_meta, timestamp_seconds};
use crate::component::ComponentKind;
use crate::model::Role;
use crate::run::RunMetrics;
use crate::store::{SessionPage, StoredRun, StoredSession};

/// A session's metrics as agno reports them: the sum of its top-level runs' tokens, with
/// the models used.
pub(super) fn session_metrics(metrics: Option<&RunMetrics>) -> Value {
    let metrics = metrics.cloned().unwrap_or_default();
    json!({
        "input_tokens": metrics.input_tokens,
        "output_tokens": metrics.output_tokens,
        "total_tokens": metrics.total_tokens,
        "details": {"model": metrics.details.map(|d| d.model).unwrap_or_default()},
    })
}

/// A session as agno lists it.
pub(crate) fn session(session: &StoredSession, metrics: Option<&RunMetrics>) -> Value {
    let metrics_json = session_metrics(metrics);
    json!({
        // agno's client rebuilds listed sessions from the stored row's `session_data`.
        "session_data": {
            "session_name": session.name,
            "session_state": session.state,
            "session_metrics": metrics_json.clone(),
        },
        "session_id": session.session_id,
        "session_name": session.name.as_deref().unwrap_or(""),
        "session_state": session.state,
        "created_at": timestamp_seconds(session.created_at),
        "updated_at": timestamp_seconds(session.updated_at),
        "session_type": session.kind,
        "user_id": session.user_id,
        id_key(session.kind): session.component_id,
        "metrics": metrics_json,
        "total_tokens": metrics.map_or(0, |m| m.total_tokens),
        "metadata": session.metadata,
        "session_summary": session.summary.as_ref().map(|summary| json!({
            "summary": summary.summary,
            "topics": summary.topics,
            "updated_at": timestamp_seconds(summary.updated_at),
        })),
    })
}

/// A page of sessions: `{data, meta}`.
pub(crate) fn session_page(
    page: &SessionPage,
    metrics: &HashMap<String, RunMetrics>,
    page_number: u64,
    limit: u64,
    search_time_ms: f64,
) -> Value {
    json!({
        "data": page
            .sessions
            .iter()
            .map(|s| session(s, metrics.get(&s.session_id)))
            .collect::<Vec<_>>(),
        "meta": page_meta(page_number, limit, page.total, search_time_ms),
    })
}

/// A session with its exchanges (agno's `TeamSessionDetailSchema` or
/// `AgentSessionDetailSchema`): the component it ran, its metrics, and a chat history of the
/// top-level runs' user messages and model turns, tool-calling turns included.
pub(crate) fn session_detail(
    session_row: &StoredSession,
    runs: &[StoredRun],
    metrics: Option<&RunMetrics>,
) -> Value {
    let mut chat_history = Vec::new();
    let top_level = || runs.iter().filter(|r| r.parent_run_id.is_none());
    for run in top_level() {
        match &run.output {
            Some(output) if !output.messages.is_empty() => {
                for message in output
                    .messages
                    .iter()
                    .filter(|m| matches!(m.role, Role::User | Role::Assistant))
                {
                    chat_history.push(json!(message));
                }
            }
            _ => {
                let created_at = run.created_at / 1_000_000;
                chat_history
                    .push(json!({"role": "user", "content": run.input, "created_at": created_at}));
                if let Some(output) = &run.output {
                    chat_history.push(json!({"role": "assistant", "content": output.content, "created_at": created_at}));
                }
            }
        }
    }
    let mut body = session(session_row, metrics);
    if session_row.kind == ComponentKind::Agent {
        body["agent_session_id"] = json!(session_row.session_id);
    }
    // What ran the session, from its latest run: a factory's component exists per request.
    if let Some(output) = top_level().filter_map(|r| r.output.as_ref()).next_back() {
        let provider_label = output
            .metrics
            .details
            .as_ref()
            .and_then(|d| d.model.first())
            .map(|m| m.provider.as_str());
        let model = output.model.as_ref().map(|id| {
            json!({
                "provider": output.model_provider,
                "name": provider_label.map(model_class),
                "id": id,
            })
        });
        let key = match session_row.kind {
            ComponentKind::Team => "team_data",
            ComponentKind::Agent => "agent_data",
            ComponentKind::Workflow => "workflow_data",
        };
        body[key] = json!({
            "name": output.component.name,
            id_key(session_row.kind): session_row.component_id,
            "model": model,
        });
    }
    body["chat_history"] = Value::Array(chat_history);
    body
}
