//! What the store's background work is told and shares: the retention policy, the last
//! sweep's report, what the store holds (for the admin route), and the SQLite file's state.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::status::RunStatus;
use crate::time::now_micros;

/// How long stored sessions are kept, and how often the store looks for older ones.
///
/// ```
/// use std::time::Duration;
/// use agentos_runtime::store::Retention;
///
/// let thirty_days = Retention::days(30);
/// assert_eq!(thirty_days.age(), Duration::from_secs(30 * 86_400));
/// let quick = Retention::after(Duration::from_secs(600)).sweep_every(Duration::from_secs(30));
/// # let _ = quick;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    age: Duration,
    every: Duration,
}

impl Retention {
    /// Deletes sessions whose last update is older than `age`. They are looked for every
    /// tenth of the age, at least every second and at most every 10 minutes.
    pub fn after(age: Duration) -> Self {
        Retention {
            age,
            every: (age / 10).clamp(Duration::from_secs(1), Duration::from_secs(600)),
        }
    }

    /// Deletes sessions not updated for `days` days.
    pub fn days(days: u32) -> Self {
        Self::after(Duration::from_secs(u64::from(days) * 86_400))
    }

    /// How often to look for expired sessions.
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.every = every.max(Duration::from_millis(10));
        self
    }

    /// The age past which a session is deleted.
    pub fn age(&self) -> Duration {
        self.age
    }

    /// How often the store looks for expired sessions.
    pub fn interval(&self) -> Duration {
        self.every
    }

    /// The retention `AGENTOS_RETENTION_DAYS` sets: a number of days, fractions allowed
    /// (`0.5` is 12 hours). Unset, `0` or unreadable is off.
    pub fn from_env() -> Option<Self> {
        let value = std::env::var("AGENTOS_RETENTION_DAYS").ok()?;
        match value.trim().parse::<f64>() {
            Ok(days) if days.is_finite() && days > 0.0 => Some(Self::after(
                Duration::try_from_secs_f64(days * 86_400.0).ok()?,
            )),
            Ok(_) => None,
            Err(_) => {
                tracing::warn!(
                    value,
                    "AGENTOS_RETENTION_DAYS is not a number; retention is off"
                );
                None
            }
        }
    }
}

/// What one sweep deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// When it ended, unix microseconds.
    pub finished_at: i64,
    /// How long it took, batches and pauses included.
    pub took: Duration,
    /// Sessions deleted.
    pub sessions: u64,
    /// Runs deleted, member runs included.
    pub runs: u64,
    /// Rows of stored events deleted.
    pub event_rows: u64,
    /// Expired idempotency keys deleted.
    pub idempotency_keys: u64,
    /// Rows of past days' token usage deleted.
    pub token_usage_rows: u64,
    /// SQLite pages given back to the file system.
    pub pages_freed: u64,
    /// Why the sweep stopped early, if it did; the next one goes on from there.
    pub error: Option<String>,
}

/// What the store holds, for an operator.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreStats {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Sessions.
    pub sessions: u64,
    /// Runs, member runs included, by status (statuses with none left out).
    pub runs_by_status: Vec<(RunStatus, u64)>,
    /// Rows of stored events (each holds the events of one write).
    pub event_rows: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
    /// Rows of token usage (one a user a day).
    pub token_usage_rows: u64,
    /// The oldest run's start, unix microseconds.
    pub oldest_run_at: Option<i64>,
    /// The newest run's start, unix microseconds.
    pub newest_run_at: Option<i64>,
    /// The SQLite file, on SQLite.
    pub sqlite: Option<SqliteFile>,
    /// The retention in force, if any.
    pub retention: Option<Retention>,
    /// The last retention sweep, once one has run.
    pub last_sweep: Option<SweepReport>,
}

/// The SQLite database file and its write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteFile {
    /// Its path; none for an in-memory database.
    pub path: Option<String>,
    /// Bytes of the database file.
    pub file_bytes: u64,
    /// Bytes of the write-ahead log.
    pub wal_bytes: u64,
    /// Bytes a page.
    pub page_size: u64,
    /// Pages in the database.
    pub page_count: u64,
    /// Pages free inside the file, not yet given back.
    pub freelist_pages: u64,
    /// `none`, `full` or `incremental`: whether freed pages can leave the file.
    pub auto_vacuum: &'static str,
    /// How many times this process truncated the WAL.
    pub wal_truncations: u64,
    /// The longest of those truncations (the writer waits while one runs).
    pub longest_wal_truncation: Duration,
}

/// What the store's background work shares with it.
#[derive(Debug, Default)]
pub(crate) struct House {
    /// The SQLite file, when there is one.
    pub(super) sqlite_path: Option<PathBuf>,
    /// When the writer last committed (unix µs): the WAL is truncated only once writes pause.
    pub(super) last_write: AtomicI64,
    /// WAL truncations so far, and the longest (it holds the writer while it runs).
    pub(super) wal_truncations: AtomicU64,
    pub(super) longest_truncation_us: AtomicU64,
    pub(super) retention: Mutex<Option<Retention>>,
    pub(super) last_sweep: Mutex<Option<SweepReport>>,
}

impl House {
    pub(super) fn new(sqlite_path: Option<PathBuf>) -> Self {
        House {
            sqlite_path,
            last_write: AtomicI64::new(now_micros()),
            ..House::default()
        }
    }

    pub(super) fn wrote(&self) {
        self.last_write.store(now_micros(), Ordering::Relaxed);
    }

    pub(super) fn truncated(&self, took: Duration) {
        self.wal_truncations.fetch_add(1, Ordering::Relaxed);
        self.longest_truncation_us
            .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
    }
}
