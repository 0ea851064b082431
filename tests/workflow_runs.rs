//! What the run service gives every run, held for workflows: an idempotent retry gets the same
//! run, a busy session follows the chosen strategy, a dropped stream resumes with every event
//! exactly once, and a cancel sent to another replica stops the workflow between steps. On
//! SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres` (the replica test needs it).

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use support::db::TestDb;
use support::{SseFrame, SseReader, TestServer, client, form};

/// Three steps of `pause` each: a function, an agent whose model takes that long, a function.
fn paced(pause: Duration) -> Workflow {
    let thinker = Agent::new("Thinker").with_model(TestModel::new().with_latency(pause));
    let wait = move |label: &'static str| {
        Step::function(label, move |input: StepInput| async move {
            tokio::time::sleep(pause).await;
            format!("{label}: {}", input.previous_or_message())
        })
    };
    Workflow::new("Paced").with_steps([wait("first"), Step::agent("think", thinker), wait("last")])
}

fn os(pause: Duration) -> agentos::AgentOsBuilder {
    AgentOs::builder().workflow(paced(pause))
}

async fn post(server: &TestServer, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(server.url("/workflows/paced/runs"))
        .multipart(form(fields))
        .send()
        .await
        .unwrap()
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    client()
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the run's stored status is not RUNNING or PENDING.
async fn wait_ended(server: &TestServer, run_id: &str) -> Value {
    for _ in 0..200 {
        let run = get_json(server, &format!("/workflows/paced/runs/{run_id}")).await;
        if run["status"] != "RUNNING" && run["status"] != "PENDING" {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run_id} did not end");
}

/// A run started in the background: its id.
async fn start_in_background(server: &TestServer, session: &str) -> String {
    let answer = post(
        server,
        &[
            ("message", "first"),
            ("session_id", session),
            ("stream", "false"),
            ("background", "true"),
        ],
    )
    .await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let answer: Value = answer.json().await.unwrap();
    answer["run_id"].as_str().unwrap().to_owned()
}

fn ids(frames: &[SseFrame]) -> Vec<u64> {
    frames
        .iter()
        .filter_map(|f| f.id.as_deref().map(|id| id.parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn an_idempotency_key_gives_the_same_workflow_run_while_running_and_after() {
    let server = TestServer::with(os(Duration::from_millis(80))).await;
    let send = |message: &'static str| {
        client()
            .post(server.url("/workflows/paced/runs"))
            .header("idempotency-key", "workflow-retry-1")
            .multipart(form(&[
                ("message", message),
                ("session_id", "sess-workflow-idem"),
                ("stream", "false"),
            ]))
            .send()
    };
    let (first, retried) = tokio::join!(send("publish once"), async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        send("publish once").await
    });
    let (first, retried) = (first.unwrap(), retried.unwrap());
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(retried.status(), StatusCode::OK);
    // Whichever of the two claimed the key first ran; the other got its answer.
    let replayed = [&first, &retried]
        .iter()
        .filter(|answer| answer.headers().get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 1, "one run, one replay");
    let (first, retried): (Value, Value) =
        (first.json().await.unwrap(), retried.json().await.unwrap());
    assert_eq!(first["status"], "COMPLETED", "{first}");
    assert_eq!(first["run_id"], retried["run_id"]);
    assert_eq!(first["content"], retried["content"]);
    assert_eq!(
        retried["step_results"].as_array().map(Vec::len),
        Some(3),
        "the retry gets the whole workflow run: {retried}"
    );

    let other = send("publish twice").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let runs = get_json(
        &server,
        "/workflows/paced/runs?session_id=sess-workflow-idem",
    )
    .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "one run: {runs}");
}

#[tokio::test]
async fn a_busy_workflow_session_rejects_or_interrupts_as_asked() {
    let server = TestServer::with(os(Duration::from_millis(150))).await;

    let first = start_in_background(&server, "sess-wf-reject").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = post(
        &server,
        &[
            ("message", "second"),
            ("session_id", "sess-wf-reject"),
            ("stream", "false"),
            ("multitask_strategy", "reject"),
        ],
    )
    .await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert_eq!(wait_ended(&server, &first).await["status"], "COMPLETED");

    let first = start_in_background(&server, "sess-wf-interrupt").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = post(
        &server,
        &[
            ("message", "second"),
            ("session_id", "sess-wf-interrupt"),
            ("stream", "false"),
            ("multitask_strategy", "interrupt"),
        ],
    )
    .await;
    assert_eq!(second.status(), StatusCode::OK);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["status"], "COMPLETED", "{second}");
    let first = wait_ended(&server, &first).await;
    assert_eq!(first["status"], "CANCELLED", "{first}");
}

#[tokio::test]
async fn a_dropped_workflow_stream_resumes_with_every_event_once() {
    let server = TestServer::with(os(Duration::from_millis(100))).await;
    let answer = post(&server, &[("message", "go"), ("stream", "true")]).await;
    let mut reader = SseReader::new(answer);
    let mut seen = vec![reader.next_frame().await.unwrap()];
    seen.push(reader.next_frame().await.unwrap());
    drop(reader);
    let run_id = seen[0].data["run_id"].as_str().unwrap().to_owned();
    let resumed = client()
        .get(server.url(&format!("/workflows/paced/runs/{run_id}/resume")))
        .header("last-event-id", seen[1].id.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    seen.extend(SseReader::new(resumed).rest().await);
    let numbers = ids(&seen);
    let expected: Vec<u64> = (0..numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "every event exactly once, in order");
    assert_eq!(seen.first().unwrap().event, "WorkflowStarted");
    assert_eq!(seen.last().unwrap().event, "WorkflowCompleted");
    let steps = seen.iter().filter(|f| f.event == "StepCompleted").count();
    assert_eq!(steps, 3);
}

#[tokio::test]
async fn a_cancel_sent_to_another_replica_stops_the_workflow() {
    if !TestDb::on_postgres() {
        // SQLite serves one process: a second replica needs PostgreSQL.
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = Arc::new(TestDb::new().await);
    let a = TestServer::on(os(Duration::from_millis(400)), db.clone()).await;
    let b = TestServer::on(os(Duration::from_millis(400)), db.clone()).await;
    let run_id = start_in_background(&a, "sess-wf-cancel").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cancelled = client()
        .post(b.url(&format!("/workflows/paced/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    let run = wait_ended(&a, &run_id).await;
    assert_eq!(run["status"], "CANCELLED", "{run}");
    let steps = run["step_results"].as_array().map_or(0, Vec::len);
    assert!(steps < 3, "it stopped before its last step: {run}");
}
