//! A start the run does not wait for.
//!
//! A run in a session the server made for it, claiming no idempotency key, has nothing that
//! could refuse its start: no one else can hold the session, and there is no key to lose. Its
//! start can go to the writer while the run begins, so the run's time and the start's commit
//! overlap, and under load its start and end often commit in one batch.
//!
//! The run's end then writes everything its start would have (the session's row, the run's
//! factory input and start time), so the end stands on its own whatever became of the start:
//! committed before it, in the same batch, or not at all.

use std::time::Instant;

use serde_json::Value;
use tokio::sync::oneshot;

use super::statements::SessionRow;
use super::writer::{BusyCheck, SessionOwner, WriteError, WriteJob, WriteOp};
use super::{Store, StoreError, now_micros};
use crate::component::ComponentKind;
use crate::metrics::{RetryReason, WriteKind};
use crate::run::{RunMeta, RunStatus};

/// A run in a session the server made for it, with no idempotency key: a start nothing but an
/// unreachable database can refuse.
#[derive(Clone, Copy, Debug)]
pub struct FreshRun<'a> {
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: &'a str,
    /// The run's ids (its session's id made by the server for it).
    pub meta: &'a RunMeta,
    /// The message.
    pub input: &'a str,
    /// The validated `factory_input`, when the component is a factory.
    pub factory_input: Option<&'a Value>,
}

/// A run's start handed to the writer and not yet known to be committed.
pub struct StartCommit {
    committed: oneshot::Receiver<Result<(), WriteError>>,
    sent_at: Instant,
    /// The same write again, sent alone if the batch it went in was refused.
    again: WriteOp,
}

/// What a run's start records that its end does not otherwise write; given to
/// [`Store::finish_run`], the end stands on its own.
#[derive(Debug)]
pub struct StartFacts {
    pub(super) session: SessionRow,
    pub(super) factory_input: Option<String>,
    pub(super) created_at: i64,
}

impl Store {
    /// Sends the start of `run` to the writer and returns without waiting for its commit:
    /// [`StartCommit::wait`] tells how it went, and the facts let the run's end stand without
    /// it. Writes sent after this one queue behind it.
    pub async fn send_start(
        &self,
        run: FreshRun<'_>,
    ) -> Result<(StartCommit, StartFacts), StoreError> {
        let op = |(session, row)| WriteOp::StartRun {
            owner: SessionOwner {
                new_session: true,
                session_id: run.meta.session_id().to_owned(),
                kind: run.kind,
                component_id: run.component_id.to_owned(),
                user_id: run.meta.user_id().map(str::to_owned),
            },
            busy: BusyCheck::None,
            claim: None,
            session: Box::new(session),
            run: Box::new(row),
        };
        let now = now_micros();
        let rows = || self.started_rows(run, RunStatus::Running, now);
        let (session, row) = rows();
        let facts = StartFacts {
            session: session.clone(),
            factory_input: row.factory_input.clone(),
            created_at: row.created_at,
        };
        let first = op((session, row));
        let again = op(rows());
        let (done, committed) = oneshot::channel();
        let sent_at = Instant::now();
        self.writes
            .send(WriteJob {
                op: first,
                alone: false,
                done,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        let commit = StartCommit {
            committed,
            sent_at,
            again,
        };
        Ok((commit, facts))
    }
}

impl StartCommit {
    /// Waits for the start to commit, sending it again alone when its batch was refused for
    /// another write's sake.
    pub async fn wait(self, store: &Store) -> Result<(), StoreError> {
        let outcome = self
            .committed
            .await
            .unwrap_or(Err(WriteError::Failed(StoreError::Closed)));
        if let Some(metrics) = &store.metrics {
            metrics.wrote(WriteKind::StartRun, self.sent_at.elapsed());
        }
        let outcome = match outcome {
            Err(WriteError::BatchRefused) => {
                store.count_retry(RetryReason::BatchRefused);
                store.write(self.again, true).await
            }
            outcome => outcome,
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(WriteError::Failed(error)) => Err(error),
            Err(WriteError::BatchRefused) => Err(StoreError::Closed),
        }
    }
}
