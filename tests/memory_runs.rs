//! Memory in runs: a user's memories reach the system prompts of the components that opt in
//! (a team's members included), read from the requests the model receives; another user's,
//! and the same user id's in another tenant, never do. Runs on SQLite, and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres` (as `.ci/run` does).

mod support;

use std::sync::Arc;

use agentos::model::{Model, Role};
use agentos::server::JwtAuth;
use agentos::{Agent, Memory, Team, TestModel};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Recorder, TestServer, client, form};

const SECRET: &[u8] = b"memory-runs-test-secret-of-32-bytes";

fn token(sub: &str, tenant: &str) -> String {
    let claims = json!({"sub": sub, "tenant": tenant, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("token")
}

/// The models of the served components, each recording what it was sent.
struct Models {
    concierge: Arc<Recorder>,
    member: Arc<Recorder>,
    plain: Arc<Recorder>,
}

fn recording(recorder: &Arc<Recorder>) -> Arc<dyn Model> {
    recorder.clone()
}

async fn server() -> (TestServer, Models) {
    let models = Models {
        concierge: Arc::default(),
        member: Arc::default(),
        plain: Arc::default(),
    };
    let builder = agentos::AgentOs::builder()
        .agent(
            Agent::new("Concierge")
                .with_model(recording(&models.concierge))
                .with_memory(Memory::read_only()),
        )
        .agent(Agent::new("Plain").with_model(recording(&models.plain)))
        .team(
            Team::new("Front Desk")
                .with_model(TestModel::new())
                .with_members([Agent::new("Greeter")
                    .with_model(recording(&models.member))
                    .with_memory(Memory::read_only().with_max_memories(1))]),
        )
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    (TestServer::with(builder).await, models)
}

/// The system prompt of the last request `recorder` answered ("" without one).
fn last_system_prompt(recorder: &Recorder) -> String {
    let requests = recorder.requests.lock().unwrap();
    let request = requests.last().expect("the model was called");
    request
        .messages
        .iter()
        .find(|message| message.role == Role::System)
        .map(|system| system.content.clone())
        .unwrap_or_default()
}

async fn remember(server: &TestServer, token: &str, fact: &str) {
    let response = client()
        .post(server.url("/memories"))
        .bearer_auth(token)
        .json(&json!({"memory": fact}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn run(server: &TestServer, path: &str, token: &str, message: &str) -> Value {
    let response = client()
        .post(server.url(path))
        .bearer_auth(token)
        .multipart(form(&[("message", message), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_users_memories_reach_the_prompts_of_opted_in_components_only_for_that_user() {
    let (server, models) = server().await;
    let alice = token("alice", "acme");
    remember(&server, &alice, "Alice is vegetarian").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    remember(&server, &alice, "Alice lives in Porto").await;
    remember(&server, &token("bob", "acme"), "Bob is allergic to nuts").await;
    remember(
        &server,
        &token("alice", "globex"),
        "Globex Alice eats steak",
    )
    .await;

    run(&server, "/agents/concierge/runs", &alice, "Plan my dinner").await;
    let prompt = last_system_prompt(&models.concierge);
    assert!(
        prompt.contains("<memories_from_previous_interactions>"),
        "{prompt}"
    );
    let vegetarian = prompt
        .find("- Alice is vegetarian")
        .expect("her first memory");
    let porto = prompt
        .find("- Alice lives in Porto")
        .expect("her second memory");
    assert!(porto < vegetarian, "the most recent first: {prompt}");
    assert!(!prompt.contains("Bob"), "another user's memory: {prompt}");
    assert!(
        !prompt.contains("steak"),
        "another tenant's memory: {prompt}"
    );

    // A team's member with memory sees them too, under its own cap.
    let answer = run(&server, "/teams/front-desk/runs", &alice, "Plan my dinner").await;
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    let prompt = last_system_prompt(&models.member);
    assert!(prompt.contains("- Alice lives in Porto"), "{prompt}");
    assert!(
        !prompt.contains("vegetarian"),
        "capped at one memory: {prompt}"
    );

    // A user without memories is told so; a component without memory hears nothing of them.
    run(
        &server,
        "/agents/concierge/runs",
        &token("carol", "acme"),
        "Hello",
    )
    .await;
    let prompt = last_system_prompt(&models.concierge);
    assert!(
        prompt.contains("do not know anything about this user yet"),
        "{prompt}"
    );
    assert!(!prompt.contains("Alice"), "{prompt}");
    run(&server, "/agents/plain/runs", &alice, "Plan my dinner").await;
    let prompt = last_system_prompt(&models.plain);
    assert!(
        !prompt.contains("vegetarian") && !prompt.contains("remember"),
        "{prompt}"
    );
}
