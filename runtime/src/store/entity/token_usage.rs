//! `agentos_token_usage`: the model tokens a user's runs used in one UTC day.

use sea_orm::entity::prelude::*;

/// One user's tokens on one day.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agentos_token_usage")]
pub struct Model {
    /// The user (empty for runs without one).
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    /// Days since the Unix epoch, UTC.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: i64,
    /// Tokens used.
    pub tokens: i64,
}

/// Usage relates to nothing through sea-orm.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
