//! The OpenAI models against the in-process mock: both APIs, JSON and SSE, tool calls, pooling,
//! concurrency, and every upstream fault mapped to the right `ModelError`.

use std::time::Duration;

use agentos::model::{
    Message, ModelError, ModelHandle, ModelRequest, ModelStreamItem, OpenAIChat, OpenAIResponses,
    ToolDefinition,
};
use agentos::testing::{ERROR_MARKER, Fault, MockOpenAi};
use futures_util::StreamExt;
use serde_json::json;

const KEY: &str = "sk-agentos-test-DO-NOT-LEAK-4242";

/// Both APIs, each pointed at the mock with a test key.
fn models(mock: &MockOpenAi, id: &str) -> Vec<ModelHandle> {
    vec![
        std::sync::Arc::new(
            OpenAIResponses::new(id)
                .with_base_url(mock.base_url())
                .with_api_key(KEY),
        ),
        std::sync::Arc::new(
            OpenAIChat::new(id)
                .with_base_url(mock.base_url())
                .with_api_key(KEY),
        ),
    ]
}

fn ask(text: &str) -> ModelRequest {
    ModelRequest::new(
        vec![Message::system("You are terse."), Message::user(text)],
        vec![],
    )
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: "The weather in a city".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "units": {"type": "string"},
            },
            "required": ["city", "days"],
        }),
    }
}

/// Collects a stream: the text deltas and the final answer.
async fn collect(
    model: &ModelHandle,
    request: ModelRequest,
) -> Result<(Vec<String>, agentos::model::ModelResponse), ModelError> {
    let mut stream = model.stream(request).await?;
    let mut deltas = Vec::new();
    let mut done = None;
    while let Some(item) = stream.next().await {
        match item? {
            ModelStreamItem::Content(text) => deltas.push(text),
            ModelStreamItem::Done(response) => done = Some(response),
            ModelStreamItem::ResponseId(_) => {}
        }
    }
    Ok((deltas, done.expect("a stream ends with Done")))
}

#[tokio::test]
async fn complete_returns_text_usage_and_id() {
    let mock = MockOpenAi::start().await;
    for model in models(&mock, "gpt-5.4") {
        let answer = model.complete(ask("hello there")).await.unwrap();
        assert_eq!(
            answer.content,
            "[fake-openai model=gpt-5.4] reply to: hello there",
            "{}",
            model.provider_label()
        );
        assert!(answer.tool_calls.is_empty());
        assert!(answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0);
        assert_eq!(
            answer.usage.total_tokens,
            answer.usage.input_tokens + answer.usage.output_tokens
        );
        assert!(answer.response_id.is_some());
        assert_eq!(model.provider(), "OpenAI");
    }
}

#[tokio::test]
async fn stream_yields_deltas_then_the_whole_answer() {
    let mock = MockOpenAi::start().await;
    for model in models(&mock, "gpt-5.4") {
        let (deltas, done) = collect(&model, ask("stream this reply please"))
            .await
            .unwrap();
        let label = model.provider_label();
        assert!(deltas.len() > 1, "{label}: {deltas:?}");
        assert_eq!(deltas.concat(), done.content, "{label}");
        assert_eq!(
            done.content,
            "[fake-openai model=gpt-5.4] reply to: stream this reply please"
        );
        assert!(
            done.usage.total_tokens > 0,
            "{label}: usage {:?}",
            done.usage
        );
        assert!(done.response_id.is_some(), "{label}");
    }
}

#[tokio::test]
async fn tool_call_round_trip() {
    let mock = MockOpenAi::start().await;
    for model in models(&mock, "gpt-5.4") {
        for streamed in [false, true] {
            let label = format!("{} streamed={streamed}", model.provider_label());
            let mut request = ask("weather in Paris?");
            request.tools = vec![weather_tool()].into();
            let first = if streamed {
                collect(&model, request.clone()).await.unwrap().1
            } else {
                model.complete(request.clone()).await.unwrap()
            };
            assert_eq!(first.tool_calls.len(), 1, "{label}");
            let call = first.tool_calls[0].clone();
            assert_eq!(call.name, "get_weather", "{label}");
            assert!(!call.id.is_empty(), "{label}");
            let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
            assert_eq!(arguments, json!({"city": "example", "days": 1}), "{label}");

            let messages = std::sync::Arc::make_mut(&mut request.messages);
            messages.push(Message::assistant_tool_calls(
                first.content.clone(),
                vec![call.clone()],
            ));
            messages.push(Message::tool_result(call.id.clone(), "sunny, 21 C"));
            let second = if streamed {
                collect(&model, request).await.unwrap().1
            } else {
                model.complete(request).await.unwrap()
            };
            assert!(second.tool_calls.is_empty(), "{label}");
            assert_eq!(
                second.content,
                "[fake-openai model=gpt-5.4] reply to: weather in Paris? | tool results: sunny, 21 C",
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn delegation_names_the_member_from_the_message() {
    let mock = MockOpenAi::start().await;
    let delegate = ToolDefinition {
        name: "delegate_task_to_member".into(),
        description: "Hand a task to a member".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "member_id": {"type": "string", "enum": ["billing-agent", "tech-support-agent"]},
                "task": {"type": "string"},
            },
            "required": ["member_id", "task"],
        }),
    };
    for model in models(&mock, "gpt-5.4") {
        let mut request = ask("my router reboots, tech support please");
        request.tools = vec![delegate.clone()].into();
        let answer = model.complete(request).await.unwrap();
        let arguments: serde_json::Value =
            serde_json::from_str(&answer.tool_calls[0].arguments).unwrap();
        assert_eq!(arguments["member_id"], "tech-support-agent");
        assert_eq!(arguments["task"], "my router reboots, tech support please");
    }
}

#[tokio::test]
async fn a_hundred_handles_share_a_few_connections() {
    let mock = MockOpenAi::start().await;
    for round in 0..50 {
        // Fresh handles every time, as a factory building a team per request would.
        for model in models(&mock, "gpt-5.4") {
            let answer = model.complete(ask(&format!("round {round}"))).await;
            assert!(answer.is_ok(), "{answer:?}");
        }
    }
    assert_eq!(mock.requests(), 100);
    assert!(
        mock.connections() <= 4,
        "100 handles opened {} connections",
        mock.connections()
    );
}

#[tokio::test]
async fn two_requests_are_in_flight_at_once() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::Hold { until_in_flight: 2 });
    let model = models(&mock, "gpt-5.4").remove(0);
    let (a, b) = tokio::join!(model.complete(ask("a")), model.complete(ask("b")));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert!(mock.max_in_flight() >= 2, "peak {}", mock.max_in_flight());
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    for status in [500, 429] {
        let mock = MockOpenAi::start().await;
        mock.set_fault(Fault::Status(status));
        for (index, model) in models(&mock, "gpt-5.4").into_iter().enumerate() {
            let error = model.complete(ask("hi")).await.unwrap_err();
            match &error {
                ModelError::Status {
                    status: got,
                    message,
                } => {
                    assert_eq!(*got, status);
                    assert!(message.contains("fake-openai injected"), "{message}");
                }
                other => panic!("HTTP {status} became {other:?}"),
            }
            // async-openai retries three times after the first attempt.
            assert_eq!(mock.requests(), 4 * (index + 1), "HTTP {status}");
        }
    }
}

#[tokio::test]
async fn retries_can_be_turned_off() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::Status(503));
    let model = OpenAIChat::new("m")
        .with_base_url(mock.base_url())
        .with_api_key(KEY)
        .with_max_retries(0);
    let error = agentos::model::Model::complete(&model, ask("hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, ModelError::Status { status: 503, .. }));
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn a_retried_failure_can_still_succeed() {
    let mock = MockOpenAi::start().await;
    mock.push_fault(Fault::Status(500));
    mock.push_fault(Fault::Status(429));
    for model in models(&mock, "gpt-5.4") {
        let answer = model.complete(ask("eventually")).await;
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(mock.requests(), 4);
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::Delay(Duration::from_secs(3)));
    let models: Vec<ModelHandle> = vec![
        std::sync::Arc::new(
            OpenAIResponses::new("m")
                .with_base_url(mock.base_url())
                .with_api_key(KEY)
                .with_timeout(Duration::from_millis(300)),
        ),
        std::sync::Arc::new(
            OpenAIChat::new("m")
                .with_base_url(mock.base_url())
                .with_api_key(KEY)
                .with_timeout(Duration::from_millis(300)),
        ),
    ];
    for model in models {
        let started = std::time::Instant::now();
        let error = model.complete(ask("hi")).await.unwrap_err();
        assert!(matches!(error, ModelError::Timeout { .. }), "{error:?}");
        let error = model.stream(ask("hi")).await.err();
        assert!(
            matches!(error, Some(ModelError::Timeout { .. })),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn a_dropped_connection_is_a_connection_error() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::DropConnection);
    for model in models(&mock, "gpt-5.4") {
        let error = model.complete(ask("hi")).await.unwrap_err();
        assert!(matches!(error, ModelError::Connection(_)), "{error:?}");
        let error = model.stream(ask("hi")).await.err();
        assert!(
            matches!(error, Some(ModelError::Connection(_))),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_an_invalid_response() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::MalformedJson);
    for model in models(&mock, "gpt-5.4") {
        let error = model.complete(ask("hi")).await.unwrap_err();
        assert!(matches!(error, ModelError::InvalidResponse(_)), "{error:?}");
        let streamed = collect(&model, ask("hi")).await.unwrap_err();
        assert!(
            matches!(streamed, ModelError::InvalidResponse(_)),
            "{streamed:?}"
        );
    }
}

#[tokio::test]
async fn a_marker_fault_hits_only_marked_requests() {
    let mock = MockOpenAi::start().await;
    mock.set_marker_fault(Fault::Status(400));
    for model in models(&mock, "gpt-5.4") {
        assert!(model.complete(ask("plain")).await.is_ok());
        let error = model
            .complete(ask(&format!("please fail {ERROR_MARKER}")))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ModelError::Status { status: 400, .. }),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors() {
    let mock = MockOpenAi::start().await;
    let faults = [
        Fault::Status(401),
        Fault::Status(500),
        Fault::DropConnection,
        Fault::MalformedJson,
    ];
    for fault in faults {
        mock.set_fault(fault.clone());
        for model in models(&mock, "gpt-5.4") {
            let error = model
                .complete(ask("hi"))
                .await
                .expect_err("the fault fails the call");
            let texts = [
                error.to_string(),
                format!("{error:?}"),
                format!("{model:?}"),
            ];
            for text in texts {
                assert!(!text.contains(KEY), "{fault:?} leaked the key: {text}");
            }
        }
    }
    // Nobody listening: the connection error names the URL, never the key.
    let base_url = mock.base_url();
    drop(mock);
    let model = OpenAIResponses::new("m")
        .with_base_url(base_url)
        .with_api_key(KEY)
        .with_max_retries(0);
    let error = agentos::model::Model::complete(&model, ask("hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, ModelError::Connection(_)), "{error:?}");
    assert!(!format!("{error} {error:?} {model:?}").contains(KEY));
}
