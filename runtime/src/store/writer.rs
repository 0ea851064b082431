//! The writer task: run lifecycle writes committed in groups, and the rule that one bad write
//! fails only itself.
//!
//! Under load one transaction carries every write that arrived while the previous one
//! committed (group commit), so the database sees far fewer commits than runs. When the
//! database refuses a batch's statement (a value it cannot store, a duplicate key), every write
//! of the batch is told so and comes back alone, in a transaction of its own: the bad one fails,
//! the others commit. When the database cannot be reached, the whole batch fails with that.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, RuntimeErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::entity::{idempotency_key, run, session, token_usage};
use super::error::StoreError;
use super::house::House;
use super::late_usage::{LateUsageRow, add_late_usage};
use super::statements::{self, EventRow, RunRow, RunWrite, SessionRow};
use crate::component::ComponentKind;
use crate::run::RunStatus;

/// The most writes committed together.
pub(super) const MAX_BATCH: usize = 256;

/// Who a session must belong to for a run to start in it.
pub(super) struct SessionOwner {
    /// The session's id was made by the server for this run (its owner is not read back).
    pub(super) new_session: bool,
    pub(super) session_id: String,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
    pub(super) user_id: Option<String>,
}

/// What a run asks of its session's other runs before it may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BusyCheck {
    /// Start whatever else runs in the session.
    None,
    /// Refuse to start while another top-level run of the session is running or queued.
    RejectIfActive,
}

/// One write of the run lifecycle, prepared by the caller so the writer only executes it.
pub(super) enum WriteOp {
    /// A run begins in a session that is new or belongs to `owner`: the session row (created
    /// by its first run), the run's row, and the idempotency key it claims.
    StartRun {
        owner: SessionOwner,
        busy: BusyCheck,
        claim: Option<KeyClaim>,
        session: Box<SessionRow>,
        run: Box<RunRow>,
        /// The start of a run that did not wait for it ([`super::DeferredStart`]): the run's
        /// end may be stored first, and then its row stays as the end left it.
        deferred: bool,
    },
    /// Events of a run in flight, stored as they come so any replica can replay them.
    Events { rows: Vec<EventRow> },
    /// A run ended: its row and one row per member run, and its last events; with the
    /// session's row when its start was not waited for (the session is created here if that
    /// start never committed).
    FinishRun {
        session: Option<SessionRow>,
        rows: Vec<RunRow>,
        events: Vec<EventRow>,
        /// Tokens to add to a user's day: `(user, day, tokens)`.
        tokens: Option<(String, i64, i64)>,
    },
    /// A model call made for a run after its end (a memory capture, a summary).
    AddUsage(LateUsageRow),
}

/// A write, whether it must be committed on its own, and who waits for the outcome.
pub(super) struct WriteJob {
    pub(super) op: WriteOp,
    pub(super) alone: bool,
    pub(super) done: oneshot::Sender<Result<(), WriteError>>,
}

/// How a write failed.
#[derive(Debug)]
pub(super) enum WriteError {
    /// The batch it was part of was refused; send it again alone to learn whether it was the
    /// cause.
    BatchRefused,
    /// It failed for itself.
    Failed(StoreError),
}

/// Commits the jobs of `jobs` until every sender is gone.
///
/// Several loops may share `jobs` (PostgreSQL): each takes what is waiting, and commits it
/// while the next takes the writes that arrive meanwhile.
pub(super) async fn write_loop(
    writer: DatabaseConnection,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<WriteJob>>>,
    house: Arc<House>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        house.wrote();
        let (alone, grouped): (Vec<WriteJob>, Vec<WriteJob>) =
            batch.drain(..).partition(|job| job.alone);
        for job in alone {
            let outcome = commit(&writer, vec![job.op]).await;
            let result = match outcome {
                Ok(mut results) => results.pop().unwrap_or(Ok(())),
                Err(error) => Err(WriteError::Failed(error.into())),
            };
            let _ = job.done.send(result);
        }
        if grouped.is_empty() {
            continue;
        }
        let several = grouped.len() > 1;
        let (ops, waiters): (Vec<WriteOp>, Vec<_>) =
            grouped.into_iter().map(|job| (job.op, job.done)).unzip();
        match commit(&writer, ops).await {
            Ok(results) => {
                for (done, result) in waiters.into_iter().zip(results) {
                    let _ = done.send(result);
                }
            }
            Err(error) => {
                let refused = several && refused_by_database(&error);
                let message = error.to_string();
                for done in waiters {
                    let _ = done.send(Err(if refused {
                        WriteError::BatchRefused
                    } else {
                        WriteError::Failed(StoreError::Unavailable(DbErr::Custom(message.clone())))
                    }));
                }
            }
        }
    }
}

/// Whether the database refused a statement (rather than being unreachable): splitting the
/// batch then finds the write at fault.
fn refused_by_database(error: &DbErr) -> bool {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            matches!(
                **error,
                sea_orm::sqlx::Error::Database(_) | sea_orm::sqlx::Error::Encode(_)
            )
        }
        _ => false,
    }
}

/// A start that passed the first checks, waiting for the others.
struct PendingStart {
    index: usize,
    owner: SessionOwner,
    busy: BusyCheck,
    run: RunRow,
    deferred: bool,
}

/// The rows of `starts`, as their statements take them: the started runs, and the runs whose
/// start was deferred.
fn start_rows(starts: impl IntoIterator<Item = PendingStart>) -> (Vec<RunRow>, Vec<RunRow>) {
    let (deferred, started): (Vec<PendingStart>, Vec<PendingStart>) =
        starts.into_iter().partition(|start| start.deferred);
    (
        started.into_iter().map(|start| start.run).collect(),
        deferred.into_iter().map(|start| start.run).collect(),
    )
}

/// Commits `ops` in one transaction, however many runs they carry: claims of idempotency keys,
/// sessions created or touched, their owners (locked on PostgreSQL when a start depends on
/// what else runs), the started runs, the events, the finished runs. A start refused by a
/// check (a key another run holds, a foreign session, a busy session) writes nothing, and only
/// its own write says so.
async fn commit(
    writer: &DatabaseConnection,
    ops: Vec<WriteOp>,
) -> Result<Vec<Result<(), WriteError>>, DbErr> {
    let mut results: Vec<Result<(), WriteError>> = Vec::with_capacity(ops.len());
    let mut claims = Vec::new();
    let mut starts = Vec::new();
    let mut sessions: Vec<SessionRow> = Vec::new();
    let mut finished_sessions: Vec<SessionRow> = Vec::new();
    let mut events = Vec::new();
    // PostgreSQL refuses an upsert that touches one row twice: keep each key once.
    let mut finished: HashMap<String, RunRow> = HashMap::new();
    let mut tokens: HashMap<(String, i64), i64> = HashMap::new();
    let mut late = Vec::new();
    for (index, op) in ops.into_iter().enumerate() {
        results.push(Ok(()));
        match op {
            WriteOp::StartRun {
                owner,
                busy,
                claim,
                session,
                run,
                deferred,
            } => {
                if let Some(claim) = claim {
                    claims.push((index, claim));
                }
                sessions.push(*session);
                starts.push(PendingStart {
                    index,
                    owner,
                    busy,
                    run: *run,
                    deferred,
                });
            }
            WriteOp::Events { rows } => events.extend(rows),
            WriteOp::FinishRun {
                session,
                rows,
                events: last,
                tokens: used,
            } => {
                finished_sessions.extend(session);
                finished.extend(rows.into_iter().map(|row| (row.run_id.clone(), row)));
                events.extend(last);
                if let Some((owner, day, count)) = used {
                    *tokens.entry((owner, day)).or_insert(0) += count;
                }
            }
            WriteOp::AddUsage(row) => late.push(row),
        }
    }
    let backend = writer.get_database_backend();
    let pure_writes = claims.is_empty()
        && tokens.is_empty()
        && late.is_empty()
        && starts
            .iter()
            .all(|s| s.owner.new_session && s.busy == BusyCheck::None);
    if pure_writes {
        // Nothing to read back: the whole batch goes to the database at once. A run whose
        // start was deferred may end in the batch its start went in: its end writes all of it.
        sessions.append(&mut finished_sessions);
        let sessions = once_each(sessions);
        let (started, deferred) = start_rows(
            starts
                .into_iter()
                .filter(|start| !finished.contains_key(&start.run.run_id)),
        );
        let finished: Vec<RunRow> = finished.into_values().collect();
        if backend == DatabaseBackend::Postgres {
            writer
                .execute_raw(statements::postgres_batch(
                    sessions, started, deferred, events, finished,
                ))
                .await?;
        } else {
            let mut statements = statements::sessions(backend, sessions);
            statements.extend(statements::runs(backend, started, RunWrite::Start));
            statements.extend(statements::runs(backend, deferred, RunWrite::DeferredStart));
            statements.extend(statements::events(backend, events));
            statements.extend(statements::runs(backend, finished, RunWrite::End));
            commit_at_once(writer, statements).await?;
        }
        return Ok(results);
    }
    let txn = begin_write(writer).await?;

    let claimed: HashMap<usize, KeyClaim> = claims.iter().cloned().collect();
    if !claims.is_empty() {
        let refused = claim_keys(&txn, claims).await?;
        for (index, error) in refused {
            results[index] = Err(WriteError::Failed(error));
        }
        starts.retain(|start| results[start.index].is_ok());
    }

    // Sessions of the starts still standing, and of ends whose start was not waited for.
    let mut touched: Vec<SessionRow> = sessions
        .into_iter()
        .filter(|session| {
            starts
                .iter()
                .any(|s| s.owner.session_id == session.session_id)
        })
        .collect();
    touched.append(&mut finished_sessions);
    execute(&txn, statements::sessions(backend, once_each(touched))).await?;
    if !starts.is_empty() {
        let checks_busy = starts.iter().any(|s| s.busy != BusyCheck::None);
        // Sessions a client named may belong to someone else: read their owners back. A
        // session whose id the server just made is the starting run's own.
        let named: Vec<String> = starts
            .iter()
            .filter(|s| !s.owner.new_session)
            .map(|s| s.owner.session_id.clone())
            .collect();
        let owners: HashMap<String, (ComponentKind, String, Option<String>)> = if named.is_empty() {
            HashMap::new()
        } else {
            let mut owners_query = session::Entity::find()
                .select_only()
                .columns([
                    session::Column::SessionId,
                    session::Column::SessionType,
                    session::Column::ComponentId,
                    session::Column::UserId,
                ])
                .filter(session::Column::SessionId.is_in(named))
                .order_by_asc(session::Column::SessionId);
            if checks_busy {
                // Replicas deciding whether a session is busy take turns on its row.
                owners_query = owners_query.lock_exclusive();
            }
            owners_query
                .into_tuple::<(String, ComponentKind, String, Option<String>)>()
                .all(&txn)
                .await?
                .into_iter()
                .map(|(id, kind, component, user)| (id, (kind, component, user)))
                .collect()
        };
        let mut active: HashSet<String> = if checks_busy {
            let busy_sessions: Vec<String> = starts
                .iter()
                .filter(|s| s.busy != BusyCheck::None)
                .map(|s| s.owner.session_id.clone())
                .collect();
            run::Entity::find()
                .select_only()
                .column(run::Column::SessionId)
                .filter(run::Column::SessionId.is_in(busy_sessions))
                .filter(run::Column::ParentRunId.is_null())
                .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
                .into_tuple::<String>()
                .all(&txn)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let mut accepted = Vec::with_capacity(starts.len());
        for start in starts {
            let owner = &start.owner;
            let owned = owner.new_session
                || owners
                    .get(&owner.session_id)
                    .is_some_and(|(kind, component, user)| {
                        *kind == owner.kind
                            && *component == owner.component_id
                            && *user == owner.user_id
                    });
            let outcome = if !owned {
                Err(StoreError::ForeignSession)
            } else if start.busy == BusyCheck::RejectIfActive && active.contains(&owner.session_id)
            {
                Err(StoreError::SessionBusy)
            } else {
                Ok(())
            };
            match outcome {
                Ok(()) => {
                    active.insert(owner.session_id.clone());
                    accepted.push(start);
                }
                Err(error) => {
                    // A refused start keeps no key: a retry gets the same answer, not this run.
                    if let Some(claim) = claimed.get(&start.index) {
                        idempotency_key::Entity::delete_many()
                            .filter(idempotency_key::Column::Owner.eq(claim.owner.as_str()))
                            .filter(idempotency_key::Column::ComponentType.eq(claim.kind))
                            .filter(
                                idempotency_key::Column::ComponentId
                                    .eq(claim.component_id.as_str()),
                            )
                            .filter(idempotency_key::Column::Key.eq(claim.key.as_str()))
                            .filter(idempotency_key::Column::RunId.eq(claim.run_id.as_str()))
                            .exec(&txn)
                            .await?;
                    }
                    results[start.index] = Err(WriteError::Failed(error));
                }
            }
        }
        let (started, deferred) = start_rows(accepted);
        execute(&txn, statements::runs(backend, started, RunWrite::Start)).await?;
        execute(
            &txn,
            statements::runs(backend, deferred, RunWrite::DeferredStart),
        )
        .await?;
    }
    execute(&txn, statements::events(backend, events)).await?;
    execute(
        &txn,
        statements::runs(backend, finished.into_values().collect(), RunWrite::End),
    )
    .await?;
    add_late_usage(&txn, late, &mut tokens).await?;
    add_token_usage(&txn, tokens).await?;
    txn.commit().await?;
    Ok(results)
}

/// Adds tokens to users' days: `((user, day), tokens)`.
pub(super) async fn add_token_usage(
    txn: &DatabaseTransaction,
    tokens: HashMap<(String, i64), i64>,
) -> Result<(), DbErr> {
    if tokens.is_empty() {
        return Ok(());
    }
    let rows = tokens
        .into_iter()
        .map(|((owner, day), count)| token_usage::ActiveModel {
            owner: Set(owner),
            day: Set(day),
            tokens: Set(count),
        });
    token_usage::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([token_usage::Column::Owner, token_usage::Column::Day])
                .value(
                    token_usage::Column::Tokens,
                    Expr::cust("agentos_token_usage.tokens + excluded.tokens"),
                )
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The rows of `sessions`, each id once and in order of id: PostgreSQL refuses an upsert
/// that touches one row twice (a run's start and end may carry the same session), and
/// concurrent batches that lock rows in one order never wait on each other.
fn once_each(mut sessions: Vec<SessionRow>) -> Vec<SessionRow> {
    sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    sessions.dedup_by(|a, b| a.session_id == b.session_id);
    sessions
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, waiting in the busy handler if need be): a deferred one reads a snapshot first,
/// and when another connection (a query of the user's own through `Store::connection`)
/// commits before it writes, SQLite refuses the write outright instead of waiting. PostgreSQL
/// ignores the mode.
pub(super) async fn begin_write(writer: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    writer
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
}

/// Executes `statements` as one SQLite transaction in a single call: `BEGIN`, the statements,
/// `COMMIT`, the way SQLite's driver runs a text of several statements. When any of them
/// fails, what the transaction did is rolled back.
async fn commit_at_once(
    writer: &DatabaseConnection,
    statements: Vec<Statement>,
) -> Result<(), DbErr> {
    if statements.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("BEGIN IMMEDIATE;\n");
    let mut values = Vec::new();
    for statement in statements {
        sql.push_str(&statement.sql);
        sql.push_str(";\n");
        if let Some(sea_orm::Values(more)) = statement.values {
            values.extend(more);
        }
    }
    sql.push_str("COMMIT");
    let all = Statement::from_sql_and_values(DatabaseBackend::Sqlite, sql, values);
    match writer.execute_raw(all).await {
        Ok(_) => Ok(()),
        Err(error) => {
            // The transaction may be open still (a statement or the commit failed): end it.
            // Failing here means none was open.
            let _ = writer.execute_unprepared("ROLLBACK").await;
            Err(error)
        }
    }
}

/// Executes `statements` in order within `txn`.
async fn execute(txn: &DatabaseTransaction, statements: Vec<Statement>) -> Result<(), DbErr> {
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// Claims idempotency keys for their runs; returns the starts refused because another run
/// holds their key.
async fn claim_keys(
    txn: &DatabaseTransaction,
    claims: Vec<(usize, KeyClaim)>,
) -> Result<Vec<(usize, StoreError)>, DbErr> {
    let mut unique = HashSet::new();
    let rows: Vec<idempotency_key::ActiveModel> = claims
        .iter()
        .filter(|(_, claim)| unique.insert(claim.scope()))
        .map(|(_, claim)| idempotency_key::ActiveModel {
            owner: Set(claim.owner.clone()),
            component_type: Set(claim.kind),
            component_id: Set(claim.component_id.clone()),
            key: Set(claim.key.clone()),
            fingerprint: Set(claim.fingerprint.clone()),
            run_id: Set(claim.run_id.clone()),
            created_at: Set(claim.created_at),
        })
        .collect();
    idempotency_key::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                idempotency_key::Column::Owner,
                idempotency_key::Column::ComponentType,
                idempotency_key::Column::ComponentId,
                idempotency_key::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    let mut refused = Vec::new();
    // Keys are rare and few per batch: each is read back by its primary key.
    for (index, claim) in claims {
        let holder = idempotency_key::Entity::find_by_id((
            claim.owner.clone(),
            claim.kind,
            claim.component_id.clone(),
            claim.key.clone(),
        ))
        .one(txn)
        .await?;
        if let Some(holder) = holder.filter(|holder| holder.run_id != claim.run_id) {
            refused.push((
                index,
                StoreError::KeyTaken {
                    run_id: holder.run_id,
                    same_request: holder.fingerprint == claim.fingerprint,
                },
            ));
        }
    }
    Ok(refused)
}

/// An idempotency key a starting run claims.
#[derive(Clone, Debug)]
pub(super) struct KeyClaim {
    pub(super) owner: String,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
    pub(super) key: String,
    pub(super) fingerprint: String,
    pub(super) run_id: String,
    pub(super) created_at: i64,
}

impl KeyClaim {
    fn scope(&self) -> (String, ComponentKind, String, String) {
        (
            self.owner.clone(),
            self.kind,
            self.component_id.clone(),
            self.key.clone(),
        )
    }
}
