//! One run of a workflow: its steps in order, each given what the ones before it produced,
//! with agno's workflow events on the way and the workflow's run JSON at the end.
//!
//! An agent or team step is a run of its own (a child of the workflow's run, stored beside it
//! as a team's members are), sent the previous step's output, or the workflow's message for the
//! first step. A step that fails, a function step that panics, or an agent step that fails
//! ends the workflow with an error; a cancel stops it between steps and inside the running
//! agent's run. A step whose agent or team waits for a person pauses the workflow (`pause`).

mod holders;
mod pause;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::{Map, Value};

use super::engine::RunRequest;
use super::env::RunEnv;
use super::event::{EventName, RunEvent};
use super::output::{Paused, RunOutput, WorkflowPause};
use super::pause::Decisions;
use super::step_event::StepEvent;
use super::step_output::{StepIndex, StepOutput};
use super::transcript::{RunInput, RunMetrics, StepMetrics};
use crate::component::{ComponentKind, ComponentRef};
use crate::meta::RunMeta;
use crate::status::RunStatus;
use crate::time::now_unix;
use crate::workflow::{StepInput, Workflow};

/// agno's `pause_kind` for a workflow whose step's agent or team waits.
const PAUSE_KIND: &str = "executor";

/// Why a workflow stopped before its last step.
#[derive(Clone, Debug)]
enum Halt {
    /// A step failed; the message says which and why.
    Failed(String),
    /// Someone cancelled the run.
    Cancelled,
    /// A step's agent or team waits for a person.
    Paused,
}

impl Halt {
    /// The reason that holds when parallel branches stopped for different ones: a cancel,
    /// then a failure, then a wait.
    fn worse(self, other: Halt) -> Halt {
        match (self, other) {
            (Halt::Cancelled, _) | (_, Halt::Cancelled) => Halt::Cancelled,
            (Halt::Failed(message), _) | (_, Halt::Failed(message)) => Halt::Failed(message),
            (Halt::Paused, Halt::Paused) => Halt::Paused,
        }
    }
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

/// Runs a workflow to its end (or until a step waits for a person). Failures and
/// cancellation are part of the output.
pub async fn run_workflow(workflow: &Workflow, request: &RunRequest, env: &RunEnv) -> RunOutput {
    run_workflow_from(workflow, request, env, None).await
}

/// Continues a workflow's run that paused, with the person's answers. The request is the
/// paused run's (same message, same ids).
pub async fn continue_workflow(
    workflow: &Workflow,
    request: &RunRequest,
    paused: WorkflowPause,
    decisions: &Decisions,
    env: &RunEnv,
) -> RunOutput {
    let replay = Replay { paused, decisions };
    run_workflow_from(workflow, request, env, Some(replay)).await
}

async fn run_workflow_from(
    workflow: &Workflow,
    request: &RunRequest,
    env: &RunEnv,
    replay: Option<Replay<'_>>,
) -> RunOutput {
    let started = Instant::now();
    // The runs that ended before the pause stay the workflow's; the ones that waited are
    // added again when they end.
    let progress = WorkflowPause {
        executors: replay.as_ref().map_or_else(Vec::new, |replay| {
            (replay.paused.executors.iter())
                .filter(|(_, run)| !replay.paused.waits_in(&run.run_id))
                .cloned()
                .collect()
        }),
        ..WorkflowPause::default()
    };
    let run = WorkflowRun {
        component: ComponentRef {
            kind: ComponentKind::Workflow,
            id: workflow.id().into(),
            name: workflow.name().into(),
        },
        meta: &request.meta,
        env,
        progress: Mutex::new(progress),
        replay,
    };
    if run.replay.is_none() {
        env.emit(|| run.event(EventName::WorkflowStarted, StepEvent::default()));
    }
    let steps: Vec<_> = workflow.steps().iter().collect();
    let mut results = Vec::new();
    let input = StepInput::new(request.message.as_str());
    let ended = run
        .sequence(
            &steps,
            input,
            (&StepIndex::default(), ""),
            None,
            &mut results,
        )
        .await;
    run.finish(workflow, request, ended, results, started)
}

/// A paused run going on: what it did before the pause, and the person's answers.
struct Replay<'a> {
    paused: WorkflowPause,
    decisions: &'a Decisions,
}

/// A workflow's run in progress.
struct WorkflowRun<'a> {
    component: ComponentRef,
    meta: &'a RunMeta,
    env: &'a RunEnv,
    /// What its steps did so far: what it keeps if it pauses.
    progress: Mutex<WorkflowPause>,
    /// For a paused run going on: what it did before.
    replay: Option<Replay<'a>>,
}

impl WorkflowRun<'_> {
    /// An event of the workflow's own, with its step fields.
    fn event(&self, name: EventName, step: StepEvent) -> RunEvent {
        let mut event = RunEvent::of_run(&self.component, self.meta, name);
        event.step = Some(Box::new(step));
        event
    }

    /// What the steps did so far, to add to.
    fn progress(&self) -> MutexGuard<'_, WorkflowPause> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the run of the agent or team step `step_name`.
    fn executor_ran(&self, step_name: &str, run: RunOutput) {
        self.progress().executors.push((step_name.to_owned(), run));
    }

    /// The workflow's output and its last event.
    fn finish(
        &self,
        workflow: &Workflow,
        request: &RunRequest,
        ended: Result<Flow, Halt>,
        results: Vec<StepOutput>,
        started: Instant,
    ) -> RunOutput {
        let mut progress = std::mem::take(&mut *self.progress());
        let executors = match &ended {
            Err(Halt::Paused) => progress.executors.clone(),
            _ => std::mem::take(&mut progress.executors),
        };
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
            input: RunInput::bare(request.message.clone()),
            metrics,
            events: Some(Vec::new()),
            step_results: Some(results),
            step_executor_runs: Some(executors.into_iter().map(|(_, run)| run).collect()),
            metadata: Some(Map::new()),
            audio: Some(Vec::new()),
            images: Some(Vec::new()),
            videos: Some(Vec::new()),
            files: Some(Vec::new()),
            ..RunOutput::default()
        };
        // A run that went on keeps what it was asked, answered, as agno does.
        if let Some(replay) = &self.replay
            && !matches!(ended, Err(Halt::Paused))
        {
            output.step_requirements = Some(replay.paused.answered(replay.decisions));
        }
        match ended {
            Ok(flow) => {
                output.status = RunStatus::Completed;
                output.content = flow.input.previous_content().unwrap_or_default().to_owned();
                self.env.emit(|| {
                    let mut event = self.event(
                        EventName::WorkflowCompleted,
                        StepEvent {
                            step_results: output.step_results.clone(),
                            step_executor_runs: output.step_executor_runs.clone(),
                            ..StepEvent::default()
                        },
                    );
                    event.content = Some(output.content.clone());
                    event.content_type = Some("str");
                    event.metrics = Some(output.metrics.clone());
                    event.metadata = Some(Value::Object(Map::new()));
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
            Err(Halt::Paused) => {
                output.status = RunStatus::Paused;
                output.content = progress.content();
                let requirements = progress.requirements();
                let (index, name) = progress.paused_step(workflow).unzip();
                self.env.emit(|| {
                    let mut event = self.event(
                        EventName::WorkflowPaused,
                        StepEvent {
                            status: Some(RunStatus::Paused),
                            paused_step_index: index,
                            paused_step_name: name.clone(),
                            pause_kind: Some(PAUSE_KIND),
                            step_requirements: Some(requirements.clone()),
                            step_results: output.step_results.clone(),
                            ..StepEvent::default()
                        },
                    );
                    event.content = Some(output.content.clone());
                    event
                });
                output.step_requirements = Some(requirements);
                output.paused_step_index = index;
                output.paused_step_name = name;
                output.pause_kind = Some(PAUSE_KIND.to_owned());
                output.paused = Some(Paused::Workflow(Box::new(progress)));
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
