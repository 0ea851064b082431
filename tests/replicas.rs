//! Several server processes on one database, as an operator scales out: they start together
//! on a new database, a stream's event ids hold when the process running it is killed, and a
//! stream followed on another process has every event, in order. A real process (the main
//! example) on SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres`; each test its own
//! database.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use agentos::model::ScriptedModel;
use agentos::prelude::*;
use agentos::store::Db;
use agentos::testing::{Fault, MockOpenAi};
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

/// Two processes of the main example on a new database of the test's own, their model the
/// OpenAI mock answering each call after `delay`. The database and the mock live as long as
/// the caller keeps them.
async fn two_replicas_on_a_mock(
    test: &str,
    delay: Duration,
) -> (TestDb, MockOpenAi, Example, Example) {
    let db = TestDb::new().await;
    let url = database_url(&db);
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::Delay(delay));
    let base_url = mock.base_url();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("OPENAI_API_KEY", "test-key"),
        ("OPENAI_BASE_URL", base_url.as_str()),
    ];
    let dir = workdir(test);
    let a = Example::start_in("basic_team_factory", &env, dir.clone()).await;
    let b = Example::start_in("basic_team_factory", &env, dir).await;
    (db, mock, a, b)
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

/// A team run streamed from process a, which is killed (SIGKILL) right after the client has
/// read a few events, most of them not yet stored; the client resumes on process b with the
/// last id it received. b's stream ends with the run's error event (once b finds a's run
/// interrupted), numbered above every id the client had, and no id ever names two events.
#[tokio::test]
async fn after_a_kill_a_resume_on_another_replica_ends_with_the_runs_end() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    // Each model call takes a while: the run is in flight when its process dies.
    let (_db, _mock, a, b) = two_replicas_on_a_mock("kill", Duration::from_millis(300)).await;

    let response = client()
        .post(a.url("/teams/support-team/runs"))
        .multipart(form(&[
            ("message", "I need help with billing"),
            ("stream", "true"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let mut reader = SseReader::new(response);
    let mut seen = Vec::new();
    // Past the first model call: the events after it come at once, and the kill follows them
    // before a's next write of events.
    while seen.len() < 4 {
        match reader.next_frame().await {
            Some(frame) => seen.push(frame),
            None => panic!("the stream ended before the kill: {seen:?}"),
        }
    }
    a.kill();
    drop(reader);
    let run_id = seen[0].data["run_id"].as_str().unwrap().to_owned();
    let last = seen.last().unwrap().id.clone().unwrap();

    // b marks a's run interrupted once its heartbeat is stale (20 s after the last one, which
    // may be just before the kill), at its next sweep: later than the shared client's 20 s
    // bound on a whole request, so this stream gets a client of its own, bounded below.
    agentos::tls::install_crypto_provider();
    let patient = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap();
    let resumed = patient
        .get(b.url(&format!("/teams/support-team/runs/{run_id}/resume")))
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), reqwest::StatusCode::OK);
    let resumed = tokio::time::timeout(Duration::from_secs(60), SseReader::new(resumed).rest())
        .await
        .expect("the resumed stream ends");
    assert!(
        !resumed.is_empty(),
        "the resume after id {last} sent nothing for a run that ended"
    );
    assert_eq!(resumed.last().unwrap().event, "TeamRunError", "{resumed:?}");
    let last: u64 = last.parse().unwrap();
    assert!(
        ids(&resumed).iter().all(|id| *id > last),
        "ids after {last} only: {:?}",
        ids(&resumed)
    );

    // The whole stream as stored: every id the client had names the same event there.
    let replay = client()
        .get(b.url(&format!("/teams/support-team/runs/{run_id}/resume")))
        .send()
        .await
        .unwrap();
    let replay = SseReader::new(replay).rest().await;
    for frame in seen.iter().chain(&resumed) {
        if let Some(stored) = replay.iter().find(|stored| stored.id == frame.id) {
            assert_eq!(
                stored.event, frame.event,
                "id {:?} names two events",
                frame.id
            );
        }
    }
    assert_eq!(replay.last().unwrap().event, "TeamRunError");
    b.stop();
}

/// Counts, taking a moment: a tool a scripted model calls many times in one run.
#[tool]
async fn count(
    /// The number.
    n: u32,
) -> String {
    tokio::time::sleep(Duration::from_millis(1)).await;
    n.to_string()
}

/// A run whose stream outgrows the event ids its start promised: the log asks the store for
/// more as it goes, the client gets every event in order, and the run's row holds the larger
/// promise (what an interrupted run's error event would be numbered from).
#[tokio::test]
async fn a_long_stream_is_promised_more_ids_as_it_goes() {
    // Eight model turns of twenty calls each: each turn's events reach the log a moment after
    // the last turn's.
    let model = (0..8)
        .fold(ScriptedModel::new(), |model, turn| {
            model.then_calls((0..20).map(|n| ("count", serde_json::json!({ "n": turn * 20 + n }))))
        })
        .then_answer("counted");
    let server = TestServer::with(
        AgentOs::builder().agent(Agent::new("Counter").with_model(model).with_tool(count)),
    )
    .await;
    let response = client()
        .post(server.url("/agents/counter/runs"))
        .multipart(form(&[("message", "count to 160"), ("stream", "true")]))
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(response).rest().await;
    let numbers = ids(&frames);
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>());
    assert!(numbers.len() > 300, "{} events", numbers.len());
    assert_eq!(frames.last().unwrap().event, "RunCompleted");
    let run_id = frames[0].data["run_id"].as_str().unwrap();
    let conn = server.os.store().connection();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT events_promised FROM agentos_runs WHERE run_id = '{run_id}'"),
        ))
        .await
        .unwrap()
        .unwrap();
    let promised: i64 = row.try_get_by_index(0).unwrap();
    assert!(promised > 256, "the run's row promised {promised} ids");
}

/// A burst of 100 team runs streamed at once from process a, each followed from its start on
/// process b: b's stream of every run has every event, in order, once, the same as a's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_streams_followed_on_another_replica_has_no_gap() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let (_db, _mock, a, b) = two_replicas_on_a_mock("burst", Duration::from_millis(100)).await;

    let stream = |n: usize| {
        let (run_on, follow_on) = (a.url("/teams/support-team/runs"), b.base.clone());
        async move {
            let response = client()
                .post(run_on)
                .multipart(form(&[
                    ("message", &format!("I need help with billing, stream {n}")),
                    ("stream", "true"),
                ]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let mut direct = SseReader::new(response);
            let first = direct.next_frame().await.expect("a first event");
            let run_id = first.data["run_id"].as_str().unwrap().to_owned();
            let followed = client()
                .get(format!(
                    "{follow_on}/teams/support-team/runs/{run_id}/resume"
                ))
                .send()
                .await
                .unwrap();
            let followed = tokio::spawn(SseReader::new(followed).rest());
            let mut frames = vec![first];
            frames.extend(direct.rest().await);
            (frames, followed.await.unwrap())
        }
    };
    let streams = futures_util::future::join_all((0..100).map(stream)).await;
    for (n, (direct, followed)) in streams.iter().enumerate() {
        assert_whole(direct, &format!("stream {n} on a"));
        assert_whole(followed, &format!("stream {n} followed on b"));
        let names =
            |frames: &[SseFrame]| frames.iter().map(|f| f.event.clone()).collect::<Vec<_>>();
        assert_eq!(names(followed), names(direct), "stream {n}");
    }
    a.stop();
    b.stop();
}
