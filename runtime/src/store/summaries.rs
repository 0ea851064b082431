//! Session summaries: what a session has been about, rewritten after each of its runs by a
//! component that keeps them, and stored on the session's row.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::entity::session;
use super::error::StoreError;
use super::pool::Store;
use crate::time::now_micros;

/// A session's summary as stored (agno's `session_summary`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSummary {
    /// The summary.
    pub summary: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// Unix microseconds.
    pub updated_at: i64,
}

impl StoredSummary {
    pub(super) fn from_json(value: Value) -> Option<Self> {
        Some(StoredSummary {
            summary: value.get("summary")?.as_str()?.to_owned(),
            topics: value
                .get("topics")
                .and_then(Value::as_array)
                .map(|topics| {
                    topics
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            updated_at: value.get("updated_at").and_then(Value::as_i64)?,
        })
    }
}

impl Store {
    /// Replaces the summary of the session `session_id`; false when there is no such session
    /// (deleted meanwhile).
    pub async fn set_session_summary(
        &self,
        session_id: &str,
        summary: &str,
        topics: &[String],
    ) -> Result<bool, StoreError> {
        let value = json!({"summary": summary, "topics": topics, "updated_at": now_micros()});
        let updated = session::Entity::update_many()
            .col_expr(session::Column::Summary, Expr::value(value))
            .filter(session::Column::SessionId.eq(session_id))
            .exec(&self.writer)
            .await?;
        Ok(updated.rows_affected > 0)
    }
}
