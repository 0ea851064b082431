//! `GET /metrics`: the Prometheus exposition moves as runs happen (completed, failed, refused
//! by a limit, streamed), counts model calls and tokens by model and HTTP answers by route
//! template, keeps user ids and raw paths out of its labels, and is for admins only when
//! authentication is on. On SQLite by default and on PostgreSQL with `AGENTOS_TEST_DB=postgres`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use agentos::TestModel;
use agentos::model::{Model, ModelError, ModelRequest, ModelResponse};
use agentos::prelude::*;
use agentos::runs::UserLimits;
use agentos::server::JwtAuth;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SseReader, TestServer, client, form, sleepy_team, token};

const SECRET: &[u8] = b"metrics-hs256-secret-with-at-least-32-bytes";

/// A model whose provider is always down.
struct Down;

impl Model for Down {
    fn id(&self) -> &str {
        "down-model"
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn complete(&self, _: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(std::future::ready(Err(ModelError::Status {
            status: 503,
            message: "upstream is down".into(),
        })))
    }
}

fn support() -> Team {
    Team::new("Support")
        .with_model(TestModel::with_id("leader-model"))
        .with_members([Agent::new("Helper").with_model(TestModel::with_id("member-model"))])
}

fn broken() -> Agent {
    Agent::new("Broken").with_model(Down)
}

/// One sample of the exposition: its labels and value.
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition (format 0.0.4): `name{label="value",...} number` lines.
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}').expect("closed labels")),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                    (key.to_owned(), value.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The exposition as read over HTTP.
struct Exposition(Vec<Sample>, String);

impl Exposition {
    /// The sum of the samples of `name` that carry every label of `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.0.iter().any(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

async fn metrics(server: &TestServer) -> Exposition {
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    Exposition(parse(&text), text)
}

async fn run(server: &TestServer, path: &str, user: &str) -> reqwest::Response {
    client()
        .post(server.url(path))
        .multipart(form(&[
            ("message", "hello"),
            ("user_id", user),
            ("stream", "false"),
        ]))
        .send()
        .await
        .unwrap()
}

/// Input and output tokens of a run and its members, as the run reports them.
fn tokens(run: &Value) -> (f64, f64) {
    let mut input = run["metrics"]["input_tokens"].as_f64().unwrap_or(0.0);
    let mut output = run["metrics"]["output_tokens"].as_f64().unwrap_or(0.0);
    for member in run["member_responses"].as_array().into_iter().flatten() {
        let (i, o) = tokens(member);
        input += i;
        output += o;
    }
    (input, output)
}

#[tokio::test]
async fn runs_model_calls_and_requests_are_counted_as_they_happen() {
    let server = TestServer::with(AgentOs::builder().team(support()).agent(broken())).await;
    // A second server in the same process counts apart.
    let other = TestServer::with(AgentOs::builder().team(support())).await;

    let before = metrics(&server).await;
    let team = [("kind", "team"), ("component", "support")];
    assert_eq!(before.value("agentos_runs_started_total", &team), 0.0);
    assert!(
        before.has("agentos_runs_started_total", &team),
        "served components are listed from the start"
    );

    let completed: Value = run(&server, "/teams/support/runs", "ada")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(completed["status"], "COMPLETED");
    let failed: Value = run(&server, "/agents/broken/runs", "ada")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["status"], "ERROR");
    let missing = client()
        .get(server.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // `/metrics` answers GET only, as agno's does.
    let posted = client().post(server.url("/metrics")).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);

    let after = metrics(&server).await;
    assert_eq!(after.value("agentos_runs_started_total", &team), 1.0);
    let done = [
        ("kind", "team"),
        ("component", "support"),
        ("status", "COMPLETED"),
    ];
    assert_eq!(after.value("agentos_runs_finished_total", &done), 1.0);
    let broken = [("kind", "agent"), ("component", "broken")];
    assert_eq!(after.value("agentos_runs_started_total", &broken), 1.0);
    let errored = [
        ("kind", "agent"),
        ("component", "broken"),
        ("status", "ERROR"),
    ];
    assert_eq!(after.value("agentos_runs_finished_total", &errored), 1.0);
    assert_eq!(
        after.value("agentos_run_duration_seconds_count", &team),
        1.0
    );
    assert!(after.value("agentos_run_duration_seconds_sum", &team) > 0.0);
    assert_eq!(
        after.value("agentos_run_time_to_first_token_seconds_count", &team),
        1.0
    );

    // Model calls and tokens, by model: the leader and its member, as the run reports them.
    let leader = [("model", "leader-model"), ("provider", "Test")];
    let member = [("model", "member-model"), ("provider", "Test")];
    assert!(after.value("agentos_model_calls_total", &leader) >= 2.0);
    assert!(after.value("agentos_model_calls_total", &member) >= 1.0);
    let (input, output) = tokens(&completed);
    assert!(input > 0.0 && output > 0.0, "{completed}");
    assert_eq!(
        after.value("agentos_model_tokens_total", &[("direction", "input")]),
        input
    );
    assert_eq!(
        after.value("agentos_model_tokens_total", &[("direction", "output")]),
        output
    );
    let down = [("model", "down-model"), ("provider", "Test")];
    assert_eq!(after.value("agentos_model_calls_total", &down), 1.0);
    assert_eq!(
        after.value(
            "agentos_model_errors_total",
            &[("model", "down-model"), ("error", "status")]
        ),
        1.0
    );

    // HTTP answers by route template and status; unknown routes share one label.
    let runs_route = [
        ("route", "/teams/{id}/runs"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(after.value("agentos_http_requests_total", &runs_route), 1.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(after.value("agentos_http_requests_total", &unmatched), 1.0);
    let scrapes = [("route", "/metrics"), ("status", "200")];
    assert_eq!(after.value("agentos_http_requests_total", &scrapes), 1.0);

    // Store writes: a short whole run in a new session is written once, by its end.
    let started_writes = after.value("agentos_store_write_seconds_count", &[("op", "start_run")]);
    let finished_writes = after.value("agentos_store_write_seconds_count", &[("op", "finish_run")]);
    assert_eq!((started_writes, finished_writes), (0.0, 2.0), "{}", after.1);
    assert!(after.has("agentos_store_retries_total", &[("reason", "unavailable")]));

    // Nothing a caller sent became a label: no user id, no raw path.
    assert!(!after.1.contains("ada"), "{}", after.1);
    assert!(!after.1.contains("/teams/support"), "{}", after.1);
    assert!(!after.1.contains("/no/such"), "{}", after.1);

    let untouched = metrics(&other).await;
    assert_eq!(untouched.value("agentos_runs_started_total", &team), 0.0);
    assert_eq!(untouched.value("agentos_model_calls_total", &[]), 0.0);
}

#[tokio::test]
async fn limit_and_busy_rejections_are_counted_by_limit() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(support())
            .user_limits(UserLimits::default().runs_per_minute(1)),
    )
    .await;
    assert_eq!(
        run(&server, "/teams/support/runs", "ada").await.status(),
        StatusCode::OK
    );
    let refused = run(&server, "/teams/support/runs", "ada").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another user is not limited by ada's allowance.
    assert_eq!(
        run(&server, "/teams/support/runs", "bob").await.status(),
        StatusCode::OK
    );

    let after = metrics(&server).await;
    assert_eq!(
        after.value(
            "agentos_limit_rejections_total",
            &[("limit", "runs_per_minute")]
        ),
        1.0
    );
    let team = [("kind", "team"), ("component", "support")];
    assert_eq!(after.value("agentos_runs_started_total", &team), 2.0);
    let refused_route = [("route", "/teams/{id}/runs"), ("status", "429")];
    assert_eq!(
        after.value("agentos_http_requests_total", &refused_route),
        1.0
    );
    assert!(!after.1.contains("ada") && !after.1.contains("bob"));
}

#[tokio::test]
async fn a_busy_session_refusal_is_counted() {
    let server = TestServer::with(
        AgentOs::builder().team(sleepy_team("Support", Duration::from_millis(400))),
    )
    .await;
    let start = |background: &'static str| {
        client()
            .post(server.url("/teams/support/runs"))
            .multipart(form(&[
                ("message", "hello"),
                ("session_id", "busy-session"),
                ("stream", "false"),
                ("background", background),
                ("multitask_strategy", "reject"),
            ]))
            .send()
    };
    assert_eq!(start("true").await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(start("true").await.unwrap().status(), StatusCode::CONFLICT);
    let after = metrics(&server).await;
    assert_eq!(
        after.value("agentos_session_busy_rejections_total", &[]),
        1.0
    );
}

#[tokio::test]
async fn an_open_stream_is_counted_until_it_ends() {
    let server = TestServer::with(
        AgentOs::builder().team(sleepy_team("Support", Duration::from_millis(300))),
    )
    .await;
    assert_eq!(
        metrics(&server).await.value("agentos_open_streams", &[]),
        0.0
    );
    let response = client()
        .post(server.url("/teams/support/runs"))
        .multipart(form(&[("message", "hello"), ("stream", "true")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut stream = SseReader::new(response);
    assert!(stream.next_frame().await.is_some());
    assert_eq!(
        metrics(&server).await.value("agentos_open_streams", &[]),
        1.0
    );
    let rest = stream.rest().await;
    assert_eq!(rest.last().unwrap().event, "TeamRunCompleted");
    // The gauge falls when the server drops the body, just after its last frame.
    let mut open = 1.0;
    for _ in 0..50 {
        open = metrics(&server).await.value("agentos_open_streams", &[]);
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0.0);
    let after = metrics(&server).await;
    let done = [("component", "support"), ("status", "COMPLETED")];
    assert_eq!(after.value("agentos_runs_finished_total", &done), 1.0);
    assert_eq!(
        after.value(
            "agentos_run_time_to_first_token_seconds_count",
            &[("component", "support")]
        ),
        1.0
    );
}

#[tokio::test]
async fn with_auth_only_an_admin_reads_metrics() {
    let server = TestServer::with(
        AgentOs::builder()
            .team(support())
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let get = |token: Option<String>| {
        let mut request = client().get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let anonymous = get(None).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");

    let user = token(SECRET, "ada", json!(["teams:run", "sessions:read"]));
    let forbidden = get(Some(user)).await.unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let body: Value = forbidden.json().await.unwrap();
    assert_eq!(body["error_code"], "missing_scope");
    assert!(
        body["detail"].as_str().unwrap().contains("agent_os:admin"),
        "{body}"
    );

    let admin = token(SECRET, "root", json!(["agent_os:admin"]));
    let allowed = get(Some(admin)).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let text = allowed.text().await.unwrap();
    let exposition = Exposition(parse(&text), text);
    let refused = |status| [("route", "/metrics"), ("status", status)];
    assert_eq!(
        exposition.value("agentos_http_requests_total", &refused("401")),
        1.0
    );
    assert_eq!(
        exposition.value("agentos_http_requests_total", &refused("403")),
        1.0
    );
}

#[tokio::test]
async fn store_retries_are_counted_while_the_store_is_away() {
    if !support::db::TestDb::on_postgres() {
        eprintln!("skipped: needs AGENTOS_TEST_DB=postgres (runs in .ci/run)");
        return;
    }
    let db = support::db::TestDb::new().await;
    let agentos::store::Db::Postgres(url) = db.db() else {
        unreachable!()
    };
    let proxy = support::Cuttable::to("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let os = AgentOs::builder()
        .team(sleepy_team("Support", Duration::from_millis(200)))
        .store_retry_window(Duration::from_millis(1500))
        .db(agentos::store::Db::postgres(proxied))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(os).await;
    let before = metrics(&server).await;
    assert_eq!(
        before.value("agentos_store_retries_total", &[("reason", "unavailable")]),
        0.0
    );

    // The store goes away while the run runs: its end is tried again until the window ends.
    let request = client()
        .post(server.url("/teams/support/runs"))
        .multipart(form(&[("message", "hello"), ("stream", "false")]))
        .send();
    let cut = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        proxy.set(false);
    };
    let (response, ()) = tokio::join!(request, cut);
    assert_eq!(response.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);

    // The exposition needs no store: it answers while the store is still away.
    let during = metrics(&server).await;
    assert!(
        during.value("agentos_store_retries_total", &[("reason", "unavailable")]) >= 1.0,
        "{}",
        during.1
    );
    let finish_writes = during.value("agentos_store_write_seconds_count", &[("op", "finish_run")]);
    assert!(finish_writes >= 1.0, "every attempt is a timed write");
    proxy.set(true);
}

/// `GET /metrics` as agno's control plane asks for it.
async fn usage(server: &TestServer, bearer: &str, query: &str) -> (StatusCode, Value) {
    let response = client()
        .get(server.url(&format!("/metrics{query}")))
        .header("accept", "application/json, text/plain, */*")
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A run as `bearer`'s user, whole, in `session`.
async fn run_as(server: &TestServer, path: &str, bearer: &str, session: &str) -> Value {
    let response = client()
        .post(server.url(path))
        .bearer_auth(bearer)
        .multipart(form(&[
            ("message", "hello"),
            ("session_id", session),
            ("stream", "false"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn json_metrics_count_each_days_runs_for_the_caller_and_everyone_for_an_admin() {
    let flow = Workflow::new("Relay").with_steps([Step::agent(
        "relay",
        Agent::new("Relayer").with_model(TestModel::new()),
    )]);
    let server = TestServer::with(
        AgentOs::builder()
            .team(support())
            .agent(Agent::new("Helper").with_model(TestModel::new()))
            .workflow(flow)
            .auth(JwtAuth::hs256(SECRET)),
    )
    .await;
    let ada = token(SECRET, "ada", json!([]));
    let bob = token(SECRET, "bob", json!([]));
    let admin = token(SECRET, "root", json!(["agent_os:admin"]));

    let mut spent = 0;
    for session in ["ada-1", "ada-1", "ada-2"] {
        let run = run_as(&server, "/agents/helper/runs", &ada, session).await;
        spent += run["metrics"]["total_tokens"].as_u64().unwrap();
    }
    let team = run_as(&server, "/teams/support/runs", &ada, "ada-3").await;
    let (input, output) = tokens(&team);
    spent += (input + output) as u64;
    let relay = run_as(&server, "/workflows/relay/runs", &ada, "ada-4").await;
    spent += relay["metrics"]["total_tokens"].as_u64().unwrap();
    run_as(&server, "/agents/helper/runs", &bob, "bob-1").await;

    // Ada's own day: her runs only, and every token they spent, the team's members' included.
    let (status, page) = usage(&server, &ada, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let days = page["metrics"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{page}");
    let today = &days[0];
    assert_eq!(today["agent_runs_count"], 3);
    assert_eq!(today["agent_sessions_count"], 2);
    assert_eq!(today["team_runs_count"], 1);
    assert_eq!(today["team_sessions_count"], 1);
    assert_eq!(today["workflow_runs_count"], 1);
    assert_eq!(today["workflow_sessions_count"], 1);
    assert_eq!(today["users_count"], 1);
    assert_eq!(today["token_metrics"]["total_tokens"], spent, "{today}");
    assert!(today["id"].as_str().unwrap().ends_with("_ada_daily"));
    let models = today["model_metrics"].as_array().unwrap();
    assert!(
        models
            .iter()
            .any(|m| m["model_id"] == "test-model" && m["count"].as_u64() >= Some(3)),
        "{models:?}"
    );
    assert!(page["updated_at"].is_string());
    let date = today["date"].as_str().unwrap();
    let (status, page) = usage(
        &server,
        &ada,
        &format!("?starting_date={}&ending_date={}", &date[..10], &date[..10]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["metrics"].as_array().unwrap().len(), 1);

    // Naming another user changes nothing for a user; an admin sees everyone, or one user.
    let (_, named) = usage(&server, &ada, "?user_id=bob").await;
    assert_eq!(named["metrics"][0]["agent_runs_count"], 3);
    let (_, everyone) = usage(&server, &admin, "").await;
    assert_eq!(everyone["metrics"][0]["agent_runs_count"], 4);
    assert_eq!(everyone["metrics"][0]["users_count"], 2);
    let (_, just_bob) = usage(&server, &admin, "?user_id=bob").await;
    assert_eq!(just_bob["metrics"][0]["agent_runs_count"], 1);

    // Days without runs are left out; bad dates are refused with their names.
    let (_, long_ago) = usage(
        &server,
        &ada,
        "?starting_date=2001-01-01&ending_date=2001-01-31",
    )
    .await;
    assert_eq!(long_ago["metrics"], json!([]));
    let (status, body) = usage(&server, &ada, "?starting_date=2026-02-30").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "starting_date"]));
    let (status, _) = usage(
        &server,
        &ada,
        "?starting_date=2026-03-02&ending_date=2026-03-01",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // agno's refresh answers the days, and its status says it ran.
    let refresh = |bearer: &str| {
        client()
            .post(server.url("/metrics/refresh"))
            .bearer_auth(bearer)
            .send()
    };
    let status_of = || {
        client()
            .get(server.url("/metrics/refresh/status"))
            .bearer_auth(&ada)
            .send()
    };
    let before: Value = status_of().await.unwrap().json().await.unwrap();
    assert_eq!(before["status"], "idle");
    let refreshed: Value = refresh(&ada).await.unwrap().json().await.unwrap();
    assert_eq!(refreshed[0]["agent_runs_count"], 3, "{refreshed}");
    let after: Value = status_of().await.unwrap().json().await.unwrap();
    assert_eq!(after["status"], "completed");
    assert!(after["finished_at"].is_string());

    // Without a token, nothing; Prometheus's own Accept header still gets the exposition.
    let anonymous = client()
        .get(server.url("/metrics"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let scraped = client()
        .get(server.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let content_type = scraped.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
}
