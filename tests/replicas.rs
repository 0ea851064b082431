//! Several server processes on one database, as an operator scales out: they start together
//! on a new database, a stream's event ids hold when the process running it is killed, and a
//! stream followed on another process has every event, in order. A real process (the main
//! example) on SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres`; each test its own
//! database.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use agentos::prelude::*;
use agentos::store::Db;
use sea_orm::ConnectionTrait;
use support::db::TestDb;
use support::process::{Example, TempDir};
use support::{SseFrame, SseReader, TestServer, client, form, sleepy_team};

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

/// The ids of `frames`, as numbers.
fn ids(frames: &[SseFrame]) -> Vec<u64> {
    frames
        .iter()
        .map(|frame| frame.id.as_deref().expect("an event id").parse().unwrap())
        .collect()
}

/// The stream's events are numbered 0, 1, 2, ... with none missing or twice, and it ends with
/// the team run's completion.
fn assert_whole(frames: &[SseFrame], what: &str) {
    let numbers = ids(frames);
    let expected: Vec<u64> = (0..numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "{what}: every event once, in order");
    assert_eq!(frames.last().unwrap().event, "TeamRunCompleted", "{what}");
}

/// Replica a's first write of a run's events after its first one sleeps 3 s in PostgreSQL
/// while the later ones commit; a client following the run on replica b gets every event, in
/// order, once: b waits for the missing one instead of moving past it.
#[tokio::test]
async fn a_follower_waits_for_an_event_write_that_commits_late() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = Arc::new(TestDb::new().await);
    let slow = || AgentOs::builder().team(sleepy_team("Slow Team", Duration::from_millis(150)));
    let a = TestServer::on(slow(), db.clone()).await;
    let b = TestServer::on(slow(), db.clone()).await;
    // One row insert, the first of a run's writes after its first, sleeps; nextval is not
    // transactional, so concurrent inserts see it taken.
    a.os.store()
        .connection()
        .execute_unprepared(
            "CREATE SEQUENCE delay_once;
             CREATE FUNCTION delay_one_event_write() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.seq > 0 THEN
                     IF nextval('delay_once') = 1 THEN PERFORM pg_sleep(3); END IF;
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER delay_one_event_write BEFORE INSERT ON agentos_run_events
                 FOR EACH ROW EXECUTE FUNCTION delay_one_event_write();",
        )
        .await
        .unwrap();

    let response = client()
        .post(a.url("/teams/slow-team/runs"))
        .multipart(form(&[("message", "take your time"), ("stream", "true")]))
        .send()
        .await
        .unwrap();
    let mut direct = SseReader::new(response);
    let first = direct.next_frame().await.unwrap();
    let run_id = first.data["run_id"].as_str().unwrap().to_owned();
    let followed = client()
        .get(b.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .send()
        .await
        .unwrap();
    let followed = tokio::spawn(SseReader::new(followed).rest());
    let mut direct_frames = vec![first];
    direct_frames.extend(direct.rest().await);
    let followed = followed.await.unwrap();

    assert_whole(&direct_frames, "the stream on a");
    assert_whole(&followed, "the stream followed on b");
    let names = |frames: &[SseFrame]| frames.iter().map(|f| f.event.clone()).collect::<Vec<_>>();
    assert_eq!(names(&followed), names(&direct_frames));
    let delayed: i64 = {
        let conn = a.os.store().connection();
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT last_value FROM delay_once",
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index(0).unwrap()
    };
    assert!(
        delayed >= 1,
        "no event write was delayed: the test proved nothing"
    );
}
