//! A start the run does not wait for.
//!
//! A run in a session the server made for it, claiming no idempotency key and answered whole,
//! has nothing that could refuse its start: no one else can hold the session, there is no key
//! to lose, and its ids reach no one before its end is stored. So its start is not written
//! before it begins. A run that ends within its first moments is written once, by its end; one
//! that goes on has its start sent then ([`DeferredStart::send`]) and carries on while it
//! commits, so it is visible as running and a crash leaves it marked interrupted.
//!
//! The run's end writes everything its start would have (the session's row, the run's
//! factory input and start time), so the end stands on its own whatever became of the start:
//! never sent, committed before it, in the same batch, or lost.

use std::time::Instant;

use tokio::sync::oneshot;

use super::error::StoreError;
use super::pool::Store;
use super::run_writes::{DeferredStart, FreshRun};
use super::writer::{BusyCheck, SessionOwner, WriteError, WriteJob, WriteOp};
use crate::metrics::{RetryReason, WriteKind};
use crate::run::RunStatus;
use crate::time::now_micros;

/// A run's start handed to the writer and not yet known to be committed.
pub struct StartCommit {
    committed: oneshot::Receiver<Result<(), WriteError>>,
    sent_at: Instant,
    /// The same write again, sent alone if the batch it went in was refused.
    again: WriteOp,
}

impl Store {
    /// The start of `run`, as of now, written by nothing yet.
    pub fn defer_start(&self, run: FreshRun<'_>) -> DeferredStart {
        let (session, run) = self.started_rows(run, RunStatus::Running, now_micros());
        DeferredStart { session, run }
    }
}

impl DeferredStart {
    /// Sends the start to the writer and returns without waiting for its commit:
    /// [`StartCommit::wait`] tells how it went. Writes sent after this one queue behind it.
    pub async fn send(&self, store: &Store) -> Result<StartCommit, StoreError> {
        let (done, committed) = oneshot::channel();
        let sent_at = Instant::now();
        store
            .writes
            .send(WriteJob {
                op: self.op(),
                alone: false,
                done,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(StartCommit {
            committed,
            sent_at,
            again: self.op(),
        })
    }

    fn op(&self) -> WriteOp {
        WriteOp::StartRun {
            owner: SessionOwner {
                new_session: true,
                session_id: self.session.session_id.clone(),
                kind: self.session.kind,
                component_id: self.session.component_id.clone(),
                user_id: self.session.user_id.clone(),
            },
            busy: BusyCheck::None,
            claim: None,
            session: Box::new(self.session.clone()),
            run: Box::new(self.run.clone()),
            deferred: true,
        }
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
