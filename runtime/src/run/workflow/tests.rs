//! The workflow engine on the TestModel: each kind of step, failures, panics, stop and
//! cancel, read from the output and the events.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::run_workflow;
use crate::TestModel;
use crate::agent::Agent;
use crate::run::{RunEnv, RunEvent, RunRequest, RunStatus};
use crate::team::Team;
use crate::workflow::{
    Condition, Loop, Parallel, Router, Step, StepError, StepInput, StepResult, Steps, Workflow,
};

/// Runs `workflow` on `message`, with the events it sent.
async fn run(workflow: &Workflow, message: &str) -> (crate::run::RunOutput, Vec<Arc<RunEvent>>) {
    let (sink, mut events) = mpsc::unbounded_channel();
    let env = RunEnv::new().with_events(sink);
    let output = run_workflow(workflow, &RunRequest::new(message), &env).await;
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
    assert_eq!(steps, ["StepStarted", "StepCompleted"].repeat(3));
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
