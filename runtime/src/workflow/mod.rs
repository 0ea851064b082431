//! `Workflow`: deterministic steps (agents, teams and Rust functions) run in sequence, in
//! parallel, under conditions, in loops and through routers, built per request by a factory
//! like agents and teams are.
//!
//! ```
//! use agentos_runtime::workflow::{Condition, Parallel, Step, StepInput, Workflow};
//! use agentos_runtime::{Agent, TestModel};
//!
//! let writer = Agent::new("Writer").with_model(TestModel::new());
//! let workflow = Workflow::new("Blog Post")
//!     .with_description("Researches, drafts and checks a post")
//!     .with_steps([
//!         Parallel::new("research", [
//!             Step::function("outline", |input: StepInput| format!("Outline of {}", input.message())),
//!             Step::function("sources", |_: StepInput| "No sources needed"),
//!         ]),
//!         Step::agent("draft", writer),
//!         Condition::new("if short", |input: &StepInput| input.previous_or_message().len() < 20)
//!             .then([Step::function("pad", |input: StepInput| format!("{} (short)", input.previous_or_message()))])
//!             .into_step(),
//!     ]);
//! assert_eq!(workflow.id(), "blog-post");
//! assert_eq!(workflow.steps().len(), 3);
//! ```

mod function;
mod step;

pub(crate) use function::StepFunction;
pub use function::{
    Awaited, Blocking, IntoStepFunction, IntoStepResult, Json, StepError, StepInput, StepResult,
};
pub(crate) use step::StepKind;
pub use step::{Condition, DEFAULT_MAX_ITERATIONS, Loop, Parallel, Router, Step, Steps};

use crate::component::{Component, ComponentKind, MultitaskStrategy, slugify};

/// A workflow: named steps run in order, each given what the ones before it produced.
#[derive(Clone, Debug)]
pub struct Workflow {
    id: String,
    name: String,
    description: Option<String>,
    steps: Vec<Step>,
    multitask: Option<MultitaskStrategy>,
}

impl Workflow {
    /// A workflow named `name`, with the id `slug(name)` until [`Workflow::with_id`] sets
    /// another.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Workflow {
            id: slugify(&name),
            name,
            description: None,
            steps: Vec::new(),
            multitask: None,
        }
    }

    /// Sets the id explicitly.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// A description shown in discovery.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Replaces the steps.
    pub fn with_steps<S: Into<Step>>(mut self, steps: impl IntoIterator<Item = S>) -> Self {
        self.steps = steps.into_iter().map(Into::into).collect();
        self
    }

    /// What a run does when another run of its session is in progress, unless the request
    /// says (the server's default otherwise).
    pub fn with_multitask(mut self, strategy: MultitaskStrategy) -> Self {
        self.multitask = Some(strategy);
        self
    }

    /// What a run does on a busy session, when the workflow says.
    pub fn multitask_strategy(&self) -> Option<MultitaskStrategy> {
        self.multitask
    }

    /// Adds one step at the end.
    pub fn with_step(mut self, step: impl Into<Step>) -> Self {
        self.steps.push(step.into());
        self
    }

    /// The id it is served under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The top-level steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Whether an agent or team of its steps, at any depth, has memory settings: its runs
    /// then read their user's memories for those steps' prompts.
    pub fn uses_memory(&self) -> bool {
        self.steps
            .iter()
            .flat_map(Step::walk)
            .any(|step| match step.kind() {
                StepKind::Agent(agent) => agent.memory().is_some(),
                StepKind::Team(team) => team.uses_memory(),
                _ => false,
            })
    }

    /// A name two of its steps share, at any depth: outputs are kept by step name, so each
    /// must be unique. Checked when a workflow is registered or built by its factory.
    pub fn duplicate_step_name(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.steps
            .iter()
            .flat_map(Step::walk)
            .map(Step::name)
            .find(|name| !seen.insert(*name))
    }
}

impl crate::component::sealed::Sealed for Workflow {}

impl Component for Workflow {
    const KIND: ComponentKind = ComponentKind::Workflow;

    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_id(&mut self, id: &str) {
        id.clone_into(&mut self.id);
    }

    fn problem(&self) -> Option<String> {
        self.duplicate_step_name().map(|step| {
            format!(
                "workflow '{}' has two steps named '{step}': step names must be unique",
                self.id
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Agent;

    #[test]
    fn steps_nest_and_report_their_types() {
        let workflow = Workflow::new("Pipeline").with_steps([
            Step::agent("draft", Agent::new("Writer")),
            Steps::new(
                "polish",
                [
                    Step::function("trim", |input: StepInput| {
                        input.previous_or_message().trim().to_owned()
                    }),
                    Loop::new(
                        "retry",
                        [Step::function("again", |_: StepInput| async { "done" })],
                    )
                    .max_iterations(0)
                    .into_step(),
                ],
            ),
            Router::new(
                "route",
                |input: &StepInput| Some(if input.message().is_empty() { "a" } else { "b" }),
                [
                    Step::function("a", |_: StepInput| "A"),
                    Step::function("b", |_: StepInput| "B"),
                ],
            ),
        ]);
        let types: Vec<&str> = workflow.steps().iter().map(Step::step_type).collect();
        assert_eq!(types, ["Step", "Steps", "Router"]);
        let names: Vec<&str> = workflow.steps()[1]
            .walk()
            .into_iter()
            .map(Step::name)
            .collect();
        assert_eq!(names, ["polish", "trim", "retry", "again"]);
        assert_eq!(workflow.duplicate_step_name(), None);
        let StepKind::Loop { max, .. } = workflow.steps()[1].children()[1].kind() else {
            panic!("a loop");
        };
        assert_eq!(*max, 1, "a loop runs at least once");
    }

    #[test]
    fn a_name_used_twice_at_any_depth_is_found() {
        let workflow = Workflow::new("Twice").with_steps([
            Step::function("check", |_: StepInput| "one"),
            Parallel::new("both", [Step::function("check", |_: StepInput| "two")]),
        ]);
        assert_eq!(workflow.duplicate_step_name(), Some("check"));
    }

    #[test]
    fn step_input_keeps_each_output_by_name_and_reads_json() {
        let first = StepInput::new("question");
        assert_eq!(first.previous_or_message(), "question");
        assert!(first.previous_json::<u32>().is_err());
        let second = first.after("count", "42");
        assert_eq!(second.message(), "question");
        assert_eq!(second.previous_content(), Some("42"));
        assert_eq!(second.previous_json::<u32>(), Ok(42));
        let third = second.after("name", "\"x\"");
        assert_eq!(third.content_of("count"), Some("42"));
        assert_eq!(third.previous_json::<String>(), Ok("x".to_owned()));
        assert!(third.previous_json::<u32>().is_err());
        assert_eq!(
            first.content_of("count"),
            None,
            "the earlier input is unchanged"
        );
    }

    #[tokio::test]
    async fn functions_sync_and_async_return_what_steps_produce() {
        #[derive(serde::Serialize)]
        struct Count {
            words: usize,
        }
        let counted = Step::function("count", |input: StepInput| {
            Json(Count {
                words: input.message().split_whitespace().count(),
            })
        });
        let stopped = Step::function("stop", |_: StepInput| async { StepResult::stop("enough") });
        let failed = Step::function("fail", |_: StepInput| -> Result<String, String> {
            Err("no data".to_owned())
        });
        let run = |step: &Step| {
            let StepKind::Function(function) = step.kind() else {
                panic!("a function step");
            };
            function(StepInput::new("three small words"))
        };
        assert_eq!(run(&counted).await, Ok(StepResult::new(r#"{"words":3}"#)));
        assert_eq!(run(&stopped).await, Ok(StepResult::stop("enough")));
        assert_eq!(run(&failed).await, Err(StepError::new("no data")));
    }
}
