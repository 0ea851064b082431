//! The steps that hold steps: a sequence under a name, parallel branches, a condition's
//! branch, a loop's iterations and a router's choices, with the events agno sends for each.

use futures_util::future::join_all;

use super::super::event::EventName;
use super::super::step_event::StepEvent;
use super::super::step_output::{StepIndex, StepOutput};
use super::pause::{child_key, iteration_key};
use super::steps::{At, Stepped, bare_output, guarded};
use super::{Flow, Halt, WorkflowRun};
use crate::meta::new_id;
use crate::workflow::{Step, StepInput};

impl WorkflowRun<'_> {
    /// The output of a step that holds steps, and the input after it: the last of them that
    /// ran gave the content, or, when none ran, the input goes on as it came.
    fn holder(
        &self,
        step: &Step,
        step_id: String,
        children: Vec<StepOutput>,
        ended: Result<Flow, Halt>,
        input: StepInput,
    ) -> (Stepped, Option<Flow>) {
        let mut output = StepOutput {
            steps: Some(children),
            ..bare_output(step, &step_id)
        };
        match ended {
            Ok(flow) => {
                let content = match flow.executed {
                    0 => input.previous_or_message().to_owned(),
                    _ => flow.input.previous_or_message().to_owned(),
                };
                output.success = true;
                output.stop = flow.stop;
                output.content = Some(content.clone());
                let after = flow.input.after(step.name(), content);
                let stepped = Stepped {
                    output,
                    input: after.clone(),
                    halt: None,
                };
                (
                    stepped,
                    Some(Flow {
                        input: after,
                        ..flow
                    }),
                )
            }
            Err(halt) => {
                output.success = false;
                match &halt {
                    Halt::Failed(message) => output.error = Some(message.clone()),
                    Halt::Paused => output.is_paused = true,
                    Halt::Cancelled => {}
                }
                let stepped = Stepped {
                    output,
                    input,
                    halt: Some(halt),
                };
                (stepped, None)
            }
        }
    }

    /// Runs `steps` one after the other under the holder `step`, between its `started` and
    /// `completed` events (the latter only when they ended well, with how many ran and their
    /// outputs); `fill` adds the kind's own fields to both.
    #[allow(clippy::too_many_arguments)]
    async fn in_sequence(
        &self,
        step: &Step,
        step_id: String,
        steps: &[&Step],
        input: StepInput,
        at: At<'_>,
        [started, completed]: [EventName; 2],
        fill: impl Fn(&mut StepEvent),
    ) -> Stepped {
        self.env.emit(|| {
            let mut fields = self.fields(step, &step_id, at);
            fill(&mut fields);
            self.event(started, fields)
        });
        let mut children = Vec::new();
        let ended = self
            .sequence(
                steps,
                input.clone(),
                (at.index, at.key),
                Some(&step_id),
                &mut children,
            )
            .await;
        let (stepped, flow) = self.holder(step, step_id.clone(), children, ended, input);
        if let Some(flow) = flow {
            self.env.emit(|| {
                let mut fields = self.fields(step, &step_id, at);
                fill(&mut fields);
                fields.executed_steps = Some(flow.executed);
                fields.step_results = stepped.output.steps.clone();
                self.event(completed, fields)
            });
        }
        stepped
    }

    pub(super) async fn steps(
        &self,
        step: &Step,
        steps: &[Step],
        input: StepInput,
        at: At<'_>,
    ) -> Stepped {
        let all: Vec<&Step> = steps.iter().collect();
        let names = [
            EventName::StepsExecutionStarted,
            EventName::StepsExecutionCompleted,
        ];
        let count = steps.len();
        self.in_sequence(step, new_id(), &all, input, at, names, |fields| {
            fields.steps_count = Some(count)
        })
        .await
    }

    pub(super) async fn parallel(
        &self,
        step: &Step,
        steps: &[Step],
        input: StepInput,
        at: At<'_>,
    ) -> Stepped {
        let step_id = new_id();
        let count = steps.len();
        self.env.emit(|| {
            let mut fields = self.fields(step, &step_id, at);
            fields.parallel_step_count = Some(count);
            self.event(EventName::ParallelExecutionStarted, fields)
        });
        let places: Vec<(StepIndex, String)> = (0..count)
            .map(|i| (at.index.child(i), child_key(at.key, i)))
            .collect();
        let branches = steps.iter().zip(&places).map(|(branch, (index, key))| {
            let at = At {
                index,
                key,
                parent: Some(&step_id),
            };
            self.step(branch, input.clone(), at)
        });
        let done = join_all(branches).await;
        // Every branch began from `input`: the step after sees what each of them produced,
        // and the parallel step's own output joins their contents under their names.
        let mut after = input.clone();
        let mut joined = Vec::new();
        let mut halt: Option<Halt> = None;
        let mut stop = false;
        let mut children = Vec::with_capacity(done.len());
        for branch in done {
            after = after.knowing(&branch.input);
            if let Some(content) = &branch.output.content {
                joined.push(format!("## {}\n\n{content}", branch.output.step_name));
            }
            stop |= branch.output.stop;
            halt = match (halt, branch.halt) {
                (Some(first), Some(other)) => Some(first.worse(other)),
                (first, other) => first.or(other),
            };
            children.push(branch.output);
        }
        let executed = children.iter().filter(|child| child.success).count();
        let ended = match halt {
            Some(halt) => Err(halt),
            None => Ok(Flow {
                input: after.after(step.name(), joined.join("\n\n")),
                stop,
                executed,
            }),
        };
        let (stepped, flow) = self.holder(step, step_id.clone(), children, ended, input);
        if flow.is_some() {
            self.env.emit(|| {
                let mut fields = self.fields(step, &step_id, at);
                fields.parallel_step_count = Some(count);
                fields.step_results = stepped.output.steps.clone();
                self.event(EventName::ParallelExecutionCompleted, fields)
            });
        }
        stepped
    }

    pub(super) async fn condition(
        &self,
        step: &Step,
        holds: bool,
        branch: &[Step],
        input: StepInput,
        at: At<'_>,
    ) -> Stepped {
        let all: Vec<&Step> = branch.iter().collect();
        let names = [
            EventName::ConditionExecutionStarted,
            EventName::ConditionExecutionCompleted,
        ];
        self.in_sequence(step, new_id(), &all, input, at, names, |fields| {
            fields.condition_result = Some(holds)
        })
        .await
    }

    pub(super) async fn looped(
        &self,
        step: &Step,
        steps: &[Step],
        until: Option<&(dyn Fn(&StepInput) -> bool + Send + Sync)>,
        max: usize,
        input: StepInput,
        at: At<'_>,
    ) -> Stepped {
        let step_id = new_id();
        self.env.emit(|| {
            let mut fields = self.fields(step, &step_id, at);
            fields.max_iterations = Some(max);
            self.event(EventName::LoopExecutionStarted, fields)
        });
        let all: Vec<&Step> = steps.iter().collect();
        let mut iterations: Vec<Vec<StepOutput>> = Vec::new();
        let mut current = input.clone();
        let mut ended = Ok(Flow {
            input: input.clone(),
            stop: false,
            executed: 0,
        });
        for iteration in 1..=max {
            self.env.emit(|| {
                let mut fields = self.fields(step, &step_id, at);
                fields.iteration = Some(iteration);
                fields.max_iterations = Some(max);
                self.event(EventName::LoopIterationStarted, fields)
            });
            let mut results = Vec::new();
            let key = iteration_key(at.key, iteration);
            let flow = self
                .sequence(
                    &all,
                    current.clone(),
                    (at.index, &key),
                    Some(&step_id),
                    &mut results,
                )
                .await;
            let flow = match flow {
                Ok(flow) => flow,
                Err(halt) => {
                    iterations.push(results);
                    ended = Err(halt);
                    break;
                }
            };
            let ends =
                until.map(|until| self.tested(&key, || guarded(step, || until(&flow.input))));
            let done = match ends {
                Some(Err(halt)) => {
                    iterations.push(results);
                    ended = Err(halt);
                    break;
                }
                Some(Ok(holds)) => flow.stop || holds,
                None => flow.stop,
            };
            let more = !done && iteration < max;
            self.env.emit(|| {
                let mut fields = self.fields(step, &step_id, at);
                fields.iteration = Some(iteration);
                fields.max_iterations = Some(max);
                fields.should_continue = Some(more);
                fields.iteration_results = Some(results.clone());
                self.event(EventName::LoopIterationCompleted, fields)
            });
            iterations.push(results);
            current = flow.input.clone();
            ended = Ok(Flow {
                executed: iteration,
                ..flow
            });
            if !more {
                break;
            }
        }
        let total = iterations.len();
        let children = iterations.iter().flatten().cloned().collect();
        let (stepped, flow) = self.holder(step, step_id.clone(), children, ended, input);
        if flow.is_some() {
            self.env.emit(|| {
                let mut fields = self.fields(step, &step_id, at);
                fields.total_iterations = Some(total);
                fields.max_iterations = Some(max);
                fields.all_results = Some(iterations);
                self.event(EventName::LoopExecutionCompleted, fields)
            });
        }
        stepped
    }

    pub(super) async fn routed(
        &self,
        step: &Step,
        names: Vec<String>,
        choices: &[Step],
        input: StepInput,
        at: At<'_>,
    ) -> Stepped {
        let step_id = new_id();
        let chosen: Result<Vec<&Step>, String> = names
            .iter()
            .map(|name| {
                choices
                    .iter()
                    .find(|choice| choice.name() == name)
                    .ok_or_else(|| name.clone())
            })
            .collect();
        let chosen = match chosen {
            Ok(chosen) => chosen,
            Err(unknown) => {
                let message = format!(
                    "step '{}' chose '{unknown}', which is none of its choices",
                    step.name()
                );
                return self.halted(step, &step_id, at, input, Halt::Failed(message));
            }
        };
        let events = [
            EventName::RouterExecutionStarted,
            EventName::RouterExecutionCompleted,
        ];
        self.in_sequence(step, step_id, &chosen, input, at, events, |fields| {
            fields.selected_steps = Some(names.clone())
        })
        .await
    }
}
