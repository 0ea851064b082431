//! One tenant never sees or touches another's: sessions, history, runs, cancel and delete,
//! with JWT on and with the asserted `user_id` of a server without authentication. Every
//! check is made over the public HTTP API, on SQLite by default and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Recorder, TestServer, client, form, historian, sleepy_team, token};

const SECRET: &[u8] = b"tenancy-hs256-secret-with-at-least-32-bytes";

fn bearer(sub: &str) -> String {
    token(SECRET, sub, json!([]))
}

fn admin() -> String {
    token(SECRET, "root", json!(["agent_os:admin"]))
}

/// `POST path` as `sub`'s token (or without one), with a form.
async fn post_as(
    server: &TestServer,
    bearer: Option<&str>,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = client().post(server.url(path)).multipart(form(fields));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get_as(server: &TestServer, bearer: &str, path: &str) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete_as(server: &TestServer, bearer: &str, path: &str) -> StatusCode {
    client()
        .delete(server.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .status()
}

fn message<'a>(text: &'a str, session: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("message", text),
        ("session_id", session),
        ("stream", "false"),
    ]
}

#[tokio::test]
async fn a_tenant_naming_anothers_session_is_refused_and_learns_nothing() {
    let recorder = Arc::new(Recorder::default());
    let server = TestServer::with(
        AgentOs::builder()
            .agent(historian(&recorder))
            .agent(Agent::new("Other").with_model(TestModel::new()))
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let alice = bearer("alice");
    let (status, first) = post_as(
        &server,
        Some(&alice),
        "/agents/historian/runs",
        &message("my card is 4111 1111 1111 1111", "sess-alice"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");

    let mallory = bearer("mallory");
    recorder.requests.lock().unwrap().clear();
    let (status, refused) = post_as(
        &server,
        Some(&mallory),
        "/agents/historian/runs",
        &message("what did I tell you before?", "sess-alice"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["detail"], "Session not found");
    assert!(
        recorder.requests.lock().unwrap().is_empty(),
        "the refused run never reached the model"
    );

    // The same session id with another component is foreign too, even for its owner.
    let (status, _) = post_as(
        &server,
        Some(&alice),
        "/agents/other/runs",
        &message("hello", "sess-alice"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Alice's session holds her one exchange, and she continues it with its history.
    let (_, session) = get_as(&server, &alice, "/sessions/sess-alice").await;
    assert_eq!(session["user_id"], "alice");
    assert_eq!(session["chat_history"].as_array().unwrap().len(), 2);
    let (_, runs) = get_as(&server, &alice, "/sessions/sess-alice/runs").await;
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "nothing was written for mallory"
    );
    let (status, _) = post_as(
        &server,
        Some(&alice),
        "/agents/historian/runs",
        &message("and my name is Alice", "sess-alice"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(recorder.everything_seen().contains("4111 1111 1111 1111"));

    // Mallory's own session never shows Alice's words to her model.
    recorder.requests.lock().unwrap().clear();
    for text in ["hi", "what do you know?"] {
        let (status, _) = post_as(
            &server,
            Some(&mallory),
            "/agents/historian/runs",
            &message(text, "sess-mallory"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(!recorder.everything_seen().contains("4111"));
}

#[tokio::test]
async fn a_tenant_cannot_cancel_read_list_or_delete_anothers_runs() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(sleepy_team("Slow Team", Duration::from_millis(300)))
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    let (status, started) = post_as(
        &server,
        Some(&alice),
        "/teams/slow-team/runs",
        &[
            ("message", "take your time"),
            ("session_id", "sess-alice"),
            ("background", "true"),
            ("stream", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run_id = started["run_id"].as_str().unwrap().to_owned();

    let cancel = format!("/teams/slow-team/runs/{run_id}/cancel");
    let (status, body) = post_as(&server, Some(&bob), &cancel, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = get_as(&server, &bob, &format!("/teams/slow-team/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) =
        get_as(&server, &bob, "/teams/slow-team/runs?session_id=sess-alice").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));
    let (status, _) = get_as(&server, &bob, "/sessions/sess-alice").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_as(&server, &bob, "/sessions/sess-alice/runs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get_as(&server, &bob, "/sessions").await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(
        delete_as(&server, &bob, "/sessions/sess-alice").await,
        StatusCode::NO_CONTENT,
        "deleting answers alike whether or not the session is there"
    );

    // Alice's run was not cancelled and is still hers.
    let path = format!("/teams/slow-team/runs/{run_id}");
    let mut finished = Value::Null;
    for _ in 0..100 {
        let (_, run) = get_as(&server, &alice, &path).await;
        if run["status"] != "RUNNING" {
            finished = run;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(finished["status"], "COMPLETED", "{finished}");
    let (_, runs) = get_as(&server, &alice, "/sessions/sess-alice/runs").await;
    assert!(!runs.as_array().unwrap().is_empty());
    // An admin reads it too.
    let (status, _) = get_as(&server, &admin(), &path).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_claimed_first_by_one_tenant_cannot_be_entered_by_another() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(Team::new("Support").with_model(TestModel::new()))
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let (alice, bob) = (bearer("alice"), bearer("bob"));
    // Bob starts the session Alice will later name.
    let (status, _) = post_as(
        &server,
        Some(&bob),
        "/teams/support/runs",
        &message("squatting", "sess-shared-name"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_as(
        &server,
        Some(&alice),
        "/teams/support/runs",
        &message("my secret plans", "sess-shared-name"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // So nothing of Alice's is in Bob's session, and his delete touches only his own.
    let (_, runs) = get_as(&server, &bob, "/sessions/sess-shared-name/runs").await;
    let inputs: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["parent_run_id"] == "")
        .map(|r| r["run_input"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["squatting"]);
}

#[tokio::test]
async fn two_tenants_racing_for_a_new_session_id_get_one_owner() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(Team::new("Support").with_model(TestModel::new()))
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            let who = if i % 2 == 0 { "alice" } else { "bob" };
            let (status, _) = post_as(
                &server,
                Some(&bearer(who)),
                "/teams/support/runs",
                &message("mine", "sess-race"),
            )
            .await;
            (who, status)
        }));
    }
    let mut winners = std::collections::BTreeSet::new();
    for task in tasks {
        let (who, status) = task.await.unwrap();
        match status {
            StatusCode::OK => {
                winners.insert(who);
            }
            StatusCode::NOT_FOUND => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one tenant owns the session: {winners:?}"
    );
    let owner = *winners.iter().next().unwrap();
    let (_, runs) = get_as(&server, &admin(), "/sessions/sess-race/runs").await;
    for run in runs.as_array().unwrap() {
        assert_eq!(run["user_id"], owner, "{run}");
    }
}

#[tokio::test]
async fn without_auth_the_asserted_user_owns_the_session() {
    let recorder = Arc::new(Recorder::default());
    let server = TestServer::with(AgentOs::builder().agent(historian(&recorder))).await;
    let fields = |user: &'static str, text: &'static str| {
        [
            ("message", text),
            ("session_id", "sess-open"),
            ("user_id", user),
            ("stream", "false"),
        ]
    };
    let (status, _) = post_as(
        &server,
        None,
        "/agents/historian/runs",
        &fields("a", "the code is 1234"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post_as(
        &server,
        None,
        "/agents/historian/runs",
        &fields("b", "code?"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post_as(
        &server,
        None,
        "/agents/historian/runs",
        &[
            ("message", "code?"),
            ("session_id", "sess-open"),
            ("stream", "false"),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no user is not user a either"
    );
    let (status, _) = post_as(
        &server,
        None,
        "/agents/historian/runs",
        &fields("a", "again"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let read = |query: &'static str| {
        let url = server.url(&format!("/sessions/sess-open{query}"));
        async move { client().get(url).send().await.unwrap().status() }
    };
    assert_eq!(read("?user_id=b").await, StatusCode::NOT_FOUND);
    assert_eq!(read("?user_id=a").await, StatusCode::OK);
}
