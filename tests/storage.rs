//! Sessions and runs stored and read back, on SQLite by default and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`: history, the session routes, background runs, cancel across
//! replicas, nothing lost under concurrency or failure, interrupted runs, a database that
//! goes away, and two replicas serving one session.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::model::{ModelError, ScriptedModel};
use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::store::{FreshRun, NewRun, Store};
use agentos::{ComponentKind, RunMeta, RunStatus, TestModel};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use support::db::TestDb;
use support::{Cuttable, Recorder, TestServer, builder, client, form, historian, sleepy_team};

async fn post(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client()
        .post(server.url(path))
        .multipart(form(fields))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let response = client().get(server.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_for_status(server: &TestServer, path: &str, expected: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, run) = get(server, path).await;
        if status == StatusCode::OK && run["status"] == expected {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never reached {expected}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_second_message_in_a_session_sees_the_first() {
    let recorder = Arc::new(Recorder::default());
    let server = TestServer::with(AgentOs::builder().agent(historian(&recorder))).await;
    let fields = |message| {
        [
            ("message", message),
            ("session_id", "sess-history"),
            ("stream", "false"),
        ]
    };
    let (status, first) = post(&server, "/agents/historian/runs", &fields("my name is Ada")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &server,
        "/agents/historian/runs",
        &fields("what is my name?"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let requests = recorder.requests.lock().unwrap();
    let second = &requests[1].messages;
    let texts: Vec<&str> = second.iter().map(|m| m.content.as_str()).collect();
    assert!(texts.contains(&"my name is Ada"), "{texts:?}");
    assert!(
        texts.contains(&first["content"].as_str().unwrap()),
        "{texts:?}"
    );
    assert_eq!(texts.last(), Some(&"what is my name?"));
}

#[tokio::test]
async fn sessions_and_runs_can_be_listed_read_and_deleted() {
    let server = TestServer::with(builder()).await;
    for (user, session, message) in [
        ("tenant_42", "sess-a", "I need help with billing"),
        ("tenant_42", "sess-a", "and my router"),
        ("tenant_42", "sess-b", "another question"),
        ("tenant_7", "sess-c", "billing question from another tenant"),
    ] {
        let (status, _) = post(
            &server,
            "/teams/support-team/runs",
            &[
                ("message", message),
                ("user_id", user),
                ("session_id", session),
                ("stream", "false"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = post(
        &server,
        "/teams/configurable-support-team/runs",
        &[
            ("message", "x"),
            ("session_id", "sess-d"),
            ("stream", "false"),
            ("factory_input", r#"{"include_reviewer": true}"#),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, page) = get(&server, "/sessions?type=team&component_id=support-team").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{page}");
    assert!(ids.contains(&"sess-a") && ids.contains(&"sess-b") && ids.contains(&"sess-c"));
    assert_eq!(page["meta"]["total_count"], 3);
    let first = &page["data"][0];
    for field in [
        "session_id",
        "session_name",
        "session_state",
        "created_at",
        "updated_at",
        "session_type",
        "user_id",
        "team_id",
    ] {
        assert!(first.get(field).is_some(), "missing {field}: {first}");
    }

    let (_, mine) = get(&server, "/sessions?user_id=tenant_7").await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        mine["data"][0]["session_name"],
        "billing question from another tenant"
    );

    let (_, paged) = get(&server, "/sessions?limit=2&page=2").await;
    assert_eq!(paged["meta"]["total_count"], 4);
    assert_eq!(paged["meta"]["total_pages"], 2);
    assert_eq!(paged["data"].as_array().unwrap().len(), 2);

    let (status, session) = get(&server, "/sessions/sess-a").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["session_name"], "I need help with billing");
    // Each exchange: the user's message, the leader's delegating turn, its answer.
    let roles: Vec<&str> = session["chat_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "assistant",
            "user",
            "assistant",
            "assistant"
        ]
    );
    assert!(session["chat_history"][1]["tool_calls"].is_array());

    let (_, all_runs) = get(&server, "/sessions/sess-a/runs").await;
    let all_runs = all_runs.as_array().unwrap();
    assert_eq!(
        all_runs.len(),
        6,
        "two team runs and their four member runs"
    );
    assert_eq!(
        all_runs
            .iter()
            .filter(|r| r["parent_run_id"].as_str().is_some_and(|p| !p.is_empty()))
            .count(),
        4
    );

    let (_, team_runs) = get(&server, "/teams/support-team/runs?session_id=sess-a").await;
    let team_runs = team_runs.as_array().unwrap();
    assert_eq!(team_runs.len(), 2);
    assert_eq!(team_runs[1]["run_input"], "and my router");
    let run_id = team_runs[0]["run_id"].as_str().unwrap();
    let (status, run) = get(&server, &format!("/teams/support-team/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["member_responses"].as_array().unwrap().len(), 2);

    // The validated factory_input is kept with the run, so it can be replayed.
    let (_, configured) = get(
        &server,
        "/teams/configurable-support-team/runs?session_id=sess-d",
    )
    .await;
    let configured_id = configured[0]["run_id"].as_str().unwrap();
    let row = server.os.store().run(configured_id).await.unwrap().unwrap();
    assert_eq!(row.factory_input, Some(json!({"include_reviewer": true})));

    for _ in 0..2 {
        let response = client()
            .delete(server.url("/sessions/sess-a"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "deleting is idempotent"
        );
    }
    assert_eq!(
        get(&server, "/sessions/sess-a").await.0,
        StatusCode::NOT_FOUND
    );
    let (_, gone) = get(&server, "/teams/support-team/runs?session_id=sess-a").await;
    assert_eq!(gone, json!([]));
}

/// A team of a team and an agent, so member runs nest two levels deep.
fn nested_team() -> Team {
    let inner = Team::new("Inner Team")
        .with_model(TestModel::with_id("gpt-5.4"))
        .with_members([
            Agent::new("Alpha").with_model(TestModel::with_id("gpt-5.4")),
            Agent::new("Beta").with_model(TestModel::with_id("gpt-5.4")),
        ]);
    Team::new("Outer Team")
        .with_model(TestModel::with_id("gpt-5.4"))
        .with_members([
            Member::from(inner),
            Member::from(Agent::new("Gamma").with_model(TestModel::with_id("gpt-5.4"))),
        ])
}

/// The output of a finished run of the team "support", for writing straight to a store.
fn finished_output(meta: &RunMeta, message: &str, answer: &str) -> agentos::run::RunOutput {
    agentos::run::RunOutput {
        run_id: meta.run_id().to_owned(),
        session_id: meta.session_id().to_owned(),
        component: agentos::ComponentRef {
            kind: ComponentKind::Team,
            id: Arc::from("support"),
            name: Arc::from("Support"),
        },
        status: RunStatus::Completed,
        content: answer.to_owned(),
        input: agentos::run::RunInput {
            bare: false,
            input_content: message.to_owned(),
        },
        ..Default::default()
    }
}

/// Checks that `meta`'s run and its session are stored whole: the run ended with `answer`,
/// kept what only its start knows (the factory input, when it began), and its session exists,
/// named after the message.
async fn assert_stored_whole(store: &Store, meta: &RunMeta, message: &str, answer: &str) {
    let run = store.run(meta.run_id()).await.unwrap().expect("the run");
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.output.as_ref().unwrap().content, answer);
    assert_eq!(run.input, message);
    assert_eq!(run.factory_input, Some(json!({"tier": "gold"})));
    assert!(run.created_at < run.updated_at, "the start's time is kept");
    let session = store
        .session(meta.session_id())
        .await
        .unwrap()
        .expect("the run's session");
    assert_eq!(session.name.as_deref(), Some(message));
    assert_eq!(
        (session.kind, session.component_id.as_str()),
        (ComponentKind::Team, "support")
    );
    let listed = store.session_runs(meta.session_id()).await.unwrap();
    assert_eq!(listed.len(), 1);
}

/// A whole run in a session the server made does not wait for its start: a short one never
/// sends it, a longer one sends it and goes on, so its start and end reach the writer close
/// together, often share a batch, and may even commit in either order. Every way, the run
/// and its session end up stored whole, and a start that was sent is told it committed.
#[tokio::test]
async fn a_deferred_start_and_its_end_store_the_run_whole() {
    let db = TestDb::new().await;
    let store = Arc::new(Store::connect(&db.db()).await.unwrap());
    let factory_input = json!({"tier": "gold"});
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = Arc::clone(&store);
        let factory_input = factory_input.clone();
        tasks.push(tokio::spawn(async move {
            let meta = RunMeta::new(None, Identity::Anonymous);
            // Quotes, a backslash, a line break and a non-ASCII letter go through every
            // way a row is written (PostgreSQL's batches carry rows as JSON text).
            let message = format!("question {i}: \"quoted\" \\ line\nbreak ✓");
            let start = store.defer_start(FreshRun {
                kind: ComponentKind::Team,
                component_id: "support",
                meta: &meta,
                input: &message,
                factory_input: Some(&factory_input),
            });
            let answer = format!("answer {i} \u{1F600} \t \\");
            let mut output = finished_output(&meta, &message, &answer);
            match i % 4 {
                // Ended before its start was due: the start is never sent.
                0 => store
                    .finish_run(&mut output, 0, &[], None, Some(&start))
                    .await
                    .unwrap(),
                // The start comes after the end is stored (as when another writer commits the
                // end first): it is told it committed, and the end's row stays.
                1 => {
                    store
                        .finish_run(&mut output, 0, &[], None, Some(&start))
                        .await
                        .unwrap();
                    let commit = start.send(&store).await.unwrap();
                    commit.wait(&store).await.unwrap();
                }
                _ => {
                    let commit = start.send(&store).await.unwrap();
                    tokio::time::sleep(Duration::from_micros(1)).await;
                    store
                        .finish_run(&mut output, 0, &[], None, Some(&start))
                        .await
                        .unwrap();
                    commit.wait(&store).await.unwrap();
                }
            }
            assert_stored_whole(&store, &meta, &message, &answer).await;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// A start not waited for may be lost (here the database goes away under it) while the run
/// goes on: its end, written once the database is back, stores the run and its session whole.
#[tokio::test]
async fn an_end_stores_the_run_whole_when_its_start_was_lost() {
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
    let store = Store::connect(&agentos::store::Db::postgres(proxied))
        .await
        .unwrap();
    let meta = RunMeta::new(None, Identity::Anonymous);
    let factory_input = json!({"tier": "gold"});
    proxy.set(false);
    let start = store.defer_start(FreshRun {
        kind: ComponentKind::Team,
        component_id: "support",
        meta: &meta,
        input: "lost start",
        factory_input: Some(&factory_input),
    });
    let commit = start.send(&store).await.unwrap();
    assert!(
        commit.wait(&store).await.is_err(),
        "the start was not stored"
    );
    proxy.set(true);
    let mut output = finished_output(&meta, "lost start", "still here");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(error) = store
        .finish_run(&mut output, 0, &[], None, Some(&start))
        .await
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the database did not come back: {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_stored_whole(&store, &meta, "lost start", "still here").await;
}

/// On PostgreSQL a run's large values go out of line compressed with LZ4, not pglz (which was
/// a fifth of PostgreSQL's time under load), and still read back whole.
#[tokio::test]
async fn postgres_compresses_large_run_values_with_lz4() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = TestDb::new().await;
    let store = Store::connect(&db.db()).await.unwrap();
    let compression = |table: &str, column: &str| {
        sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT attcompression::text AS method FROM pg_attribute \
                 WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
            ),
        )
    };
    for (table, column) in [
        ("agentos_runs", "output"),
        ("agentos_runs", "events"),
        ("agentos_run_events", "data"),
    ] {
        let method: String = store
            .connection()
            .query_one_raw(compression(table, column))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "method")
            .unwrap();
        assert_eq!(method, "l", "{table}.{column} is compressed with LZ4");
    }
    // A value large enough to be compressed out of line comes back as it went in.
    let meta = RunMeta::new(None, Identity::Anonymous);
    let answer = "a long answer, said again and again. ".repeat(2_000);
    let start = store.defer_start(FreshRun {
        kind: ComponentKind::Team,
        component_id: "support",
        meta: &meta,
        input: "long",
        factory_input: Some(&json!({"tier": "gold"})),
    });
    let mut output = finished_output(&meta, "long", &answer);
    store
        .finish_run(&mut output, 0, &[], None, Some(&start))
        .await
        .unwrap();
    assert_stored_whole(&store, &meta, "long", &answer).await;
}

#[tokio::test]
async fn a_teams_member_runs_are_stored_once_and_every_read_puts_them_back_in_order() {
    let server = TestServer::with(builder().team(nested_team())).await;
    let (status, whole) = post(
        &server,
        "/teams/outer-team/runs",
        &[
            ("message", "route this"),
            ("session_id", "sess-nested"),
            ("stream", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    let members = &whole["member_responses"];
    let names: Vec<&str> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["team_name"]
                .as_str()
                .or(m["agent_name"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["Inner Team", "Gamma"]);
    assert_eq!(members[0]["member_responses"].as_array().unwrap().len(), 2);
    let run_id = whole["run_id"].as_str().unwrap();

    // The leader's stored output names its members instead of holding them.
    let stored = server
        .os
        .store()
        .connection()
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            server.os.store().backend(),
            match server.os.store().backend() {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT CAST(output AS TEXT) AS output FROM agentos_runs WHERE run_id = $1"
                }
                _ => "SELECT CAST(output AS TEXT) AS output FROM agentos_runs WHERE run_id = ?",
            },
            [run_id.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "output")
        .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert!(stored.get("member_responses").is_none(), "{stored}");
    assert_eq!(
        stored["member_run_ids"],
        json!([members[0]["run_id"], members[1]["run_id"]])
    );

    let (_, one) = get(&server, &format!("/teams/outer-team/runs/{run_id}")).await;
    assert_eq!(&one["member_responses"], members, "GET of the run");
    // A member team's run, read on its own, comes with its members too.
    let inner = server
        .os
        .store()
        .run(members[0]["run_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        json!(inner.output.unwrap().member_responses),
        members[0]["member_responses"]
    );
    // The session lists every run once, each member right before the run that delegated.
    let (_, session_runs) = get(&server, "/sessions/sess-nested/runs").await;
    let listed: Vec<&Value> = session_runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["run_id"])
        .collect();
    let inner_members = &members[0]["member_responses"];
    assert_eq!(
        listed,
        [
            &inner_members[0]["run_id"],
            &inner_members[1]["run_id"],
            &members[0]["run_id"],
            &members[1]["run_id"],
            &whole["run_id"],
        ]
    );
}

#[tokio::test]
async fn with_trust_on_a_caller_sees_only_their_own_sessions() {
    const SECRET: &[u8] = b"oracle-hs256-secret-with-at-least-32-bytes!";
    let server = TestServer::with(builder().auth(JwtAuth::hs256(SECRET))).await;
    let token = |sub: &str, scopes: Value| {
        let claims = json!({"sub": sub, "scopes": scopes, "exp": 4_000_000_000u64});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    for (sub, session) in [("alice", "sess-alice"), ("bob", "sess-bob")] {
        let response = client()
            .post(server.url("/teams/support-team/runs"))
            .bearer_auth(token(sub, json!([])))
            .multipart(form(&[
                ("message", "hi"),
                ("session_id", session),
                ("stream", "false"),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let list = |bearer: String, query: &'static str| {
        let url = server.url(&format!("/sessions{query}"));
        async move {
            client()
                .get(url)
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let alice = list(token("alice", json!([])), "").await;
    let ids: Vec<&str> = alice["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sess-alice"]);
    let widened = list(token("alice", json!([])), "?user_id=bob").await;
    assert_eq!(
        widened["data"].as_array().unwrap().len(),
        1,
        "a filter cannot widen what she sees"
    );
    assert_eq!(widened["data"][0]["user_id"], "alice");
    let admin = list(token("root", json!(["agent_os:admin"])), "").await;
    assert_eq!(admin["data"].as_array().unwrap().len(), 2);

    let response = client()
        .get(server.url("/sessions/sess-bob"))
        .bearer_auth(token("alice", json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_background_run_answers_202_and_finishes_on_its_own() {
    let server = TestServer::with(builder()).await;
    let (status, accepted) = post(
        &server,
        "/teams/support-team/runs",
        &[
            ("message", "background billing question"),
            ("background", "true"),
            ("stream", "false"),
            ("session_id", "sess-bg"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(accepted["status"], "PENDING");
    let run_id = accepted["run_id"].as_str().unwrap();
    let run = wait_for_status(
        &server,
        &format!("/teams/support-team/runs/{run_id}"),
        "COMPLETED",
    )
    .await;
    assert!(
        run["content"]
            .as_str()
            .unwrap()
            .contains("background billing question")
    );
    assert_eq!(run["member_responses"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_cancel_sent_to_one_replica_stops_the_run_on_another() {
    let db = Arc::new(TestDb::new().await);
    let waiting = || builder().team(sleepy_team("Waiting Team", Duration::from_secs(60)));
    let runner = TestServer::on(waiting(), db.clone()).await;
    let other = TestServer::on(waiting(), db.clone()).await;

    let (status, accepted) = post(
        &runner,
        "/teams/waiting-team/runs",
        &[
            ("message", "x"),
            ("background", "true"),
            ("stream", "false"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run_id = accepted["run_id"].as_str().unwrap();
    let (status, cancelling) = post(
        &other,
        &format!("/teams/waiting-team/runs/{run_id}/cancel"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelling}");
    assert_eq!(cancelling["status"], "CANCELLING");
    wait_for_status(
        &other,
        &format!("/teams/waiting-team/runs/{run_id}"),
        "CANCELLED",
    )
    .await;
}

#[tokio::test]
async fn a_hundred_concurrent_runs_on_one_session_store_a_hundred_runs() {
    let server = TestServer::with(builder()).await;
    let runs = (0..100).map(|i| {
        let url = server.url("/teams/support-team/runs");
        async move {
            let fields = form(&[
                ("message", &format!("message {i}")),
                ("session_id", "sess-busy"),
                ("stream", "false"),
            ]);
            client()
                .post(url)
                .multipart(fields)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(runs).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let (_, stored) = get(&server, "/teams/support-team/runs?session_id=sess-busy").await;
    let stored = stored.as_array().unwrap();
    assert_eq!(stored.len(), 100);
    let mut messages: Vec<&str> = stored
        .iter()
        .map(|r| r["run_input"].as_str().unwrap())
        .collect();
    messages.sort_unstable();
    messages.dedup();
    assert_eq!(messages.len(), 100, "every run is its own row");
    let unfinished: Vec<&Value> = stored
        .iter()
        .filter(|r| r["status"] != "COMPLETED")
        .collect();
    assert!(unfinished.is_empty(), "{unfinished:?}");
}

#[team_factory(id = "failing-team")]
fn failing_team() -> Team {
    let leader = ScriptedModel::new().then_fail(ModelError::Status {
        status: 500,
        message: "upstream exploded".into(),
    });
    Team::new("Failing")
        .with_model(leader)
        .with_members([Agent::new("Member").with_model(TestModel::new())])
}

#[tokio::test]
async fn a_model_failure_is_stored_as_an_error_run() {
    let server = TestServer::with(builder().team(failing_team)).await;
    let (status, run) = post(
        &server,
        "/teams/failing-team/runs",
        &[
            ("message", "please fail"),
            ("stream", "false"),
            ("session_id", "sess-err"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["status"], "ERROR");
    let run_id = run["run_id"].as_str().unwrap();
    let (_, stored) = get(&server, &format!("/teams/failing-team/runs/{run_id}")).await;
    assert_eq!(stored["status"], "ERROR");
    assert!(
        stored["content"]
            .as_str()
            .unwrap()
            .contains("upstream exploded")
    );
    assert_eq!(stored["events"][0]["event"], "TeamRunError");
}

#[tokio::test]
async fn a_run_left_running_by_a_killed_process_is_marked_interrupted_at_the_next_start() {
    let db = Arc::new(TestDb::new().await);
    let meta = RunMeta::new(Some("sess-killed".into()), Identity::Anonymous);
    {
        // The "killed" process: it records a run as started and never finishes it.
        let store = Store::connect(&db.db()).await.unwrap();
        store
            .start_run(NewRun {
                kind: ComponentKind::Team,
                component_id: "support-team",
                meta: &meta,
                input: "in flight when the power went",
                factory_input: None,
                status: RunStatus::Running,
                reject_if_busy: false,
                idempotency: None,
                new_session: false,
            })
            .await
            .unwrap();
        // Its heartbeat stops; on PostgreSQL, replicas wait for it to go stale.
        use sea_orm::{ConnectionTrait, Statement};
        let backend = store.backend();
        store
            .connection()
            .execute_raw(Statement::from_string(
                backend,
                "UPDATE agentos_runs SET heartbeat_at = 0",
            ))
            .await
            .unwrap();
    }
    let server = TestServer::on(builder(), db.clone()).await;
    let path = format!("/teams/support-team/runs/{}", meta.run_id());
    let (status, run) = get(&server, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["status"], "ERROR", "{run}");
    assert!(run["content"].as_str().unwrap().contains("interrupted"));
}

#[tokio::test]
async fn two_replicas_on_one_database_share_history_and_sessions() {
    let db = Arc::new(TestDb::new().await);
    let recorder_a = Arc::new(Recorder::default());
    let recorder_b = Arc::new(Recorder::default());
    let a = TestServer::on(AgentOs::builder().agent(historian(&recorder_a)), db.clone()).await;
    let b = TestServer::on(AgentOs::builder().agent(historian(&recorder_b)), db.clone()).await;
    for i in 0..6 {
        let server = if i % 2 == 0 { &a } else { &b };
        let (status, _) = post(
            server,
            "/agents/historian/runs",
            &[
                ("message", &format!("message {i}")),
                ("session_id", "sess-shared"),
                ("stream", "false"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    // The sixth message (on b) saw the five before it, whichever replica ran them.
    let last = recorder_b.requests.lock().unwrap().last().unwrap().clone();
    for i in 0..5 {
        assert!(
            last.messages
                .iter()
                .any(|m| m.content == format!("message {i}")),
            "history lacks message {i}"
        );
    }
    for server in [&a, &b] {
        let (_, runs) = get(server, "/agents/historian/runs?session_id=sess-shared").await;
        assert_eq!(runs.as_array().unwrap().len(), 6);
        let (_, sessions) = get(server, "/sessions?component_id=historian").await;
        assert_eq!(sessions["data"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_database_going_away_answers_503_and_the_server_recovers() {
    if !TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = TestDb::new().await;
    let agentos::store::Db::Postgres(url) = db.db() else {
        unreachable!()
    };
    let target: std::net::SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Cuttable::to(target).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let os = builder()
        .db(agentos::store::Db::postgres(proxied))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(os).await;
    let fields = [("message", "x"), ("stream", "false")];

    assert_eq!(
        post(&server, "/teams/support-team/runs", &fields).await.0,
        StatusCode::OK
    );
    proxy.set(false);
    let (status, body) = post(&server, "/teams/support-team/runs", &fields).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error_code"], "store_unavailable");
    assert!(
        !body["detail"].as_str().unwrap().contains("5432"),
        "no connection details leak: {body}"
    );
    proxy.set(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = post(&server, "/teams/support-team/runs", &fields).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    drop(db);
}

/// The sockets of this process connected to PostgreSQL's port, and whether each has
/// `TCP_NODELAY` set.
fn postgres_sockets_nodelay(port: u16) -> Vec<bool> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: plain socket calls on a descriptor of this process, into sized buffers.
        unsafe {
            let mut address: libc::sockaddr_in = std::mem::zeroed();
            let mut length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            if libc::getpeername(
                fd,
                (&mut address as *mut libc::sockaddr_in).cast(),
                &mut length,
            ) != 0
                || i32::from(address.sin_family) != libc::AF_INET
                || u16::from_be(address.sin_port) != port
            {
                continue;
            }
            let mut on: libc::c_int = 0;
            let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut on as *mut libc::c_int).cast(),
                &mut size,
            );
            found.push(on != 0);
        }
    }
    found
}

/// Without TCP_NODELAY a statement longer than a segment waits for PostgreSQL's delayed ACK
/// (40 ms), which took runs at 8 clients from hundreds a second to tens.
#[tokio::test]
async fn the_stores_postgres_connections_do_not_wait_on_delayed_acks() {
    if !TestDb::on_postgres() {
        return;
    }
    let db = TestDb::new().await;
    let before = postgres_sockets_nodelay(5432).len();
    let store = Store::connect(&db.db()).await.unwrap();
    store.ping().await.unwrap();
    let sockets = postgres_sockets_nodelay(5432);
    assert!(
        sockets.len() > before,
        "the store holds connections: {sockets:?}"
    );
    // The test's own admin connection is sqlx's, without the option; the store's have it.
    assert!(
        sockets.iter().filter(|on| **on).count() >= sockets.len() - before,
        "every connection the store opened has TCP_NODELAY: {sockets:?}"
    );
}
