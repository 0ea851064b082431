//! `agentos_sessions`: one row per session.

use sea_orm::entity::prelude::*;

use crate::component::ComponentKind;

/// A session: the conversation a run belongs to.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_sessions")]
pub struct Model {
    /// The session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    /// The kind of component the session was created for.
    pub session_type: ComponentKind,
    /// The team or agent id.
    pub component_id: String,
    /// The user, if known.
    pub user_id: Option<String>,
    /// The first message, as agno names sessions.
    pub session_name: Option<String>,
    /// State a component keeps across runs.
    pub session_state: Json,
    /// Free-form metadata.
    pub metadata: Json,
    /// The session's summary, `{summary, topics, updated_at}`, when its component keeps one.
    pub summary: Option<Json>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// Sessions relate to nothing through sea-orm: runs are queried by session id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
