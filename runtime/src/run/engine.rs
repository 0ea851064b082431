//! Running what a factory built: the entry points, a run's first and last events, and its
//! output.
//!
//! A run alternates model turns and tool calls (`converse`) until the model answers without
//! calling a tool. For a leader, the tools are the delegation tools, and each call runs a
//! member (`delegate`): an agent, or a nested team through the same code. An agent's calls run
//! its own tools (`tool_calls`). A call that waits for a person pauses the run (`pause`).

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::converse::{Conversation, Ending, Resume, converse};
use super::delegate::TeamDispatcher;
use super::dispatch::Dispatcher;
use super::env::RunEnv;
use super::event::{EventName, EventSource};
use super::memory_tool;
use super::output::{Paused, Requirement, RunOutput, Suspended};
use super::pause::Decisions;
use super::prompt;
use super::tool_calls::AgentDispatcher;
use super::toolsets::RunTools;
use super::transcript::{RunInput, RunMetrics};
use crate::agent::Agent;
use crate::component::{ComponentKind, ComponentRef};
use crate::memory::SessionSummaries;
use crate::meta::RunMeta;
use crate::model::{Message, ModelHandle};
use crate::status::RunStatus;
use crate::team::{Member, Team};
use crate::time::now_unix;
use crate::tool::ToolDefinition;

/// What to run: the message, the run's ids, and the history it continues.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The user's message.
    pub message: String,
    /// The run's ids (the ones the factory saw).
    pub meta: RunMeta,
    /// Earlier turns of the session, oldest first, when the component asks for history.
    pub history: Vec<Message>,
}

impl RunRequest {
    /// A request for `message` as a new run in a new session, without history.
    pub fn new(message: impl Into<String>) -> Self {
        RunRequest {
            message: message.into(),
            meta: RunMeta::new(None, crate::meta::Identity::Anonymous),
            history: Vec::new(),
        }
    }
}

/// Runs a team to its end. Failures and cancellation are part of the output, never a panic
/// from the engine itself (a panic in a model or a tool is the run service's to catch).
pub async fn run_team(team: &Team, request: &RunRequest, env: &RunEnv) -> RunOutput {
    run_team_at(
        team,
        request.message.clone(),
        request.meta.clone(),
        request.history.clone(),
        env,
        None,
    )
    .await
}

/// Runs an agent to its end. Failures and cancellation are part of the output.
pub async fn run_agent(agent: &Agent, request: &RunRequest, env: &RunEnv) -> RunOutput {
    run_agent_at(
        agent,
        request.message.clone(),
        request.meta.clone(),
        request.history.clone(),
        env,
        None,
    )
    .await
}

/// Continues a team run that paused, from the turn it stopped in, with the person's answers.
/// The request is the paused run's (same message, same ids).
pub async fn continue_team(
    team: &Team,
    request: &RunRequest,
    suspended: Suspended,
    decisions: &Decisions,
    env: &RunEnv,
) -> RunOutput {
    let resume = Resume {
        suspended,
        decisions,
    };
    run_team_at(
        team,
        request.message.clone(),
        request.meta.clone(),
        Vec::new(),
        env,
        Some(resume),
    )
    .await
}

/// Continues an agent run that paused, from the turn it stopped in, with the person's answers.
pub async fn continue_agent(
    agent: &Agent,
    request: &RunRequest,
    suspended: Suspended,
    decisions: &Decisions,
    env: &RunEnv,
) -> RunOutput {
    let resume = Resume {
        suspended,
        decisions,
    };
    run_agent_at(
        agent,
        request.message.clone(),
        request.meta.clone(),
        Vec::new(),
        env,
        Some(resume),
    )
    .await
}

/// The output of a run that could not go on (its task panicked): an error in the shape of
/// every failed run, its error event sent to whoever listens. What went wrong is for the log.
pub(crate) fn failed_run(
    kind: ComponentKind,
    id: &str,
    name: &str,
    model: Option<&ModelHandle>,
    request: &RunRequest,
    env: &RunEnv,
) -> RunOutput {
    let source = source(kind, id, name, &request.meta, model);
    let conversation = Conversation::failed(
        "the run failed because of an internal error".to_owned(),
        "internal_error",
    );
    finish(
        &source,
        request.message.clone(),
        conversation,
        Instant::now(),
        env,
    )
}

/// The source of a component's events.
fn source(
    kind: ComponentKind,
    id: &str,
    name: &str,
    meta: &RunMeta,
    model: Option<&ModelHandle>,
) -> EventSource {
    EventSource {
        component: ComponentRef {
            kind,
            id: Arc::from(id),
            name: Arc::from(name),
        },
        meta: meta.clone(),
        model: model.map(|m| Arc::from(m.id())),
        model_provider: model.map(|m| Arc::from(m.provider())),
    }
}

pub(super) fn run_team_at<'a>(
    team: &'a Team,
    message: String,
    meta: RunMeta,
    history: Vec<Message>,
    env: &'a RunEnv,
    resume: Option<Resume<'a>>,
) -> BoxFuture<'a, RunOutput> {
    Box::pin(async move {
        let source = source(
            ComponentKind::Team,
            team.id(),
            team.name(),
            &meta,
            team.model(),
        );
        let mut system = prompt::leader_system_prompt(team);
        if let Some(memory) = team.memory() {
            prompt::push_memories(&mut system, memory, env.memories());
        }
        if let Some(summary) = session_summary(team.session_summaries(), &meta, env) {
            prompt::push_summary(&mut system, summary);
        }
        let tools: Arc<[ToolDefinition]> = Arc::new([prompt::delegation_tool(team)]);
        let dispatcher = TeamDispatcher {
            team,
            meta: &meta,
            run_member,
        };
        let turn = Turn {
            system,
            history,
            tools,
            dispatcher: &dispatcher,
        };
        run_component(&source, team.model(), message, turn, env, resume).await
    })
}

pub(super) fn run_agent_at<'a>(
    agent: &'a Agent,
    message: String,
    meta: RunMeta,
    history: Vec<Message>,
    env: &'a RunEnv,
    resume: Option<Resume<'a>>,
) -> BoxFuture<'a, RunOutput> {
    Box::pin(async move {
        let source = source(
            ComponentKind::Agent,
            agent.id(),
            agent.name(),
            &meta,
            agent.model(),
        );
        let mut system = prompt::agent_system_prompt(agent);
        if let Some(memory) = agent.memory() {
            prompt::push_memories(&mut system, memory, env.memories());
        }
        if let Some(summary) = session_summary(agent.session_summaries(), &meta, env) {
            prompt::push_summary(&mut system, summary);
        }
        let mut run_tools = RunTools::connect(agent).await;
        if let Some(tool) = memory_tool::memory_tool(agent, env.memory_editor()) {
            run_tools.add(tool);
        }
        let tools: Arc<[ToolDefinition]> = run_tools
            .tools()
            .iter()
            .map(|t| t.definition().clone())
            .collect();
        let dispatcher = AgentDispatcher {
            tools: run_tools.tools(),
        };
        let turn = Turn {
            system,
            history,
            tools,
            dispatcher: &dispatcher,
        };
        let output = run_component(&source, agent.model(), message, turn, env, resume).await;
        run_tools.close().await;
        output
    })
}

/// The session's summary, for a top-level run of a component that reads it (a member's run
/// is part of its team's, whose prompt has it).
fn session_summary<'a>(
    settings: Option<&SessionSummaries>,
    meta: &RunMeta,
    env: &'a RunEnv,
) -> Option<&'a str> {
    let reads = settings.is_some_and(SessionSummaries::adds_to_context);
    (reads && meta.parent_run_id().is_none())
        .then(|| env.session_summary())
        .flatten()
}

/// A team member's run, for the team's delegation: the same engine, one level down.
fn run_member<'a>(
    member: &'a Member,
    task: String,
    meta: RunMeta,
    env: &'a RunEnv,
    resume: Option<Resume<'a>>,
) -> BoxFuture<'a, RunOutput> {
    match member {
        Member::Agent(agent) => run_agent_at(agent, task, meta, Vec::new(), env, resume),
        Member::Team(team) => run_team_at(team, task, meta, Vec::new(), env, resume),
    }
}

/// What differs between a team leader's run and an agent's: the prompt and the tools.
struct Turn<'a> {
    system: String,
    history: Vec<Message>,
    tools: Arc<[ToolDefinition]>,
    dispatcher: &'a dyn Dispatcher,
}

/// One run of a team leader or an agent: its first event (started, or continued), the
/// conversation, its last events.
async fn run_component(
    source: &EventSource,
    model: Option<&ModelHandle>,
    message: String,
    turn: Turn<'_>,
    env: &RunEnv,
    resume: Option<Resume<'_>>,
) -> RunOutput {
    let started = Instant::now();
    match resume {
        None => env.emit(|| source.model_event(EventName::TeamRunStarted, EventName::RunStarted)),
        Some(_) => {
            env.emit(|| source.model_event(EventName::TeamRunContinued, EventName::RunContinued))
        }
    }
    // What the person answered stays with the run that went on, as agno keeps it.
    let answered = resume
        .as_ref()
        .map(|resume| Requirement::answered_in(&resume.suspended, resume.decisions));
    let conversation = match model {
        None => Conversation::failed(
            format!(
                "{} '{}' has no model",
                source.component.kind, source.component.id
            ),
            "configuration_error",
        ),
        Some(model) => {
            let mut messages = Vec::with_capacity(turn.history.len() + 2);
            if !turn.system.is_empty() {
                messages.push(Message::system(turn.system));
            }
            // A continued run brings its own conversation; a new one starts with the message.
            if resume.is_none() {
                messages.extend(turn.history);
                messages.push(Message::user(message.clone()));
            }
            converse(
                source,
                model,
                messages,
                turn.tools,
                turn.dispatcher,
                env,
                resume,
            )
            .await
        }
    };
    let mut output = finish(source, message, conversation, started, env);
    if output.status != RunStatus::Paused
        && let Some(answered) = answered.filter(|answered| !answered.is_empty())
    {
        output.requirements = Some(answered);
    }
    output
}

/// Turns a conversation into the run's output and emits the run's last events.
fn finish(
    source: &EventSource,
    message: String,
    conversation: Conversation,
    started: Instant,
    env: &RunEnv,
) -> RunOutput {
    let mut metrics = conversation.metrics;
    metrics.duration = started.elapsed().as_secs_f64();
    let model_provider_data = conversation
        .response_id
        .map(|id| serde_json::json!({ "response_id": id }));
    let meta = &source.meta;
    let mut output = RunOutput {
        run_id: meta.run_id().to_owned(),
        component: source.component.clone(),
        session_id: meta.session_id().to_owned(),
        parent_run_id: meta.parent_run_id().map(str::to_owned),
        user_id: meta.user_id().map(str::to_owned),
        content_type: "str".to_owned(),
        model: source.model.as_ref().map(|m| m.to_string()),
        model_provider: source.model_provider.as_ref().map(|p| p.to_string()),
        created_at: now_unix(),
        tools: conversation.tools,
        input: RunInput::new(message),
        messages: conversation.transcript,
        session_state: session_state(source),
        events: Some(Vec::new()),
        ..RunOutput::default()
    };
    if source.component.kind == ComponentKind::Team {
        let mut members = conversation.members;
        // Members still waiting for a person are part of the team's run too.
        if let Ending::Paused(suspended) = &conversation.ending {
            members.extend(suspended.waiting_members().cloned());
        }
        output.member_responses = Some(members);
    }

    match conversation.ending {
        Ending::Completed => {
            output.status = RunStatus::Completed;
            output.content = conversation.content;
            output.model_provider_data = model_provider_data;
            output.metrics = metrics;
            env.emit(|| {
                source.event(
                    EventName::TeamRunContentCompleted,
                    EventName::RunContentCompleted,
                )
            });
            env.emit(|| {
                let mut event = source.event(EventName::TeamRunCompleted, EventName::RunCompleted);
                event.content = Some(output.content.clone());
                event.content_type = Some("str");
                event.metrics = Some(output.metrics.clone());
                event.model_provider_data = output.model_provider_data.clone();
                event.member_responses = output.member_responses.clone();
                event.session_state = output.session_state.clone();
                // agno's runs inside a workflow end with the workflow's (empty) metadata.
                if env.is_step() {
                    event.metadata = Some(serde_json::json!({}));
                }
                event
            });
        }
        Ending::Failed {
            message,
            error_type,
        } => {
            tracing::warn!(run_id = meta.run_id(), error = %message, "run failed");
            let mut event = source.event(EventName::TeamRunError, EventName::RunError);
            event.content = Some(message.clone());
            event.error_type = Some(error_type);
            output.status = RunStatus::Error;
            output.content = message;
            output.metrics = RunMetrics {
                duration: metrics.duration,
                ..RunMetrics::default()
            };
            output.events = serde_json::to_value(&event).ok().map(|e| vec![e]);
            env.emit(|| event);
        }
        Ending::Paused(suspended) => {
            output.status = RunStatus::Paused;
            output.metrics = metrics;
            output.model_provider_data = model_provider_data;
            let requirements = Requirement::of(&suspended, None);
            output.content = paused_content(&requirements);
            let waiting: Vec<_> = output
                .tools
                .iter()
                .filter(|tool| suspended.waits_on(&tool.tool_call_id))
                .cloned()
                .collect();
            env.emit(|| {
                let mut event = source.event(EventName::TeamRunPaused, EventName::RunPaused);
                event.content = Some(output.content.clone());
                event.tools = Some(waiting);
                event.requirements = Some(requirements.clone());
                event
            });
            output.requirements = Some(requirements);
            output.paused = Some(Paused::Turn(suspended));
        }
        Ending::Cancelled => {
            output.status = RunStatus::Cancelled;
            output.content = "Run cancelled".to_owned();
            output.metrics = metrics;
            env.emit(|| {
                let mut event = source.event(EventName::TeamRunCancelled, EventName::RunCancelled);
                event.content = Some(output.content.clone());
                event
            });
        }
    }
    output
}

/// What a paused run says it waits for, one line per call.
fn paused_content(requirements: &[Requirement]) -> String {
    let mut content = String::from("The run is waiting for a person:");
    for requirement in requirements {
        let tool = &requirement.tool_execution;
        let what = if tool.requires_user_input == Some(true) {
            "needs input"
        } else if tool.external_execution_required == Some(true) {
            "must be run by the client"
        } else {
            "needs confirmation"
        };
        content.push_str("\n- ");
        if let Some(member) = &requirement.member_agent_name {
            content.push_str(member);
            content.push_str(": ");
        }
        content.push_str(&tool.tool_name);
        content.push(' ');
        content.push_str(what);
    }
    content
}

/// The session state an agent's run reports, as agno fills it: a member's names the user,
/// session and run it served; a top-level agent's is empty (agentos does not hand a session's
/// state to its runs yet). A team's run reports none.
fn session_state(source: &EventSource) -> Option<Value> {
    if source.component.kind != ComponentKind::Agent {
        return None;
    }
    let meta = &source.meta;
    Some(match meta.parent_run_id() {
        Some(_) => serde_json::json!({
            "current_user_id": meta.user_id(),
            "current_session_id": meta.session_id(),
            "current_run_id": meta.run_id(),
        }),
        None => serde_json::json!({}),
    })
}
