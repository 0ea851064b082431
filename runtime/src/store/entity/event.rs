//! `agentos_run_events`: the events of a streamed or background run, numbered from 0, a row
//! per write (see `store::events`).

use sea_orm::entity::prelude::*;

/// Events `seq..=last_seq` of a run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_run_events")]
pub struct Model {
    /// The run.
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: String,
    /// The number of the row's first event in the run's stream, from 0: the SSE `id:` and
    /// agno's `event_index`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The number of its last event.
    pub last_seq: i64,
    /// One line per event: its name, a tab, its JSON as it was sent.
    pub data: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// Events relate to nothing through sea-orm: they are read by run id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
