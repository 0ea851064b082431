//! What the store returns: typed rows. The HTTP layer turns them into agno's JSON shapes
//! (`server/wire.rs`); nothing here knows those shapes.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::entity::{run, session};
use super::error::StoreError;
use super::summaries::StoredSummary;
use crate::component::{ComponentKind, ComponentRef};
use crate::run::{EventName, Paused, RunOutput, RunStatus};

/// A stored session.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSession {
    /// The session id.
    pub session_id: String,
    /// The kind of component the session belongs to.
    pub kind: ComponentKind,
    /// The id of that component.
    pub component_id: String,
    /// The user who owns it, if any.
    pub user_id: Option<String>,
    /// Its name (the first message, unless renamed).
    pub name: Option<String>,
    /// State a component keeps across runs.
    pub state: Value,
    /// Free-form metadata.
    pub metadata: Value,
    /// Its summary, when its component keeps one.
    pub summary: Option<StoredSummary>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
}

impl StoredSession {
    /// Whether the session belongs to `user_id` and the component `kind`/`component_id`.
    pub fn is_owned_by(
        &self,
        kind: ComponentKind,
        component_id: &str,
        user_id: Option<&str>,
    ) -> bool {
        self.kind == kind && self.component_id == component_id && self.user_id.as_deref() == user_id
    }
}

impl From<session::Model> for StoredSession {
    fn from(row: session::Model) -> Self {
        StoredSession {
            session_id: row.session_id,
            kind: row.session_type,
            component_id: row.component_id,
            user_id: row.user_id,
            name: row.session_name,
            state: row.session_state,
            metadata: row.metadata,
            summary: row.summary.and_then(StoredSummary::from_json),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A stored run: a top-level run or a member run.
#[derive(Clone, Debug)]
pub struct StoredRun {
    /// The run id.
    pub run_id: String,
    /// The session.
    pub session_id: String,
    /// For a member run: the run that delegated to it.
    pub parent_run_id: Option<String>,
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: String,
    /// The user, if known.
    pub user_id: Option<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// The validated `factory_input` of a factory's run.
    pub factory_input: Option<Value>,
    /// The message.
    pub input: String,
    /// The whole output, once the run has ended (or paused). Only [`Store::run`] fills in a
    /// team's `member_responses`; listed runs leave them to the members' own rows.
    ///
    /// [`Store::run`]: super::Store::run
    pub output: Option<RunOutput>,
    /// For a paused run: what it needs to go on.
    pub paused: Option<Paused>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
    /// For a team's run stored with its members apart: their ids, in order, until the store
    /// has put their outputs back into `output`.
    pub(super) member_run_ids: Option<Vec<String>>,
}

impl StoredRun {
    /// The answer of a completed run.
    pub fn answer(&self) -> Option<&str> {
        match (&self.output, self.status) {
            (Some(output), RunStatus::Completed) => Some(&output.content),
            _ => None,
        }
    }
}

impl TryFrom<run::Model> for StoredRun {
    type Error = StoreError;

    fn try_from(row: run::Model) -> Result<Self, StoreError> {
        let corrupt = |error: String| {
            StoreError::Corrupt(format!("the output of run {}: {error}", row.run_id))
        };
        let mut output = row.output;
        let member_run_ids = match output.as_mut().and_then(|o| o.as_object_mut()) {
            Some(fields) => fields
                .remove(MEMBER_RUN_IDS)
                .map(serde_json::from_value::<Vec<String>>)
                .transpose()
                .map_err(|error| corrupt(error.to_string()))?,
            None => None,
        };
        let mut output = output
            .map(serde_json::from_value::<RunOutput>)
            .transpose()
            .map_err(|error| corrupt(error.to_string()))?;
        // The metrics column is the run's: tokens used after its end (a memory capture) are
        // added there alone, and the output's copy is as the run's end wrote it.
        if let (Some(output), Some(metrics)) = (output.as_mut(), row.metrics) {
            output.metrics = serde_json::from_value(metrics)
                .map_err(|error| corrupt(format!("its metrics: {error}")))?;
        }
        let paused = row
            .paused_state
            .as_deref()
            .map(|json| Paused::read(row.component_type, json))
            .transpose()
            .map_err(|error| {
                StoreError::Corrupt(format!("the paused state of run {}: {error}", row.run_id))
            })?;
        Ok(StoredRun {
            paused,
            run_id: row.run_id,
            session_id: row.session_id,
            parent_run_id: row.parent_run_id,
            kind: row.component_type,
            component_id: row.component_id,
            user_id: row.user_id,
            status: row.status,
            factory_input: row.factory_input,
            input: row.input,
            output,
            created_at: row.created_at,
            updated_at: row.updated_at,
            member_run_ids,
        })
    }
}

/// The key under which a team's stored output lists its members' run ids (the field of
/// `StoredOutput` in `store/mod.rs`).
const MEMBER_RUN_IDS: &str = "member_run_ids";

/// Converts rows, failing on the first unreadable one.
pub(super) fn runs(rows: Vec<run::Model>) -> Result<Vec<StoredRun>, StoreError> {
    rows.into_iter().map(StoredRun::try_from).collect()
}

/// Puts the outputs of members back into the runs of `runs` that list them, from `members`
/// (whose own members are already in place). A member whose row is gone is left out.
pub(super) fn attach_members(runs: &mut [StoredRun], members: &HashMap<String, RunOutput>) {
    for run in runs {
        let (Some(ids), Some(output)) = (run.member_run_ids.take(), run.output.as_mut()) else {
            continue;
        };
        *output.child_runs_mut() = Some(
            ids.iter()
                .filter_map(|id| members.get(id).cloned())
                .collect(),
        );
    }
}

/// The output of a run whose process stopped while it ran: an error, with agno's error event.
pub(super) fn interrupted_output(row: &StoredRun) -> RunOutput {
    const MESSAGE: &str = "Run interrupted: the server stopped while it was running";
    let component = ComponentRef {
        kind: row.kind,
        id: Arc::from(row.component_id.as_str()),
        name: Arc::from(row.component_id.as_str()),
    };
    let event = json!({
        "event": EventName::run_error(row.kind).as_str(),
        "run_id": row.run_id,
        "session_id": row.session_id,
        "content": MESSAGE,
        "error_type": "interrupted",
    });
    RunOutput {
        run_id: row.run_id.clone(),
        component,
        session_id: row.session_id.clone(),
        parent_run_id: row.parent_run_id.clone(),
        user_id: row.user_id.clone(),
        content: MESSAGE.to_owned(),
        content_type: "str".to_owned(),
        created_at: row.created_at / 1_000_000,
        status: RunStatus::Error,
        input: match row.kind {
            ComponentKind::Workflow => crate::run::RunInput::bare(row.input.clone()),
            ComponentKind::Team | ComponentKind::Agent => {
                crate::run::RunInput::new(row.input.clone())
            }
        },
        events: Some(vec![event]),
        ..RunOutput::default()
    }
}
