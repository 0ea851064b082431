//! Teams built by a factory, run against the in-process OpenAI-compatible mock over a real
//! socket, through async-openai, in both APIs: delegation, the recorded event order, parallel
//! members, one pooled client, and every upstream fault ending the run cleanly.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentos::model::{ModelHandle, OpenAIChat, OpenAIResponses, ScriptedModel};
use agentos::prelude::*;
use agentos::run::{RunEnv, RunRequest, RunStatus, run_team};
use agentos::testing::{ERROR_MARKER, Fault, MockOpenAi};
use agentos::{RawInput, RequestParts, Resolver};
use serde_json::{Value, json};
use support::events::{folded, recorded_order, run_streamed};

/// Where the team's models live; a test sends it as the factory's input.
#[derive(Deserialize, Validate, JsonSchema)]
pub struct Upstream {
    #[garde(url)]
    base_url: String,
    /// Chat Completions instead of the Responses API.
    #[serde(default)]
    #[garde(skip)]
    chat: bool,
    #[serde(default = "default_timeout_ms")]
    #[garde(range(min = 50))]
    timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn model(upstream: &Upstream) -> ModelHandle {
    let timeout = Duration::from_millis(upstream.timeout_ms);
    if upstream.chat {
        Arc::new(
            OpenAIChat::new("gpt-4o-mini")
                .with_base_url(&upstream.base_url)
                .with_api_key("test-key")
                .with_timeout(timeout),
        )
    } else {
        Arc::new(
            OpenAIResponses::new("gpt-5.4")
                .with_base_url(&upstream.base_url)
                .with_api_key("test-key")
                .with_timeout(timeout),
        )
    }
}

#[team_factory(id = "support-team", input = Upstream)]
fn support_team(ctx: RequestContext<Upstream>) -> Team {
    let model = model(&ctx.input);
    Team::new("Support Team")
        .with_model(model.clone())
        .with_members([
            Agent::new("Billing Agent")
                .with_role("Handle billing inquiries")
                .with_model(model.clone()),
            Agent::new("Tech Support Agent")
                .with_role("Handle technical issues")
                .with_model(model),
        ])
}

async fn build(mock: &MockOpenAi, chat: bool, extra: Value) -> Team {
    let mut input = json!({"base_url": mock.base_url(), "chat": chat});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Resolver::new(support_team)
        .resolve(RawInput::Json(input), RequestParts::new("x"))
        .await
        .expect("the factory builds the team")
}

fn request(message: &str) -> RunRequest {
    RunRequest {
        message: message.to_owned(),
        meta: agentos::RunMeta::new(
            Some("sess-mock".to_owned()),
            agentos::Identity::Verified("tenant_42".to_owned()),
        ),
        history: Vec::new(),
    }
}

#[tokio::test]
async fn the_leader_delegates_and_answers_in_both_apis() {
    for chat in [false, true] {
        let mock = MockOpenAi::start().await;
        let team = build(&mock, chat, json!({})).await;
        let output = run_team(
            &team,
            &request("my router is down, tech-support-agent please"),
            &RunEnv::new(),
        )
        .await;
        assert_eq!(
            output.status,
            RunStatus::Completed,
            "chat={chat}: {}",
            output.content
        );
        assert_eq!(output.tools[0].tool_name, "delegate_task_to_member");
        assert_eq!(output.tools[0].tool_args["member_id"], "tech-support-agent");
        let member = &output.member_responses.as_ref().unwrap()[0];
        assert_eq!(member.component.agent_id(), Some("tech-support-agent"));
        assert!(
            member.content.starts_with("[fake-openai model="),
            "{}",
            member.content
        );
        assert!(
            output.content.contains("tool results:"),
            "{}",
            output.content
        );
        assert_eq!(mock.requests(), 3, "leader, member, leader");
        assert_eq!(output.model_provider.as_deref(), Some("OpenAI"));
        let provider = &output.metrics.details.as_ref().unwrap().model[0].provider;
        assert_eq!(
            provider,
            if chat {
                "OpenAI Chat"
            } else {
                "OpenAI Responses"
            }
        );
    }
}

#[tokio::test]
async fn streamed_events_arrive_in_the_recorded_order_in_both_apis() {
    let expected = recorded_order();
    for chat in [false, true] {
        let mock = MockOpenAi::start().await;
        let team = build(&mock, chat, json!({})).await;
        let (output, names) = run_streamed(
            &team,
            &request("My router keeps rebooting, tech-support-agent please"),
        )
        .await;
        assert_eq!(output.status, RunStatus::Completed);
        assert_eq!(folded(names), expected, "chat={chat}");
    }
}

#[tokio::test]
async fn parallel_delegations_are_in_flight_together() {
    let mock = MockOpenAi::start().await;
    mock.set_fault(Fault::Hold { until_in_flight: 2 });
    let members = model(&Upstream {
        base_url: mock.base_url(),
        chat: false,
        timeout_ms: 10_000,
    });
    let leader = ScriptedModel::new()
        .then_calls([
            (
                "delegate_task_to_member",
                json!({"member_id": "billing-agent", "task": "refund"}),
            ),
            (
                "delegate_task_to_member",
                json!({"member_id": "tech-support-agent", "task": "router"}),
            ),
        ])
        .then_answer("both handled");
    let team = Team::new("Support Team").with_model(leader).with_members([
        Agent::new("Billing Agent").with_model(members.clone()),
        Agent::new("Tech Support Agent").with_model(members),
    ]);
    let output = run_team(&team, &request("both"), &RunEnv::new()).await;
    assert_eq!(output.status, RunStatus::Completed, "{}", output.content);
    assert_eq!(
        mock.max_in_flight(),
        2,
        "both members' model calls were in flight at once"
    );
}

#[tokio::test]
async fn a_hundred_teams_share_a_handful_of_connections() {
    let mock = MockOpenAi::start().await;
    let mut completed = 0;
    for _ in 0..25 {
        let batch = (0..4).map(|_| async {
            let team = build(&mock, false, json!({})).await;
            run_team(&team, &request("billing-agent, a question"), &RunEnv::new()).await
        });
        for output in futures_util::future::join_all(batch).await {
            assert_eq!(output.status, RunStatus::Completed);
            completed += 1;
        }
    }
    assert_eq!(completed, 100);
    assert_eq!(mock.requests(), 300);
    assert!(
        mock.connections() <= 8,
        "{} connections for 100 teams",
        mock.connections()
    );
}

#[tokio::test]
async fn every_upstream_fault_ends_the_run_as_error_without_a_panic() {
    // The client retries 429 and 5xx a few times (about 0.7 s in all) before giving up, so only
    // the timeout case gets a bound shorter than that.
    let cases: [(&str, Fault, u64, &str); 5] = [
        ("500", Fault::Status(500), 10_000, "HTTP 500"),
        ("429", Fault::Status(429), 10_000, "HTTP 429"),
        (
            "timeout",
            Fault::Delay(Duration::from_secs(3)),
            300,
            "did not answer within",
        ),
        (
            "dropped connection",
            Fault::DropConnection,
            10_000,
            "could not reach",
        ),
        (
            "malformed JSON",
            Fault::MalformedJson,
            10_000,
            "invalid response",
        ),
    ];
    for chat in [false, true] {
        for (name, fault, timeout_ms, expected) in cases.clone() {
            let mock = MockOpenAi::start().await;
            mock.set_marker_fault(fault);
            let team = build(&mock, chat, json!({"timeout_ms": timeout_ms})).await;
            let message = format!("please fail {ERROR_MARKER}");
            let (output, names) = run_streamed(&team, &request(&message)).await;
            assert_eq!(output.status, RunStatus::Error, "chat={chat} {name}");
            assert!(
                output.content.contains(expected),
                "chat={chat} {name}: {}",
                output.content
            );
            assert!(!output.content.contains("test-key"));
            assert_eq!(
                names.last().map(String::as_str),
                Some("TeamRunError"),
                "chat={chat} {name}"
            );
            let stored = &output.events.as_ref().unwrap()[0];
            assert_eq!(stored["error_type"], "model_provider_error");
        }
    }
}
