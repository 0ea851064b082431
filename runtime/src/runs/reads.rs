//! Cancelling and reading runs and sessions, each behind the same owner check: what the
//! caller may not see is answered as if it did not exist.

use super::{Caller, RunError, RunEvents, RunService};
use crate::component::ComponentKind;
use crate::run::RunStatus;
use crate::store::{SessionPage, SessionQuery, StoredRun, StoredSession};

/// What a cancel request found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The run is being stopped (here, or by the replica running it).
    Stopping,
    /// The run had already ended, with this status.
    AlreadyEnded(RunStatus),
}

impl RunService {
    /// Stops the run `run_id` of the component `kind`/`id`, here or on the replica running it.
    pub(crate) async fn cancel(
        &self,
        kind: ComponentKind,
        id: &str,
        run_id: &str,
        caller: &Caller,
    ) -> Result<Cancelled, RunError> {
        let run = self.run(kind, id, run_id, caller).await?;
        if self.registry.cancel(run_id) || self.store.request_cancel(run_id).await? {
            return Ok(Cancelled::Stopping);
        }
        Ok(Cancelled::AlreadyEnded(run.status))
    }

    /// The run `run_id`, when it belongs to the component `kind`/`id` and the caller may see it.
    pub(crate) async fn run(
        &self,
        kind: ComponentKind,
        id: &str,
        run_id: &str,
        caller: &Caller,
    ) -> Result<StoredRun, RunError> {
        if !self.serves(kind, id) {
            return Err(RunError::UnknownComponent(kind));
        }
        self.store
            .run(run_id)
            .await?
            .filter(|run| {
                run.kind == kind
                    && run.component_id == id
                    && caller.may_access(run.user_id.as_deref())
            })
            .ok_or(RunError::RunNotFound)
    }

    /// The events of the run `run_id` after number `after`, then its live ones until it ends,
    /// whichever replica runs it; with `notices`, agno's resume notices first.
    pub(crate) async fn resume(
        &self,
        kind: ComponentKind,
        id: &str,
        run_id: &str,
        caller: &Caller,
        after: Option<u64>,
        notices: bool,
    ) -> Result<RunEvents, RunError> {
        let run = self.run(kind, id, run_id, caller).await?;
        Ok(self.follow(&run, after, notices))
    }

    /// The component's top-level runs in a session, oldest first; none for a session that is
    /// missing or not the caller's.
    pub(crate) async fn runs(
        &self,
        kind: ComponentKind,
        id: &str,
        session_id: &str,
        caller: &Caller,
    ) -> Result<Vec<StoredRun>, RunError> {
        if !self.serves(kind, id) {
            return Err(RunError::UnknownComponent(kind));
        }
        match self.visible_session(session_id, caller).await {
            Ok(_) => Ok(self.store.component_runs(kind, id, session_id).await?),
            Err(RunError::SessionNotFound) => Ok(Vec::new()),
            Err(other) => Err(other),
        }
    }

    /// A page of the sessions the caller may see.
    pub(crate) async fn sessions(
        &self,
        mut query: SessionQuery,
        caller: &Caller,
    ) -> Result<SessionPage, RunError> {
        // A caller who is not an admin cannot widen the filter to other users.
        if let Some(owner) = caller.visible_owner() {
            query.user_id = Some(owner.map(str::to_owned));
        }
        Ok(self.store.list_sessions(&query).await?)
    }

    /// A session the caller may see, with every run of it (member runs included), oldest first.
    pub(crate) async fn session(
        &self,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(StoredSession, Vec<StoredRun>), RunError> {
        let session = self.visible_session(session_id, caller).await?;
        let runs = self.store.session_runs(session_id).await?;
        Ok((session, runs))
    }

    /// Deletes a session the caller may see, with its runs. A session that is missing or not
    /// the caller's is left alone, and the answer is the same.
    pub(crate) async fn delete_session(
        &self,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(), RunError> {
        match self.visible_session(session_id, caller).await {
            Ok(_) => Ok(self.store.delete_session(session_id).await?),
            Err(RunError::SessionNotFound) => Ok(()),
            Err(other) => Err(other),
        }
    }

    pub(super) async fn visible_session(
        &self,
        session_id: &str,
        caller: &Caller,
    ) -> Result<StoredSession, RunError> {
        self.store
            .session(session_id)
            .await?
            .filter(|session| caller.may_access(session.user_id.as_deref()))
            .ok_or(RunError::SessionNotFound)
    }
}
