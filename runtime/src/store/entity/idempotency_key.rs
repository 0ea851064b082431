//! `agentos_idempotency_keys`: which run an `Idempotency-Key` of a run request created.

use sea_orm::entity::prelude::*;

use crate::component::ComponentKind;

/// One key, scoped to its user and component.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_idempotency_keys")]
pub struct Model {
    /// The user the key belongs to (empty for requests without one).
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    /// Team or agent.
    #[sea_orm(primary_key, auto_increment = false)]
    pub component_type: ComponentKind,
    /// The component's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub component_id: String,
    /// The key as the client sent it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// A digest of the request's fields: the same key with another request is refused.
    pub fingerprint: String,
    /// The run the key created.
    pub run_id: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// Keys relate to nothing through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
