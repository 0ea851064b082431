//! Schema migrations, applied at start-up.

mod memories;
mod summaries;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, json, json_null, string, string_null, text, text_null,
};

/// The key of the PostgreSQL advisory lock held while migrating ("agentos" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_6765_6e74_6f73;

/// Applies the pending migrations, one process at a time: replicas started together on a new
/// PostgreSQL database would otherwise each create the same tables and all but one fail on
/// PostgreSQL's catalog constraints. The migrations run in one transaction holding an advisory
/// lock, so the second process waits, then finds them applied; a process that dies half-way
/// leaves nothing behind. On SQLite the transaction takes the write lock at its start, which
/// serializes processes on one file the same way.
pub(super) async fn migrate(writer: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = super::writer::begin_write(writer).await?;
    if writer.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Every migration, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateSessionsAndRuns),
            Box::new(CreateEventsAndIdempotencyKeys),
            Box::new(AddPausedState),
            Box::new(CreateTokenUsage),
            Box::new(AddRetentionIndexes),
            Box::new(CompressWithLz4),
            Box::new(AddEventsPromised),
            Box::new(memories::CreateMemories),
            Box::new(summaries::AddSessionSummaries),
        ]
    }

    fn migration_table_name() -> DynIden {
        "agentos_migrations".into_iden()
    }
}

#[derive(DeriveIden)]
enum AgentosSessions {
    Table,
    SessionId,
    SessionType,
    ComponentId,
    UserId,
    SessionName,
    SessionState,
    Metadata,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AgentosRuns {
    Table,
    RunId,
    SessionId,
    ParentRunId,
    ComponentType,
    ComponentId,
    UserId,
    Status,
    FactoryInput,
    Input,
    Output,
    Events,
    Metrics,
    CancelRequested,
    Owner,
    HeartbeatAt,
    CreatedAt,
    UpdatedAt,
}

/// The first migration, named `migration` (after its file) in databases it already set up.
#[derive(DeriveMigrationName)]
struct CreateSessionsAndRuns;

#[async_trait::async_trait]
impl MigrationTrait for CreateSessionsAndRuns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentosSessions::Table)
                    .if_not_exists()
                    .col(string(AgentosSessions::SessionId).primary_key())
                    .col(string(AgentosSessions::SessionType))
                    .col(string(AgentosSessions::ComponentId))
                    .col(string_null(AgentosSessions::UserId))
                    .col(string_null(AgentosSessions::SessionName))
                    .col(json(AgentosSessions::SessionState))
                    .col(json(AgentosSessions::Metadata))
                    .col(big_integer(AgentosSessions::CreatedAt))
                    .col(big_integer(AgentosSessions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AgentosRuns::Table)
                    .if_not_exists()
                    .col(string(AgentosRuns::RunId).primary_key())
                    .col(string(AgentosRuns::SessionId))
                    .col(string_null(AgentosRuns::ParentRunId))
                    .col(string(AgentosRuns::ComponentType))
                    .col(string(AgentosRuns::ComponentId))
                    .col(string_null(AgentosRuns::UserId))
                    .col(string(AgentosRuns::Status))
                    .col(json_null(AgentosRuns::FactoryInput))
                    .col(text(AgentosRuns::Input))
                    .col(json_null(AgentosRuns::Output))
                    .col(json_null(AgentosRuns::Events))
                    .col(json_null(AgentosRuns::Metrics))
                    .col(boolean(AgentosRuns::CancelRequested))
                    .col(string(AgentosRuns::Owner))
                    .col(big_integer(AgentosRuns::HeartbeatAt))
                    .col(big_integer(AgentosRuns::CreatedAt))
                    .col(big_integer(AgentosRuns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Listing sessions filters by type, component and user, newest first.
        for (name, columns) in [
            (
                "idx_sessions_component",
                vec![AgentosSessions::SessionType, AgentosSessions::ComponentId],
            ),
            ("idx_sessions_user", vec![AgentosSessions::UserId]),
            ("idx_sessions_updated", vec![AgentosSessions::UpdatedAt]),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table(AgentosSessions::Table)
                .if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Runs are read by session in order, by component, and swept by status.
        for (name, columns) in [
            (
                "idx_runs_session",
                vec![AgentosRuns::SessionId, AgentosRuns::CreatedAt],
            ),
            ("idx_runs_component", vec![AgentosRuns::ComponentId]),
            ("idx_runs_status", vec![AgentosRuns::Status]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AgentosRuns::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentosRuns::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AgentosSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AgentosRunEvents {
    Table,
    RunId,
    Seq,
    LastSeq,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentosIdempotencyKeys {
    Table,
    Owner,
    ComponentType,
    ComponentId,
    Key,
    Fingerprint,
    RunId,
    CreatedAt,
}

/// Each event of a streamed or background run, numbered, so any replica can replay it; and
/// the idempotency keys of run requests, so a retry to any replica finds its run.
struct CreateEventsAndIdempotencyKeys;

// Named by hand: the derive names a migration after its file, which both migrations share.
impl MigrationName for CreateEventsAndIdempotencyKeys {
    fn name(&self) -> &str {
        "m2_run_events_and_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEventsAndIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentosRunEvents::Table)
                    .if_not_exists()
                    .col(string(AgentosRunEvents::RunId))
                    .col(big_integer(AgentosRunEvents::Seq))
                    .col(big_integer(AgentosRunEvents::LastSeq))
                    .col(text(AgentosRunEvents::Data))
                    .col(big_integer(AgentosRunEvents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(AgentosRunEvents::RunId)
                            .col(AgentosRunEvents::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AgentosIdempotencyKeys::Table)
                    .if_not_exists()
                    .col(string(AgentosIdempotencyKeys::Owner))
                    .col(string(AgentosIdempotencyKeys::ComponentType))
                    .col(string(AgentosIdempotencyKeys::ComponentId))
                    .col(string(AgentosIdempotencyKeys::Key))
                    .col(string(AgentosIdempotencyKeys::Fingerprint))
                    .col(string(AgentosIdempotencyKeys::RunId))
                    .col(big_integer(AgentosIdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(AgentosIdempotencyKeys::Owner)
                            .col(AgentosIdempotencyKeys::ComponentType)
                            .col(AgentosIdempotencyKeys::ComponentId)
                            .col(AgentosIdempotencyKeys::Key),
                    )
                    .to_owned(),
            )
            .await?;
        // Expired keys are swept by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_created")
                    .table(AgentosIdempotencyKeys::Table)
                    .col(AgentosIdempotencyKeys::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(AgentosIdempotencyKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AgentosRunEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AgentosRunsPaused {
    #[sea_orm(iden = "agentos_runs")]
    Table,
    PausedState,
}

/// What a paused run needs to go on (its conversation and the calls it waits on), stored with
/// it so any replica, or the same one after a restart, can continue it.
struct AddPausedState;

impl MigrationName for AddPausedState {
    fn name(&self) -> &str {
        "m3_paused_state"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPausedState {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosRunsPaused::Table)
                    .add_column(text_null(AgentosRunsPaused::PausedState))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosRunsPaused::Table)
                    .drop_column(AgentosRunsPaused::PausedState)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AgentosTokenUsage {
    Table,
    Owner,
    Day,
    Tokens,
}

/// The model tokens each user's runs used each UTC day, for the daily budget that replicas
/// share.
struct CreateTokenUsage;

impl MigrationName for CreateTokenUsage {
    fn name(&self) -> &str {
        "m4_token_usage"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTokenUsage {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentosTokenUsage::Table)
                    .if_not_exists()
                    .col(string(AgentosTokenUsage::Owner))
                    .col(big_integer(AgentosTokenUsage::Day))
                    .col(big_integer(AgentosTokenUsage::Tokens))
                    .primary_key(
                        Index::create()
                            .col(AgentosTokenUsage::Owner)
                            .col(AgentosTokenUsage::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentosTokenUsage::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AgentosRunsByAge {
    #[sea_orm(iden = "agentos_runs")]
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentosTokenUsageByDay {
    #[sea_orm(iden = "agentos_token_usage")]
    Table,
    Day,
}

/// Indexes for the scans by age: past days of token usage are deleted by day, and the admin
/// route reads the oldest and newest run. (Sessions are already indexed by last update, the
/// runs of a session by session, and idempotency keys by creation.)
struct AddRetentionIndexes;

impl MigrationName for AddRetentionIndexes {
    fn name(&self) -> &str {
        "m5_retention_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddRetentionIndexes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_runs_created")
                    .table(AgentosRunsByAge::Table)
                    .col(AgentosRunsByAge::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_token_usage_day")
                    .table(AgentosTokenUsageByDay::Table)
                    .col(AgentosTokenUsageByDay::Day)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_token_usage_day")
                    .table(AgentosTokenUsageByDay::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_runs_created")
                    .table(AgentosRunsByAge::Table)
                    .to_owned(),
            )
            .await
    }
}

/// The large values of a run (its output, its events, what a paused run keeps) and of its
/// event rows, compressed with LZ4 rather than PostgreSQL's default pglz when they go out of
/// line: pglz was a fifth of PostgreSQL's time under load (BENCHMARKS.md). Only on a server
/// built with LZ4; SQLite compresses nothing.
struct CompressWithLz4;

/// The columns [`CompressWithLz4`] changes, by table.
const LZ4_COLUMNS: [(&str, &[&str]); 2] = [
    (
        "agentos_runs",
        &[
            "factory_input",
            "input",
            "output",
            "events",
            "metrics",
            "paused_state",
        ],
    ),
    ("agentos_run_events", &["data"]),
];

impl MigrationName for CompressWithLz4 {
    fn name(&self) -> &str {
        "m6_lz4_compression"
    }
}

impl CompressWithLz4 {
    async fn set(manager: &SchemaManager<'_>, method: &str) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let lz4 = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT 1 AS lz4 FROM pg_settings WHERE name = 'default_toast_compression' \
                 AND 'lz4' = ANY(enumvals)",
            ))
            .await?
            .is_some();
        if !lz4 {
            return Ok(());
        }
        for (table, columns) in LZ4_COLUMNS {
            let changes: Vec<String> = columns
                .iter()
                .map(|column| format!("ALTER COLUMN {column} SET COMPRESSION {method}"))
                .collect();
            db.execute_unprepared(&format!("ALTER TABLE {table} {}", changes.join(", ")))
                .await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CompressWithLz4 {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Self::set(manager, "lz4").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Self::set(manager, "pglz").await
    }
}

#[derive(DeriveIden)]
enum AgentosRunsPromised {
    #[sea_orm(iden = "agentos_runs")]
    Table,
    EventsPromised,
}

/// How many of a run's event ids may have reached a client: the error event of a run whose
/// process died is numbered from here, above any id already sent for another event.
struct AddEventsPromised;

impl MigrationName for AddEventsPromised {
    fn name(&self) -> &str {
        "m7_events_promised"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddEventsPromised {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosRunsPromised::Table)
                    .add_column(big_integer(AgentosRunsPromised::EventsPromised).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentosRunsPromised::Table)
                    .drop_column(AgentosRunsPromised::EventsPromised)
                    .to_owned(),
            )
            .await
    }
}
