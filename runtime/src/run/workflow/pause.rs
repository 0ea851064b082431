//! A workflow that waits for a person: a step's agent or team paused, so the workflow pauses
//! with it, and continuing it goes on from there.
//!
//! Continuing runs the workflow's steps again from the start, each given the same input as
//! before, but a step that had ended is not run again: its stored output stands in for it. The
//! conditions, loop ends and routers answer as they did, and a step whose run waits goes on in
//! that run with the person's answers. Each place in the workflow has a key (its indexes, with
//! the iteration inside a loop), which is how the second pass finds what the first one did.

use super::super::output::{StepRequirement, UnsetStepFields, WaitingStep, WorkflowPause};
use super::super::pause::Decisions;
use super::super::step_output::StepOutput;
use super::{Halt, WorkflowRun};
use crate::component::ComponentKind;
use crate::workflow::Workflow;

impl WorkflowPause {
    /// What the workflow asks of a person: each waiting step's run's requirements.
    pub(super) fn requirements(&self) -> Vec<StepRequirement> {
        self.waiting
            .values()
            .map(|waiting| StepRequirement {
                step_id: waiting.step_id.clone(),
                step_name: waiting.step_name.clone(),
                step_index: waiting.index.first().copied().unwrap_or_default(),
                step_type: "Step".to_owned(),
                requires_confirmation: false,
                requires_user_input: false,
                requires_route_selection: false,
                requires_output_review: false,
                requires_executor_input: true,
                executor_requirements: waiting.run.requirements.clone().unwrap_or_default(),
                executor_id: waiting.run.component.id.to_string(),
                executor_name: waiting.run.component.name.to_string(),
                executor_run_id: waiting.run.run_id.clone(),
                executor_type: waiting.run.component.kind.as_str().to_owned(),
                executor_session_id: waiting.run.session_id.clone(),
                unset: UnsetStepFields::default(),
            })
            .collect()
    }

    /// What the workflow asked, with the answers `decisions` gave, as agno keeps it on the run
    /// that went on.
    pub(super) fn answered(&self, decisions: &Decisions) -> Vec<StepRequirement> {
        let mut requirements = self.requirements();
        for step in &mut requirements {
            for requirement in &mut step.executor_requirements {
                if let Some(decision) = decisions.get(&requirement.id) {
                    *requirement = requirement.clone().answered(decision);
                }
            }
        }
        requirements
    }

    /// The top-level step the first waiting step is in: its index and name.
    pub(super) fn paused_step(&self, workflow: &Workflow) -> Option<(usize, String)> {
        let index = *self.waiting.values().next()?.index.first()?;
        let step = workflow.steps().get(index)?;
        Some((index, step.name().to_owned()))
    }

    /// What the waiting runs said they wait for, one after the other.
    pub(super) fn content(&self) -> String {
        self.waiting
            .values()
            .map(|waiting| waiting.run.content.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether `run_id` is the run of a waiting step.
    pub(super) fn waits_in(&self, run_id: &str) -> bool {
        self.waiting
            .values()
            .any(|waiting| waiting.run.run_id == run_id)
    }
}

/// The key of the `position`th step under the place `key` (the workflow's own key is empty).
pub(super) fn child_key(key: &str, position: usize) -> String {
    match key {
        "" => position.to_string(),
        _ => format!("{key}.{position}"),
    }
}

/// The key of a loop's iteration `iteration` at the place `key`.
pub(super) fn iteration_key(key: &str, iteration: usize) -> String {
    format!("{key}#{iteration}")
}

impl WorkflowRun<'_> {
    /// On a paused run going on: the output of the step at `key`, if it had ended.
    pub(super) fn ended_before(&self, key: &str) -> Option<StepOutput> {
        self.replay.as_ref()?.paused.ended.get(key).cloned()
    }

    /// On a paused run going on: the step at `key` whose run of an agent or team (`kind`)
    /// waited. A step the factory built otherwise this time runs anew.
    pub(super) fn waited_before(&self, key: &str, kind: ComponentKind) -> Option<&WaitingStep> {
        let waited = self.replay.as_ref()?.paused.waiting.get(key)?;
        (waited.run.component.kind == kind).then_some(waited)
    }

    /// What the condition or loop end at `key` says: what it said before the pause, or what
    /// `test` says now.
    pub(super) fn tested(
        &self,
        key: &str,
        test: impl FnOnce() -> Result<bool, Halt>,
    ) -> Result<bool, Halt> {
        let before = self.replay.as_ref().and_then(|r| r.paused.tests.get(key));
        let holds = match before {
            Some(holds) => *holds,
            None => test()?,
        };
        self.progress().tests.insert(key.to_owned(), holds);
        Ok(holds)
    }

    /// What the router at `key` chooses: what it chose before the pause, or what `select`
    /// chooses now.
    pub(super) fn chosen(
        &self,
        key: &str,
        select: impl FnOnce() -> Result<Vec<String>, Halt>,
    ) -> Result<Vec<String>, Halt> {
        let before = self.replay.as_ref().and_then(|r| r.paused.routes.get(key));
        let names = match before {
            Some(names) => names.clone(),
            None => select()?,
        };
        self.progress().routes.insert(key.to_owned(), names.clone());
        Ok(names)
    }
}
