//! The AG-UI door over a real socket: a typed factory's run as the protocol's events (text,
//! tool calls, its members as steps), a run that waits for a person ending as an interrupt,
//! refused input ending with `RUN_ERROR` and running nothing, a retried `runId` streaming the
//! same run, and no token refused. On SQLite, and on PostgreSQL with `AGENTOS_TEST_DB=postgres`.

mod support;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, client, event_stream, get_json_as, token};

const SECRET: &[u8] = b"an-agui-test-secret-that-is-long-enough-for-hs256";

#[derive(Deserialize, Validate, JsonSchema)]
pub struct Desk {
    /// Which desk answers.
    #[garde(length(min = 2))]
    desk: String,
}

/// Looks an order up.
#[tool]
fn lookup_order(
    /// The order number.
    order_id: String,
) -> String {
    format!("order {order_id} shipped")
}

/// Refunds an order, once a person approves.
#[tool(requires_confirmation)]
fn refund(
    /// The order number.
    order_id: String,
) -> String {
    format!("refunded {order_id}")
}

#[agent_factory(id = "desk-agent", input = Desk)]
fn desk_agent(ctx: RequestContext<Desk>) -> Agent {
    Agent::new("Desk Agent")
        .with_model(TestModel::new())
        .with_instruction(format!("You work for the {} desk.", ctx.input.desk))
        .with_tool(lookup_order)
}

fn os() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .agui(agentos::ComponentKind::Team, "front-desk")
        .agent(desk_agent)
        .agent(
            Agent::new("Refunder")
                .with_model(TestModel::new())
                .with_tool(refund),
        )
        .team(
            Team::new("Front Desk")
                .with_model(TestModel::new())
                .with_members([Agent::new("Clerk").with_model(TestModel::new())]),
        )
        .auth(JwtAuth::hs256(SECRET))
}

/// The events of a run of `path`, as `bearer`, with this input.
async fn events(server: &TestServer, path: &str, bearer: &str, input: Value) -> Vec<Value> {
    let response = client()
        .post(server.url(path))
        .bearer_auth(bearer)
        .json(&input)
        .send()
        .await
        .unwrap();
    event_stream(response)
        .await
        .split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn input(thread: &str, run: &str, text: &str, props: Value) -> Value {
    json!({
        "threadId": thread,
        "runId": run,
        "messages": [
            {"id": "m0", "role": "assistant", "content": "How can I help?"},
            {"id": "m1", "role": "user", "content": text},
        ],
        "tools": [],
        "state": {},
        "context": [],
        "forwardedProps": props,
    })
}

#[tokio::test]
async fn a_typed_factory_streams_its_text_and_tool_calls_as_agui_events() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let sent = events(
        &server,
        "/agui/agents/desk-agent",
        &ada,
        input(
            "thread-ada-1",
            "run-1",
            "where is order 7?",
            json!({"factory_input": {"desk": "returns"}}),
        ),
    )
    .await;
    let kinds = types(&sent);
    assert_eq!(kinds.first(), Some(&"RUN_STARTED"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"RUN_FINISHED"), "{kinds:?}");
    assert_eq!(sent[0]["threadId"], "thread-ada-1");
    assert_eq!(sent[0]["runId"], "run-1");
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("{kind} in {kinds:?}"))
    };
    assert!(at("TOOL_CALL_START") < at("TOOL_CALL_ARGS"));
    assert!(at("TOOL_CALL_END") < at("TOOL_CALL_RESULT"));
    assert!(at("TOOL_CALL_RESULT") < at("TEXT_MESSAGE_START"));
    assert!(at("TEXT_MESSAGE_CONTENT") < at("TEXT_MESSAGE_END"));
    let call = &sent[at("TOOL_CALL_START")];
    assert_eq!(call["toolCallName"], "lookup_order");
    let result = &sent[at("TOOL_CALL_RESULT")];
    assert_eq!(result["toolCallId"], call["toolCallId"]);
    assert!(result["content"].as_str().unwrap().contains("shipped"));
    let text: String = sent
        .iter()
        .filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(text.contains("where is order 7?"), "{text}");

    // The thread is the run's session, stored as any other.
    let session = get_json_as(&server, "/sessions/thread-ada-1", &ada).await;
    assert_eq!(session["agent_id"], "desk-agent", "{session}");

    // The same runId again is the same run, not a second one.
    let again = events(
        &server,
        "/agui/agents/desk-agent",
        &ada,
        input(
            "thread-ada-1",
            "run-1",
            "where is order 7?",
            json!({"factory_input": {"desk": "returns"}}),
        ),
    )
    .await;
    assert_eq!(types(&again).last(), Some(&"RUN_FINISHED"));
    let runs = get_json_as(
        &server,
        "/agents/desk-agent/runs?session_id=thread-ada-1",
        &ada,
    )
    .await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
}

#[tokio::test]
async fn members_are_steps_a_waiting_call_is_an_interrupt_and_refused_input_runs_nothing() {
    let server = TestServer::with(os()).await;
    let bob = token(SECRET, "bob", json!([]));

    let team = events(
        &server,
        "/agui/teams/front-desk",
        &bob,
        input("thread-bob-1", "r1", "clerk, help", json!({})),
    )
    .await;
    let kinds = types(&team);
    assert!(
        kinds.contains(&"STEP_STARTED") && kinds.contains(&"STEP_FINISHED"),
        "{kinds:?}"
    );
    let step = team.iter().find(|e| e["type"] == "STEP_STARTED").unwrap();
    assert_eq!(step["stepName"], "Clerk");
    assert_eq!(kinds.last(), Some(&"RUN_FINISHED"));

    let paused = events(
        &server,
        "/agui/agents/refunder",
        &bob,
        input("thread-bob-2", "r2", "refund 9", json!({})),
    )
    .await;
    let last = paused.last().unwrap();
    assert_eq!(last["type"], "RUN_FINISHED", "{paused:?}");
    assert_eq!(last["outcome"], "interrupt");
    let requirements = &last["interrupt"]["payload"]["requirements"];
    assert_eq!(
        requirements[0]["tool_execution"]["tool_name"], "refund",
        "{last}"
    );

    // The UI answers with a tool message for the waiting call: the run goes on and ends.
    let call_id = requirements[0]["tool_execution"]["tool_call_id"]
        .as_str()
        .unwrap();
    let mut answer = input("thread-bob-2", "r2b", "refund 9", json!({}));
    answer["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "m2", "role": "tool", "toolCallId": call_id, "content": "{\"accepted\": true}"}));
    let resumed = events(&server, "/agui/agents/refunder", &bob, answer).await;
    let kinds = types(&resumed);
    assert_eq!(kinds.first(), Some(&"RUN_STARTED"), "{kinds:?}");
    let end = resumed.last().unwrap();
    assert_eq!(end["type"], "RUN_FINISHED", "{resumed:?}");
    assert!(end.get("outcome").is_none(), "it finished: {end}");
    let text: String = resumed
        .iter()
        .filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(text.contains("refunded"), "{text}");
    assert!(
        kinds.contains(&"TOOL_CALL_RESULT"),
        "the approved call ran: {kinds:?}"
    );

    // The protocol's own `resume`, naming the run, refusing the call.
    let paused = events(
        &server,
        "/agui/agents/refunder",
        &bob,
        input("thread-bob-4", "r4", "refund 10", json!({})),
    )
    .await;
    let interrupt = &paused.last().unwrap()["interrupt"];
    let mut requirement = interrupt["payload"]["requirements"][0].clone();
    requirement["confirmation"] = json!(false);
    requirement["confirmation_note"] = json!("not this one");
    let mut refusal = input("thread-bob-4", "r4b", "refund 10", json!({}));
    refusal["resume"] =
        json!({"interruptId": interrupt["id"], "payload": {"requirements": [requirement]}});
    let refused = events(&server, "/agui/agents/refunder", &bob, refusal).await;
    assert_eq!(
        refused.last().unwrap()["type"],
        "RUN_FINISHED",
        "{refused:?}"
    );
    let text: String = refused
        .iter()
        .filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(
        text.contains("not this one"),
        "the model read the refusal: {text}"
    );

    let refused = events(
        &server,
        "/agui/agents/desk-agent",
        &bob,
        input(
            "thread-bob-3",
            "r3",
            "hi",
            json!({"factory_input": {"desk": "x"}}),
        ),
    )
    .await;
    assert_eq!(types(&refused), ["RUN_STARTED", "RUN_ERROR"]);
    assert_eq!(refused[1]["code"], "invalid_factory_input");
    assert!(
        refused[1]["message"].as_str().unwrap().contains("desk"),
        "{refused:?}"
    );
    let session = client()
        .get(server.url("/sessions/thread-bob-3"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::NOT_FOUND, "nothing ran");

    let anonymous = client()
        .post(server.url("/agui/agents/refunder"))
        .json(&input("t", "r", "hi", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let no_message = client()
        .post(server.url("/agui/agents/refunder"))
        .bearer_auth(&bob)
        .json(&json!({"threadId": "t", "runId": "r", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_message.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn post_agui_serves_the_one_component_configured_and_an_unknown_one_is_refused_at_build() {
    let server = TestServer::with(os()).await;
    let ada = token(SECRET, "ada", json!([]));
    let sent = events(
        &server,
        "/agui",
        &ada,
        input("thread-one", "one-1", "clerk, hi", json!({})),
    )
    .await;
    let kinds = types(&sent);
    assert_eq!(kinds.first(), Some(&"RUN_STARTED"));
    assert_eq!(kinds.last(), Some(&"RUN_FINISHED"), "{kinds:?}");
    assert!(
        kinds.contains(&"STEP_STARTED"),
        "the team's member ran: {kinds:?}"
    );

    let refused = AgentOs::builder()
        .agent(Agent::new("Only").with_model(TestModel::new()))
        .agui(agentos::ComponentKind::Agent, "nobody")
        .build()
        .await;
    match refused {
        Err(agentos::BuildError::UnknownAguiComponent { id, .. }) => assert_eq!(id, "nobody"),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("an AG-UI component that is not served was accepted"),
    }
}
