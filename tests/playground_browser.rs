//! The playground page in a real browser: headless Chromium, driven over WebDriver by
//! fantoccini through a chromedriver this test starts. It picks a factory, fills the form built
//! from the factory's input schema, streams a run, then reloads the page and reopens the session.
//!
//! Outside CI the test passes with a note when Chromium or chromedriver is missing; in CI
//! (`CI=true`) it always runs. It saves `target/artifacts/playground.png`.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Any single wait in the page; the offline model answers in milliseconds.
const WAIT: Duration = Duration::from_secs(15);
/// The whole browser session, so a hung browser fails the test instead of the CI job.
const WHOLE_TEST: Duration = Duration::from_secs(50);

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

/// The scenario; errors are returned, not panicked, so the browser is always closed.
async fn drive(client: &Client, base: &str) -> Result<(), String> {
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
