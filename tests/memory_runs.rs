//! Memory in runs: a user's memories reach the system prompts of the components that opt in
//! (a team's members included), read from the requests the model receives; another user's,
//! and the same user id's in another tenant, never do. Runs on SQLite, and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres` (as `.ci/run` does).

mod support;

use std::sync::Arc;

use agentos::model::{Model, Role};
use agentos::server::JwtAuth;
use agentos::{Agent, Memory, Team, TestModel};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Recorder, TestServer, client, form};

const SECRET: &[u8] = b"memory-runs-test-secret-of-32-bytes";

fn token(sub: &str, tenant: &str) -> String {
    let claims = json!({"sub": sub, "tenant": tenant, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("token")
}

/// The models of the served components, each recording what it was sent.
struct Models {
    concierge: Arc<Recorder>,
    member: Arc<Recorder>,
    plain: Arc<Recorder>,
}

fn recording(recorder: &Arc<Recorder>) -> Arc<dyn Model> {
    recorder.clone()
}

async fn server() -> (TestServer, Models) {
    let models = Models {
        concierge: Arc::default(),
        member: Arc::default(),
        plain: Arc::default(),
    };
    let builder = agentos::AgentOs::builder()
        .agent(
            Agent::new("Concierge")
                .with_model(recording(&models.concierge))
                .with_memory(Memory::read_only()),
        )
        .agent(Agent::new("Plain").with_model(recording(&models.plain)))
        .team(
            Team::new("Front Desk")
                .with_model(TestModel::new())
                .with_members([Agent::new("Greeter")
                    .with_model(recording(&models.member))
                    .with_memory(Memory::read_only().with_max_memories(1))]),
        )
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    (TestServer::with(builder).await, models)
}

/// The system prompt of the last request `recorder` answered ("" without one).
fn last_system_prompt(recorder: &Recorder) -> String {
    let requests = recorder.requests.lock().unwrap();
    let request = requests.last().expect("the model was called");
    request
        .messages
        .iter()
        .find(|message| message.role == Role::System)
        .map(|system| system.content.clone())
        .unwrap_or_default()
}

async fn remember(server: &TestServer, token: &str, fact: &str) {
    let response = client()
        .post(server.url("/memories"))
        .bearer_auth(token)
        .json(&json!({"memory": fact}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn run(server: &TestServer, path: &str, token: &str, message: &str) -> Value {
    let response = client()
        .post(server.url(path))
        .bearer_auth(token)
        .multipart(form(&[("message", message), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_users_memories_reach_the_prompts_of_opted_in_components_only_for_that_user() {
    let (server, models) = server().await;
    let alice = token("alice", "acme");
    remember(&server, &alice, "Alice is vegetarian").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    remember(&server, &alice, "Alice lives in Porto").await;
    remember(&server, &token("bob", "acme"), "Bob is allergic to nuts").await;
    remember(
        &server,
        &token("alice", "globex"),
        "Globex Alice eats steak",
    )
    .await;

    run(&server, "/agents/concierge/runs", &alice, "Plan my dinner").await;
    let prompt = last_system_prompt(&models.concierge);
    assert!(
        prompt.contains("<memories_from_previous_interactions>"),
        "{prompt}"
    );
    let vegetarian = prompt
        .find("- Alice is vegetarian")
        .expect("her first memory");
    let porto = prompt
        .find("- Alice lives in Porto")
        .expect("her second memory");
    assert!(porto < vegetarian, "the most recent first: {prompt}");
    assert!(!prompt.contains("Bob"), "another user's memory: {prompt}");
    assert!(
        !prompt.contains("steak"),
        "another tenant's memory: {prompt}"
    );

    // A team's member with memory sees them too, under its own cap.
    let answer = run(&server, "/teams/front-desk/runs", &alice, "Plan my dinner").await;
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    let prompt = last_system_prompt(&models.member);
    assert!(prompt.contains("- Alice lives in Porto"), "{prompt}");
    assert!(
        !prompt.contains("vegetarian"),
        "capped at one memory: {prompt}"
    );

    // A user without memories is told so; a component without memory hears nothing of them.
    run(
        &server,
        "/agents/concierge/runs",
        &token("carol", "acme"),
        "Hello",
    )
    .await;
    let prompt = last_system_prompt(&models.concierge);
    assert!(
        prompt.contains("do not know anything about this user yet"),
        "{prompt}"
    );
    assert!(!prompt.contains("Alice"), "{prompt}");
    run(&server, "/agents/plain/runs", &alice, "Plan my dinner").await;
    let prompt = last_system_prompt(&models.plain);
    assert!(
        !prompt.contains("vegetarian") && !prompt.contains("remember"),
        "{prompt}"
    );
}

/// Polls `check` every 20 ms for up to 10 s, until it holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn memories_of(server: &TestServer, token: &str) -> Vec<Value> {
    let page: Value = client()
        .get(server.url("/memories"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["data"].as_array().cloned().unwrap_or_default()
}

/// The stored run's total tokens.
async fn stored_tokens(server: &TestServer, agent: &str, run_id: &str, token: &str) -> u64 {
    let run: Value = client()
        .get(server.url(&format!("/agents/{agent}/runs/{run_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    run["metrics"]["total_tokens"].as_u64().unwrap_or_default()
}

#[tokio::test]
async fn a_fact_told_in_one_session_reaches_the_next_sessions_prompt_through_the_mock() {
    let mock = agentos::testing::MockOpenAi::start().await;
    let model = agentos::model::OpenAIResponses::new("gpt-4o-mini")
        .with_base_url(mock.base_url())
        .with_api_key("sk-memory-test");
    let builder = agentos::AgentOs::builder()
        .agent(
            Agent::new("Chef")
                .with_model(model)
                .with_memory(Memory::after_run()),
        )
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    let server = TestServer::with(builder).await;
    let alice = token("alice", "acme");

    let told = "I am vegetarian and I live in Porto";
    let first = run(&server, "/agents/chef/runs", &alice, told).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    let answered_tokens = first["metrics"]["total_tokens"].as_u64().unwrap();
    // The capture's tokens join the run's once it is done; the memory is then written.
    eventually("the capture's tokens are the run's", || async {
        stored_tokens(&server, "chef", &run_id, &alice).await > answered_tokens
    })
    .await;
    let memories = memories_of(&server, &alice).await;
    assert_eq!(memories.len(), 1, "{memories:?}");
    assert_eq!(memories[0]["memory"], told);
    assert_eq!(memories[0]["agent_id"], "chef");

    // Another session: the model is sent what Alice told, and only to Alice's runs. (The
    // captures after those runs are requests of their own, offering `add_memory`.)
    let asked = |text: &'static str| {
        let mock = &mock;
        move || {
            mock.recent_requests()
                .into_iter()
                .map(|body| body.to_string())
                .rfind(|body| body.contains(text) && !body.contains("add_memory"))
                .expect("the mock saw the run")
        }
    };
    run(
        &server,
        "/agents/chef/runs",
        &alice,
        "What should I cook tonight?",
    )
    .await;
    let sent = asked("What should I cook tonight?")();
    assert!(
        sent.contains("<memories_from_previous_interactions>"),
        "{sent}"
    );
    assert!(sent.contains(told), "{sent}");
    for stranger in [token("bob", "acme"), token("alice", "globex")] {
        run(
            &server,
            "/agents/chef/runs",
            &stranger,
            "Suggest a dish for me",
        )
        .await;
        let sent = asked("Suggest a dish for me")();
        assert!(!sent.contains("vegetarian"), "{sent}");
    }

    // Told again, the fact is not stored twice.
    let again = run(&server, "/agents/chef/runs", &alice, told).await;
    let again_id = again["run_id"].as_str().unwrap().to_owned();
    let again_tokens = again["metrics"]["total_tokens"].as_u64().unwrap();
    eventually("the second capture is done", || async {
        stored_tokens(&server, "chef", &again_id, &alice).await > again_tokens
    })
    .await;
    let memories = memories_of(&server, &alice).await;
    let texts: Vec<&Value> = memories.iter().map(|m| &m["memory"]).collect();
    assert_eq!(texts.iter().filter(|m| **m == told).count(), 1, "{texts:?}");
}

/// A model that waits for a go-ahead before each answer, counting the calls it received.
struct Gated {
    gate: tokio::sync::Semaphore,
    calls: std::sync::atomic::AtomicUsize,
    inner: TestModel,
}

impl Model for Gated {
    fn id(&self) -> &str {
        "gated"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(
        &self,
        request: agentos::ModelRequest,
    ) -> futures_util::future::BoxFuture<'_, Result<agentos::ModelResponse, agentos::ModelError>>
    {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            let _permit = self.gate.acquire().await.expect("the gate stays open");
            Ok(self.inner.respond(&request))
        })
    }
}

/// A model whose every call fails.
struct Failing;

impl Model for Failing {
    fn id(&self) -> &str {
        "failing"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(
        &self,
        _request: agentos::ModelRequest,
    ) -> futures_util::future::BoxFuture<'_, Result<agentos::ModelResponse, agentos::ModelError>>
    {
        Box::pin(std::future::ready(Err(agentos::ModelError::Status {
            status: 500,
            message: "the capture model is down".into(),
        })))
    }
}

/// Log lines, kept for the test to read.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn capture_runs_after_the_answer_and_a_failing_capture_leaves_the_run_completed() {
    let logs = Logs::default();
    let writer = logs.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let gated = Arc::new(Gated {
        gate: tokio::sync::Semaphore::new(0),
        calls: Default::default(),
        inner: TestModel::new(),
    });
    let builder = agentos::AgentOs::builder()
        .agent(
            Agent::new("Slow Memory")
                .with_model(TestModel::new())
                .with_memory(Memory::after_run().with_model(gated.clone() as Arc<dyn Model>)),
        )
        .agent(
            Agent::new("Broken Memory")
                .with_model(TestModel::new())
                .with_memory(Memory::after_run().with_model(Arc::new(Failing) as Arc<dyn Model>)),
        )
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    let server = TestServer::with(builder).await;
    let dana = token("dana", "acme");

    // The answer comes while the capture's model is still held.
    let answer = run(
        &server,
        "/agents/slow-memory/runs",
        &dana,
        "I play the cello",
    )
    .await;
    assert_eq!(answer["status"], "COMPLETED");
    eventually("the capture asked its model", || async {
        gated.calls.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    assert!(memories_of(&server, &dana).await.is_empty());
    gated.gate.add_permits(1);
    eventually("the held capture is written", || async {
        memories_of(&server, &dana).await.len() == 1
    })
    .await;

    // A capture that fails changes nothing of the run and writes nothing; the log says why.
    let erin = token("erin", "acme");
    let answer = run(
        &server,
        "/agents/broken-memory/runs",
        &erin,
        "I am left-handed",
    )
    .await;
    assert_eq!(answer["status"], "COMPLETED");
    let run_id = answer["run_id"].as_str().unwrap().to_owned();
    eventually("the failure is logged", || async {
        String::from_utf8_lossy(&logs.0.lock().unwrap()).contains("memory capture failed")
    })
    .await;
    let stored: Value = client()
        .get(server.url(&format!("/agents/broken-memory/runs/{run_id}")))
        .bearer_auth(&erin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "COMPLETED");
    assert_eq!(
        stored["metrics"]["total_tokens"],
        answer["metrics"]["total_tokens"]
    );
    assert!(memories_of(&server, &erin).await.is_empty());
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains(&run_id), "{logged}");
}

#[tokio::test]
async fn an_agent_with_agentic_memory_changes_its_users_memories_during_the_run() {
    let builder = agentos::AgentOs::builder()
        .agent(
            Agent::new("Diary")
                .with_model(TestModel::new())
                .with_memory(Memory::agentic()),
        )
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    let server = TestServer::with(builder).await;
    let frank = token("frank", "acme");

    let answer = run(
        &server,
        "/agents/diary/runs",
        &frank,
        "I have a dog named Rex",
    )
    .await;
    assert_eq!(answer["status"], "COMPLETED", "{answer}");
    let tools = answer["tools"].as_array().expect("the run's tool calls");
    let call = tools
        .iter()
        .find(|t| t["tool_name"] == "update_user_memory")
        .expect("the model called the memory tool");
    assert_eq!(call["tool_args"]["task"], "I have a dog named Rex");
    assert!(
        call["result"]
            .as_str()
            .unwrap()
            .contains("Remembered: I have a dog named Rex"),
        "{call}"
    );
    // Written during the run: there when the answer is.
    let memories = memories_of(&server, &frank).await;
    assert_eq!(memories.len(), 1, "{memories:?}");
    assert_eq!(memories[0]["memory"], "I have a dog named Rex");
    assert_eq!(memories[0]["agent_id"], "diary");
    assert!(
        memories_of(&server, &token("frank", "globex"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_sessions_summary_is_written_after_its_runs_shown_in_its_json_and_read_in_place_of_old_history()
 {
    let coach = Arc::new(Recorder::default());
    let builder = agentos::AgentOs::builder().agent(
        Agent::new("Coach")
            .with_model(recording(&coach))
            .with_add_history_to_context(true)
            .with_num_history_runs(10)
            .with_session_summaries(agentos::SessionSummaries::new().with_recent_runs(1)),
    );
    let server = TestServer::with(builder).await;
    let say = |message: &'static str| {
        let url = server.url("/agents/coach/runs");
        async move {
            let response = client()
                .post(url)
                .multipart(form(&[
                    ("message", message),
                    ("stream", "false"),
                    ("user_id", "gina"),
                    ("session_id", "training"),
                ]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    let summary = || async {
        let session: Value = client()
            .get(server.url("/sessions/training?user_id=gina"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        session["session_summary"].clone()
    };

    say("My goal is a marathon in May").await;
    eventually("the session has a summary", || async {
        summary().await.is_object()
    })
    .await;
    let written = summary().await;
    assert!(
        written["summary"]
            .as_str()
            .unwrap()
            .contains("marathon in May"),
        "{written}"
    );
    assert!(written["updated_at"].as_str().unwrap().ends_with('Z'));

    say("I ran ten kilometres today").await;
    eventually("the summary covers the second run", || async {
        summary().await["summary"]
            .as_str()
            .is_some_and(|s| s.contains("ten kilometres"))
    })
    .await;
    say("How should I train this week?").await;
    let requests = coach.requests.lock().unwrap();
    let request = requests
        .iter()
        .rev()
        .find(|r| r.messages.last().unwrap().content == "How should I train this week?")
        .expect("the third run's request");
    let roles: Vec<Role> = request.messages.iter().map(|m| m.role).collect();
    // The system prompt, one earlier exchange (the latest), the message.
    assert_eq!(
        roles,
        [Role::System, Role::User, Role::Assistant, Role::User],
        "{:?}",
        request.messages
    );
    assert_eq!(request.messages[1].content, "I ran ten kilometres today");
    let system = &request.messages[0].content;
    assert!(
        system.contains("<summary_of_previous_interactions>"),
        "{system}"
    );
    assert!(
        system.contains("marathon in May"),
        "the older run, by its summary: {system}"
    );
}

#[tokio::test]
async fn a_captures_tokens_count_against_its_users_daily_budget() {
    let builder = |budget: Option<u64>| {
        let mut builder = agentos::AgentOs::builder()
            .agent(
                Agent::new("Keeper")
                    .with_model(TestModel::new())
                    .with_memory(Memory::after_run()),
            )
            .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
        if let Some(budget) = budget {
            builder =
                builder.user_limits(agentos::runs::UserLimits::default().daily_tokens(budget));
        }
        builder
    };
    let told = "My name is Dana and I sail on weekends";
    // Without a budget: what the answer uses, and what the run has used once its capture is in.
    let measured = TestServer::with(builder(None)).await;
    let dana = token("dana", "acme");
    let first = run(&measured, "/agents/keeper/runs", &dana, told).await;
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    let answered = first["metrics"]["total_tokens"].as_u64().unwrap();
    eventually("the capture's tokens are the run's", || async {
        stored_tokens(&measured, "keeper", &run_id, &dana).await > answered
    })
    .await;

    // A budget one token above the answer: the answer alone leaves room for another run; with
    // its capture counted, the day's budget is spent.
    let limited = TestServer::with(builder(Some(answered + 1))).await;
    let first = run(&limited, "/agents/keeper/runs", &dana, told).await;
    assert_eq!(first["status"], "COMPLETED", "{first}");
    let run_id = first["run_id"].as_str().unwrap().to_owned();
    eventually("the capture's tokens are the run's", || async {
        stored_tokens(&limited, "keeper", &run_id, &dana).await > answered
    })
    .await;
    let refused = client()
        .post(limited.url("/agents/keeper/runs"))
        .bearer_auth(&dana)
        .multipart(form(&[("message", "Anything else?"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("daily tokens"),
        "{body}"
    );
}

#[tokio::test]
async fn a_workflows_agent_step_that_reads_memories_sees_its_users() {
    let step_model: Arc<Recorder> = Arc::default();
    let workflow = agentos::workflow::Workflow::new("Planner Flow").with_steps([
        agentos::workflow::Step::function("restate", |input: agentos::workflow::StepInput| {
            format!("Plan: {}", input.message())
        }),
        agentos::workflow::Step::agent(
            "plan",
            Agent::new("Planner")
                .with_model(recording(&step_model))
                .with_memory(Memory::read_only()),
        ),
    ]);
    let builder = agentos::AgentOs::builder()
        .workflow(workflow)
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    let server = TestServer::with(builder).await;
    let alice = token("alice", "acme");
    remember(&server, &alice, "Alice is training for a marathon").await;
    remember(&server, &token("bob", "acme"), "Bob hates running").await;

    let output = run(&server, "/workflows/planner-flow/runs", &alice, "my week").await;
    assert_eq!(output["status"], "COMPLETED", "{output}");
    let prompt = last_system_prompt(&step_model);
    assert!(
        prompt.contains("Alice is training for a marathon"),
        "{prompt}"
    );
    assert!(!prompt.contains("Bob"), "{prompt}");
}

#[tokio::test]
async fn a_workflow_captures_once_from_the_users_message_with_its_first_capturing_step() {
    let workflow = agentos::workflow::Workflow::new("Intake Flow").with_steps([
        agentos::workflow::Step::function("restate", |input: agentos::workflow::StepInput| {
            format!("Restated: {}", input.message())
        }),
        agentos::workflow::Step::agent(
            "listen",
            Agent::new("Listener")
                .with_model(TestModel::new())
                .with_memory(Memory::after_run()),
        ),
        agentos::workflow::Step::agent(
            "echo",
            Agent::new("Echo")
                .with_model(TestModel::new())
                .with_memory(Memory::after_run()),
        ),
    ]);
    let builder = agentos::AgentOs::builder()
        .workflow(workflow)
        .auth(JwtAuth::hs256(SECRET).namespace_claim("tenant"));
    let server = TestServer::with(builder).await;
    let erin = token("erin", "acme");

    let output = run(
        &server,
        "/workflows/intake-flow/runs",
        &erin,
        "I keep bees on my roof",
    )
    .await;
    assert_eq!(output["status"], "COMPLETED", "{output}");
    eventually("the workflow's capture is written", || async {
        !memories_of(&server, &erin).await.is_empty()
    })
    .await;
    // Give a second capture, were there one, the time to land.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let memories = memories_of(&server, &erin).await;
    assert_eq!(
        memories.len(),
        1,
        "one capture a workflow run: {memories:?}"
    );
    let memory = &memories[0];
    assert!(
        memory["memory"].as_str().unwrap().contains("bees"),
        "from the user's own words, not a step's output: {memory}"
    );
    assert!(!memory["memory"].as_str().unwrap().contains("Restated"));
    assert_eq!(memory["agent_id"], "listener", "{memory}");
    assert!(
        memories_of(&server, &token("frank", "acme"))
            .await
            .is_empty()
    );
}
