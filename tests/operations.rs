//! What an operator relies on: a readiness route that follows the store, and a shutdown whose
//! grace bounds every run (streamed, whole and background alike), leaving none RUNNING.

mod support;

use std::time::{Duration, Instant};

use agentos::prelude::*;
use reqwest::StatusCode;
use serde_json::Value;
use support::db::TestDb;
use support::{Cuttable, SseReader, TestServer, client, form, sleepy_team};

#[tokio::test]
async fn readiness_follows_the_store_while_liveness_stays_up() {
    if !TestDb::on_postgres() {
        // Only a network database can be cut away from a running server.
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = TestDb::new().await;
    let agentos::store::Db::Postgres(url) = db.db() else {
        unreachable!()
    };
    let proxy = Cuttable::to("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let os = AgentOs::builder()
        .team(Team::new("Support").with_model(agentos::TestModel::new()))
        .db(agentos::store::Db::postgres(proxied))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(os).await;
    let status = |path: &'static str| {
        let url = server.url(path);
        async move { client().get(url).send().await.unwrap().status() }
    };
    assert_eq!(status("/ready").await, StatusCode::OK);
    proxy.set(false);
    let started = Instant::now();
    assert_eq!(status("/ready").await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "readiness answers promptly"
    );
    assert_eq!(
        status("/health").await,
        StatusCode::OK,
        "the process is alive"
    );
    proxy.set(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status("/ready").await != StatusCode::OK {
        assert!(Instant::now() < deadline, "readiness did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_grace_bounds_every_run_and_the_rest_are_stored_interrupted() {
    let db = std::sync::Arc::new(TestDb::new().await);
    let os = AgentOs::builder()
        .team(sleepy_team("Endless Team", Duration::from_secs(60)))
        .shutdown_grace(Duration::from_secs(1))
        .db(db.db())
        .build()
        .await
        .unwrap();
    let mut server = TestServer::start(os.clone()).await;
    let path = "/teams/endless-team/runs";
    let stream = client()
        .post(server.url(path))
        .multipart(form(&[("message", "stream"), ("stream", "true")]))
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(stream);
    let first = stream.next_frame().await.unwrap();
    let streamed = first.data["run_id"].as_str().unwrap().to_owned();
    let whole_url = server.url(path);
    let whole = tokio::spawn(async move {
        client()
            .post(whole_url)
            .multipart(form(&[("message", "whole"), ("stream", "false")]))
            .send()
            .await
    });
    let background: Value = client()
        .post(server.url(path))
        .multipart(form(&[
            ("message", "background"),
            ("stream", "false"),
            ("background", "true"),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let background = background["run_id"].as_str().unwrap().to_owned();
    while os.runs_in_flight() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stopping = Instant::now();
    server.stop();
    let handle = std::mem::replace(&mut server.handle, tokio::spawn(async { Ok(()) }));
    tokio::time::timeout(Duration::from_secs(15), handle)
        .await
        .expect("the server exits soon after its grace")
        .unwrap()
        .unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(12),
        "{:?}",
        stopping.elapsed()
    );

    // The stream's last event says how it ended; the whole answer is the interrupted run.
    let rest = stream.rest().await;
    let last = rest.last().expect("the stream ends with an event");
    assert_eq!(last.event, "TeamRunError", "{last:?}");
    assert_eq!(last.data["error_type"], "interrupted");
    let whole = whole.await.unwrap().unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let whole: Value = whole.json().await.unwrap();
    assert_eq!(whole["status"], "ERROR", "{whole}");

    for run_id in [
        streamed,
        background,
        whole["run_id"].as_str().unwrap().to_owned(),
    ] {
        let run = os.store().run(&run_id).await.unwrap().expect("stored");
        assert_eq!(run.status, agentos::RunStatus::Error, "{run_id}");
        let output = run.output.expect("an output");
        assert!(output.content.contains("shut down"), "{}", output.content);
    }
}
