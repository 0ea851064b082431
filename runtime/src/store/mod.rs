//! Sessions and runs, stored with sea-orm: a SQLite file by default, PostgreSQL in production.
//!
//! Every run is a row of its own (member runs included), written when it starts and again when
//! it ends, so concurrent runs of one session never overwrite each other and a run in flight
//! is visible, cancellable from any replica, and recognised as interrupted if its process dies.

pub mod entity;
mod events;
mod in_flight;
mod migration;
mod nodelay;
mod retention;
mod rows;
pub mod sessions;
mod statements;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::component::{ComponentKind, ComponentRef};
use crate::metrics::{RetryReason, StoreInstruments, WriteKind};
use crate::model::Message;
use crate::run::{EventName, RunEvent, RunMeta, RunOutput, RunStatus};
use entity::{event, idempotency_key, run, session};
pub use events::StoredEvent;
pub use in_flight::{DeferredStart, FreshRun, StartCommit};
use retention::House;
pub(crate) use retention::housekeeping;
pub use retention::{Retention, SqliteFile, StoreStats, SweepReport};
pub use rows::{StoredRun, StoredSession};
use statements::{RunRow, SessionRow};
use writer::{
    BusyCheck, KeyClaim, MAX_BATCH, SessionOwner, WriteError, WriteJob, WriteOp, write_loop,
};

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

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the statement.
    #[error("the session store is unavailable")]
    Unavailable(#[source] DbErr),
    /// The store's writer has stopped (the process is shutting down).
    #[error("the session store is closed")]
    Closed,
    /// A stored value could not be read back.
    #[error("a stored value is unreadable: {0}")]
    Corrupt(String),
    /// The run names a session that belongs to another user or component.
    #[error("the session belongs to someone else")]
    ForeignSession,
    /// Another run of the session is running or queued.
    #[error("another run of the session is in progress")]
    SessionBusy,
    /// The idempotency key belongs to another run.
    #[error("the idempotency key was used by run {run_id}")]
    KeyTaken {
        /// The run that holds the key.
        run_id: String,
        /// Whether that run was started by the same request.
        same_request: bool,
    },
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        StoreError::Unavailable(error)
    }
}

/// A run about to start.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: &'a str,
    /// The run's ids; its session is created if new, and must otherwise belong to the same
    /// user and component.
    pub meta: &'a RunMeta,
    /// The message.
    pub input: &'a str,
    /// The validated `factory_input`, when the component is a factory.
    pub factory_input: Option<Value>,
    /// `Running`, or `Pending` for a run that waits its turn in a busy session.
    pub status: RunStatus,
    /// Refuse with [`StoreError::SessionBusy`] while another top-level run of the session is
    /// running or queued; checked in one transaction with the insert, across replicas.
    pub reject_if_busy: bool,
    /// The idempotency key the run claims: refused with [`StoreError::KeyTaken`] when another
    /// run holds it.
    pub idempotency: Option<IdempotencyClaim<'a>>,
    /// The server made the session's id for this run, so no one else can hold the session and
    /// its owner need not be read back; false for an id a client named.
    pub new_session: bool,
}

/// An `Idempotency-Key` and the digest of the request that sent it.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyClaim<'a> {
    /// The key as the client sent it.
    pub key: &'a str,
    /// A digest of the request's fields.
    pub fingerprint: &'a str,
}

/// The run an idempotency key created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The digest of the request that claimed the key.
    pub fingerprint: String,
    /// The run it started.
    pub run_id: String,
}

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

/// Unix microseconds now.
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// How long a running run may go without a heartbeat before it counts as interrupted. The
/// watcher renews heartbeats every 5 s and sweeps every 10 s, so a run whose process died is
/// marked within 30 s.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(20);

/// How long an idempotency key is kept.
pub(crate) const KEYS_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// The connected store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads.
    conn: DatabaseConnection,
    /// Writes. On SQLite a pool of one: writers queue here instead of meeting at the file
    /// lock, where SQLite's busy handler would put them to sleep for milliseconds at a time.
    writer: DatabaseConnection,
    /// Run lifecycle writes, committed in batches by the writer task.
    writes: mpsc::Sender<WriteJob>,
    /// This process, as recorded on the runs it owns.
    owner: Arc<str>,
    /// What the background work (checkpoints, retention) shares.
    house: Arc<House>,
    /// Write latency and retries, when an OS counts them.
    metrics: Option<Arc<StoreInstruments>>,
}

impl Store {
    /// Connects, applies the migrations, and marks runs left running by a dead process as
    /// interrupted.
    pub async fn connect(db: &Db) -> Result<Store, StoreError> {
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
        migration::Migrator::up(&writer, None).await?;
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
        // A SQLite file has one server process: whatever is still RUNNING died with the last
        // one. PostgreSQL is shared by replicas, so only runs without a recent heartbeat.
        let stale_before = if is_sqlite {
            now_micros()
        } else {
            now_micros() - STALE_AFTER.as_micros() as i64
        };
        let interrupted = store.mark_interrupted(stale_before).await?;
        if interrupted > 0 {
            tracing::warn!(
                runs = interrupted,
                "runs left running by a stopped server marked as interrupted"
            );
        }
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

    /// Records a run as running, creating its session if it is new. Refused with
    /// [`StoreError::ForeignSession`], writing nothing, when the session exists and belongs to
    /// another user or component; the check and the write are one transaction.
    pub async fn start_run(&self, new: NewRun<'_>) -> Result<(), StoreError> {
        self.write_retrying_alone(|| {
            let meta = new.meta;
            let started = FreshRun {
                kind: new.kind,
                component_id: new.component_id,
                meta,
                input: new.input,
                factory_input: new.factory_input.as_ref(),
            };
            let (session, run) = self.started_rows(started, new.status, now_micros());
            let user_id = run.user_id.clone();
            let claim = new.idempotency.map(|claim| KeyClaim {
                owner: user_id.clone().unwrap_or_default(),
                kind: new.kind,
                component_id: new.component_id.to_owned(),
                key: claim.key.to_owned(),
                fingerprint: claim.fingerprint.to_owned(),
                run_id: meta.run_id().to_owned(),
                created_at: run.created_at,
            });
            Ok(WriteOp::StartRun {
                owner: SessionOwner {
                    new_session: new.new_session,
                    session_id: meta.session_id().to_owned(),
                    kind: new.kind,
                    component_id: new.component_id.to_owned(),
                    user_id,
                },
                busy: if new.reject_if_busy {
                    BusyCheck::RejectIfActive
                } else {
                    BusyCheck::None
                },
                claim,
                session: Box::new(session),
                run: Box::new(run),
                deferred: false,
            })
        })
        .await
    }

    /// The rows the start of `run` writes at `now`: its session's (created by its first run)
    /// and its own.
    fn started_rows(&self, run: FreshRun<'_>, status: RunStatus, now: i64) -> (SessionRow, RunRow) {
        let FreshRun {
            kind,
            component_id,
            meta,
            input,
            factory_input,
        } = run;
        let user_id = meta.user_id().map(str::to_owned);
        let session = SessionRow {
            session_id: meta.session_id().to_owned(),
            kind,
            component_id: component_id.to_owned(),
            user_id: user_id.clone(),
            session_name: Some(session_name(input)),
            created_at: now,
        };
        let run = RunRow {
            run_id: meta.run_id().to_owned(),
            session_id: meta.session_id().to_owned(),
            parent_run_id: meta.parent_run_id().map(str::to_owned),
            kind,
            component_id: component_id.to_owned(),
            user_id,
            status,
            factory_input: factory_input.map(Value::to_string),
            input: input.to_owned(),
            output: None,
            metrics: None,
            owner: self.owner.to_string(),
            heartbeat_at: now,
            paused_state: None,
            created_at: now,
            updated_at: now,
        };
        (session, run)
    }

    /// Records how a run ended, in one transaction: its output and metrics, a row for each
    /// member run, its last events (numbered from `first_seq`; the ones stored before stay), and
    /// with `tokens`, the model tokens it used added to its user's day.
    ///
    /// A team's members are stored as rows of their own and only their ids go with the team's
    /// output (which is why `output` is borrowed mutably: its members are set aside while it is
    /// serialized, and put back); reads put them back in place.
    ///
    /// With `started`, a start not waited for ([`Store::defer_start`]), the end also writes
    /// what that start would have, so it is whole whether or not the start was sent or
    /// committed.
    pub async fn finish_run(
        &self,
        output: &mut RunOutput,
        first_seq: u64,
        events: &[Arc<RunEvent>],
        tokens: Option<(i64, u64)>,
        started: Option<&DeferredStart>,
    ) -> Result<(), StoreError> {
        // PostgreSQL's text cannot hold NUL, and a model may still produce one.
        let scrub = self.backend() == DatabaseBackend::Postgres;
        self.write_retrying_alone(|| {
            let now = now_micros();
            let mut rows = Vec::new();
            finished_rows(output, scrub, now, &self.owner, &mut rows)?;
            if let (Some(started), Some(root)) = (started, rows.first_mut()) {
                root.factory_input.clone_from(&started.run.factory_input);
                root.created_at = started.run.created_at;
            }
            let events = events::chunk_row(&output.run_id, first_seq, events, now)
                .into_iter()
                .collect();
            let tokens = tokens.map(|(day, count)| {
                (
                    output.user_id.clone().unwrap_or_default(),
                    day,
                    count.min(i64::MAX as u64) as i64,
                )
            });
            Ok(WriteOp::FinishRun {
                session: started.map(|started| started.session.clone()),
                rows,
                events,
                tokens,
            })
        })
        .await
    }

    /// The run an idempotency key of `user_id` for a component started, if any.
    pub async fn idempotency_key(
        &self,
        user_id: Option<&str>,
        kind: ComponentKind,
        component_id: &str,
        key: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        let found = idempotency_key::Entity::find_by_id((
            user_id.unwrap_or_default().to_owned(),
            kind,
            component_id.to_owned(),
            key.to_owned(),
        ))
        .one(&self.conn)
        .await?;
        Ok(found.map(|row| StoredKey {
            fingerprint: row.fingerprint,
            run_id: row.run_id,
        }))
    }

    /// The top-level runs of a session that are running or queued, oldest first.
    pub async fn active_runs(&self, session_id: &str) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ParentRunId.is_null())
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .order_by_asc(run::Column::CreatedAt)
            .order_by_asc(run::Column::RunId)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

    /// Takes a paused run to continue it: true when it was paused and is now this process's
    /// to run, false when it was not paused (or another request took it first).
    pub async fn claim_paused(&self, run_id: &str) -> Result<bool, StoreError> {
        let now = now_micros();
        let result = run::Entity::update_many()
            .col_expr(run::Column::Status, Expr::value(RunStatus::Running))
            .col_expr(run::Column::Owner, Expr::value(self.owner.to_string()))
            .col_expr(run::Column::HeartbeatAt, Expr::value(now))
            .col_expr(run::Column::CancelRequested, Expr::value(false))
            .col_expr(run::Column::UpdatedAt, Expr::value(now))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.eq(RunStatus::Paused))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Marks a queued run as running, its turn having come.
    pub async fn mark_running(&self, run_id: &str) -> Result<(), StoreError> {
        run::Entity::update_many()
            .col_expr(run::Column::Status, Expr::value(RunStatus::Running))
            .col_expr(run::Column::UpdatedAt, Expr::value(now_micros()))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.eq(RunStatus::Pending))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Hands a write to the writer task and waits for its commit; when its batch was refused,
    /// sends it again alone, so a bad write fails only itself.
    async fn write_retrying_alone(
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

    async fn write(&self, op: WriteOp, alone: bool) -> Result<(), WriteError> {
        let kind = match &op {
            WriteOp::StartRun { .. } => WriteKind::StartRun,
            WriteOp::Events { .. } => WriteKind::Events,
            WriteOp::FinishRun { .. } => WriteKind::FinishRun,
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

    /// The last `limit` completed exchanges of a session with one component and one user,
    /// oldest first, as messages for a model's context.
    pub async fn history(
        &self,
        session_id: &str,
        kind: ComponentKind,
        component_id: &str,
        user_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let user = match user_id {
            Some(user) => run::Column::UserId.eq(user),
            None => run::Column::UserId.is_null(),
        };
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ComponentType.eq(kind))
            .filter(run::Column::ComponentId.eq(component_id))
            .filter(user)
            .filter(run::Column::ParentRunId.is_null())
            .filter(run::Column::Status.eq(RunStatus::Completed))
            .order_by_desc(run::Column::CreatedAt)
            .limit(limit as u64)
            .all(&self.conn)
            .await?;
        let mut messages = Vec::with_capacity(rows.len() * 2);
        for row in rows::runs(rows)?.into_iter().rev() {
            let answer = row.answer().unwrap_or_default().to_owned();
            messages.push(Message::user(row.input));
            messages.push(Message::assistant(answer));
        }
        Ok(messages)
    }

    /// One run, a member run included; a team's run comes with its members' outputs in
    /// `member_responses`, read from their rows.
    pub async fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let Some(row) = run::Entity::find_by_id(run_id.to_owned())
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let mut runs = [StoredRun::try_from(row)?];
        self.load_members(&mut runs).await?;
        let [run] = runs;
        Ok(Some(run))
    }

    /// Reads the members of the team runs among `runs` (and theirs) and puts them in place.
    async fn load_members(&self, runs: &mut [StoredRun]) -> Result<(), StoreError> {
        let mut levels: Vec<Vec<StoredRun>> = Vec::new();
        let mut wanted: Vec<String> = member_ids(runs.iter());
        // Level by level, down to the deepest members; a corrupt database could hold a cycle.
        while !wanted.is_empty() && levels.len() < MAX_TEAM_DEPTH {
            let mut level = Vec::with_capacity(wanted.len());
            for ids in wanted.chunks(IDS_PER_QUERY) {
                let rows = run::Entity::find()
                    .filter(run::Column::RunId.is_in(ids.iter().cloned()))
                    .all(&self.conn)
                    .await?;
                level.extend(rows::runs(rows)?);
            }
            wanted = member_ids(level.iter());
            levels.push(level);
        }
        let mut members = std::collections::HashMap::new();
        while let Some(mut level) = levels.pop() {
            rows::attach_members(&mut level, &members);
            members = level
                .into_iter()
                .filter_map(|run| Some((run.run_id, run.output?)))
                .collect();
        }
        rows::attach_members(runs, &members);
        Ok(())
    }

    /// Top-level runs of a component in a session, oldest first. Listed runs stand alone: a
    /// team's members are not read into its output (they are runs of their own, and
    /// [`Store::run`] reads one whole).
    pub async fn component_runs(
        &self,
        kind: ComponentKind,
        component_id: &str,
        session_id: &str,
    ) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ComponentType.eq(kind))
            .filter(run::Column::ComponentId.eq(component_id))
            .filter(run::Column::ParentRunId.is_null())
            .order_by_asc(run::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

    /// Every run of a session, member runs included, oldest first; each stands alone, as in
    /// [`Store::component_runs`].
    pub async fn session_runs(&self, session_id: &str) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .order_by_asc(run::Column::CreatedAt)
            // A team's members are stored together, at one time; their ids (UUID v7, made as
            // each started) keep the order they ran in.
            .order_by_asc(run::Column::RunId)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

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
        let txn = self.writer.begin().await?;
        event::Entity::delete_many()
            .filter(
                event::Column::RunId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(run::Column::RunId)
                        .from(run::Entity)
                        .and_where(run::Column::SessionId.eq(session_id))
                        .to_owned(),
                ),
            )
            .exec(&txn)
            .await?;
        run::Entity::delete_many()
            .filter(run::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await?;
        session::Entity::delete_by_id(session_id.to_owned())
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Asks whichever process runs (or queues) `run_id` to stop it. False when no such run
    /// is in progress.
    pub async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError> {
        let result = run::Entity::update_many()
            .col_expr(run::Column::CancelRequested, Expr::value(true))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Which of `run_ids` someone asked to cancel.
    pub async fn cancel_requested(&self, run_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = run::Entity::find()
            .select_only()
            .column(run::Column::RunId)
            .filter(run::Column::RunId.is_in(run_ids.iter().cloned()))
            .filter(run::Column::CancelRequested.eq(true))
            .into_tuple::<String>()
            .all(&self.conn)
            .await?;
        Ok(rows)
    }

    /// Tells other processes that `run_ids` are still alive here.
    pub async fn heartbeat(&self, run_ids: &[String]) -> Result<(), StoreError> {
        run::Entity::update_many()
            .col_expr(run::Column::HeartbeatAt, Expr::value(now_micros()))
            .filter(run::Column::RunId.is_in(run_ids.iter().cloned()))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Marks running runs whose heartbeat is older than `stale_before` (unix µs) as
    /// interrupted: their process stopped without finishing them.
    pub async fn mark_interrupted(&self, stale_before: i64) -> Result<u64, StoreError> {
        let stale = run::Entity::find()
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .filter(run::Column::HeartbeatAt.lt(stale_before))
            .all(&self.conn)
            .await?;
        let mut count = 0;
        for row in rows::runs(stale)? {
            let output = serde_json::to_value(interrupted_output(&row))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let result = run::Entity::update_many()
                .col_expr(run::Column::Status, Expr::value(RunStatus::Error))
                .col_expr(run::Column::Output, Expr::value(output))
                .col_expr(run::Column::UpdatedAt, Expr::value(now_micros()))
                .filter(run::Column::RunId.eq(row.run_id.as_str()))
                .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
                .exec(&self.writer)
                .await?;
            if result.rows_affected > 0 {
                // A client following the run's stream reads how it ended.
                self.append_interrupted_event(&row).await?;
            }
            count += result.rows_affected;
        }
        Ok(count)
    }

    /// The model tokens `user`'s runs used on `day` (days since the Unix epoch, UTC).
    pub async fn tokens_used(&self, user: &str, day: i64) -> Result<u64, StoreError> {
        let used = entity::token_usage::Entity::find_by_id((user.to_owned(), day))
            .one(&self.conn)
            .await?;
        Ok(used.map_or(0, |row| row.tokens.max(0) as u64))
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.conn.ping().await?)
    }
}

/// The output of a run whose process stopped while it ran: an error, with agno's error event.
fn interrupted_output(row: &StoredRun) -> RunOutput {
    const MESSAGE: &str = "Run interrupted: the server stopped while it was running";
    let component = ComponentRef {
        kind: row.kind,
        id: Arc::from(row.component_id.as_str()),
        name: Arc::from(row.component_id.as_str()),
    };
    let event = json!({
        "event": match row.kind {
            ComponentKind::Team => EventName::TeamRunError,
            ComponentKind::Agent => EventName::RunError,
        }.as_str(),
        "run_id": row.run_id,
        "session_id": row.session_id,
        "content": MESSAGE,
        "error_type": "interrupted",
    });
    RunOutput {
        run_id: row.run_id.clone(),
        component,
        session_id: row.session_id.clone(),
        parent_run_id: row.parent_run_id.clone(),
        user_id: row.user_id.clone(),
        content: MESSAGE.to_owned(),
        content_type: "str".to_owned(),
        created_at: row.created_at / 1_000_000,
        status: RunStatus::Error,
        input: crate::run::RunInput {
            input_content: row.input.clone(),
        },
        events: Some(vec![event]),
        ..RunOutput::default()
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

/// What a paused run stores to go on; nothing for a run that has not paused.
fn paused_state(run: &RunOutput) -> Result<Option<String>, StoreError> {
    run.paused
        .as_ref()
        .map(|paused| serde_json::to_string(paused).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// `value` as JSON text, serialized once; with `scrub`, NUL characters (which serde_json writes
/// as `\u0000`) are replaced, through a JSON tree only when there is one.
fn json_text(value: &impl serde::Serialize, scrub: bool) -> Result<String, StoreError> {
    let corrupt = |error: serde_json::Error| StoreError::Corrupt(error.to_string());
    let text = serde_json::to_string(value).map_err(corrupt)?;
    if scrub && text.contains("\\u0000") {
        let mut tree: Value = serde_json::from_str(&text).map_err(corrupt)?;
        scrub_nul(&mut tree);
        return Ok(tree.to_string());
    }
    Ok(text)
}

/// Replaces NUL characters in every string of `value`.
fn scrub_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => *text = text.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(scrub_nul),
        Value::Object(fields) => fields.values_mut().for_each(scrub_nul),
        _ => {}
    }
}

/// How many levels of members a team's run is read back with: teams nest a few deep.
const MAX_TEAM_DEPTH: usize = 16;

/// Ids bound in one `IN (...)` list, well under either database's limit on parameters.
const IDS_PER_QUERY: usize = 500;

/// The ids of the members whose outputs `runs` lack.
fn member_ids<'a>(runs: impl Iterator<Item = &'a StoredRun>) -> Vec<String> {
    runs.filter(|run| run.output.is_some())
        .flat_map(|run| run.member_run_ids.iter().flatten().cloned())
        .collect()
}

/// A run's output as stored: a team's members are rows of their own, so only their ids go
/// with it, in order (an agent's run has none, and no `member_run_ids` either).
#[derive(serde::Serialize)]
struct StoredOutput<'a> {
    #[serde(flatten)]
    run: &'a RunOutput,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_run_ids: Option<Vec<&'a str>>,
}

/// The rows of a finished run and of its members, depth first.
fn finished_rows(
    run: &mut RunOutput,
    scrub: bool,
    now: i64,
    owner: &str,
    into: &mut Vec<RunRow>,
) -> Result<(), StoreError> {
    let members = run.member_responses.take();
    let stored = StoredOutput {
        run,
        member_run_ids: members
            .as_ref()
            .map(|members| members.iter().map(|m| m.run_id.as_str()).collect()),
    };
    let output = json_text(&stored, scrub);
    run.member_responses = members;
    let input = if scrub {
        run.input.input_content.replace('\0', "\u{fffd}")
    } else {
        run.input.input_content.clone()
    };
    into.push(RunRow {
        run_id: run.run_id.clone(),
        session_id: run.session_id.clone(),
        parent_run_id: run.parent_run_id.clone(),
        kind: run.component.kind,
        component_id: run.component.id.to_string(),
        user_id: run.user_id.clone(),
        status: run.status,
        factory_input: None,
        input,
        output: Some(output?),
        metrics: Some(json_text(&run.metrics, scrub)?),
        owner: owner.to_owned(),
        heartbeat_at: now,
        paused_state: paused_state(run)?,
        created_at: now,
        updated_at: now,
    });
    for member in run.member_responses.iter_mut().flatten() {
        finished_rows(member, scrub, now, owner, into)?;
    }
    Ok(())
}

/// A session is named after its first message, as agno does, cut to a readable length.
fn session_name(message: &str) -> String {
    const MAX_CHARS: usize = 120;
    match message.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}
