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
    /// Whether it waits for a person (its agent's or team's run paused, or a step it holds
    /// waits).
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
