//! Steps run one by one: a sequence, and the steps that do the work (agents and teams as runs
//! of their own, functions caught if they panic), with the events agno sends for each. The
//! steps that hold steps are in [`super::holders`].

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::super::converse::Resume;
use super::super::engine::{run_agent_at, run_team_at};
use super::super::event::EventName;
use super::super::output::{Paused, RunOutput, WaitingStep};
use super::super::step_event::{StepEvent, StepOf};
use super::super::step_output::{StepIndex, StepOutput};
use super::pause::child_key;
use super::{Flow, Halt, WorkflowRun};
use crate::component::ComponentKind;
use crate::meta::{RunMeta, new_id};
use crate::status::RunStatus;
use crate::workflow::{Step, StepFunction, StepInput, StepKind, StepResult};

/// What one step did: its output, the input the step after it gets, and whether the workflow
/// stops here.
pub(super) struct Stepped {
    pub(super) output: StepOutput,
    pub(super) input: StepInput,
    pub(super) halt: Option<Halt>,
}

/// Where a step runs: its place (as events show it, and as a paused run keys what it did
/// there), and the step that holds it.
#[derive(Clone, Copy)]
pub(super) struct At<'p> {
    pub(super) index: &'p StepIndex,
    pub(super) key: &'p str,
    pub(super) parent: Option<&'p str>,
}

impl WorkflowRun<'_> {
    /// Runs `steps` one after the other from `input`, under the place `index`/`key`, adding
    /// each one's output to `results`.
    pub(super) async fn sequence(
        &self,
        steps: &[&Step],
        mut input: StepInput,
        (index, key): (&StepIndex, &str),
        parent: Option<&str>,
        results: &mut Vec<StepOutput>,
    ) -> Result<Flow, Halt> {
        let mut executed = 0;
        for (position, step) in steps.iter().enumerate() {
            if self.env.cancel.is_cancelled() {
                return Err(Halt::Cancelled);
            }
            let index = index.child(position);
            let key = child_key(key, position);
            let at = At {
                index: &index,
                key: &key,
                parent,
            };
            let stepped = self.step(step, input, at).await;
            let stop = stepped.output.stop;
            results.push(stepped.output);
            input = stepped.input;
            if let Some(halt) = stepped.halt {
                return Err(halt);
            }
            executed += 1;
            if stop {
                return Ok(Flow {
                    input,
                    stop: true,
                    executed,
                });
            }
        }
        Ok(Flow {
            input,
            stop: false,
            executed,
        })
    }

    pub(super) fn step<'s>(
        &'s self,
        step: &'s Step,
        input: StepInput,
        at: At<'s>,
    ) -> BoxFuture<'s, Stepped> {
        Box::pin(async move {
            match step.kind() {
                StepKind::Agent(_) | StepKind::Team(_) | StepKind::Function(_) => {
                    self.leaf(step, input, at).await
                }
                StepKind::Steps(steps) => self.steps(step, steps, input, at).await,
                StepKind::Parallel(steps) => self.parallel(step, steps, input, at).await,
                StepKind::Condition {
                    test,
                    then,
                    otherwise,
                } => match self.tested(at.key, || guarded(step, || test(&input))) {
                    Ok(holds) => {
                        let branch = if holds { then } else { otherwise };
                        self.condition(step, holds, branch, input, at).await
                    }
                    Err(halt) => self.halted(step, &new_id(), at, input, halt),
                },
                StepKind::Loop { steps, until, max } => {
                    self.looped(step, steps, until.as_deref(), *max, input, at)
                        .await
                }
                StepKind::Router { select, choices } => {
                    match self.chosen(at.key, || guarded(step, || select(&input))) {
                        Ok(names) => self.routed(step, names, choices, input, at).await,
                        Err(halt) => self.halted(step, &new_id(), at, input, halt),
                    }
                }
            }
        })
    }

    /// The step a run of its agent or team is the work of, as that run's events name it.
    fn step_of(&self, step: &Step, step_id: &str, at: At<'_>) -> StepOf {
        StepOf {
            workflow_id: Arc::clone(&self.component.id),
            workflow_run_id: Arc::clone(self.meta.run_id_arc()),
            step_id: step_id.to_owned(),
            step_name: step.name().to_owned(),
            step_index: at.index.clone(),
        }
    }

    /// The fields of an event about `step`.
    pub(super) fn fields(&self, step: &Step, step_id: &str, at: At<'_>) -> StepEvent {
        StepEvent {
            step_id: Some(step_id.to_owned()),
            parent_step_id: at.parent.map(str::to_owned),
            step_name: Some(step.name().to_owned()),
            step_index: Some(at.index.clone()),
            ..StepEvent::default()
        }
    }

    /// An agent, a team or a function. On a paused run going on, a step that had ended gives
    /// what it gave then, and a step whose run waited goes on in that run.
    async fn leaf(&self, step: &Step, input: StepInput, at: At<'_>) -> Stepped {
        if let Some(output) = self.ended_before(at.key) {
            let content = output.content.clone().unwrap_or_default();
            self.progress()
                .ended
                .insert(at.key.to_owned(), output.clone());
            return Stepped {
                input: input.after(step.name(), content),
                output,
                halt: None,
            };
        }
        let waited = match step.kind() {
            StepKind::Agent(_) => self.waited_before(at.key, ComponentKind::Agent),
            StepKind::Team(_) => self.waited_before(at.key, ComponentKind::Team),
            _ => None,
        };
        let step_id = waited.map_or_else(new_id, |waited| waited.step_id.clone());
        self.env.emit(|| match waited {
            None => self.event(EventName::StepStarted, self.fields(step, &step_id, at)),
            Some(waited) => {
                let mut fields = self.fields(step, &step_id, at);
                executor_fields(&mut fields, &waited.run);
                self.event(EventName::StepExecutorContinued, fields)
            }
        });
        let mut output = bare_output(step, &step_id);
        let result = match step.kind() {
            StepKind::Agent(agent) => {
                let (message, meta, resume) = self.executor_start(&input, waited);
                let env = self.env.in_step(self.step_of(step, &step_id, at));
                let run = run_agent_at(agent, message, meta, Vec::new(), &env, resume).await;
                self.executor(step, &step_id, at, &mut output, run)
            }
            StepKind::Team(team) => {
                let (message, meta, resume) = self.executor_start(&input, waited);
                let env = self.env.in_step(self.step_of(step, &step_id, at));
                let run = run_team_at(team, message, meta, Vec::new(), &env, resume).await;
                self.executor(step, &step_id, at, &mut output, run)
            }
            StepKind::Function(function) => {
                output.executor_type = Some("function".to_owned());
                output.executor_name = Some(step.name().to_owned());
                self.function(step, function, input.clone()).await
            }
            _ => unreachable!("leaf is called for agents, teams and functions"),
        };
        match result {
            Ok(result) => {
                output.success = true;
                output.stop = result.stop;
                output.content = Some(result.content.clone());
                self.progress()
                    .ended
                    .insert(at.key.to_owned(), output.clone());
                if let StepKind::Function(_) = step.kind() {
                    self.env.emit(|| {
                        let mut fields = self.fields(step, &step_id, at);
                        fields.step_id = None;
                        fields.step_output = Some(output.clone());
                        self.event(EventName::StepOutput, fields)
                    });
                }
                self.env.emit(|| {
                    let mut fields = self.fields(step, &step_id, at);
                    fields.step_response = Some(output.clone());
                    let mut event = self.event(EventName::StepCompleted, fields);
                    event.content = Some(result.content.clone());
                    event.content_type = Some("str");
                    event
                });
                Stepped {
                    input: input.after(step.name(), result.content),
                    output,
                    halt: None,
                }
            }
            Err(Halt::Paused) => {
                output.is_paused = true;
                Stepped {
                    output,
                    input,
                    halt: Some(Halt::Paused),
                }
            }
            Err(halt) => {
                let mut stepped = self.halted(step, &step_id, at, input, halt);
                output.error = stepped.output.error.take();
                stepped.output = output;
                stepped
            }
        }
    }

    /// What an agent or team step's run starts from: the previous step's output in a run of
    /// its own, or, for the run that waited, its own message and ids and the person's answers.
    fn executor_start(
        &self,
        input: &StepInput,
        waited: Option<&WaitingStep>,
    ) -> (String, RunMeta, Option<Resume<'_>>) {
        let depth = self.meta.depth() + 1;
        match (waited, &self.replay) {
            (Some(waited), Some(replay)) => (
                waited.run.input.input_content.clone(),
                self.meta.child_with_id(&waited.run.run_id, depth),
                Some(Resume {
                    suspended: waited.suspended.clone(),
                    decisions: replay.decisions,
                }),
            ),
            _ => (
                input.previous_or_message().to_owned(),
                self.meta.child(depth),
                None,
            ),
        }
    }

    /// How the run of an agent or team step ended, kept with the workflow's run. A run that
    /// waits for a person is kept to go on from, and the workflow waits with it.
    fn executor(
        &self,
        step: &Step,
        step_id: &str,
        at: At<'_>,
        output: &mut StepOutput,
        mut run: RunOutput,
    ) -> Result<StepResult, Halt> {
        run.workflow_step_id = Some(step_id.to_owned());
        run.metadata = Some(serde_json::Map::new());
        output.executor_type = Some(run.component.kind.as_str().to_owned());
        output.executor_name = Some(run.component.name.to_string());
        output.step_run_id = Some(run.run_id.clone());
        output.metrics = Some(run.metrics.clone());
        let result = match run.status {
            RunStatus::Completed => Ok(StepResult::new(run.content.clone())),
            RunStatus::Cancelled => Err(Halt::Cancelled),
            RunStatus::Error => Err(Halt::Failed(format!(
                "step '{}' failed: {}",
                step.name(),
                run.content
            ))),
            RunStatus::Paused => match run.paused.take() {
                Some(Paused::Turn(suspended)) => {
                    self.env.emit(|| {
                        let mut fields = self.fields(step, step_id, at);
                        executor_fields(&mut fields, &run);
                        fields.executor_requirements = run.requirements.clone();
                        self.event(EventName::StepExecutorPaused, fields)
                    });
                    let waiting = WaitingStep {
                        step_name: step.name().to_owned(),
                        step_id: step_id.to_owned(),
                        index: at.index.0.clone(),
                        run: run.clone(),
                        suspended: *suspended,
                    };
                    self.progress().waiting.insert(at.key.to_owned(), waiting);
                    Err(Halt::Paused)
                }
                _ => Err(Halt::Failed(format!(
                    "step '{}' did not finish",
                    step.name()
                ))),
            },
            RunStatus::Running | RunStatus::Pending => Err(Halt::Failed(format!(
                "step '{}' did not finish",
                step.name()
            ))),
        };
        self.executor_ran(step.name(), run);
        result
    }

    /// A function step: its panic fails the step (the log has what it said); a cancel stops
    /// waiting for it.
    async fn function(
        &self,
        step: &Step,
        function: &StepFunction,
        input: StepInput,
    ) -> Result<StepResult, Halt> {
        let call = AssertUnwindSafe(async { function(input).await }).catch_unwind();
        tokio::select! {
            biased;
            _ = self.env.cancel.cancelled() => Err(Halt::Cancelled),
            called = call => match called {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(error)) => Err(Halt::Failed(format!("step '{}' failed: {error}", step.name()))),
                Err(panic) => Err(panicked(step, panic.as_ref())),
            },
        }
    }

    /// A step that stopped the workflow: its error event, when it failed.
    pub(super) fn halted(
        &self,
        step: &Step,
        step_id: &str,
        at: At<'_>,
        input: StepInput,
        halt: Halt,
    ) -> Stepped {
        let mut output = bare_output(step, step_id);
        if let Halt::Failed(message) = &halt {
            output.error = Some(message.clone());
            self.env.emit(|| {
                let mut fields = self.fields(step, step_id, at);
                fields.error = Some(message.clone());
                self.event(EventName::StepError, fields)
            });
        }
        Stepped {
            output,
            input,
            halt: Some(halt),
        }
    }
}

/// The fields of an event about a step's agent or team run.
fn executor_fields(fields: &mut StepEvent, run: &RunOutput) {
    fields.executor_id = Some(run.component.id.to_string());
    fields.executor_name = Some(run.component.name.to_string());
    fields.executor_type = Some(run.component.kind.as_str().to_owned());
    fields.executor_run_id = Some(run.run_id.clone());
}

/// A step's output before anything is known of how it went.
pub(super) fn bare_output(step: &Step, step_id: &str) -> StepOutput {
    StepOutput {
        step_name: step.name().to_owned(),
        step_id: step_id.to_owned(),
        step_type: step.step_type().to_owned(),
        ..StepOutput::default()
    }
}

/// Calls a condition's test, a loop's end or a router's choice: a panic in it fails the step.
pub(super) fn guarded<T>(step: &Step, call: impl FnOnce() -> T) -> Result<T, Halt> {
    std::panic::catch_unwind(AssertUnwindSafe(call)).map_err(|panic| panicked(step, panic.as_ref()))
}

/// The failure of a step whose code panicked: what the panic said goes to the log, not to
/// the caller.
fn panicked(step: &Step, panic: &(dyn std::any::Any + Send)) -> Halt {
    let said = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(step = step.name(), panic = %said, "a workflow step's code panicked");
    Halt::Failed(format!(
        "step '{}' failed because of an internal error",
        step.name()
    ))
}
