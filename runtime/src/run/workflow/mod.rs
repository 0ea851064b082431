//! One run of a workflow: its steps in order, each given what the ones before it produced,
//! with agno's workflow events on the way and the workflow's run JSON at the end.
//!
//! An agent or team step is a run of its own (a child of the workflow's run, stored beside it
//! as a team's members are), sent the previous step's output, or the workflow's message for the
//! first step. A step that fails, a function step that panics, or an agent step that fails
//! ends the workflow with an error; a cancel stops it between steps and inside the running
//! agent's run.

mod holders;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::engine::RunRequest;
use super::env::RunEnv;
use super::event::{EventName, RunEvent};
use super::output::RunOutput;
use super::step_output::{StepEvent, StepIndex, StepOutput};
use super::transcript::{RunInput, RunMetrics, StepMetrics};
use crate::component::{ComponentKind, ComponentRef};
use crate::meta::RunMeta;
use crate::status::RunStatus;
use crate::time::now_unix;
use crate::workflow::{StepInput, Workflow};

/// Why a workflow stopped before its last step.
#[derive(Clone, Debug)]
enum Halt {
    /// A step failed; the message says which and why.
    Failed(String),
    /// Someone cancelled the run.
    Cancelled,
}

/// Where a sequence of steps left the workflow.
struct Flow {
    /// The input the next step would get.
    input: StepInput,
    /// A step asked for the workflow to end.
    stop: bool,
    /// How many of its steps ran.
    executed: usize,
}

/// Runs a workflow to its end. Failures and cancellation are part of the output.
pub async fn run_workflow(workflow: &Workflow, request: &RunRequest, env: &RunEnv) -> RunOutput {
    let started = Instant::now();
    let run = WorkflowRun {
        component: ComponentRef {
            kind: ComponentKind::Workflow,
            id: workflow.id().into(),
            name: workflow.name().into(),
        },
        meta: &request.meta,
        env,
        executors: Mutex::default(),
    };
    env.emit(|| run.event(EventName::WorkflowStarted, StepEvent::default()));
    let steps: Vec<_> = workflow.steps().iter().collect();
    let mut results = Vec::new();
    let input = StepInput::new(request.message.as_str());
    let ended = run
        .sequence(&steps, input, &StepIndex::default(), None, &mut results)
        .await;
    run.finish(request, ended, results, started)
}

/// A workflow's run in progress.
struct WorkflowRun<'a> {
    component: ComponentRef,
    meta: &'a RunMeta,
    env: &'a RunEnv,
    /// The runs of its agent and team steps, with their steps' names, as they ended.
    executors: Mutex<Vec<(String, RunOutput)>>,
}

impl WorkflowRun<'_> {
    /// An event of the workflow's own, with its step fields.
    fn event(&self, name: EventName, step: StepEvent) -> RunEvent {
        let mut event = RunEvent::of_run(&self.component, self.meta, name);
        event.step = Some(Box::new(step));
        event
    }

    /// Keeps the run of the agent or team step `step_name`.
    fn executor_ran(&self, step_name: &str, run: RunOutput) {
        self.executors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((step_name.to_owned(), run));
    }

    /// The workflow's output and its last event.
    fn finish(
        &self,
        request: &RunRequest,
        ended: Result<Flow, Halt>,
        results: Vec<StepOutput>,
        started: Instant,
    ) -> RunOutput {
        let executors = std::mem::take(
            &mut *self
                .executors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut metrics = RunMetrics::default();
        let mut steps = BTreeMap::new();
        for (step_name, run) in &executors {
            metrics.absorb(&run.metrics);
            steps.insert(
                step_name.clone(),
                StepMetrics {
                    step_name: step_name.clone(),
                    executor_type: run.component.kind.as_str().to_owned(),
                    executor_name: run.component.name.to_string(),
                    metrics: Some(run.metrics.clone()),
                },
            );
        }
        metrics.duration = started.elapsed().as_secs_f64();
        metrics.steps = Some(steps);
        let meta = self.meta;
        let mut output = RunOutput {
            run_id: meta.run_id().to_owned(),
            component: self.component.clone(),
            session_id: meta.session_id().to_owned(),
            parent_run_id: meta.parent_run_id().map(str::to_owned),
            user_id: meta.user_id().map(str::to_owned),
            content_type: "str".to_owned(),
            created_at: now_unix(),
            input: RunInput {
                input_content: request.message.clone(),
            },
            metrics,
            events: Some(Vec::new()),
            step_results: Some(results),
            step_executor_runs: Some(executors.into_iter().map(|(_, run)| run).collect()),
            ..RunOutput::default()
        };
        match ended {
            Ok(flow) => {
                output.status = RunStatus::Completed;
                output.content = flow.input.previous_content().unwrap_or_default().to_owned();
                self.env.emit(|| {
                    let mut event = self.event(
                        EventName::WorkflowCompleted,
                        StepEvent {
                            step_results: output.step_results.clone(),
                            ..StepEvent::default()
                        },
                    );
                    event.content = Some(output.content.clone());
                    event.content_type = Some("str");
                    event
                });
            }
            Err(Halt::Failed(message)) => {
                tracing::warn!(run_id = meta.run_id(), error = %message, "workflow failed");
                let event = self.event(
                    EventName::WorkflowError,
                    StepEvent {
                        error: Some(message.clone()),
                        ..StepEvent::default()
                    },
                );
                output.status = RunStatus::Error;
                output.content = message;
                output.events = serde_json::to_value(&event).ok().map(|e| vec![e]);
                self.env.emit(|| event);
            }
            Err(Halt::Cancelled) => {
                output.status = RunStatus::Cancelled;
                output.content = "Run cancelled".to_owned();
                self.env.emit(|| {
                    self.event(
                        EventName::WorkflowCancelled,
                        StepEvent {
                            reason: Some(output.content.clone()),
                            ..StepEvent::default()
                        },
                    )
                });
            }
        }
        output
    }
}
