//! A team leader's tool calls: delegation to its members, and going on with a member that
//! paused.

use futures_util::future::{BoxFuture, join_all};
use serde::Deserialize;

use super::converse::Resume;
use super::dispatch::{Dispatched, Dispatcher};
use super::env::RunEnv;
use super::output::{CallOutcome, Paused, RunOutput};
use super::pause::Decisions;
use super::prompt::{DELEGATE_ALL, DELEGATE_ONE};
use crate::meta::RunMeta;
use crate::model::ToolCall;
use crate::status::RunStatus;
use crate::team::{Member, Team, TeamMode};

/// A leader's tool calls.
pub(super) struct TeamDispatcher<'a> {
    pub(super) team: &'a Team,
    pub(super) meta: &'a RunMeta,
    /// Runs a member: the engine, handed in, since a member's run is an engine run one level
    /// down and the engine is what builds this dispatcher.
    pub(super) run_member: RunMember,
}

/// How a member runs: its task, its run's ids, the run's environment, and the suspended turn
/// to go on with when it was waiting for a person.
pub(super) type RunMember = for<'a> fn(
    &'a Member,
    String,
    RunMeta,
    &'a RunEnv,
    Option<Resume<'a>>,
) -> BoxFuture<'a, RunOutput>;

#[derive(Deserialize)]
struct DelegateOne {
    member_id: String,
    task: String,
}

#[derive(Deserialize)]
struct DelegateAll {
    task: String,
}

impl Dispatcher for TeamDispatcher<'_> {
    fn dispatch<'a>(&'a self, call: &'a ToolCall, env: &'a RunEnv) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            match call.name.as_str() {
                DELEGATE_ONE if self.team.mode() != TeamMode::Broadcast => {
                    let args: DelegateOne = match serde_json::from_str(&call.arguments) {
                        Ok(args) => args,
                        Err(error) => {
                            return Dispatched::error(format!(
                                "invalid arguments for {DELEGATE_ONE}: {error}"
                            ));
                        }
                    };
                    let Some(member) = self.member(&args.member_id) else {
                        return Dispatched::error(format!(
                            "no member has the id '{}'; valid member ids: {}",
                            args.member_id,
                            self.member_ids()
                        ));
                    };
                    let meta = self.member_meta(member, None);
                    let child = (self.run_member)(member, args.task, meta, env, None).await;
                    self.delegated(member, child)
                }
                DELEGATE_ALL if self.team.mode() == TeamMode::Broadcast => {
                    let args: DelegateAll = match serde_json::from_str(&call.arguments) {
                        Ok(args) => args,
                        Err(error) => {
                            return Dispatched::error(format!(
                                "invalid arguments for {DELEGATE_ALL}: {error}"
                            ));
                        }
                    };
                    let runs = self.team.members().iter().map(|member| {
                        let meta = self.member_meta(member, None);
                        (self.run_member)(member, args.task.clone(), meta, env, None)
                    });
                    let children = join_all(runs).await;
                    let report = children
                        .iter()
                        .map(|child| {
                            let name = &child.component.name;
                            match member_result(child) {
                                Ok(text) => format!("{name}: {text}"),
                                Err(text) => format!("{name} failed: {text}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    Dispatched {
                        children,
                        ..Dispatched::done(Ok(report))
                    }
                }
                other => Dispatched::error(format!("the team has no tool named '{other}'")),
            }
        })
    }

    fn resolve<'a>(
        &'a self,
        _call: &'a ToolCall,
        waiting: CallOutcome,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            let CallOutcome::Member {
                member_id,
                run,
                suspended,
            } = waiting
            else {
                return Dispatched::still(waiting);
            };
            let Some(member) = self.member(&member_id) else {
                // The factory built the team without that member this time.
                return Dispatched::error(format!(
                    "the member '{member_id}' is no longer part of the team"
                ));
            };
            let meta = self.member_meta(member, Some(&run.run_id));
            let task = run.input.input_content.clone();
            let resume = Resume {
                suspended: *suspended,
                decisions,
            };
            let child = (self.run_member)(member, task, meta, env, Some(resume)).await;
            self.delegated(member, child)
        })
    }
}

impl TeamDispatcher<'_> {
    fn member(&self, id: &str) -> Option<&Member> {
        self.team.members().iter().find(|m| m.id() == id)
    }

    fn member_ids(&self) -> String {
        self.team
            .members()
            .iter()
            .map(Member::id)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A member's run: members of this team report at this team's depth, as agno does; a
    /// nested team one deeper. A member that paused keeps its run id.
    fn member_meta(&self, member: &Member, run_id: Option<&str>) -> RunMeta {
        let depth = match member {
            Member::Agent(_) => self.meta.depth(),
            Member::Team(_) => self.meta.depth() + 1,
        };
        match run_id {
            Some(run_id) => self.meta.child_with_id(run_id, depth),
            None => self.meta.child(depth),
        }
    }

    /// The delegation's outcome from the member's run: its answer, or a wait on it when it
    /// paused (the team's run then pauses too).
    fn delegated(&self, member: &Member, mut child: RunOutput) -> Dispatched {
        if child.status == RunStatus::Paused
            && let Some(Paused::Turn(suspended)) = child.paused.take()
        {
            return Dispatched::still(CallOutcome::Member {
                member_id: member.id().to_owned(),
                run: Box::new(child),
                suspended,
            });
        }
        let mut dispatched = Dispatched::done(member_result(&child));
        if let CallOutcome::Done {
            is_final_answer, ..
        } = &mut dispatched.outcome
        {
            *is_final_answer = self.team.mode() == TeamMode::Route;
        }
        dispatched.children = vec![child];
        dispatched
    }
}

pub(super) fn member_result(child: &RunOutput) -> Result<String, String> {
    match child.status {
        RunStatus::Completed => Ok(child.content.clone()),
        RunStatus::Paused => Err(
            "the member is waiting for a person, which a broadcast to every member cannot wait for"
                .to_owned(),
        ),
        _ => Err(format!(
            "the member run ended with {}: {}",
            child.status.as_str(),
            child.content
        )),
    }
}
