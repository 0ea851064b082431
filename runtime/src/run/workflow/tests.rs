//! The workflow engine on the TestModel: each kind of step, failures, panics, stop and
//! cancel, read from the output and the events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{continue_workflow, run_workflow};
use crate::TestModel;
use crate::agent::Agent;
use crate::run::{Decision, Decisions, Paused, RunEnv, RunEvent, RunOutput, RunRequest, RunStatus};
use crate::team::Team;
use crate::tool::{PauseFor, ToolDefinition, ToolError, ToolFunction};
use crate::workflow::{
    Condition, Loop, Parallel, Router, Step, StepError, StepInput, StepResult, Steps, Workflow,
};

/// Runs `workflow` on `message`, with the events it sent.
async fn run(workflow: &Workflow, message: &str) -> (RunOutput, Vec<Arc<RunEvent>>) {
    run_request(workflow, &RunRequest::new(message)).await
}

/// Runs `workflow` for `request`, with the events it sent.
async fn run_request(workflow: &Workflow, request: &RunRequest) -> (RunOutput, Vec<Arc<RunEvent>>) {
    let (sink, mut events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink);
    let output = run_workflow(workflow, request, &env).await;
    drop(env);
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        seen.push(event);
    }
    (output, seen)
}

/// Continues the paused run `paused` of `workflow` (started by `request`), approving every
/// call it waits on, with the events it sent.
async fn approve_all(
    workflow: &Workflow,
    request: &RunRequest,
    paused: RunOutput,
) -> (RunOutput, Vec<Arc<RunEvent>>) {
    let decisions = Decisions(
        (paused.step_requirements.iter().flatten())
            .flat_map(|step| &step.executor_requirements)
            .map(|requirement| {
                let decision = Decision::Confirm {
                    confirmed: true,
                    note: None,
                };
                (requirement.id.clone(), decision)
            })
            .collect(),
    );
    let Some(Paused::Workflow(progress)) = paused.paused else {
        panic!("the run keeps where it paused: {}", paused.content);
    };
    let progress = *progress;
    let (sink, mut events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink);
    let output = continue_workflow(workflow, request, progress, &decisions, &env).await;
    drop(env);
    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        seen.push(event);
    }
    (output, seen)
}

fn names(events: &[Arc<RunEvent>]) -> Vec<&'static str> {
    events.iter().map(|event| event.event.as_str()).collect()
}

fn upper(input: StepInput) -> String {
    input.previous_or_message().to_uppercase()
}

#[tokio::test]
async fn steps_run_in_order_each_on_what_came_before() {
    let writer = Agent::new("Writer").with_model(TestModel::new());
    let workflow = Workflow::new("Pipeline").with_steps([
        Step::function("shout", upper),
        Step::agent("draft", writer),
        Step::function("sign", |input: StepInput| async move {
            format!(
                "{} (after {})",
                input.previous_or_message(),
                input.content_of("shout").unwrap()
            )
        }),
    ]);
    let (output, events) = run(&workflow, "hello").await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert!(
        output.content.contains("reply to: HELLO"),
        "{}",
        output.content
    );
    assert!(
        output.content.ends_with("(after HELLO)"),
        "{}",
        output.content
    );
    let results = output.step_results.as_ref().unwrap();
    let steps: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r.step_name.as_str(), r.step_type.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("shout", "Function"),
            ("draft", "Step"),
            ("sign", "Function")
        ]
    );
    // The agent's run is the workflow's child, and its metrics are the workflow's.
    let runs = output.step_executor_runs.as_ref().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].parent_run_id.as_deref(),
        Some(output.run_id.as_str())
    );
    assert_eq!(
        results[1].step_run_id.as_deref(),
        Some(runs[0].run_id.as_str())
    );
    assert!(output.metrics.total_tokens > 0);
    assert_eq!(output.metrics.total_tokens, runs[0].metrics.total_tokens);
    assert!(output.metrics.steps.as_ref().unwrap().contains_key("draft"));
    let json = serde_json::to_value(&output).unwrap();
    assert_eq!(json["workflow_id"], "pipeline");
    assert_eq!(json["step_executor_runs"][0]["agent_id"], "writer");
    assert!(json.get("member_responses").is_none());

    let seen = names(&events);
    assert_eq!(seen.first(), Some(&"WorkflowStarted"));
    assert_eq!(seen.last(), Some(&"WorkflowCompleted"));
    let steps: Vec<&str> = seen
        .iter()
        .copied()
        .filter(|name| name.starts_with("Step"))
        .collect();
    // A function step's output is announced before it completes, as agno does.
    let function = ["StepStarted", "StepOutput", "StepCompleted"];
    let agent = ["StepStarted", "StepCompleted"];
    assert_eq!(steps, [&function[..], &agent, &function].concat());
    // The agent's events name the workflow and the step they are the work of.
    let agent_started = events
        .iter()
        .find(|e| e.event.as_str() == "RunStarted")
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(agent_started.json()).unwrap();
    assert_eq!(json["workflow_id"], "pipeline");
    assert_eq!(json["workflow_run_id"], output.run_id.as_str());
    assert_eq!(json["step_name"], "draft");
    assert_eq!(json["step_index"], 1);
    // The agent's own events come between its step's start and end.
    let started = seen.iter().position(|n| *n == "RunStarted").unwrap();
    let completed = seen.iter().position(|n| *n == "RunCompleted").unwrap();
    assert!(
        seen[..started]
            .iter()
            .filter(|n| **n == "StepStarted")
            .count()
            == 2
    );
    assert!(started < completed);
    let last = events.last().unwrap();
    assert_eq!(last.content.as_deref(), Some(output.content.as_str()));
    let first_step = serde_json::to_value(&*events[1]).unwrap();
    assert_eq!(first_step["step_name"], "shout");
    assert_eq!(first_step["step_index"], 0);
    assert_eq!(first_step["workflow_name"], "Pipeline");
}

#[tokio::test]
async fn parallel_condition_loop_and_router_hold_their_steps() {
    let team = Team::new("Desk")
        .with_model(TestModel::new())
        .with_members([Agent::new("Clerk").with_model(TestModel::new())]);
    let workflow = Workflow::new("Shapes").with_steps([
        Parallel::new(
            "both",
            [
                Step::function("left", |_: StepInput| "L"),
                Step::function("right", |_: StepInput| async { "R" }),
            ],
        ),
        Condition::new("if joined", |input: &StepInput| {
            input.previous_or_message().contains("## left")
        })
        .then([Step::function("seen", |input: StepInput| {
            format!(
                "{}+{}",
                input.content_of("left").unwrap(),
                input.content_of("right").unwrap()
            )
        })])
        .otherwise([Step::function("unseen", |_: StepInput| "no")])
        .into_step(),
        Loop::new(
            "grow",
            [Step::function("add", |input: StepInput| {
                format!("{}!", input.previous_or_message())
            })],
        )
        .until(|input: &StepInput| input.previous_or_message().ends_with("!!"))
        .max_iterations(5)
        .into_step(),
        Router::new(
            "route",
            |input: &StepInput| {
                vec![if input.message() == "desk" {
                    "team"
                } else {
                    "echo"
                }]
            },
            [
                Step::team("team", team),
                Step::function("echo", |input: StepInput| {
                    input.previous_or_message().to_owned()
                }),
            ],
        ),
        Steps::new(
            "tail",
            [Step::function("done", |input: StepInput| {
                format!("done: {}", input.previous_or_message())
            })],
        ),
    ]);
    let (output, events) = run(&workflow, "plain").await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.content, "done: L+R!!");
    let results = output.step_results.as_ref().unwrap();
    assert_eq!(
        results[0].content.as_deref(),
        Some("## left\n\nL\n\n## right\n\nR")
    );
    assert_eq!(results[0].steps.as_ref().unwrap().len(), 2);
    assert_eq!(results[1].steps.as_ref().unwrap()[0].step_name, "seen");
    assert_eq!(
        results[2].steps.as_ref().unwrap().len(),
        2,
        "two iterations"
    );
    assert_eq!(results[3].steps.as_ref().unwrap()[0].step_name, "echo");
    let seen = names(&events);
    for expected in [
        "ParallelExecutionStarted",
        "ParallelExecutionCompleted",
        "ConditionExecutionStarted",
        "ConditionExecutionCompleted",
        "LoopExecutionStarted",
        "LoopIterationStarted",
        "LoopIterationCompleted",
        "LoopExecutionCompleted",
        "RouterExecutionStarted",
        "RouterExecutionCompleted",
        "StepsExecutionStarted",
        "StepsExecutionCompleted",
    ] {
        assert!(seen.contains(&expected), "{expected} in {seen:?}");
    }
    let iterations = seen
        .iter()
        .filter(|n| **n == "LoopIterationStarted")
        .count();
    assert_eq!(iterations, 2);
    let nested = events
        .iter()
        .find(|e| e.step.as_ref().and_then(|s| s.step_name.as_deref()) == Some("right"))
        .unwrap();
    let nested = serde_json::to_value(&**nested).unwrap();
    assert_eq!(nested["step_index"], serde_json::json!([0, 1]));
    assert!(nested["parent_step_id"].is_string());

    // The router picks the team for another message: the team's run is the step's.
    let (output, _) = run(&workflow, "desk").await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    let runs = output.step_executor_runs.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].component.kind, crate::ComponentKind::Team);
}

#[tokio::test]
async fn a_failing_step_ends_the_workflow_with_its_error_and_nothing_after_it_runs() {
    let workflow = Workflow::new("Fails").with_steps([
        Step::function("check", |_: StepInput| -> Result<String, StepError> {
            Err(StepError::new("the input is empty"))
        }),
        Step::function("never", |_: StepInput| -> String { panic!("must not run") }),
    ]);
    let (output, events) = run(&workflow, "").await;
    assert_eq!(output.status, RunStatus::Error);
    assert_eq!(output.content, "step 'check' failed: the input is empty");
    let results = output.step_results.as_ref().unwrap();
    assert_eq!(results.len(), 1);
    assert!(!results[0].success);
    assert_eq!(results[0].error.as_deref(), Some(output.content.as_str()));
    assert_eq!(
        names(&events),
        [
            "WorkflowStarted",
            "StepStarted",
            "StepError",
            "WorkflowError"
        ]
    );
    let error = serde_json::to_value(&**events.last().unwrap()).unwrap();
    assert_eq!(error["error"], output.content);
}

#[tokio::test]
async fn a_panicking_step_is_an_error_that_does_not_say_what_the_panic_said() {
    let workflow = Workflow::new("Panics")
        .with_steps([Step::function("boom", |_: StepInput| -> String {
            panic!("secret detail")
        })]);
    let (output, _) = run(&workflow, "x").await;
    assert_eq!(output.status, RunStatus::Error);
    assert_eq!(
        output.content,
        "step 'boom' failed because of an internal error"
    );
    let predicate =
        Workflow::new("Bad test").with_steps([Condition::new("if", |_: &StepInput| -> bool {
            panic!("secret detail")
        })
        .then([Step::function("x", upper)])
        .into_step()]);
    let (output, _) = run(&predicate, "x").await;
    assert_eq!(output.status, RunStatus::Error);
    assert!(!output.content.contains("secret"), "{}", output.content);
}

#[tokio::test]
async fn a_step_may_stop_the_workflow_and_a_router_may_not_pick_what_is_not_there() {
    let workflow = Workflow::new("Stops").with_steps([
        Step::function("gate", |_: StepInput| StepResult::stop("closed")),
        Step::function("never", |_: StepInput| -> String { panic!("must not run") }),
    ]);
    let (output, _) = run(&workflow, "x").await;
    assert_eq!(output.status, RunStatus::Completed);
    assert_eq!(output.content, "closed");
    assert!(output.step_results.as_ref().unwrap()[0].stop);

    let lost = Workflow::new("Lost").with_steps([Router::new(
        "route",
        |_: &StepInput| Some("nowhere"),
        [Step::function("here", upper)],
    )]);
    let (output, _) = run(&lost, "x").await;
    assert_eq!(output.status, RunStatus::Error);
    assert_eq!(
        output.content,
        "step 'route' chose 'nowhere', which is none of its choices"
    );
}

#[tokio::test]
async fn a_cancel_stops_the_running_step_and_the_ones_after_it() {
    let workflow = Workflow::new("Slow").with_steps([
        Step::function("wait", |_: StepInput| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
        Step::function("never", |_: StepInput| -> String { panic!("must not run") }),
    ]);
    let env = RunEnv::new();
    let cancel = env.cancel_token().clone();
    let request = RunRequest::new("x");
    let running = run_workflow(&workflow, &request, &env);
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    };
    let (output, ()) = tokio::join!(running, canceller);
    assert_eq!(output.status, RunStatus::Cancelled);
    assert_eq!(output.step_results.as_ref().unwrap().len(), 1);

    // Cancelled inside an agent step: the agent's run ends cancelled, and so does the workflow.
    let slow =
        Agent::new("Slow").with_model(TestModel::new().with_latency(Duration::from_secs(30)));
    let workflow = Workflow::new("Agentic").with_steps([Step::agent("think", slow)]);
    let env = RunEnv::new();
    let cancel = env.cancel_token().clone();
    let running = run_workflow(&workflow, &request, &env);
    let (output, ()) = tokio::join!(running, async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    assert_eq!(output.status, RunStatus::Cancelled);
    let runs = output.step_executor_runs.unwrap();
    assert_eq!(runs[0].status, RunStatus::Cancelled);
}

/// A tool that waits for a person's approval, counting the calls that ran.
struct Approve(Arc<AtomicUsize>);

impl ToolFunction for Approve {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: "approve".into(),
            description: "Approves the plan.".into(),
            parameters: serde_json::json!({
                "type": "object",
                "properties": {"plan": {"type": "string"}},
                "required": ["plan"],
            }),
        }
    }

    fn pause_for(&self) -> Option<PauseFor> {
        Some(PauseFor::Confirmation)
    }

    fn call(
        &self,
        _arguments: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'static, Result<String, ToolError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok("approved".to_owned()) })
    }
}

/// A function step that counts its runs.
fn counted(name: &str, runs: &Arc<AtomicUsize>) -> Step {
    let runs = Arc::clone(runs);
    Step::function(name, move |input: StepInput| {
        runs.fetch_add(1, Ordering::SeqCst);
        format!("counted {}", input.previous_or_message())
    })
}

#[tokio::test]
async fn a_step_whose_agent_waits_pauses_the_workflow_and_continue_goes_on_from_it() {
    let (approved, prepared) = (Arc::default(), Arc::default());
    let asker = Agent::new("Asker")
        .with_model(TestModel::new())
        .with_tool(Approve(Arc::clone(&approved)));
    let workflow = Workflow::new("Approval").with_steps([
        counted("prepare", &prepared),
        Step::agent("ask", asker),
        Step::function("shout", upper),
    ]);
    let request = RunRequest::new("the plan");
    let (paused, seen) = run_request(&workflow, &request).await;
    assert_eq!(paused.status, RunStatus::Paused, "{}", paused.content);
    assert_eq!(paused.paused_step_index, Some(1));
    assert_eq!(paused.paused_step_name.as_deref(), Some("ask"));
    let requirements = paused.step_requirements.clone().unwrap();
    assert_eq!(requirements.len(), 1);
    assert_eq!(requirements[0].step_name, "ask");
    assert_eq!(requirements[0].executor_type, "agent");
    let waiting = &requirements[0].executor_requirements;
    assert_eq!(waiting[0].tool_execution.tool_name, "approve");
    let asked = paused.step_executor_runs.clone().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].status, RunStatus::Paused);
    assert_eq!(requirements[0].executor_run_id, asked[0].run_id);
    let results = paused.step_results.clone().unwrap();
    assert_eq!(results.len(), 2, "shout has not run");
    assert!(results[1].is_paused);
    let sent = names(&seen);
    assert!(sent.contains(&"StepExecutorPaused"), "{sent:?}");
    assert_eq!(sent.last(), Some(&"WorkflowPaused"));
    assert_eq!(approved.load(Ordering::SeqCst), 0, "nothing approved yet");

    let (done, seen) = approve_all(&workflow, &request, paused).await;
    assert_eq!(done.status, RunStatus::Completed, "{}", done.content);
    assert_eq!(done.run_id, request.meta.run_id());
    assert_eq!(approved.load(Ordering::SeqCst), 1, "the approved call ran");
    assert_eq!(
        prepared.load(Ordering::SeqCst),
        1,
        "the step before ran once"
    );
    assert!(
        done.content
            .contains("REPLY TO: COUNTED THE PLAN | TOOL RESULTS: APPROVED"),
        "the agent answered from the approved call, and the last step shouted it: {}",
        done.content
    );
    let runs = done.step_executor_runs.unwrap();
    assert_eq!(runs.len(), 1, "the agent's run went on as the same run");
    assert_eq!(runs[0].run_id, asked[0].run_id);
    assert_eq!(runs[0].status, RunStatus::Completed);
    let results = done.step_results.unwrap();
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|step| step.success && !step.is_paused));
    assert_eq!(results[0].content.as_deref(), Some("counted the plan"));
    let sent = names(&seen);
    assert_eq!(sent.first(), Some(&"StepExecutorContinued"), "{sent:?}");
    assert!(!sent.contains(&"WorkflowStarted"), "{sent:?}");
    assert_eq!(sent.last(), Some(&"WorkflowCompleted"));
}

#[tokio::test]
async fn a_wait_inside_a_loop_and_a_parallel_step_goes_on_at_that_iteration() {
    let (approved, others) = (Arc::default(), Arc::default());
    let asker = Agent::new("Asker")
        .with_model(TestModel::new())
        .with_tool(Approve(Arc::clone(&approved)));
    let workflow = Workflow::new("Rounds").with_steps([Loop::new(
        "rounds",
        [Parallel::new(
            "both",
            [Step::agent("ask", asker), counted("other", &others)],
        )],
    )
    .max_iterations(2)
    .into_step()]);
    let request = RunRequest::new("go");
    let (first, _) = run_request(&workflow, &request).await;
    assert_eq!(first.status, RunStatus::Paused, "{}", first.content);
    assert_eq!(others.load(Ordering::SeqCst), 1);

    // The first iteration goes on; the second one's agent waits again.
    let (second, _) = approve_all(&workflow, &request, first).await;
    assert_eq!(second.status, RunStatus::Paused, "{}", second.content);
    assert_eq!(approved.load(Ordering::SeqCst), 1);
    assert_eq!(
        others.load(Ordering::SeqCst),
        2,
        "the other branch ran once a round"
    );
    let runs = second.step_executor_runs.clone().unwrap();
    assert_eq!(runs.len(), 2, "one run of the agent per round");

    let (done, _) = approve_all(&workflow, &request, second).await;
    assert_eq!(done.status, RunStatus::Completed, "{}", done.content);
    assert_eq!(approved.load(Ordering::SeqCst), 2);
    assert_eq!(others.load(Ordering::SeqCst), 2, "no round ran again");
    let rounds = &done.step_results.unwrap()[0];
    assert_eq!(rounds.steps.as_ref().unwrap().len(), 2, "two rounds");
    assert_eq!(done.step_executor_runs.unwrap().len(), 2);
}

#[tokio::test]
async fn a_team_step_whose_member_waits_pauses_the_workflow_and_goes_on() {
    let approved = Arc::default();
    let team = Team::new("Board")
        .with_model(TestModel::new())
        .with_members([Agent::new("Signer")
            .with_model(TestModel::new())
            .with_tool(Approve(Arc::clone(&approved)))]);
    let workflow = Workflow::new("Sign Off")
        .with_steps([Step::team("board", team), Step::function("shout", upper)]);
    let request = RunRequest::new("sign it");
    let (paused, _) = run_request(&workflow, &request).await;
    assert_eq!(paused.status, RunStatus::Paused, "{}", paused.content);
    let step = &paused.step_requirements.as_ref().unwrap()[0];
    assert_eq!(step.executor_type, "team");
    assert_eq!(
        step.executor_requirements[0].member_agent_name.as_deref(),
        Some("Signer"),
        "the requirement names the member that asks"
    );

    let (done, _) = approve_all(&workflow, &request, paused).await;
    assert_eq!(done.status, RunStatus::Completed, "{}", done.content);
    assert_eq!(approved.load(Ordering::SeqCst), 1);
    assert!(done.content.contains("APPROVED"), "{}", done.content);
    let board = &done.step_executor_runs.unwrap()[0];
    assert_eq!(board.status, RunStatus::Completed);
}
