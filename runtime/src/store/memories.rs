//! User memories: what agents remember of a user, kept per `(namespace, user_id)`.
//!
//! Every read and write names its [`MemoryScope`] (one owner, or a whole namespace for an
//! admin), and every statement filters on it: a memory of another user, or of the same user
//! id in another namespace (tenant), is answered as missing.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::Value;

use super::entity::memory;
use super::error::StoreError;
use super::pool::Store;
use crate::meta::new_id;
use crate::time::now_micros;

/// Whose memories: a user within a namespace (a tenant; `""` on a server without one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemoryOwner {
    /// The tenant, from the verified identity.
    pub namespace: String,
    /// The user.
    pub user_id: String,
}

/// Which memories a read or write may reach: one owner's, or every user's of one namespace
/// (an admin's view of their tenant). Nothing reaches across namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemoryScope {
    /// One user's memories within a namespace.
    User(MemoryOwner),
    /// Every user's memories within a namespace.
    Namespace(String),
}

impl MemoryScope {
    fn condition(&self) -> sea_orm::Condition {
        match self {
            MemoryScope::User(owner) => sea_orm::Condition::all()
                .add(memory::Column::Namespace.eq(owner.namespace.as_str()))
                .add(memory::Column::UserId.eq(owner.user_id.as_str())),
            MemoryScope::Namespace(namespace) => {
                sea_orm::Condition::all().add(memory::Column::Namespace.eq(namespace.as_str()))
            }
        }
    }
}

impl From<MemoryOwner> for MemoryScope {
    fn from(owner: MemoryOwner) -> Self {
        MemoryScope::User(owner)
    }
}

impl From<&MemoryOwner> for MemoryScope {
    fn from(owner: &MemoryOwner) -> Self {
        MemoryScope::User(owner.clone())
    }
}

impl From<&MemoryScope> for MemoryScope {
    fn from(scope: &MemoryScope) -> Self {
        scope.clone()
    }
}

/// How many memories one user has in a scope, and when the newest changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMemoryStats {
    /// The user.
    pub user_id: String,
    /// How many memories they have.
    pub total_memories: u64,
    /// Unix microseconds of their latest change.
    pub last_updated_at: i64,
}

/// A memory to write.
#[derive(Clone, Debug, Default)]
pub struct NewMemory {
    /// What to remember.
    pub memory: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// The message it was learned from.
    pub input: Option<String>,
    /// The agent writing it.
    pub agent_id: Option<String>,
    /// The team writing it.
    pub team_id: Option<String>,
}

/// A memory as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMemory {
    /// Its id.
    pub memory_id: String,
    /// Whose it is.
    pub owner: MemoryOwner,
    /// What is remembered.
    pub memory: String,
    /// Its topics.
    pub topics: Vec<String>,
    /// The message it was learned from.
    pub input: Option<String>,
    /// The agent that wrote it.
    pub agent_id: Option<String>,
    /// The team that wrote it.
    pub team_id: Option<String>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub updated_at: i64,
}

impl From<memory::Model> for StoredMemory {
    fn from(row: memory::Model) -> Self {
        let topics = match row.topics {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        StoredMemory {
            memory_id: row.memory_id,
            owner: MemoryOwner {
                namespace: row.namespace,
                user_id: row.user_id,
            },
            memory: row.memory,
            topics,
            input: row.input,
            agent_id: row.agent_id,
            team_id: row.team_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Which of an owner's memories a listing shows, and in what order.
#[derive(Clone, Debug, Default)]
pub struct MemoryQuery {
    /// Only those written by this agent.
    pub agent_id: Option<String>,
    /// Only those written by this team.
    pub team_id: Option<String>,
    /// Only those with at least one of these topics.
    pub topics: Vec<String>,
    /// Only those whose text contains this, whatever the case.
    pub search: Option<String>,
    /// Oldest first instead of newest first.
    pub ascending: bool,
    /// Order by creation instead of last update.
    pub by_created: bool,
}

impl MemoryQuery {
    fn keeps(&self, memory: &StoredMemory) -> bool {
        let search = self.search.as_ref().map(|text| text.to_lowercase());
        self.agent_id
            .as_ref()
            .is_none_or(|id| memory.agent_id.as_ref() == Some(id))
            && self
                .team_id
                .as_ref()
                .is_none_or(|id| memory.team_id.as_ref() == Some(id))
            && (self.topics.is_empty() || memory.topics.iter().any(|t| self.topics.contains(t)))
            && search.is_none_or(|text| memory.memory.to_lowercase().contains(&text))
    }
}

impl Store {
    /// Writes a new memory for `owner`.
    pub async fn add_memory(
        &self,
        owner: &MemoryOwner,
        new: NewMemory,
    ) -> Result<StoredMemory, StoreError> {
        let now = now_micros();
        let row = memory::Model {
            memory_id: new_id(),
            namespace: owner.namespace.clone(),
            user_id: owner.user_id.clone(),
            memory: new.memory,
            topics: Value::from(new.topics),
            input: new.input,
            agent_id: new.agent_id,
            team_id: new.team_id,
            created_at: now,
            updated_at: now,
        };
        let active = memory::ActiveModel {
            memory_id: Set(row.memory_id.clone()),
            namespace: Set(row.namespace.clone()),
            user_id: Set(row.user_id.clone()),
            memory: Set(row.memory.clone()),
            topics: Set(row.topics.clone()),
            input: Set(row.input.clone()),
            agent_id: Set(row.agent_id.clone()),
            team_id: Set(row.team_id.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        memory::Entity::insert(active)
            .exec_without_returning(&self.writer)
            .await?;
        Ok(row.into())
    }

    /// One memory in `scope`; `None` when it is missing or outside it.
    pub async fn memory(
        &self,
        scope: impl Into<MemoryScope>,
        memory_id: &str,
    ) -> Result<Option<StoredMemory>, StoreError> {
        Ok(memory::Entity::find_by_id(memory_id.to_owned())
            .filter(scope.into().condition())
            .one(&self.conn)
            .await?
            .map(StoredMemory::from))
    }

    /// Replaces the text (and, when given, the topics) of one memory in `scope` and returns
    /// it as it now is; `None`, writing nothing, when it is missing or outside it.
    pub async fn update_memory(
        &self,
        scope: impl Into<MemoryScope>,
        memory_id: &str,
        text: String,
        topics: Option<Vec<String>>,
    ) -> Result<Option<StoredMemory>, StoreError> {
        let scope = scope.into();
        let mut update = memory::Entity::update_many()
            .col_expr(memory::Column::Memory, Expr::value(text))
            .col_expr(memory::Column::UpdatedAt, Expr::value(now_micros()))
            .filter(memory::Column::MemoryId.eq(memory_id))
            .filter(scope.condition());
        if let Some(topics) = topics {
            update = update.col_expr(memory::Column::Topics, Expr::value(Value::from(topics)));
        }
        let updated = update.exec(&self.writer).await?;
        if updated.rows_affected == 0 {
            return Ok(None);
        }
        Ok(memory::Entity::find_by_id(memory_id.to_owned())
            .filter(scope.condition())
            .one(&self.writer)
            .await?
            .map(StoredMemory::from))
    }

    /// Deletes those of `memory_ids` that are in `scope`; returns how many went.
    pub async fn delete_memories(
        &self,
        scope: impl Into<MemoryScope>,
        memory_ids: &[String],
    ) -> Result<u64, StoreError> {
        if memory_ids.is_empty() {
            return Ok(0);
        }
        let deleted = memory::Entity::delete_many()
            .filter(memory::Column::MemoryId.is_in(memory_ids.iter().cloned()))
            .filter(scope.into().condition())
            .exec(&self.writer)
            .await?;
        Ok(deleted.rows_affected)
    }

    /// The memories in `scope` that `query` keeps, in its order: one user's memories are few,
    /// so they are read whole and filtered here, the same on SQLite and PostgreSQL.
    pub async fn list_memories(
        &self,
        scope: impl Into<MemoryScope>,
        query: &MemoryQuery,
    ) -> Result<Vec<StoredMemory>, StoreError> {
        let column = if query.by_created {
            memory::Column::CreatedAt
        } else {
            memory::Column::UpdatedAt
        };
        let select = memory::Entity::find().filter(scope.into().condition());
        let select = if query.ascending {
            select
                .order_by_asc(column)
                .order_by_asc(memory::Column::MemoryId)
        } else {
            select
                .order_by_desc(column)
                .order_by_desc(memory::Column::MemoryId)
        };
        Ok(select
            .all(&self.conn)
            .await?
            .into_iter()
            .map(StoredMemory::from)
            .filter(|memory| query.keeps(memory))
            .collect())
    }

    /// `owner`'s `limit` most recently changed memories, newest first.
    pub async fn recent_memories(
        &self,
        owner: &MemoryOwner,
        limit: u64,
    ) -> Result<Vec<StoredMemory>, StoreError> {
        Ok(memory::Entity::find()
            .filter(MemoryScope::from(owner).condition())
            .order_by_desc(memory::Column::UpdatedAt)
            .order_by_desc(memory::Column::MemoryId)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(StoredMemory::from)
            .collect())
    }

    /// Every topic of the memories in `scope`, sorted, once each.
    pub async fn memory_topics(
        &self,
        scope: impl Into<MemoryScope>,
    ) -> Result<Vec<String>, StoreError> {
        let mut topics: Vec<String> = self
            .list_memories(scope, &MemoryQuery::default())
            .await?
            .into_iter()
            .flat_map(|memory| memory.topics)
            .collect();
        topics.sort();
        topics.dedup();
        Ok(topics)
    }

    /// Each user's count of memories in `scope` and their latest change, the most recently
    /// changed user first.
    pub async fn memory_user_stats(
        &self,
        scope: impl Into<MemoryScope>,
    ) -> Result<Vec<UserMemoryStats>, StoreError> {
        let rows: Vec<(String, i64, i64)> = memory::Entity::find()
            .select_only()
            .column(memory::Column::UserId)
            .column_as(memory::Column::MemoryId.count(), "total")
            .column_as(memory::Column::UpdatedAt.max(), "last_updated_at")
            .filter(scope.into().condition())
            .group_by(memory::Column::UserId)
            .into_tuple()
            .all(&self.conn)
            .await?;
        let mut stats: Vec<UserMemoryStats> = rows
            .into_iter()
            .map(|(user_id, total, last_updated_at)| UserMemoryStats {
                user_id,
                total_memories: total.max(0) as u64,
                last_updated_at,
            })
            .collect();
        stats.sort_by(|a, b| {
            b.last_updated_at
                .cmp(&a.last_updated_at)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        Ok(stats)
    }
}
