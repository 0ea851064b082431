//! Load benchmark: starts the main example's server as its own process and drives
//! `POST /teams/support-team/runs` over loopback with N concurrent clients for a bounded time,
//! then prints runs/s, latency percentiles, the server's resident memory and the CPU the
//! server process spent a run (which, unlike runs/s, does not depend on the load generator
//! sharing the cores).
//!
//! Run with (release, so the figures mean something):
//!     cargo run --release --example loadgen -- --clients 1,8,64 --seconds 10
//!     cargo run --release --example loadgen -- --stream --clients 64
//!     cargo run --release --example loadgen -- --model mock --clients 1,8,64
//!     cargo run --release --example loadgen -- --model anthropic --clients 1,64
//!     cargo run --release --example loadgen -- --door mcp --clients 1,8,64
//!     cargo run --release --example loadgen -- --memory --clients 1,64
//!     cargo run --release --example loadgen -- --sse-streams 1000
//!     cargo run --release --example loadgen -- --db postgres --clients 64
//!     cargo run --release --example loadgen -- --soak-minutes 10 --soak-interval 30
//!     cargo run --release --example loadgen -- --soak-minutes 10 --retention-seconds 120
//!
//! The soak mode runs moderate load (8 clients by default, alternating whole and streamed
//! runs, `--think-ms` between a client's runs, 100 by default) for a long time and prints,
//! every interval, the runs done, the server's resident memory and open file descriptors, and
//! the SQLite file and WAL sizes; `--retention-seconds` starts the server with a short
//! retention (`AGENTOS_RETENTION_DAYS` as a fraction of a day) so that deletion happens during
//! the soak.
//!
//! It uses `target/release/examples/basic_team_factory` (built first if missing) with a SQLite
//! file in a temporary directory, or with `--db postgres` a database of its own
//! (`agentos_loadgen`, made afresh and dropped at the end) on the PostgreSQL server that
//! `DATABASE_URL` names (`postgres://postgres@127.0.0.1:5432/test` when unset). `--model test` (the default) runs the team on the offline
//! TestModel inside the server; `--model mock` (or `openai`) points the server's OpenAI client at
//! an OpenAI-compatible mock in this process, so each run makes three real HTTP model calls;
//! `--model anthropic` and `--model gemini` do the same with that provider's mock, the server's
//! model chosen by `AGENTOS_MODEL`. `--door mcp` sends the runs through `/mcp` instead (the
//! `run_team__support-team` tool, one MCP session a client); `--door a2a` through the A2A
//! door (JSON-RPC `message/send` to `/a2a/teams/support-team`, a new `messageId` a run) and
//! `--door agui` through AG-UI (`/agui/teams/support-team`, read to `RUN_FINISHED`, a new
//! `runId` a run); both ids are the runs' idempotency keys. `--memory` starts the server with
//! `AGENTOS_MEMORY=on`: the team reads its user's memories and captures after each run.
//! Only 127.0.0.1 is contacted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentos::testing::{Fault, MockAnthropic, MockGemini, MockOpenAi};
use futures_util::StreamExt;

struct Options {
    clients: Vec<usize>,
    seconds: u64,
    stream: bool,
    model: ModelChoice,
    door: Door,
    sse_streams: Option<usize>,
    soak_minutes: Option<u64>,
    soak_interval: u64,
    retention_seconds: Option<u64>,
    think_ms: u64,
    clients_given: bool,
    postgres: bool,
    memory: bool,
}

fn options() -> Options {
    let mut options = Options {
        clients: vec![1, 8, 64],
        seconds: 10,
        stream: false,
        model: ModelChoice::Test,
        door: Door::Rest,
        sse_streams: None,
        soak_minutes: None,
        soak_interval: 30,
        retention_seconds: None,
        think_ms: 100,
        clients_given: false,
        postgres: false,
        memory: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clients" => {
                options.clients = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect();
                options.clients_given = true;
            }
            "--seconds" => options.seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(10),
            "--stream" => options.stream = true,
            "--memory" => options.memory = true,
            "--door" => {
                options.door = match args.next().as_deref() {
                    Some("mcp") => Door::Mcp,
                    Some("a2a") => Door::A2a,
                    Some("agui") => Door::Agui,
                    _ => Door::Rest,
                }
            }
            "--model" => {
                options.model = match args.next().as_deref() {
                    Some("mock" | "openai") => ModelChoice::OpenAi,
                    Some("anthropic") => ModelChoice::Anthropic,
                    Some("gemini") => ModelChoice::Gemini,
                    Some("test") => ModelChoice::Test,
                    other => {
                        eprintln!(
                            "unknown model {other:?}: test, mock (openai), anthropic, gemini"
                        );
                        std::process::exit(2);
                    }
                }
            }
            "--sse-streams" => options.sse_streams = args.next().and_then(|s| s.parse().ok()),
            "--soak-minutes" => options.soak_minutes = args.next().and_then(|s| s.parse().ok()),
            "--soak-interval" => {
                options.soak_interval = args.next().and_then(|s| s.parse().ok()).unwrap_or(30)
            }
            "--think-ms" => {
                options.think_ms = args.next().and_then(|s| s.parse().ok()).unwrap_or(100)
            }
            "--db" => options.postgres = args.next().as_deref() == Some("postgres"),
            "--retention-seconds" => {
                options.retention_seconds = args.next().and_then(|s| s.parse().ok())
            }
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    options
}

/// The server process under test.
struct Server {
    child: Child,
    base: String,
    _dir: PathBuf,
}

impl Server {
    fn binary() -> PathBuf {
        let exe = std::env::current_exe().expect("own path");
        let dir = exe.parent().expect("examples dir").to_path_buf();
        let binary = dir.join("basic_team_factory");
        if !binary.exists() {
            let profile = if dir.to_string_lossy().contains("release") {
                vec!["--release"]
            } else {
                vec![]
            };
            let status = Command::new("cargo")
                .args(["build", "--example", "basic_team_factory"])
                .args(profile)
                .status()
                .expect("cargo");
            assert!(status.success(), "building the server failed");
        }
        binary
    }

    async fn start(extra_env: &[(&str, String)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("agentos-loadgen-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new(Self::binary());
        command
            .current_dir(&dir)
            .env("AGENTOS_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                format!("sqlite:{}", dir.join("agentos.db").display()),
            )
            .env("RUST_LOG", "warn")
            .env_remove("AGENTOS_MODEL")
            .stdout(Stdio::null());
        for key in agentos::model::ProviderEnv::VARIABLES {
            command.env_remove(key);
        }
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = command.spawn().expect("server starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client
                .get(format!("{}/health", server.base))
                .send()
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not come up");
    }

    /// Resident memory in MiB, from /proc.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    /// Open file descriptors, from /proc.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// The SQLite file's and its WAL's sizes in MiB.
    fn db_mib(&self) -> (f64, f64) {
        let size = |name: &str| {
            std::fs::metadata(self._dir.join(name))
                .map(|m| m.len() as f64 / (1024.0 * 1024.0))
                .unwrap_or(0.0)
        };
        (size("agentos.db"), size("agentos.db-wal"))
    }
}

impl Server {
    /// CPU time the server process has used (user + system), in milliseconds, from
    /// /proc/<pid>/stat, whose clock ticks are USER_HZ (100 a second on Linux).
    fn cpu_ms(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        (ticks(11) + ticks(12)) * 10.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("message", "I need help with billing and a technical issue")
        .text("user_id", "tenant_42")
}

/// One run; returns whether it completed.
async fn one_run(client: &reqwest::Client, url: &str, stream: bool) -> bool {
    let form = form().text("stream", if stream { "true" } else { "false" });
    let Ok(response) = client.post(url).multipart(form).send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    if stream {
        let body = response.text().await.unwrap_or_default();
        body.contains("event: TeamRunCompleted")
    } else {
        response
            .text()
            .await
            .is_ok_and(|b| b.contains("\"COMPLETED\""))
    }
}

/// An id no other run of this process has.
fn unique_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "loadgen-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Which door the runs come through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    /// `POST /teams/support-team/runs`, agno's REST route.
    Rest,
    /// The `run_team__support-team` tool of `/mcp`, one MCP session a client.
    Mcp,
    /// A2A's JSON-RPC `message/send` at `/a2a/teams/support-team`.
    A2a,
    /// AG-UI's `POST /agui/teams/support-team`, its events read to the end.
    Agui,
}

/// One client's way in: an HTTP client, or an MCP session of its own.
enum Session {
    Rest {
        client: reqwest::Client,
        url: String,
    },
    A2a {
        client: reqwest::Client,
        url: String,
    },
    Agui {
        client: reqwest::Client,
        url: String,
    },
    Mcp(rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>),
}

impl Session {
    async fn open(door: Door, client: &reqwest::Client, base: &str) -> Session {
        match door {
            Door::Rest => Session::Rest {
                client: client.clone(),
                url: format!("{base}/teams/support-team/runs"),
            },
            Door::A2a => Session::A2a {
                client: client.clone(),
                url: format!("{base}/a2a/teams/support-team"),
            },
            Door::Agui => Session::Agui {
                client: client.clone(),
                url: format!("{base}/agui/teams/support-team"),
            },
            Door::Mcp => {
                use rmcp::ServiceExt;
                let config = rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"));
                let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
                    client.clone(),
                    config,
                );
                Session::Mcp(
                    rmcp::model::ClientConfig::default()
                        .serve(transport)
                        .await
                        .expect("an MCP session opens"),
                )
            }
        }
    }

    async fn run(&self, stream: bool) -> bool {
        match self {
            Session::Rest { client, url } => one_run(client, url, stream).await,
            Session::A2a { client, url } => {
                let body = serde_json::json!({
                    "jsonrpc": "2.0", "id": 1, "method": "message/send",
                    "params": {"message": {
                        "kind": "message", "messageId": unique_id(), "role": "user",
                        "parts": [{"kind": "text", "text": "I need help with billing"}],
                        "metadata": {"userId": "tenant_42"},
                    }},
                });
                match client.post(url).json(&body).send().await {
                    Ok(response) => response
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|answer| answer["result"]["status"]["state"] == "completed"),
                    Err(_) => false,
                }
            }
            Session::Agui { client, url } => {
                let body = serde_json::json!({
                    "threadId": unique_id(), "runId": unique_id(),
                    "messages": [{"id": "m1", "role": "user", "content": "I need help with billing"}],
                    "forwardedProps": {"user_id": "tenant_42"},
                });
                match client.post(url).json(&body).send().await {
                    Ok(response) => response
                        .text()
                        .await
                        .is_ok_and(|events| events.contains("\"type\":\"RUN_FINISHED\"")),
                    Err(_) => false,
                }
            }
            Session::Mcp(session) => {
                let mut arguments = serde_json::Map::new();
                arguments.insert("message".into(), "I need help with billing".into());
                let request = rmcp::model::CallToolRequestParams::new("run_team__support-team")
                    .with_arguments(arguments);
                session.call_tool(request).await.is_ok_and(|result| {
                    result
                        .structured_content
                        .is_some_and(|run| run["status"] == "COMPLETED")
                })
            }
        }
    }
}

async fn load(server: &Server, clients: usize, seconds: u64, stream: bool, door: Door) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    // Warm up: connections, the SQLite file, the allocator.
    let warm = Session::open(door, &client, &server.base).await;
    for _ in 0..20 {
        warm.run(stream).await;
    }
    let before = server.rss_mib();
    let cpu_before = server.cpu_ms();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(Session::open(door, &client, &server.base).await);
    }
    let workers = sessions.into_iter().map(|session| {
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                if session.run(stream).await {
                    latencies.push(t.elapsed());
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        })
    });
    let sampler = async {
        let mut peak: f64 = 0.0;
        while Instant::now() < deadline {
            peak = peak.max(server.rss_mib());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        peak
    };
    let (results, during) = tokio::join!(futures_util::future::join_all(workers), sampler);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server.cpu_ms() - cpu_before;
    let mut latencies = Vec::new();
    let mut failures = 0;
    for result in results.into_iter().flatten() {
        latencies.extend(result.0);
        failures += result.1;
    }
    latencies.sort_unstable();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_mib();
    println!(
        "| {} | {clients:>3} | {:>8.0} | {:>7.2} | {:>7.2} | {:>7.2} | {before:>6.1} | {during:>6.1} | {after:>6.1} | {:>5.3} | {failures} |",
        match (door, stream) {
            (Door::Mcp, _) => "MCP tool call",
            (Door::A2a, _) => "A2A message/send",
            (Door::Agui, _) => "AG-UI stream",
            (Door::Rest, true) => "stream=true ",
            (Door::Rest, false) => "stream=false",
        },
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        cpu / latencies.len().max(1) as f64,
    );
}

/// Raises this process's open-file limit to its hard limit: thousands of streams need a socket
/// each here, and the server started from here inherits the limit.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    println!("open-file limit: {}", limit.rlim_cur);
}

/// A PostgreSQL database of the load generator's own, made afresh for one measurement.
struct BenchDatabase {
    /// The server the database lives on, connected to its usual database.
    admin: sea_orm::DatabaseConnection,
    /// The URL of the database made for the measurement.
    url: String,
}

impl BenchDatabase {
    const NAME: &str = "agentos_loadgen";

    async fn create() -> BenchDatabase {
        use sea_orm::ConnectionTrait;
        let base = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres"))
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let admin = sea_orm::Database::connect(base.as_str())
            .await
            .expect("PostgreSQL is reachable at DATABASE_URL");
        let name = Self::NAME;
        for statement in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .execute_unprepared(&statement)
                .await
                .expect("the load generator's database can be made");
        }
        // The same server and credentials, the database replaced.
        let (server, _) = base.rsplit_once('/').expect("a database in the URL");
        BenchDatabase {
            admin,
            url: format!("{server}/{name}"),
        }
    }

    async fn drop_database(self) {
        use sea_orm::ConnectionTrait;
        let _ = self
            .admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                Self::NAME
            ))
            .await;
    }
}

/// Where the server's model calls go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ModelChoice {
    /// The offline TestModel, inside the server.
    Test,
    OpenAi,
    Anthropic,
    Gemini,
}

/// A provider's mock in this process, which the server's model calls reach over loopback.
enum ProviderMock {
    OpenAi(MockOpenAi),
    Anthropic(MockAnthropic),
    Gemini(MockGemini),
}

impl ProviderMock {
    async fn start(choice: ModelChoice) -> Option<ProviderMock> {
        Some(match choice {
            ModelChoice::Test => return None,
            ModelChoice::OpenAi => ProviderMock::OpenAi(MockOpenAi::start().await),
            ModelChoice::Anthropic => ProviderMock::Anthropic(MockAnthropic::start().await),
            ModelChoice::Gemini => ProviderMock::Gemini(MockGemini::start().await),
        })
    }

    /// The server's environment for its model to be this mock.
    fn env(&self) -> Vec<(&'static str, String)> {
        let key = "loadgen".to_owned();
        match self {
            ProviderMock::OpenAi(mock) => vec![
                ("OPENAI_BASE_URL", mock.base_url()),
                ("OPENAI_API_KEY", key),
            ],
            ProviderMock::Anthropic(mock) => vec![
                ("AGENTOS_MODEL", "anthropic:claude-sonnet-4-5".to_owned()),
                ("ANTHROPIC_BASE_URL", mock.base_url()),
                ("ANTHROPIC_API_KEY", key),
            ],
            ProviderMock::Gemini(mock) => vec![
                ("AGENTOS_MODEL", "gemini:gemini-2.5-flash".to_owned()),
                ("GEMINI_BASE_URL", mock.base_url()),
                ("GEMINI_API_KEY", key),
            ],
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            ProviderMock::OpenAi(_) => "OpenAI-compatible mock (Responses API)",
            ProviderMock::Anthropic(_) => "Anthropic mock (Messages API)",
            ProviderMock::Gemini(_) => "Gemini mock (generateContent)",
        }
    }

    fn set_fault(&self, fault: Fault) {
        match self {
            ProviderMock::OpenAi(mock) => mock.set_fault(fault),
            ProviderMock::Anthropic(mock) => mock.set_fault(fault),
            ProviderMock::Gemini(mock) => mock.set_fault(fault),
        }
    }

    fn requests(&self) -> usize {
        match self {
            ProviderMock::OpenAi(mock) => mock.requests(),
            ProviderMock::Anthropic(mock) => mock.requests(),
            ProviderMock::Gemini(mock) => mock.requests(),
        }
    }
}

/// Opens `count` streams at once and holds them open, reporting memory while they are. Every
/// model call takes two seconds (TestModel's simulated latency, or the mock's delay with
/// `--model mock` or another provider), so a run's stream stays open about six seconds. Against the mock every
/// open stream also holds the server's connection to the mock, so the server needs two file
/// descriptors a stream, and the load generator two more.
async fn sse_scale(count: usize, model: ModelChoice) {
    raise_open_file_limit();
    let mock = ProviderMock::start(model).await;
    let server = match &mock {
        Some(mock) => {
            mock.set_fault(Fault::Delay(Duration::from_secs(2)));
            Server::start(&mock.env()).await
        }
        None => {
            let latency = [("AGENTOS_TEST_MODEL_LATENCY_MS", "2000".to_owned())];
            Server::start(&latency).await
        }
    };
    let idle = server.rss_mib();
    let url = format!("{}/teams/support-team/runs", server.base);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(count)
        .build()
        .unwrap();
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let began = Instant::now();
    let streams = (0..count).map(|_| {
        let client = client.clone();
        let url = url.clone();
        let opened = opened.clone();
        tokio::spawn(async move {
            let response = client
                .post(url)
                .multipart(form().text("stream", "true"))
                .send()
                .await
                .ok()?;
            let mut body = response.bytes_stream();
            body.next().await?.ok()?; // the first event: the stream is open
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            while body.next().await.is_some() {}
            Some(())
        })
    });
    let handles: Vec<_> = streams.collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while opened.load(std::sync::atomic::Ordering::SeqCst) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_now = opened.load(std::sync::atomic::Ordering::SeqCst);
    let opening = began.elapsed();
    let held = server.rss_mib();
    let completed = futures_util::future::join_all(handles)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Some(()))))
        .count();
    match &mock {
        Some(mock) => println!("model: {}, each call held 2 s", mock.describe()),
        None => println!("model: TestModel, each call taking 2 s"),
    }
    println!(
        "| SSE streams open at once | {open_now} of {count} (all open {:.1} s after the first request) |",
        opening.as_secs_f64()
    );
    println!("| resident memory, idle / with the streams open | {idle:.1} MiB / {held:.1} MiB |");
    println!("| streams that ran to TeamRunCompleted | {completed} |");
}

/// Moderate load for `minutes`, a line of figures every `interval` seconds.
async fn soak(
    clients: usize,
    minutes: u64,
    interval: u64,
    think: Duration,
    retention_seconds: Option<u64>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let mut env = Vec::new();
    if let Some(seconds) = retention_seconds {
        env.push((
            "AGENTOS_RETENTION_DAYS",
            format!("{}", seconds as f64 / 86_400.0),
        ));
    }
    let server = Server::start(&env).await;
    println!(
        "soak: {clients} clients (alternating whole and streamed runs, {} ms between runs) for \
         {minutes} min; retention {}",
        think.as_millis(),
        retention_seconds.map_or("off".to_owned(), |s| format!("{s} s"))
    );
    println!(
        "| elapsed s | runs done | runs/s | failures | p99 ms | max ms | RSS MiB | open fds | db MiB | WAL MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let url = format!("{}/teams/support-team/runs", server.base);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(minutes * 60);
    let workers: Vec<_> = (0..clients)
        .map(|n| {
            let (client, url) = (client.clone(), url.clone());
            let (done, failed, latencies) = (done.clone(), failed.clone(), latencies.clone());
            tokio::spawn(async move {
                let mut stream = n % 2 == 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if one_run(&client, &url, stream).await {
                        done.fetch_add(1, Ordering::Relaxed);
                        latencies.lock().unwrap().push(t.elapsed());
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    stream = !stream;
                    // Moderate load: without a pause, TestModel runs go at a thousand a
                    // second and a ten-minute soak writes gigabytes.
                    tokio::time::sleep(think).await;
                }
            })
        })
        .collect();
    let line = |elapsed: f64, runs: u64, rate: f64, window: &mut Vec<Duration>| {
        window.sort_unstable();
        let (db, wal) = server.db_mib();
        println!(
            "| {elapsed:>5.0} | {runs:>8} | {rate:>6.0} | {} | {:>6.1} | {:>6.1} | {:>6.1} | {:>4} | {db:>7.1} | {wal:>6.1} |",
            failed.load(Ordering::Relaxed),
            percentile(window, 0.99),
            window.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            server.rss_mib(),
            server.open_fds(),
        );
    };
    line(0.0, 0, 0.0, &mut Vec::new());
    let mut last = 0;
    let mut tick = Instant::now();
    while Instant::now() < deadline {
        let next = (tick + Duration::from_secs(interval)).min(deadline);
        tokio::time::sleep_until(next.into()).await;
        let runs = done.load(Ordering::Relaxed);
        let mut window = std::mem::take(&mut *latencies.lock().unwrap());
        let rate = (runs - last) as f64 / next.duration_since(tick).as_secs_f64();
        line(started.elapsed().as_secs_f64(), runs, rate, &mut window);
        (last, tick) = (runs, next);
    }
    futures_util::future::join_all(workers).await;
    // After the load: what the server holds once it has been idle a little.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (db, wal) = server.db_mib();
    println!(
        "idle 5 s after the load: RSS {:.1} MiB, {} open fds, db {db:.1} MiB, WAL {wal:.1} MiB",
        server.rss_mib(),
        server.open_fds()
    );
    if let Ok(store) = reqwest::get(format!("{}/admin/store", server.base)).await
        && let Ok(text) = store.text().await
    {
        println!("GET /admin/store: {text}");
    }
}

#[tokio::main]
async fn main() {
    agentos::tls::install_crypto_provider();
    let options = options();
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    if let Some(count) = options.sse_streams {
        sse_scale(count, options.model).await;
        return;
    }
    if let Some(minutes) = options.soak_minutes {
        let clients = if options.clients_given {
            options.clients.first().copied().unwrap_or(8)
        } else {
            8
        };
        soak(
            clients,
            minutes,
            options.soak_interval.max(1),
            Duration::from_millis(options.think_ms),
            options.retention_seconds,
        )
        .await;
        return;
    }
    let mock = ProviderMock::start(options.model).await;
    let mut env = mock.as_ref().map(ProviderMock::env).unwrap_or_default();
    let database = if options.postgres {
        Some(BenchDatabase::create().await)
    } else {
        None
    };
    if let Some(database) = &database {
        env.push(("DATABASE_URL", database.url.clone()));
    }
    if options.memory {
        env.push(("AGENTOS_MEMORY", "on".to_owned()));
    }
    let server = Server::start(&env).await;
    println!(
        "memory: {}",
        if options.memory {
            "on (read before each run, captured after it)"
        } else {
            "off"
        }
    );
    println!(
        "model: {}; store: {}; idle server: {:.1} MiB resident",
        match &mock {
            Some(mock) => format!("{} over loopback (3 HTTP calls a run)", mock.describe()),
            None => "TestModel in process".to_owned(),
        },
        if options.postgres {
            "PostgreSQL (local)"
        } else {
            "SQLite file"
        },
        server.rss_mib()
    );
    println!(
        "| mode | clients | runs/s | p50 ms | p90 ms | p99 ms | RSS before | RSS peak | RSS after | server CPU ms/run | failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for clients in &options.clients {
        load(
            &server,
            *clients,
            options.seconds,
            options.stream,
            options.door,
        )
        .await;
    }
    if let Some(mock) = &mock {
        println!("model calls answered by the mock: {}", mock.requests());
    }
    drop(server);
    if let Some(database) = database {
        database.drop_database().await;
    }
}
