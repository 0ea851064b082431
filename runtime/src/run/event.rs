//! Run events, with agno's names and fields, as streamed over SSE and stored with each run.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::output::{Requirement, RunOutput};
use super::step_event::{StepEvent, StepOf};
use super::transcript::{RunMetrics, ToolExecution};
use crate::component::{ComponentKind, ComponentRef};
use crate::meta::RunMeta;
use crate::model::Usage;

/// The name of an event, as the `event:` line of an SSE frame and the `event` field carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum EventName {
    /// A team run began.
    TeamRunStarted,
    /// The leader's model was called.
    TeamModelRequestStarted,
    /// The leader's model answered.
    TeamModelRequestCompleted,
    /// The leader called a tool (delegation included).
    TeamToolCallStarted,
    /// The leader's tool call finished.
    TeamToolCallCompleted,
    /// A piece of the team's answer.
    TeamRunContent,
    /// The team's answer is complete.
    TeamRunContentCompleted,
    /// The team run finished.
    TeamRunCompleted,
    /// The team run failed.
    TeamRunError,
    /// The team run was cancelled.
    TeamRunCancelled,
    /// The team run stopped to wait for a person.
    TeamRunPaused,
    /// A paused team run goes on.
    TeamRunContinued,
    /// An agent run (a member's included) began.
    RunStarted,
    /// The agent's model was called.
    ModelRequestStarted,
    /// The agent's model answered.
    ModelRequestCompleted,
    /// The agent called a tool.
    ToolCallStarted,
    /// The agent's tool call finished.
    ToolCallCompleted,
    /// A piece of the agent's answer.
    RunContent,
    /// The agent's answer is complete.
    RunContentCompleted,
    /// The agent run finished.
    RunCompleted,
    /// The agent run failed.
    RunError,
    /// The agent run was cancelled.
    RunCancelled,
    /// The agent run stopped to wait for a person.
    RunPaused,
    /// A paused agent run goes on.
    RunContinued,
    /// A workflow run began.
    WorkflowStarted,
    /// The workflow run finished.
    WorkflowCompleted,
    /// The workflow run failed.
    WorkflowError,
    /// The workflow run was cancelled.
    WorkflowCancelled,
    /// The workflow run stopped to wait for a person.
    WorkflowPaused,
    /// A workflow step began.
    StepStarted,
    /// A workflow step finished.
    StepCompleted,
    /// A workflow step failed.
    StepError,
    /// A sequence of steps began.
    StepsExecutionStarted,
    /// A sequence of steps finished.
    StepsExecutionCompleted,
    /// Parallel steps began.
    ParallelExecutionStarted,
    /// Parallel steps finished.
    ParallelExecutionCompleted,
    /// A condition was tested and its branch began.
    ConditionExecutionStarted,
    /// A condition's branch finished.
    ConditionExecutionCompleted,
    /// A loop began.
    LoopExecutionStarted,
    /// A loop's iteration began.
    LoopIterationStarted,
    /// A loop's iteration finished.
    LoopIterationCompleted,
    /// A loop finished.
    LoopExecutionCompleted,
    /// A router picked its steps and they began.
    RouterExecutionStarted,
    /// A router's steps finished.
    RouterExecutionCompleted,
    /// A function step's output, before its `StepCompleted`.
    StepOutput,
    /// A step's agent or team stopped to wait for a person.
    StepExecutorPaused,
    /// A step's agent or team that waited goes on.
    StepExecutorContinued,
}

impl EventName {
    /// The name as text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::TeamRunStarted => "TeamRunStarted",
            EventName::TeamModelRequestStarted => "TeamModelRequestStarted",
            EventName::TeamModelRequestCompleted => "TeamModelRequestCompleted",
            EventName::TeamToolCallStarted => "TeamToolCallStarted",
            EventName::TeamToolCallCompleted => "TeamToolCallCompleted",
            EventName::TeamRunContent => "TeamRunContent",
            EventName::TeamRunContentCompleted => "TeamRunContentCompleted",
            EventName::TeamRunCompleted => "TeamRunCompleted",
            EventName::TeamRunError => "TeamRunError",
            EventName::TeamRunCancelled => "TeamRunCancelled",
            EventName::TeamRunPaused => "TeamRunPaused",
            EventName::TeamRunContinued => "TeamRunContinued",
            EventName::RunStarted => "RunStarted",
            EventName::ModelRequestStarted => "ModelRequestStarted",
            EventName::ModelRequestCompleted => "ModelRequestCompleted",
            EventName::ToolCallStarted => "ToolCallStarted",
            EventName::ToolCallCompleted => "ToolCallCompleted",
            EventName::RunContent => "RunContent",
            EventName::RunContentCompleted => "RunContentCompleted",
            EventName::RunCompleted => "RunCompleted",
            EventName::RunError => "RunError",
            EventName::RunCancelled => "RunCancelled",
            EventName::RunPaused => "RunPaused",
            EventName::RunContinued => "RunContinued",
            EventName::WorkflowStarted => "WorkflowStarted",
            EventName::WorkflowCompleted => "WorkflowCompleted",
            EventName::WorkflowError => "WorkflowError",
            EventName::WorkflowCancelled => "WorkflowCancelled",
            EventName::WorkflowPaused => "WorkflowPaused",
            EventName::StepStarted => "StepStarted",
            EventName::StepCompleted => "StepCompleted",
            EventName::StepError => "StepError",
            EventName::StepsExecutionStarted => "StepsExecutionStarted",
            EventName::StepsExecutionCompleted => "StepsExecutionCompleted",
            EventName::ParallelExecutionStarted => "ParallelExecutionStarted",
            EventName::ParallelExecutionCompleted => "ParallelExecutionCompleted",
            EventName::ConditionExecutionStarted => "ConditionExecutionStarted",
            EventName::ConditionExecutionCompleted => "ConditionExecutionCompleted",
            EventName::LoopExecutionStarted => "LoopExecutionStarted",
            EventName::LoopIterationStarted => "LoopIterationStarted",
            EventName::LoopIterationCompleted => "LoopIterationCompleted",
            EventName::LoopExecutionCompleted => "LoopExecutionCompleted",
            EventName::RouterExecutionStarted => "RouterExecutionStarted",
            EventName::RouterExecutionCompleted => "RouterExecutionCompleted",
            EventName::StepOutput => "StepOutput",
            EventName::StepExecutorPaused => "StepExecutorPaused",
            EventName::StepExecutorContinued => "StepExecutorContinued",
        }
    }

    /// Whether the event ends a run.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            EventName::TeamRunCompleted
                | EventName::TeamRunError
                | EventName::TeamRunCancelled
                | EventName::TeamRunPaused
                | EventName::RunCompleted
                | EventName::RunError
                | EventName::RunCancelled
                | EventName::RunPaused
                | EventName::WorkflowCompleted
                | EventName::WorkflowError
                | EventName::WorkflowCancelled
                | EventName::WorkflowPaused
        )
    }

    /// The event that ends a failed run of a component of `kind`.
    pub fn run_error(kind: ComponentKind) -> EventName {
        match kind {
            ComponentKind::Team => EventName::TeamRunError,
            ComponentKind::Agent => EventName::RunError,
            ComponentKind::Workflow => EventName::WorkflowError,
        }
    }
}

/// Who an event is about: the component, the run's ids, and the model it talks to.
#[derive(Clone, Debug)]
pub(crate) struct EventSource {
    pub(crate) component: ComponentRef,
    pub(crate) meta: RunMeta,
    pub(crate) model: Option<Arc<str>>,
    pub(crate) model_provider: Option<Arc<str>>,
}

/// One run event. Fields that do not apply to an event are left out of its JSON.
#[derive(Clone, Debug, Serialize)]
pub struct RunEvent {
    /// Its JSON, made once for the stream and the store alike.
    #[serde(skip)]
    json: JsonCache,
    /// Unix seconds.
    pub created_at: i64,
    /// The event's name.
    pub event: EventName,
    /// The team or agent of the run (`team_id`/`team_name` or `agent_id`/`agent_name`).
    #[serde(flatten)]
    pub component: ComponentRef,
    /// The run the event belongs to.
    pub run_id: Arc<str>,
    /// For a member's run: the team run that delegated to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<Arc<str>>,
    /// The session.
    pub session_id: Arc<str>,
    /// How deep in nested teams the run is.
    pub nested_depth: u32,
    /// The model id, on start and model events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Arc<str>>,
    /// The model provider, on start and model events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider: Option<Arc<str>>,
    /// Text: a content piece, a final answer, or an error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `str` on content events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<&'static str>,
    /// Empty on content events (agentos does not surface reasoning yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'static str>,
    /// The tool call of tool events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolExecution>,
    /// On a paused event: the calls that wait for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolExecution>>,
    /// On a paused event: what the run asks of a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Vec<Requirement>>,
    /// Token counts, on model-completed events.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EventUsage>,
    /// Run metrics, on completed events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<RunMetrics>,
    /// Member runs, on the team's completed event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_responses: Option<Vec<RunOutput>>,
    /// The provider's response id, where it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_provider_data: Option<Value>,
    /// On an agent's content events: whether the agent runs inside a workflow (never here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_agent: Option<bool>,
    /// On an agent's completed event: the session state it ended with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_state: Option<Value>,
    /// What kind of failure ended the run, on error events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<&'static str>,
    /// On a completed event of a workflow or of a run inside one: its metadata (empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// On a workflow's events: the step's fields.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub step: Option<Box<StepEvent>>,
    /// On the events of a run that is a workflow's step: the workflow and the step.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub in_step: Option<Arc<StepOf>>,
}

/// An event's JSON text, made on first use. A clone starts empty: it may be changed.
#[derive(Default)]
struct JsonCache(std::sync::OnceLock<String>);

impl Clone for JsonCache {
    fn clone(&self) -> Self {
        JsonCache::default()
    }
}

impl std::fmt::Debug for JsonCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl RunEvent {
    /// The event as JSON text (what an SSE frame's `data:` and the store hold), made once:
    /// change an event before it is shared, never after.
    pub fn json(&self) -> &str {
        self.json
            .0
            .get_or_init(|| serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned()))
    }

    /// A bare event named `name` about the run of `output`; the caller fills its fields.
    pub(crate) fn of_output(output: &RunOutput, name: EventName) -> RunEvent {
        RunEvent::blank(
            name,
            output.component.clone(),
            Arc::from(output.run_id.as_str()),
            output.parent_run_id.as_deref().map(Arc::from),
            Arc::from(output.session_id.as_str()),
        )
    }

    /// A bare event named `name` about the run `meta` of `component`; the caller fills its
    /// fields.
    pub(crate) fn of_run(component: &ComponentRef, meta: &RunMeta, name: EventName) -> RunEvent {
        RunEvent::blank(
            name,
            component.clone(),
            Arc::clone(meta.run_id_arc()),
            meta.parent_run_id_arc().cloned(),
            Arc::clone(meta.session_id_arc()),
        )
    }

    fn blank(
        name: EventName,
        component: ComponentRef,
        run_id: Arc<str>,
        parent_run_id: Option<Arc<str>>,
        session_id: Arc<str>,
    ) -> RunEvent {
        RunEvent {
            json: JsonCache::default(),
            created_at: crate::time::now_unix(),
            event: name,
            component,
            run_id,
            parent_run_id,
            session_id,
            nested_depth: 0,
            model: None,
            model_provider: None,
            content: None,
            content_type: None,
            reasoning_content: None,
            tool: None,
            tools: None,
            requirements: None,
            usage: None,
            metrics: None,
            member_responses: None,
            model_provider_data: None,
            workflow_agent: None,
            session_state: None,
            error_type: None,
            metadata: None,
            step: None,
            in_step: None,
        }
    }
}

/// Token counts on `*ModelRequestCompleted` events, in agno's field names.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EventUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Seconds until the first piece of the answer, when streamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token: Option<f64>,
}

impl EventUsage {
    pub(crate) fn new(usage: Usage, time_to_first_token: Option<f64>) -> Self {
        EventUsage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.total_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            time_to_first_token,
        }
    }
}

impl EventSource {
    /// A bare event of this source; the caller fills the event's own fields.
    pub(crate) fn event(&self, team_name: EventName, agent_name: EventName) -> RunEvent {
        RunEvent {
            json: JsonCache::default(),
            created_at: crate::time::now_unix(),
            // A workflow's own events are the workflow engine's; its steps' agents and teams
            // are sources of their own.
            event: match self.component.kind {
                ComponentKind::Team => team_name,
                ComponentKind::Agent | ComponentKind::Workflow => agent_name,
            },
            component: self.component.clone(),
            run_id: Arc::clone(self.meta.run_id_arc()),
            parent_run_id: self.meta.parent_run_id_arc().cloned(),
            session_id: Arc::clone(self.meta.session_id_arc()),
            nested_depth: self.meta.depth(),
            model: None,
            model_provider: None,
            content: None,
            content_type: None,
            reasoning_content: None,
            tool: None,
            tools: None,
            requirements: None,
            usage: None,
            metrics: None,
            member_responses: None,
            model_provider_data: None,
            workflow_agent: None,
            session_state: None,
            error_type: None,
            metadata: None,
            step: None,
            in_step: None,
        }
    }

    /// An event that names the model (run started, model request events).
    pub(crate) fn model_event(&self, team_name: EventName, agent_name: EventName) -> RunEvent {
        let mut event = self.event(team_name, agent_name);
        event.model = self.model.clone();
        event.model_provider = self.model_provider.clone();
        event
    }
}
