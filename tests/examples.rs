//! Every example, started as its own process on a free port, answers the request its
//! `//! Run with:` header shows, then shuts down cleanly on SIGTERM.

mod support;

use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::Arc;

use support::process::{Example, example_binary, free_port};
use support::{client, form};

fn member_ids(run: &Value) -> Vec<String> {
    run["member_responses"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m["agent_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn basic_team_factory_answers_the_readme_curl_and_keeps_its_sessions() {
    let example = Example::start("basic_team_factory", &[]).await;
    let (status, run) = example
        .run(
            "/teams/support-team/runs",
            &[
                ("message", "I need help with billing"),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["user_id"], "tenant_42");
    assert_eq!(
        run["tools"][0]["tool_name"], "delegate_task_to_member",
        "the leader delegated"
    );
    assert!(member_ids(&run).contains(&"billing-agent".to_owned()));
    let session = run["session_id"].as_str().unwrap().to_owned();
    let playground = client()
        .get(example.url("/playground"))
        .send()
        .await
        .unwrap();
    assert_eq!(playground.status(), StatusCode::OK);
    assert!(
        example.dir.0.join("agentos.db").exists(),
        "sessions are kept in agentos.db"
    );

    // Sessions survive a restart on the same file.
    let dir = Arc::clone(&example.dir);
    example.stop();
    let restarted = Example::start_in("basic_team_factory", &[], dir).await;
    let response = client()
        .get(restarted.url(&format!("/teams/support-team/runs?session_id={session}")))
        .send()
        .await
        .unwrap();
    let runs: Value = response.json().await.unwrap();
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "the run survived the restart"
    );
    restarted.stop();
}

#[tokio::test]
async fn async_team_factory_builds_its_team_from_an_async_lookup() {
    let example = Example::start("async_team_factory", &[]).await;
    let (status, run) = example
        .run(
            "/teams/async-support-team/runs",
            &[
                ("message", "technical problem with my modem"),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(member_ids(&run), ["billing-agent", "tech-support-agent"]);
    let (status, refused) = example
        .run(
            "/teams/async-support-team/runs",
            &[
                ("message", "x"),
                ("user_id", "suspended"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    example.stop();
}

#[tokio::test]
async fn team_factory_input_adds_a_reviewer_and_rejects_bad_values() {
    let example = Example::start("team_factory_input", &[]).await;
    let (status, run) = example
        .run(
            "/teams/configurable-support-team/runs",
            &[
                ("message", "Please review my refund"),
                ("stream", "false"),
                ("factory_input", r#"{"include_reviewer": true}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert!(member_ids(&run).contains(&"reviewer-agent".to_owned()));

    let (status, error) = example
        .run(
            "/teams/panel-team/runs",
            &[
                ("message", "Should we ship on Friday?"),
                ("stream", "false"),
                ("factory_input", r#"{"panelists": 9, "tone": "formal"}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errors"][0]["loc"][0], "panelists");

    let (status, error) = example
        .run(
            "/teams/panel-team/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"panelists": 2, "tone": "shouty"}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errors"][0]["loc"][0], "tone");

    let (status, panel) = example
        .run(
            "/teams/panel-team/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"panelists": 3}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{panel}");
    assert_eq!(member_ids(&panel).len(), 3);
    example.stop();
}

#[tokio::test]
async fn workflow_factory_runs_each_kind_of_step_from_its_typed_input() {
    let example = Example::start("workflow_factory", &[]).await;
    let (status, run) = example
        .run(
            "/workflows/blog-post/runs",
            &[
                ("message", "Rust for data teams"),
                ("stream", "false"),
                (
                    "factory_input",
                    r#"{"audience": "engineering managers", "formal": true}"#,
                ),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let steps: Vec<(&str, &str)> = run["step_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_name"].as_str().unwrap(),
                s["step_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("measure", "Function"),
            ("research", "Parallel"),
            ("draft", "Step"),
            ("review", "Step"),
            ("if formal", "Condition"),
        ]
    );
    let executors: Vec<&str> = run["step_executor_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["agent_id"].as_str().or(r["team_id"].as_str()).unwrap())
        .collect();
    assert_eq!(executors.len(), 4, "{executors:?}");
    assert!(executors.contains(&"editorial-team"), "{executors:?}");
    assert!(
        run["content"]
            .as_str()
            .unwrap()
            .ends_with("The Editorial Team"),
        "{run}"
    );

    let (status, informal) = example
        .run(
            "/workflows/blog-post/runs",
            &[
                ("message", "Rust for data teams"),
                ("stream", "false"),
                ("factory_input", r#"{"audience": "students"}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{informal}");
    assert!(
        !informal["content"]
            .as_str()
            .unwrap()
            .contains("kind regards")
    );

    for bad in [r#"{"audience": ""}"#, "{}"] {
        let (status, error) = example
            .run(
                "/workflows/blog-post/runs",
                &[
                    ("message", "x"),
                    ("stream", "false"),
                    ("factory_input", bad),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {error}");
    }
    example.stop();
}

#[tokio::test]
async fn static_and_factory_serve_side_by_side() {
    let example = Example::start("static_and_factory", &[]).await;
    let teams: Value = client()
        .get(example.url("/teams"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flags: Vec<(String, bool)> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["is_factory"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("static-support-team".to_owned(), false),
            ("support-team".to_owned(), true)
        ]
    );
    for team in ["static-support-team", "support-team"] {
        let (status, run) = example
            .run(
                &format!("/teams/{team}/runs"),
                &[("message", "Where is my invoice?"), ("stream", "false")],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert_eq!(run["team_id"], team);
        assert_eq!(member_ids(&run).len(), 2);
    }
    example.stop();
}

#[tokio::test]
async fn jwt_tiered_team_follows_the_verified_tier_and_role() {
    let example = Example::start(
        "jwt_tiered_team",
        &[(
            "JWT_VERIFICATION_KEY",
            "a-test-secret-that-is-long-enough-for-hs256",
        )],
    )
    .await;
    let token = |tier: &str, role: &str| {
        let claims = serde_json::json!({"sub": "tenant_42", "tier": tier, "role": role, "exp": 4_000_000_000u64});
        let key =
            jsonwebtoken::EncodingKey::from_secret(b"a-test-secret-that-is-long-enough-for-hs256");
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let run_as = |token: String| {
        let url = example.url("/teams/tiered-team/runs");
        async move {
            let response = client()
                .post(url)
                .bearer_auth(token)
                .multipart(form(&[
                    ("message", "List my documents"),
                    ("stream", "false"),
                    ("user_id", "mallory"),
                ]))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let tools_of = |run: &Value| -> Vec<String> {
        run["member_responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["agent_id"] == "workspace-agent")
            .map(|m| {
                m["tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["tool_name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let (status, free) = run_as(token("free", "viewer")).await;
    assert_eq!(status, StatusCode::OK, "{free}");
    assert_eq!(
        free["user_id"], "tenant_42",
        "the token's subject, not the body's"
    );
    assert_eq!(
        member_ids(&free),
        ["billing-agent", "tech-support-agent", "workspace-agent"]
    );
    assert_eq!(free["model"], "gpt-5.4-mini");
    assert_eq!(tools_of(&free), ["list_documents"]);

    let (status, enterprise) = run_as(token("enterprise", "admin")).await;
    assert_eq!(status, StatusCode::OK, "{enterprise}");
    assert!(member_ids(&enterprise).contains(&"reviewer-agent".to_owned()));
    assert_eq!(enterprise["model"], "gpt-5.4");
    assert_eq!(tools_of(&enterprise), ["list_documents", "invite_member"]);

    let (status, refused) = run_as(token("enterprise", "guest")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["detail"], "the role 'guest' may not use this team");

    let response = client()
        .post(example.url("/teams/tiered-team/runs"))
        .multipart(form(&[("message", "x"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The example's own `mint` prints a token the server accepts.
    let minted = Command::new(example_binary("jwt_tiered_team"))
        .args(["mint", "tenant_42", "free", "viewer"])
        .env(
            "JWT_VERIFICATION_KEY",
            "a-test-secret-that-is-long-enough-for-hs256",
        )
        .output()
        .unwrap();
    assert!(minted.status.success());
    let (status, _) = run_as(String::from_utf8(minted.stdout).unwrap().trim().to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    example.stop();
}

#[tokio::test]
async fn mcp_tools_sends_the_verified_user_to_the_mcp_server() {
    let mcp = agentos::testing::McpOrders::start().await;
    let secret = "a-test-secret-that-is-long-enough-for-hs256";
    let example = Example::start(
        "mcp_tools",
        &[
            ("JWT_VERIFICATION_KEY", secret),
            ("MCP_SERVER_URL", mcp.url().as_str()),
        ],
    )
    .await;
    let minted = Command::new(example_binary("mcp_tools"))
        .args(["mint", "tenant_42"])
        .env("JWT_VERIFICATION_KEY", secret)
        .output()
        .unwrap();
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let response = client()
        .post(example.url("/agents/orders-agent/runs"))
        .bearer_auth(&token)
        .multipart(form(&[
            ("message", "Where is order A-1001?"),
            ("stream", "false"),
            ("user_id", "mallory"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let run: Value = response.json().await.unwrap();
    // The TestModel calls both tools: the lookup answers, the cancel waits for a person.
    assert_eq!(run["status"], "PAUSED", "{run}");
    let tools = run["tools"].as_array().unwrap();
    let lookup = tools
        .iter()
        .find(|t| t["tool_name"] == "lookup_order")
        .expect("lookup_order was called");
    assert_eq!(lookup["result"], "order example of tenant_42: shipped");
    assert!(
        tools
            .iter()
            .any(|t| t["tool_name"] == "cancel_order" && t["requires_confirmation"] == true),
        "{run}"
    );
    assert_eq!(mcp.users_seen(), ["tenant_42"], "the token's subject only");

    let response = client()
        .post(example.url("/agents/orders-agent/runs"))
        .multipart(form(&[("message", "x"), ("stream", "false")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    example.stop();
}

#[tokio::test]
async fn basic_team_factory_remembers_its_users_with_agentos_memory_on() {
    let example = Example::start("basic_team_factory", &[("AGENTOS_MEMORY", "on")]).await;
    let ask = |message: &'static str| {
        let example = &example;
        async move {
            example
                .run(
                    "/teams/support-team/runs",
                    &[
                        ("message", message),
                        ("user_id", "tenant_7"),
                        ("stream", "false"),
                    ],
                )
                .await
        }
    };
    let (status, _) = ask("My invoices go to accounts@example.com").await;
    assert_eq!(status, StatusCode::OK);
    // Captured after the answer: the next run's members are told it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, run) = ask("I need help with billing").await;
        if run["content"]
            .as_str()
            .unwrap()
            .contains("remembered: My invoices go to")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never remembered: {run}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    example.stop();
}

#[tokio::test]
async fn memory_remembers_a_user_across_sessions_within_their_tenant() {
    let secret = "a-test-secret-that-is-long-enough-for-hs256";
    let example = Example::start("memory", &[("JWT_VERIFICATION_KEY", secret)]).await;
    let mint = |sub: &str, tenant: &str| {
        let minted = Command::new(example_binary("memory"))
            .args(["mint", sub, tenant])
            .env("JWT_VERIFICATION_KEY", secret)
            .output()
            .unwrap();
        assert!(minted.status.success());
        String::from_utf8(minted.stdout).unwrap().trim().to_owned()
    };
    let (ada, other_ada) = (mint("ada", "acme"), mint("ada", "globex"));
    let ask = |token: String, path: &'static str, message: &'static str| {
        let url = example.url(path);
        async move {
            let response = client()
                .post(url)
                .bearer_auth(token)
                .multipart(form(&[("message", message), ("stream", "false")]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };

    // The README's two sessions: the second run is told what the first one heard.
    let told = "I am vegetarian and I live in Porto";
    ask(ada.clone(), "/agents/concierge/runs", told).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page: Value = client()
            .get(example.url("/memories"))
            .bearer_auth(&ada)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["meta"]["total_count"] == 1 {
            assert_eq!(page["data"][0]["memory"], told);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never captured: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = ask(
        ada.clone(),
        "/agents/concierge/runs",
        "What should I cook tonight?",
    )
    .await;
    let content = second["content"].as_str().unwrap();
    assert!(
        content.ends_with(&format!("| remembered: {told}")),
        "{content}"
    );
    // The team's planner reads the same memories.
    let trip = ask(ada, "/teams/travel-desk/runs", "Plan a weekend away").await;
    assert!(trip["content"].as_str().unwrap().contains(told), "{trip}");
    // Ada of another tenant is someone else.
    let stranger = ask(
        other_ada,
        "/agents/concierge/runs",
        "What should I cook tonight?",
    )
    .await;
    assert!(
        !stranger["content"].as_str().unwrap().contains("remembered"),
        "{stranger}"
    );
    example.stop();
}

#[tokio::test]
async fn mcp_server_serves_the_typed_factory_over_mcp_and_rest() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientConfig};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let secret = "a-test-secret-that-is-long-enough-for-hs256";
    let example = Example::start("mcp_server", &[("JWT_VERIFICATION_KEY", secret)]).await;
    let minted = Command::new(example_binary("mcp_server"))
        .args(["mint", "tenant_42"])
        .env("JWT_VERIFICATION_KEY", secret)
        .output()
        .unwrap();
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();

    let config =
        StreamableHttpClientTransportConfig::with_uri(example.url("/mcp")).auth_header(&token);
    let mcp = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("an MCP client connects with the token");
    let tools = mcp.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "run_team__research-team"));
    let arguments =
        serde_json::json!({"message": "What is new?", "factory_input": {"topic": "tidal power"}});
    let result = mcp
        .call_tool(
            CallToolRequestParams::new("run_team__research-team")
                .with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let run = result.structured_content.expect("the run's summary");
    assert_eq!(run["status"], "COMPLETED", "{run}");
    mcp.cancel().await.unwrap();

    // The same factory over REST, on the same port and token.
    let response = client()
        .post(example.url("/teams/research-team/runs"))
        .bearer_auth(&token)
        .multipart(form(&[
            ("message", "What is new?"),
            ("factory_input", r#"{"topic": "tidal power"}"#),
            ("stream", "false"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["user_id"], "tenant_42");
    example.stop();
}

#[tokio::test]
async fn agent_factory_builds_a_tenant_agent_with_tools() {
    let example = Example::start("agent_factory", &[]).await;
    let (status, run) = example
        .run(
            "/agents/tenant-agent/runs",
            &[
                ("message", "What is my plan?"),
                ("user_id", "tenant_42"),
                ("stream", "false"),
                ("factory_input", r#"{"tone": "friendly"}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["agent_id"], "tenant-agent");
    let tools: Vec<&str> = run["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool_name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["lookup_plan", "open_ticket"]);
    assert!(
        run["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["tool_call_error"] == false)
    );

    let (status, error) = example
        .run(
            "/agents/tenant-agent/runs",
            &[
                ("message", "x"),
                ("stream", "false"),
                ("factory_input", r#"{"tone": ""}"#),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errors"][0]["loc"][0], "tone");
    example.stop();
}

#[tokio::test]
async fn agno_compat_answers_a_browser_on_an_origin_of_agentos_cors_origins() {
    let example = Example::start(
        "agno_compat",
        &[
            ("AGENTOS_AUTH", "off"),
            (
                "AGENTOS_CORS_ORIGINS",
                "https://ui.example.test, http://localhost:5173",
            ),
        ],
    )
    .await;
    let preflight = |origin: &'static str| {
        client()
            .request(
                reqwest::Method::OPTIONS,
                example.url("/teams/support-team/runs"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://ui.example.test").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://ui.example.test"
    );
    // The variable replaces the defaults: agno's control plane is no longer among them.
    let replaced = preflight("https://os.agno.com").await.unwrap();
    assert!(
        replaced
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let (status, run) = example
        .run(
            "/teams/support-team/runs",
            &[
                ("message", "I need help with billing"),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["team_id"], "support-team");
    assert_eq!(run["user_id"], "tenant_42");
    example.stop();
}

#[tokio::test]
async fn mock_openai_serves_the_recordings_model_on_the_address_it_is_given() {
    let port = free_port();
    let mut child = Command::new(example_binary("mock_openai"))
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the mock starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        format!("OPENAI_BASE_URL=http://127.0.0.1:{port}/v1")
    );
    let answer: Value = client()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "[fake-openai model=gpt-4o-mini] reply to: hi"
    );
    let refused = client()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "please fail [[fake-error]]"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let _ = child.kill();
    let _ = child.wait();
}

/// The waiting tool executions of a paused agent run, decided the way the example's header
/// shows with jq: `confirmed` set (and a note when refused).
fn decided_tools(paused: &Value, confirmed: bool, note: Option<&str>) -> String {
    let tools: Vec<Value> = paused["tools"]
        .as_array()
        .expect("a paused run lists its tools")
        .iter()
        .filter(|tool| tool["requires_confirmation"] == true)
        .map(|tool| {
            let mut tool = tool.clone();
            tool["confirmed"] = Value::Bool(confirmed);
            if let Some(note) = note {
                tool["confirmation_note"] = Value::from(note);
            }
            tool
        })
        .collect();
    Value::Array(tools).to_string()
}

/// The requirements of a paused team run, decided: `confirmation` set (and a note).
fn decided_requirements(paused: &Value, confirmed: bool, note: Option<&str>) -> String {
    let requirements: Vec<Value> = paused["requirements"]
        .as_array()
        .expect("a paused run lists its requirements")
        .iter()
        .map(|requirement| {
            let mut requirement = requirement.clone();
            requirement["confirmation"] = Value::Bool(confirmed);
            if let Some(note) = note {
                requirement["confirmation_note"] = Value::from(note);
            }
            requirement
        })
        .collect();
    Value::Array(requirements).to_string()
}

fn tool<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["tools"]
        .as_array()
        .and_then(|tools| tools.iter().find(|t| t["tool_name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {run}"))
}

fn member<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["member_responses"]
        .as_array()
        .and_then(|members| members.iter().find(|m| m["agent_id"] == id))
        .unwrap_or_else(|| panic!("no member {id} in {run}"))
}

/// A run of tenant_42's, whole, as the example's header asks with curl.
async fn ask(example: &Example, path: &str, message: &str) -> (StatusCode, Value) {
    example
        .run(
            path,
            &[
                ("message", message),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await
}

#[tokio::test]
async fn human_approval_pauses_at_the_refund_and_continues_when_a_person_decides() {
    let example = Example::start("human_approval", &[]).await;
    let stored_status = |path: String| {
        let url = example.url(&path);
        async move {
            let run: Value = client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            run["status"].as_str().unwrap_or_default().to_owned()
        }
    };

    // The agent: the run pauses before the refund, with the call in its requirements.
    let (status, paused) = ask(
        &example,
        "/agents/refund-agent/runs",
        "Please refund order 1042",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    assert_eq!(paused["agent_id"], "refund-agent");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let requirements = paused["requirements"].as_array().unwrap();
    assert_eq!(requirements.len(), 1, "{paused}");
    assert_eq!(
        requirements[0]["tool_execution"]["tool_name"],
        "issue_refund"
    );
    assert_eq!(
        requirements[0]["tool_execution"]["requires_confirmation"],
        true
    );
    assert!(requirements[0]["member_agent_id"].is_null());
    let refund = tool(&paused, "issue_refund");
    assert!(refund["result"].is_null(), "not refunded yet: {refund}");
    let lookup = tool(&paused, "lookup_order");
    assert!(
        lookup["result"].as_str().unwrap().contains("delivered"),
        "the lookup needs nobody and ran: {lookup}"
    );
    assert_eq!(
        stored_status(format!(
            "/agents/refund-agent/runs/{run_id}?user_id=tenant_42"
        ))
        .await,
        "PAUSED"
    );

    // Confirmed: the refund runs and the same run completes.
    let continue_path = format!("/agents/refund-agent/runs/{run_id}/continue");
    let (status, done) = example
        .run(
            &continue_path,
            &[
                ("tools", &decided_tools(&paused, true, None)),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["run_id"], run_id.as_str());
    assert_eq!(tool(&done, "issue_refund")["confirmed"], true);
    assert!(
        done["content"]
            .as_str()
            .unwrap()
            .contains("refunded 1 cents"),
        "{done}"
    );
    assert_eq!(
        stored_status(format!(
            "/agents/refund-agent/runs/{run_id}?user_id=tenant_42"
        ))
        .await,
        "COMPLETED"
    );
    // A run goes on once.
    let (status, again) = example
        .run(
            &continue_path,
            &[
                ("tools", &decided_tools(&paused, true, None)),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // Rejected with a note: no refund, and the model reads why.
    let (_, paused) = ask(
        &example,
        "/agents/refund-agent/runs",
        "Refund order 1043 twice",
    )
    .await;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap();
    let (status, done) = example
        .run(
            &format!("/agents/refund-agent/runs/{run_id}/continue"),
            &[
                (
                    "tools",
                    &decided_tools(&paused, false, Some("already refunded last week")),
                ),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(tool(&done, "issue_refund")["confirmed"], false);
    let content = done["content"].as_str().unwrap();
    assert!(content.contains("already refunded last week"), "{done}");
    assert!(!content.contains("refunded 1 cents"), "{done}");

    // The team: it pauses when its Billing Agent does, and the requirement names the member.
    let (status, paused) = ask(
        &example,
        "/teams/approval-team/runs",
        "billing-agent, refund order 1044",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap().to_owned();
    let requirements = paused["requirements"].as_array().unwrap();
    assert_eq!(requirements.len(), 1, "{paused}");
    assert_eq!(requirements[0]["member_agent_id"], "billing-agent");
    assert_eq!(requirements[0]["member_agent_name"], "Billing Agent");
    assert_eq!(
        requirements[0]["tool_execution"]["tool_name"],
        "issue_refund"
    );
    let billing = member(&paused, "billing-agent");
    assert_eq!(billing["status"], "PAUSED", "{billing}");
    assert_eq!(requirements[0]["member_run_id"], billing["run_id"]);
    assert_eq!(
        stored_status(format!(
            "/teams/approval-team/runs/{run_id}?user_id=tenant_42"
        ))
        .await,
        "PAUSED"
    );

    let (status, done) = example
        .run(
            &format!("/teams/approval-team/runs/{run_id}/continue"),
            &[
                ("requirements", &decided_requirements(&paused, true, None)),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["run_id"], run_id.as_str());
    let billing = member(&done, "billing-agent");
    assert_eq!(billing["status"], "COMPLETED", "{billing}");
    assert!(
        billing["content"]
            .as_str()
            .unwrap()
            .contains("refunded 1 cents"),
        "{billing}"
    );
    assert_eq!(
        stored_status(format!(
            "/teams/approval-team/runs/{run_id}?user_id=tenant_42"
        ))
        .await,
        "COMPLETED"
    );

    let (_, paused) = ask(
        &example,
        "/teams/approval-team/runs",
        "billing-agent, refund order 1045",
    )
    .await;
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    let run_id = paused["run_id"].as_str().unwrap();
    let (status, done) = example
        .run(
            &format!("/teams/approval-team/runs/{run_id}/continue"),
            &[
                (
                    "requirements",
                    &decided_requirements(&paused, false, Some("needs a manager")),
                ),
                ("user_id", "tenant_42"),
                ("stream", "false"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let billing = member(&done, "billing-agent");
    let content = billing["content"].as_str().unwrap();
    assert!(content.contains("needs a manager"), "{billing}");
    assert!(!content.contains("refunded 1 cents"), "{billing}");
    example.stop();
}
