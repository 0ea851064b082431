//! Retention: sessions past a configured age deleted with their runs and events, in small
//! batches in the background; expired idempotency keys and old token-usage days with them; on
//! SQLite, the pages they held handed back to the file system. And what the store holds, for
//! the admin route. The settings and what the background work shares are in `house.rs`.
//!
//! A session is expired when its last update (its last run's start, or a rename) is older
//! than the age. It goes whole: its runs, member runs included, and their stored events. A
//! session that holds a run still RUNNING, PENDING or PAUSED is kept whole, however old: a
//! paused run waits for a person, and continuing it reads the session. Idempotency keys are
//! kept 24 h whatever the age, so a retry within a day never runs twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use tokio_util::sync::CancellationToken;

use super::entity::{event, idempotency_key, run, session, token_usage};
use super::error::StoreError;
use super::house::{Retention, SqliteFile, StoreStats, SweepReport};
use super::pool::Store;
use super::run_writes::KEYS_KEPT_FOR;
use super::writer::begin_write;
use crate::run::RunStatus;
use crate::time::now_micros;

/// Sessions examined a batch; their runs go in the same transaction, up to [`RUNS_PER_BATCH`].
const SESSIONS_PER_BATCH: u64 = 100;
/// The most runs (and their event rows) one transaction deletes.
const RUNS_PER_BATCH: u64 = 500;
/// The most idempotency keys or token-usage rows one statement deletes.
const ROWS_PER_BATCH: u64 = 1_000;
/// Pages handed back to the file system a statement (4 MiB of 4 KiB pages).
const VACUUM_PAGES: u64 = 1_024;
/// The shortest pause between two batches; a batch that took longer waits as long as it took,
/// so deletion never has more than half of the writer's time.
const MIN_PAUSE: Duration = Duration::from_millis(20);
/// How often expired idempotency keys are swept when retention is off.
const KEY_SWEEP_EVERY: Duration = Duration::from_secs(300);
/// The first retention sweep after start-up comes at most this late.
const FIRST_SWEEP_WITHIN: Duration = Duration::from_secs(30);

/// What one batch deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Purged {
    pub(crate) sessions: u64,
    pub(crate) runs: u64,
    pub(crate) event_rows: u64,
}

const LIVE: [RunStatus; 3] = [RunStatus::Running, RunStatus::Pending, RunStatus::Paused];

/// Sessions last updated before `cutoff` that hold no live run.
fn expired(cutoff: i64) -> Condition {
    let live_run = Query::select()
        .expr(Expr::val(1))
        .from(run::Entity)
        .and_where(
            Expr::col((run::Entity, run::Column::SessionId))
                .equals((session::Entity, session::Column::SessionId)),
        )
        .and_where(run::Column::Status.is_in(LIVE))
        .to_owned();
    Condition::all()
        .add(session::Column::UpdatedAt.lt(cutoff))
        .add(Expr::exists(live_run).not())
}

impl Store {
    /// Deletes one batch of the sessions last updated before `cutoff` (unix µs), with their
    /// runs and events; `None` when there are none left.
    pub(crate) async fn purge_batch(&self, cutoff: i64) -> Result<Option<Purged>, StoreError> {
        let candidates: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::SessionId)
            .filter(expired(cutoff))
            .order_by_asc(session::Column::UpdatedAt)
            .limit(SESSIONS_PER_BATCH)
            .into_tuple()
            .all(&self.conn)
            .await?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let counts: HashMap<String, i64> = run::Entity::find()
            .select_only()
            .column(run::Column::SessionId)
            .column_as(run::Column::RunId.count(), "runs")
            .filter(run::Column::SessionId.is_in(candidates.iter().cloned()))
            .group_by(run::Column::SessionId)
            .into_tuple::<(String, i64)>()
            .all(&self.conn)
            .await?
            .into_iter()
            .collect();
        let mut group = Vec::new();
        let mut runs = 0;
        for id in candidates {
            let count = u64::try_from(counts.get(&id).copied().unwrap_or(0)).unwrap_or(0);
            if !group.is_empty() && runs + count > RUNS_PER_BATCH {
                break;
            }
            runs += count;
            group.push(id);
        }
        if runs > RUNS_PER_BATCH {
            // One session larger than a batch: its runs go a batch at a time, the session
            // itself with the last of them.
            return self.purge_runs_of(&group[0], cutoff).await.map(Some);
        }
        self.purge_sessions(group, cutoff).await.map(Some)
    }

    /// Deletes those of `ids` still expired, with their runs and events, in one transaction.
    async fn purge_sessions(&self, ids: Vec<String>, cutoff: i64) -> Result<Purged, StoreError> {
        let txn = begin_write(&self.writer).await?;
        // Checked again inside the transaction, the rows locked on PostgreSQL: a run that
        // started in one of them since keeps it.
        let doomed: Vec<String> = session::Entity::find()
            .select_only()
            .column(session::Column::SessionId)
            .filter(session::Column::SessionId.is_in(ids))
            .filter(expired(cutoff))
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await?;
        if doomed.is_empty() {
            txn.commit().await?;
            return Ok(Purged::default());
        }
        let runs_of = Query::select()
            .column(run::Column::RunId)
            .from(run::Entity)
            .and_where(run::Column::SessionId.is_in(doomed.iter().cloned()))
            .to_owned();
        let event_rows = event::Entity::delete_many()
            .filter(event::Column::RunId.in_subquery(runs_of))
            .exec(&txn)
            .await?
            .rows_affected;
        let runs = run::Entity::delete_many()
            .filter(run::Column::SessionId.is_in(doomed.iter().cloned()))
            .exec(&txn)
            .await?
            .rows_affected;
        let sessions = session::Entity::delete_many()
            .filter(session::Column::SessionId.is_in(doomed))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(Purged {
            sessions,
            runs,
            event_rows,
        })
    }

    /// Deletes the oldest [`RUNS_PER_BATCH`] runs of an expired session, and their events.
    async fn purge_runs_of(&self, session_id: &str, cutoff: i64) -> Result<Purged, StoreError> {
        let txn = begin_write(&self.writer).await?;
        let still_expired = session::Entity::find()
            .select_only()
            .column(session::Column::SessionId)
            .filter(session::Column::SessionId.eq(session_id))
            .filter(expired(cutoff))
            .lock_exclusive()
            .into_tuple::<String>()
            .one(&txn)
            .await?;
        if still_expired.is_none() {
            txn.commit().await?;
            return Ok(Purged::default());
        }
        let chunk: Vec<String> = run::Entity::find()
            .select_only()
            .column(run::Column::RunId)
            .filter(run::Column::SessionId.eq(session_id))
            .order_by_asc(run::Column::CreatedAt)
            .limit(RUNS_PER_BATCH)
            .into_tuple()
            .all(&txn)
            .await?;
        let event_rows = event::Entity::delete_many()
            .filter(event::Column::RunId.is_in(chunk.iter().cloned()))
            .exec(&txn)
            .await?
            .rows_affected;
        let runs = run::Entity::delete_many()
            .filter(run::Column::RunId.is_in(chunk))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(Purged {
            sessions: 0,
            runs,
            event_rows,
        })
    }

    /// Forgets at most a batch of the idempotency keys created before `before` (unix µs);
    /// returns how many.
    pub async fn sweep_idempotency_keys(&self, before: i64) -> Result<u64, StoreError> {
        // The batch ends at the creation time of its last key, read through the index.
        let last: Option<i64> = idempotency_key::Entity::find()
            .select_only()
            .column(idempotency_key::Column::CreatedAt)
            .filter(idempotency_key::Column::CreatedAt.lt(before))
            .order_by_asc(idempotency_key::Column::CreatedAt)
            .offset(ROWS_PER_BATCH - 1)
            .limit(1)
            .into_tuple()
            .one(&self.conn)
            .await?;
        let mut delete = idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(before));
        if let Some(last) = last {
            delete = delete.filter(idempotency_key::Column::CreatedAt.lte(last));
        }
        Ok(delete.exec(&self.writer).await?.rows_affected)
    }

    /// Deletes at most a batch of the token-usage rows of days before `day` (days since the
    /// Unix epoch); returns how many.
    pub(crate) async fn purge_token_days(&self, day: i64) -> Result<u64, StoreError> {
        let last: Option<(i64, String)> = token_usage::Entity::find()
            .select_only()
            .column(token_usage::Column::Day)
            .column(token_usage::Column::Owner)
            .filter(token_usage::Column::Day.lt(day))
            .order_by_asc(token_usage::Column::Day)
            .order_by_asc(token_usage::Column::Owner)
            .offset(ROWS_PER_BATCH - 1)
            .limit(1)
            .into_tuple()
            .one(&self.conn)
            .await?;
        let mut delete =
            token_usage::Entity::delete_many().filter(token_usage::Column::Day.lt(day));
        if let Some((last_day, last_owner)) = last {
            delete = delete.filter(
                Condition::any()
                    .add(token_usage::Column::Day.lt(last_day))
                    .add(
                        Condition::all()
                            .add(token_usage::Column::Day.eq(last_day))
                            .add(token_usage::Column::Owner.lte(last_owner)),
                    ),
            );
        }
        Ok(delete.exec(&self.writer).await?.rows_affected)
    }

    /// On SQLite in incremental auto-vacuum, gives up to [`VACUUM_PAGES`] free pages back to
    /// the file system; returns how many went. Elsewhere, nothing.
    pub(crate) async fn vacuum_step(&self) -> Result<u64, StoreError> {
        if self.backend() != DatabaseBackend::Sqlite {
            return Ok(0);
        }
        let before = pragma(&self.writer, "freelist_count").await?;
        if before == 0 {
            return Ok(0);
        }
        self.writer
            .execute_unprepared(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))
            .await?;
        let after = pragma(&self.writer, "freelist_count").await?;
        Ok(before.saturating_sub(after))
    }

    /// Makes an existing SQLite file able to shrink: a file created before incremental
    /// auto-vacuum was set is rebuilt once (`VACUUM`) when it is at most `up_to` bytes, as
    /// that takes a few seconds at most; a larger one is left as it is, with a warning, since
    /// the rebuild would hold the writer (and copy the file) for as long as it takes.
    pub(crate) async fn prepare_to_shrink(&self, up_to: u64) -> Result<(), StoreError> {
        if self.backend() != DatabaseBackend::Sqlite {
            return Ok(());
        }
        if pragma(&self.writer, "auto_vacuum").await? == 2 {
            return Ok(());
        }
        let bytes =
            pragma(&self.writer, "page_count").await? * pragma(&self.writer, "page_size").await?;
        if bytes > up_to {
            tracing::warn!(
                mib = bytes / (1 << 20),
                "the SQLite file predates incremental vacuum: deleted rows free pages for new \
                 ones, but the file will not shrink; to change that, stop the server and run \
                 `sqlite3 <file> 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'`"
            );
            return Ok(());
        }
        let started = Instant::now();
        // The connection asked for incremental auto-vacuum when it opened; VACUUM applies it.
        self.writer
            .execute_unprepared("PRAGMA auto_vacuum = INCREMENTAL")
            .await?;
        self.writer.execute_unprepared("VACUUM").await?;
        tracing::info!(
            kib = bytes / 1024,
            ms = started.elapsed().as_millis() as u64,
            "SQLite file rebuilt once for incremental vacuum, so retention can shrink it"
        );
        Ok(())
    }

    /// What the store holds now.
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        let by_status: Vec<(RunStatus, i64)> = run::Entity::find()
            .select_only()
            .column(run::Column::Status)
            .column_as(run::Column::RunId.count(), "runs")
            .group_by(run::Column::Status)
            .into_tuple()
            .all(&self.conn)
            .await?;
        let (oldest_run_at, newest_run_at): (Option<i64>, Option<i64>) = run::Entity::find()
            .select_only()
            .expr(Expr::col(run::Column::CreatedAt).min())
            .expr(Expr::col(run::Column::CreatedAt).max())
            .into_tuple()
            .one(&self.conn)
            .await?
            .unwrap_or((None, None));
        let sqlite = if self.backend() == DatabaseBackend::Sqlite {
            let size = |path: Option<PathBuf>| {
                path.and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len())
            };
            let path = self.house.sqlite_path.clone();
            let wal = path.as_ref().map(|p| {
                let mut wal = p.clone().into_os_string();
                wal.push("-wal");
                PathBuf::from(wal)
            });
            Some(SqliteFile {
                path: path.as_ref().map(|p| p.to_string_lossy().into_owned()),
                file_bytes: size(path.clone()),
                wal_bytes: size(wal),
                page_size: pragma(&self.conn, "page_size").await?,
                page_count: pragma(&self.conn, "page_count").await?,
                freelist_pages: pragma(&self.conn, "freelist_count").await?,
                // Asked of the writer, which applied it: a reader's view was seen, under load,
                // to predate the rebuild.
                auto_vacuum: match pragma(&self.writer, "auto_vacuum").await? {
                    1 => "full",
                    2 => "incremental",
                    _ => "none",
                },
                wal_truncations: self.house.wal_truncations.load(Ordering::Relaxed),
                longest_wal_truncation: Duration::from_micros(
                    self.house.longest_truncation_us.load(Ordering::Relaxed),
                ),
            })
        } else {
            None
        };
        Ok(StoreStats {
            backend: match self.backend() {
                DatabaseBackend::Postgres => "postgres",
                _ => "sqlite",
            },
            sessions: session::Entity::find().count(&self.conn).await?,
            runs_by_status: by_status
                .into_iter()
                .map(|(status, count)| (status, u64::try_from(count).unwrap_or(0)))
                .collect(),
            event_rows: event::Entity::find().count(&self.conn).await?,
            idempotency_keys: idempotency_key::Entity::find().count(&self.conn).await?,
            token_usage_rows: token_usage::Entity::find().count(&self.conn).await?,
            oldest_run_at,
            newest_run_at,
            sqlite,
            retention: *lock(&self.house.retention),
            last_sweep: lock(&self.house.last_sweep).clone(),
        })
    }

    /// One retention sweep, as the background task runs it every interval: every session
    /// older than the age in batches, then past days of token usage, expired idempotency
    /// keys, and on SQLite the pages they held.
    pub async fn sweep_expired(&self, retention: Retention) -> SweepReport {
        self.sweep_until(retention, &CancellationToken::new()).await
    }

    /// [`Store::sweep_expired`], stopping between two batches once `stop` is cancelled.
    pub(crate) async fn sweep_until(
        &self,
        retention: Retention,
        stop: &CancellationToken,
    ) -> SweepReport {
        let started = Instant::now();
        let cutoff = now_micros().saturating_sub(retention.age().as_micros() as i64);
        let mut report = SweepReport::default();
        let outcome: Result<(), StoreError> = async {
            loop {
                let batch = Instant::now();
                let Some(purged) = self.purge_batch(cutoff).await? else {
                    break;
                };
                report.sessions += purged.sessions;
                report.runs += purged.runs;
                report.event_rows += purged.event_rows;
                if !pause(batch, stop).await {
                    return Ok(());
                }
            }
            // A day goes once it has wholly passed the age; today always stays.
            let day = cutoff.div_euclid(86_400_000_000);
            report.token_usage_rows += in_batches(stop, || self.purge_token_days(day)).await?;
            let keys_before = now_micros() - KEYS_KEPT_FOR.as_micros() as i64;
            report.idempotency_keys +=
                in_batches(stop, || self.sweep_idempotency_keys(keys_before)).await?;
            report.pages_freed += in_batches(stop, || self.vacuum_step()).await?;
            Ok(())
        }
        .await;
        report.error = outcome.err().map(|error| error.to_string());
        report.took = started.elapsed();
        report.finished_at = now_micros();
        *lock(&self.house.last_sweep) = Some(report.clone());
        report
    }
}

/// Runs `batch` until it deletes nothing (or `stop`), pausing between; returns the total.
async fn in_batches<F, Fut>(stop: &CancellationToken, mut batch: F) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let started = Instant::now();
        let done = batch().await?;
        total += done;
        if done == 0 || !pause(started, stop).await {
            return Ok(total);
        }
    }
}

/// Waits as long as the batch begun at `started` took (at least [`MIN_PAUSE`]); false when
/// `stop` came first.
async fn pause(started: Instant, stop: &CancellationToken) -> bool {
    let wait = started.elapsed().max(MIN_PAUSE);
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

async fn pragma(conn: &DatabaseConnection, name: &str) -> Result<u64, StoreError> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await?;
    let value: i64 = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(u64::try_from(value).unwrap_or(0))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The store's housekeeping until `stop` or `shutdown`: with a retention, a sweep every
/// interval (the first within 30 s of start-up); without one, expired idempotency keys every
/// 5 minutes.
pub(crate) async fn housekeeping(
    store: Store,
    retention: Option<Retention>,
    stop: CancellationToken,
    shutdown: CancellationToken,
) {
    *lock(&store.house.retention) = retention;
    let every = retention.map_or(KEY_SWEEP_EVERY, |r| r.interval());
    let mut next = tokio::time::Instant::now() + every.min(FIRST_SWEEP_WITHIN);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        match retention {
            Some(retention) => {
                // A shutdown ends the sweep between two batches, never inside one.
                let halt = stop.child_token();
                let sweep = store.sweep_until(retention, &halt);
                tokio::pin!(sweep);
                let report = tokio::select! {
                    report = &mut sweep => report,
                    _ = shutdown.cancelled() => {
                        halt.cancel();
                        sweep.await;
                        return;
                    }
                };
                if let Some(error) = &report.error {
                    tracing::warn!(%error, "retention sweep stopped early; the next one goes on");
                } else if report.sessions + report.runs > 0 {
                    tracing::info!(
                        sessions = report.sessions,
                        runs = report.runs,
                        event_rows = report.event_rows,
                        pages_freed = report.pages_freed,
                        ms = report.took.as_millis() as u64,
                        "retention: expired sessions deleted"
                    );
                }
            }
            None => {
                let expired = now_micros() - KEYS_KEPT_FOR.as_micros() as i64;
                if let Err(error) =
                    in_batches(&stop, || store.sweep_idempotency_keys(expired)).await
                {
                    tracing::warn!(%error, "could not sweep expired idempotency keys");
                }
            }
        }
        next = tokio::time::Instant::now() + every;
    }
}
