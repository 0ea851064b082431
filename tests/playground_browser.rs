//! The playground page in a real browser: headless Chromium, driven over WebDriver by
//! fantoccini through a chromedriver this test starts. It picks a factory, fills the form built
//! from the factory's input schema, streams a run, then reloads the page and reopens the session.
//! Then human in the loop: an agent's run pauses at a tool that needs confirmation and goes on
//! once Approve is clicked; another is rejected with a note after a reload reopens it paused; a
//! team pauses with its member, labelled as the one asking; and user input and an external
//! result are filled in, one at a time, the undecided one keeping the run paused. Last, a
//! workflow: its steps' progress shows as they run, it pauses where its agent waits, and goes
//! on to its last step once the call is approved.
//!
//! Outside CI the test passes with a note when Chromium or chromedriver is missing; in CI
//! (`CI=true`) it always runs. It saves `target/artifacts/playground.png` and, among others,
//! `target/artifacts/playground-paused.png` (a paused run with its Approve / Reject buttons).

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Any single wait in the page; the offline model answers in milliseconds.
const WAIT: Duration = Duration::from_secs(15);
/// The whole browser session, so a hung browser fails the test instead of the CI job.
const WHOLE_TEST: Duration = Duration::from_secs(90);

/// Refunds issued, so the test sees whether an approval ran the tool and a rejection did not.
static REFUNDS: AtomicUsize = AtomicUsize::new(0);

/// Refunds money to the customer's card.
#[tool(requires_confirmation)]
fn issue_refund(
    /// The order to refund.
    order_id: String,
    /// The amount, in cents.
    amount_cents: i64,
) -> String {
    REFUNDS.fetch_add(1, Ordering::SeqCst);
    format!("refunded {amount_cents} cents on order {order_id}")
}

/// Sends an email to an address the person gives.
#[tool(requires_user_input = ["to"])]
fn send_email(
    /// Who gets it.
    to: String,
    /// What it says.
    body: String,
) -> String {
    format!("sent to {to}: {body}")
}

/// Charges the card on the shop's own terminal, which only the person can reach.
#[tool(external_execution)]
fn charge_on_terminal(
    /// The amount, in cents.
    amount_cents: i64,
) -> String {
    unreachable!("the person runs this tool, {amount_cents}")
}

#[agent_factory(id = "refund-agent", name = "Refund desk")]
fn refund_agent() -> Agent {
    Agent::new("Refund Agent")
        .with_model(TestModel::new())
        .with_tool(issue_refund)
}

#[agent_factory(id = "errand-agent", name = "Errands")]
fn errand_agent() -> Agent {
    Agent::new("Errand Agent")
        .with_model(TestModel::new())
        .with_tool(send_email)
        .with_tool(charge_on_terminal)
}

#[team_factory(id = "approval-team", name = "Approval Team")]
fn approval_team() -> Team {
    Team::new("Approval Team")
        .with_model(TestModel::new())
        .with_members([
            Agent::new("Billing Agent")
                .with_model(TestModel::new())
                .with_tool(issue_refund),
            Agent::new("Tech Support Agent").with_model(TestModel::new()),
        ])
}

/// A refund as a workflow: a ticket, the refund (which waits for a person), a receipt.
#[workflow_factory(id = "refund-flow", name = "Refund flow")]
fn refund_flow() -> Workflow {
    let refunder = Agent::new("Refund Agent")
        .with_model(TestModel::new())
        .with_tool(issue_refund);
    Workflow::new("Refund flow").with_steps([
        Step::function("ticket", |input: StepInput| {
            format!("ticket: {}", input.message())
        }),
        Step::agent("refund", refunder),
        Step::function("receipt", |input: StepInput| {
            format!("Receipt: {}", input.previous_or_message())
        }),
    ])
}

fn executable(name: &str, fallback: &str) -> Option<PathBuf> {
    let fallback = Path::new(fallback);
    if fallback.is_file() {
        return Some(fallback.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A chromedriver of our own on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        // chromedriver wants a port number, not a listener: take a free one and let it go.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped: each run gets a fresh Chromium profile.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("agentos-chromium-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Connects to chromedriver, retrying while it starts up.
async fn connect(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            // The background-networking flags matter: this machine refuses outside connections,
            // and Chromium would otherwise stall on them.
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last_error = String::new();
    for _ in 0..50 {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&driver.url)
            .await
        {
            Ok(client) => return client,
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "chromedriver at {} never answered: {last_error}",
        driver.url
    );
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("artifacts")
}

async fn screenshot(client: &Client, name: &str) -> Result<(), String> {
    let png = client.screenshot().await.map_err(|e| e.to_string())?;
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(name), png).map_err(|e| e.to_string())
}

async fn wait_for(client: &Client, css: &str) -> Result<fantoccini::elements::Element, String> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("waiting for `{css}`: {e}"))
}

async fn texts(client: &Client, css: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for element in client
        .find_all(Locator::Css(css))
        .await
        .map_err(|e| e.to_string())?
    {
        out.push(element.text().await.map_err(|e| e.to_string())?);
    }
    Ok(out)
}

fn check(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(what()) }
}

/// Polls `script` (the body of a function) until it returns something truthy.
async fn wait_until(
    client: &Client,
    what: &str,
    script: &str,
) -> Result<serde_json::Value, String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = client
            .execute(script, vec![])
            .await
            .map_err(|e| format!("waiting for {what}: {e}"))?;
        let truthy = match &value {
            serde_json::Value::Null => false,
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Number(n) => n.as_f64() != Some(0.0),
            serde_json::Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("waited {WAIT:?} for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(client: &Client, css: &str) -> Result<(), String> {
    wait_for(client, css)
        .await?
        .click()
        .await
        .map_err(|e| format!("clicking `{css}`: {e}"))
}

async fn type_into(client: &Client, css: &str, text: &str) -> Result<(), String> {
    wait_for(client, css)
        .await?
        .send_keys(text)
        .await
        .map_err(|e| format!("typing into `{css}`: {e}"))
}

async fn send_message(client: &Client, message: &str) -> Result<(), String> {
    type_into(client, "#message", message).await?;
    click(client, "#send").await
}

async fn attr(client: &Client, css: &str, name: &str) -> Result<Option<String>, String> {
    wait_for(client, css)
        .await?
        .attr(name)
        .await
        .map_err(|e| e.to_string())
}

async fn no_errors(client: &Client, when: &str) -> Result<(), String> {
    let errors = texts(client, r#"[data-testid="error"]"#).await?;
    check(errors.is_empty(), || {
        format!("{when}: the page shows errors: {errors:?}")
    })
}

/// The whole visit; errors are returned, not panicked, so the browser is always closed.
async fn drive(client: &Client, base: &str) -> Result<(), String> {
    streams_and_reopens(client, base).await?;
    approve_a_paused_agent_run(client).await?;
    reject_a_paused_run_after_reopening_it(client).await?;
    approve_for_a_team_member(client).await?;
    fill_in_user_input_then_an_external_result(client).await?;
    approve_a_run_paused_elsewhere(client).await?;
    approve_a_paused_workflow_step(client).await
}

/// The state a workflow's step shows in its progress list.
async fn step_state(client: &Client, step: &str) -> Result<Option<String>, String> {
    attr(
        client,
        &format!(r#"[data-testid="workflow-step"][data-step="{step}"]"#),
        "data-state",
    )
    .await
}

/// A workflow shows its steps as they run, pauses where its agent waits (the card names the
/// step), and runs its last step once the call is approved.
async fn approve_a_paused_workflow_step(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="component-workflow-refund-flow"]"#).await?;
    let refunds = REFUNDS.load(Ordering::SeqCst);
    send_message(client, "please refund order 11").await?;
    let card = r#"[data-testid="pause"] [data-testid="requirement"]"#;
    wait_for(client, card).await?;
    let tool = attr(client, card, "data-tool").await?;
    check(tool.as_deref() == Some("issue_refund"), || {
        format!("the paused call is {tool:?}")
    })?;
    let asker = texts(client, r#"[data-testid="requirement-member"]"#).await?;
    check(
        asker
            .last()
            .is_some_and(|who| who.contains("Refund Agent") && who.contains("step refund")),
        || format!("who asks: {asker:?}"),
    )?;
    let states = (
        step_state(client, "ticket").await?,
        step_state(client, "refund").await?,
    );
    check(
        states == (Some("done".into()), Some("waiting".into())),
        || format!("ticket and refund show {states:?}"),
    )?;
    let receipt = client
        .find_all(Locator::Css(
            r#"[data-testid="workflow-step"][data-step="receipt"]"#,
        ))
        .await
        .map_err(e)?;
    check(receipt.is_empty(), || {
        "the receipt ran before the refund".into()
    })?;
    wait_until(
        client,
        "the status to be idle",
        r#"return document.getElementById("status").textContent === "idle";"#,
    )
    .await?;
    no_errors(client, "the workflow paused").await?;

    let approve = client
        .find_all(Locator::Css(r#"[data-testid="approve"]"#))
        .await
        .map_err(e)?;
    approve
        .last()
        .ok_or("no Approve button")?
        .click()
        .await
        .map_err(e)?;
    let go_on = client
        .find_all(Locator::Css(r#"[data-testid="continue"]"#))
        .await
        .map_err(e)?;
    go_on
        .last()
        .ok_or("no Continue button")?
        .click()
        .await
        .map_err(e)?;
    wait_until(
        client,
        "the workflow's answer",
        r#"const done = [...document.querySelectorAll('[data-testid="final-answer"][data-done="1"]')];
           const last = done[done.length - 1];
           return last && last.textContent.includes("Receipt:") ? last.textContent : null;"#,
    )
    .await?;
    check(REFUNDS.load(Ordering::SeqCst) == refunds + 1, || {
        "the approved refund ran once".into()
    })?;
    let states = (
        step_state(client, "refund").await?,
        step_state(client, "receipt").await?,
    );
    check(states == (Some("done".into()), Some("done".into())), || {
        format!("refund and receipt show {states:?}")
    })?;
    no_errors(client, "the workflow went on").await?;
    screenshot(client, "playground-workflow.png").await?;

    // Reopened after a reload, the stored run shows its steps, its answered pause and its end.
    let session_id = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;
    client.refresh().await.map_err(e)?;
    wait_for(
        client,
        &format!(r#"[data-testid="session-item"][data-session-id="{session_id}"]"#),
    )
    .await?
    .click()
    .await
    .map_err(e)?;
    wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#).await?;
    let states = (
        step_state(client, "ticket").await?,
        step_state(client, "refund").await?,
        step_state(client, "receipt").await?,
    );
    check(
        states
            == (
                Some("done".into()),
                Some("done".into()),
                Some("done".into()),
            ),
        || format!("the reopened run's steps show {states:?}"),
    )?;
    let paused = attr(client, r#"[data-testid="pause"]"#, "data-state").await?;
    check(paused.as_deref() == Some("answered"), || {
        format!("the reopened run's pause is {paused:?}")
    })?;
    no_errors(client, "the workflow reopened").await
}

/// A factory's form, a streamed team run, the session reopened after a reload, an agent's
/// run, and a refusal.
async fn streams_and_reopens(client: &Client, base: &str) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    client
        .goto(&format!("{base}/playground"))
        .await
        .map_err(|e| e.to_string())?;

    // The factory and the form its input schema describes.
    wait_for(
        client,
        r#"[data-testid="component-team-configurable-support-team"]"#,
    )
    .await?
    .click()
    .await
    .map_err(e)?;
    let reviewer = wait_for(client, r#"[data-testid="field-include_reviewer"]"#).await?;
    check(
        reviewer.attr("type").await.map_err(e)?.as_deref() == Some("checkbox"),
        || "include_reviewer is not a checkbox".into(),
    )?;
    reviewer.click().await.map_err(e)?;
    let rounds = wait_for(client, r#"[data-testid="field-review_rounds"]"#).await?;
    let rounds_value = rounds.prop("value").await.map_err(e)?;
    check(rounds_value.as_deref() == Some("1"), || {
        format!("review_rounds should show its default 1, shows {rounds_value:?}")
    })?;

    // A streamed run: delegations, each member's answer, the final answer.
    let session_id = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;
    check(session_id.len() == 36, || {
        format!("session id {session_id:?}")
    })?;
    let message = "My invoice is wrong and the app crashes";
    wait_for(client, "#message")
        .await?
        .send_keys(message)
        .await
        .map_err(e)?;
    wait_for(client, "#send").await?.click().await.map_err(e)?;
    wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#).await?;
    let errors = texts(client, r#"[data-testid="error"]"#).await?;
    check(errors.is_empty(), || {
        format!("the page shows errors: {errors:?}")
    })?;
    let delegations = texts(client, r#"[data-testid="delegation"]"#).await?;
    check(
        delegations.iter().any(|d| d.contains("Reviewer Agent")),
        || format!("no delegation to the reviewer (the form's checkbox): {delegations:?}"),
    )?;
    let member_answers = texts(client, r#"[data-testid="member-answer"]"#).await?;
    check(
        !member_answers.is_empty() && member_answers.iter().all(|a| !a.trim().is_empty()),
        || format!("every delegation should show its member's answer: {member_answers:?}"),
    )?;
    let finals = texts(client, r#"[data-testid="final-answer"]"#).await?;
    check(finals.len() == 1 && !finals[0].trim().is_empty(), || {
        format!("final answer: {finals:?}")
    })?;
    screenshot(client, "playground.png").await?;

    // After a reload the session is listed and reopens from the stored runs.
    client.refresh().await.map_err(e)?;
    wait_for(
        client,
        &format!(r#"[data-testid="session-item"][data-session-id="{session_id}"]"#),
    )
    .await?
    .click()
    .await
    .map_err(e)?;
    wait_for(client, r#"[data-testid="final-answer"]"#).await?;
    let shown_session = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;
    check(shown_session == session_id, || {
        format!("reopened {shown_session}, expected {session_id}")
    })?;
    // The session keeps its factory input, so a next message builds the same team.
    let ticked = wait_for(client, r#"[data-testid="field-include_reviewer"]"#)
        .await?
        .is_selected()
        .await
        .map_err(e)?;
    check(ticked, || {
        "the reopened session forgot include_reviewer".into()
    })?;
    let asked = texts(client, r#"[data-testid="user-message"]"#).await?;
    check(asked == [message], || {
        format!("reopened exchanges: {asked:?}")
    })?;
    let reopened = texts(client, r#"[data-testid="delegation"]"#).await?;
    check(
        reopened.iter().any(|d| d.contains("Reviewer Agent")),
        || format!("the reopened session lost the reviewer's answer: {reopened:?}"),
    )?;
    let finals = texts(client, r#"[data-testid="final-answer"]"#).await?;
    check(finals.len() == 1 && !finals[0].trim().is_empty(), || {
        format!("reopened final answer: {finals:?}")
    })?;
    screenshot(client, "playground-reopened.png").await?;

    // The markdown renderer escapes model text before it adds any markup of its own.
    let rendered = client
        .execute(
            "return renderMarkdown(arguments[0]);",
            vec![json!(
                "# Title\n\nSome **bold**, *italic* and `<b>code</b>`.\n\n- one\n- two\n\n<img src=x onerror=alert(1)>"
            )],
        )
        .await
        .map_err(e)?;
    let rendered = rendered.as_str().unwrap_or_default();
    for expected in [
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>italic</em>",
        "<code>&lt;b&gt;code&lt;/b&gt;</code>",
        "<ul><li>one</li><li>two</li></ul>",
        "&lt;img src=x onerror=alert(1)&gt;",
    ] {
        check(rendered.contains(expected), || {
            format!("markdown: {expected:?} not in {rendered:?}")
        })?;
    }

    // An agent factory streams too, with its string field's default filled in.
    wait_for(client, r#"[data-testid="component-agent-tenant-agent"]"#)
        .await?
        .click()
        .await
        .map_err(e)?;
    let tone = wait_for(client, r#"[data-testid="field-tone"]"#)
        .await?
        .prop("value")
        .await
        .map_err(e)?;
    check(tone.as_deref() == Some("neutral"), || {
        format!("tone {tone:?}")
    })?;
    wait_for(client, "#message")
        .await?
        .send_keys("hi agent")
        .await
        .map_err(e)?;
    wait_for(client, "#send").await?.click().await.map_err(e)?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(answer.contains("hi agent"), || {
        format!("agent answer {answer:?}")
    })?;

    // A refused run shows the server's `detail` plainly.
    wait_for(client, r#"[data-testid="component-team-refusing-team"]"#)
        .await?
        .click()
        .await
        .map_err(e)?;
    wait_for(client, "#message")
        .await?
        .send_keys("hello")
        .await
        .map_err(e)?;
    wait_for(client, "#send").await?.click().await.map_err(e)?;
    let error = wait_for(client, r#"[data-testid="error"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(error.contains("may not use this team"), || {
        format!("refusal shown as {error:?}")
    })
}

/// Approve: an agent's run pauses at a tool that needs confirmation; the page shows the call
/// and who asks, with Approve / Reject; once approved and sent, the run goes on to its answer.
async fn approve_a_paused_agent_run(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="component-agent-refund-agent"]"#).await?;
    let refunds = REFUNDS.load(Ordering::SeqCst);
    send_message(client, "please refund order 7").await?;
    let card = r#"[data-testid="pause"] [data-testid="requirement"]"#;
    wait_for(client, card).await?;
    let tool = attr(client, card, "data-tool").await?;
    check(tool.as_deref() == Some("issue_refund"), || {
        format!("the paused call is {tool:?}")
    })?;
    let asker = texts(client, r#"[data-testid="requirement-member"]"#).await?;
    check(asker == ["Refund Agent"], || format!("who asks: {asker:?}"))?;
    let args = texts(client, r#"[data-testid="requirement-args"]"#).await?;
    check(
        args.len() == 1 && args[0].contains("order_id") && args[0].contains("amount_cents"),
        || format!("the call's arguments: {args:?}"),
    )?;
    let approve = wait_for(client, r#"[data-testid="approve"]"#).await?;
    check(approve.text().await.map_err(e)? == "Approve", || {
        "the approve button's label".into()
    })?;
    wait_for(client, r#"[data-testid="reject"]"#).await?;
    let go_on = wait_for(client, r#"[data-testid="continue"]"#).await?;
    check(!go_on.is_enabled().await.map_err(e)?, || {
        "Continue run is enabled before anything is decided".into()
    })?;
    let done = texts(client, r#"[data-testid="final-answer"][data-done="1"]"#).await?;
    check(done.is_empty(), || {
        format!("a paused run shows as done: {done:?}")
    })?;
    check(REFUNDS.load(Ordering::SeqCst) == refunds, || {
        "the refund ran before it was approved".into()
    })?;
    no_errors(client, "paused").await?;
    wait_until(
        client,
        "the status to be idle",
        r#"return document.getElementById("status").textContent === "idle";"#,
    )
    .await?;
    screenshot(client, "playground-paused.png").await?;

    approve.click().await.map_err(e)?;
    let pressed = approve.attr("aria-pressed").await.map_err(e)?;
    check(pressed.as_deref() == Some("true"), || {
        format!("approve pressed: {pressed:?}")
    })?;
    check(go_on.is_enabled().await.map_err(e)?, || {
        "Continue run stays disabled after Approve".into()
    })?;
    go_on.click().await.map_err(e)?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(answer.contains("refunded"), || {
        format!("the answer after approval: {answer:?}")
    })?;
    check(REFUNDS.load(Ordering::SeqCst) == refunds + 1, || {
        "the approved refund ran once".into()
    })?;
    let outcome = attr(
        client,
        r#"[data-testid="requirement-outcome"]"#,
        "data-outcome",
    )
    .await?;
    check(outcome.as_deref() == Some("approved"), || {
        format!("outcome {outcome:?}")
    })?;
    let state = attr(client, r#"[data-testid="pause"]"#, "data-state").await?;
    check(state.as_deref() == Some("answered"), || {
        format!("the pause panel after sending: {state:?}")
    })?;
    check(!approve.is_enabled().await.map_err(e)?, || {
        "an answered call can still be approved".into()
    })?;
    no_errors(client, "after approval").await?;
    screenshot(client, "playground-approved.png").await?;

    // Reopened, the run shows its pause answered, with what was answered, and its answer.
    let session_id = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;
    client.refresh().await.map_err(e)?;
    click(
        client,
        &format!(r#"[data-testid="session-item"][data-session-id="{session_id}"]"#),
    )
    .await?;
    let reopened = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(reopened.contains("refunded"), || {
        format!("the reopened answer: {reopened:?}")
    })?;
    let state = attr(client, r#"[data-testid="pause"]"#, "data-state").await?;
    let outcome = attr(
        client,
        r#"[data-testid="requirement-outcome"]"#,
        "data-outcome",
    )
    .await?;
    check(
        state.as_deref() == Some("answered") && outcome.as_deref() == Some("approved"),
        || format!("the reopened pause: {state:?}, {outcome:?}"),
    )?;
    no_errors(client, "reopened after approval").await
}

/// Reject with a note: a paused run is reopened after a reload, still waiting, and rejected;
/// the tool does not run and the model reads the note.
async fn reject_a_paused_run_after_reopening_it(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="new-session"]"#).await?;
    let refunds = REFUNDS.load(Ordering::SeqCst);
    send_message(client, "refund order 8").await?;
    wait_for(client, r#"[data-testid="pause"]"#).await?;
    let session_id = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;

    client.refresh().await.map_err(e)?;
    click(
        client,
        &format!(r#"[data-testid="session-item"][data-session-id="{session_id}"]"#),
    )
    .await?;
    wait_for(client, r#"[data-testid="pause"][data-state="waiting"]"#).await?;
    let asked = texts(client, r#"[data-testid="user-message"]"#).await?;
    check(asked == ["refund order 8"], || {
        format!("reopened exchanges: {asked:?}")
    })?;
    click(client, r#"[data-testid="reject"]"#).await?;
    let note = "over the limit, ask a manager";
    type_into(client, r#"[data-testid="confirmation-note"]"#, note).await?;
    click(client, r#"[data-testid="continue"]"#).await?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(answer.contains(note), || {
        format!("the model did not read the note: {answer:?}")
    })?;
    check(REFUNDS.load(Ordering::SeqCst) == refunds, || {
        "the rejected refund ran".into()
    })?;
    let outcome = wait_for(client, r#"[data-testid="requirement-outcome"]"#).await?;
    let kind = outcome.attr("data-outcome").await.map_err(e)?;
    let text = outcome.text().await.map_err(e)?;
    check(
        kind.as_deref() == Some("rejected") && text.contains(note),
        || format!("outcome {kind:?}: {text:?}"),
    )?;
    no_errors(client, "after the rejection").await
}

/// A team whose member pauses: the page names the member asking, marks its delegation as
/// waiting, and continues through the team's route until the team answers.
async fn approve_for_a_team_member(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="component-team-approval-team"]"#).await?;
    let refunds = REFUNDS.load(Ordering::SeqCst);
    send_message(client, "refund order 9").await?;
    let card = r#"[data-testid="pause"] [data-testid="requirement"]"#;
    let requirement = wait_for(client, card).await?;
    let member = requirement.attr("data-member").await.map_err(e)?;
    check(member.as_deref() == Some("billing-agent"), || {
        format!("the asking member: {member:?}")
    })?;
    let label = requirement.text().await.map_err(e)?;
    check(
        label.contains("Billing Agent") && label.contains("member of Approval Team"),
        || format!("the requirement does not say which member asks: {label:?}"),
    )?;
    let waiting = wait_for(
        client,
        r#"[data-testid="delegation"].is-waiting[data-member="billing-agent"] [data-testid="member-waiting"]"#,
    )
    .await?;
    check(waiting.is_displayed().await.map_err(e)?, || {
        "the waiting member is not marked".into()
    })?;
    let others = texts(
        client,
        r#"[data-testid="delegation"][data-member="tech-support-agent"] [data-testid="member-answer"]"#,
    )
    .await?;
    check(others.len() == 1 && !others[0].trim().is_empty(), || {
        format!("the member that did not pause should have answered: {others:?}")
    })?;
    no_errors(client, "team paused").await?;
    screenshot(client, "playground-paused-team.png").await?;

    click(client, r#"[data-testid="approve"]"#).await?;
    click(client, r#"[data-testid="continue"]"#).await?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(answer.contains("refunded"), || {
        format!("the team's answer after approval: {answer:?}")
    })?;
    check(REFUNDS.load(Ordering::SeqCst) == refunds + 1, || {
        "the member's approved refund ran once".into()
    })?;
    let still = texts(client, r#"[data-testid="delegation"].is-waiting"#).await?;
    check(still.is_empty(), || {
        format!("members still marked waiting: {still:?}")
    })?;
    let delegations = texts(client, r#"[data-testid="delegation"]"#).await?;
    check(delegations.len() == 2, || {
        format!("the continued member should answer in its own delegation: {delegations:?}")
    })?;
    let billing = texts(
        client,
        r#"[data-testid="delegation"][data-member="billing-agent"] [data-testid="member-answer"]"#,
    )
    .await?;
    check(
        billing.len() == 1 && billing[0].contains("refunded"),
        || format!("the billing member's answer: {billing:?}"),
    )?;
    no_errors(client, "team after approval").await
}

/// User input and an external result: one answered at a time, the undecided one keeps the
/// run paused, and the run ends once both are in.
async fn fill_in_user_input_then_an_external_result(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="component-agent-errand-agent"]"#).await?;
    send_message(client, "mail the report and charge 12 euros").await?;
    wait_until(
        client,
        "two calls waiting",
        r#"return document.querySelectorAll('[data-testid="pause"] [data-testid="requirement"]').length === 2;"#,
    )
    .await?;
    let to = wait_for(client, r#"[data-testid="user-input-to"]"#).await?;
    check(
        to.attr("type").await.map_err(e)?.as_deref() == Some("text"),
        || "`to` (a str) is not a text field".into(),
    )?;
    wait_for(client, r#"[data-testid="external-result"]"#).await?;
    to.send_keys("ada@example.com").await.map_err(e)?;
    let hint = wait_for(client, r#"[data-testid="pause-hint"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(hint.contains("1 of 2"), || {
        format!("the hint about a partial answer: {hint:?}")
    })?;
    screenshot(client, "playground-user-input.png").await?;
    click(client, r#"[data-testid="continue"]"#).await?;

    // Still paused, now on the external call alone.
    wait_until(
        client,
        "a second pause",
        r#"return document.querySelectorAll('[data-testid="pause"]').length === 2;"#,
    )
    .await?;
    let open = r#"[data-testid="pause"][data-state="waiting"]"#;
    let left = texts(client, &format!("{open} [data-testid=\"requirement\"]")).await?;
    check(left.len() == 1, || {
        format!("the second pause should ask once: {left:?}")
    })?;
    let tool = attr(
        client,
        &format!("{open} [data-testid=\"requirement\"]"),
        "data-tool",
    )
    .await?;
    check(tool.as_deref() == Some("charge_on_terminal"), || {
        format!("the call left: {tool:?}")
    })?;
    let outcomes = wait_until(
        client,
        "the first pause's outcomes",
        r#"return [...document.querySelectorAll('[data-testid="pause"][data-state="answered"] [data-testid="requirement-outcome"]')]
                 .map((n) => n.dataset.outcome).join(",");"#,
    )
    .await?;
    check(outcomes == json!("answered,undecided"), || {
        format!("the first pause's outcomes: {outcomes}")
    })?;
    type_into(
        client,
        &format!("{open} [data-testid=\"external-result\"]"),
        "terminal approved the charge",
    )
    .await?;
    click(client, &format!("{open} [data-testid=\"continue\"]")).await?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(
        answer.contains("sent to ada@example.com") && answer.contains("terminal approved"),
        || format!("the answer after both: {answer:?}"),
    )?;
    screenshot(client, "playground-external.png").await?;
    no_errors(client, "after user input and the external result").await
}

/// A run another client started without streaming keeps no events: reopened, the page reads
/// what it waits for from the whole run, and approving it still finishes it.
async fn approve_a_run_paused_elsewhere(client: &Client) -> Result<(), String> {
    let e = |e: fantoccini::error::CmdError| e.to_string();
    click(client, r#"[data-testid="component-agent-refund-agent"]"#).await?;
    let session_id = wait_for(client, "#session-id")
        .await?
        .text()
        .await
        .map_err(e)?;
    let status = client
        .execute(
            r#"const form = new FormData();
               form.append("message", "refund order 10");
               form.append("stream", "false");
               form.append("session_id", arguments[0]);
               return fetch("/agents/refund-agent/runs", { method: "POST", body: form })
                 .then((response) => response.json()).then((run) => run.status);"#,
            vec![json!(session_id)],
        )
        .await
        .map_err(e)?;
    check(status == json!("PAUSED"), || {
        format!("a run started without streaming: {status}")
    })?;
    client.refresh().await.map_err(e)?;
    click(
        client,
        &format!(r#"[data-testid="session-item"][data-session-id="{session_id}"]"#),
    )
    .await?;
    wait_for(client, r#"[data-testid="pause"][data-state="waiting"]"#).await?;
    let asker = texts(client, r#"[data-testid="requirement-member"]"#).await?;
    check(asker == ["Refund Agent"], || {
        format!("who asks, read from the whole run: {asker:?}")
    })?;
    click(client, r#"[data-testid="approve"]"#).await?;
    click(client, r#"[data-testid="continue"]"#).await?;
    let answer = wait_for(client, r#"[data-testid="final-answer"][data-done="1"]"#)
        .await?
        .text()
        .await
        .map_err(e)?;
    check(answer.contains("refunded"), || {
        format!("the answer after approving a run paused elsewhere: {answer:?}")
    })?;
    no_errors(client, "after approving a run paused elsewhere").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playground_streams_a_factory_run_and_reopens_the_session() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let (chromium, chromedriver) = match (
        executable("chromium", CHROMIUM),
        executable("chromedriver", CHROMEDRIVER),
    ) {
        (Some(chromium), Some(chromedriver)) => (chromium, chromedriver),
        _ if in_ci => panic!("CI must have chromium and chromedriver (see .ci/run)"),
        _ => {
            eprintln!(
                "skipped: chromium or chromedriver is not installed \
                 (apt-get install -y chromium chromium-driver)"
            );
            return;
        }
    };

    let os = support::builder()
        .agent(refund_agent)
        .agent(errand_agent)
        .team(approval_team)
        .workflow(refund_flow)
        .playground(true)
        .build()
        .await
        .expect("valid OS");
    let server = support::TestServer::start(os).await;
    let driver = Driver::start(&chromedriver);
    let profile = TempDir::new();

    let outcome = tokio::time::timeout(WHOLE_TEST, async {
        let client = connect(&driver, &chromium, &profile.0).await;
        let outcome = drive(&client, &server.base).await;
        if outcome.is_err() {
            // A picture of the failure helps more than the message alone.
            let _ = screenshot(&client, "playground-failure.png").await;
        }
        let _ = client.close().await;
        outcome
    })
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{error}"),
        Err(_) => panic!("the browser test took longer than {WHOLE_TEST:?}"),
    }
}
