//! Runs that survive: a dropped stream resumed exactly once (`Last-Event-ID`, agno's
//! `POST .../resume`, on another replica too), idempotent retries, the four policies for a busy
//! session, and answers that say COMPLETED only once the store has the run. Streams are read
//! frame by frame with a real SSE client, on SQLite by default and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use agentos::prelude::*;
use agentos::runs::MultitaskStrategy;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use support::db::TestDb;
use support::{Cuttable, Recorder, SseFrame, SseReader, TestServer, client, form, sleepy_team};

/// A team whose every model call takes `delay`: a run of a few hundred milliseconds with a
/// dozen events spread over it.
fn slow_os(delay: Duration) -> agentos::AgentOsBuilder {
    AgentOs::builder().team(sleepy_team("Slow Team", delay))
}

async fn post(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(server.url(path))
        .multipart(form(fields))
        .send()
        .await
        .unwrap()
}

async fn get_json(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the run's stored status is not RUNNING or PENDING.
async fn wait_ended(server: &TestServer, path: &str) -> Value {
    for _ in 0..200 {
        let (_, run) = get_json(server, path).await;
        if run["status"] != "RUNNING" && run["status"] != "PENDING" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} did not end");
}

fn ids(frames: &[SseFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| f.id.as_deref().map(|id| id.parse().unwrap()))
        .collect()
}

/// Every event of a stream is numbered 0, 1, 2, ... and ends with the run's completion.
fn assert_whole_sequence(frames: &[SseFrame]) {
    let numbers = ids(frames);
    let expected: Vec<u64> = (0..numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "every event exactly once, in order");
    assert_eq!(frames.first().unwrap().event, "TeamRunStarted");
    assert_eq!(frames.last().unwrap().event, "TeamRunCompleted");
    for frame in frames {
        assert_eq!(
            frame.data["event_index"].as_u64(),
            frame.id.as_deref().map(|id| id.parse().unwrap()),
            "{frame:?}"
        );
    }
}

#[tokio::test]
async fn a_dropped_stream_resumed_with_last_event_id_yields_every_event_exactly_once() {
    let server = TestServer::with(slow_os(Duration::from_millis(150))).await;
    let response = post(
        &server,
        "/teams/slow-team/runs",
        &[("message", "take your time"), ("stream", "true")],
    )
    .await;
    let mut reader = SseReader::new(response);
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(reader.next_frame().await.expect("an event"));
    }
    drop(reader); // the connection goes away mid-run
    let run_id = seen[0].data["run_id"].as_str().unwrap().to_owned();
    let last = seen.last().unwrap().id.clone().unwrap();

    let resumed = client()
        .get(server.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    assert!(
        resumed.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    seen.extend(SseReader::new(resumed).rest().await);
    assert_whole_sequence(&seen);

    // The client going away did not cancel the run.
    let run = wait_ended(&server, &format!("/teams/slow-team/runs/{run_id}")).await;
    assert_eq!(run["status"], "COMPLETED");

    // After the end, the whole stream replays from the store, and from any point.
    let replayed = client()
        .get(server.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .send()
        .await
        .unwrap();
    let replayed = SseReader::new(replayed).rest().await;
    assert_whole_sequence(&replayed);
    assert_eq!(replayed.len(), seen.len());
    let tail = client()
        .get(server.url(&format!(
            "/teams/slow-team/runs/{run_id}/resume?last_event_id=4"
        )))
        .send()
        .await
        .unwrap();
    let tail = SseReader::new(tail).rest().await;
    assert_eq!(ids(&tail).first(), Some(&5));
    assert_eq!(ids(&tail).len(), seen.len() - 5);

    // A client that had every event and reconnects (as EventSource does when the stream
    // closes) is told again how the run ended, not given an empty stream to retry forever.
    let end = seen.last().unwrap();
    let again = client()
        .get(server.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .header("last-event-id", end.id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    let again = SseReader::new(again).rest().await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].event, "TeamRunCompleted");
    assert_eq!(again[0].id, end.id);
}

#[tokio::test]
async fn agnos_post_resume_sends_its_notices_then_the_missed_events() {
    let server = TestServer::with(slow_os(Duration::from_millis(150))).await;
    let response = post(
        &server,
        "/teams/slow-team/runs",
        &[("message", "x"), ("stream", "true"), ("background", "true")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "a background stream");
    let mut reader = SseReader::new(response);
    let first = reader.next_frame().await.unwrap();
    let second = reader.next_frame().await.unwrap();
    drop(reader);
    let run_id = first.data["run_id"].as_str().unwrap().to_owned();
    let session_id = first.data["session_id"].as_str().unwrap().to_owned();

    let resumed = client()
        .post(server.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .multipart(form(&[
            ("last_event_index", second.id.as_deref().unwrap()),
            ("session_id", &session_id),
        ]))
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(resumed).rest().await;
    let notices: Vec<&str> = frames
        .iter()
        .filter(|f| f.id.is_none())
        .map(|f| f.event.as_str())
        .collect();
    assert!(
        notices == ["catch_up", "subscribed"] || notices == ["subscribed"] || notices == ["replay"],
        "{notices:?}"
    );
    let mut all = vec![first, second];
    all.extend(frames.into_iter().filter(|f| f.id.is_some()));
    assert_whole_sequence(&all);

    // Once the run has ended, agno's resume replays it from the store.
    wait_ended(&server, &format!("/teams/slow-team/runs/{run_id}")).await;
    let replay = client()
        .post(server.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .multipart(form(&[
            ("last_event_index", "-1"),
            ("session_id", &session_id),
        ]))
        .send()
        .await
        .unwrap();
    let frames = SseReader::new(replay).rest().await;
    assert_eq!(frames[0].event, "replay");
    assert_eq!(frames[0].data["status"], "COMPLETED");
    assert_eq!(
        frames[0].data["total_events"].as_u64().unwrap() as usize,
        frames.len() - 1
    );
}

#[tokio::test]
async fn a_stream_resumes_on_another_replica() {
    if !TestDb::on_postgres() {
        // SQLite serves one process: a second replica needs PostgreSQL.
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = Arc::new(TestDb::new().await);
    let a = TestServer::on(slow_os(Duration::from_millis(300)), db.clone()).await;
    let b = TestServer::on(slow_os(Duration::from_millis(300)), db.clone()).await;
    let response = post(
        &a,
        "/teams/slow-team/runs",
        &[("message", "x"), ("stream", "true")],
    )
    .await;
    let mut reader = SseReader::new(response);
    let mut seen = vec![reader.next_frame().await.unwrap()];
    seen.push(reader.next_frame().await.unwrap());
    drop(reader);
    let run_id = seen[0].data["run_id"].as_str().unwrap().to_owned();
    // Give replica a's event writes a moment; b follows whatever it has, then the rest.
    let resumed = client()
        .get(b.url(&format!("/teams/slow-team/runs/{run_id}/resume")))
        .header("last-event-id", seen[1].id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    seen.extend(SseReader::new(resumed).rest().await);
    assert_whole_sequence(&seen);
}

#[tokio::test]
async fn an_idempotency_key_gives_the_same_run_while_running_and_after() {
    let server = TestServer::with(slow_os(Duration::from_millis(100))).await;
    let key = "retry-me-7c1e";
    let send = |stream: &'static str, message: &'static str| {
        client()
            .post(server.url("/teams/slow-team/runs"))
            .header("idempotency-key", key)
            .multipart(form(&[
                ("message", message),
                ("session_id", "sess-idem"),
                ("stream", stream),
            ]))
            .send()
    };
    // A whole request and its retry while the first still runs: one run, one answer.
    let (first, second) = tokio::join!(send("false", "charge once"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        send("false", "charge once").await
    });
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let (first, second): (Value, Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first["run_id"], second["run_id"]);
    assert_eq!(second["status"], "COMPLETED");
    assert_eq!(first["content"], second["content"]);

    // After the end: the stored answer again.
    let again = send("false", "charge once").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["run_id"], first["run_id"]);

    // The same key with another request: 422, and nothing is written.
    let other = send("false", "charge twice").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = other.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let (_, runs) = get_json(&server, "/teams/slow-team/runs?session_id=sess-idem").await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");

    // A streamed request with a key, retried while it runs, streams from the first event.
    let key = "stream-key-1";
    let stream = || {
        client()
            .post(server.url("/teams/slow-team/runs"))
            .header("idempotency-key", key)
            .multipart(form(&[("message", "stream it"), ("stream", "true")]))
            .send()
    };
    let original = stream().await.unwrap();
    let mut original = SseReader::new(original);
    let started = original.next_frame().await.unwrap();
    let retried = stream().await.unwrap();
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let retried = SseReader::new(retried).rest().await;
    assert_whole_sequence(&retried);
    assert_eq!(retried[0].data["run_id"], started.data["run_id"]);
    let mut rest = vec![started];
    rest.extend(original.rest().await);
    assert_eq!(ids(&rest), ids(&retried));
}

/// Starts a slow run of `session`, then a second one with `strategy`, and returns both
/// answers' bodies (the first in the background).
async fn second_message(
    server: &TestServer,
    session: &str,
    strategy: &str,
) -> (String, StatusCode, Value) {
    let first = post(
        server,
        "/teams/slow-team/runs",
        &[
            ("message", "first"),
            ("session_id", session),
            ("stream", "false"),
            ("background", "true"),
        ],
    )
    .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let first_id = first["run_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = post(
        server,
        "/teams/slow-team/runs",
        &[
            ("message", "second"),
            ("session_id", session),
            ("stream", "false"),
            ("multitask_strategy", strategy),
        ],
    )
    .await;
    let status = second.status();
    (first_id, status, second.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_busy_session_follows_the_chosen_strategy() {
    let server = TestServer::with(slow_os(Duration::from_millis(200))).await;

    // allow: both run at once.
    let (first, status, second) = second_message(&server, "sess-allow", "allow").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["status"], "COMPLETED");
    let first_run = wait_ended(&server, &format!("/teams/slow-team/runs/{first}")).await;
    assert_eq!(first_run["status"], "COMPLETED");

    // reject: 409 while the first runs, and nothing written for the second.
    let (first, status, body) = second_message(&server, "sess-reject", "reject").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].is_string());
    wait_ended(&server, &format!("/teams/slow-team/runs/{first}")).await;
    let (_, runs) = get_json(&server, "/teams/slow-team/runs?session_id=sess-reject").await;
    assert_eq!(runs.as_array().unwrap().len(), 1);

    // interrupt: the first is stopped and stored CANCELLED, then the second runs.
    let (first, status, second) = second_message(&server, "sess-interrupt", "interrupt").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["status"], "COMPLETED");
    let (_, first_run) = get_json(&server, &format!("/teams/slow-team/runs/{first}")).await;
    assert_eq!(first_run["status"], "CANCELLED", "{first_run}");

    // enqueue: the second waits for the first, then runs.
    let (first, status, second) = second_message(&server, "sess-enqueue", "enqueue").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["status"], "COMPLETED");
    let (_, first_run) = get_json(&server, &format!("/teams/slow-team/runs/{first}")).await;
    assert_eq!(first_run["status"], "COMPLETED");
    let (_, runs) = get_json(&server, "/teams/slow-team/runs?session_id=sess-enqueue").await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["run_input"] == "first");
}

#[tokio::test]
async fn an_enqueued_run_starts_after_the_earlier_one_with_its_history() {
    let recorder = Arc::new(Recorder::default());
    struct Slow(Arc<Recorder>);
    impl agentos::model::Model for Slow {
        fn id(&self) -> &str {
            "slow-recorder"
        }
        fn provider(&self) -> &str {
            "Test"
        }
        fn complete(
            &self,
            request: agentos::model::ModelRequest,
        ) -> futures_util::future::BoxFuture<
            '_,
            Result<agentos::model::ModelResponse, agentos::model::ModelError>,
        > {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                self.0.complete(request).await
            })
        }
    }
    let agent = Agent::new("Queue Keeper")
        .with_model(Slow(recorder.clone()))
        .with_add_history_to_context(true)
        .with_multitask_strategy(MultitaskStrategy::Enqueue);
    let server = Arc::new(TestServer::with(AgentOs::builder().agent(agent)).await);
    // The session exists before the two racing messages.
    let opened = post(
        &server,
        "/agents/queue-keeper/runs",
        &[
            ("message", "hello"),
            ("session_id", "sess-q"),
            ("stream", "false"),
        ],
    )
    .await;
    assert_eq!(opened.status(), StatusCode::OK);
    let mut tasks = Vec::new();
    for (i, text) in ["the code is 1234", "what was the code?"]
        .into_iter()
        .enumerate()
    {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100 * i as u64)).await;
            let response = post(
                &server,
                "/agents/queue-keeper/runs",
                &[
                    ("message", text),
                    ("session_id", "sess-q"),
                    ("stream", "false"),
                ],
            )
            .await;
            response.json::<Value>().await.unwrap()
        }));
    }
    for task in tasks {
        let run = task.await.unwrap();
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    let requests = recorder.requests.lock().unwrap();
    let last = requests.last().unwrap();
    let texts: Vec<&str> = last.messages.iter().map(|m| m.content.as_str()).collect();
    assert!(
        texts.contains(&"the code is 1234"),
        "the queued run saw the earlier one: {texts:?}"
    );
}

#[tokio::test]
async fn an_answer_says_completed_only_once_the_store_has_the_run() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = TestDb::new().await;
    let agentos::store::Db::Postgres(url) = db.db() else {
        unreachable!()
    };
    let proxy = Cuttable::to("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let os = slow_os(Duration::from_millis(200))
        .store_retry_window(Duration::from_millis(1500))
        .db(agentos::store::Db::postgres(proxied))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(os).await;

    // Whole: the store goes away while the run runs; the answer is a 503 naming the run.
    let request = post(
        &server,
        "/teams/slow-team/runs",
        &[("message", "x"), ("stream", "false")],
    );
    let cut = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.set(false);
    };
    let (response, ()) = tokio::join!(request, cut);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "run_not_recorded", "{body}");
    assert!(!body.to_string().contains("COMPLETED"));
    proxy.set(true);

    // Stream: no TeamRunCompleted; the stream ends with the error instead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = post(
        &server,
        "/teams/slow-team/runs",
        &[("message", "x"), ("stream", "true")],
    )
    .await;
    let mut reader = SseReader::new(response);
    let first = reader.next_frame().await.unwrap();
    assert_eq!(first.event, "TeamRunStarted");
    proxy.set(false);
    let rest = reader.rest().await;
    let names: BTreeSet<&str> = rest.iter().map(|f| f.event.as_str()).collect();
    assert!(!names.contains("TeamRunCompleted"), "{names:?}");
    let last = rest.last().unwrap();
    assert_eq!(last.event, "TeamRunError");
    assert_eq!(last.data["error_type"], "not_recorded");
    proxy.set(true);
    drop(server);
    drop(db);
}

/// A whole run in a new session begins while its start commits. When that start cannot be
/// stored, the run is stopped at once (not left to spend its model calls) and answered as a
/// run that could not start; nothing of it is kept.
#[tokio::test]
async fn a_whole_run_whose_start_cannot_be_stored_is_stopped_and_kept_nowhere() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = TestDb::new().await;
    let agentos::store::Db::Postgres(url) = db.db() else {
        unreachable!()
    };
    let proxy = Cuttable::to("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    // Every model call takes five seconds: the whole run would take fifteen.
    let os = slow_os(Duration::from_secs(5))
        .db(agentos::store::Db::postgres(proxied))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(os).await;

    proxy.set(false);
    let began = std::time::Instant::now();
    let response = post(
        &server,
        "/teams/slow-team/runs",
        &[("message", "x"), ("stream", "false")],
    )
    .await;
    let took = began.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "store_unavailable", "{body}");
    assert!(
        took < Duration::from_secs(4),
        "the run was stopped before its first model call ended, not run out: {took:?}"
    );
    proxy.set(true);

    // Whatever the stopped run did, nothing of it reached the database.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let store = agentos::store::Store::connect(&db.db()).await.unwrap();
    for table in ["agentos_runs", "agentos_sessions"] {
        let count = store
            .connection()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(count, 0, "{table} holds nothing of the run");
    }
    drop(server);
    drop(db);
}

/// A whole run in a new session that goes on past its first moments is stored as running
/// while it runs (so a crash would leave it marked interrupted, and its owner can list and
/// cancel it), then completed; a quick one is written once, by its end, and stored whole.
#[tokio::test]
async fn a_whole_run_that_goes_on_is_stored_as_running_and_a_quick_one_once() {
    let server = Arc::new(TestServer::with(slow_os(Duration::from_millis(400))).await);
    let running = tokio::spawn({
        let server = Arc::clone(&server);
        async move {
            post(
                &server,
                "/teams/slow-team/runs",
                &[("message", "slow"), ("stream", "false")],
            )
            .await
        }
    });
    let mut seen_running = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (_, sessions) = get_json(&server, "/sessions?type=team").await;
        let Some(session_id) = sessions["data"][0]["session_id"].as_str() else {
            continue;
        };
        let (_, runs) = get_json(&server, &format!("/sessions/{session_id}/runs")).await;
        if runs[0]["status"] == "RUNNING" {
            seen_running = Some(runs[0]["run_id"].as_str().unwrap().to_owned());
            break;
        }
    }
    let run_id = seen_running.expect("the run was listed as running while it ran");
    let response = running.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["run_id"].as_str(), body["status"].as_str()),
        (Some(run_id.as_str()), Some("COMPLETED"))
    );
    let (_, stored) = get_json(&server, &format!("/teams/slow-team/runs/{run_id}")).await;
    assert_eq!(stored["status"], "COMPLETED", "{stored}");

    // Quick runs: the support team's TestModel answers at once.
    let quick = TestServer::with(support::builder()).await;
    let response = post(
        &quick,
        "/teams/support-team/runs",
        &[("message", "fast"), ("stream", "false")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let (_, stored) = get_json(
        &quick,
        &format!(
            "/teams/support-team/runs/{}",
            body["run_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(stored["status"], "COMPLETED", "{stored}");
    assert_eq!(stored["session_id"], body["session_id"]);
    let (_, session) = get_json(
        &quick,
        &format!("/sessions/{}", body["session_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(session["session_name"], "fast", "{session}");
    let metrics = client()
        .get(quick.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let starts = metrics
        .lines()
        .find(|line| line.starts_with("agentos_store_write_seconds_count{op=\"start_run\"}"))
        .expect("start writes are counted");
    assert!(
        starts.ends_with(" 0"),
        "a quick run wrote no start: {starts}"
    );
}
