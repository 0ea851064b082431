//! The rest of agno's session surface: creating, renaming, changing and deleting sessions,
//! one run of a session, and the metrics and events listings add. Every operation checks the
//! owner as the reads do: a session belongs to the user who created it, and one the caller
//! may not touch is answered as if it did not exist. Reading is open to admins; changing a
//! session is for its owner.

use std::collections::HashMap;

use serde_json::Value;

use super::{Caller, RunError, RunService, limits};
use crate::component::ComponentKind;
use crate::meta::new_id;
use crate::run::RunMetrics;
use crate::store::sessions::{NewSession, SessionChanges};
use crate::store::{SessionPage, SessionQuery, StoredRun, StoredSession};

/// A session to create before any run (`POST /sessions`).
#[derive(Clone, Debug, Default)]
pub struct SessionCreate {
    /// The id; a fresh one when `None`.
    pub session_id: Option<String>,
    /// The component it is for: a later run of that component (by the same user) continues it.
    pub component_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its initial state.
    pub state: Option<Value>,
    /// Its metadata.
    pub metadata: Option<Value>,
}

/// A change to a session (`PATCH /sessions/{id}`, `POST /sessions/{id}/rename`).
#[derive(Clone, Debug, Default)]
pub struct SessionChange {
    /// A new name.
    pub name: Option<String>,
    /// A new state.
    pub state: Option<Value>,
    /// New metadata.
    pub metadata: Option<Value>,
}

/// A session with everything its detail shows.
pub(crate) struct SessionDetail {
    pub(crate) session: StoredSession,
    pub(crate) runs: Vec<StoredRun>,
    pub(crate) metrics: Option<RunMetrics>,
}

impl RunService {
    /// Creates an empty session of `kind` owned by the caller. Refused with
    /// [`RunError::SessionExists`] when the id is taken, whoever holds it: the answer says
    /// nothing about another user's session.
    pub(crate) async fn create_session(
        &self,
        kind: ComponentKind,
        create: SessionCreate,
        caller: &Caller,
    ) -> Result<SessionDetail, RunError> {
        let session_id = create
            .session_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(new_id);
        limits::check_id("session_id", &session_id)?;
        if let Some(user_id) = caller.user_id() {
            limits::check_id("user_id", user_id)?;
        }
        let component_id = create.component_id.unwrap_or_default();
        limits::check_id(kind.as_str(), &component_id)?;
        check_change(&create.name, &create.state, &create.metadata)?;
        let created = self
            .store
            .create_session(NewSession {
                session_id: session_id.clone(),
                kind,
                component_id,
                user_id: caller.user_id().map(str::to_owned),
                name: create.name,
                state: create.state,
                metadata: create.metadata,
            })
            .await?;
        if !created {
            return Err(RunError::SessionExists);
        }
        self.session_detail(&session_id, None, caller).await
    }

    /// Applies `change` to a session the caller owns.
    pub(crate) async fn update_session(
        &self,
        session_id: &str,
        kind: Option<ComponentKind>,
        change: SessionChange,
        caller: &Caller,
    ) -> Result<SessionDetail, RunError> {
        let session = self.visible_session(session_id, caller).await?;
        if !caller.owns(session.user_id.as_deref()) || kind.is_some_and(|k| k != session.kind) {
            return Err(RunError::SessionNotFound);
        }
        check_change(&change.name, &change.state, &change.metadata)?;
        self.store
            .update_session(
                session_id,
                SessionChanges {
                    name: change.name,
                    state: change.state,
                    metadata: change.metadata,
                },
            )
            .await?
            .ok_or(RunError::SessionNotFound)?;
        self.session_detail(session_id, kind, caller).await
    }

    /// Deletes the sessions the caller may delete, as `DELETE /sessions/{id}` does one by
    /// one; the others are left alone, and the answer is the same.
    pub(crate) async fn delete_sessions(
        &self,
        sessions: &[(String, Option<ComponentKind>)],
        caller: &Caller,
    ) -> Result<(), RunError> {
        let mut deletable = Vec::with_capacity(sessions.len());
        for (session_id, kind) in sessions {
            match self.visible_session(session_id, caller).await {
                Ok(session) if kind.is_none_or(|k| k == session.kind) => {
                    deletable.push(session.session_id)
                }
                Ok(_) | Err(RunError::SessionNotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(self.store.delete_sessions(&deletable).await?)
    }

    /// A session the caller may see (of `kind`, when given) with all its runs and metrics.
    pub(crate) async fn session_detail(
        &self,
        session_id: &str,
        kind: Option<ComponentKind>,
        caller: &Caller,
    ) -> Result<SessionDetail, RunError> {
        let (session, runs) = self.session(session_id, caller).await?;
        if kind.is_some_and(|k| k != session.kind) {
            return Err(RunError::SessionNotFound);
        }
        let metrics = self
            .store
            .session_metrics(std::slice::from_ref(&session.session_id))
            .await?
            .remove(&session.session_id);
        Ok(SessionDetail {
            session,
            runs,
            metrics,
        })
    }

    /// A page of the sessions the caller may see, with each one's metrics.
    pub(crate) async fn session_listing(
        &self,
        query: SessionQuery,
        caller: &Caller,
    ) -> Result<(SessionPage, HashMap<String, RunMetrics>), RunError> {
        let page = self.sessions(query, caller).await?;
        let ids: Vec<String> = page.sessions.iter().map(|s| s.session_id.clone()).collect();
        let metrics = self.store.session_metrics(&ids).await?;
        Ok((page, metrics))
    }

    /// Every run of a session the caller may see, with the events of those that streamed.
    pub(crate) async fn session_runs(
        &self,
        session_id: &str,
        kind: Option<ComponentKind>,
        caller: &Caller,
    ) -> Result<(Vec<StoredRun>, HashMap<String, Value>), RunError> {
        let detail = self.session_detail(session_id, kind, caller).await?;
        let ids: Vec<String> = detail.runs.iter().map(|r| r.run_id.clone()).collect();
        let events = self.store.run_events(&ids).await?;
        Ok((detail.runs, events))
    }

    /// One run of a session the caller may see, with its events if it streamed.
    pub(crate) async fn session_run(
        &self,
        session_id: &str,
        run_id: &str,
        caller: &Caller,
    ) -> Result<(StoredRun, Option<Value>), RunError> {
        self.visible_session(session_id, caller).await?;
        let run = self
            .store
            .run(run_id)
            .await?
            .filter(|run| run.session_id == session_id)
            .ok_or(RunError::RunNotFound)?;
        let events = self
            .store
            .run_events(std::slice::from_ref(&run.run_id))
            .await?
            .remove(&run.run_id);
        Ok((run, events))
    }

    /// Runs of one component in a session, with the events of those that streamed.
    pub(crate) async fn component_runs_with_events(
        &self,
        kind: ComponentKind,
        id: &str,
        session_id: &str,
        caller: &Caller,
    ) -> Result<(Vec<StoredRun>, HashMap<String, Value>), RunError> {
        let runs = self.runs(kind, id, session_id, caller).await?;
        let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
        let events = self.store.run_events(&ids).await?;
        Ok((runs, events))
    }
}

/// Refuses what the store could not hold.
fn check_change(
    name: &Option<String>,
    state: &Option<Value>,
    metadata: &Option<Value>,
) -> Result<(), RunError> {
    if let Some(name) = name {
        limits::check_text("session_name", name)?;
    }
    if let Some(state) = state {
        limits::check_json("session_state", state)?;
    }
    if let Some(metadata) = metadata {
        limits::check_json("metadata", metadata)?;
    }
    Ok(())
}
