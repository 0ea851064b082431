//! Workflows over agno's HTTP routes: discovery, runs whole and streamed, the stored run with
//! each step's output and its agents' runs, the session it makes, a cancel, a panicking step,
//! and a step whose agent waits for a person. On SQLite, and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::workflow::Json;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::db::TestDb;
use support::{TestServer, client, form, parse_sse};

#[derive(Serialize)]
struct Count {
    words: usize,
}

fn pipeline() -> Workflow {
    let writer = Agent::new("Writer").with_model(TestModel::new());
    Workflow::new("Pipeline")
        .with_description("Counts, drafts and signs")
        .with_steps([
            Step::function("count", |input: StepInput| {
                Json(Count {
                    words: input.message().split_whitespace().count(),
                })
            }),
            Step::agent("draft", writer),
            Parallel::new(
                "review",
                [
                    Step::function("spelling", |_: StepInput| "fine"),
                    Step::function("tone", |_: StepInput| async { "calm" }),
                ],
            ),
            Condition::new("if long", |input: &StepInput| {
                input
                    .content_of("count")
                    .is_some_and(|c| c.contains("\"words\":3"))
            })
            .then([Step::function("sign", |input: StepInput| {
                format!("signed: {}", input.content_of("draft").unwrap_or_default())
            })])
            .into_step(),
        ])
}

fn slow() -> Workflow {
    Workflow::new("Slow").with_steps([
        Step::function("wait", |_: StepInput| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
        Step::function("after", |_: StepInput| "never"),
    ])
}

fn broken() -> Workflow {
    Workflow::new("Broken").with_steps([Step::function("boom", |_: StepInput| -> String {
        panic!("a secret the caller must not see")
    })])
}

/// How many review passes a post gets.
#[derive(Deserialize, Validate, JsonSchema)]
struct Tier {
    #[garde(range(min = 1, max = 3))]
    passes: u8,
}

/// A workflow built per request: as many review steps as the input asks, then the agent that
/// writes, told who is asking.
#[workflow_factory(id = "tiered", input = Tier)]
fn tiered(ctx: RequestContext<Tier>) -> Workflow {
    let writer = Agent::new("Writer")
        .with_model(TestModel::new())
        .with_instruction(format!("Write for {}.", ctx.user_id().unwrap_or("anyone")));
    let passes = (1..=ctx.input.passes).map(|pass| {
        Step::function(format!("pass {pass}"), move |input: StepInput| {
            format!("{} +{pass}", input.previous_or_message())
        })
    });
    Workflow::new("Tiered")
        .with_steps(passes)
        .with_step(Step::agent("write", writer))
}

/// A factory whose workflow names two steps alike: it is refused, not run.
#[workflow_factory(id = "twice")]
fn twice() -> Workflow {
    Workflow::new("Twice").with_steps([
        Step::function("same", |_: StepInput| "one"),
        Step::function("same", |_: StepInput| "two"),
    ])
}

/// Publishes a post: a person approves each call first.
#[tool(requires_confirmation)]
fn publish(
    /// What to publish.
    post: String,
) -> String {
    format!("published: {post}")
}

/// Which desk a post goes out from: required, so going on after a restart needs the stored
/// input.
#[derive(Deserialize, Validate, JsonSchema)]
struct Desk {
    #[garde(length(min = 1))]
    desk: String,
}

/// A workflow whose middle step's agent waits for a person before it publishes.
#[workflow_factory(id = "approved-post", input = Desk)]
fn approved_post(ctx: RequestContext<Desk>) -> Workflow {
    let desk = ctx.input.desk.clone();
    let publisher = Agent::new("Publisher")
        .with_model(TestModel::new())
        .with_tool(publish);
    Workflow::new("Approved Post").with_steps([
        Step::function("head", move |input: StepInput| {
            format!("[{desk}] {}", input.message())
        }),
        Step::agent("publish", publisher),
        Step::function("log", |input: StepInput| {
            format!("logged: {}", input.previous_or_message())
        }),
    ])
}

fn os() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .workflow(pipeline())
        .workflow(slow())
        .workflow(broken())
        .workflow(tiered)
        .workflow(twice)
        .workflow(approved_post)
}

async fn server() -> TestServer {
    TestServer::with(os()).await
}

async fn run(server: &TestServer, id: &str, message: &str, stream: bool) -> reqwest::Response {
    let stream = if stream { "true" } else { "false" };
    client()
        .post(server.url(&format!("/workflows/{id}/runs")))
        .multipart(form(&[
            ("message", message),
            ("stream", stream),
            ("user_id", "ada"),
        ]))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn workflows_are_listed_and_described_with_their_steps() {
    let server = server().await;
    let listed: Value = client()
        .get(server.url("/workflows"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "pipeline",
            "slow",
            "broken",
            "tiered",
            "twice",
            "approved-post"
        ]
    );
    let described: Value = client()
        .get(server.url("/workflows/tiered"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["is_factory"], true);
    assert_eq!(
        described["factory_input_schema"]["required"],
        serde_json::json!(["passes"])
    );
    let pipeline: Value = client()
        .get(server.url("/workflows/pipeline"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pipeline["description"], "Counts, drafts and signs");
    assert_eq!(pipeline["workflow_agent"], false);
    let steps = pipeline["steps"].as_array().unwrap();
    assert_eq!(steps[1]["type"], "Step");
    assert_eq!(steps[1]["agent"]["id"], "writer");
    assert_eq!(steps[2]["type"], "Parallel");
    assert_eq!(steps[2]["steps"][1]["name"], "tone");
    let missing = client()
        .get(server.url("/workflows/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let config: Value = client()
        .get(server.url("/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["workflows"][0]["id"], "pipeline");
    let openapi: Value = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/workflows"]["get"].is_object());
    let run_route = &openapi["paths"]["/workflows/tiered/runs"]["post"];
    let body = &run_route["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(
        body["properties"]["factory_input"]["x-factory-input-schema"]["required"],
        serde_json::json!(["passes"])
    );
}

#[tokio::test]
async fn a_workflow_runs_whole_and_is_read_back_with_its_steps_and_session() {
    let server = server().await;
    let answer = run(&server, "pipeline", "three little words", false).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let output: Value = answer.json().await.unwrap();
    assert_eq!(output["status"], "COMPLETED", "{output}");
    assert_eq!(output["workflow_id"], "pipeline");
    let content = output["content"].as_str().unwrap();
    assert!(content.starts_with("signed: "), "{content}");
    assert!(content.contains("reply to: {\"words\":3}"), "{content}");
    let names: Vec<&str> = output["step_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["count", "draft", "review", "if long"]);

    let run_id = output["run_id"].as_str().unwrap();
    let session_id = output["session_id"].as_str().unwrap();
    let stored: Value = client()
        .get(server.url(&format!("/workflows/pipeline/runs/{run_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "COMPLETED");
    assert_eq!(stored["content"], output["content"]);
    assert_eq!(stored["step_results"], output["step_results"]);
    let executors = stored["step_executor_runs"].as_array().unwrap();
    assert_eq!(executors.len(), 1);
    assert_eq!(executors[0]["agent_id"], "writer");
    assert_eq!(executors[0]["parent_run_id"], run_id);

    let sessions: Value = client()
        .get(server.url("/sessions?type=workflow&user_id=ada"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = sessions["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{sessions}");
    assert_eq!(listed[0]["session_id"], session_id);
}

#[tokio::test]
async fn a_streamed_workflow_sends_agnos_events_in_order() {
    let server = server().await;
    let answer = run(&server, "pipeline", "three little words", true).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let frames = parse_sse(&answer.text().await.unwrap());
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"WorkflowStarted"), "{names:?}");
    assert_eq!(names.last(), Some(&"WorkflowCompleted"), "{names:?}");
    for expected in [
        "StepStarted",
        "RunStarted",
        "RunCompleted",
        "StepCompleted",
        "ParallelExecutionStarted",
        "ParallelExecutionCompleted",
        "ConditionExecutionStarted",
        "ConditionExecutionCompleted",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let completed = &frames.last().unwrap().data;
    assert_eq!(completed["workflow_id"], "pipeline");
    assert!(
        completed["content"]
            .as_str()
            .unwrap()
            .starts_with("signed: ")
    );
}

#[tokio::test]
async fn a_cancelled_workflow_stops_and_a_panicking_step_fails_it_without_saying_why() {
    let server = server().await;
    let started = client()
        .post(server.url("/workflows/slow/runs"))
        .multipart(form(&[
            ("message", "x"),
            ("stream", "false"),
            ("background", "true"),
            ("user_id", "ada"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let started: Value = started.json().await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancel = client()
        .post(server.url(&format!("/workflows/slow/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success(), "{}", cancel.status());
    let mut status = Value::Null;
    for _ in 0..100 {
        let stored: Value = client()
            .get(server.url(&format!("/workflows/slow/runs/{run_id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = stored["status"].clone();
        if status == "CANCELLED" {
            assert_eq!(stored["step_results"].as_array().unwrap().len(), 1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "CANCELLED");

    let output: Value = run(&server, "broken", "x", false)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(output["status"], "ERROR");
    let text = output.to_string();
    assert!(!text.contains("secret"), "{text}");
    assert_eq!(
        output["content"],
        "step 'boom' failed because of an internal error"
    );
}

#[tokio::test]
async fn a_factory_builds_each_run_its_workflow_from_typed_input_and_bad_input_starts_nothing() {
    let server = server().await;
    let post = |input: &'static str| {
        client()
            .post(server.url("/workflows/tiered/runs"))
            .multipart(form(&[
                ("message", "draft"),
                ("stream", "false"),
                ("user_id", "grace"),
                ("factory_input", input),
            ]))
            .send()
    };
    let output: Value = post(r#"{"passes": 2}"#)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(output["status"], "COMPLETED", "{output}");
    let names: Vec<&str> = output["step_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pass 1", "pass 2", "write"]);
    assert!(
        output["content"]
            .as_str()
            .unwrap()
            .contains("reply to: draft +1 +2"),
        "{output}"
    );

    for bad in [r#"{"passes": 7}"#, r#"{"passes": "two"}"#, "{}"] {
        let refused = post(bad).await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error_code"], "invalid_factory_input", "{bad}: {body}");
        // A field that is there but wrong is named by its path; a missing one, by the message.
        let named = body["errors"][0]["loc"] == serde_json::json!(["passes"])
            || body["detail"].as_str().unwrap().contains("`passes`");
        assert!(named, "{bad}: {body}");
    }
    let sessions: Value = client()
        .get(server.url("/sessions?type=workflow&user_id=grace"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions["data"].as_array().unwrap().len(),
        1,
        "only the good run started"
    );

    // A workflow whose steps share a name is refused before it runs, and the answer says
    // nothing of why (the log does).
    let refused = client()
        .post(server.url("/workflows/twice/runs"))
        .multipart(form(&[("message", "x"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!refused.text().await.unwrap().contains("same"));
}

#[tokio::test]
async fn a_static_workflow_with_two_steps_of_one_name_is_refused_at_build() {
    let repeated = Workflow::new("Twice").with_steps([
        Step::function("same", |_: StepInput| "one"),
        Steps::new("inner", [Step::function("same", |_: StepInput| "two")]),
    ]);
    let refused = AgentOs::builder().workflow(repeated).build().await;
    match refused {
        Err(agentos::BuildError::DuplicateStepName { workflow, step }) => {
            assert_eq!((workflow.as_str(), step.as_str()), ("twice", "same"));
        }
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a workflow with two steps named 'same' was accepted"),
    }
}

/// The step requirements of a paused workflow's run, each call approved, as agno's client
/// sends them back.
fn approve_all(paused: &Value) -> String {
    let mut requirements = paused["step_requirements"].clone();
    for step in requirements.as_array_mut().unwrap() {
        for requirement in step["executor_requirements"].as_array_mut().unwrap() {
            requirement["confirmation"] = json!(true);
            requirement["tool_execution"]["confirmed"] = json!(true);
        }
    }
    requirements.to_string()
}

async fn get_json(server: &TestServer, path: &str) -> (StatusCode, Value) {
    let answer = client().get(server.url(path)).send().await.unwrap();
    let status = answer.status();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_step_whose_agent_waits_pauses_the_workflow_and_it_goes_on_after_a_restart() {
    let db = Arc::new(TestDb::new().await);
    let paused: Value = {
        let server = TestServer::on(os(), db.clone()).await;
        client()
            .post(server.url("/workflows/approved-post/runs"))
            .multipart(form(&[
                ("message", "spring sale"),
                ("stream", "false"),
                ("user_id", "ada"),
                ("factory_input", r#"{"desk": "news"}"#),
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    assert_eq!(paused["paused_step_index"], 1);
    assert_eq!(paused["paused_step_name"], "publish");
    assert_eq!(paused["pause_kind"], "executor");
    let step = &paused["step_requirements"][0];
    assert_eq!(step["requires_executor_input"], true);
    assert_eq!(step["executor_type"], "agent");
    assert_eq!(
        step["executor_requirements"][0]["tool_execution"]["tool_name"],
        "publish"
    );
    assert_eq!(paused["step_executor_runs"][0]["status"], "PAUSED");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let session_id = paused["session_id"].as_str().unwrap().to_owned();

    // A new server on the same database: the run is read back paused, and goes on there, its
    // workflow built again from the stored input.
    let server = TestServer::on(os(), db.clone()).await;
    let run_path = format!("/workflows/approved-post/runs/{run_id}");
    let (status, stored) = get_json(&server, &format!("{run_path}?user_id=ada")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["status"], "PAUSED");
    assert_eq!(stored["step_requirements"], paused["step_requirements"]);

    let answers = approve_all(&paused);
    let continue_as = |user: &'static str, stream: &'static str| {
        client()
            .post(server.url(&format!("{run_path}/continue")))
            .multipart(form(&[
                ("step_requirements", answers.as_str()),
                ("session_id", session_id.as_str()),
                ("user_id", user),
                ("stream", stream),
            ]))
            .send()
    };
    let someone_else = continue_as("bob", "false").await.unwrap();
    assert_eq!(someone_else.status(), StatusCode::NOT_FOUND);

    let streamed = continue_as("ada", "true").await.unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);
    let frames = parse_sse(&streamed.text().await.unwrap());
    let names: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"StepExecutorContinued"), "{names:?}");
    assert!(names.contains(&"RunContinued"), "{names:?}");
    assert_eq!(names.last(), Some(&"WorkflowCompleted"), "{names:?}");
    assert!(
        frames
            .iter()
            .all(|f| f.data["run_id"] == run_id.as_str()
                || f.data["parent_run_id"] == run_id.as_str()),
        "every event is the workflow's or its step's"
    );

    let (_, done) = get_json(&server, &format!("{run_path}?user_id=ada")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let content = done["content"].as_str().unwrap();
    assert!(content.starts_with("logged: "), "{content}");
    assert!(
        content.contains("published: "),
        "the approved call ran: {content}"
    );
    assert!(content.contains("[news] spring sale"), "{content}");
    let runs = done["step_executor_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "the agent's run went on as the same run");
    assert_eq!(runs[0]["status"], "COMPLETED");
    assert_eq!(runs[0]["run_id"], paused["step_executor_runs"][0]["run_id"]);
    let steps = done["step_results"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert!(steps.iter().all(|step| step["success"] == true));

    // Continued once: a second continue finds it no longer paused.
    let again = continue_as("ada", "false").await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
}
