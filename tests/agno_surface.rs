//! The parts of agno's API that its clients and control plane call beyond running: the rest
//! of the session surface with the owner rules of the run service, CORS for a browser UI on
//! another origin, 503 for the features agentos does not serve yet, and FastAPI's error
//! shapes. Every check goes over a real socket.

mod support;

use agentos::server::JwtAuth;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestServer, builder, client, form, token};

const SECRET: &[u8] = b"agno-surface-hs256-secret-with-32-bytes!";

fn bearer(sub: &str) -> String {
    token(SECRET, sub, json!([]))
}

fn admin() -> String {
    token(SECRET, "root", json!(["agent_os:admin"]))
}

async fn secured() -> TestServer {
    TestServer::with(builder().auth(JwtAuth::hs256(SECRET))).await
}

/// Sends `method path` as `bearer` with an optional JSON body.
async fn call(
    server: &TestServer,
    method: Method,
    bearer: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn run_team(server: &TestServer, bearer: &str, session: &str, message: &str) -> Value {
    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .bearer_auth(bearer)
        .multipart(form(&[
            ("message", message),
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
async fn a_session_created_empty_is_continued_by_its_owner_renamed_changed_and_deleted() {
    let server = secured().await;
    let alice = bearer("alice");
    let (status, created) = call(
        &server,
        Method::POST,
        &alice,
        "/sessions?type=team",
        Some(json!({
            "session_id": "sess-made",
            "session_name": "Planned",
            "session_state": {"step": 1},
            "team_id": "support-team",
            "user_id": "someone-else",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["session_id"], "sess-made");
    assert_eq!(created["session_name"], "Planned");
    assert_eq!(created["session_state"], json!({"step": 1}));
    assert_eq!(created["user_id"], "alice", "the token's subject owns it");
    assert_eq!(created["team_id"], "support-team");
    assert_eq!(created["chat_history"], json!([]));

    let (status, again) = call(
        &server,
        Method::POST,
        &alice,
        "/sessions?type=team",
        Some(json!({"session_id": "sess-made", "team_id": "support-team"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // Its owner's run continues it; the name it was given stays.
    let run = run_team(&server, &alice, "sess-made", "I need help with billing").await;
    assert_eq!(run["session_id"], "sess-made");
    let (_, detail) = call(&server, Method::GET, &alice, "/sessions/sess-made", None).await;
    assert_eq!(detail["session_name"], "Planned");
    assert_eq!(detail["team_data"]["team_id"], "support-team");
    assert_eq!(detail["team_data"]["name"], "Support Team");
    assert!(detail["total_tokens"].as_u64().unwrap() > 0, "{detail}");
    assert_eq!(
        detail["metrics"]["total_tokens"], detail["total_tokens"],
        "{detail}"
    );

    let (status, renamed) = call(
        &server,
        Method::POST,
        &alice,
        "/sessions/sess-made/rename",
        Some(json!({"session_name": "Billing"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["session_name"], "Billing");

    let (status, changed) = call(
        &server,
        Method::PATCH,
        &alice,
        "/sessions/sess-made",
        Some(json!({"session_state": {"step": 2}, "metadata": {"source": "test"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["session_state"], json!({"step": 2}));
    assert_eq!(changed["metadata"], json!({"source": "test"}));
    assert_eq!(changed["session_name"], "Billing");

    let (status, one) = call(
        &server,
        Method::GET,
        &alice,
        &format!(
            "/sessions/sess-made/runs/{}",
            run["run_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["run_input"], "I need help with billing");
    assert_eq!(one["parent_run_id"], "");
    assert!(one["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, _) = call(
        &server,
        Method::DELETE,
        &alice,
        "/sessions",
        Some(json!({"session_ids": ["sess-made"], "session_types": ["team"]})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&server, Method::GET, &alice, "/sessions/sess-made", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenant_cannot_rename_change_read_or_delete_a_session_and_an_admin_only_reads() {
    let server = secured().await;
    let alice = bearer("alice");
    let run = run_team(&server, &alice, "sess-alice", "my secret billing question").await;
    let run_path = format!(
        "/sessions/sess-alice/runs/{}",
        run["run_id"].as_str().unwrap()
    );
    for caller in [bearer("mallory"), admin()] {
        let (status, _) = call(
            &server,
            Method::POST,
            &caller,
            "/sessions/sess-alice/rename",
            Some(json!({"session_name": "mine now"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "rename is for the owner");
        let (status, _) = call(
            &server,
            Method::PATCH,
            &caller,
            "/sessions/sess-alice",
            Some(json!({"session_state": {"stolen": true}})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "changes are for the owner");
    }
    let mallory = bearer("mallory");
    let (status, _) = call(&server, Method::GET, &mallory, &run_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a foreign run is absent");
    // Creating a session under a taken id says no more than that it is taken.
    let (status, body) = call(
        &server,
        Method::POST,
        &mallory,
        "/sessions?type=team",
        Some(json!({"session_id": "sess-alice", "team_id": "support-team"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(!body.to_string().contains("alice"), "{body}");
    let (status, _) = call(
        &server,
        Method::DELETE,
        &mallory,
        "/sessions",
        Some(json!({"session_ids": ["sess-alice"], "session_types": ["team"]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "the same answer as for a missing one"
    );

    let root = admin();
    let (status, one) = call(&server, Method::GET, &root, &run_path, None).await;
    assert_eq!(status, StatusCode::OK, "an admin reads every session");
    assert_eq!(one["user_id"], "alice");
    let (status, detail) = call(&server, Method::GET, &alice, "/sessions/sess-alice", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["session_name"], "my secret billing question");
    assert_eq!(detail["session_state"], json!({}));
}

#[tokio::test]
async fn deleting_many_needs_one_type_per_id() {
    let server = secured().await;
    let (status, body) = call(
        &server,
        Method::DELETE,
        &bearer("alice"),
        "/sessions",
        Some(json!({"session_ids": ["a", "b"], "session_types": ["team"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn session_lists_carry_metrics_and_search_time_and_runs_list_members_before_parents() {
    let server = secured().await;
    let alice = bearer("alice");
    let first = run_team(&server, &alice, "sess-list", "first question").await;
    let second = run_team(&server, &alice, "sess-list", "second question").await;
    let (_, page) = call(&server, Method::GET, &alice, "/sessions?type=team", None).await;
    let listed = &page["data"][0];
    assert_eq!(listed["session_id"], "sess-list");
    let total = first["metrics"]["total_tokens"].as_u64().unwrap()
        + second["metrics"]["total_tokens"].as_u64().unwrap();
    assert_eq!(listed["total_tokens"], total);
    assert_eq!(listed["metrics"]["total_tokens"], total);
    assert!(listed["metrics"]["details"]["model"].is_array());
    assert!(page["meta"]["search_time_ms"].is_number());

    let (_, runs) = call(
        &server,
        Method::GET,
        &alice,
        "/sessions/sess-list/runs",
        None,
    )
    .await;
    let runs = runs.as_array().unwrap();
    let order: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap(),
                r["parent_run_id"].as_str().unwrap(),
            )
        })
        .collect();
    let (first_id, second_id) = (
        first["run_id"].as_str().unwrap(),
        second["run_id"].as_str().unwrap(),
    );
    // TestModel delegates to both members: two member runs, then their team run, twice.
    assert_eq!(order.len(), 6);
    assert_eq!(order[0].1, first_id);
    assert_eq!(order[1].1, first_id);
    assert_eq!(order[2], (first_id, ""));
    assert_eq!(order[3].1, second_id);
    assert_eq!(order[4].1, second_id);
    assert_eq!(order[5], (second_id, ""));
    assert_eq!(runs[2]["run_input"], "first question");
    assert_eq!(runs[0]["session_state"]["current_session_id"], "sess-list");
}

#[tokio::test]
async fn a_browser_ui_on_an_allowed_origin_gets_its_preflight_and_cors_headers() {
    let server = TestServer::with(
        builder()
            .auth(JwtAuth::hs256(SECRET))
            .cors_origins(["https://ui.example.test"]),
    )
    .await;
    let preflight = client()
        .request(Method::OPTIONS, server.url("/teams/support-team/runs"))
        .header("origin", "https://ui.example.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://ui.example.test"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    // The real request, even refused for want of a token, carries the headers the browser
    // needs to read the refusal.
    let refused = client()
        .get(server.url("/teams"))
        .header("origin", "https://ui.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "https://ui.example.test"
    );
    let vary = refused.headers()["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");

    // Another origin gets no allowance; `vary: origin` is on every answer.
    let other = client()
        .get(server.url("/health"))
        .header("origin", "https://evil.example.test")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let vary = other.headers()["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");
}

#[tokio::test]
async fn agnos_control_plane_is_allowed_by_default() {
    let server = TestServer::with(builder()).await;
    let response = client()
        .get(server.url("/config"))
        .header("origin", "https://os.agno.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://os.agno.com"
    );
}

#[tokio::test]
async fn features_not_built_yet_answer_503_and_config_reports_them_not_enabled() {
    let server = TestServer::with(builder()).await;
    for (path, feature) in [
        ("/optimize-memories", "Memory optimization"),
        ("/knowledge/content", "Knowledge"),
        ("/eval-runs", "Evals"),
        ("/traces", "Traces"),
        ("/learnings", "Learnings"),
        ("/approvals", "Approvals"),
        ("/schedules", "Schedules"),
        ("/registry", "Registry"),
        ("/components", "Components"),
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().starts_with(feature),
            "{path}: {body}"
        );
    }
    let (status, config): (StatusCode, Value) = {
        let response = client().get(server.url("/config")).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    for section in ["knowledge", "evals", "traces", "learning"] {
        assert_eq!(config[section]["dbs"], json!([]), "{section}: {config}");
        assert_eq!(config[section]["enabled"], false, "{section}");
    }
    assert_eq!(config["databases"], json!(["agentos-db"]));
    assert_eq!(config["session"]["dbs"][0]["db_id"], "agentos-db");
    assert_eq!(config["metrics"]["dbs"][0]["db_id"], "agentos-db");
    assert!(
        config["teams"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["db_id"] == "agentos-db")
    );
    let static_team = config["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "static-support-team")
        .unwrap();
    assert_eq!(static_team["mode"], "coordinate");
    assert_eq!(static_team["model"]["id"], "gpt-5.4");
    assert_eq!(
        config["available_models"],
        json!([{"id": "gpt-5.4", "provider": "Test"}])
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_and_bad_booleans_answer_as_fastapi_does() {
    let server = TestServer::with(builder()).await;
    let response = client()
        .get(server.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.json::<Value>().await.unwrap()["detail"],
        "Not Found"
    );

    let response = client().put(server.url("/teams")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["detail"],
        "Method Not Allowed"
    );

    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "hi"), ("stream", "maybe")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    let detail = &body["detail"][0];
    assert_eq!(detail["loc"], json!(["body", "stream"]));
    assert_eq!(detail["type"], "bool_parsing");
    assert_eq!(detail["input"], "maybe");
    assert!(detail["msg"].is_string());
}

#[tokio::test]
async fn a_static_team_ignores_factory_input_and_is_described_in_full() {
    let server = TestServer::with(builder()).await;
    let response = client()
        .post(server.url("/teams/static-support-team/runs"))
        .multipart(form(&[
            ("message", "hello"),
            ("stream", "false"),
            ("factory_input", "{not json"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let team: Value = client()
        .get(server.url("/teams/static-support-team"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(team["is_factory"], false);
    assert_eq!(team["mode"], "coordinate");
    assert_eq!(team["db_id"], "agentos-db");
    assert_eq!(team["model"]["model"], "gpt-5.4");
    assert_eq!(
        team["tools"]["tools"][0]["name"], "delegate_task_to_member",
        "{team}"
    );
    let members: Vec<&str> = team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["billing-agent", "tech-support-agent"]);
    assert_eq!(team["members"][0]["role"], "Handle billing inquiries");
    assert_eq!(team["members"][0]["filesystem"], false);
    assert!(team["system_message"].is_object());
    assert!(
        !team.to_string().contains("You lead the team"),
        "no system prompt: {team}"
    );

    let agents: Value = client()
        .get(server.url("/agents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(agents[0]["filesystem"], false);
    assert_eq!(agents[0]["db_id"], "agentos-db");
}

#[tokio::test]
async fn streams_are_utf8_event_streams_and_background_runs_start_pending() {
    let server = TestServer::with(builder()).await;
    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .multipart(form(&[("message", "hello")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let _ = response.text().await;

    let response = client()
        .post(server.url("/agents/tenant-agent/runs"))
        .multipart(form(&[
            ("message", "later"),
            ("background", "true"),
            ("stream", "false"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "PENDING");
}
