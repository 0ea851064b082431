//! `RunStatus`: where a run stands, in agno's words, shared by the engine, the store, the
//! metrics and the HTTP answers.

use serde::{Deserialize, Serialize};

/// Where a run stands. Stored as its agno name (`RUNNING`, ...).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum RunStatus {
    /// Accepted, not yet running.
    #[default]
    #[sea_orm(string_value = "PENDING")]
    Pending,
    /// Running.
    #[sea_orm(string_value = "RUNNING")]
    Running,
    /// Stopped until a person answers (human in the loop).
    #[sea_orm(string_value = "PAUSED")]
    Paused,
    /// Finished with an answer.
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    /// Failed; `content` says why.
    #[sea_orm(string_value = "ERROR")]
    Error,
    /// Stopped by a cancel request or a client that went away.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl RunStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Running => "RUNNING",
            RunStatus::Paused => "PAUSED",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Error => "ERROR",
            RunStatus::Cancelled => "CANCELLED",
        }
    }

    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Error | RunStatus::Cancelled
        )
    }
}
