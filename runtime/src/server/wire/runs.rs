//! Runs in agno's run JSON: whole, stored (a team's with its members), started in the
//! background, cancelled.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::fields::{id_key, timestamp_seconds};
use crate::run::RunStatus;
use crate::runs::Cancelled;
use crate::store::StoredRun;

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
    summary.insert("events".into(), json!([]));
    Value::Object(summary)
}

/// A run as agno's session routes list it (its `RunSchema` / `TeamRunSchema`): the input as
/// `run_input`, an ISO `created_at`, `parent_run_id` empty for a top-level run, and the
/// streamed events kept with it.
pub(crate) fn stored_run(run: &StoredRun, events: Option<&Value>) -> Value {
    let output = run.output.as_ref();
    let mut out = Map::new();
    out.insert("run_id".into(), json!(run.run_id));
    out.insert(
        "parent_run_id".into(),
        json!(run.parent_run_id.as_deref().unwrap_or("")),
    );
    out.insert(id_key(run.kind).into(), json!(run.component_id));
    out.insert("user_id".into(), json!(run.user_id));
    // The output is the run's own account of how it ended, as `run` answers it.
    out.insert(
        "status".into(),
        json!(output.map_or(run.status, |o| o.status)),
    );
    out.insert("run_input".into(), json!(run.input));
    out.insert(
        "content".into(),
        json!(output.map(|o| o.content.as_str()).unwrap_or("")),
    );
    out.insert("run_response_format".into(), json!("text"));
    out.insert("reasoning_content".into(), json!(""));
    out.insert("reasoning_steps".into(), json!([]));
    out.insert(
        "metrics".into(),
        output
            .and_then(|o| serde_json::to_value(&o.metrics).ok())
            .unwrap_or_else(|| json!({})),
    );
    if let Some(output) = output {
        if !output.messages.is_empty() {
            out.insert("messages".into(), json!(output.messages));
        }
        if !output.tools.is_empty() {
            out.insert("tools".into(), json!(output.tools));
        }
        if let Some(state) = &output.session_state {
            out.insert("session_state".into(), state.clone());
        }
    }
    let events = events
        .filter(|events| events.as_array().is_some_and(|list| !list.is_empty()))
        .cloned()
        .or_else(|| {
            output
                .and_then(|o| o.events.as_ref())
                .filter(|events| !events.is_empty())
                .map(|events| json!(events))
        });
    if let Some(events) = events {
        out.insert("events".into(), events);
    }
    out.insert(
        "created_at".into(),
        json!(timestamp_seconds(run.created_at)),
    );
    out.insert("references".into(), json!([]));
    out.insert("reasoning_messages".into(), json!([]));
    for media in ["images", "videos", "audio", "files"] {
        out.insert(media.into(), json!([]));
    }
    out.insert(
        "input_media".into(),
        json!({"images": [], "videos": [], "audios": [], "files": []}),
    );
    Value::Object(out)
}

/// Runs as agno lists them: each member run right before the run that delegated to it.
pub(crate) fn stored_runs(runs: &[StoredRun], events: &HashMap<String, Value>) -> Value {
    // Members by the run that delegated to them, each list in the order given (oldest first).
    let mut members: HashMap<&str, Vec<&StoredRun>> = HashMap::new();
    let ids: std::collections::HashSet<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let mut tops = Vec::new();
    for run in runs {
        match run.parent_run_id.as_deref() {
            Some(parent) if ids.contains(parent) => members.entry(parent).or_default().push(run),
            _ => tops.push(run),
        }
    }
    let mut ordered = Vec::with_capacity(runs.len());
    for top in tops {
        push_with_members(top, &members, &mut ordered);
    }
    Value::Array(
        ordered
            .into_iter()
            .map(|run| stored_run(run, events.get(&run.run_id)))
            .collect(),
    )
}

pub(super) fn push_with_members<'a>(
    run: &'a StoredRun,
    members: &HashMap<&str, Vec<&'a StoredRun>>,
    into: &mut Vec<&'a StoredRun>,
) {
    for member in members.get(run.run_id.as_str()).into_iter().flatten() {
        push_with_members(member, members, into);
    }
    into.push(run);
}

/// The answer to a run started in the background.
pub(crate) fn background_run(run_id: &str, session_id: &str, status: RunStatus) -> Value {
    // agno answers a background run as accepted and not yet begun, whether or not its task
    // has started by the time the answer leaves; a queued run is pending anyway.
    let status = match status {
        RunStatus::Running => RunStatus::Pending,
        other => other,
    };
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
