//! `agentos_run_events`: each event of a streamed or background run, numbered from 0.

use sea_orm::entity::prelude::*;

/// One event of a run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_run_events")]
pub struct Model {
    /// The run.
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: String,
    /// Its place in the run's stream, from 0: the SSE `id:` and agno's `event_index`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The event's name (`TeamRunStarted`, ...).
    pub event: String,
    /// The event's JSON, as it was sent.
    pub data: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// Events relate to nothing through sea-orm: they are read by run id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
