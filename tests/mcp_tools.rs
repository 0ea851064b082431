//! Tools from MCP servers inside factories: a real MCP server (rmcp's, over streamable HTTP
//! on 127.0.0.1 in this process, or the example's child process over stdio) gives an agent
//! its tools for each run; calls go through the ordinary tool path (events, pauses), carry
//! headers built from the verified identity, and a failing, slow or dying server is a tool
//! error the model reads while the run goes on.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentos::model::ScriptedModel;
use agentos::prelude::*;
use agentos::run::{
    Decision, Decisions, Paused, RunEnv, RunOutput, RunRequest, RunStatus, continue_agent,
    run_agent,
};
use agentos::testing::McpOrders;
use agentos::{McpTools, ModelHandle, RawInput, RequestParts, Resolver, RunMeta, TestModel};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn request(message: &str) -> RunRequest {
    RunRequest {
        message: message.to_owned(),
        meta: RunMeta::new(None, Identity::Verified("tenant_7".to_owned())),
        history: Vec::new(),
    }
}

/// An agent on `model` with the MCP server's tools.
fn agent(model: &Arc<ScriptedModel>, tools: McpTools) -> Agent {
    let handle: ModelHandle = model.clone();
    Agent::new("Orders").with_model(handle).with_tools(tools)
}

async fn run_with_events(agent: &Agent, message: &str) -> (RunOutput, Vec<String>) {
    let (sink, mut events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink).streaming(true);
    let output = run_agent(agent, &request(message), &env).await;
    drop(env);
    let mut names = Vec::new();
    while let Some(event) = events.recv().await {
        names.push(event.event.as_str().to_owned());
    }
    (output, names)
}

/// The tool names and schemas the model was offered in its first request.
fn offered(model: &ScriptedModel) -> HashMap<String, Value> {
    model.requests()[0]
        .tools
        .iter()
        .map(|tool| (tool.name.clone(), tool.parameters.clone()))
        .collect()
}

#[tokio::test]
async fn an_agent_calls_an_mcp_servers_tools_on_the_ordinary_tool_path() {
    let server = McpOrders::start().await;
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("lookup_order", json!({"order_id": "A-1001"}))
            .then_answer("It has shipped."),
    );
    let tools = McpTools::http(server.url()).with_header("X-User-Id", "tenant_7");
    let (output, events) = run_with_events(&agent(&model, tools), "where is A-1001?").await;

    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.content, "It has shipped.");
    assert_eq!(output.tools.len(), 1);
    assert_eq!(output.tools[0].tool_name, "lookup_order");
    assert_eq!(
        output.tools[0].result.as_deref(),
        Some("order A-1001 of tenant_7: shipped")
    );
    assert!(!output.tools[0].tool_call_error.unwrap_or(false));
    assert_eq!(server.users_seen(), ["tenant_7"]);
    for name in ["ToolCallStarted", "ToolCallCompleted"] {
        assert!(events.iter().any(|e| e == name), "{name} in {events:?}");
    }
    // The model saw the server's tools with the server's own JSON Schemas.
    let offered = offered(&model);
    let mut names: Vec<&String> = offered.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "broken_lookup",
            "cancel_order",
            "lookup_order",
            "slow_lookup"
        ]
    );
    assert_eq!(offered["lookup_order"]["type"], "object");
    assert_eq!(
        offered["lookup_order"]["required"],
        json!(["order_id"]),
        "{}",
        offered["lookup_order"]
    );
    assert!(offered["lookup_order"]["properties"]["order_id"].is_object());
}

#[tokio::test]
async fn include_exclude_and_prefix_shape_what_the_model_sees() {
    let server = McpOrders::start().await;
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("orders_lookup_order", json!({"order_id": "B-2"}))
            .then_answer("done"),
    );
    let tools = McpTools::http(server.url())
        .include(["lookup_order", "cancel_order", "slow_lookup"])
        .exclude(["slow_lookup"])
        .with_prefix("orders_");
    let output = run_agent(&agent(&model, tools), &request("B-2?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    let mut names: Vec<String> = offered(&model).into_keys().collect();
    names.sort();
    assert_eq!(names, ["orders_cancel_order", "orders_lookup_order"]);
    assert_eq!(
        output.tools[0].result.as_deref(),
        Some("order B-2 of anonymous: shipped"),
        "called by the server's own name"
    );
}

/// The factory puts the verified user in the header; nothing from the request body can.
#[agent_factory(id = "orders-agent")]
fn orders_agent(ctx: RequestContext) -> Result<Agent, FactoryError> {
    let url = ctx
        .headers()
        .get("x-test-mcp-url")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| FactoryError::internal("no MCP URL"))?
        .to_owned();
    let user = ctx
        .user_id()
        .ok_or_else(|| FactoryError::permission("sign in"))?;
    Ok(Agent::new("Orders")
        .with_model(TestModel::new())
        .with_tools(
            McpTools::http(url)
                .with_header("X-User-Id", user)
                .include(["lookup_order"]),
        ))
}

#[tokio::test]
async fn a_factory_sends_the_verified_user_to_the_mcp_server() {
    let server = McpOrders::start().await;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-test-mcp-url", server.url().parse().unwrap());
    for user in ["tenant_7", "tenant_8"] {
        let meta = RunMeta::new(None, Identity::Verified(user.to_owned()));
        let parts =
            RequestParts::for_run(meta.clone(), "where is my order?").headers(headers.clone());
        let agent = Resolver::new(orders_agent)
            .resolve(RawInput::Json(json!({})), parts)
            .await
            .expect("the factory builds the agent");
        let request = RunRequest {
            message: "where is my order?".to_owned(),
            meta,
            history: Vec::new(),
        };
        // The TestModel calls each tool it is offered once, with arguments from its schema.
        let output = run_agent(&agent, &request, &RunEnv::new()).await;
        assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
        assert_eq!(
            output.tools[0].result.as_deref(),
            Some(format!("order example of {user}: shipped").as_str())
        );
    }
    assert_eq!(server.users_seen(), ["tenant_7", "tenant_8"]);
}

#[tokio::test]
async fn a_failing_or_slow_tool_is_an_error_the_model_reads_and_the_run_goes_on() {
    let server = McpOrders::start().await;
    let model = Arc::new(
        ScriptedModel::new()
            .then_calls([
                ("broken_lookup", json!({})),
                ("slow_lookup", json!({"seconds": 30})),
            ])
            .then_answer("Sorry, the order system is having trouble."),
    );
    let tools = McpTools::http(server.url()).with_timeout(Duration::from_millis(500));
    let started = Instant::now();
    let output = run_agent(&agent(&model, tools), &request("A-1?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the slow call was cut at its timeout, not waited for"
    );
    let broken = &output.tools[0];
    assert_eq!(broken.tool_call_error, Some(true));
    assert!(
        broken
            .result
            .as_deref()
            .unwrap()
            .contains("the order database is down"),
        "{:?}",
        broken.result
    );
    let slow = &output.tools[1];
    assert_eq!(slow.tool_call_error, Some(true));
    assert!(
        slow.result
            .as_deref()
            .unwrap()
            .contains("did not answer within"),
        "{:?}",
        slow.result
    );
    // The model was told both, and answered.
    let last = model.requests().last().unwrap().messages.clone();
    let told: Vec<&str> = last
        .iter()
        .filter_map(|m| m.tool_call_id.as_ref().map(|_| m.content.as_str()))
        .collect();
    assert_eq!(told.len(), 2, "{last:?}");
}

#[tokio::test]
async fn a_server_that_dies_mid_run_is_a_tool_error_and_the_run_is_not_cut() {
    let server = Arc::new(McpOrders::start().await);
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("slow_lookup", json!({"seconds": 5}))
            .then_call("lookup_order", json!({"order_id": "C-3"}))
            .then_answer("The order system went away."),
    );
    let tools = McpTools::http(server.url()).with_timeout(Duration::from_secs(20));
    let agent = agent(&model, tools);
    let killer = {
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            server.stop();
        })
    };
    let started = Instant::now();
    let (output, events) = run_with_events(&agent, "C-3?").await;
    killer.await.unwrap();
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.content, "The order system went away.");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the calls failed when the server went, not at their timeout"
    );
    assert_eq!(output.tools.len(), 2);
    for tool in &output.tools {
        assert_eq!(tool.tool_call_error, Some(true), "{tool:?}");
    }
    assert_eq!(events.last().map(String::as_str), Some("RunCompleted"));
}

#[tokio::test]
async fn a_server_that_is_not_there_leaves_the_run_without_its_tools() {
    let server = McpOrders::start().await;
    let url = server.url();
    drop(server);
    let model = Arc::new(ScriptedModel::new().then_answer("I cannot look that up now."));
    let tools = McpTools::http(url).with_timeout(Duration::from_secs(2));
    let output = run_agent(&agent(&model, tools), &request("A-1?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert!(offered(&model).is_empty());
}

#[tokio::test]
async fn a_tool_named_for_confirmation_pauses_the_run_until_a_person_answers() {
    let server = McpOrders::start().await;
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("cancel_order", json!({"order_id": "D-4"}))
            .then_answer("Cancelled."),
    );
    let tools = McpTools::http(server.url())
        .with_header("X-User-Id", "tenant_7")
        .requires_confirmation(["cancel_*"]);
    let agent = agent(&model, tools);
    let request = request("cancel D-4");
    let paused = run_agent(&agent, &request, &RunEnv::new()).await;
    assert_eq!(paused.status, RunStatus::Paused, "{}", paused.content);
    assert!(
        server.users_seen().is_empty(),
        "nothing ran before the answer"
    );
    let Some(Paused::Turn(suspended)) = paused.paused.clone() else {
        panic!("a paused run keeps its turn");
    };
    let call_id = suspended.calls[0].id.clone();
    let decisions = Decisions(HashMap::from([(
        call_id,
        Decision::Confirm {
            confirmed: true,
            note: None,
        },
    )]));
    // The continued run connects again and runs the call the person allowed.
    let output = continue_agent(&agent, &request, *suspended, &decisions, &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(
        output.tools[0].result.as_deref(),
        Some("order D-4 of tenant_7: cancelled")
    );
    assert_eq!(server.users_seen(), ["tenant_7"]);
}

#[tokio::test]
async fn a_child_process_server_over_stdio_gives_its_tools_and_ends_with_the_run() {
    let binary = support::process::example_binary("mcp_orders_server");
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("lookup_order", json!({"order_id": "E-5"}))
            .then_answer("Shipped."),
    );
    let tools = McpTools::stdio(binary.to_string_lossy(), ["--stdio"]);
    let output = run_agent(&agent(&model, tools), &request("E-5?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(
        output.tools[0].result.as_deref(),
        Some("order E-5 of anonymous: shipped")
    );

    // A program that is not there: the run goes on without the tools.
    let model = Arc::new(ScriptedModel::new().then_answer("No tools today."));
    let tools = McpTools::stdio("/nonexistent/mcp-server", Vec::<String>::new());
    let output = run_agent(&agent(&model, tools), &request("E-5?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert!(offered(&model).is_empty());
}

#[test]
fn debug_output_names_headers_but_never_their_values() {
    let tools = McpTools::http("http://127.0.0.1:1/mcp").with_bearer_token("secret-token-123");
    let shown = format!("{tools:?}");
    assert!(shown.contains("authorization"), "{shown}");
    assert!(!shown.contains("secret-token-123"), "{shown}");
}
