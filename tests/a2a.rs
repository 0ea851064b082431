//! The Agent2Agent door over a real socket: a factory's agent card with its input schema, a
//! typed factory run as a task over JSON-RPC and at agno's paths, the task read back after a
//! restart, refused input failing the task with its field paths, a cancel, a retried message
//! giving the same task, no token refused, and one tenant never reaching another's task. On
//! SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::db::TestDb;
use support::{TestServer, client, event_stream, get_json_as, parse_sse, token};

const SECRET: &[u8] = b"an-a2a-test-secret-that-is-long-enough-for-hs256";

#[derive(Deserialize, Validate, JsonSchema)]
pub struct Brief {
    /// What to research.
    #[garde(length(min = 3, max = 80))]
    topic: String,
}

/// A team factory whose input is required.
#[team_factory(id = "research-team", input = Brief, name = "Research Team",
               description = "Researches a topic for the caller.")]
fn research_team(ctx: RequestContext<Brief>) -> Team {
    Team::new("Research Team")
        .with_model(TestModel::new())
        .with_instruction(format!("Research {}.", ctx.input.topic))
        .with_members([Agent::new("Researcher").with_model(TestModel::new())])
}

/// Refunds an order, once a person approves.
#[tool(requires_confirmation)]
fn refund(
    /// The order number.
    order_id: String,
) -> String {
    format!("refunded {order_id}")
}

fn os() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .agent(
            Agent::new("Refunder")
                .with_model(TestModel::new())
                .with_tool(refund),
        )
        .team(research_team)
        .agent(Agent::new("Helper").with_model(TestModel::new()))
        .agent(
            Agent::new("Slow").with_model(TestModel::new().with_latency(Duration::from_secs(30))),
        )
        .auth(JwtAuth::hs256(SECRET))
}

/// A JSON-RPC call of `method` to `path`, as `bearer`.
async fn call(server: &TestServer, path: &str, bearer: &str, method: &str, params: Value) -> Value {
    let response = client()
        .post(server.url(path))
        .bearer_auth(bearer)
        .json(&json!({"jsonrpc": "2.0", "id": "req-1", "method": method, "params": params}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], "req-1");
    body
}

fn user_message(text: &str, metadata: Value) -> Value {
    json!({
        "kind": "message",
        "messageId": uuid_like(),
        "role": "user",
        "parts": [{"kind": "text", "text": text}],
        "metadata": metadata,
    })
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "msg-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

#[tokio::test]
async fn a_factorys_card_says_how_to_reach_it_and_what_input_it_takes() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let card = get_json_as(
        &server,
        "/a2a/teams/research-team/.well-known/agent-card.json",
        &ada,
    )
    .await;
    assert_eq!(card["name"], "Research Team");
    assert_eq!(card["protocolVersion"], "0.3.0");
    assert_eq!(card["preferredTransport"], "JSONRPC");
    assert!(
        card["url"]
            .as_str()
            .unwrap()
            .ends_with("/a2a/teams/research-team"),
        "{card}"
    );
    assert_eq!(card["skills"][0]["id"], "research-team");
    let extension = &card["capabilities"]["extensions"][0];
    assert_eq!(extension["required"], true);
    assert_eq!(extension["params"]["schema"]["required"], json!(["topic"]));
    let missing = client()
        .get(server.url("/a2a/agents/nobody/.well-known/agent-card.json"))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let anonymous = client()
        .get(server.url("/a2a/teams/research-team/.well-known/agent-card.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_typed_factory_runs_as_a_task_read_back_after_a_restart_and_by_its_owner_only() {
    let db = Arc::new(TestDb::new().await);
    let ada = token(SECRET, "ada", json!([]));
    let bob = token(SECRET, "bob", json!([]));
    let task = {
        let server = TestServer::on(os(), db.clone()).await;
        let sent = call(
            &server,
            "/a2a/teams/research-team",
            &ada,
            "message/send",
            json!({"message": user_message("what is new?", json!({"factory_input": {"topic": "tidal power"}}))}),
        )
        .await;
        let task = sent["result"].clone();
        assert_eq!(task["kind"], "task", "{sent}");
        assert_eq!(task["status"]["state"], "completed", "{task}");
        let answer = task["artifacts"][0]["parts"][0]["text"].as_str().unwrap();
        assert!(!answer.is_empty());
        assert_eq!(task["history"][0]["role"], "user");
        assert_eq!(task["history"][1]["role"], "agent");
        assert_eq!(task["metadata"]["userId"], "ada");

        // The task is the run, as REST reads it.
        let run = get_json_as(
            &server,
            &format!("/teams/research-team/runs/{}", task["id"].as_str().unwrap()),
            &ada,
        )
        .await;
        assert_eq!(run["status"], "COMPLETED");
        assert_eq!(run["session_id"], task["contextId"]);
        task
    };

    // After a restart, on the same database, the owner reads it at agno's path too.
    let server = TestServer::on(os(), db.clone()).await;
    let read = call(
        &server,
        "/a2a/teams/research-team/v1/tasks:get",
        &ada,
        "tasks/get",
        json!({"id": task["id"], "contextId": task["contextId"]}),
    )
    .await;
    assert_eq!(read["result"]["status"]["state"], "completed", "{read}");
    assert_eq!(read["result"]["artifacts"], task["artifacts"]);

    // Another tenant's task does not exist for bob.
    let foreign = call(
        &server,
        "/a2a/teams/research-team",
        &bob,
        "tasks/get",
        json!({"id": task["id"]}),
    )
    .await;
    assert_eq!(foreign["error"]["code"], -32001, "{foreign}");
    assert!(foreign.get("result").is_none());

    // Continuing the session as a second task keeps it the same context.
    let again = call(
        &server,
        "/a2a/teams/research-team",
        &ada,
        "message/send",
        json!({"message": {
            "messageId": uuid_like(), "role": "user", "contextId": task["contextId"],
            "parts": [{"kind": "text", "text": "and then?"}],
            "metadata": {"factory_input": {"topic": "tidal power"}},
        }}),
    )
    .await;
    assert_eq!(again["result"]["contextId"], task["contextId"]);
    assert_ne!(again["result"]["id"], task["id"]);
}

#[tokio::test]
async fn refused_input_fails_the_task_with_its_field_paths_and_runs_nothing() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let sent = call(
        &server,
        "/a2a/teams/research-team/v1/message:send",
        &ada,
        "message/send",
        json!({"message": user_message("hi", json!({"factory_input": {"topic": "x"}}))}),
    )
    .await;
    let task = &sent["result"];
    assert_eq!(task["status"]["state"], "failed", "{sent}");
    let refusal = &task["status"]["message"]["parts"][1]["data"];
    assert_eq!(refusal["errors"][0]["loc"], json!(["topic"]), "{refusal}");
    assert_eq!(refusal["error_code"], "invalid_factory_input");
    let read = call(
        &server,
        "/a2a/teams/research-team",
        &ada,
        "tasks/get",
        json!({"id": task["id"]}),
    )
    .await;
    assert_eq!(read["error"]["code"], -32001, "nothing was stored: {read}");
    let sessions = get_json_as(&server, "/sessions", &ada).await;
    assert_eq!(sessions["data"], json!([]), "no session was made");

    // Not JSON, no method, an unknown method, a message not from the user.
    let raw = client()
        .post(server.url("/a2a/agents/helper"))
        .bearer_auth(&ada)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let raw: Value = raw.json().await.unwrap();
    assert_eq!(raw["error"]["code"], -32700);
    let unknown = call(
        &server,
        "/a2a/agents/helper",
        &ada,
        "tasks/resubscribe",
        json!({}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], -32601);
    let agentish = call(
        &server,
        "/a2a/agents/helper",
        &ada,
        "message/send",
        json!({"message": {"messageId": "m", "role": "agent", "parts": [{"kind": "text", "text": "hi"}]}}),
    )
    .await;
    assert_eq!(agentish["error"]["code"], -32602);
}

#[tokio::test]
async fn a_task_is_cancelled_and_a_retried_message_gets_the_same_task() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let started = call(
        &server,
        "/a2a/agents/slow",
        &ada,
        "message/send",
        json!({"message": user_message("take your time", json!({})), "configuration": {"blocking": false}}),
    )
    .await;
    let task = &started["result"];
    let state = task["status"]["state"].as_str().unwrap();
    assert!(["submitted", "working"].contains(&state), "{started}");
    let cancelled = call(
        &server,
        "/a2a/agents/slow/v1/tasks:cancel",
        &ada,
        "tasks/cancel",
        json!({"id": task["id"]}),
    )
    .await;
    assert_eq!(
        cancelled["result"]["status"]["state"], "canceled",
        "{cancelled}"
    );
    let mut ended = Value::Null;
    for _ in 0..100 {
        let read = call(
            &server,
            "/a2a/agents/slow",
            &ada,
            "tasks/get",
            json!({"id": task["id"]}),
        )
        .await;
        ended = read["result"].clone();
        if ended["status"]["state"] == "canceled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ended["status"]["state"], "canceled", "{ended}");
    let again = call(
        &server,
        "/a2a/agents/slow",
        &ada,
        "tasks/cancel",
        json!({"id": task["id"]}),
    )
    .await;
    assert_eq!(again["error"]["code"], -32002, "an ended task: {again}");

    // The same message sent twice is one task.
    let message = user_message("once only", json!({}));
    let first = call(
        &server,
        "/a2a/agents/helper",
        &ada,
        "message/send",
        json!({"message": message}),
    )
    .await;
    let second = call(
        &server,
        "/a2a/agents/helper",
        &ada,
        "message/send",
        json!({"message": message}),
    )
    .await;
    assert_eq!(first["result"]["id"], second["result"]["id"]);
    assert_eq!(first["result"]["status"]["state"], "completed");
}

#[tokio::test]
async fn a_streamed_message_sends_the_task_its_answer_and_its_end() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    for path in ["/a2a/agents/helper", "/a2a/agents/helper/v1/message:stream"] {
        let response = client()
            .post(server.url(path))
            .bearer_auth(&ada)
            .json(
                &json!({"jsonrpc": "2.0", "id": 7, "method": "message/stream",
                          "params": {"message": user_message("stream it", json!({}))}}),
            )
            .send()
            .await
            .unwrap();
        let frames = parse_sse(&event_stream(response).await);
        let results: Vec<&Value> = frames.iter().map(|f| &f.data["result"]).collect();
        assert!(
            frames
                .iter()
                .all(|f| f.data["id"] == 7 && f.data["jsonrpc"] == "2.0")
        );
        assert_eq!(results[0]["kind"], "task", "{results:?}");
        assert_eq!(results[0]["status"]["state"], "working");
        let task_id = results[0]["id"].clone();
        let answer: String = results
            .iter()
            .filter(|r| r["kind"] == "artifact-update")
            .map(|r| r["artifact"]["parts"][0]["text"].as_str().unwrap())
            .collect();
        assert!(answer.contains("stream it"), "{answer}");
        let last = results.last().unwrap();
        assert_eq!(last["kind"], "status-update");
        assert_eq!(last["final"], true);
        assert_eq!(last["status"]["state"], "completed");
        assert_eq!(last["taskId"], task_id);
        // The streamed task is stored like any other.
        let read = call(
            &server,
            "/a2a/agents/helper",
            &ada,
            "tasks/get",
            json!({"id": task_id}),
        )
        .await;
        assert_eq!(read["result"]["status"]["state"], "completed", "{read}");
        assert_eq!(
            read["result"]["artifacts"][0]["parts"][0]["text"],
            answer.as_str()
        );
    }
}

#[tokio::test]
async fn a_task_that_waits_for_a_person_goes_on_when_a_message_answers_it() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let sent = call(
        &server,
        "/a2a/agents/refunder",
        &ada,
        "message/send",
        json!({"message": user_message("refund order 12", json!({}))}),
    )
    .await;
    let task = &sent["result"];
    assert_eq!(task["status"]["state"], "input-required", "{sent}");
    let mut requirements = task["metadata"]["requirements"].clone();
    assert_eq!(requirements[0]["tool_execution"]["tool_name"], "refund");
    requirements[0]["confirmation"] = json!(true);

    let answer = json!({
        "kind": "message",
        "messageId": uuid_like(),
        "role": "user",
        "taskId": task["id"],
        "contextId": task["contextId"],
        "parts": [{"kind": "data", "data": {"requirements": requirements}}],
    });
    let done = call(
        &server,
        "/a2a/agents/refunder",
        &ada,
        "message/send",
        json!({"message": answer}),
    )
    .await;
    let done = &done["result"];
    assert_eq!(done["id"], task["id"], "the same task: {done}");
    assert_eq!(done["status"]["state"], "completed", "{done}");
    let text = done["artifacts"][0]["parts"][0]["text"].as_str().unwrap();
    assert!(text.contains("refunded"), "the approved call ran: {text}");

    // Another user cannot answer it.
    let bob = token(SECRET, "bob", json!([]));
    let again = call(
        &server,
        "/a2a/agents/refunder",
        &bob,
        "message/send",
        json!({"message": {"messageId": uuid_like(), "role": "user", "taskId": task["id"],
                            "parts": [{"kind": "text", "text": "approve"}]}}),
    )
    .await;
    assert!(again.get("error").is_some(), "{again}");
}
