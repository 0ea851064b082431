//! What a run produces: its output (agno's run JSON) and, for a run that paused, what it
//! waits for: the suspended turn it goes on from and the requirements a person answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::pause::{Decision, Decisions};
use super::step_output::StepOutput;
use super::transcript::{RunInput, RunMessage, RunMetrics, ToolExecution, UserInputField};
use crate::component::{ComponentKind, ComponentRef};
use crate::model::{Message, ToolCall};
use crate::status::RunStatus;
use crate::tool::PauseFor;

/// The output of a team or agent run: agno's run JSON.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOutput {
    /// The run's id.
    pub run_id: String,
    /// The team or agent that ran (`team_id`/`team_name` or `agent_id`/`agent_name`).
    #[serde(flatten)]
    pub component: ComponentRef,
    /// The session.
    pub session_id: String,
    /// For a member run: the team run that delegated to it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub parent_run_id: Option<String>,
    /// The user, if known.
    pub user_id: Option<String>,
    /// The answer, or the error message of a failed run.
    pub content: String,
    /// Always `str`.
    pub content_type: String,
    /// The model id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model: Option<String>,
    /// The model provider.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model_provider: Option<String>,
    /// The provider's response id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model_provider_data: Option<Value>,
    /// Unix seconds.
    pub created_at: i64,
    /// Where the run stands.
    pub status: RunStatus,
    /// Tokens and timings.
    pub metrics: RunMetrics,
    /// The tools the run called.
    pub tools: Vec<ToolExecution>,
    /// For a team run: its members' runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub member_responses: Option<Vec<RunOutput>>,
    /// What was asked.
    pub input: RunInput,
    /// The conversation: the message, the model's turns and the tool results, without the
    /// system prompt, which stays private.
    #[serde(default)]
    pub messages: Vec<RunMessage>,
    /// For an agent's run: the session state it ended with (a member's names its run).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_state: Option<Value>,
    /// The run's events as agno returns them with the output: the error event of a failed
    /// run, none otherwise (streamed runs keep theirs with the stored run).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub events: Option<Vec<Value>>,
    /// For a paused run: what it asks of a person, one per waiting call.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requirements: Option<Vec<Requirement>>,
    /// For a paused run: what it needs to go on. Stored with the run, never sent.
    #[serde(skip)]
    pub paused: Option<Paused>,
    /// For a workflow's run: each top-level step's output, with the steps it held.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step_results: Option<Vec<StepOutput>>,
    /// For a workflow's run: the runs of its agent and team steps, in the order they ended.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step_executor_runs: Option<Vec<RunOutput>>,
    /// For a paused workflow's run: what it asks of a person, one per step that waits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step_requirements: Option<Vec<StepRequirement>>,
    /// For a paused workflow's run: the top-level step that waits.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub paused_step_index: Option<usize>,
    /// For a paused workflow's run: that step's name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub paused_step_name: Option<String>,
    /// For a paused workflow's run: `executor` (a step's agent or team waits).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pause_kind: Option<String>,
    /// For the run of a workflow's agent or team step: the step's execution.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workflow_step_id: Option<String>,
    /// For a workflow's run and its steps' runs: agno's `metadata`, empty here.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Map<String, Value>>,
    /// For a workflow's run: agno's media lists, empty here (agentos's steps make text).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub audio: Option<Vec<Value>>,
    /// As `audio`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub images: Option<Vec<Value>>,
    /// As `audio`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub videos: Option<Vec<Value>>,
    /// As `audio`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub files: Option<Vec<Value>>,
}

impl RunOutput {
    /// The runs this one made that are stored as rows of their own: a team's members', a
    /// workflow's steps'.
    pub fn child_runs_mut(&mut self) -> &mut Option<Vec<RunOutput>> {
        match self.component.kind {
            ComponentKind::Workflow => &mut self.step_executor_runs,
            ComponentKind::Team | ComponentKind::Agent => &mut self.member_responses,
        }
    }
}

/// What a paused run needs to go on: for an agent or a team, the turn that waits; for a
/// workflow, what its steps did and the step runs that wait. Stored as the inner value's JSON;
/// the run's kind says which to read ([`Paused::read`]).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Paused {
    /// An agent's or a team's turn.
    Turn(Box<Suspended>),
    /// A workflow's place.
    Workflow(Box<WorkflowPause>),
}

impl Paused {
    /// Reads the stored state of a paused run of `kind`.
    pub fn read(kind: ComponentKind, json: &str) -> serde_json::Result<Paused> {
        Ok(match kind {
            ComponentKind::Workflow => Paused::Workflow(serde_json::from_str(json)?),
            ComponentKind::Team | ComponentKind::Agent => Paused::Turn(serde_json::from_str(json)?),
        })
    }
}

/// What a paused workflow's run keeps to go on: what its steps did, by their keys (see
/// `workflow::pause`), and the step runs that wait. Stored with the run, never sent.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkflowPause {
    /// The steps with an agent, a team or a function that ended, by key.
    pub(crate) ended: BTreeMap<String, StepOutput>,
    /// What the conditions and loop ends said, by key.
    pub(crate) tests: BTreeMap<String, bool>,
    /// What the routers chose, by key.
    pub(crate) routes: BTreeMap<String, Vec<String>>,
    /// The steps whose run waits for a person, by key.
    pub(crate) waiting: BTreeMap<String, WaitingStep>,
    /// The runs of agent and team steps so far, with their steps' names.
    pub(crate) executors: Vec<(String, RunOutput)>,
}

/// A step whose agent's or team's run waits for a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WaitingStep {
    pub(crate) step_name: String,
    pub(crate) step_id: String,
    pub(crate) index: Vec<usize>,
    /// The run as it paused.
    pub(crate) run: RunOutput,
    /// What the run needs to go on.
    pub(crate) suspended: Suspended,
}

/// A run stopped in the middle of a turn, waiting for a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suspended {
    /// The conversation after the system prompt, up to and including the model's turn that
    /// called the tools.
    pub messages: Vec<Message>,
    /// That turn's calls, in order.
    pub calls: Vec<ToolCall>,
    /// What became of each call so far, in the same order.
    pub outcomes: Vec<CallOutcome>,
    /// The run's tool executions so far, this turn's included.
    pub tools: Vec<ToolExecution>,
    /// Member runs that have ended so far.
    pub members: Vec<RunOutput>,
    /// Tokens and timings so far.
    pub metrics: RunMetrics,
    /// What the run reports as its `messages` so far.
    pub transcript: Vec<RunMessage>,
    /// Model turns taken so far.
    pub turns: usize,
}

impl Suspended {
    /// The member runs that wait for a person, as the team's output lists them.
    pub fn waiting_members(&self) -> impl Iterator<Item = &RunOutput> {
        self.outcomes.iter().filter_map(|outcome| match outcome {
            CallOutcome::Member { run, .. } => Some(&**run),
            _ => None,
        })
    }

    /// Whether the call `tool_call_id` of the suspended turn still waits.
    pub fn waits_on(&self, tool_call_id: &str) -> bool {
        self.calls
            .iter()
            .zip(&self.outcomes)
            .any(|(call, outcome)| {
                call.id == tool_call_id && !matches!(outcome, CallOutcome::Done { .. })
            })
    }
}

/// What became of one tool call of a suspended turn.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallOutcome {
    /// It ran (or was answered): the text goes back to the model.
    Done {
        /// The tool's result, or why it failed.
        result: Result<String, String>,
        /// The result is the run's answer (a routed member's reply).
        #[serde(default)]
        is_final_answer: bool,
    },
    /// An agent's tool waits for a person.
    Waiting {
        /// What for.
        pause: PauseFor,
    },
    /// A delegation waits for a member run that paused.
    Member {
        /// The member's id in the team.
        member_id: String,
        /// The member's paused run, as the team's output shows it.
        run: Box<RunOutput>,
        /// What the member's run needs to go on.
        suspended: Box<Suspended>,
    },
}

/// What a paused run asks of a person, one per waiting call, in agno's shape (its clients send
/// them back to `POST /teams/{id}/runs/{run_id}/continue`). A member's names the member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// The waiting call's id (also its tool execution's `tool_call_id`).
    pub id: String,
    /// When the run paused (RFC 3339).
    pub created_at: String,
    /// The call, with agno's flags saying what it waits for.
    pub tool_execution: ToolExecution,
    /// The person's confirmation, once given.
    pub confirmation: Option<bool>,
    /// What the person said with it.
    pub confirmation_note: Option<String>,
    /// For a user-input call: the fields to fill in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_input_schema: Option<Vec<UserInputField>>,
    /// For an external call: the result, once sent.
    pub external_execution_result: Option<String>,
    /// For a member's call: the member.
    pub member_agent_id: Option<String>,
    /// For a member's call: the member's name.
    pub member_agent_name: Option<String>,
    /// For a member's call: the member's run.
    pub member_run_id: Option<String>,
}

impl Requirement {
    /// The requirement with the person's answer in it, as agno keeps it on the run that went
    /// on: the confirmation (and note), the filled-in fields, or the client's result, on the
    /// requirement and on its tool execution alike.
    pub fn answered(mut self, decision: &Decision) -> Requirement {
        let tool = &mut self.tool_execution;
        match decision {
            Decision::Confirm { confirmed, note } => {
                self.confirmation = Some(*confirmed);
                self.confirmation_note = note.clone();
                tool.confirmed = Some(*confirmed);
                tool.confirmation_note = note.clone();
            }
            Decision::UserInput(values) => {
                for fields in [&mut self.user_input_schema, &mut tool.user_input_schema] {
                    for field in fields.iter_mut().flatten() {
                        if let Some(value) = values.get(&field.name) {
                            field.value = Some(value.clone());
                        }
                    }
                }
                tool.answered = Some(true);
            }
            Decision::External(result) => {
                self.external_execution_result = Some(result.clone());
                tool.result = Some(result.clone());
            }
        }
        self
    }

    /// The requirements of `suspended` that `decisions` answer, answered.
    pub fn answered_in(suspended: &Suspended, decisions: &Decisions) -> Vec<Requirement> {
        Requirement::of(suspended, None)
            .into_iter()
            .filter_map(|requirement| {
                let decision = decisions.get(&requirement.id)?;
                Some(requirement.answered(decision))
            })
            .collect()
    }

    /// The requirements of a suspended turn, a waiting member's included; `member` is the
    /// member run that `suspended` belongs to, if it is a member's.
    pub fn of(suspended: &Suspended, member: Option<&RunOutput>) -> Vec<Requirement> {
        let mut requirements = Vec::new();
        for (call, outcome) in suspended.calls.iter().zip(&suspended.outcomes) {
            match outcome {
                CallOutcome::Done { .. } => {}
                CallOutcome::Waiting { .. } => {
                    let Some(execution) = suspended
                        .tools
                        .iter()
                        .rev()
                        .find(|tool| tool.tool_call_id == call.id)
                    else {
                        continue;
                    };
                    requirements.push(Requirement {
                        id: call.id.clone(),
                        created_at: crate::time::rfc3339_of_unix(execution.created_at),
                        user_input_schema: execution.user_input_schema.clone(),
                        tool_execution: execution.clone(),
                        confirmation: None,
                        confirmation_note: None,
                        external_execution_result: None,
                        member_agent_id: member.map(|m| m.component.id.to_string()),
                        member_agent_name: member.map(|m| m.component.name.to_string()),
                        member_run_id: member.map(|m| m.run_id.clone()),
                    });
                }
                CallOutcome::Member { run, suspended, .. } => {
                    requirements.extend(Requirement::of(suspended, Some(run)));
                }
            }
        }
        requirements
    }
}

/// What a paused workflow asks of a person about one step (agno's `StepRequirement`): the
/// step's agent or team waits, and its run's requirements say for what. agno's clients send
/// these back, answered, to `POST /workflows/{id}/runs/{run_id}/continue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRequirement {
    /// The execution of the step that waits.
    pub step_id: String,
    /// Its name.
    pub step_name: String,
    /// The index of the top-level step it is in.
    pub step_index: usize,
    /// Always `Step`: only steps with an agent or a team wait.
    pub step_type: String,
    /// Always false: agentos's steps do not ask for confirmation themselves.
    pub requires_confirmation: bool,
    /// Always false, as above.
    pub requires_user_input: bool,
    /// Always false: routers choose in code.
    pub requires_route_selection: bool,
    /// Always false: no step asks for its output to be reviewed.
    pub requires_output_review: bool,
    /// Always true: the step's agent or team waits.
    pub requires_executor_input: bool,
    /// What its run asks of a person.
    pub executor_requirements: Vec<Requirement>,
    /// The agent or team.
    pub executor_id: String,
    /// Its name.
    pub executor_name: String,
    /// The run that waits.
    pub executor_run_id: String,
    /// `agent` or `team`.
    pub executor_type: String,
    /// The run's session (the workflow's).
    pub executor_session_id: String,
    /// agno's fields for the kinds of pause agentos's steps do not make, as agno leaves them
    /// unset.
    #[serde(flatten)]
    pub unset: UnsetStepFields,
}

/// The fields of agno's `StepRequirement` for a step's own confirmation, input, route choice,
/// review, retries and timeout: a step whose agent waits leaves them as agno does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnsetStepFields {
    confirmation_message: Option<String>,
    confirmed: Option<bool>,
    on_reject: OnUnset,
    user_input_message: Option<String>,
    user_input: Option<Value>,
    available_choices: Option<Vec<String>>,
    allow_multiple_selections: bool,
    selected_choices: Option<Vec<String>>,
    output_review_message: Option<String>,
    is_post_execution: bool,
    rejection_feedback: Option<String>,
    retry_count: u32,
    max_retries: Option<u32>,
    timeout_at: Option<String>,
    on_timeout: OnUnset,
}

/// agno's default for what a rejected or timed-out step does: `cancel`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OnUnset {
    #[default]
    Cancel,
}
