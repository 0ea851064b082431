//! The fields agno's workflow events add to a run event: the step's place, what it gave,
//! what the steps that hold steps report, and what a paused workflow asks.

use std::sync::Arc;

use serde::Serialize;

use super::output::{Requirement, RunOutput, StepRequirement};
use super::step_output::{StepIndex, StepOutput};
use crate::status::RunStatus;

/// The fields a workflow's events add to a run event, each on the events agno puts it on.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepEvent {
    /// The step's execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The execution of the step that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step_id: Option<String>,
    /// The step's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_name: Option<String>,
    /// Its place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_index: Option<StepIndex>,
    /// On `StepCompleted`: its output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_response: Option<StepOutput>,
    /// On `StepOutput`: the function step's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_output: Option<StepOutput>,
    /// On `WorkflowCompleted`: the runs of its agent and team steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_executor_runs: Option<Vec<RunOutput>>,
    /// On a completed event of steps that hold steps, and `WorkflowCompleted`: their outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_results: Option<Vec<StepOutput>>,
    /// On parallel events: how many steps run at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_step_count: Option<usize>,
    /// On `Steps` events: how many steps it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps_count: Option<usize>,
    /// On condition events: what the test said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition_result: Option<bool>,
    /// On completed events of steps that hold steps: how many of them ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed_steps: Option<usize>,
    /// On router events: the names it picked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_steps: Option<Vec<String>>,
    /// On loop iteration events: which iteration, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration: Option<usize>,
    /// On loop events: the most iterations it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<usize>,
    /// On `LoopIterationCompleted`: whether another iteration follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub should_continue: Option<bool>,
    /// On `LoopIterationCompleted`: the iteration's outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration_results: Option<Vec<StepOutput>>,
    /// On `LoopExecutionCompleted`: how many iterations ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_iterations: Option<usize>,
    /// On `LoopExecutionCompleted`: every iteration's outputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_results: Option<Vec<Vec<StepOutput>>>,
    /// On `StepError` and `WorkflowError`: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On `WorkflowCancelled`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// On a step executor's events: the agent or team of the step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<String>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_name: Option<String>,
    /// `agent` or `team`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_type: Option<String>,
    /// Its run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_run_id: Option<String>,
    /// On `StepExecutorPaused`: what its run asks of a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_requirements: Option<Vec<Requirement>>,
    /// On `WorkflowPaused`: `PAUSED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// On `WorkflowPaused`: the top-level step that waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_step_index: Option<usize>,
    /// On `WorkflowPaused`: its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_step_name: Option<String>,
    /// On `WorkflowPaused`: `executor` (a step's agent or team waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_kind: Option<&'static str>,
    /// On `WorkflowPaused`: what the workflow asks of a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_requirements: Option<Vec<StepRequirement>>,
}

/// The workflow step a run is the work of, as agno adds it to each of that run's events.
#[derive(Clone, Debug, Serialize)]
pub struct StepOf {
    /// The workflow.
    pub workflow_id: Arc<str>,
    /// The workflow's run.
    pub workflow_run_id: Arc<str>,
    /// The step's execution.
    pub step_id: String,
    /// The step's name.
    pub step_name: String,
    /// Its place.
    pub step_index: StepIndex,
}
