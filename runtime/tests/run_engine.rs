//! The run engine on offline models: delegation, events, tools, failures, cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentos_runtime::model::{
    Model, ModelError, ModelRequest, ModelResponse, ScriptedModel, TestModel,
};
use agentos_runtime::run::{
    EventName, RunEnv, RunEvent, RunRequest, RunStatus, run_agent, run_team,
};
use agentos_runtime::{
    Agent, Identity, RunMeta, Team, TeamMode, ToolDefinition, ToolError, ToolFunction,
};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn request(message: &str) -> RunRequest {
    RunRequest {
        message: message.to_owned(),
        meta: RunMeta::for_test(
            "run-1",
            "sess-1",
            Identity::Verified("tenant_42".to_owned()),
        ),
        history: Vec::new(),
    }
}

fn support_team(model: impl agentos_runtime::IntoModel + Clone) -> Team {
    Team::new("Support Team")
        .with_model(model.clone())
        .with_members([
            Agent::new("Billing Agent")
                .with_role("Billing questions")
                .with_model(model.clone()),
            Agent::new("Tech Support Agent")
                .with_role("Technical questions")
                .with_model(model),
        ])
}

async fn collect(env_events: mpsc::UnboundedReceiver<Arc<RunEvent>>) -> Vec<Arc<RunEvent>> {
    let mut events = Vec::new();
    let mut receiver = env_events;
    while let Some(event) = receiver.recv().await {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn coordinate_team_delegates_to_every_member_with_the_test_model() {
    let model: Arc<dyn Model> = Arc::new(TestModel::new());
    let team = support_team(model);
    let output = run_team(&team, &request("billing and router help"), &RunEnv::new()).await;

    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.component.team_id(), Some("support-team"));
    let members = output
        .member_responses
        .as_ref()
        .expect("a team output lists member runs");
    assert_eq!(members.len(), 2);
    assert_eq!(output.tools.len(), 2);
    for (tool, member) in output.tools.iter().zip(members) {
        assert_eq!(tool.tool_name, "delegate_task_to_member");
        assert_eq!(tool.child_run_id.as_deref(), Some(member.run_id.as_str()));
        assert_eq!(tool.tool_call_error, Some(false));
        assert_eq!(member.parent_run_id.as_deref(), Some("run-1"));
        assert_eq!(member.session_id, "sess-1");
        assert_eq!(member.user_id.as_deref(), Some("tenant_42"));
        assert_eq!(member.status, RunStatus::Completed);
        assert!(
            output.content.contains(&member.content),
            "{}",
            output.content
        );
    }
    assert_eq!(members[0].component.agent_id(), Some("billing-agent"));
    assert_eq!(members[1].component.agent_id(), Some("tech-support-agent"));
    // The leader's two calls are counted; members' are in their own outputs.
    assert_eq!(
        output.metrics.details.as_ref().unwrap().model[0].id,
        "test-model"
    );
    assert!(output.metrics.total_tokens > 0);
}

#[tokio::test]
async fn streamed_events_follow_agnos_order() {
    let leader = ScriptedModel::new()
        .then_call(
            "delegate_task_to_member",
            json!({"member_id": "tech-support-agent", "task": "router"}),
        )
        .then_answer("the router is fixed");
    let member: Arc<dyn Model> = Arc::new(TestModel::new());
    let team = Team::new("Support Team").with_model(leader).with_members([
        Agent::new("Billing Agent").with_model(member.clone()),
        Agent::new("Tech Support Agent").with_model(member),
    ]);
    let (sink, events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink).streaming(true);
    let output = run_team(&team, &request("router help"), &env).await;
    drop(env);
    let events = collect(events).await;

    assert_eq!(output.status, RunStatus::Completed);
    let mut names: Vec<EventName> = events.iter().map(|e| e.event).collect();
    names.dedup_by(|a, b| a == b && matches!(a, EventName::RunContent | EventName::TeamRunContent));
    use EventName::*;
    assert_eq!(
        names,
        [
            TeamRunStarted,
            TeamModelRequestStarted,
            TeamModelRequestCompleted,
            TeamToolCallStarted,
            RunStarted,
            ModelRequestStarted,
            RunContent,
            ModelRequestCompleted,
            RunContentCompleted,
            RunCompleted,
            TeamToolCallCompleted,
            TeamModelRequestStarted,
            TeamRunContent,
            TeamModelRequestCompleted,
            TeamRunContentCompleted,
            TeamRunCompleted,
        ]
    );
    let member_started = events.iter().find(|e| e.event == RunStarted).unwrap();
    assert_eq!(member_started.parent_run_id.as_deref(), Some("run-1"));
    assert_eq!(
        member_started.component.agent_id(),
        Some("tech-support-agent")
    );
    let json = serde_json::to_value(events.last().unwrap().as_ref()).unwrap();
    assert_eq!(json["event"], "TeamRunCompleted");
    assert_eq!(json["team_id"], "support-team");
    assert_eq!(json["content"], "the router is fixed");
    assert_eq!(
        json["member_responses"][0]["agent_id"],
        "tech-support-agent"
    );
    let tool_done = events
        .iter()
        .find(|e| e.event == TeamToolCallCompleted)
        .unwrap();
    let tool = tool_done.tool.as_ref().unwrap();
    assert_eq!(
        tool.child_run_id.as_deref(),
        Some(member_started.run_id.as_ref())
    );
}

#[tokio::test]
async fn an_unknown_member_id_returns_the_valid_ids_to_the_leader() {
    let leader = Arc::new(
        ScriptedModel::new()
            .then_call(
                "delegate_task_to_member",
                json!({"member_id": "nobody", "task": "x"}),
            )
            .then_answer("sorry"),
    );
    let member: Arc<dyn Model> = Arc::new(TestModel::new());
    let team = Team::new("Support Team")
        .with_model(leader.clone() as Arc<dyn Model>)
        .with_members([
            Agent::new("Billing Agent").with_model(member.clone()),
            Agent::new("Tech Support Agent").with_model(member),
        ]);
    let output = run_team(&team, &request("hi"), &RunEnv::new()).await;

    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(output.tools[0].tool_call_error, Some(true));
    let second = &leader.requests()[1];
    let tool_message = second.messages.last().unwrap();
    assert!(
        tool_message
            .content
            .contains("billing-agent, tech-support-agent"),
        "{}",
        tool_message.content
    );
    assert!(output.member_responses.unwrap().is_empty());
}

#[tokio::test]
async fn route_mode_answers_with_the_chosen_members_reply() {
    let leader = ScriptedModel::new().then_call(
        "delegate_task_to_member",
        json!({"member_id": "billing-agent", "task": "refund"}),
    );
    let member = ScriptedModel::new().then_answer("refund issued");
    let team = Team::new("Router")
        .with_mode(TeamMode::Route)
        .with_model(leader)
        .with_members([Agent::new("Billing Agent").with_model(member)]);
    let output = run_team(&team, &request("refund please"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(output.content, "refund issued");
}

/// A model that answers only once `expected` calls are in flight together, so a test can show
/// members run concurrently without depending on timing.
struct Rendezvous {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    expected: usize,
}

impl Model for Rendezvous {
    fn id(&self) -> &str {
        "rendezvous"
    }
    fn provider(&self) -> &str {
        "Test"
    }
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while self.peak.load(Ordering::SeqCst) < self.expected
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(ModelResponse {
                content: "member answer".into(),
                ..ModelResponse::default()
            })
        })
    }
}

#[tokio::test]
async fn parallel_delegations_run_members_concurrently() {
    let leader = ScriptedModel::new()
        .then_calls([
            (
                "delegate_task_to_member",
                json!({"member_id": "billing-agent", "task": "a"}),
            ),
            (
                "delegate_task_to_member",
                json!({"member_id": "tech-support-agent", "task": "b"}),
            ),
        ])
        .then_answer("both done");
    let members = Arc::new(Rendezvous {
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        expected: 2,
    });
    let team = Team::new("Support Team").with_model(leader).with_members([
        Agent::new("Billing Agent").with_model(members.clone() as Arc<dyn Model>),
        Agent::new("Tech Support Agent").with_model(members.clone() as Arc<dyn Model>),
    ]);
    let output = run_team(&team, &request("both"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(
        members.peak.load(Ordering::SeqCst),
        2,
        "both members were in flight at once"
    );
}

#[tokio::test]
async fn broadcast_sends_the_task_to_every_member_at_once() {
    let members = Arc::new(Rendezvous {
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        expected: 2,
    });
    let team = Team::new("Panel")
        .with_mode(TeamMode::Broadcast)
        .with_model(TestModel::new())
        .with_members([
            Agent::new("Optimist").with_model(members.clone() as Arc<dyn Model>),
            Agent::new("Pessimist").with_model(members.clone() as Arc<dyn Model>),
        ]);
    let output = run_team(&team, &request("will it rain"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.tools[0].tool_name, "delegate_task_to_members");
    assert_eq!(output.member_responses.as_ref().unwrap().len(), 2);
    assert_eq!(members.peak.load(Ordering::SeqCst), 2);
    assert!(
        output.content.contains("Optimist: member answer"),
        "{}",
        output.content
    );
}

#[tokio::test]
async fn nested_teams_run_their_own_members() {
    let model: Arc<dyn Model> = Arc::new(TestModel::new());
    let inner = Team::new("Research")
        .with_model(model.clone())
        .with_members([Agent::new("Researcher").with_model(model.clone())]);
    let outer = Team::new("Company")
        .with_model(model.clone())
        .with_members([inner]);
    let output = run_team(&outer, &request("study this"), &RunEnv::new()).await;

    assert_eq!(output.status, RunStatus::Completed);
    let inner_run = &output.member_responses.as_ref().unwrap()[0];
    assert_eq!(inner_run.component.team_id(), Some("research"));
    assert_eq!(inner_run.parent_run_id.as_deref(), Some("run-1"));
    let researcher = &inner_run.member_responses.as_ref().unwrap()[0];
    assert_eq!(researcher.component.agent_id(), Some("researcher"));
    assert_eq!(
        researcher.parent_run_id.as_deref(),
        Some(inner_run.run_id.as_str())
    );
}

#[tokio::test]
async fn a_model_failure_ends_the_run_as_error_with_an_error_event() {
    let leader = ScriptedModel::new().then_fail(ModelError::Status {
        status: 500,
        message: "upstream exploded".into(),
    });
    let team = Team::new("Support Team")
        .with_model(leader)
        .with_members([Agent::new("A").with_model(TestModel::new())]);
    let (sink, events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink).streaming(true);
    let output = run_team(&team, &request("x"), &env).await;
    drop(env);
    let events = collect(events).await;

    assert_eq!(output.status, RunStatus::Error);
    assert!(output.content.contains("upstream exploded"));
    let last = events.last().unwrap();
    assert_eq!(last.event, EventName::TeamRunError);
    assert_eq!(last.error_type, Some("model_provider_error"));
    let stored = output.events.as_ref().unwrap();
    assert_eq!(stored[0]["event"], "TeamRunError");
}

#[tokio::test]
async fn a_team_without_a_model_fails_cleanly() {
    let team = Team::new("Modelless").with_members([Agent::new("A")]);
    let output = run_team(&team, &request("x"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Error);
    assert!(output.content.contains("no model"));
}

/// A model that never answers.
struct Silent;

impl Model for Silent {
    fn id(&self) -> &str {
        "silent"
    }
    fn provider(&self) -> &str {
        "Test"
    }
    fn complete(&self, _request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn cancelling_a_run_ends_it_as_cancelled() {
    let team = Team::new("Slow")
        .with_model(Silent)
        .with_members([Agent::new("A").with_model(Silent)]);
    let token = CancellationToken::new();
    let env = RunEnv::new().with_cancel(token.clone());
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        token.cancel();
    });
    let output = tokio::time::timeout(Duration::from_secs(5), run_team(&team, &request("x"), &env))
        .await
        .expect("a cancelled run stops promptly");
    canceller.await.unwrap();
    assert_eq!(output.status, RunStatus::Cancelled);
}

/// A hand-written tool that fails when asked to.
struct Lookup;

impl ToolFunction for Lookup {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "lookup".into(),
            description: "Looks an order up.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"order": {"type": "integer"}},
                "required": ["order"]
            }),
        }
    }

    fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>> {
        Box::pin(async move {
            match arguments["order"].as_i64() {
                Some(13) => Err(ToolError::Failed {
                    tool: "lookup".into(),
                    message: "order 13 is cursed".into(),
                }),
                Some(order) => Ok(format!("order {order} shipped")),
                None => Err(ToolError::InvalidArguments {
                    tool: "lookup".into(),
                    message: "order must be an integer".into(),
                }),
            }
        })
    }
}

#[tokio::test]
async fn the_test_model_calls_each_tool_and_answers_from_the_result() {
    let agent = Agent::new("Clerk")
        .with_model(TestModel::new())
        .with_tool(Lookup);
    let output = run_agent(&agent, &request("where is my order"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(output.tools.len(), 1);
    assert_eq!(output.tools[0].tool_args, json!({"order": 1}));
    assert_eq!(output.tools[0].result.as_deref(), Some("order 1 shipped"));
    assert!(output.content.contains("order 1 shipped"));
    assert!(output.member_responses.is_none());
}

#[tokio::test]
async fn a_failing_tool_reports_its_error_to_the_model() {
    let model = Arc::new(
        ScriptedModel::new()
            .then_call("lookup", json!({"order": 13}))
            .then_answer("that order is unavailable"),
    );
    let agent = Agent::new("Clerk")
        .with_model(model.clone() as Arc<dyn Model>)
        .with_tool(Lookup);
    let output = run_agent(&agent, &request("order 13?"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(output.tools[0].tool_call_error, Some(true));
    let tool_message = model.requests()[1].messages.last().unwrap().clone();
    assert!(tool_message.content.contains("order 13 is cursed"));
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_is_stopped() {
    let mut script = ScriptedModel::new();
    for _ in 0..20 {
        script = script.then_call("lookup", json!({"order": 1}));
    }
    let agent = Agent::new("Loop").with_model(script).with_tool(Lookup);
    let output = run_agent(&agent, &request("loop"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Error);
    assert!(output.content.contains("without answering"));
}
