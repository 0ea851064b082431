//! The connected store: its connection pools, the writer tasks that commit run writes in
//! batches, and SQLite's checkpointer.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};
use tokio::sync::{mpsc, oneshot};

use super::error::StoreError;
use super::house::House;
use super::writer::{MAX_BATCH, WriteError, WriteJob, WriteOp, write_loop};
use super::{migration, nodelay};
use crate::metrics::{RetryReason, StoreInstruments, WriteKind};
use crate::time::now_micros;

/// Where sessions and runs are kept. Nothing connects until the OS is built.
///
/// ```
/// use agentos_runtime::store::Db;
///
/// let db = Db::from_env_or_sqlite("agentos.db"); // PostgreSQL when DATABASE_URL says so
/// # let _ = db;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Db {
    /// A SQLite file, created if missing.
    Sqlite(String),
    /// A PostgreSQL URL.
    Postgres(String),
    /// A private in-memory SQLite database: nothing survives the process.
    Memory,
}

impl Db {
    /// A SQLite file at `path`.
    pub fn sqlite(path: impl Into<String>) -> Self {
        Db::Sqlite(path.into())
    }

    /// PostgreSQL at `url` (`postgres://user@host:5432/db`).
    pub fn postgres(url: impl Into<String>) -> Self {
        Db::Postgres(url.into())
    }

    /// PostgreSQL when `DATABASE_URL` holds a `postgres` URL, else the SQLite file at `path`.
    pub fn from_env_or_sqlite(path: impl Into<String>) -> Self {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => Db::Postgres(url),
            Ok(url) if url.starts_with("sqlite:") => Db::Sqlite(
                url.trim_start_matches("sqlite:")
                    .trim_start_matches("//")
                    .to_owned(),
            ),
            _ => Db::Sqlite(path.into()),
        }
    }

    /// An in-memory database, for tests and for servers that keep nothing.
    pub fn memory() -> Self {
        Db::Memory
    }
}

/// Batches of run writes in flight at once on PostgreSQL.
const POSTGRES_WRITERS: usize = 2;

/// The connected store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads.
    pub(super) conn: DatabaseConnection,
    /// Writes. On SQLite a pool of one: writers queue here instead of meeting at the file
    /// lock, where SQLite's busy handler would put them to sleep for milliseconds at a time.
    pub(super) writer: DatabaseConnection,
    /// Run lifecycle writes, committed in batches by the writer task.
    pub(super) writes: mpsc::Sender<WriteJob>,
    /// This process, as recorded on the runs it owns.
    pub(super) owner: Arc<str>,
    /// What the background work (checkpoints, retention) shares.
    pub(super) house: Arc<House>,
    /// Write latency and retries, when an OS counts them.
    pub(super) metrics: Option<Arc<StoreInstruments>>,
}

impl Store {
    /// Connects the pools, applies the migrations, and starts the writer tasks (and, on
    /// SQLite, the checkpointer).
    pub(super) async fn open(db: &Db) -> Result<Store, StoreError> {
        let (url, is_sqlite) = match db {
            Db::Sqlite(path) => (format!("sqlite://{path}?mode=rwc"), true),
            Db::Postgres(url) => (url.clone(), false),
            Db::Memory => (
                format!(
                    "sqlite:file:agentos-{}?mode=memory&cache=shared",
                    uuid::Uuid::new_v4()
                ),
                true,
            ),
        };
        crate::tls::install_crypto_provider();
        let connect = |max_connections: u32| {
            let mut options = ConnectOptions::new(url.clone());
            options
                .sqlx_logging(false)
                .connect_timeout(Duration::from_secs(5))
                .acquire_timeout(Duration::from_secs(5))
                .max_connections(max_connections)
                .min_connections(1)
                // A connection in use within the last second is alive: pinging it on every
                // checkout was a round trip (to PostgreSQL, or to SQLite's thread) per write.
                .test_before_acquire_if_idle_for(Duration::from_secs(1));
            if is_sqlite {
                // WAL lets readers go on while the writer writes; the busy timeout covers the
                // moments another process (or the checkpointer) holds the lock.
                options.map_sqlx_sqlite_opts(|opts| {
                    opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .create_if_missing(true)
                        // Checkpoints (and their fsync) run on a timer of their own instead of
                        // inside whichever commit crosses the threshold; see `checkpoint_loop`.
                        .pragma("wal_autocheckpoint", "0")
                        // Freed pages can leave the file (retention shrinks it). Takes effect
                        // only on a new database, where it comes before the first table.
                        .auto_vacuum(sea_orm::sqlx::sqlite::SqliteAutoVacuum::Incremental)
                        // A log that grew under load is cut back when it restarts.
                        .pragma("journal_size_limit", (8 << 20).to_string())
                        // Statement journals (a multi-row insert keeps one to undo itself) in
                        // memory rather than in a temporary file written on every commit.
                        .pragma("temp_store", "memory")
                });
            } else {
                options.map_sqlx_postgres_pool_opts(|pool| {
                    pool.after_connect(|conn, _| Box::pin(nodelay::on_connect(conn)))
                });
            }
            Database::connect(options)
        };
        let (conn, writer) = if is_sqlite {
            let writer = connect(1).await?;
            (connect(4).await?, writer)
        } else {
            let pool = connect(16).await?;
            (pool.clone(), pool)
        };
        migration::migrate(&writer).await?;
        let house = Arc::new(House::new(match db {
            Db::Sqlite(path) => Some(std::path::PathBuf::from(path)),
            _ => None,
        }));
        let (writes, jobs) = mpsc::channel(4 * MAX_BATCH);
        // SQLite has one writer. PostgreSQL commits a batch while the next one is taken and
        // sent, and flushes their commits together; what the writer checks holds across
        // concurrent batches as it does across replicas.
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        for _ in 0..if is_sqlite { 1 } else { POSTGRES_WRITERS } {
            tokio::spawn(write_loop(
                writer.clone(),
                Arc::clone(&jobs),
                Arc::clone(&house),
            ));
        }
        if is_sqlite {
            tokio::spawn(checkpoint_loop(
                conn.clone(),
                writer.clone(),
                writes.downgrade(),
                Arc::clone(&house),
            ));
        }
        let store = Store {
            conn,
            writer,
            writes,
            owner: Arc::from(uuid::Uuid::new_v4().to_string()),
            house,
            metrics: None,
        };
        Ok(store)
    }

    /// Counts write latency and retries in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Arc<StoreInstruments>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Counts a write sent again for `reason`.
    pub(crate) fn count_retry(&self, reason: RetryReason) {
        if let Some(metrics) = &self.metrics {
            metrics.retried(reason);
        }
    }

    /// The connection pool, for queries of your own.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The backend in use.
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// Hands a write to the writer task and waits for its commit; when its batch was refused,
    /// sends it again alone, so a bad write fails only itself.
    pub(super) async fn write_retrying_alone(
        &self,
        mut op: impl FnMut() -> Result<WriteOp, StoreError>,
    ) -> Result<(), StoreError> {
        match self.write(op()?, false).await {
            Err(WriteError::BatchRefused) => {
                self.count_retry(RetryReason::BatchRefused);
                match self.write(op()?, true).await {
                    Ok(()) => Ok(()),
                    Err(WriteError::Failed(error)) => Err(error),
                    Err(WriteError::BatchRefused) => Err(StoreError::Closed),
                }
            }
            Err(WriteError::Failed(error)) => Err(error),
            Ok(()) => Ok(()),
        }
    }

    pub(super) async fn write(&self, op: WriteOp, alone: bool) -> Result<(), WriteError> {
        let kind = match &op {
            WriteOp::StartRun { .. } => WriteKind::StartRun,
            WriteOp::Events { .. } => WriteKind::Events,
            WriteOp::FinishRun { .. } => WriteKind::FinishRun,
            WriteOp::AddUsage(_) => WriteKind::AddUsage,
        };
        let began = std::time::Instant::now();
        let (done, committed) = oneshot::channel();
        self.writes
            .send(WriteJob { op, alone, done })
            .await
            .map_err(|_| WriteError::Failed(StoreError::Closed))?;
        let outcome = committed
            .await
            .map_err(|_| WriteError::Failed(StoreError::Closed))?;
        if let Some(metrics) = &self.metrics {
            metrics.wrote(kind, began.elapsed());
        }
        outcome
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.conn.ping().await?)
    }
}

/// Copies the SQLite write-ahead log into the database file once a second, on a reader
/// connection, so the fsync of a checkpoint never sits inside a run's commit. PASSIVE never
/// blocks the writer, but under steady load it never lets the log restart either (some reader
/// always holds a snapshot in it), and the log grows without end: gigabytes in a minute at a
/// thousand runs a second. So the log is also truncated (TRUNCATE, on the writer's own
/// connection, where it queues behind run writes instead of making them sleep in SQLite's busy
/// handler): once writes have paused for 2 s, and under load whenever it passes
/// [`WAL_FRAMES_MAX`]. Stops when the store is gone.
async fn checkpoint_loop(
    conn: DatabaseConnection,
    writer: DatabaseConnection,
    alive: mpsc::WeakSender<WriteJob>,
    house: Arc<House>,
) {
    const IDLE_FOR: Duration = Duration::from_secs(2);
    /// 64 MiB of 4 KiB pages.
    const WAL_FRAMES_MAX: i64 = 16_384;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if alive.upgrade().is_none() {
            return;
        }
        // (busy, frames in the log, frames copied): -1 frames when not in WAL mode.
        let frames = match checkpoint(&conn, "PASSIVE").await {
            Ok(frames) => frames,
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed");
                continue;
            }
        };
        let Some((_, log, copied)) = frames else {
            continue;
        };
        let idle = now_micros() - house.last_write.load(std::sync::atomic::Ordering::Relaxed)
            >= IDLE_FOR.as_micros() as i64;
        // When idle, only once everything is copied: the truncation then has nothing to write.
        if (idle && log > 0 && copied == log) || log >= WAL_FRAMES_MAX {
            let started = std::time::Instant::now();
            match checkpoint(&writer, "TRUNCATE").await {
                Ok(_) => house.truncated(started.elapsed()),
                Err(error) => tracing::debug!(%error, "WAL truncation failed"),
            }
        }
    }
}

async fn checkpoint(
    conn: &DatabaseConnection,
    mode: &str,
) -> Result<Option<(i64, i64, i64)>, DbErr> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            DatabaseBackend::Sqlite,
            format!("PRAGMA wal_checkpoint({mode})"),
        ))
        .await?;
    Ok(match row {
        Some(row) => Some((
            row.try_get_by_index(0)?,
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
        )),
        None => None,
    })
}
