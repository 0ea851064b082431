//! Example programs started as processes of their own, on a free port, with a database in a
//! directory of their own.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{client, form};

/// A running example; killed if a test fails before it stops it.
pub struct Example {
    child: Child,
    pub base: String,
    pub dir: Arc<TempDir>,
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `target/<profile>/examples/<name>`, built (or brought up to date) by this test process
/// first: `cargo test` builds examples as test harnesses, not as the programs a user runs.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    BUILT.call_once(|| {
        // Tests that race here wait on cargo's lock; an up-to-date build is quick.
        let status = Command::new(env!("CARGO"))
            .args(["build", "--examples"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the examples failed");
    });
    profile_dir.join("examples").join(name)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Example {
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("agentos-example-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(name, env, Arc::new(TempDir(dir))).await
    }

    /// Starts `name` in `dir`, with its database there: a second start finds the first's data.
    pub async fn start_in(name: &str, env: &[(&str, &str)], dir: Arc<TempDir>) -> Self {
        let port = free_port();
        let mut command = Command::new(example_binary(name));
        command
            .current_dir(&dir.0)
            .env("AGENTOS_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "DATABASE_URL",
                format!("sqlite:{}", dir.0.join("agentos.db").display()),
            )
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("AGENTOS_MODEL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("the example starts");
        let example = Example {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = client().get(example.url("/health")).send().await
                && response.status() == StatusCode::OK
            {
                return example;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn run(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Value) {
        let response = client()
            .post(self.url(path))
            .multipart(form(fields))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// SIGTERM, then the exit status must be success.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the example exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the example did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Example {
    /// SIGKILL: the process dies at once, in the middle of whatever it was doing.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
