//! The memories table (`m8_memories`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, json, string, string_null, text, text_null};

#[derive(DeriveIden)]
enum AgentosMemories {
    Table,
    MemoryId,
    Namespace,
    UserId,
    Memory,
    Topics,
    Input,
    AgentId,
    TeamId,
    CreatedAt,
    UpdatedAt,
}

/// User memories, keyed by `(namespace, user_id)`: one tenant's user never reads another
/// tenant's user's memories, whatever their ids.
pub(super) struct CreateMemories;

impl MigrationName for CreateMemories {
    fn name(&self) -> &str {
        "m8_memories"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMemories {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentosMemories::Table)
                    .if_not_exists()
                    .col(string(AgentosMemories::MemoryId).primary_key())
                    .col(string(AgentosMemories::Namespace))
                    .col(string(AgentosMemories::UserId))
                    .col(text(AgentosMemories::Memory))
                    .col(json(AgentosMemories::Topics))
                    .col(text_null(AgentosMemories::Input))
                    .col(string_null(AgentosMemories::AgentId))
                    .col(string_null(AgentosMemories::TeamId))
                    .col(big_integer(AgentosMemories::CreatedAt))
                    .col(big_integer(AgentosMemories::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("agentos_memories_owner_updated")
                    .table(AgentosMemories::Table)
                    .col(AgentosMemories::Namespace)
                    .col(AgentosMemories::UserId)
                    .col(AgentosMemories::UpdatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentosMemories::Table).to_owned())
            .await
    }
}
