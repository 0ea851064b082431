//! `agentos_memories`: what agents remember of a user, one row a memory.

use sea_orm::entity::prelude::*;

/// A user memory, owned by a user within a namespace (a tenant): `(namespace, user_id)` is
/// the key every read and write filters on.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_memories")]
pub struct Model {
    /// The memory id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub memory_id: String,
    /// The tenant, from the verified identity; `""` when the server has none.
    pub namespace: String,
    /// The user it is about.
    pub user_id: String,
    /// What is remembered.
    pub memory: String,
    /// Topics, a JSON array of strings.
    pub topics: Json,
    /// The message it was learned from, if any.
    pub input: Option<String>,
    /// The agent that wrote it, if an agent did.
    pub agent_id: Option<String>,
    /// The team that wrote it, if a team did.
    pub team_id: Option<String>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// Memories relate to nothing through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
