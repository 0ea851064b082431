//! Shared by the HTTP tests: the seed's factories, a server on a free port, an SSE reader.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub mod db;
pub mod events;
pub mod process;

use agentos::prelude::*;
use agentos::{AgentOs, AgentOsBuilder, TestModel};
use serde_json::Value;
use tokio::sync::oneshot;

/// Calls of `counted_team`, to prove discovery never calls a factory.
pub static COUNTED_CALLS: AtomicUsize = AtomicUsize::new(0);

fn support_members(tenant: &str) -> Vec<Agent> {
    vec![
        Agent::new("Billing Agent")
            .with_role("Handle billing inquiries")
            .with_model(TestModel::with_id("gpt-5.4"))
            .with_instruction(format!(
                "You help tenant {tenant} with invoices and refunds."
            )),
        Agent::new("Tech Support Agent")
            .with_role("Handle technical issues")
            .with_model(TestModel::with_id("gpt-5.4"))
            .with_instruction(format!("You help tenant {tenant} with technical problems.")),
    ]
}

/// The seed's support team: members and instructions follow the caller.
#[team_factory(
    id = "support-team",
    name = "Per-tenant Support Team",
    description = "Builds a support team with billing and tech agents per tenant."
)]
pub fn support_team(ctx: RequestContext) -> Team {
    let tenant = ctx.user_id().unwrap_or("anonymous").to_owned();
    Team::new("Support Team")
        .with_model(TestModel::with_id("gpt-5.4"))
        .with_members(support_members(&tenant))
        .with_instruction(format!(
            "You are the support team leader for tenant {tenant}."
        ))
}

#[derive(Deserialize, Validate, JsonSchema)]
pub struct TeamConfig {
    /// Adds a reviewer to the team.
    #[serde(default)]
    #[garde(skip)]
    pub include_reviewer: bool,
    /// How many answers the reviewer may ask for.
    #[serde(default = "default_rounds")]
    #[garde(range(min = 1, max = 5))]
    pub review_rounds: u8,
}

fn default_rounds() -> u8 {
    1
}

#[team_factory(id = "configurable-support-team", input = TeamConfig,
               name = "Configurable Support Team")]
pub async fn configurable_team(ctx: RequestContext<TeamConfig>) -> Result<Team, FactoryError> {
    let mut members = support_members(ctx.user_id().unwrap_or("anonymous"));
    if ctx.input.include_reviewer {
        members.push(Agent::new("Reviewer Agent").with_model(TestModel::with_id("gpt-5.4")));
    }
    Ok(Team::new("Configurable Support Team")
        .with_model(TestModel::with_id("gpt-5.4"))
        .with_members(members))
}

#[team_factory(id = "secure-support-team", scopes = ["support:admin"])]
pub fn secure_team() -> Team {
    Team::new("Secure Support Team")
        .with_model(TestModel::with_id("gpt-5.4"))
        .with_members(support_members("secure"))
}

#[team_factory(id = "refusing-team")]
pub fn refusing_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    Err(FactoryError::permission(format!(
        "user {} may not use this team",
        ctx.user_id().unwrap_or("anonymous")
    )))
}

#[team_factory(id = "panicking-team")]
pub fn panicking_team() -> Team {
    panic!("secret internal detail: database password is hunter2");
}

#[team_factory(id = "slow-team")]
pub async fn slow_team() -> Team {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Team::new("Slow")
}

#[team_factory(id = "counted-team", input = TeamConfig)]
pub fn counted_team(_ctx: RequestContext<TeamConfig>) -> Team {
    COUNTED_CALLS.fetch_add(1, Ordering::SeqCst);
    Team::new("Counted").with_model(TestModel::new())
}

#[derive(Deserialize, Validate, JsonSchema)]
pub struct AgentConfig {
    #[serde(default = "neutral")]
    #[garde(length(min = 1, max = 32))]
    pub tone: String,
}

fn neutral() -> String {
    "neutral".to_owned()
}

#[agent_factory(id = "tenant-agent", input = AgentConfig, name = "Per-tenant assistant")]
pub fn tenant_agent(ctx: RequestContext<AgentConfig>) -> Agent {
    Agent::new("Tenant Agent")
        .with_model(TestModel::with_id("gpt-4o-mini"))
        .with_instruction(format!("Answer in a {} tone.", ctx.input.tone))
}

/// Every test factory, and a static team beside them.
pub fn builder() -> AgentOsBuilder {
    AgentOs::builder()
        .team(support_team)
        .team(configurable_team)
        .team(secure_team)
        .team(refusing_team)
        .team(panicking_team)
        .team(slow_team)
        .team(counted_team)
        .team(
            Team::new("Static Support Team")
                .with_model(TestModel::with_id("gpt-5.4"))
                .with_members(support_members("static")),
        )
        .agent(tenant_agent)
        .factory_timeout(Duration::from_millis(500))
}

/// A server on 127.0.0.1 with a free port; stops when dropped or on `stop()`.
pub struct TestServer {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    pub os: AgentOs,
    /// Dropped after the server: the database outlives it.
    _db: Option<std::sync::Arc<db::TestDb>>,
}

impl TestServer {
    /// Serves an OS that is already built (its store is whatever it was built with).
    pub async fn start(os: AgentOs) -> Self {
        Self::serve(os, None).await
    }

    /// Builds `builder` on a database of the test's own (see `db::TestDb`) and serves it.
    pub async fn with(builder: AgentOsBuilder) -> Self {
        let db = std::sync::Arc::new(db::TestDb::new().await);
        Self::on(builder, db).await
    }

    /// Builds `builder` on `db`, which other servers may share, and serves it.
    pub async fn on(builder: AgentOsBuilder, db: std::sync::Arc<db::TestDb>) -> Self {
        let os = builder.db(db.db()).build().await.expect("valid OS");
        Self::serve(os, Some(db)).await
    }

    async fn serve(os: AgentOs, db: Option<std::sync::Arc<db::TestDb>>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(os.clone().serve_on(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            base,
            stop: Some(stop),
            handle,
            os,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Begins a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn client() -> reqwest::Client {
    agentos::tls::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// `GET path` as the bearer of `token`: the body as JSON (`null` when it is not JSON).
pub async fn get_json_as(server: &TestServer, path: &str, token: &str) -> serde_json::Value {
    client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(serde_json::Value::Null)
}

/// The body of an answer that must be a 200 Server-Sent Events stream.
pub async fn event_stream(response: reqwest::Response) -> String {
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// A multipart form of `(name, value)` fields, as agno clients send.
pub fn form(fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    fields
        .iter()
        .fold(reqwest::multipart::Form::new(), |form, (name, value)| {
            form.text(name.to_string(), value.to_string())
        })
}

/// One parsed SSE frame.
#[derive(Debug, Clone)]
pub struct SseFrame {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// Parses a whole `text/event-stream` body, skipping keep-alive comments.
pub fn parse_sse(body: &str) -> Vec<SseFrame> {
    body.split("\n\n")
        .filter_map(|frame| {
            let mut id = None;
            let mut event = None;
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("id:") {
                    id = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            let event = event?;
            let data = serde_json::from_str(&data).expect("every data line is JSON");
            Some(SseFrame { id, event, data })
        })
        .collect()
}

/// A model that takes `delay` to answer each call (and is cancelled like any other).
pub struct Sleepy(pub Duration);

impl agentos::model::Model for Sleepy {
    fn id(&self) -> &str {
        "sleepy"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(
        &self,
        request: agentos::model::ModelRequest,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<agentos::model::ModelResponse, agentos::model::ModelError>,
    > {
        let delay = self.0;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(TestModel::new().respond(&request))
        })
    }
}

/// A team whose every model call takes `delay`.
pub fn sleepy_team(name: &str, delay: Duration) -> Team {
    Team::new(name)
        .with_model(Sleepy(delay))
        .with_members([Agent::new("Worker").with_model(Sleepy(delay))])
}

/// A test model that keeps every request it answers.
#[derive(Default)]
pub struct Recorder {
    pub requests: std::sync::Mutex<Vec<agentos::model::ModelRequest>>,
    inner: TestModel,
}

impl agentos::model::Model for Recorder {
    fn id(&self) -> &str {
        "recorder"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(
        &self,
        request: agentos::model::ModelRequest,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<agentos::model::ModelResponse, agentos::model::ModelError>,
    > {
        let answer = self.inner.respond(&request);
        self.requests.lock().unwrap().push(request);
        Box::pin(std::future::ready(Ok(answer)))
    }
}

impl Recorder {
    /// Every message text the model was ever sent, joined.
    pub fn everything_seen(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.messages.iter().map(|m| m.content.clone()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// An agent that sees its session's history, on a recording model.
pub fn historian(recorder: &std::sync::Arc<Recorder>) -> Agent {
    Agent::new("Historian")
        .with_model(recorder.clone() as std::sync::Arc<dyn agentos::model::Model>)
        .with_add_history_to_context(true)
        .with_num_history_runs(10)
}

/// An HS256 token for `sub` with `scopes`, valid for a long time.
pub fn token(secret: &[u8], sub: &str, scopes: Value) -> String {
    let claims = serde_json::json!({"sub": sub, "scopes": scopes, "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("token")
}

/// A TCP proxy to PostgreSQL that a test can cut and restore, so the database "goes away"
/// for the server without stopping the real one.
pub struct Cuttable {
    pub addr: std::net::SocketAddr,
    up: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Cuttable {
    pub async fn to(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = tokio::sync::watch::channel(true);
        let up = std::sync::Arc::new(up);
        let watch = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = watch.subscribe();
                if !*state.borrow() {
                    continue; // refused: the socket is dropped at once
                }
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = state.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Cuttable { addr, up }
    }

    pub fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// Reads a `text/event-stream` response frame by frame, as a real SSE client does.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        SseReader {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame with an event (keep-alive comments skipped); `None` at the end.
    pub async fn next_frame(&mut self) -> Option<SseFrame> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(parsed) = parse_sse(&frame).into_iter().next() {
                    return Some(parsed);
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Every remaining frame.
    pub async fn rest(mut self) -> Vec<SseFrame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame().await {
            frames.push(frame);
        }
        frames
    }
}
