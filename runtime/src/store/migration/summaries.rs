//! Session summaries (`m9_session_summaries`): a nullable JSON column on the sessions table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::json_null;

#[derive(DeriveIden)]
enum AgentosSessions {
    Table,
    Summary,
}

/// `{summary, topics, updated_at}` of a session whose component keeps summaries; `NULL`
/// otherwise.
pub(super) struct AddSessionSummaries;

impl MigrationName for AddSessionSummaries {
    fn name(&self) -> &str {
        "m9_session_summaries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddSessionSummaries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosSessions::Table)
                    .add_column(json_null(AgentosSessions::Summary))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosSessions::Table)
                    .drop_column(AgentosSessions::Summary)
                    .to_owned(),
            )
            .await
    }
}
