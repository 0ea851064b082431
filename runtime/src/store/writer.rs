//! The writer task: run lifecycle writes committed in groups, and the rule that one bad write
//! fails only itself.
//!
//! Under load one transaction carries every write that arrived while the previous one
//! committed (group commit), so the database sees far fewer commits than runs. When the
//! database refuses a batch's statement (a value it cannot store, a duplicate key), every write
//! of the batch is told so and comes back alone, in a transaction of its own: the bad one fails,
//! the others commit. When the database cannot be reached, the whole batch fails with that.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, RuntimeErr,
    TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::entity::{run, session};
use crate::component::ComponentKind;

/// The most writes committed together.
pub(super) const MAX_BATCH: usize = 256;

/// Who a session must belong to for a run to start in it.
pub(super) struct SessionOwner {
    pub(super) session_id: String,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
    pub(super) user_id: Option<String>,
}

/// One write of the run lifecycle, prepared by the caller so the writer only executes it.
pub(super) enum WriteOp {
    /// A run begins in a session that is new or belongs to `owner`: the session row (created
    /// by its first run) and the run's row.
    StartRun {
        owner: SessionOwner,
        session: Box<session::ActiveModel>,
        run: Box<run::ActiveModel>,
    },
    /// A run ended: its row, then one row per member run, keyed by run id.
    FinishRun {
        rows: Vec<(String, run::ActiveModel)>,
    },
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
pub(super) async fn write_loop(writer: DatabaseConnection, mut jobs: mpsc::Receiver<WriteJob>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
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

/// Commits `ops` in one transaction, however many runs they carry: one upsert of sessions,
/// one read of their owners, one insert of started runs, one upsert of finished runs. A run
/// that names a session of another owner is not inserted, and only its write says so.
async fn commit(
    writer: &DatabaseConnection,
    ops: Vec<WriteOp>,
) -> Result<Vec<Result<(), WriteError>>, DbErr> {
    let mut results: Vec<Result<(), WriteError>> = Vec::with_capacity(ops.len());
    let mut session_ids = HashSet::new();
    let mut sessions = Vec::new();
    let mut starts = Vec::new();
    // PostgreSQL refuses an upsert that touches one row twice: keep each key once.
    let mut finished: HashMap<String, run::ActiveModel> = HashMap::new();
    for (index, op) in ops.into_iter().enumerate() {
        results.push(Ok(()));
        match op {
            WriteOp::StartRun {
                owner,
                session,
                run,
            } => {
                if session_ids.insert(owner.session_id.clone()) {
                    sessions.push(*session);
                }
                starts.push((index, owner, *run));
            }
            WriteOp::FinishRun { rows } => finished.extend(rows),
        }
    }
    let txn = writer.begin().await?;
    if !sessions.is_empty() {
        // A session's first run creates it; a later run of its owner marks it updated. Another
        // owner's run changes nothing here and is refused below.
        session::Entity::insert_many(sessions)
            .on_conflict(
                OnConflict::column(session::Column::SessionId)
                    .update_column(session::Column::UpdatedAt)
                    .action_and_where(Expr::cust(
                        "agentos_sessions.user_id IS NOT DISTINCT FROM excluded.user_id \
                         AND agentos_sessions.session_type = excluded.session_type \
                         AND agentos_sessions.component_id = excluded.component_id",
                    ))
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        let owners: HashMap<String, (ComponentKind, String, Option<String>)> =
            session::Entity::find()
                .select_only()
                .columns([
                    session::Column::SessionId,
                    session::Column::SessionType,
                    session::Column::ComponentId,
                    session::Column::UserId,
                ])
                .filter(session::Column::SessionId.is_in(session_ids))
                .into_tuple::<(String, ComponentKind, String, Option<String>)>()
                .all(&txn)
                .await?
                .into_iter()
                .map(|(id, kind, component, user)| (id, (kind, component, user)))
                .collect();
        let mut accepted = Vec::with_capacity(starts.len());
        for (index, owner, run) in starts {
            let matches = owners
                .get(&owner.session_id)
                .is_some_and(|(kind, component, user)| {
                    *kind == owner.kind
                        && *component == owner.component_id
                        && *user == owner.user_id
                });
            if matches {
                accepted.push(run);
            } else {
                results[index] = Err(WriteError::Failed(StoreError::ForeignSession));
            }
        }
        if !accepted.is_empty() {
            run::Entity::insert_many(accepted)
                .exec_without_returning(&txn)
                .await?;
        }
    }
    if !finished.is_empty() {
        run::Entity::insert_many(finished.into_values())
            .on_conflict(
                OnConflict::column(run::Column::RunId)
                    .update_columns([
                        run::Column::Status,
                        run::Column::Output,
                        run::Column::Events,
                        run::Column::Metrics,
                        run::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(results)
}
