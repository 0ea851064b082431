//! Sessions and runs, stored with sea-orm: a SQLite file by default, PostgreSQL in production.
//!
//! Every run is a row of its own (member runs included), written when it starts and again when
//! it ends, so concurrent runs of one session never overwrite each other and a run in flight
//! is visible, cancellable from any replica, and recognised as interrupted if its process dies.
//!
//! The rooms, bottom up: `error`; `entity`, `migration` and `statements` (the tables and the
//! batched SQL); `house` (what background work shares); `late_usage` and `writer` (the write
//! queue); `pool` (connecting, the `Store` handle); then what the store does: `run_writes`,
//! `in_flight`, `run_usage`, `events`, `run_reads`, `sessions`, `summaries`, `memories`,
//! `retention`. `connect` below ties them together.

mod daily_metrics;
pub mod entity;
mod error;
mod events;
mod house;
mod in_flight;
mod late_usage;
mod memories;
mod migration;
mod nodelay;
mod pool;
mod retention;
mod rows;
mod run_reads;
mod run_usage;
mod run_writes;
pub mod sessions;
mod statements;
mod summaries;
mod writer;

use sea_orm::DatabaseBackend;

pub use daily_metrics::{DayFigures, KindCounts};
pub use error::StoreError;
pub use events::StoredEvent;
pub use house::{Retention, SqliteFile, StoreStats, SweepReport};
pub use in_flight::StartCommit;
pub use memories::{
    MemoryOwner, MemoryQuery, MemoryScope, NewMemory, StoredMemory, UserMemoryStats,
};
pub use pool::{Db, Store};
pub(crate) use retention::housekeeping;
pub use rows::{StoredRun, StoredSession};
pub use run_usage::LateUsage;
pub(crate) use run_writes::STALE_AFTER;
pub use run_writes::{DeferredStart, FreshRun, IdempotencyClaim, NewRun, StoredKey};
pub use sessions::{SessionPage, SessionQuery};
pub use summaries::StoredSummary;

use crate::time::now_micros;

impl Store {
    /// Connects, applies the migrations, and marks runs left running by a dead process as
    /// interrupted.
    pub async fn connect(db: &Db) -> Result<Store, StoreError> {
        let store = Store::open(db).await?;
        let is_sqlite = store.backend() == DatabaseBackend::Sqlite;
        // A SQLite file has one server process: whatever is still RUNNING died with the last
        // one. PostgreSQL is shared by replicas, so only runs without a recent heartbeat.
        let stale_before = if is_sqlite {
            now_micros()
        } else {
            now_micros() - STALE_AFTER.as_micros() as i64
        };
        let interrupted = store.mark_interrupted(stale_before).await?;
        if interrupted > 0 {
            tracing::warn!(
                runs = interrupted,
                "runs left running by a stopped server marked as interrupted"
            );
        }
        Ok(store)
    }
}
