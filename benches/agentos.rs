//! Micro-benchmarks of the per-request work: factory resolution, JWT verification, SSE
//! encoding, a whole team run in process on the offline TestModel, a tool call as a
//! `#[tool]` function and as an MCP server's tool (rmcp's server on loopback, in process), and
//! a five-step workflow beside the five agent runs it makes.
//!
//! Run with: `cargo bench --bench agentos`

use std::hint::black_box;
use std::sync::Arc;

use agentos::prelude::*;
use agentos::run::{EventName, RunEnv, RunRequest, run_agent, run_team, run_workflow};
use agentos::server::{JwtAuth, event_frame};
use agentos::{RawInput, RequestParts, Resolver, RunMeta, TestModel};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

#[derive(Deserialize, Validate, JsonSchema)]
struct TeamConfig {
    #[serde(default)]
    #[garde(skip)]
    include_reviewer: bool,
}

/// The seed's two-member support team, one model handle shared by all three agents.
#[team_factory(id = "support-team", input = TeamConfig)]
fn support_team(ctx: RequestContext<TeamConfig>) -> Team {
    let model: agentos::ModelHandle = Arc::new(TestModel::with_id("gpt-5.4"));
    let tenant = ctx.user_id().unwrap_or("anonymous");
    let mut members = vec![
        Agent::new("Billing Agent")
            .with_role("Handle billing inquiries")
            .with_model(model.clone())
            .with_instruction(format!("You help tenant {tenant} with invoices.")),
        Agent::new("Tech Support Agent")
            .with_role("Handle technical issues")
            .with_model(model.clone())
            .with_instruction(format!("You help tenant {tenant} with outages.")),
    ];
    if ctx.input.include_reviewer {
        members.push(Agent::new("Reviewer").with_model(model.clone()));
    }
    Team::new("Support Team")
        .with_model(model)
        .with_members(members)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn resolution(c: &mut Criterion) {
    let rt = runtime();
    let resolver = Resolver::new(support_team);
    c.bench_function(
        "resolve: parse + validate factory_input, build the two-member team",
        |b| {
            b.to_async(&rt).iter(|| async {
                let meta = RunMeta::new(None, Identity::Asserted("tenant_42".into()));
                let parts = RequestParts::for_run(meta, "I need help with billing");
                let input = RawInput::Text(r#"{"include_reviewer": false}"#.to_owned());
                black_box(resolver.resolve(input, parts).await.unwrap())
            })
        },
    );
}

fn jwt(c: &mut Criterion) {
    let secret = b"oracle-hs256-secret-with-at-least-32-bytes!";
    let auth = JwtAuth::hs256(secret);
    let claims = json!({"sub": "tenant_42", "scopes": ["support:admin"], "tenant": "acme", "exp": 4_000_000_000u64});
    let token = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    c.bench_function("jwt: verify an HS256 bearer token", |b| {
        b.iter(|| black_box(auth.verify(black_box(&headers)).unwrap()))
    });
}

fn sse(c: &mut Criterion) {
    let rt = runtime();
    let team = rt.block_on(async {
        Resolver::new(support_team)
            .resolve(RawInput::Absent, RequestParts::new("hello"))
            .await
            .unwrap()
    });
    let (sink, mut events) = tokio::sync::mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink).streaming(true);
    let request = RunRequest {
        message: "My router keeps rebooting".into(),
        meta: RunMeta::new(None, Identity::Asserted("tenant_42".into())),
        history: Vec::new(),
    };
    rt.block_on(run_team(&team, &request, &env));
    drop(env);
    let mut all = Vec::new();
    while let Ok(event) = events.try_recv() {
        all.push(event);
    }
    let content = all
        .iter()
        .find(|e| e.event == EventName::RunContent)
        .unwrap()
        .clone();
    let completed = all
        .iter()
        .find(|e| e.event == EventName::TeamRunCompleted)
        .unwrap()
        .clone();
    c.bench_function("sse: encode a RunContent event", |b| {
        b.iter(|| black_box(event_frame(black_box(&content), 7)))
    });
    c.bench_function("sse: encode the TeamRunCompleted event", |b| {
        b.iter(|| black_box(event_frame(black_box(&completed), 7)))
    });
}

fn team_run(c: &mut Criterion) {
    let rt = runtime();
    let team = rt.block_on(async {
        Resolver::new(support_team)
            .resolve(RawInput::Absent, RequestParts::new("hello"))
            .await
            .unwrap()
    });
    let request = RunRequest {
        message: "I need help with billing and a technical issue".into(),
        meta: RunMeta::new(None, Identity::Asserted("tenant_42".into())),
        history: Vec::new(),
    };
    c.bench_function("run: non-streaming team run, TestModel, no HTTP", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(run_team(&team, &request, &RunEnv::new()).await) })
    });
}

/// A workflow of five agent steps, and the same five agents run one after the other on what
/// the one before answered: the difference is what the workflow adds (its events, step
/// outputs, child runs' ids), per step.
fn workflow(c: &mut Criterion) {
    let rt = runtime();
    let model: agentos::ModelHandle = Arc::new(TestModel::with_id("gpt-5.4"));
    let agents: Vec<Agent> = (1..=5)
        .map(|i| Agent::new(format!("Step Agent {i}")).with_model(model.clone()))
        .collect();
    let workflow = Workflow::new("Five Steps").with_steps(
        agents
            .iter()
            .enumerate()
            .map(|(i, agent)| Step::agent(format!("step {i}"), agent.clone())),
    );
    let request = RunRequest {
        message: "Draft a note about the release".into(),
        meta: RunMeta::new(None, Identity::Asserted("tenant_42".into())),
        history: Vec::new(),
    };
    c.bench_function("workflow: five agent steps, TestModel, no HTTP", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(run_workflow(&workflow, &request, &RunEnv::new()).await) })
    });
    c.bench_function("workflow: the same five agent runs, called in turn", |b| {
        b.to_async(&rt).iter(|| async {
            let mut message = request.message.clone();
            for agent in &agents {
                let step = RunRequest {
                    message,
                    meta: request.meta.clone(),
                    history: Vec::new(),
                };
                message = run_agent(agent, &step, &RunEnv::new()).await.content;
            }
            black_box(message)
        })
    });
}

/// Looks up an order (the same answer as the MCP server's `lookup_order`).
#[tool]
fn lookup_order(
    /// The order.
    order_id: String,
) -> String {
    format!("order {order_id} of anonymous: shipped")
}

fn tool_calls(c: &mut Criterion) {
    use agentos::{IntoTool, McpTools, Toolset};
    let rt = runtime();
    let arguments = json!({"order_id": "A-1001"});
    let local = lookup_order.into_tool();
    c.bench_function("tool: a #[tool] call (lookup_order)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(local.call(arguments.clone()).await.unwrap()) })
    });
    let server = rt.block_on(agentos::testing::McpOrders::start());
    let toolset = McpTools::http(server.url());
    let connected = rt
        .block_on(toolset.connect())
        .expect("the MCP server answers");
    let remote = connected
        .tools()
        .iter()
        .find(|tool| tool.name() == "lookup_order")
        .unwrap()
        .clone();
    c.bench_function(
        "tool: an MCP call (lookup_order, streamable HTTP on loopback, rmcp both ends)",
        |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(remote.call(arguments.clone()).await.unwrap()) })
        },
    );
    c.bench_function(
        "tool: connect to the MCP server and list its tools (once a run), then close",
        |b| {
            b.to_async(&rt).iter(|| async {
                let connected = toolset.connect().await.unwrap();
                black_box(connected.tools().len());
                connected.close().await;
            })
        },
    );
    rt.block_on(connected.close());
}

criterion_group!(
    benches, resolution, jwt, sse, team_run, tool_calls, workflow
);
criterion_main!(benches);
