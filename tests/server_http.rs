//! The HTTP API over a real socket, case by case against the recorded exchanges in
//! `tests/fixtures/wire/`: same statuses, same field names, same event order.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestServer, builder, client, form, parse_sse, sleepy_team};

async fn server() -> TestServer {
    TestServer::with(builder()).await
}

async fn post_form(server: &TestServer, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(server.url(path))
        .multipart(form(fields))
        .send()
        .await
        .expect("request")
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body = response.json::<Value>().await.expect("JSON body");
    (status, body)
}

#[tokio::test]
async fn health_reports_ok_and_start_time() {
    let server = server().await;
    let (status, body) = json_of(client().get(server.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert!(body["instantiated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn discovery_lists_factories_with_their_schemas_without_calling_them() {
    let server = server().await;
    let before = support::COUNTED_CALLS.load(Ordering::SeqCst);
    let http = client();

    let (status, teams) = json_of(http.get(server.url("/teams")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let support_team = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "support-team")
        .unwrap();
    assert_eq!(support_team["is_factory"], true);
    assert_eq!(support_team["name"], "Per-tenant Support Team");
    assert!(support_team.get("factory_input_schema").is_none());
    let static_team = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "static-support-team")
        .unwrap();
    assert_eq!(static_team["is_factory"], false);

    let (status, configurable) = json_of(
        http.get(server.url("/teams/configurable-support-team"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(configurable["is_factory"], true);
    let schema = &configurable["factory_input_schema"];
    assert_eq!(schema["properties"]["include_reviewer"]["type"], "boolean");
    assert_eq!(schema["properties"]["include_reviewer"]["default"], false);
    assert_eq!(configurable["input_schema"], *schema);

    let (status, agents) = json_of(http.get(server.url("/agents")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agents[0]["id"], "tenant-agent");
    assert_eq!(
        agents[0]["factory_input_schema"]["properties"]["tone"]["default"],
        "neutral"
    );

    let (status, config) = json_of(http.get(server.url("/config")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        config["teams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "counted-team")
    );
    assert_eq!(config["agents"][0]["id"], "tenant-agent");

    let (status, openapi) =
        json_of(http.get(server.url("/openapi.json")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let run_route = &openapi["paths"]["/teams/configurable-support-team/runs"]["post"];
    let body_schema = &run_route["requestBody"]["content"]["multipart/form-data"]["schema"];
    assert_eq!(
        body_schema["properties"]["factory_input"]["x-factory-input-schema"]["properties"]["include_reviewer"]
            ["type"],
        "boolean"
    );

    let (status, missing) = json_of(
        http.get(server.url("/teams/no-such-team"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["detail"], "Team not found");

    assert_eq!(
        support::COUNTED_CALLS.load(Ordering::SeqCst),
        before,
        "discovery called a factory"
    );
}

#[tokio::test]
async fn a_non_streaming_team_run_has_agnos_run_shape_and_delegates() {
    let server = server().await;
    let response = post_form(
        &server,
        "/teams/support-team/runs",
        &[
            ("message", "I need help with billing and a technical issue"),
            ("user_id", "tenant_42"),
            ("session_id", "sess-oracle-1"),
            ("stream", "false"),
            (
                "factory_input",
                r#"{"note": "free-form dict; support-team has no input_schema"}"#,
            ),
        ],
    )
    .await;
    let (status, run) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    for field in [
        "run_id",
        "team_id",
        "team_name",
        "session_id",
        "user_id",
        "content",
        "content_type",
        "model",
        "model_provider",
        "status",
        "metrics",
        "tools",
        "member_responses",
        "input",
        "created_at",
    ] {
        assert!(run.get(field).is_some(), "missing {field} in {run}");
    }
    assert_eq!(run["team_id"], "support-team");
    assert_eq!(run["session_id"], "sess-oracle-1");
    assert_eq!(run["user_id"], "tenant_42");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["content_type"], "str");
    assert_eq!(run["model"], "gpt-5.4");
    assert_eq!(
        run["input"]["input_content"],
        "I need help with billing and a technical issue"
    );
    let messages = run["messages"]
        .as_array()
        .expect("the conversation is returned");
    assert_eq!(messages[0]["role"], "user");
    assert!(
        messages.iter().all(|m| m["role"] != "system"),
        "the system prompt is never returned: {messages:?}"
    );
    let tool = &run["tools"][0];
    assert_eq!(tool["tool_name"], "delegate_task_to_member");
    assert_eq!(tool["tool_args"]["member_id"], "billing-agent");
    assert_eq!(tool["tool_call_error"], false);
    let member = &run["member_responses"][0];
    assert_eq!(member["agent_id"], "billing-agent");
    assert_eq!(member["parent_run_id"], run["run_id"]);
    assert_eq!(member["session_id"], "sess-oracle-1");
    assert_eq!(member["user_id"], "tenant_42");
    assert_eq!(tool["result"], member["content"]);
    assert!(run["metrics"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(run["metrics"]["details"]["model"][0]["id"], "gpt-5.4");
}

#[tokio::test]
async fn a_streaming_team_run_sends_agnos_events_in_order() {
    let server = server().await;
    let response = post_form(
        &server,
        "/teams/support-team/runs",
        &[
            (
                "message",
                "My router keeps rebooting, technical help please",
            ),
            ("user_id", "tenant_42"),
            ("session_id", "sess-oracle-1"),
            ("stream", "true"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let frames = parse_sse(&response.text().await.unwrap());

    let ids: Vec<u64> = frames
        .iter()
        .map(|f| f.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..frames.len() as u64).collect::<Vec<_>>(),
        "every frame has an id line"
    );
    for frame in &frames {
        assert_eq!(
            frame.data["event"], frame.event,
            "event line and field agree"
        );
    }
    let first = |name: &str| {
        frames
            .iter()
            .position(|f| f.event == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let last = |name: &str| frames.iter().rposition(|f| f.event == name).unwrap();
    assert_eq!(frames[0].event, "TeamRunStarted");
    assert_eq!(frames.last().unwrap().event, "TeamRunCompleted");
    assert!(first("TeamModelRequestStarted") < first("TeamModelRequestCompleted"));
    assert!(first("TeamModelRequestCompleted") < first("TeamToolCallStarted"));
    assert!(first("TeamToolCallStarted") < first("RunStarted"));
    // Members run concurrently, so check each member's own events in order.
    let member_runs: Vec<&str> = frames
        .iter()
        .filter(|f| f.event == "RunStarted")
        .map(|f| f.data["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        member_runs.len(),
        2,
        "the test model delegates to both members"
    );
    for run_id in member_runs {
        let own: Vec<&str> = frames
            .iter()
            .filter(|f| f.data["run_id"] == run_id)
            .map(|f| f.event.as_str())
            .collect();
        let at = |name: &str| own.iter().position(|e| *e == name).unwrap();
        assert_eq!(own.first(), Some(&"RunStarted"));
        assert!(at("ModelRequestStarted") < at("RunContent"));
        assert!(at("RunContent") < at("ModelRequestCompleted"));
        assert!(at("ModelRequestCompleted") < at("RunContentCompleted"));
        assert_eq!(own.last(), Some(&"RunCompleted"));
    }
    assert!(last("RunCompleted") < last("TeamToolCallCompleted"));
    assert!(last("TeamToolCallCompleted") < first("TeamRunContent"));
    assert!(last("TeamRunContent") < last("TeamRunContentCompleted"));

    let started = &frames[0].data;
    assert_eq!(started["team_id"], "support-team");
    assert_eq!(started["session_id"], "sess-oracle-1");
    assert_eq!(started["model"], "gpt-5.4");
    let member_started = &frames[first("RunStarted")].data;
    assert_eq!(member_started["parent_run_id"], started["run_id"]);
    let completed = &frames.last().unwrap().data;
    assert_eq!(completed["run_id"], started["run_id"]);
    assert_eq!(completed["member_responses"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_omitted_stream_field_means_streaming() {
    let server = server().await;
    let response = post_form(
        &server,
        "/teams/support-team/runs",
        &[
            ("message", "hello, just saying hi about billing"),
            ("session_id", "sess-oracle-1"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let frames = parse_sse(&response.text().await.unwrap());
    assert_eq!(frames.last().unwrap().event, "TeamRunCompleted");
}

#[tokio::test]
async fn a_missing_message_is_a_422_in_fastapis_shape() {
    let server = server().await;
    let (status, body) =
        json_of(post_form(&server, "/teams/support-team/runs", &[("stream", "false")]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "message"]));
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(body["error_code"], "missing_message");
    assert_eq!(body["errors"][0]["loc"], json!(["body", "message"]));
}

#[tokio::test]
async fn factory_input_errors_are_400s_with_field_paths() {
    let server = server().await;
    let cases: [(&str, &str, &str); 3] = [
        (
            "support-team",
            "{not json",
            "factory_input must be valid JSON",
        ),
        (
            "support-team",
            "[1, 2]",
            "factory_input must be a JSON object, got list",
        ),
        (
            "configurable-support-team",
            r#"{"include_reviewer": "definitely"}"#,
            "include_reviewer",
        ),
    ];
    for (team, input, expected) in cases {
        let path = format!("/teams/{team}/runs");
        let (status, body) = json_of(
            post_form(
                &server,
                &path,
                &[
                    ("message", "x"),
                    ("stream", "false"),
                    ("factory_input", input),
                ],
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{input}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(expected),
            "{input}: {body}"
        );
        assert_eq!(body["error_code"], "invalid_factory_input");
    }

    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/configurable-support-team/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"include_reviewer": "definitely"}"#),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["loc"], json!(["include_reviewer"]));

    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/configurable-support-team/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"review_rounds": 9}"#),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["errors"][0]["loc"],
        json!(["review_rounds"]),
        "garde's path: {body}"
    );

    let (status, body) = json_of(
        post_form(
            &server,
            "/agents/tenant-agent/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"tone": 5}"#),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["loc"], json!(["tone"]));
}

#[tokio::test]
async fn factory_input_chooses_the_team_and_absent_input_uses_defaults() {
    let server = server().await;
    let (status, with_reviewer) = json_of(
        post_form(
            &server,
            "/teams/configurable-support-team/runs",
            &[
                ("message", "Please review my refund for billing"),
                ("session_id", "sess-oracle-config"),
                ("stream", "false"),
                ("factory_input", r#"{"include_reviewer": true}"#),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let members: Vec<&str> = with_reviewer["member_responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["agent_id"].as_str().unwrap())
        .collect();
    assert!(members.contains(&"reviewer-agent"), "{members:?}");

    let (status, default) = json_of(
        post_form(
            &server,
            "/teams/configurable-support-team/runs",
            &[("message", "x"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(default["member_responses"].as_array().unwrap().len(), 2);
    assert_eq!(
        default["team_id"], "configurable-support-team",
        "the factory's id, not the team's slug"
    );
}

#[tokio::test]
async fn permission_errors_are_403s_naming_the_reason() {
    let server = server().await;
    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/secure-support-team/runs",
            &[("message", "privileged billing op"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["detail"].as_str().unwrap().contains("'support:admin'"),
        "{body}"
    );

    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/refusing-team/runs",
            &[
                ("message", "x"),
                ("user_id", "mallory"),
                ("stream", "false"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["detail"], "user mallory may not use this team");
    assert_eq!(body["error_code"], "permission_denied");
}

#[tokio::test]
async fn unknown_ids_are_404s() {
    let server = server().await;
    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/no-such-team/runs",
            &[("message", "x"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Team not found");
    let (status, body) = json_of(
        post_form(
            &server,
            "/agents/no-such-agent/runs",
            &[("message", "x"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Agent not found");
}

#[tokio::test]
async fn agent_factories_run_streamed_and_whole() {
    let server = server().await;
    let (status, run) = json_of(
        post_form(
            &server,
            "/agents/tenant-agent/runs",
            &[
                ("message", "What is my plan?"),
                ("user_id", "tenant_42"),
                ("session_id", "sess-oracle-agent"),
                ("stream", "false"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["agent_id"], "tenant-agent");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["model"], "gpt-4o-mini");
    assert!(run.get("member_responses").is_none());
    assert_eq!(run["tools"], json!([]));

    let response = post_form(
        &server,
        "/agents/tenant-agent/runs",
        &[
            ("message", "Stream me an answer"),
            ("stream", "true"),
            ("session_id", "sess-oracle-agent"),
            // The session is tenant_42's: only tenant_42 continues it.
            ("user_id", "tenant_42"),
        ],
    )
    .await;
    let names: Vec<String> = parse_sse(&response.text().await.unwrap())
        .into_iter()
        .map(|f| f.event)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("RunStarted"));
    assert_eq!(names.last().map(String::as_str), Some("RunCompleted"));
    let position = |name: &str| names.iter().position(|n| n == name).unwrap();
    assert!(position("ModelRequestStarted") < position("RunContent"));
    assert!(position("RunContent") < position("ModelRequestCompleted"));
    assert!(position("ModelRequestCompleted") < position("RunContentCompleted"));
}

#[tokio::test]
async fn json_and_urlencoded_bodies_work_too() {
    let server = server().await;
    let (status, run) = json_of(
        client()
            .post(server.url("/teams/configurable-support-team/runs"))
            .json(&json!({"message": "hi", "stream": false, "factory_input": {"include_reviewer": true}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["member_responses"].as_array().unwrap().len(), 3);

    let (status, run) = json_of(
        client()
            .post(server.url("/teams/configurable-support-team/runs"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("message=hi&stream=false&factory_input=%7B%22include_reviewer%22%3Atrue%7D&model=gpt-evil&instructions=leak")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["member_responses"].as_array().unwrap().len(), 3);
    assert_eq!(
        run["model"], "gpt-5.4",
        "a client field cannot change what the factory chose"
    );

    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .header("content-type", "text/plain")
        .body("message=hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_panicking_factory_is_a_500_without_its_message_and_the_server_goes_on() {
    let server = server().await;
    let response = post_form(
        &server,
        "/teams/panicking-team/runs",
        &[("message", "x"), ("stream", "false")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("secret"),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error_code"], "internal_error");

    let (status, _) = json_of(
        post_form(
            &server,
            "/teams/support-team/runs",
            &[("message", "still there?"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_factory_that_takes_too_long_is_a_504() {
    let server = server().await;
    let (status, body) = json_of(
        post_form(
            &server,
            "/teams/slow-team/runs",
            &[("message", "x"), ("stream", "false")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error_code"], "factory_timeout");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let server = TestServer::with(builder().body_limit(1024)).await;
    let big = "x".repeat(4096);
    let response = post_form(
        &server,
        "/teams/support-team/runs",
        &[("message", &big), ("stream", "false")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = client()
        .post(server.url("/teams/support-team/runs"))
        .json(&json!({"message": big, "stream": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn two_hundred_concurrent_runs_all_complete() {
    let server = server().await;
    let http = client();
    let runs = (0..200).map(|i| {
        let http = http.clone();
        let url = server.url("/teams/support-team/runs");
        async move {
            let form = form(&[
                ("message", &format!("request {i}")),
                ("user_id", &format!("tenant_{i}")),
                ("stream", "false"),
            ]);
            let response = http
                .post(url)
                .multipart(form)
                .send()
                .await
                .expect("request");
            let status = response.status();
            let run: Value = response.json().await.expect("json");
            (status, run)
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut run_ids = std::collections::HashSet::new();
    for (i, (status, run)) in results.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(run["status"], "COMPLETED");
        assert_eq!(run["user_id"], format!("tenant_{i}"));
        run_ids.insert(run["run_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(run_ids.len(), 200);
}

async fn wait_for_status(server: &TestServer, path: &str, expected: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = client().get(server.url(path)).send().await.unwrap();
        if response.status() == StatusCode::OK {
            let run: Value = response.json().await.unwrap();
            if run["status"] == expected {
                return run;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never reached {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_its_run_when_it_asked_to() {
    let server =
        TestServer::with(builder().team(sleepy_team("Waiting Team", Duration::from_secs(60))))
            .await;
    let mut response = post_form(
        &server,
        "/teams/waiting-team/runs",
        &[
            ("message", "x"),
            ("stream", "true"),
            ("cancel_on_disconnect", "true"),
        ],
    )
    .await;
    let first = response
        .chunk()
        .await
        .unwrap()
        .expect("the first event arrives");
    let frames = parse_sse(std::str::from_utf8(&first).unwrap());
    assert_eq!(frames[0].event, "TeamRunStarted");
    let run_id = frames[0].data["run_id"].as_str().unwrap().to_owned();
    drop(response);

    let run = wait_for_status(
        &server,
        &format!("/teams/waiting-team/runs/{run_id}"),
        "CANCELLED",
    )
    .await;
    assert_eq!(run["run_id"], run_id);
}

#[tokio::test]
async fn the_cancel_route_stops_a_background_run() {
    let server =
        TestServer::with(builder().team(sleepy_team("Waiting Team", Duration::from_secs(60))))
            .await;
    let (status, accepted) = json_of(
        post_form(
            &server,
            "/teams/waiting-team/runs",
            &[
                ("message", "x"),
                ("background", "true"),
                ("stream", "false"),
                ("session_id", "s-bg"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(accepted["session_id"], "s-bg");
    let run_id = accepted["run_id"].as_str().unwrap();

    let response = client()
        .post(server.url(&format!("/teams/waiting-team/runs/{run_id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for_status(
        &server,
        &format!("/teams/waiting-team/runs/{run_id}"),
        "CANCELLED",
    )
    .await;

    let response = client()
        .post(server.url("/teams/waiting-team/runs/no-such-run/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_run_finish() {
    let mut server =
        TestServer::with(builder().team(sleepy_team("Steady Team", Duration::from_millis(150))))
            .await;
    let url = server.url("/teams/steady-team/runs");
    let request = tokio::spawn(async move {
        client()
            .post(url)
            .multipart(form(&[("message", "x"), ("stream", "false")]))
            .send()
            .await
    });
    // Shut down once the run is in flight.
    while server.os.runs_in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.stop();
    let response = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK);
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["status"], "COMPLETED");
    let handle = std::mem::replace(&mut server.handle, tokio::spawn(async { Ok(()) }));
    handle.await.unwrap().expect("the server exits cleanly");
    assert!(
        client().get(server.url("/health")).send().await.is_err(),
        "no new connections after shutdown"
    );
}
