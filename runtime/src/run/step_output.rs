//! What a workflow's steps produce, in agno's shapes: each step's output (nested for steps
//! that hold steps), its place in the workflow, and the fields workflow events add.

use serde::{Deserialize, Serialize, Serializer};

use super::transcript::RunMetrics;

/// One step's output (agno's `StepOutput`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepOutput {
    /// The step's name.
    pub step_name: String,
    /// This execution of the step.
    pub step_id: String,
    /// `Step`, `Function`, `Steps`, `Parallel`, `Condition`, `Loop` or `Router`.
    pub step_type: String,
    /// `agent`, `team` or `function`, for a step that runs one.
    pub executor_type: Option<String>,
    /// The agent's or team's name, or the function step's.
    pub executor_name: Option<String>,
    /// What it produced.
    pub content: Option<String>,
    /// The run of its agent or team.
    pub step_run_id: Option<String>,
    /// That run's metrics.
    pub metrics: Option<RunMetrics>,
    /// Whether it ended without failing.
    pub success: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the workflow ended after it.
    pub stop: bool,
    /// Always false: a step that pauses for a person pauses the workflow instead.
    pub is_paused: bool,
    /// The outputs of the steps it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepOutput>>,
}

/// Where a step stands in its workflow: its index among its siblings, after its parents'
/// (agno writes a top-level step's as a number and a nested one's as a list).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepIndex(pub Vec<usize>);

impl StepIndex {
    /// The index of the `index`th step inside this one.
    pub fn child(&self, index: usize) -> StepIndex {
        let mut path = self.0.clone();
        path.push(index);
        StepIndex(path)
    }
}

impl Serialize for StepIndex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [index] => serializer.serialize_u64(*index as u64),
            path => path.serialize(serializer),
        }
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_level_index_is_a_number_and_a_nested_one_a_list() {
        let top = StepIndex(vec![2]);
        assert_eq!(serde_json::to_value(&top).unwrap(), serde_json::json!(2));
        assert_eq!(
            serde_json::to_value(top.child(0)).unwrap(),
            serde_json::json!([2, 0])
        );
    }
}
