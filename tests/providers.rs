//! Anthropic and Gemini, natively: teams whose leader and members sit on different providers
//! (the in-process mocks, over real sockets), tool calls and delegation on each, the streamed
//! events in agno's names whatever the provider, usage, retries and errors; and both adapters
//! and both mocks checked against the providers' documented example bodies
//! (`tests/fixtures/providers/`).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentos::model::{
    Claude, Gemini, Message, Model, ModelError, ModelHandle, ModelRequest, ModelStreamItem,
    ProviderEnv, ToolCall,
};
use agentos::prelude::*;
use agentos::run::{RunEnv, RunRequest, RunStatus, run_agent, run_team};
use agentos::testing::{Fault, MockAnthropic, MockGemini, MockOpenAi, MockOpenAiCompatible};
use agentos::{RawInput, RequestParts, Resolver};
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::events::{folded, recorded_order, run_streamed};

/// Where each provider's mock listens, and which model string the leader and the members use.
#[derive(Deserialize, Validate, JsonSchema)]
pub struct Providers {
    #[garde(length(min = 1))]
    leader: String,
    #[garde(length(min = 1))]
    members: String,
    #[garde(skip)]
    openai_base_url: String,
    #[garde(skip)]
    anthropic_base_url: String,
    #[garde(skip)]
    gemini_base_url: String,
}

/// One team per request, each of its models chosen by a model string of the input.
#[team_factory(id = "mixed-team", input = Providers)]
fn mixed_team(ctx: RequestContext<Providers>) -> Result<Team, FactoryError> {
    let input = &ctx.input;
    let env = ProviderEnv::empty()
        .set("OPENAI_API_KEY", "test-openai-key")
        .set("OPENAI_BASE_URL", &input.openai_base_url)
        .set("ANTHROPIC_API_KEY", "test-anthropic-key")
        .set("ANTHROPIC_BASE_URL", &input.anthropic_base_url)
        .set("GEMINI_API_KEY", "test-gemini-key")
        .set("GEMINI_BASE_URL", &input.gemini_base_url);
    let members = env.model(&input.members)?;
    Ok(Team::new("Support Team")
        .with_model(env.model(&input.leader)?)
        .with_members([
            Agent::new("Billing Agent")
                .with_role("Handle billing inquiries")
                .with_model(members.clone()),
            Agent::new("Tech Support Agent")
                .with_role("Handle technical issues")
                .with_model(members),
        ]))
}

/// The three mocks, started together.
struct Mocks {
    openai: MockOpenAi,
    anthropic: MockAnthropic,
    gemini: MockGemini,
}

impl Mocks {
    async fn start() -> Mocks {
        Mocks {
            openai: MockOpenAi::start().await,
            anthropic: MockAnthropic::start().await,
            gemini: MockGemini::start().await,
        }
    }

    async fn team(&self, leader: &str, members: &str) -> Result<Team, FactoryError> {
        let input = json!({
            "leader": leader,
            "members": members,
            "openai_base_url": self.openai.base_url(),
            "anthropic_base_url": self.anthropic.base_url(),
            "gemini_base_url": self.gemini.base_url(),
        });
        Resolver::new(mixed_team)
            .resolve(RawInput::Json(input), RequestParts::new("x"))
            .await
    }
}

fn request(message: &str) -> RunRequest {
    RunRequest {
        message: message.to_owned(),
        meta: agentos::RunMeta::new(
            Some("sess-providers".to_owned()),
            agentos::Identity::Verified("tenant_7".to_owned()),
        ),
        history: Vec::new(),
    }
}

fn read_fixture(path: &str) -> String {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn provider_fixture(name: &str) -> Value {
    serde_json::from_str(&read_fixture(&format!("providers/{name}"))).expect("fixture is JSON")
}

#[tokio::test]
async fn a_gemini_leader_delegates_to_claude_members() {
    let mocks = Mocks::start().await;
    let team = mocks
        .team("gemini:gemini-2.5-flash", "anthropic:claude-sonnet-4-5")
        .await
        .expect("the factory builds the team");
    let output = run_team(
        &team,
        &request("my router is down, tech-support-agent please"),
        &RunEnv::new(),
    )
    .await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(output.tools[0].tool_name, "delegate_task_to_member");
    assert_eq!(output.tools[0].tool_args["member_id"], "tech-support-agent");
    let member = &output.member_responses.as_ref().unwrap()[0];
    assert!(
        member
            .content
            .starts_with("[fake-anthropic model=claude-sonnet-4-5] reply to: "),
        "{}",
        member.content
    );
    assert!(
        output
            .content
            .starts_with("[fake-gemini model=gemini-2.5-flash] reply to: ")
            && output.content.contains("tool results: [fake-anthropic"),
        "{}",
        output.content
    );
    assert_eq!(
        mocks.gemini.requests(),
        2,
        "the leader: delegate, then answer"
    );
    assert_eq!(mocks.anthropic.requests(), 1, "the member");
    assert_eq!(mocks.openai.requests(), 0);
    assert_eq!(output.model_provider.as_deref(), Some("Google"));
    let details = output.metrics.details.as_ref().unwrap();
    let providers: Vec<&str> = details.model.iter().map(|m| m.provider.as_str()).collect();
    assert_eq!(providers, ["Gemini"], "the leader's own calls");
    let member_details = member.metrics.details.as_ref().unwrap();
    assert_eq!(member_details.model[0].provider, "Claude");
    // The mocks count whitespace-separated words as tokens, so usage is never zero.
    assert!(member.metrics.input_tokens > 0 && member.metrics.output_tokens > 0);
    assert!(output.metrics.total_tokens >= member.metrics.total_tokens);
    assert_eq!(
        output.metrics.total_tokens,
        output.metrics.input_tokens + output.metrics.output_tokens
    );
}

#[tokio::test]
async fn streamed_events_carry_agnos_names_whatever_the_provider() {
    let expected = recorded_order();
    let mocks = Mocks::start().await;
    for (leader, members) in [
        ("anthropic:claude-sonnet-4-5", "anthropic:claude-haiku-4-5"),
        ("gemini:gemini-2.5-flash", "gemini:gemini-2.5-flash-lite"),
        ("openai:gpt-5.4", "anthropic:claude-sonnet-4-5"),
        ("anthropic:claude-sonnet-4-5", "gemini:gemini-2.5-flash"),
        ("openai-chat:qwen3", "gemini:gemini-2.5-flash"),
    ] {
        let team = mocks.team(leader, members).await.unwrap();
        let (output, names) = run_streamed(
            &team,
            &request("My router keeps rebooting, tech-support-agent please"),
        )
        .await;
        assert_eq!(
            output.status,
            RunStatus::Completed,
            "{leader} / {members}: {}",
            output.content
        );
        assert_eq!(folded(names), expected, "{leader} / {members}");
        assert!(output.metrics.input_tokens > 0, "{leader}: usage counted");
    }
}

/// Looks up an order (the mocks fill its argument from the schema).
#[tool]
fn lookup_order(
    /// The order to look up.
    order_id: String,
) -> String {
    format!("order {order_id}: shipped")
}

#[tokio::test]
async fn an_agent_calls_its_tool_on_each_provider() {
    let mocks = Mocks::start().await;
    let models: [(ModelHandle, &str); 2] = [
        (
            Arc::new(
                Claude::new("claude-sonnet-4-5")
                    .with_base_url(mocks.anthropic.base_url())
                    .with_api_key("k"),
            ),
            "fake-anthropic",
        ),
        (
            Arc::new(
                Gemini::new("gemini-2.5-flash")
                    .with_base_url(mocks.gemini.base_url())
                    .with_api_key("k"),
            ),
            "fake-gemini",
        ),
    ];
    for (model, signature) in models {
        for streaming in [false, true] {
            let agent = Agent::new("Orders")
                .with_model(model.clone())
                .with_tool(lookup_order);
            let env = RunEnv::new().streaming(streaming);
            let output = run_agent(&agent, &request("where is my order?"), &env).await;
            assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
            assert_eq!(output.tools.len(), 1, "{signature}");
            assert_eq!(output.tools[0].tool_name, "lookup_order");
            assert_eq!(output.tools[0].tool_args["order_id"], "example");
            assert!(
                output.content.starts_with(&format!("[{signature} model="))
                    && output
                        .content
                        .ends_with("tool results: order example: shipped"),
                "{signature} streaming={streaming}: {}",
                output.content
            );
        }
    }
}

#[tokio::test]
async fn overload_is_retried_after_the_wait_the_provider_asks_for() {
    let mocks = Mocks::start().await;
    let claude = Claude::new("claude-sonnet-4-5")
        .with_base_url(mocks.anthropic.base_url())
        .with_api_key("k");
    mocks.anthropic.push_fault(Fault::RateLimited {
        retry_after: Duration::from_millis(300),
    });
    mocks.anthropic.push_fault(Fault::Status(529));
    let started = Instant::now();
    let answer = claude
        .complete(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .expect("the third attempt answers");
    assert!(answer.content.contains("reply to: hi"));
    assert_eq!(mocks.anthropic.requests(), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for retry-after"
    );

    let gemini = Gemini::new("gemini-2.5-flash")
        .with_base_url(mocks.gemini.base_url())
        .with_api_key("k");
    mocks.gemini.push_fault(Fault::Status(503));
    let mut stream = gemini
        .stream(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .expect("the second attempt streams");
    let mut done = None;
    while let Some(item) = stream.next().await {
        if let ModelStreamItem::Done(answer) = item.unwrap() {
            done = Some(answer);
        }
    }
    assert!(done.unwrap().content.contains("reply to: hi"));
    assert_eq!(mocks.gemini.requests(), 2);
}

#[tokio::test]
async fn provider_errors_reach_callers_without_the_providers_words() {
    let mocks = Mocks::start().await;
    for (leader, kind) in [
        ("anthropic:claude-sonnet-4-5", "invalid_request_error"),
        ("gemini:gemini-2.5-flash", "INVALID_ARGUMENT"),
    ] {
        mocks.anthropic.set_fault(Fault::Status(400));
        mocks.gemini.set_fault(Fault::Status(400));
        let team = mocks.team(leader, leader).await.unwrap();
        let output = run_team(&team, &request("hello"), &RunEnv::new()).await;
        assert_eq!(output.status, RunStatus::Error, "{leader}");
        assert!(
            output.content.contains("HTTP 400") && output.content.contains(kind),
            "{leader}: {}",
            output.content
        );
        assert!(
            !output.content.contains("injected"),
            "the provider's prose stays in the log: {}",
            output.content
        );
    }
}

#[tokio::test]
async fn a_model_string_without_its_key_fails_when_the_team_is_built() {
    let error = ProviderEnv::empty()
        .model("anthropic:claude-sonnet-4-5")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "ANTHROPIC_API_KEY is not set: the model `anthropic:claude-sonnet-4-5` needs it"
    );
    // Through a factory: a 500 whose detail says nothing of keys or variables.
    let mocks = Mocks::start().await;
    let error = mocks
        .team("mystery:model", "anthropic:claude-sonnet-4-5")
        .await
        .unwrap_err();
    assert!(matches!(error, FactoryError::Internal(_)));
    assert_eq!(error.to_string(), "internal error");
}

#[tokio::test]
async fn ollama_and_other_openai_compatible_servers_answer_on_the_chat_path() {
    // A server without the Responses API, as Ollama, vLLM and LM Studio are.
    let server = MockOpenAiCompatible::start().await;
    let envs = [
        // Ollama's own variable is usually a bare host:port.
        (
            ProviderEnv::empty().set("OLLAMA_HOST", server.address().to_string()),
            "ollama:llama3.2",
        ),
        (
            ProviderEnv::empty().set("OPENAI_BASE_URL", server.base_url()),
            "openai-chat:qwen3",
        ),
    ];
    let expected = recorded_order();
    for (env, spec) in envs {
        let model = env.model(spec).unwrap();
        let id = spec.split_once(':').unwrap().1;
        for streaming in [false, true] {
            let agent = Agent::new("Orders")
                .with_model(model.clone())
                .with_tool(lookup_order);
            let env = RunEnv::new().streaming(streaming);
            let output = run_agent(&agent, &request("where is my order?"), &env).await;
            assert_eq!(
                output.status,
                RunStatus::Completed,
                "{spec}: {}",
                output.content
            );
            assert_eq!(output.tools[0].tool_name, "lookup_order", "{spec}");
            assert_eq!(
                output.content,
                format!(
                    "[fake-openai model={id}] reply to: where is my order? | tool results: \
                     order example: shipped"
                ),
                "{spec} streaming={streaming}"
            );
            assert!(output.metrics.input_tokens > 0, "{spec}: usage counted");
        }
        let team = Team::new("Support Team")
            .with_model(model.clone())
            .with_members([
                Agent::new("Billing Agent")
                    .with_role("Handle billing inquiries")
                    .with_model(model.clone()),
                Agent::new("Tech Support Agent")
                    .with_role("Handle technical issues")
                    .with_model(model),
            ]);
        let (output, names) =
            run_streamed(&team, &request("tech-support-agent: my router reboots")).await;
        assert_eq!(
            output.status,
            RunStatus::Completed,
            "{spec}: {}",
            output.content
        );
        assert_eq!(
            folded(names),
            expected,
            "{spec}: delegation streams agno's events"
        );
    }

    // The Responses client cannot talk to such a server: its run fails at once, unanswered.
    let responses = ProviderEnv::empty()
        .set("OPENAI_BASE_URL", server.base_url())
        .model("openai:gpt-5.4")
        .unwrap();
    let before = server.requests();
    let output = run_agent(
        &Agent::new("Orders").with_model(responses),
        &request("hello"),
        &RunEnv::new(),
    )
    .await;
    assert_eq!(output.status, RunStatus::Error, "{}", output.content);
    assert_eq!(server.requests(), before, "no model call was answered");
}

// ---- The adapters and the mocks against the providers' documented examples ----

/// What a stand-in for the provider received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: axum::http::HeaderMap,
    body: Value,
}

/// A server on 127.0.0.1 that answers every request with `status` and `body` as written in a
/// documented example, keeping what it received.
async fn documented_server(
    status: u16,
    content_type: &'static str,
    body: String,
) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = log.clone();
        let body = body.clone();
        async move {
            let path = request.uri().to_string();
            let headers = request.headers().clone();
            let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
                .await
                .unwrap();
            log.lock().unwrap().push(Received {
                path,
                headers,
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            });
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [(axum::http::header::CONTENT_TYPE, content_type)],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), received)
}

fn weather_request() -> ModelRequest {
    let tool = agentos::model::ToolDefinition {
        name: "get_weather".into(),
        description: "Get the current weather in a given location".into(),
        parameters: json!({"type": "object", "properties": {"location": {"type": "string"}},
            "required": ["location"]}),
    };
    ModelRequest::new(
        vec![
            Message::system("You are a weather assistant."),
            Message::user("What is the weather like in San Francisco?"),
        ],
        vec![tool],
    )
}

async fn collect(model: &dyn Model, request: ModelRequest) -> Vec<ModelStreamItem> {
    let stream = model.stream(request).await.expect("the stream starts");
    stream
        .map(|item| item.expect("no error in the stream"))
        .collect()
        .await
}

fn done(items: &[ModelStreamItem]) -> &agentos::model::ModelResponse {
    match items.last() {
        Some(ModelStreamItem::Done(answer)) => answer,
        other => panic!("the stream ends with the whole answer, not {other:?}"),
    }
}

#[tokio::test]
async fn claude_reads_the_documented_messages_answers() {
    let body = read_fixture("providers/anthropic_response_tool_use.json");
    let (base, received) = documented_server(200, "application/json", body).await;
    let claude = Claude::new("claude-sonnet-4-5")
        .with_base_url(&base)
        .with_api_key("sk-ant-test");
    let answer = claude.complete(weather_request()).await.unwrap();
    assert_eq!(answer.content, "I'll check the weather there.");
    assert_eq!(
        answer.tool_calls,
        [ToolCall {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"San Francisco, CA"}"#.into(),
        }]
    );
    assert_eq!(answer.usage.input_tokens, 384);
    assert_eq!(answer.usage.output_tokens, 61);
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.headers["x-api-key"], "sk-ant-test");
    assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
    // What agentos sends has the shape of the documented request.
    assert_fits(
        &sent.body,
        &provider_fixture("anthropic_request_tools.json"),
        "request",
    );

    let body = read_fixture("providers/anthropic_response_text.json");
    let (base, _) = documented_server(200, "application/json", body).await;
    let claude = claude.with_base_url(&base);
    let answer = claude
        .complete(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .unwrap();
    assert_eq!(answer.content, "Hi! My name is Claude.");
    assert_eq!(answer.usage.input_tokens, 2095 + 12 + 100);
    assert_eq!(answer.usage.cache_read_tokens, 100);
    assert_eq!(answer.usage.cache_write_tokens, 12);
    assert_eq!(answer.usage.total_tokens, 2095 + 12 + 100 + 503);
}

#[tokio::test]
async fn claude_reads_the_documented_stream() {
    let body = read_fixture("providers/anthropic_stream_tool_use.sse");
    let (base, received) = documented_server(200, "text/event-stream", body).await;
    let claude = Claude::new("claude-sonnet-4-5")
        .with_base_url(&base)
        .with_api_key("k");
    let items = collect(&claude, weather_request()).await;
    assert_eq!(
        items[..3],
        [
            ModelStreamItem::ResponseId("msg_014p7gG3wDgGV9EUtLvnow3U".into()),
            ModelStreamItem::Content("Okay".into()),
            ModelStreamItem::Content(", let me check.".into()),
        ]
    );
    let answer = done(&items);
    assert_eq!(answer.content, "Okay, let me check.");
    assert_eq!(answer.tool_calls[0].name, "get_weather");
    let arguments: Value = serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
    assert_eq!(arguments, json!({"location": "San Francisco, CA"}));
    assert_eq!(answer.usage.input_tokens, 472);
    assert_eq!(answer.usage.output_tokens, 89);
    assert_eq!(received.lock().unwrap()[0].body["stream"], true);
}

#[tokio::test]
async fn claude_reports_the_documented_overload_by_its_type_only() {
    let body = read_fixture("providers/anthropic_error_overloaded.json");
    let (base, received) = documented_server(529, "application/json", body).await;
    let claude = Claude::new("claude-sonnet-4-5")
        .with_base_url(&base)
        .with_api_key("k")
        .with_max_retries(1);
    let error = claude
        .complete(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ModelError::Status {
            status: 529,
            message: "overloaded_error".into()
        }
    );
    assert_eq!(received.lock().unwrap().len(), 2, "one retry");
}

#[tokio::test]
async fn gemini_reads_the_documented_answers() {
    let body = read_fixture("providers/gemini_response_function_call.json");
    let (base, received) = documented_server(200, "application/json", body).await;
    let gemini = Gemini::new("gemini-2.5-flash")
        .with_base_url(&base)
        .with_api_key("AIza-test");
    let answer = gemini.complete(weather_request()).await.unwrap();
    assert_eq!(answer.content, "");
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].name, "controlLight");
    assert!(
        !answer.tool_calls[0].id.is_empty(),
        "agentos gives the call an id"
    );
    let arguments: Value = serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
    assert_eq!(
        arguments,
        json!({"brightness": 25, "colorTemperature": "warm"})
    );
    assert_eq!(answer.usage.input_tokens, 91);
    assert_eq!(answer.usage.total_tokens, 111);
    assert_eq!(
        answer.response_id.as_deref(),
        Some("mEzmaJ2bC4aRz7IPt7WSqQU")
    );
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(sent.headers["x-goog-api-key"], "AIza-test");
    assert_fits(
        &sent.body,
        &provider_fixture("gemini_request_tools.json"),
        "request",
    );

    let body = read_fixture("providers/gemini_response_text.json");
    let (base, _) = documented_server(200, "application/json", body).await;
    let answer = gemini
        .with_base_url(&base)
        .complete(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .unwrap();
    assert_eq!(
        answer.content,
        "AI learns patterns from examples and uses them to make predictions."
    );
    assert_eq!(answer.usage.output_tokens, 12 + 1042);
    assert_eq!(answer.usage.reasoning_tokens, 1042);
    assert_eq!(answer.usage.total_tokens, 1062);
}

#[tokio::test]
async fn gemini_reads_the_documented_stream_and_errors() {
    let body = read_fixture("providers/gemini_stream_text.sse");
    let (base, received) = documented_server(200, "text/event-stream", body).await;
    let gemini = Gemini::new("gemini-2.5-flash")
        .with_base_url(&base)
        .with_api_key("k");
    let items = collect(
        &gemini,
        ModelRequest::new(vec![Message::user("hi")], vec![]),
    )
    .await;
    assert_eq!(
        items[..3],
        [
            ModelStreamItem::ResponseId("sk3maP_xA8ytz7IP1rWK8Ak".into()),
            ModelStreamItem::Content("AI learns".into()),
            ModelStreamItem::Content(" patterns from examples.".into()),
        ]
    );
    let answer = done(&items);
    assert_eq!(answer.content, "AI learns patterns from examples.");
    assert_eq!(answer.usage.total_tokens, 598);
    assert_eq!(answer.usage.reasoning_tokens, 581);
    assert_eq!(
        received.lock().unwrap()[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );

    let body = read_fixture("providers/gemini_error_resource_exhausted.json");
    let (base, received) = documented_server(429, "application/json", body).await;
    let error = Gemini::new("gemini-2.5-flash")
        .with_base_url(&base)
        .with_api_key("k")
        .with_max_retries(0)
        .complete(ModelRequest::new(vec![Message::user("hi")], vec![]))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ModelError::Status {
            status: 429,
            message: "RESOURCE_EXHAUSTED".into()
        }
    );
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_mocks_answer_documented_requests_in_documented_shapes() {
    let mocks = Mocks::start().await;
    let client = agentos::model::shared_http_client();

    let answer: Value = client
        .post(format!("{}/v1/messages", mocks.anthropic.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&provider_fixture("anthropic_request_tools.json"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_fits(
        &answer,
        &provider_fixture("anthropic_response_tool_use.json"),
        "anthropic answer",
    );

    let mut streamed = provider_fixture("anthropic_request_tools.json");
    streamed["stream"] = json!(true);
    let text = client
        .post(format!("{}/v1/messages", mocks.anthropic.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let documented = sse_events(&read_fixture("providers/anthropic_stream_tool_use.sse"));
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &events {
        let examples: Vec<&Value> = documented
            .iter()
            .filter(|(documented_name, _)| documented_name == name)
            .map(|(_, data)| data)
            .collect();
        if let Err(problem) = fits(data, &examples, name) {
            panic!("{problem}");
        }
    }

    // Without the key the API refuses, and so does the mock.
    let refused = client
        .post(format!("{}/v1/messages", mocks.anthropic.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused: Value = refused.json().await.unwrap();
    assert_fits(
        &refused,
        &provider_fixture("anthropic_error_overloaded.json"),
        "anthropic error",
    );

    let url = format!(
        "{}/v1beta/models/gemini-2.5-flash:generateContent",
        mocks.gemini.base_url()
    );
    let answer: Value = client
        .post(&url)
        .header("x-goog-api-key", "k")
        .json(&provider_fixture("gemini_request_tools.json"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "controlLight"
    );
    assert_fits(
        &answer,
        &provider_fixture("gemini_response_function_call.json"),
        "gemini answer",
    );
    let refused = client
        .post(&url)
        .json(&json!({"contents": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let refused: Value = refused.json().await.unwrap();
    assert_fits(
        &refused,
        &provider_fixture("gemini_error_resource_exhausted.json"),
        "gemini error",
    );

    let text = client
        .post(format!(
            "{}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            mocks.gemini.base_url()
        ))
        .header("x-goog-api-key", "k")
        .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Explain how AI works in a few words"}]}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let documented = sse_events(&read_fixture("providers/gemini_stream_text.sse"));
    let chunks = sse_events(&text);
    assert!(chunks.len() > 1, "text streams in pieces");
    for (index, (_, chunk)) in chunks.iter().enumerate() {
        // Pieces look like the documented first one, the last like the documented last.
        let example = if index + 1 == chunks.len() {
            &documented[1].1
        } else {
            &documented[0].1
        };
        assert_fits(chunk, example, &format!("gemini chunk {index}"));
    }
}

/// `(event name, data)` of each event of a `text/event-stream` body (LF or CRLF lines).
fn sse_events(text: &str) -> Vec<(String, Value)> {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_string();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            (
                name,
                serde_json::from_str(&data).expect("event data is JSON"),
            )
        })
        .collect()
}

/// Asserts that `ours` uses only fields the documented `example` has, each with the example's
/// JSON type (a null on either side passes: those fields are nullable).
fn assert_fits(ours: &Value, example: &Value, path: &str) {
    if let Err(problem) = fits(ours, &[example], path) {
        panic!("{problem}");
    }
}

/// Whether `ours` fits one of `examples`. A list item fits when it fits one of the example's
/// items. Free-form objects (a tool's schema, a call's arguments) are the caller's data, not
/// the protocol's, and are not compared.
fn fits(ours: &Value, examples: &[&Value], path: &str) -> Result<(), String> {
    const FREE_FORM: [&str; 4] = ["input_schema", "parametersJsonSchema", "input", "args"];
    let mut problems = Vec::new();
    for example in examples {
        let result = match (ours, example) {
            (Value::Object(ours), Value::Object(example)) => ours
                .iter()
                .filter(|(key, _)| !FREE_FORM.contains(&key.as_str()))
                .try_for_each(|(key, value)| match example.get(key) {
                    Some(documented) => fits(value, &[documented], &format!("{path}.{key}")),
                    None => Err(format!("{path}.{key} is not in the documented example")),
                }),
            (Value::Array(ours), Value::Array(example)) => {
                let items: Vec<&Value> = example.iter().collect();
                ours.iter()
                    .enumerate()
                    .try_for_each(|(index, item)| fits(item, &items, &format!("{path}[{index}]")))
            }
            (Value::Null, _) | (_, Value::Null) => Ok(()),
            (ours, example) if json_type(ours) == json_type(example) => Ok(()),
            (ours, example) => Err(format!(
                "{path}: {ours} where the documented example has {example}"
            )),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(problem) => problems.push(problem),
        }
    }
    Err(problems.join("; and "))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
