//! The run loop shared by agents and team leaders, and team delegation.
//!
//! A run alternates model turns and tool calls until the model answers without calling a
//! tool. For a leader, the tools are the delegation tools, and each call runs a member: an
//! agent, or a nested team through the same code. Parallel tool calls run concurrently.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::{BoxFuture, join_all};
use futures_util::{FutureExt, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::event::{EventName, EventSource, EventUsage, RunEvent};
use super::log::EventLog;
use super::meta::RunMeta;
use super::output::{
    MessageMetrics, RunInput, RunMessage, RunMetrics, RunOutput, RunStatus, ToolExecution,
    ToolMetrics,
};
use super::prompt::{self, DELEGATE_ALL, DELEGATE_ONE};
use super::{now_unix, now_unix_f64};
use crate::agent::Agent;
use crate::component::{ComponentKind, ComponentRef};
use crate::model::{
    Message, ModelError, ModelHandle, ModelRequest, ModelResponse, ModelStreamItem, ToolCall,
    ToolDefinition,
};
use crate::team::{Member, Team, TeamMode};

/// Model turns a single run may take before it is stopped: a model that keeps calling tools
/// must not loop forever.
const MAX_MODEL_TURNS: usize = 12;

/// Where a run's events go, as they happen.
pub type EventSink = mpsc::UnboundedSender<Arc<RunEvent>>;

/// How a run is carried out: whether it streams, where its events go, how it is cancelled.
#[derive(Clone, Debug, Default)]
pub struct RunEnv {
    events: Option<EventSink>,
    log: Option<Arc<EventLog>>,
    cancel: CancellationToken,
    stream: bool,
}

impl RunEnv {
    /// A run that answers whole and emits no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every event to `sink`.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Keeps every event, numbered, in `log`.
    pub fn with_log(mut self, log: Arc<EventLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The log the run's events go to, if any.
    pub fn log(&self) -> Option<&Arc<EventLog>> {
        self.log.as_ref()
    }

    /// Streams model answers, emitting content pieces as they arrive.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Stops the run when `token` is cancelled; the run ends as `CANCELLED`.
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The token that cancels this run.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Builds the event only when someone listens: a run without a sink pays nothing.
    fn emit(&self, event: impl FnOnce() -> RunEvent) {
        if self.events.is_none() && self.log.is_none() {
            return;
        }
        let event = Arc::new(event());
        if let Some(log) = &self.log {
            log.push(Arc::clone(&event));
        }
        if let Some(sink) = &self.events {
            // A closed sink means the listener went away; cancellation handles that.
            let _ = sink.send(event);
        }
    }
}

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
            meta: RunMeta::new(None, crate::context::Identity::Anonymous),
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

fn run_team_at<'a>(
    team: &'a Team,
    message: String,
    meta: RunMeta,
    history: Vec<Message>,
    env: &'a RunEnv,
) -> BoxFuture<'a, RunOutput> {
    Box::pin(async move {
        let source = source(
            ComponentKind::Team,
            team.id(),
            team.name(),
            &meta,
            team.model(),
        );
        let system = prompt::leader_system_prompt(team);
        let tools: Arc<[ToolDefinition]> = Arc::new([prompt::delegation_tool(team)]);
        let dispatcher = TeamDispatcher { team, meta: &meta };
        let turn = Turn {
            system,
            history,
            tools,
            dispatcher: &dispatcher,
        };
        run_component(&source, team.model(), message, turn, env).await
    })
}

fn run_agent_at<'a>(
    agent: &'a Agent,
    message: String,
    meta: RunMeta,
    history: Vec<Message>,
    env: &'a RunEnv,
) -> BoxFuture<'a, RunOutput> {
    Box::pin(async move {
        let source = source(
            ComponentKind::Agent,
            agent.id(),
            agent.name(),
            &meta,
            agent.model(),
        );
        let system = prompt::agent_system_prompt(agent);
        let tools: Arc<[ToolDefinition]> = agent
            .tools()
            .iter()
            .map(|t| t.definition().clone())
            .collect();
        let turn = Turn {
            system,
            history,
            tools,
            dispatcher: &AgentDispatcher { agent },
        };
        run_component(&source, agent.model(), message, turn, env).await
    })
}

/// What differs between a team leader's run and an agent's: the prompt and the tools.
struct Turn<'a> {
    system: String,
    history: Vec<Message>,
    tools: Arc<[ToolDefinition]>,
    dispatcher: &'a dyn Dispatcher,
}

/// One run of a team leader or an agent: started event, the conversation, the last events.
async fn run_component(
    source: &EventSource,
    model: Option<&ModelHandle>,
    message: String,
    turn: Turn<'_>,
    env: &RunEnv,
) -> RunOutput {
    let started = Instant::now();
    env.emit(|| source.model_event(EventName::TeamRunStarted, EventName::RunStarted));
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
            messages.extend(turn.history);
            messages.push(Message::user(message.clone()));
            converse(source, model, messages, turn.tools, turn.dispatcher, env).await
        }
    };
    finish(source, message, conversation, started, env)
}

/// How a conversation ended.
#[derive(Debug)]
enum Ending {
    Completed,
    Failed {
        message: String,
        error_type: &'static str,
    },
    Cancelled,
}

/// Everything a conversation produced, whatever its ending.
#[derive(Debug)]
struct Conversation {
    content: String,
    tools: Vec<ToolExecution>,
    members: Vec<RunOutput>,
    metrics: RunMetrics,
    response_id: Option<String>,
    /// What the run reports as its `messages`: no system prompt, no history.
    transcript: Vec<RunMessage>,
    ending: Ending,
}

impl Conversation {
    fn new() -> Self {
        Conversation {
            content: String::new(),
            tools: Vec::new(),
            members: Vec::new(),
            metrics: RunMetrics::default(),
            response_id: None,
            transcript: Vec::new(),
            ending: Ending::Completed,
        }
    }

    fn failed(message: String, error_type: &'static str) -> Self {
        Conversation {
            ending: Ending::Failed {
                message,
                error_type,
            },
            ..Conversation::new()
        }
    }

    fn fail_with(mut self, error: &ModelError) -> Self {
        self.ending = Ending::Failed {
            message: error.to_string(),
            error_type: error.error_type(),
        };
        self
    }

    fn cancelled(mut self) -> Self {
        self.ending = Ending::Cancelled;
        self
    }
}

/// The result of one tool call.
struct Dispatched {
    result: Result<String, String>,
    children: Vec<RunOutput>,
    /// The result is the run's answer (a routed member's reply).
    is_final_answer: bool,
}

impl Dispatched {
    fn error(message: String) -> Self {
        Dispatched {
            result: Err(message),
            children: Vec::new(),
            is_final_answer: false,
        }
    }
}

/// Carries out the tool calls of one kind of run.
trait Dispatcher: Sync {
    fn dispatch<'a>(&'a self, call: &'a ToolCall, env: &'a RunEnv) -> BoxFuture<'a, Dispatched>;
}

/// Model turns and tool calls until the model answers, fails, or the run is cancelled.
async fn converse(
    source: &EventSource,
    model: &ModelHandle,
    messages: Vec<Message>,
    tools: Arc<[ToolDefinition]>,
    dispatcher: &dyn Dispatcher,
    env: &RunEnv,
) -> Conversation {
    let mut conversation = Conversation::new();
    if let Some(message) = messages.last() {
        conversation
            .transcript
            .push(RunMessage::user(message.content.clone()));
    }
    // The conversation is shared with each model request instead of copied into it; a model
    // drops its request when it answers, so the next push does not copy either.
    let mut messages = Arc::new(messages);
    for _ in 0..MAX_MODEL_TURNS {
        if env.cancel.is_cancelled() {
            return conversation.cancelled();
        }
        env.emit(|| {
            source.model_event(
                EventName::TeamModelRequestStarted,
                EventName::ModelRequestStarted,
            )
        });
        let request = ModelRequest {
            messages: Arc::clone(&messages),
            tools: Arc::clone(&tools),
        };
        let turn_started = Instant::now();
        let turn = tokio::select! {
            biased;
            _ = env.cancel.cancelled() => return conversation.cancelled(),
            turn = model_turn(model, request, source, env).instrument(tracing::info_span!(
                "model_call",
                model = model.id(),
                provider = model.provider_label(),
                run_id = source.meta.run_id(),
            )) => turn,
        };
        let (response, time_to_first_token) = match turn {
            Ok(turn) => turn,
            Err(error) => return conversation.fail_with(&error),
        };
        if conversation.metrics.time_to_first_token.is_none() {
            conversation.metrics.time_to_first_token = time_to_first_token;
        }
        conversation
            .metrics
            .add_usage(response.usage, model.id(), model.provider_label());
        if response.response_id.is_some() {
            conversation.response_id.clone_from(&response.response_id);
        }
        let mut said = RunMessage::assistant(&response.content, &response.tool_calls);
        said.provider_data = response
            .response_id
            .as_ref()
            .map(|id| serde_json::json!({ "response_id": id }));
        said.metrics = Some(MessageMetrics {
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            total_tokens: response.usage.total_tokens,
            time_to_first_token,
            duration: Some(turn_started.elapsed().as_secs_f64()),
        });
        conversation.transcript.push(said);
        env.emit(|| {
            let mut event = source.model_event(
                EventName::TeamModelRequestCompleted,
                EventName::ModelRequestCompleted,
            );
            event.usage = Some(EventUsage::new(response.usage, time_to_first_token));
            event
        });

        if response.tool_calls.is_empty() {
            conversation.content = response.content;
            return conversation;
        }

        let calls = response.tool_calls;
        Arc::make_mut(&mut messages).push(Message::assistant_tool_calls(
            response.content,
            calls.clone(),
        ));
        let mut executions: Vec<ToolExecution> = calls.iter().map(started_execution).collect();
        for execution in &executions {
            env.emit(|| {
                let mut event =
                    source.event(EventName::TeamToolCallStarted, EventName::ToolCallStarted);
                event.tool = Some(execution.clone());
                event
            });
        }
        let timed_calls = calls.iter().map(|call| async move {
            let start = (now_unix_f64(), Instant::now());
            let dispatched = dispatcher.dispatch(call, env).await;
            (dispatched, start)
        });
        let results = tokio::select! {
            biased;
            _ = env.cancel.cancelled() => return conversation.cancelled(),
            results = join_all(timed_calls) => results,
        };

        let mut final_answer = None;
        for ((call, execution), (dispatched, (start_time, clock))) in
            calls.iter().zip(executions.iter_mut()).zip(results)
        {
            let duration = clock.elapsed().as_secs_f64();
            let (text, failed) = match dispatched.result {
                Ok(text) => (text, false),
                Err(text) => (text, true),
            };
            execution.tool_call_error = Some(failed);
            execution.result = Some(text.clone());
            execution.metrics = Some(ToolMetrics {
                start_time,
                end_time: start_time + duration,
                duration,
            });
            execution.child_run_id = dispatched.children.first().map(|c| c.run_id.clone());
            env.emit(|| {
                let mut event = source.event(
                    EventName::TeamToolCallCompleted,
                    EventName::ToolCallCompleted,
                );
                event.content = Some(format!("{}(...) completed in {duration:.4}s.", call.name));
                event.tool = Some(execution.clone());
                event
            });
            Arc::make_mut(&mut messages).push(Message::tool_result(&call.id, text.clone()));
            conversation
                .transcript
                .push(RunMessage::tool_result(&call.id, text.clone()));
            conversation.members.extend(dispatched.children);
            if dispatched.is_final_answer && !failed && final_answer.is_none() {
                final_answer = Some(text);
            }
        }
        conversation.tools.extend(executions);
        if let Some(answer) = final_answer {
            env.emit(|| content_event(source, answer.clone()));
            conversation.content = answer;
            return conversation;
        }
    }
    conversation.ending = Ending::Failed {
        message: format!("the model called tools for {MAX_MODEL_TURNS} turns without answering"),
        error_type: "tool_call_limit",
    };
    conversation
}

fn content_event(source: &EventSource, content: String) -> RunEvent {
    let mut event = source.event(EventName::TeamRunContent, EventName::RunContent);
    event.content = Some(content);
    event.content_type = Some("str");
    event.reasoning_content = Some("");
    if source.component.kind == ComponentKind::Agent {
        event.workflow_agent = Some(false);
    }
    event
}

/// One model call, streamed when the run streams. Returns the answer and, when streamed, the
/// seconds until its first piece.
async fn model_turn(
    model: &ModelHandle,
    request: ModelRequest,
    source: &EventSource,
    env: &RunEnv,
) -> Result<(ModelResponse, Option<f64>), ModelError> {
    let started = Instant::now();
    if !env.stream {
        // Answered whole, the first token arrives with the whole answer.
        return model
            .complete(request)
            .await
            .map(|response| (response, Some(started.elapsed().as_secs_f64())));
    }
    let mut first_piece = None;
    let mut stream = model.stream(request).await?;
    while let Some(item) = stream.next().await {
        match item? {
            ModelStreamItem::Content(piece) => {
                first_piece.get_or_insert_with(|| started.elapsed().as_secs_f64());
                env.emit(|| content_event(source, piece));
            }
            // An agent's streamed answer opens with an empty piece naming the provider's
            // response, as agno's member streams do; a leader's does not.
            ModelStreamItem::ResponseId(id) if source.component.kind == ComponentKind::Agent => {
                env.emit(|| {
                    let mut event = content_event(source, String::new());
                    event.model_provider_data = Some(serde_json::json!({ "response_id": id }));
                    event
                });
            }
            ModelStreamItem::ResponseId(_) => {}
            ModelStreamItem::Done(response) => return Ok((response, first_piece)),
        }
    }
    Err(ModelError::InvalidResponse(
        "the stream ended before the answer was complete".into(),
    ))
}

fn started_execution(call: &ToolCall) -> ToolExecution {
    ToolExecution {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        tool_args: serde_json::from_str(&call.arguments)
            .unwrap_or_else(|_| Value::String(call.arguments.clone())),
        tool_call_error: None,
        result: None,
        metrics: None,
        child_run_id: None,
        stop_after_tool_call: false,
        created_at: now_unix(),
    }
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
        input: RunInput {
            input_content: message,
        },
        messages: conversation.transcript,
        session_state: session_state(source),
        events: Some(Vec::new()),
        ..RunOutput::default()
    };
    if source.component.kind == ComponentKind::Team {
        output.member_responses = Some(conversation.members);
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

/// A leader's tool calls: delegation to members.
struct TeamDispatcher<'a> {
    team: &'a Team,
    meta: &'a RunMeta,
}

#[derive(Deserialize)]
struct DelegateOne {
    member_id: String,
    task: String,
}

#[derive(Deserialize)]
struct DelegateAll {
    task: String,
}

impl Dispatcher for TeamDispatcher<'_> {
    fn dispatch<'a>(&'a self, call: &'a ToolCall, env: &'a RunEnv) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            match call.name.as_str() {
                DELEGATE_ONE if self.team.mode() != TeamMode::Broadcast => {
                    let args: DelegateOne = match serde_json::from_str(&call.arguments) {
                        Ok(args) => args,
                        Err(error) => {
                            return Dispatched::error(format!(
                                "invalid arguments for {DELEGATE_ONE}: {error}"
                            ));
                        }
                    };
                    let Some(member) = self
                        .team
                        .members()
                        .iter()
                        .find(|m| m.id() == args.member_id)
                    else {
                        return Dispatched::error(format!(
                            "no member has the id '{}'; valid member ids: {}",
                            args.member_id,
                            self.member_ids()
                        ));
                    };
                    let child = self.run_member(member, args.task, env).await;
                    Dispatched {
                        result: member_result(&child),
                        children: vec![child],
                        is_final_answer: self.team.mode() == TeamMode::Route,
                    }
                }
                DELEGATE_ALL if self.team.mode() == TeamMode::Broadcast => {
                    let args: DelegateAll = match serde_json::from_str(&call.arguments) {
                        Ok(args) => args,
                        Err(error) => {
                            return Dispatched::error(format!(
                                "invalid arguments for {DELEGATE_ALL}: {error}"
                            ));
                        }
                    };
                    let runs = self
                        .team
                        .members()
                        .iter()
                        .map(|member| self.run_member(member, args.task.clone(), env));
                    let children = join_all(runs).await;
                    let report = children
                        .iter()
                        .map(|child| {
                            let name = &child.component.name;
                            match member_result(child) {
                                Ok(text) => format!("{name}: {text}"),
                                Err(text) => format!("{name} failed: {text}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    Dispatched {
                        result: Ok(report),
                        children,
                        is_final_answer: false,
                    }
                }
                other => Dispatched::error(format!("the team has no tool named '{other}'")),
            }
        })
    }
}

impl TeamDispatcher<'_> {
    fn member_ids(&self) -> String {
        self.team
            .members()
            .iter()
            .map(Member::id)
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn run_member(&self, member: &Member, task: String, env: &RunEnv) -> RunOutput {
        match member {
            // Members of this team report at this team's depth, as agno does.
            Member::Agent(agent) => {
                let meta = self.meta.child(self.meta.depth());
                run_agent_at(agent, task, meta, Vec::new(), env).await
            }
            Member::Team(team) => {
                let meta = self.meta.child(self.meta.depth() + 1);
                run_team_at(team, task, meta, Vec::new(), env).await
            }
        }
    }
}

fn member_result(child: &RunOutput) -> Result<String, String> {
    match child.status {
        RunStatus::Completed => Ok(child.content.clone()),
        _ => Err(format!(
            "the member run ended with {}: {}",
            child.status.as_str(),
            child.content
        )),
    }
}

/// An agent's tool calls: its own tools.
struct AgentDispatcher<'a> {
    agent: &'a Agent,
}

impl Dispatcher for AgentDispatcher<'_> {
    fn dispatch<'a>(&'a self, call: &'a ToolCall, _env: &'a RunEnv) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            let Some(tool) = self.agent.tools().iter().find(|t| t.name() == call.name) else {
                let names: Vec<&str> = self.agent.tools().iter().map(|t| t.name()).collect();
                return Dispatched::error(format!(
                    "there is no tool named '{}'; available tools: {}",
                    call.name,
                    names.join(", ")
                ));
            };
            let arguments = if call.arguments.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                match serde_json::from_str(&call.arguments) {
                    Ok(arguments) => arguments,
                    Err(error) => {
                        return Dispatched::error(format!(
                            "the arguments for '{}' are not valid JSON: {error}",
                            call.name
                        ));
                    }
                }
            };
            let result = match AssertUnwindSafe(tool.call(arguments)).catch_unwind().await {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(_) => {
                    tracing::error!(tool = %call.name, "tool panicked");
                    Err(format!("tool '{}' failed unexpectedly", call.name))
                }
            };
            Dispatched {
                result,
                children: Vec::new(),
                is_final_answer: false,
            }
        })
    }
}
