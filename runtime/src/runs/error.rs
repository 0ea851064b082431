//! `RunError`: why the run service refused a request or could not answer it.

use crate::component::ComponentKind;
use crate::error::FactoryError;
use crate::status::RunStatus;
use crate::store::StoreError;

/// Why the run service refused a request or could not answer it.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No component of this kind has that id.
    #[error("{} not found", .0.label())]
    UnknownComponent(ComponentKind),
    /// No such run, or not one the caller may see.
    #[error("run not found")]
    RunNotFound,
    /// No such session, or not one the caller may use.
    #[error("Session not found")]
    SessionNotFound,
    /// A value the store could not hold or that breaks a rule of the API.
    #[error("{0}")]
    Invalid(String),
    /// The factory refused or failed.
    #[error(transparent)]
    Factory(#[from] FactoryError),
    /// The factory did not return within the configured bound.
    #[error("the factory did not finish within {0} s")]
    FactoryTimeout(u64),
    /// The server is shutting down and takes no new runs.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The run's task was stopped before it could answer (the runtime is going away).
    #[error("the run was interrupted")]
    Interrupted,
    /// Another run of the session is in progress and the strategy is `reject`.
    #[error("another run of this session is in progress")]
    SessionBusy,
    /// The idempotency key was used before with a different request.
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    /// The run is not waiting for a person (it runs, or has ended).
    #[error("the run is not paused (it is {})", .0.as_str())]
    NotPaused(RunStatus),
    /// The caller is over one of their limits.
    #[error("over the limit of {limit}; try again in {retry_after} s")]
    LimitExceeded {
        /// Which limit.
        limit: &'static str,
        /// Seconds until a run would be let through.
        retry_after: u64,
    },
    /// The run finished, but its end could not be stored within the retries.
    #[error("the run finished but could not be recorded; read it back later as run {0}")]
    NotRecorded(String),
    /// The store did not answer.
    #[error(transparent)]
    Store(StoreError),
    /// A session with the requested id already exists.
    #[error("the session already exists")]
    SessionExists,
    /// No such memory, or not one the caller may reach.
    #[error("Memory not found")]
    MemoryNotFound,
    /// The request is about a user's memories and names no user.
    #[error("User ID is required")]
    UserRequired,
    /// A memory's text is empty or too long.
    #[error(transparent)]
    MemoryText(#[from] MemoryTextError),
}

/// A memory's text the API refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryTextError {
    /// It is empty.
    #[error("memory must have at least 1 character")]
    Empty,
    /// It is longer than the bound.
    #[error("memory must have at most {max} characters")]
    TooLong {
        /// The most characters a memory may hold.
        max: usize,
    },
}

impl From<StoreError> for RunError {
    fn from(error: StoreError) -> Self {
        match error {
            // Told apart from absence nowhere: a foreign session is answered as a missing one.
            StoreError::ForeignSession => RunError::SessionNotFound,
            other => RunError::Store(other),
        }
    }
}
