//! An `AgentOs` owns its background work: when the last handle to it (or to its router) is
//! dropped, the run watcher, the store's writer and its checkpoint loop stop, and the database
//! connections close. A process that builds an OS per test, or per tenant, leaks nothing.

mod support;

use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::store::Db;
use sea_orm::{ConnectionTrait, Database, Statement};
use support::db::TestDb;
use support::{TestServer, client, form};

/// Open file descriptors of this process whose target is under `dir`.
fn open_files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter(|target| target.starts_with(dir))
                .count()
        })
        .unwrap_or(0)
}

/// Connections to the test's PostgreSQL database, seen from the server.
async fn postgres_connections(admin: &str, name: &str) -> i64 {
    let conn = Database::connect(admin).await.expect("PostgreSQL");
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{name}'"),
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    let count: i64 = row.try_get("", "n").expect("a count");
    let _ = conn.close().await;
    count
}

async fn connections(db: &TestDb, dir: Option<&std::path::Path>) -> usize {
    match (db.postgres_names(), dir) {
        (Some((admin, name)), _) => postgres_connections(admin, name).await as usize,
        (None, Some(dir)) => open_files_under(dir),
        (None, None) => 0,
    }
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Waits until `measure` is at most `bound`, for up to five seconds; returns the last value.
async fn settles_to<F, Fut>(bound: usize, mut measure: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut last = usize::MAX;
    for _ in 0..100 {
        last = measure().await;
        if last <= bound {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_os_stops_its_tasks_and_closes_its_connections() {
    let db = TestDb::new().await;
    let dir = match db.db() {
        Db::Sqlite(path) => std::path::Path::new(&path)
            .parent()
            .map(|p| p.to_path_buf()),
        _ => None,
    };
    let tasks_before = alive_tasks();
    let connections_before = connections(&db, dir.as_deref()).await;

    for round in 0..10 {
        let os = AgentOs::builder()
            .team(Team::new("Support").with_model(TestModel::new()))
            .db(db.db())
            .build()
            .await
            .expect("an OS");
        assert!(alive_tasks() > tasks_before, "an OS runs background tasks");
        if round % 2 == 0 {
            // Served on a socket, with a run, then shut down.
            let mut server = TestServer::start(os).await;
            let response = client()
                .post(server.url("/teams/support/runs"))
                .multipart(form(&[("message", "hello"), ("stream", "false")]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            server.stop();
            (&mut server.handle).await.unwrap().unwrap();
            drop(server);
        } else {
            // A router nested in an application keeps the OS alive on its own.
            let router = os.router();
            drop(os);
            drop(router);
        }
    }

    let tasks = settles_to(tasks_before, || async { alive_tasks() }).await;
    assert!(
        tasks <= tasks_before,
        "tasks left running: {tasks} (was {tasks_before})"
    );
    let open = settles_to(connections_before, || connections(&db, dir.as_deref())).await;
    assert!(
        open <= connections_before,
        "connections left open: {open} (was {connections_before})"
    );
}
