//! Limits per user: one tenant over a limit gets 429 with `Retry-After` and a `detail` naming
//! it, changes nothing, and leaves the other tenants' runs alone. On SQLite by default and on
//! PostgreSQL with `AGENTOS_TEST_DB=postgres` (where the token budget is shared by replicas).

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::TestModel;
use agentos::prelude::*;
use agentos::runs::UserLimits;
use reqwest::StatusCode;
use serde_json::Value;
use support::db::TestDb;
use support::{TestServer, client, form, sleepy_team};

async fn run(
    server: &TestServer,
    user: &str,
    session: &str,
    background: bool,
) -> reqwest::Response {
    let background = if background { "true" } else { "false" };
    client()
        .post(server.url("/teams/support/runs"))
        .multipart(form(&[
            ("message", "hello"),
            ("user_id", user),
            ("session_id", session),
            ("stream", "false"),
            ("background", background),
        ]))
        .send()
        .await
        .unwrap()
}

fn support() -> Team {
    Team::new("Support").with_model(TestModel::new())
}

async fn assert_limited(response: reqwest::Response, limit: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains(limit), "{body}");
    assert_eq!(body["error_code"], "rate_limited");
}

async fn runs_in(server: &TestServer, user: &str, session: &str) -> usize {
    let runs: Value = client()
        .get(server.url(&format!(
            "/teams/support/runs?session_id={session}&user_id={user}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    runs.as_array().unwrap().len()
}

#[tokio::test]
async fn runs_per_minute_limit_one_user_and_not_another() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(support())
            .user_limits(UserLimits::default().runs_per_minute(3)),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(
            run(&server, "ada", "sess-ada", false).await.status(),
            StatusCode::OK
        );
    }
    assert_limited(
        run(&server, "ada", "sess-ada", false).await,
        "runs per minute",
    )
    .await;
    assert_eq!(
        runs_in(&server, "ada", "sess-ada").await,
        3,
        "the refused run wrote nothing"
    );
    // Ada's refusals do not touch Bob's allowance: his three runs go through.
    for _ in 0..3 {
        assert_eq!(
            run(&server, "bob", "sess-bob", false).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn concurrent_runs_limit_one_user_and_not_another() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(sleepy_team("Support", Duration::from_millis(400)))
            .user_limits(UserLimits::default().concurrent_runs(1)),
    )
    .await;
    let first = run(&server, "ada", "sess-1", true).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_limited(run(&server, "ada", "sess-2", true).await, "concurrent runs").await;
    assert_eq!(
        run(&server, "bob", "sess-3", true).await.status(),
        StatusCode::ACCEPTED
    );
    // Once ada's run has ended, she runs again.
    let mut status = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = run(&server, "ada", "sess-4", true).await.status();
        if status == StatusCode::ACCEPTED {
            break;
        }
    }
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_daily_token_budget_is_counted_in_the_store_and_shared_by_replicas() {
    let db = Arc::new(TestDb::new().await);
    let limits = UserLimits::default().daily_tokens(30);
    let builder = || AgentOs::builder().team(support()).user_limits(limits);
    let a = TestServer::on(builder(), db.clone()).await;
    // The first run is let through and uses more than the whole budget.
    let first: Value = run(&a, "ada", "sess-a", false).await.json().await.unwrap();
    assert_eq!(first["status"], "COMPLETED");
    assert!(
        first["metrics"]["total_tokens"].as_u64().unwrap() > 30,
        "{first}"
    );
    assert_limited(run(&a, "ada", "sess-a", false).await, "daily tokens").await;
    assert_eq!(
        run(&a, "bob", "sess-b", false).await.status(),
        StatusCode::OK
    );
    if TestDb::on_postgres() {
        // Another replica on the same database knows what ada used.
        let b = TestServer::on(builder(), db.clone()).await;
        assert_limited(run(&b, "ada", "sess-c", false).await, "daily tokens").await;
        assert_eq!(
            run(&b, "carol", "sess-d", false).await.status(),
            StatusCode::OK
        );
    }
}
