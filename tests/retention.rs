//! Retention: sessions past the age go in the background with their runs and events, recent
//! ones stay, live (running, paused) runs keep their session, run writes go on during a sweep,
//! the SQLite file shrinks, and `GET /admin/store` reports what is held to an admin only. On
//! SQLite by default and on PostgreSQL with `AGENTOS_TEST_DB=postgres`.
//!
//! Ages are set by writing old timestamps into the rows (the store keeps unix microseconds),
//! so the tests need not wait for an age to pass.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::{Db, Retention, StoreStats};
use agentos::{RunStatus, TestModel};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::Value;
use support::db::TestDb;
use support::{TestServer, client, form, sleepy_team, token};

const SECRET: &[u8] = b"retention-test-secret-of-32-bytes-or-more";
const HOUR: Duration = Duration::from_secs(3600);

/// Refunds money: waits for a person's confirmation, so a run that calls it pauses.
#[tool(requires_confirmation)]
fn issue_refund(
    /// The order.
    order_id: String,
) -> String {
    format!("refunded order {order_id}")
}

fn builder() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .team(Team::new("Support").with_model(TestModel::new()))
        .team(sleepy_team("Slow", Duration::from_secs(4)))
        .agent(
            Agent::new("Refunds")
                .with_model(TestModel::new())
                .with_tool(issue_refund),
        )
}

/// A sweep every 100 ms of sessions older than an hour.
fn hourly() -> Retention {
    Retention::after(HOUR).sweep_every(Duration::from_millis(100))
}

async fn run(server: &TestServer, path: &str, session: &str, stream: bool) -> Value {
    let response = client()
        .post(server.url(path))
        .multipart(form(&[
            ("message", "hello"),
            ("session_id", session),
            ("stream", if stream { "true" } else { "false" }),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    if stream {
        let body = response.text().await.unwrap();
        assert!(body.contains("RunCompleted"), "{body}");
        Value::Null
    } else {
        response.json().await.unwrap()
    }
}

async fn sql(os: &AgentOs, statement: &str) {
    os.store()
        .connection()
        .execute_unprepared(statement)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn count(os: &AgentOs, from_where: &str) -> i64 {
    let conn = os.store().connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) FROM {from_where}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

/// Dates a session's last update a day back, past the hourly age.
async fn age(os: &AgentOs, session: &str) {
    let day_ago = now_micros() - 86_400_000_000;
    sql(
        os,
        &format!(
            "UPDATE agentos_sessions SET updated_at = {day_ago}, created_at = {day_ago} \
             WHERE session_id = '{session}'"
        ),
    )
    .await;
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Waits (up to 30 s) until `done` holds of the store's stats; returns them.
async fn until(os: &AgentOs, done: impl Fn(&StoreStats) -> bool) -> StoreStats {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = os.store().stats().await.unwrap();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "not reached: {stats:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a sweep that began after now has ended.
async fn a_whole_sweep(os: &AgentOs) -> StoreStats {
    let after = now_micros();
    until(os, |stats| {
        stats
            .last_sweep
            .as_ref()
            .is_some_and(|sweep| sweep.finished_at - sweep.took.as_micros() as i64 > after)
    })
    .await
}

/// `n` sessions last updated at `at` (unix µs), each with `runs` finished runs carrying
/// `bytes` of output and a row of events as large: bulk rows, inserted by SQL on either backend.
async fn bulk(os: &AgentOs, prefix: &str, n: u32, runs: u32, at: i64, bytes: usize) {
    let postgres = os.store().backend() == DatabaseBackend::Postgres;
    let json = |text: &str| {
        if postgres {
            format!("'{text}'::json")
        } else {
            format!("'{text}'")
        }
    };
    let padding = "x".repeat(bytes);
    let output = json(&format!(r#"{{"content": "{padding}"}}"#));
    let empty = json("{}");
    let numbers = |to: u32| {
        format!("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {to})")
    };
    sql(
        os,
        &format!(
            "{} INSERT INTO agentos_sessions (session_id, session_type, component_id, user_id, \
             session_name, session_state, metadata, created_at, updated_at) \
             SELECT '{prefix}-' || i, 'team', 'support', NULL, 'bulk', {empty}, {empty}, {at}, {at} \
             FROM n",
            numbers(n)
        ),
    )
    .await;
    for run in 0..runs {
        sql(
            os,
            &format!(
                "{} INSERT INTO agentos_runs (run_id, session_id, parent_run_id, component_type, \
                 component_id, user_id, status, factory_input, input, output, events, metrics, \
                 cancel_requested, owner, heartbeat_at, created_at, updated_at) \
                 SELECT '{prefix}-' || i || '-r{run}', '{prefix}-' || i, NULL, 'team', 'support', \
                 NULL, 'COMPLETED', NULL, 'hello', {output}, NULL, NULL, false, 'bulk', {at}, \
                 {at}, {at} FROM n",
                numbers(n)
            ),
        )
        .await;
        sql(
            os,
            &format!(
                "{} INSERT INTO agentos_run_events (run_id, seq, last_seq, data, created_at) \
                 SELECT '{prefix}-' || i || '-r{run}', 0, 0, 'RunContent\t{padding}', {at} FROM n",
                numbers(n)
            ),
        )
        .await;
    }
}

fn completed(stats: &StoreStats) -> u64 {
    stats
        .runs_by_status
        .iter()
        .filter(|(status, _)| *status == RunStatus::Completed)
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test]
async fn old_sessions_go_with_their_runs_and_events_and_recent_ones_stay() {
    let server = TestServer::with(builder().retention(hourly())).await;
    let os = &server.os;
    for session in ["old", "recent"] {
        run(&server, "/teams/support/runs", session, true).await;
        run(&server, "/teams/support/runs", session, false).await;
    }
    let runs_of = |session: &str| format!("agentos_runs WHERE session_id = '{session}'");
    let events_of = |session: &str| {
        format!(
            "agentos_run_events WHERE run_id IN \
             (SELECT run_id FROM agentos_runs WHERE session_id = '{session}')"
        )
    };
    let old_runs = count(os, &runs_of("old")).await;
    assert!(old_runs >= 2, "a team run stores its member runs too");
    assert!(
        count(os, &events_of("old")).await > 0,
        "the streamed run stored events"
    );
    let old_run_ids: Vec<String> = os
        .store()
        .session_runs("old")
        .await
        .unwrap()
        .into_iter()
        .map(|run| run.run_id)
        .collect();

    age(os, "old").await;
    let stats = a_whole_sweep(os).await;

    assert!(
        os.store().session("old").await.unwrap().is_none(),
        "the sweep left the old session: {:?}",
        stats.last_sweep
    );
    assert_eq!(count(os, &runs_of("old")).await, 0);
    let events_left = count(
        os,
        &format!(
            "agentos_run_events WHERE run_id IN ({})",
            old_run_ids
                .iter()
                .map(|id| format!("'{id}'"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    )
    .await;
    assert_eq!(events_left, 0, "the old runs' events went with them");
    assert!(os.store().session("recent").await.unwrap().is_some());
    assert_eq!(count(os, &runs_of("recent")).await, old_runs);
    assert!(count(os, &events_of("recent")).await > 0);

    assert_eq!(os.store().stats().await.unwrap().sessions, 1);
    assert!(stats.last_sweep.as_ref().unwrap().error.is_none());
    // Over HTTP the old session is gone and its runs are not found.
    let gone = client()
        .get(server.url("/sessions/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let kept = client()
        .get(server.url("/sessions/recent/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
}

#[tokio::test]
async fn running_and_paused_runs_keep_their_sessions() {
    let server = TestServer::with(builder().retention(hourly())).await;
    let os = &server.os;
    // A paused run waits for a person; a running one is still going (its model takes 4 s).
    let paused = run(&server, "/agents/refunds/runs", "paused", false).await;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let running = client()
        .post(server.url("/teams/slow/runs"))
        .multipart(form(&[
            ("message", "hello"),
            ("session_id", "running"),
            ("stream", "false"),
            ("background", "true"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status(), StatusCode::ACCEPTED);
    run(&server, "/teams/support/runs", "finished", false).await;
    for session in ["paused", "running", "finished"] {
        age(os, session).await;
    }

    a_whole_sweep(os).await;
    assert!(os.store().session("finished").await.unwrap().is_none());
    for session in ["paused", "running"] {
        assert!(
            os.store().session(session).await.unwrap().is_some(),
            "{session} kept"
        );
    }
    let paused_run = paused["run_id"].as_str().unwrap();
    let stored = os.store().run(paused_run).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Paused);

    // Once the run ends, its session is an old one like any other: the run's end does not
    // count as an update of its session.
    let deadline = Instant::now() + Duration::from_secs(30);
    while os.store().session("running").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the ended run's old session stays"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(os.store().session("paused").await.unwrap().is_some());
}

#[tokio::test]
async fn runs_during_a_sweep_all_succeed() {
    let server = TestServer::with(
        builder().retention(Retention::after(HOUR).sweep_every(Duration::from_secs(1))),
    )
    .await;
    let os = &server.os;
    const OLD: u32 = 10_000;
    bulk(os, "old", OLD, 2, 0, 100).await;
    let before = os.store().stats().await.unwrap();
    assert!(before.sessions >= OLD as u64);

    // Runs start once the sweep has begun deleting.
    until(os, |stats| stats.sessions < before.sessions).await;
    let clients = (0..8).map(|client_no| {
        let base = server.base.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..15 {
                let started = Instant::now();
                let response = client()
                    .post(format!("{base}/teams/support/runs"))
                    .multipart(form(&[
                        ("message", "hello"),
                        ("session_id", &format!("new-{client_no}-{i}")),
                        ("stream", if i % 2 == 0 { "true" } else { "false" }),
                    ]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let body = response.text().await.unwrap();
                assert!(
                    body.contains("RunCompleted") || body.contains("\"COMPLETED\""),
                    "{body}"
                );
                slowest = slowest.max(started.elapsed());
            }
            slowest
        })
    });
    let slowest = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .max()
        .unwrap();
    let during = os.store().stats().await.unwrap();
    // The sweep was still going when the last run ended: the runs did overlap it.
    let old_left = count(os, "agentos_sessions WHERE session_id LIKE 'old-%'").await;
    eprintln!("slowest run during the sweep: {slowest:?}; old sessions left then: {old_left}");
    assert!(old_left > 0, "the sweep ended before the runs: {during:#?}");

    let after = until(os, |stats| stats.sessions == 120).await;
    assert_eq!(
        count(os, "agentos_sessions WHERE session_id LIKE 'new-%'").await,
        120
    );
    assert_eq!(
        count(os, "agentos_runs WHERE session_id LIKE 'old-%'").await,
        0
    );
    assert_eq!(
        count(os, "agentos_run_events WHERE run_id LIKE 'old-%'").await,
        0
    );
    assert!(completed(&after) >= 120);
}

#[tokio::test]
async fn idempotency_keys_live_a_day_and_past_token_days_go() {
    // Even with an age of a second, keys stay their 24 hours.
    let server = TestServer::with(builder().retention(
        Retention::after(Duration::from_secs(1)).sweep_every(Duration::from_millis(100)),
    ))
    .await;
    let os = &server.os;
    let now = now_micros();
    let two_days_ago = now - 2 * 86_400_000_000;
    let today = now / 86_400_000_000;
    for (key, at) in [("stale", two_days_ago), ("fresh", now - 60_000_000)] {
        sql(
            os,
            &format!(
                "INSERT INTO agentos_idempotency_keys (owner, component_type, component_id, key, \
                 fingerprint, run_id, created_at) VALUES ('ada', 'team', 'support', '{key}', 'f', \
                 'r-{key}', {at})"
            ),
        )
        .await;
    }
    for day in [today - 3, today - 1, today] {
        sql(
            os,
            &format!(
                "INSERT INTO agentos_token_usage (owner, day, tokens) VALUES ('ada', {day}, 10)"
            ),
        )
        .await;
    }
    a_whole_sweep(os).await;
    assert_eq!(
        count(os, "agentos_idempotency_keys WHERE key = 'stale'").await,
        0
    );
    assert_eq!(
        count(os, "agentos_idempotency_keys WHERE key = 'fresh'").await,
        1,
        "a key lives 24 h, whatever the retention"
    );
    assert_eq!(
        count(os, &format!("agentos_token_usage WHERE day < {today}")).await,
        0
    );
    assert_eq!(
        count(os, &format!("agentos_token_usage WHERE day = {today}")).await,
        1,
        "today's usage counts toward the budget"
    );
}

#[tokio::test]
async fn the_sqlite_file_shrinks() {
    if TestDb::on_postgres() {
        return; // a file of its own only on SQLite
    }
    let db = Arc::new(TestDb::sqlite());
    let server = TestServer::on(
        builder().retention(Retention::after(HOUR).sweep_every(Duration::from_secs(3600))),
        db.clone(),
    )
    .await;
    let os = &server.os;
    bulk(os, "old", 3_000, 2, 0, 2_000).await;
    bulk(os, "kept", 100, 1, now_micros(), 2_000).await;
    let full = os.store().stats().await.unwrap();
    let file = full.sqlite.clone().unwrap();
    assert_eq!(file.auto_vacuum, "incremental", "a new file can shrink");
    assert!(file.page_count > 3_000, "{file:?}");

    let report = os.store().sweep_expired(Retention::after(HOUR)).await;
    assert!(report.error.is_none(), "{report:?}");
    assert_eq!(report.sessions, 3_000);
    assert_eq!(report.runs, 6_000);
    assert_eq!(report.event_rows, 6_000);
    let after = os.store().stats().await.unwrap();
    let shrunk = after.sqlite.clone().unwrap();
    assert!(report.pages_freed > 0, "{report:?}");
    assert!(
        shrunk.page_count * 4 < file.page_count,
        "pages {} -> {}",
        file.page_count,
        shrunk.page_count
    );
    assert_eq!(shrunk.freelist_pages, 0);
    assert_eq!(after.sessions, 100);

    // Once writes pause, the WAL is checkpointed and truncated, and the file on disk is
    // smaller too.
    let on_disk = until(os, |stats| {
        stats
            .sqlite
            .as_ref()
            .is_some_and(|file| file.wal_bytes == 0 && file.wal_truncations > 0)
    })
    .await
    .sqlite
    .unwrap();
    assert!(
        on_disk.file_bytes < file.page_count * file.page_size / 4,
        "{} bytes for {} pages before",
        on_disk.file_bytes,
        file.page_count
    );
}

#[tokio::test]
async fn an_old_small_sqlite_file_is_rebuilt_to_shrink() {
    if TestDb::on_postgres() {
        return;
    }
    let db = TestDb::sqlite();
    let Db::Sqlite(path) = db.db() else {
        unreachable!()
    };
    // A file made before incremental vacuum: no auto-vacuum, one table already.
    {
        let conn = sea_orm::Database::connect(format!("sqlite://{path}?mode=rwc"))
            .await
            .unwrap();
        conn.execute_unprepared("CREATE TABLE older (x INTEGER)")
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let without = AgentOs::builder()
        .team(Team::new("Support").with_model(TestModel::new()))
        .db(db.db())
        .build()
        .await
        .unwrap();
    let mode = without.store().stats().await.unwrap().sqlite.unwrap();
    assert_eq!(
        mode.auto_vacuum, "none",
        "without retention it is left as it is"
    );
    drop(without);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let with = AgentOs::builder()
        .team(Team::new("Support").with_model(TestModel::new()))
        .db(db.db())
        .retention(Retention::days(30))
        .build()
        .await
        .unwrap();
    let mode = with.store().stats().await.unwrap().sqlite.unwrap();
    assert_eq!(mode.auto_vacuum, "incremental");
}

#[tokio::test]
async fn the_admin_route_reports_the_store_to_an_admin_only() {
    let server = TestServer::with(builder().retention(hourly()).auth(JwtAuth::hs256(SECRET))).await;
    let admin = token(SECRET, "root", serde_json::json!(["agent_os:admin"]));
    let user = token(
        SECRET,
        "ada",
        serde_json::json!(["teams:run", "sessions:read"]),
    );
    for i in 0..3 {
        let response = client()
            .post(server.url("/teams/support/runs"))
            .bearer_auth(&user)
            .multipart(form(&[
                ("message", "hello"),
                ("session_id", &format!("s{i}")),
                ("stream", if i == 0 { "true" } else { "false" }),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap();
    }
    a_whole_sweep(&server.os).await;

    let refused = client()
        .get(server.url("/admin/store"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let body: Value = refused.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
    let refused = client()
        .get(server.url("/admin/store"))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error_code"], "missing_scope", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("agent_os:admin"));

    let answer = client()
        .get(server.url("/admin/store"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    let stats = server.os.store().stats().await.unwrap();
    assert_eq!(body["sessions"], 3, "{body}");
    // A team run stores its member runs too, each a row.
    let total = body["runs"]["total"].as_u64().unwrap();
    assert!(total >= 3, "{body}");
    assert_eq!(body["runs"]["by_status"]["COMPLETED"], completed(&stats));
    assert_eq!(total, completed(&stats));
    assert!(body["event_rows"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(body["idempotency_keys"], 0);
    assert!(body["oldest_run_at"].as_str().unwrap() <= body["newest_run_at"].as_str().unwrap());
    assert_eq!(body["retention"]["enabled"], true);
    assert_eq!(body["retention"]["age_seconds"], 3600.0);
    let sweep = &body["retention"]["last_sweep"];
    assert_eq!(sweep["sessions"], 0, "{body}");
    assert!(sweep["error"].is_null());
    if TestDb::on_postgres() {
        assert_eq!(body["backend"], "postgres");
        assert!(body["sqlite"].is_null());
    } else {
        assert_eq!(body["backend"], "sqlite");
        assert!(body["sqlite"]["file_bytes"].as_u64().unwrap() > 0, "{body}");
        assert_eq!(body["sqlite"]["auto_vacuum"], "incremental");
        assert!(body["sqlite"]["page_count"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn without_retention_nothing_is_deleted_and_the_route_says_so() {
    let server = TestServer::with(builder()).await;
    let os = &server.os;
    run(&server, "/teams/support/runs", "old", false).await;
    age(os, "old").await;
    let body: Value = client()
        .get(server.url("/admin/store"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["retention"]["enabled"], false, "{body}");
    assert_eq!(body["sessions"], 1);
    let report = os.store().stats().await.unwrap();
    assert!(report.last_sweep.is_none());
    assert!(os.store().session("old").await.unwrap().is_some());
}

/// Writes of one's own through `Store::connection` while sweeps run (every 100 ms here) never
/// make a sweep fail: a sweep takes SQLite's write lock when it begins, so it cannot find its
/// snapshot overtaken by another connection's commit half-way through.
#[tokio::test]
async fn sweeps_hold_beside_writes_through_the_shared_connection() {
    let server = TestServer::with(builder().retention(hourly())).await;
    let os = &server.os;
    let day_ago = now_micros() - 86_400_000_000;
    let mut errors = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut round = 0;
    while Instant::now() < deadline {
        bulk(os, &format!("own-{round}"), 20, 1, day_ago, 64).await;
        round += 1;
        let stats = os.store().stats().await.unwrap();
        if let Some(error) = stats.last_sweep.and_then(|sweep| sweep.error) {
            errors.push(error);
        }
    }
    let stats = a_whole_sweep(os).await;
    assert!(
        errors.is_empty(),
        "sweeps failed beside outside writes: {errors:?}"
    );
    assert!(stats.last_sweep.unwrap().error.is_none());
    assert_eq!(
        os.store().stats().await.unwrap().sessions,
        0,
        "{round} rounds"
    );
}
