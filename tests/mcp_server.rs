//! agentos served over MCP, driven by rmcp's own client over a real socket: the tools listed
//! (agno's, and one per component with its factory's input schema), a typed factory run with
//! its input, bad input answered with field paths, no token refused, the token's subject
//! winning over a `user_id` argument, scopes checked as on REST, one tenant never reading
//! another's sessions, and a workflow factory run, paused at a step and continued.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use agentos::prelude::*;
use agentos::server::JwtAuth;
use agentos::{AgentOs, TestModel};
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ServiceExt, model::JsonObject};
use serde_json::{Value, json};
use support::TestServer;

const SECRET: &[u8] = b"an-mcp-test-secret-that-is-long-enough-for-hs256";

#[derive(Deserialize, Validate, JsonSchema)]
pub struct ResearchInput {
    /// What to research.
    #[garde(length(min = 3, max = 80))]
    topic: String,
    /// How deep to go.
    #[serde(default = "one")]
    #[garde(range(min = 1, max = 3))]
    depth: u8,
}

fn one() -> u8 {
    1
}

/// A team factory whose input is required: callable over MCP only with its input.
#[team_factory(id = "research-team", input = ResearchInput, name = "Research Team",
               description = "Researches a topic for the caller.")]
fn research_team(ctx: RequestContext<ResearchInput>) -> Team {
    Team::new("Research Team")
        .with_model(TestModel::new())
        .with_instruction(format!(
            "Research {} at depth {} for {}.",
            ctx.input.topic,
            ctx.input.depth,
            ctx.user_id().unwrap_or("nobody")
        ))
        .with_members([Agent::new("Researcher").with_model(TestModel::new())])
}

/// Publishes a post, once a person approves.
#[tool(requires_confirmation)]
fn publish(
    /// What to publish.
    post: String,
) -> String {
    format!("published: {post}")
}

#[derive(Deserialize, Validate, JsonSchema)]
pub struct Desk {
    /// The desk the post goes out from.
    #[garde(length(min = 1))]
    desk: String,
}

/// A workflow factory whose publishing step waits for a person.
#[workflow_factory(id = "post-flow", input = Desk, name = "Post flow")]
fn post_flow(ctx: RequestContext<Desk>) -> Workflow {
    let desk = ctx.input.desk.clone();
    let publisher = Agent::new("Publisher")
        .with_model(TestModel::new())
        .with_tool(publish);
    Workflow::new("Post flow").with_steps([
        Step::function("head", move |input: StepInput| {
            format!("[{desk}] {}", input.message())
        }),
        Step::agent("publish", publisher),
    ])
}

fn token(sub: &str, scopes: &[&str]) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": sub, "scopes": scopes, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

async fn server(auth: JwtAuth) -> TestServer {
    TestServer::with(
        AgentOs::builder()
            .team(research_team)
            .agent(Agent::new("Helper").with_model(TestModel::new()))
            .workflow(post_flow)
            .auth(auth)
            .mcp(true),
    )
    .await
}

async fn connect(
    server: &TestServer,
    token: Option<&str>,
) -> Result<RunningService<RoleClient, ClientConfig>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"));
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    ClientConfig::default()
        .serve(transport)
        .await
        .map_err(|error| error.to_string())
}

async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments are an object")
    };
    let arguments: JsonObject = arguments;
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .expect("the call is answered")
}

fn structured(result: &CallToolResult) -> &Value {
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

#[tokio::test]
async fn an_mcp_client_lists_the_tools_and_runs_a_typed_factory_with_its_input() {
    let server = server(JwtAuth::hs256(SECRET)).await;
    let client = connect(&server, Some(&token("tenant_a", &[])))
        .await
        .unwrap();

    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for name in [
        "get_agentos_config",
        "run_agent",
        "run_team",
        "continue_run",
        "cancel_run",
        "get_sessions",
        "get_session_runs",
        "run_team__research-team",
        "run_agent__helper",
        "run_workflow",
        "run_workflow__post-flow",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let research = tools
        .iter()
        .find(|t| t.name == "run_team__research-team")
        .unwrap();
    let schema = Value::Object((*research.input_schema).clone());
    assert_eq!(schema["required"], json!(["message", "factory_input"]));
    assert_eq!(
        schema["properties"]["factory_input"]["required"],
        json!(["topic"])
    );
    assert_eq!(
        schema["properties"]["factory_input"]["properties"]["topic"]["maxLength"],
        80
    );

    let result = call(
        &client,
        "run_team__research-team",
        json!({"message": "what is new?", "factory_input": {"topic": "tidal power", "depth": 2}}),
    )
    .await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let run = structured(&result);
    assert_eq!(run["status"], "COMPLETED");
    assert!(run["run_id"].is_string() && run["session_id"].is_string());
    assert!(!run["content"].as_str().unwrap().is_empty());

    // agno's own run tool does the same, named by id.
    let result = call(
        &client,
        "run_team",
        json!({"team_id": "research-team", "message": "again", "factory_input": {"topic": "wind"}}),
    )
    .await;
    assert_eq!(structured(&result)["status"], "COMPLETED", "{result:?}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_input_comes_back_as_a_tool_error_with_its_field_paths() {
    let server = server(JwtAuth::hs256(SECRET)).await;
    let client = connect(&server, Some(&token("tenant_a", &[])))
        .await
        .unwrap();
    let result = call(
        &client,
        "run_team__research-team",
        json!({"message": "hi", "factory_input": {"topic": "x", "depth": 9}}),
    )
    .await;
    assert_eq!(result.is_error, Some(true));
    let body = structured(&result);
    assert_eq!(body["status"], 400, "{body}");
    let locs: Vec<Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"].clone())
        .collect();
    assert!(locs.contains(&json!(["topic"])), "{locs:?}");
    assert!(locs.contains(&json!(["depth"])), "{locs:?}");

    // Missing input, an unknown component, a missing argument.
    let result = call(&client, "run_team__research-team", json!({"message": "hi"})).await;
    assert_eq!(structured(&result)["status"], 400, "{result:?}");
    let result = call(
        &client,
        "run_team",
        json!({"team_id": "nope", "message": "hi"}),
    )
    .await;
    assert_eq!(structured(&result)["status"], 404, "{result:?}");
    let result = call(&client, "run_team", json!({"team_id": "research-team"})).await;
    assert_eq!(structured(&result)["error_code"], "invalid_arguments");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_a_valid_token_nothing_is_served() {
    let server = server(JwtAuth::hs256(SECRET)).await;
    assert!(connect(&server, None).await.is_err(), "no token");
    assert!(
        connect(&server, Some("not.a.token")).await.is_err(),
        "a bad token"
    );
    let response = reqwest::Client::new()
        .post(server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_token_names_the_user_and_tenants_never_see_each_others_sessions() {
    let server = server(JwtAuth::hs256(SECRET)).await;
    let alice = connect(&server, Some(&token("alice", &[]))).await.unwrap();
    let bob = connect(&server, Some(&token("bob", &[]))).await.unwrap();

    // A user_id argument does not make alice someone else.
    let result = call(
        &alice,
        "run_agent__helper",
        json!({"message": "remember me", "user_id": "bob"}),
    )
    .await;
    let session = structured(&result)["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = call(&alice, "get_sessions", json!({})).await;
    let data = structured(&listed)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(data[0]["session_id"], session);
    let listed = call(&bob, "get_sessions", json!({"user_id": "alice"})).await;
    assert_eq!(
        structured(&listed)["data"].as_array().unwrap().len(),
        0,
        "bob sees none of alice's sessions, whatever he asks"
    );

    let runs = call(&alice, "get_session_runs", json!({"session_id": session})).await;
    assert_eq!(structured(&runs)["runs"].as_array().unwrap().len(), 1);
    assert_eq!(structured(&runs)["runs"][0]["user_id"], "alice");
    let foreign = call(&bob, "get_session_runs", json!({"session_id": session})).await;
    assert_eq!(foreign.is_error, Some(true));
    assert_eq!(
        structured(&foreign)["status"],
        404,
        "as if it did not exist"
    );

    // Nor can bob write into alice's session.
    let result = call(
        &bob,
        "run_agent__helper",
        json!({"message": "hijack", "session_id": session}),
    )
    .await;
    assert_eq!(result.is_error, Some(true), "{result:?}");
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
}

#[tokio::test]
async fn each_tool_needs_the_scope_of_its_rest_route() {
    let server = server(JwtAuth::hs256(SECRET).check_route_scopes(true)).await;
    let reader = connect(&server, Some(&token("carol", &["sessions:read"])))
        .await
        .unwrap();
    let result = call(
        &reader,
        "run_team__research-team",
        json!({"message": "hi", "factory_input": {"topic": "tides"}}),
    )
    .await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(structured(&result)["status"], 403, "{result:?}");
    let listed = call(&reader, "get_sessions", json!({})).await;
    assert_ne!(listed.is_error, Some(true), "{listed:?}");

    let runner = connect(&server, Some(&token("dave", &["teams:research-team:run"])))
        .await
        .unwrap();
    let result = call(
        &runner,
        "run_team__research-team",
        json!({"message": "hi", "factory_input": {"topic": "tides"}}),
    )
    .await;
    assert_eq!(structured(&result)["status"], "COMPLETED", "{result:?}");
    let config = call(&runner, "get_agentos_config", json!({})).await;
    assert_eq!(structured(&config)["status"], 403, "system:read is missing");
    reader.cancel().await.unwrap();
    runner.cancel().await.unwrap();
}

#[tokio::test]
async fn a_workflow_factory_runs_pauses_at_its_step_and_continues_over_mcp() {
    let server = server(JwtAuth::hs256(SECRET)).await;
    let client = connect(&server, Some(&token("erin", &[]))).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    let flow = tools
        .iter()
        .find(|t| t.name == "run_workflow__post-flow")
        .unwrap();
    let schema = Value::Object((*flow.input_schema).clone());
    assert_eq!(schema["required"], json!(["message", "factory_input"]));

    let missing = call(&client, "run_workflow__post-flow", json!({"message": "hi"})).await;
    assert_eq!(missing.is_error, Some(true), "{missing:?}");
    assert_eq!(structured(&missing)["status"], 400);

    let result = call(
        &client,
        "run_workflow",
        json!({"workflow_id": "post-flow", "message": "spring sale", "factory_input": {"desk": "news"}}),
    )
    .await;
    let paused = structured(&result).clone();
    assert_eq!(paused["status"], "PAUSED", "{result:?}");
    let mut requirements = paused["requirements"].clone();
    let step = &mut requirements[0];
    assert_eq!(step["step_name"], "publish");
    let waiting = &mut step["executor_requirements"][0];
    assert_eq!(waiting["tool_execution"]["tool_name"], "publish");
    waiting["confirmation"] = json!(true);

    let result = call(
        &client,
        "continue_run",
        json!({
            "workflow_id": "post-flow",
            "run_id": paused["run_id"],
            "session_id": paused["session_id"],
            "requirements": requirements,
        }),
    )
    .await;
    let done = structured(&result);
    assert_eq!(done["status"], "COMPLETED", "{result:?}");
    assert_eq!(done["run_id"], paused["run_id"]);
    assert!(
        done["content"].as_str().unwrap().contains("published: "),
        "{done}"
    );
    let listed = call(&client, "get_sessions", json!({"session_type": "workflow"})).await;
    let data = structured(&listed)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1, "{data:?}");
    client.cancel().await.unwrap();
}
