//! Idle-connection measurement: starts the basic example's server as its own process, opens
//! many idle connections to it (half silent, half kept alive after one request), then prints
//! the latency of `/health` and of a run on a new connection, how many descriptors the
//! server holds, and its resident memory per idle connection.
//!
//! Run with (release, so the figures mean something):
//!     cargo run --release --example idle_connections -- --idle 1100
//!     cargo run --release --example idle_connections -- --idle 1124 --nofile 1024
//!
//! `--nofile N` starts the server with an open-file limit of N (soft and hard), as in the
//! setting where idle connections used to starve every new request. The header and idle
//! timeouts are raised to 5 minutes so nothing is reclaimed while measuring. Only 127.0.0.1
//! is contacted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    addr: String,
    _dir: PathBuf,
}

impl Server {
    fn binary() -> PathBuf {
        let exe = std::env::current_exe().expect("own path");
        let dir = exe.parent().expect("examples dir").to_path_buf();
        let binary = dir.join("basic_team_factory");
        if !binary.exists() {
            let mut build = Command::new("cargo");
            build.args(["build", "--example", "basic_team_factory"]);
            if dir.to_string_lossy().contains("release") {
                build.arg("--release");
            }
            assert!(build.status().expect("cargo").success(), "build failed");
        }
        binary
    }

    async fn start(nofile: Option<u64>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("agentos-idle-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        // The shell sets the limit, then becomes the server: the pid is the server's.
        let limit = nofile.map_or("unlimited".to_owned(), |n| n.to_string());
        let script = match nofile {
            Some(_) => r#"ulimit -n "$1" && exec "$0""#,
            None => r#"exec "$0""#,
        };
        let child = Command::new("sh")
            .args(["-c", script])
            .arg(Self::binary())
            .arg(limit)
            .current_dir(&dir)
            .env("AGENTOS_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                format!("sqlite:{}", dir.join("agentos.db").display()),
            )
            .env("AGENTOS_HEADER_READ_TIMEOUT_SECS", "300")
            .env("AGENTOS_IDLE_TIMEOUT_SECS", "300")
            .env("RUST_LOG", "info")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts");
        let server = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
            _dir: dir,
        };
        for _ in 0..600 {
            if server.request("GET", "/health", "").await.is_some() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not come up");
    }

    fn proc(&self, what: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{what}", self.child.id())).unwrap_or_default()
    }

    fn rss_kib(&self) -> f64 {
        self.proc("status")
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0.0)
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    /// One request on a new connection; the status, or `None` if it failed or took over 10 s.
    async fn request(&self, method: &str, path: &str, form: &str) -> Option<u16> {
        let exchange = async {
            let mut stream = TcpStream::connect(&self.addr).await.ok()?;
            let head = format!(
                "{method} {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\
                 content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
                form.len()
            );
            stream.write_all(head.as_bytes()).await.ok()?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.ok()?;
            String::from_utf8_lossy(answer.get(9..12)?).parse().ok()
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The median and worst of `rounds` requests, in ms, and how many answered 200.
async fn latency(
    server: &Server,
    method: &str,
    path: &str,
    form: &str,
    rounds: usize,
) -> (f64, f64, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut ok = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        ok += usize::from(server.request(method, path, form).await == Some(200));
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], ok)
}

async fn report(server: &Server, label: &str) {
    let (health_p50, health_max, health_ok) = latency(server, "GET", "/health", "", 20).await;
    let (run_p50, run_max, run_ok) = latency(
        server,
        "POST",
        "/teams/support-team/runs",
        "message=hello&stream=false",
        10,
    )
    .await;
    println!(
        "{label}: /health p50 {health_p50:.1} ms, max {health_max:.1} ms, {health_ok}/20 ok; \
         run p50 {run_p50:.1} ms, max {run_max:.1} ms, {run_ok}/10 ok; server holds {} descriptors",
        server.open_files()
    );
}

#[tokio::main]
async fn main() {
    let mut idle = 1_100;
    let mut nofile = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--idle" => idle = args.next().and_then(|n| n.parse().ok()).unwrap_or(idle),
            "--nofile" => nofile = args.next().and_then(|n| n.parse().ok()),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    let server = Server::start(nofile).await;
    report(&server, "no idle connections").await;
    let before = server.rss_kib();
    let baseline = server.open_files();
    let mut open = Vec::with_capacity(idle);
    for i in 0..idle {
        let Ok(mut stream) = TcpStream::connect(&server.addr).await else {
            continue;
        };
        if i % 2 == 1 {
            let _ = stream
                .write_all(b"GET /health HTTP/1.1\r\nhost: bench\r\n\r\n")
                .await;
            let mut answer = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer)).await;
        }
        open.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    let held = server.open_files();
    println!(
        "opened {} idle connections (server limit: {}); server RSS {:.1} -> {:.1} MiB",
        open.len(),
        nofile.map_or("its own".to_owned(), |n| n.to_string()),
        before / 1024.0,
        after / 1024.0
    );
    report(&server, &format!("{} idle connections", open.len())).await;
    let served = held.saturating_sub(baseline).max(1);
    println!(
        "about {:.1} KiB of server RSS per idle connection it holds ({served})",
        (after - before) / served as f64
    );
}
