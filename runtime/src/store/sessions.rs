//! Sessions written directly rather than by their runs: created empty, renamed, changed and
//! deleted in bulk; and what session listings add to the rows, their runs' metrics and events.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};

use super::entity::{event, run, session};
use super::error::StoreError;
use super::pool::Store;
use super::rows::StoredSession;
use super::writer::begin_write;
use crate::component::ComponentKind;
use crate::run::RunMetrics;
use crate::time::now_micros;

/// Filters and paging of a session listing.
#[derive(Clone, Debug, Default)]
pub struct SessionQuery {
    /// Team or agent sessions only.
    pub kind: Option<ComponentKind>,
    /// The component id.
    pub component_id: Option<String>,
    /// The user id; `Some(None)` means sessions without a user.
    pub user_id: Option<Option<String>>,
    /// Page number, from 1.
    pub page: u64,
    /// Rows a page.
    pub limit: u64,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// Sort by creation instead of last update.
    pub by_created: bool,
}

impl SessionQuery {
    /// The greatest page number served: the page's offset then stays far inside 64 bits.
    pub const MAX_PAGE: u64 = 1_000_000_000;
    /// The most rows a page holds.
    pub const MAX_LIMIT: u64 = 200;
}

/// A session listing's page and the total behind it.
#[derive(Clone, Debug)]
pub struct SessionPage {
    /// The sessions of this page.
    pub sessions: Vec<StoredSession>,
    /// How many sessions match in all.
    pub total: u64,
}

/// A session created before any run, as `POST /sessions` asks.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Its id.
    pub session_id: String,
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component it is for (empty when the client named none: no run can then use it).
    pub component_id: String,
    /// Its owner.
    pub user_id: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its initial state.
    pub state: Option<Value>,
    /// Its metadata.
    pub metadata: Option<Value>,
}

/// What a change to a session sets; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SessionChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new state.
    pub state: Option<Value>,
    /// New metadata.
    pub metadata: Option<Value>,
}

impl Store {
    /// Creates a session with no runs. False, writing nothing, when the id is taken.
    pub async fn create_session(&self, new: NewSession) -> Result<bool, StoreError> {
        let now = now_micros();
        let row = session::ActiveModel {
            session_id: Set(new.session_id),
            session_type: Set(new.kind),
            component_id: Set(new.component_id),
            user_id: Set(new.user_id),
            session_name: Set(new.name),
            session_state: Set(new.state.unwrap_or_else(|| json!({}))),
            metadata: Set(new.metadata.unwrap_or_else(|| json!({}))),
            summary: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let inserted = session::Entity::insert(row)
            .on_conflict(
                OnConflict::column(session::Column::SessionId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await;
        match inserted {
            Ok(rows) => Ok(rows > 0),
            Err(DbErr::RecordNotInserted) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Applies `changes` to a session and returns it as it now is; `None` when it is missing.
    pub async fn update_session(
        &self,
        session_id: &str,
        changes: SessionChanges,
    ) -> Result<Option<StoredSession>, StoreError> {
        let mut update = session::Entity::update_many()
            .col_expr(session::Column::UpdatedAt, Expr::value(now_micros()))
            .filter(session::Column::SessionId.eq(session_id));
        if let Some(name) = changes.name {
            update = update.col_expr(session::Column::SessionName, Expr::value(name));
        }
        if let Some(state) = changes.state {
            update = update.col_expr(session::Column::SessionState, Expr::value(state));
        }
        if let Some(metadata) = changes.metadata {
            update = update.col_expr(session::Column::Metadata, Expr::value(metadata));
        }
        update.exec(&self.writer).await?;
        Ok(session::Entity::find_by_id(session_id.to_owned())
            .one(&self.writer)
            .await?
            .map(StoredSession::from))
    }

    /// Deletes sessions and their runs in one transaction; missing ones are no error.
    pub async fn delete_sessions(&self, session_ids: &[String]) -> Result<(), StoreError> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let txn = begin_write(&self.writer).await?;
        event::Entity::delete_many()
            .filter(
                event::Column::RunId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(run::Column::RunId)
                        .from(run::Entity)
                        .and_where(run::Column::SessionId.is_in(session_ids.iter().cloned()))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
        run::Entity::delete_many()
            .filter(run::Column::SessionId.is_in(session_ids.iter().cloned()))
            .exec(&txn)
            .await?;
        session::Entity::delete_many()
            .filter(session::Column::SessionId.is_in(session_ids.iter().cloned()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Each session's metrics: the sum of its top-level runs' tokens, model by model. A
    /// session without a finished run has none.
    pub async fn session_metrics(
        &self,
        session_ids: &[String],
    ) -> Result<HashMap<String, RunMetrics>, StoreError> {
        let mut totals: HashMap<String, RunMetrics> = HashMap::new();
        if session_ids.is_empty() {
            return Ok(totals);
        }
        let rows = run::Entity::find()
            .select_only()
            .column(run::Column::SessionId)
            .column(run::Column::Metrics)
            .filter(run::Column::SessionId.is_in(session_ids.iter().cloned()))
            .filter(run::Column::ParentRunId.is_null())
            .into_tuple::<(String, Option<Value>)>()
            .all(&self.conn)
            .await?;
        for (session_id, metrics) in rows {
            let Some(metrics) = metrics else { continue };
            let metrics: RunMetrics = serde_json::from_value(metrics)
                .map_err(|e| StoreError::Corrupt(format!("run metrics: {e}")))?;
            totals.entry(session_id).or_default().absorb(&metrics);
        }
        Ok(totals)
    }
}

impl Store {
    /// A page of sessions.
    pub async fn list_sessions(&self, query: &SessionQuery) -> Result<SessionPage, StoreError> {
        let mut select = session::Entity::find();
        if let Some(kind) = query.kind {
            select = select.filter(session::Column::SessionType.eq(kind));
        }
        if let Some(component) = &query.component_id {
            select = select.filter(session::Column::ComponentId.eq(component.as_str()));
        }
        match &query.user_id {
            Some(Some(user)) => select = select.filter(session::Column::UserId.eq(user.as_str())),
            Some(None) => select = select.filter(session::Column::UserId.is_null()),
            None => {}
        }
        let column = if query.by_created {
            session::Column::CreatedAt
        } else {
            session::Column::UpdatedAt
        };
        select = if query.ascending {
            select.order_by_asc(column)
        } else {
            select.order_by_desc(column)
        };
        let limit = query.limit.clamp(1, SessionQuery::MAX_LIMIT);
        let paginator = select.paginate(&self.conn, limit);
        let total = paginator.num_items().await?;
        // Bounded here too, so no caller's page can overflow the offset.
        let page = query.page.clamp(1, SessionQuery::MAX_PAGE);
        let sessions = paginator.fetch_page(page - 1).await?;
        Ok(SessionPage {
            sessions: sessions.into_iter().map(StoredSession::from).collect(),
            total,
        })
    }

    /// One session.
    pub async fn session(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
        Ok(session::Entity::find_by_id(session_id.to_owned())
            .one(&self.conn)
            .await?
            .map(StoredSession::from))
    }

    /// Deletes a session and its runs; deleting what is not there is not an error.
    pub async fn delete_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.delete_sessions(&[session_id.to_owned()]).await
    }
}
