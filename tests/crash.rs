//! A server killed with SIGKILL under load, then started again on the same database: once its
//! sweep has run, no run is left RUNNING, every run whose answer reached a client is stored
//! COMPLETED with that answer, and every background run accepted with 202 is finished or marked
//! interrupted, never lost. A real process on SQLite, and on PostgreSQL with
//! `AGENTOS_TEST_DB=postgres`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentos::store::Db;
use agentos::testing::{Fault, MockOpenAi};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;
use support::db::TestDb;
use support::process::{Example, TempDir};
use support::{SseReader, client, form};

/// What the clients were told before the kill.
#[derive(Default)]
struct Told {
    /// Runs answered whole with COMPLETED, with their content.
    completed: Vec<(String, String)>,
    /// Runs whose stream delivered TeamRunCompleted.
    streamed: Vec<String>,
    /// Background runs accepted with 202.
    accepted: Vec<String>,
}

async fn load(base: String, told: Arc<Mutex<Told>>, worker: usize) {
    let path = format!("{base}/teams/support-team/runs");
    for round in 0.. {
        let message = format!("I need help with billing, worker {worker} round {round}");
        let user = format!("tenant-{worker}");
        let fields = |stream: &str, background: &str| {
            form(&[
                ("message", &message),
                ("user_id", &user),
                ("stream", stream),
                ("background", background),
            ])
        };
        let result = match round % 3 {
            0 => {
                let response = client()
                    .post(&path)
                    .multipart(fields("false", "false"))
                    .send()
                    .await;
                match response {
                    Ok(response) if response.status() == StatusCode::OK => {
                        match response.json::<Value>().await {
                            Ok(run) if run["status"] == "COMPLETED" => {
                                told.lock().unwrap().completed.push((
                                    run["run_id"].as_str().unwrap().to_owned(),
                                    run["content"].as_str().unwrap().to_owned(),
                                ));
                                Ok(())
                            }
                            _ => Err(()),
                        }
                    }
                    _ => Err(()),
                }
            }
            1 => match client()
                .post(&path)
                .multipart(fields("false", "true"))
                .send()
                .await
            {
                Ok(response) if response.status() == StatusCode::ACCEPTED => {
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    if let Some(run_id) = body["run_id"].as_str() {
                        told.lock().unwrap().accepted.push(run_id.to_owned());
                    }
                    Ok(())
                }
                _ => Err(()),
            },
            _ => match client()
                .post(&path)
                .multipart(fields("true", "false"))
                .send()
                .await
            {
                Ok(response) => {
                    let frames = SseReader::new(response).rest().await;
                    if let Some(done) = frames.iter().find(|f| f.event == "TeamRunCompleted") {
                        told.lock()
                            .unwrap()
                            .streamed
                            .push(done.data["run_id"].as_str().unwrap().to_owned());
                    }
                    Ok(())
                }
                Err(_) => Err(()),
            },
        };
        if result.is_err() {
            return; // the server is gone
        }
    }
}

/// Rows of `agentos_runs` still running or queued.
async fn unfinished(url: &str) -> i64 {
    let conn = Database::connect(url).await.expect("the database");
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT count(*) AS n FROM agentos_runs WHERE status IN ('RUNNING', 'PENDING')",
        ))
        .await
        .unwrap()
        .unwrap();
    let count: i64 = row.try_get("", "n").unwrap();
    let _ = conn.close().await;
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_under_load_loses_no_run_it_answered() {
    let db = TestDb::new().await;
    let url = match db.db() {
        Db::Sqlite(path) => format!("sqlite://{path}"),
        Db::Postgres(url) => url,
        Db::Memory => unreachable!(),
    };
    let mock = MockOpenAi::start().await;
    // Each model call takes a while, so runs are in flight when the process dies.
    mock.set_fault(Fault::Delay(Duration::from_millis(150)));
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("OPENAI_API_KEY", "test-key"),
        ("OPENAI_BASE_URL", &mock.base_url()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, *v)).collect();
    let dir = std::env::temp_dir().join(format!("agentos-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = Arc::new(TempDir(dir));

    let server = Example::start_in("basic_team_factory", &env, dir.clone()).await;
    let told = Arc::new(Mutex::new(Told::default()));
    let workers: Vec<_> = (0..12)
        .map(|worker| tokio::spawn(load(server.base.clone(), told.clone(), worker)))
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    }
    let told = std::mem::take(&mut *told.lock().unwrap());
    assert!(
        told.completed.len() + told.streamed.len() > 5 && !told.accepted.is_empty(),
        "the load reached the server: {} whole, {} streamed, {} accepted",
        told.completed.len(),
        told.streamed.len(),
        told.accepted.len()
    );
    assert!(
        unfinished(&url).await > 0,
        "runs were in flight at the kill"
    );

    let restarted = Example::start_in("basic_team_factory", &env, dir.clone()).await;
    // SQLite: the restart itself finds the dead process's runs. PostgreSQL, shared by
    // replicas: its sweep marks runs whose heartbeat stopped, within 30 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while unfinished(&url).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "runs still RUNNING after the sweep"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let read = |run_id: String| {
        let url = restarted.url(&format!("/teams/support-team/runs/{run_id}"));
        async move {
            let response = client().get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "run {run_id} is stored");
            response.json::<Value>().await.unwrap()
        }
    };
    for (run_id, content) in &told.completed {
        let run = read(run_id.clone()).await;
        assert_eq!(run["status"], "COMPLETED", "{run}");
        assert_eq!(run["content"], content.as_str());
    }
    for run_id in &told.streamed {
        let run = read(run_id.clone()).await;
        assert_eq!(run["status"], "COMPLETED", "{run}");
    }
    for run_id in &told.accepted {
        let run = read(run_id.clone()).await;
        let status = run["status"].as_str().unwrap();
        assert!(
            status == "COMPLETED" || status == "ERROR",
            "a background run is finished or interrupted: {run}"
        );
        if status == "ERROR" {
            assert!(run["content"].as_str().unwrap().contains("interrupted"));
        }
    }
    restarted.stop();
}
