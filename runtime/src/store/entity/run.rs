//! `agentos_runs`: one row per run, member runs included, so concurrent runs of one session
//! never overwrite each other.

use sea_orm::entity::prelude::*;

use crate::component::ComponentKind;
use crate::run::RunStatus;

/// A run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_runs")]
pub struct Model {
    /// The run id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: String,
    /// The session.
    pub session_id: String,
    /// For a member run: the run that delegated to it.
    pub parent_run_id: Option<String>,
    /// Team or agent.
    pub component_type: ComponentKind,
    /// The team or agent id.
    pub component_id: String,
    /// The user, if known.
    pub user_id: Option<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// The validated `factory_input`, so the run can be replayed with the same input.
    pub factory_input: Option<Json>,
    /// The message.
    pub input: String,
    /// The run output (agno's run JSON), once finished.
    pub output: Option<Json>,
    /// The run's events, when it streamed.
    pub events: Option<Json>,
    /// Tokens and timings.
    pub metrics: Option<Json>,
    /// Set by a cancel request; the process running it stops it.
    pub cancel_requested: bool,
    /// The server process running it.
    pub owner: String,
    /// Unix microseconds of the owner's last sign of life for this run.
    pub heartbeat_at: i64,
    /// For a paused run: what it needs to go on (JSON of `run::Paused`, read by the run's kind).
    pub paused_state: Option<String>,
    /// The number of event ids that may have reached a client (ids below it); the store
    /// promised them before they were sent.
    pub events_promised: i64,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// Runs relate to nothing through sea-orm: sessions are joined by id where needed.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
