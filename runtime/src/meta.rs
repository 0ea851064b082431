//! Who a run belongs to and where it sits: the caller's [`Identity`], fresh ids, and
//! `RunMeta`, built once per run and shared by the factory's context, the engine, its events,
//! and the store.

use std::sync::Arc;

/// Where the user id of a request came from.
///
/// Factories should only make security decisions on [`Identity::Verified`]: an asserted id is
/// whatever the client put in the `user_id` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The subject of a token the server verified.
    Verified(String),
    /// A `user_id` the client sent while authentication is off.
    Asserted(String),
    /// No user id at all.
    Anonymous,
}

impl Identity {
    /// The user id, whatever its provenance.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Identity::Verified(id) | Identity::Asserted(id) => Some(id),
            Identity::Anonymous => None,
        }
    }

    /// True only for a subject taken from a verified token.
    pub fn is_verified(&self) -> bool {
        matches!(self, Identity::Verified(_))
    }
}

/// A fresh id in the UUID form agno clients expect. Version 7: it starts with the time, so
/// the ids of runs and sessions made one after another sort together, and the store's indexes
/// on them take each new id near the last instead of on a random page (a random page per run
/// was most of what a commit wrote).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The ids of one run: its own, its session's, its user's, and its place in a tree of runs
/// (a member run has the team run as parent, one level deeper for a nested team).
///
/// Cheap to clone: the ids are shared.
///
/// ```
/// use agentos_runtime::Identity;
/// use agentos_runtime::run::RunMeta;
///
/// let meta = RunMeta::new(Some("sess-1".into()), Identity::Asserted("ada".into()));
/// assert_eq!(meta.session_id(), "sess-1");
/// assert_eq!(meta.user_id(), Some("ada"));
/// assert_eq!(meta.depth(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunMeta {
    run_id: Arc<str>,
    session_id: Arc<str>,
    identity: Identity,
    parent_run_id: Option<Arc<str>>,
    depth: u32,
}

impl RunMeta {
    /// A top-level run with a fresh id, in `session_id` (a fresh session when `None`).
    pub fn new(session_id: Option<String>, identity: Identity) -> Self {
        RunMeta {
            run_id: Arc::from(new_id()),
            session_id: Arc::from(session_id.unwrap_or_else(new_id)),
            identity,
            parent_run_id: None,
            depth: 0,
        }
    }

    /// A top-level run with the ids a test chooses.
    #[cfg(feature = "testing")]
    pub fn for_test(run_id: &str, session_id: &str, identity: Identity) -> Self {
        Self::resumed(run_id, session_id, identity)
    }

    /// A member's run: the same session and user, a fresh id, this run as parent.
    pub(crate) fn child(&self, depth: u32) -> Self {
        RunMeta {
            run_id: Arc::from(new_id()),
            session_id: Arc::clone(&self.session_id),
            identity: self.identity.clone(),
            parent_run_id: Some(Arc::clone(&self.run_id)),
            depth,
        }
    }

    /// The same run for another user (for tests of factories).
    #[cfg(feature = "testing")]
    pub(crate) fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// The same run in another session (for tests of factories).
    #[cfg(feature = "testing")]
    pub(crate) fn with_session(mut self, session_id: String) -> Self {
        self.session_id = Arc::from(session_id);
        self
    }

    /// A member's run that already has an id: a paused member going on.
    pub(crate) fn child_with_id(&self, run_id: &str, depth: u32) -> Self {
        RunMeta {
            run_id: Arc::from(run_id),
            ..self.child(depth)
        }
    }

    /// A top-level run that already has an id and a session: a paused run going on.
    pub(crate) fn resumed(run_id: &str, session_id: &str, identity: Identity) -> Self {
        RunMeta {
            run_id: Arc::from(run_id),
            session_id: Arc::from(session_id),
            identity,
            parent_run_id: None,
            depth: 0,
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The session the run belongs to.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Who the run is for, with the provenance of the id.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The user id, verified or asserted.
    pub fn user_id(&self) -> Option<&str> {
        self.identity.user_id()
    }

    /// For a member run: the run that delegated to it.
    pub fn parent_run_id(&self) -> Option<&str> {
        self.parent_run_id.as_deref()
    }

    /// How deep in nested teams the run is (0 for the top-level run and its direct members).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    pub(crate) fn run_id_arc(&self) -> &Arc<str> {
        &self.run_id
    }

    pub(crate) fn session_id_arc(&self) -> &Arc<str> {
        &self.session_id
    }

    pub(crate) fn parent_run_id_arc(&self) -> Option<&Arc<str>> {
        self.parent_run_id.as_ref()
    }
}
