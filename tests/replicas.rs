//! Several server processes on one database, as an operator scales out: they start together
//! on a new database, a stream's event ids hold when the process running it is killed, and a
//! stream followed on another process has every event, in order. A real process (the main
//! example) on SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres`; each test its own
//! database.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentos::store::Db;
use support::db::TestDb;
use support::process::{Example, TempDir};

/// The `DATABASE_URL` a process is given for `db`.
fn database_url(db: &TestDb) -> String {
    match db.db() {
        Db::Postgres(url) => url,
        Db::Sqlite(path) => format!("sqlite:{path}"),
        Db::Memory => unreachable!("a test database is a file or a PostgreSQL database"),
    }
}

/// A directory of the test's own for the processes' working directory.
fn workdir(test: &str) -> Arc<TempDir> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agentos-replicas-{test}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(TempDir(dir))
}

/// Three processes started at the same moment on a new database, ten times: every one comes up
/// and serves (each applies the schema, one after another).
#[tokio::test]
async fn replicas_started_together_on_a_new_database_all_come_up() {
    for attempt in 0..10 {
        let db = TestDb::new().await;
        let url = database_url(&db);
        let dir = workdir("start");
        let env = [("DATABASE_URL", url.as_str())];
        let started = futures_util::future::join_all(
            (0..3).map(|_| Example::start_in("basic_team_factory", &env, dir.clone())),
        )
        .await;
        for replica in &started {
            let (status, run) = replica
                .run(
                    "/teams/support-team/runs",
                    &[("message", "hello"), ("stream", "false")],
                )
                .await;
            assert_eq!(status, reqwest::StatusCode::OK, "attempt {attempt}: {run}");
            assert_eq!(run["status"], "COMPLETED", "attempt {attempt}: {run}");
        }
        for replica in started {
            replica.stop();
        }
    }
}
