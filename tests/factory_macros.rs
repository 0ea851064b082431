//! The items `#[team_factory]` and `#[agent_factory]` generate, used as an application would.

use agentos::prelude::*;
use serde_json::json;

/// A support team that takes no input.
#[team_factory(id = "support", name = "Support", description = "Answers questions")]
fn support() -> Team {
    Team::new("Support").with_member(Agent::new("Helper"))
}

#[derive(Debug, Deserialize, Validate, JsonSchema)]
struct ResearchConfig {
    /// What to research.
    #[garde(length(min = 1, max = 100))]
    topic: String,
    #[serde(default)]
    #[garde(skip)]
    include_reviewer: bool,
}

#[team_factory(
    id = "research-team",
    input = ResearchConfig,
    name = "Research",
    description = "Researches a topic",
    scopes = ["teams:run", "research"],
)]
async fn research_team(ctx: RequestContext<ResearchConfig>) -> Result<Team, FactoryError> {
    tokio::task::yield_now().await;
    let mut team = Team::new(format!("Research {}", ctx.input.topic))
        .with_members([Agent::new("Researcher"), Agent::new("Writer")]);
    if ctx.input.include_reviewer {
        team = team.with_member(Agent::new("Reviewer"));
    }
    Ok(team)
}

/// Names the team after the thread it was built on.
#[team_factory(id = "built-on-thread", blocking)]
fn built_on_thread() -> Team {
    Team::new(format!("{:?}", std::thread::current().id()))
}

#[derive(Debug)]
struct NoDatabase;

impl From<NoDatabase> for FactoryError {
    fn from(_: NoDatabase) -> Self {
        FactoryError::internal("no database")
    }
}

#[agent_factory(id = "archivist")]
async fn archivist() -> Result<Agent, NoDatabase> {
    Err(NoDatabase)
}

#[agent_factory(id = "helper", name = "Helper")]
fn helper(ctx: RequestContext) -> Agent {
    Agent::new(ctx.user_id().unwrap_or("anonymous").to_owned())
}

#[tokio::test]
async fn a_sync_factory_without_input_builds() {
    let team = support.build(RequestContext::test(())).await.unwrap();
    assert_eq!(team.name(), "Support");
    assert_eq!(team.members().len(), 1);
}

#[tokio::test]
async fn an_async_factory_receives_its_input() {
    let ctx = RequestContext::test(ResearchConfig {
        topic: "rust".into(),
        include_reviewer: true,
    });
    let team = research_team.build(ctx).await.unwrap();
    assert_eq!(team.name(), "Research rust");
    assert_eq!(team.members().len(), 3);
}

#[tokio::test]
async fn an_error_converts_into_factory_error() {
    let error = archivist.build(RequestContext::test(())).await.unwrap_err();
    assert!(matches!(error, FactoryError::Internal(_)), "{error:?}");
}

#[tokio::test]
async fn an_agent_factory_receives_the_context() {
    let ctx = RequestContext::test(()).with_verified_user("ada");
    let agent = helper.build(ctx).await.unwrap();
    assert_eq!(agent.name(), "ada");
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_factory_runs_off_the_runtime_thread() {
    let team = built_on_thread
        .build(RequestContext::test(()))
        .await
        .unwrap();
    let here = format!("{:?}", std::thread::current().id());
    assert_ne!(
        team.name(),
        here,
        "the factory ran on the runtime's own thread"
    );
}

#[test]
fn info_carries_the_attribute_arguments() {
    let info = research_team.info();
    assert_eq!(info.id, "research-team");
    assert_eq!(info.name.as_deref(), Some("Research"));
    assert_eq!(info.description.as_deref(), Some("Researches a topic"));
    assert_eq!(info.scopes, ["teams:run", "research"]);
    assert!(info.is_factory);

    let info = support.info();
    assert_eq!(info.id, "support");
    assert!(info.scopes.is_empty());
    assert_eq!(built_on_thread.info().name, None);
}

#[test]
fn input_schema_describes_the_input_type() {
    let schema = research_team.input_schema().unwrap();
    assert_eq!(schema, agentos::input_schema::<ResearchConfig>());
    assert_eq!(
        schema["properties"]["topic"]["description"],
        "What to research."
    );
    assert_eq!(schema["required"], json!(["topic"]));

    assert_eq!(support.input_schema(), None);
    assert_eq!(helper.input_schema(), None);
}

#[test]
fn parse_input_deserializes_and_validates() {
    let object = |value: serde_json::Value| value.as_object().unwrap().clone();

    let config = research_team
        .parse_input(object(json!({"topic": "rust"})))
        .unwrap();
    assert_eq!(config.topic, "rust");
    assert!(!config.include_reviewer);

    let error = research_team
        .parse_input(object(json!({"topic": ""})))
        .unwrap_err();
    assert!(matches!(error, FactoryError::Validation(_)), "{error:?}");

    // A factory without input ignores whatever it is sent.
    support.parse_input(object(json!({"anything": 1}))).unwrap();
}

#[test]
fn the_factory_is_a_copyable_value_named_like_the_function() {
    let copy = support;
    let _still_usable = support;
    assert_eq!(format!("{copy:?}"), "support");
}

#[tokio::test]
async fn discover_finds_the_factories_of_this_binary() {
    let os = AgentOs::builder().discover().build().await.unwrap();
    for id in ["support", "research-team", "built-on-thread"] {
        assert!(os.team(id).is_some(), "team {id} not discovered");
    }
    for id in ["archivist", "helper"] {
        assert!(os.agent(id).is_some(), "agent {id} not discovered");
    }
    let info = os.team("research-team").unwrap().info();
    assert_eq!(info.scopes, ["teams:run", "research"]);
    assert!(os.team("research-team").unwrap().input_schema().is_some());
}

#[tokio::test]
async fn explicit_and_discovered_registrations_count_once() {
    let os = AgentOs::builder()
        .team(support)
        .discover()
        .agent(helper)
        .build()
        .await;
    // `.agent(helper)` after `.discover()` is a second registration of the same factory;
    // only discovery skips what is already there.
    assert!(os.is_err());

    let os = AgentOs::builder()
        .team(support)
        .agent(helper)
        .discover()
        .build()
        .await
        .unwrap();
    assert_eq!(os.teams().len(), 3);
    assert_eq!(os.agents().len(), 2);
}
