//! `StoreError`: why the store could not answer.

use sea_orm::DbErr;

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the statement.
    #[error("the session store is unavailable")]
    Unavailable(#[source] DbErr),
    /// The store's writer has stopped (the process is shutting down).
    #[error("the session store is closed")]
    Closed,
    /// A stored value could not be read back.
    #[error("a stored value is unreadable: {0}")]
    Corrupt(String),
    /// The run names a session that belongs to another user or component.
    #[error("the session belongs to someone else")]
    ForeignSession,
    /// Another run of the session is running or queued.
    #[error("another run of the session is in progress")]
    SessionBusy,
    /// The idempotency key belongs to another run.
    #[error("the idempotency key was used by run {run_id}")]
    KeyTaken {
        /// The run that holds the key.
        run_id: String,
        /// Whether that run was started by the same request.
        same_request: bool,
    },
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        StoreError::Unavailable(error)
    }
}
