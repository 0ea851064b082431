//! Tools that wait for a person: a run pauses before such a tool runs, is stored PAUSED, and
//! continues through agno's `POST .../continue` as the same run, rebuilt through its factory
//! with the stored input and the caller's identity. Over HTTP, streamed and whole, for an agent
//! factory and for a team whose member pauses; on SQLite by default and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agentos::TestModel;
use agentos::ToolFunction;
use agentos::prelude::*;
use agentos::server::JwtAuth;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::db::TestDb;
use support::{SseReader, TestServer, client, form, token};

const SECRET: &[u8] = b"human-in-the-loop-secret-with-32-bytes!!";

/// Refunds actually issued, by the desk whose agent issued them, so a test sees whether the
/// tool ran. Tests of this binary run in parallel: each that counts uses a desk of its own.
static REFUNDS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn refunds_of(desk: &str) -> usize {
    REFUNDS.lock().unwrap().get(desk).copied().unwrap_or(0)
}

/// Refunds money to the customer's card.
#[tool(requires_confirmation)]
fn issue_refund(
    /// The order to refund.
    order_id: String,
    /// The amount, in cents.
    amount_cents: i64,
) -> String {
    format!("refunded {amount_cents} cents on order {order_id}")
}

/// `issue_refund` as one desk's agent has it: the same tool, its calls counted for the desk.
struct DeskRefund {
    desk: String,
}

impl ToolFunction for DeskRefund {
    fn definition(&self) -> agentos::ToolDefinition {
        issue_refund.definition()
    }

    fn pause_for(&self) -> Option<agentos::PauseFor> {
        issue_refund.pause_for()
    }

    fn call(
        &self,
        arguments: Value,
    ) -> futures_util::future::BoxFuture<'static, Result<String, agentos::ToolError>> {
        *REFUNDS
            .lock()
            .unwrap()
            .entry(self.desk.clone())
            .or_default() += 1;
        issue_refund.call(arguments)
    }
}

/// Looks an order up.
#[tool]
fn lookup_order(
    /// The order number.
    order_id: String,
) -> String {
    format!("order {order_id} shipped")
}

/// Sends an email the person writes the address of.
#[tool(requires_user_input = ["to"])]
fn send_email(
    /// Who to send it to.
    to: String,
    /// What to say.
    body: String,
) -> String {
    format!("sent to {to}: {body}")
}

/// Charges the card on the client's own payment terminal.
#[tool(external_execution)]
fn charge_on_terminal(
    /// The amount, in cents.
    amount_cents: i64,
) -> String {
    unreachable!("the client runs this tool, {amount_cents}")
}

#[derive(Deserialize, Validate, JsonSchema)]
struct DeskConfig {
    /// Which desk the agent works for: required, so a rebuild without it would fail.
    #[garde(length(min = 1))]
    desk: String,
}

#[agent_factory(id = "refund-agent", input = DeskConfig)]
fn refund_agent(ctx: RequestContext<DeskConfig>) -> Agent {
    Agent::new("Refund Agent")
        .with_model(TestModel::new())
        .with_instruction(format!("You work for the {} desk.", ctx.input.desk))
        .with_tool(DeskRefund {
            desk: ctx.input.desk.clone(),
        })
        .with_tool(lookup_order)
}

#[agent_factory(id = "mail-agent")]
fn mail_agent() -> Agent {
    Agent::new("Mail Agent")
        .with_model(TestModel::new())
        .with_tool(send_email)
}

#[agent_factory(id = "terminal-agent")]
fn terminal_agent() -> Agent {
    Agent::new("Terminal Agent")
        .with_model(TestModel::new())
        .with_tool(charge_on_terminal)
}

#[team_factory(id = "approval-team")]
fn approval_team(ctx: RequestContext) -> Team {
    let tenant = ctx.user_id().unwrap_or("anonymous");
    Team::new("Approval Team")
        .with_model(TestModel::new())
        .with_instruction(format!("You help tenant {tenant}."))
        .with_members([
            Agent::new("Billing Agent")
                .with_model(TestModel::new())
                .with_tool(issue_refund)
                .with_tool(lookup_order),
            Agent::new("Tech Support Agent").with_model(TestModel::new()),
        ])
}

fn os() -> agentos::AgentOsBuilder {
    AgentOs::builder()
        .agent(refund_agent)
        .agent(mail_agent)
        .agent(terminal_agent)
        .team(approval_team)
}

async fn post(
    server: &TestServer,
    bearer: Option<&str>,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().post(server.url(path)).multipart(form(fields));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    request.send().await.unwrap()
}

async fn json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The tool executions a paused output asks about, with `confirmed` set, as agno's client
/// sends them back.
fn confirm(paused: &Value, confirmed: bool, note: Option<&str>) -> String {
    let tools: Vec<Value> = paused["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|tool| tool["requires_confirmation"] == true)
        .map(|tool| {
            let mut tool = tool.clone();
            tool["confirmed"] = json!(confirmed);
            if let Some(note) = note {
                tool["confirmation_note"] = json!(note);
            }
            tool
        })
        .collect();
    serde_json::to_string(&tools).unwrap()
}

#[tokio::test]
async fn a_confirmed_call_runs_and_the_run_completes_as_the_same_run() {
    // Only this test uses this desk, so the refunds counted for it are this test's.
    const DESK: &str = "returns";
    let server = TestServer::with(os()).await;
    let (status, paused) = json(
        post(
            &server,
            None,
            "/agents/refund-agent/runs",
            &[
                ("message", "please refund order 7"),
                ("stream", "false"),
                ("factory_input", r#"{"desk": "returns"}"#),
                ("user_id", "ada"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let session_id = paused["session_id"].as_str().unwrap().to_owned();
    let refund = paused["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == "issue_refund")
        .unwrap();
    assert_eq!(refund["requires_confirmation"], true);
    assert!(refund["result"].is_null(), "it has not run: {refund}");
    let lookup = paused["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == "lookup_order")
        .unwrap();
    assert!(
        lookup["result"].as_str().unwrap().contains("shipped"),
        "the other call ran"
    );
    let requirements = paused["requirements"].as_array().unwrap();
    assert_eq!(requirements.len(), 1);
    assert_eq!(
        requirements[0]["tool_execution"]["tool_name"],
        "issue_refund"
    );
    let before = refunds_of(DESK);

    // Stored as paused.
    let stored: Value = client()
        .get(server.url(&format!("/agents/refund-agent/runs/{run_id}?user_id=ada")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["status"], "PAUSED");

    let path = format!("/agents/refund-agent/runs/{run_id}/continue");
    let (status, done) = json(
        post(
            &server,
            None,
            &path,
            &[
                ("tools", &confirm(&paused, true, None)),
                ("session_id", &session_id),
                ("user_id", "ada"),
                ("stream", "false"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["run_id"], run_id.as_str());
    assert_eq!(refunds_of(DESK), before + 1, "the refund ran once");
    assert!(
        done["content"].as_str().unwrap().contains("refunded"),
        "{done}"
    );
    let refund = done["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == "issue_refund")
        .unwrap();
    assert_eq!(refund["confirmed"], true);

    // Continued once: a second continue finds it no longer paused.
    let (status, body) = json(
        post(
            &server,
            None,
            &path,
            &[("tools", "[]"), ("user_id", "ada"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn a_rejected_call_sends_the_refusal_and_the_note_to_the_model() {
    const DESK: &str = "complaints";
    let server = TestServer::with(os()).await;
    let (_, paused) = json(
        post(
            &server,
            None,
            "/agents/refund-agent/runs",
            &[
                ("message", "refund order 8"),
                ("stream", "false"),
                ("factory_input", r#"{"desk": "complaints"}"#),
            ],
        )
        .await,
    )
    .await;
    let run_id = paused["run_id"].as_str().unwrap();
    let before = refunds_of(DESK);
    let (status, done) = json(
        post(
            &server,
            None,
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[
                ("tools", &confirm(&paused, false, Some("over the limit"))),
                ("stream", "false"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(refunds_of(DESK), before, "the refund did not run");
    assert!(
        done["content"].as_str().unwrap().contains("over the limit"),
        "the model read the note: {done}"
    );
}

#[tokio::test]
async fn user_input_and_external_results_are_filled_in() {
    let server = TestServer::with(os()).await;
    let (_, paused) = json(
        post(
            &server,
            None,
            "/agents/mail-agent/runs",
            &[("message", "mail the report"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let mut tool = paused["tools"][0].clone();
    assert_eq!(tool["requires_user_input"], true);
    let schema = tool["user_input_schema"].as_array().unwrap();
    assert_eq!(schema.len(), 1);
    assert_eq!(schema[0]["name"], "to");
    assert_eq!(schema[0]["field_type"], "str");
    tool["user_input_schema"][0]["value"] = json!("ada@example.com");
    let run_id = paused["run_id"].as_str().unwrap();
    let (_, done) = json(
        post(
            &server,
            None,
            &format!("/agents/mail-agent/runs/{run_id}/continue"),
            &[("tools", &json!([tool]).to_string()), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(
        done["content"]
            .as_str()
            .unwrap()
            .contains("sent to ada@example.com"),
        "{done}"
    );

    let (_, paused) = json(
        post(
            &server,
            None,
            "/agents/terminal-agent/runs",
            &[("message", "charge 12 euros"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(paused["status"], "PAUSED");
    let mut tool = paused["tools"][0].clone();
    assert_eq!(tool["external_execution_required"], true);
    tool["result"] = json!("terminal approved the charge");
    let run_id = paused["run_id"].as_str().unwrap();
    let (_, done) = json(
        post(
            &server,
            None,
            &format!("/agents/terminal-agent/runs/{run_id}/continue"),
            &[("tools", &json!([tool]).to_string()), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert!(
        done["content"]
            .as_str()
            .unwrap()
            .contains("terminal approved")
    );
}

#[tokio::test]
async fn a_team_pauses_when_a_member_does_and_continues_through_its_requirements() {
    let server = TestServer::with(os().auth(JwtAuth::hs256(SECRET))).await;
    let ada = token(SECRET, "ada", json!([]));
    let response = post(
        &server,
        Some(&ada),
        "/teams/approval-team/runs",
        &[
            ("message", "billing-agent, refund order 9"),
            ("stream", "true"),
        ],
    )
    .await;
    let frames = SseReader::new(response).rest().await;
    let last = frames.last().unwrap();
    assert_eq!(
        last.event,
        "TeamRunPaused",
        "{:?}",
        frames.iter().map(|f| &f.event).collect::<Vec<_>>()
    );
    assert!(
        frames.iter().any(|f| f.event == "RunPaused"),
        "the member paused too"
    );
    let requirements = last.data["requirements"].as_array().unwrap().clone();
    assert_eq!(requirements.len(), 1);
    assert_eq!(requirements[0]["member_agent_id"], "billing-agent");
    assert_eq!(
        requirements[0]["tool_execution"]["tool_name"],
        "issue_refund"
    );
    let run_id = last.data["run_id"].as_str().unwrap().to_owned();
    let last_id: u64 = last.id.as_deref().unwrap().parse().unwrap();

    // Another user cannot continue it.
    let mallory = token(SECRET, "mallory", json!([]));
    let mut answer = requirements[0].clone();
    answer["confirmation"] = json!(true);
    answer["tool_execution"]["confirmed"] = json!(true);
    let answers = json!([answer]).to_string();
    let path = format!("/teams/approval-team/runs/{run_id}/continue");
    let (status, _) = json(
        post(
            &server,
            Some(&mallory),
            &path,
            &[("requirements", &answers), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its owner continues it, streamed: the events number on from the paused stream.
    let response = post(
        &server,
        Some(&ada),
        &path,
        &[("requirements", &answers), ("stream", "true")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let frames = SseReader::new(response).rest().await;
    assert_eq!(frames[0].event, "TeamRunContinued");
    let first_id: u64 = frames[0].id.as_deref().unwrap().parse().unwrap();
    assert_eq!(first_id, last_id + 1);
    assert_eq!(frames.last().unwrap().event, "TeamRunCompleted");
    assert!(
        frames.iter().any(|f| f.event == "RunContinued"),
        "the member went on"
    );

    let run: Value = client()
        .get(server.url(&format!("/teams/approval-team/runs/{run_id}")))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert!(
        run["content"].as_str().unwrap().contains("refunded"),
        "{run}"
    );
}

#[tokio::test]
async fn a_paused_run_continues_after_a_restart_with_its_stored_input() {
    let db = Arc::new(TestDb::new().await);
    let (run_id, paused) = {
        let server = TestServer::on(os(), db.clone()).await;
        let (_, paused) = json(
            post(
                &server,
                None,
                "/agents/refund-agent/runs",
                &[
                    ("message", "refund order 10"),
                    ("stream", "false"),
                    ("factory_input", r#"{"desk": "night shift"}"#),
                ],
            )
            .await,
        )
        .await;
        assert_eq!(paused["status"], "PAUSED");
        (paused["run_id"].as_str().unwrap().to_owned(), paused)
    };
    // A new server on the same database: the factory's required input comes from the store.
    let server = TestServer::on(os(), db.clone()).await;
    let (status, done) = json(
        post(
            &server,
            None,
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[
                ("tools", &confirm(&paused, true, None)),
                ("stream", "false"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");

    // A run that is not paused (finished, or never paused) cannot be continued.
    let (status, _) = json(
        post(
            &server,
            None,
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[("tools", "[]"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_undecided_call_keeps_the_run_paused() {
    let server = TestServer::with(os()).await;
    let (_, paused) = json(
        post(
            &server,
            None,
            "/agents/refund-agent/runs",
            &[
                ("message", "refund order 11"),
                ("stream", "false"),
                ("factory_input", r#"{"desk": "exchanges"}"#),
            ],
        )
        .await,
    )
    .await;
    let run_id = paused["run_id"].as_str().unwrap();
    // An answer that decides nothing.
    let (status, still) = json(
        post(
            &server,
            None,
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[("tools", "[]"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["status"], "PAUSED", "{still}");
    assert_eq!(still["requirements"].as_array().unwrap().len(), 1);
    let (status, done) = json(
        post(
            &server,
            None,
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[("tools", &confirm(&still, true, None)), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(done["status"], "COMPLETED", "{done}");
}
