//! Runs that go wrong end well: a panic anywhere in a run ends it as an error (stored, sent,
//! never left running), and a request the store cannot hold is refused alone, without failing
//! the other tenants' runs that share its write batch. On SQLite by default and on PostgreSQL
//! with `AGENTOS_TEST_DB=postgres`.

mod support;

use std::sync::Arc;

use agentos::model::{Model, ModelError, ModelRequest, ModelResponse};
use agentos::prelude::*;
use agentos::store::{NewRun, Store};
use agentos::{ComponentKind, RunMeta, RunStatus, TestModel};
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::Value;
use support::db::TestDb;
use support::{TestServer, client, form, parse_sse};

/// A model that panics on every call, as a buggy `Model` implementation might.
struct Panicking;

impl Model for Panicking {
    fn id(&self) -> &str {
        "panicking"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async { panic!("model bug: secret stack detail") })
    }
}

fn teams() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .team(Team::new("Broken Leader").with_model(Panicking))
        .team(
            Team::new("Broken Member")
                .with_model(TestModel::new())
                .with_member(Agent::new("Worker").with_model(Panicking)),
        )
}

async fn post(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(server.url(path))
        .multipart(form(fields))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_panic_inside_a_run_ends_it_as_an_error_everywhere() {
    let server = TestServer::with(teams()).await;
    for team in ["broken-leader", "broken-member"] {
        let path = format!("/teams/{team}/runs");
        let response = post(&server, &path, &[("message", "hi"), ("stream", "false")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{team}");
        let run: Value = response.json().await.unwrap();
        assert_eq!(run["status"], "ERROR", "{team}: {run}");
        let text = run.to_string();
        assert!(!text.contains("secret stack detail"), "{text}");
        assert_eq!(run["events"][0]["event"], "TeamRunError");
        let run_id = run["run_id"].as_str().unwrap();
        let stored: Value = client()
            .get(server.url(&format!("/teams/{team}/runs/{run_id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stored["status"], "ERROR", "{stored}");

        let response = post(&server, &path, &[("message", "hi"), ("stream", "true")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let frames = parse_sse(&response.text().await.unwrap());
        let last = frames.last().expect("the stream has events");
        assert_eq!(last.event, "TeamRunError", "{team}: {frames:?}");
        assert_eq!(last.data["error_type"], "internal_error");
        assert!(!last.data.to_string().contains("secret stack detail"));
        let run_id = last.data["run_id"].as_str().unwrap();
        let stored: Value = client()
            .get(server.url(&format!("/teams/{team}/runs/{run_id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stored["status"], "ERROR", "{stored}");
    }
    assert_eq!(server.os.runs_in_flight(), 0, "no run outlived its task");
    // The server goes on serving.
    let response = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_requests_mixed_with_good_ones_fail_alone() {
    let server = Arc::new(
        TestServer::with(
            AgentOs::builder().team(Team::new("Support").with_model(TestModel::new())),
        )
        .await,
    );
    let long_id = "s".repeat(3 * 1024);
    let mut tasks = Vec::new();
    for i in 0..240 {
        let server = Arc::clone(&server);
        let long_id = long_id.clone();
        tasks.push(tokio::spawn(async move {
            let session = format!("sess-{i}");
            let user = format!("user-{}", i % 7);
            let (bad, fields): (bool, Vec<(&str, String)>) = match i % 4 {
                0 => (true, vec![("message", "a NUL \0 in the middle".into())]),
                1 => (
                    true,
                    vec![("message", "hi".into()), ("session_id", long_id)],
                ),
                2 => (true, vec![("message", "hi".into()), ("user_id", long_id)]),
                _ => (
                    false,
                    vec![("message", format!("good {i}")), ("session_id", session)],
                ),
            };
            let mut fields: Vec<(&str, String)> = fields;
            fields.push(("stream", "false".into()));
            if !fields.iter().any(|(name, _)| *name == "user_id") {
                fields.push(("user_id", user));
            }
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let response = post(&server, "/teams/support/runs", &fields).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (bad, status, body)
        }));
    }
    let (mut good, mut refused) = (0, 0);
    for task in tasks {
        let (bad, status, body) = task.await.unwrap();
        if bad {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert!(body["detail"].is_string(), "{body}");
            refused += 1;
        } else {
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["status"], "COMPLETED");
            good += 1;
        }
    }
    assert_eq!((good, refused), (60, 180));
}

#[tokio::test]
async fn a_write_the_database_refuses_fails_only_itself() {
    refused_write_fails_only_itself(false).await;
}

/// Runs in sessions the server made go in as pure writes (on SQLite one call for the whole
/// transaction); a refused one must still fail alone and leave the others stored.
#[tokio::test]
async fn a_refused_write_among_new_sessions_fails_only_itself() {
    refused_write_fails_only_itself(true).await;
}

async fn refused_write_fails_only_itself(new_session: bool) {
    let db = TestDb::new().await;
    let store = Store::connect(&db.db()).await.unwrap();
    let store = Arc::new(store);
    // One run id used twice: the second insert breaks its batch's transaction.
    let duplicate = RunMeta::for_test("run-twice", "sess-dup", Identity::Anonymous);
    let first = store
        .start_run(NewRun {
            kind: ComponentKind::Team,
            component_id: "support",
            meta: &duplicate,
            input: "first",
            factory_input: None,
            status: RunStatus::Running,
            reject_if_busy: false,
            idempotency: None,
            new_session: false,
        })
        .await;
    assert!(first.is_ok(), "{first:?}");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        let duplicate = duplicate.clone();
        tasks.push(tokio::spawn(async move {
            let meta = if i == 100 {
                duplicate
            } else {
                RunMeta::new(Some(format!("sess-{i}")), Identity::Anonymous)
            };
            let result = store
                .start_run(NewRun {
                    kind: ComponentKind::Team,
                    component_id: "support",
                    meta: &meta,
                    input: "hello",
                    factory_input: None,
                    status: RunStatus::Running,
                    reject_if_busy: false,
                    idempotency: None,
                    new_session,
                })
                .await;
            (i, result)
        }));
    }
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if i == 100 {
            assert!(result.is_err(), "the duplicate is refused");
        } else {
            assert!(result.is_ok(), "run {i}: {result:?}");
        }
    }
    for i in [0, 99, 101, 199] {
        let runs = store.session_runs(&format!("sess-{i}")).await.unwrap();
        assert_eq!(runs.len(), 1, "run {i} was stored");
    }
}
