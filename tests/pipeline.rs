//! The resolution pipeline, without HTTP: input parsing and validation, scopes, the factory
//! call, and post-resolution, for factories and static components alike.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentos::prelude::*;
use agentos::{PathSegment, RawInput, RequestParts, Resolver, TestModel};
use serde_json::json;

#[derive(Deserialize, Validate, JsonSchema)]
struct Settings {
    #[serde(default)]
    #[garde(skip)]
    include_reviewer: bool,
    #[serde(default = "default_agents")]
    #[garde(length(min = 1), dive)]
    agents: Vec<AgentSpec>,
}

#[derive(Deserialize, Validate, JsonSchema)]
struct AgentSpec {
    #[garde(length(min = 1, max = 20))]
    name: String,
    #[serde(default = "default_model")]
    #[garde(pattern(r"^gpt-"))]
    model: String,
}

fn default_agents() -> Vec<AgentSpec> {
    vec![AgentSpec {
        name: "Writer".into(),
        model: default_model(),
    }]
}

fn default_model() -> String {
    "gpt-5.4".into()
}

/// Builds of `configured_team`, by the caller's `tier` claim. Tests of this binary run in
/// parallel, so a test that counts builds gives its calls a tier no other test uses.
static BUILDS: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn builds_for(tier: &str) -> usize {
    BUILDS.lock().unwrap().get(tier).copied().unwrap_or(0)
}

#[team_factory(id = "configured-team", input = Settings, scopes = ["teams:build"])]
fn configured_team(ctx: RequestContext<Settings>) -> Team {
    let tier = ctx.trusted().claim_str("tier").unwrap_or_default();
    *BUILDS.lock().unwrap().entry(tier.to_owned()).or_default() += 1;
    let mut members: Vec<Agent> = ctx
        .input
        .agents
        .iter()
        .map(|a| Agent::new(&a.name).with_model(TestModel::with_id(&a.model)))
        .collect();
    if ctx.input.include_reviewer {
        members.push(Agent::new("Reviewer"));
    }
    // The team's own slug differs from the factory id on purpose.
    Team::new("Some Other Name").with_members(members)
}

#[team_factory(id = "vip-team")]
fn vip_team(ctx: RequestContext) -> Result<Team, FactoryError> {
    match ctx.trusted().claim_str("tier") {
        Some("vip") => Ok(Team::new("VIP")),
        _ => Err(FactoryError::permission(
            "only VIP tenants may use this team",
        )),
    }
}

#[team_factory(id = "broken-team")]
fn broken_team() -> Team {
    panic!("connection string postgres://admin:s3cret@db");
}

async fn resolve(
    resolver: &Resolver<Team>,
    input: RawInput,
    scopes: &[&str],
) -> Result<Team, FactoryError> {
    resolve_as("basic", resolver, input, scopes).await
}

/// Resolves for a caller whose token carries the claim `tier`.
async fn resolve_as(
    tier: &str,
    resolver: &Resolver<Team>,
    input: RawInput,
    scopes: &[&str],
) -> Result<Team, FactoryError> {
    let trusted = Trusted::for_test(json!({ "tier": tier }), scopes.iter().copied());
    let parts = RequestParts::new("hello").with_trusted_for_test(trusted);
    resolver.resolve(input, parts).await
}

#[tokio::test]
async fn absent_input_applies_the_defaults() {
    let resolver = Resolver::new(configured_team);
    let team = resolve(&resolver, RawInput::Absent, &["teams:build"])
        .await
        .unwrap();
    let names: Vec<&str> = team.members().iter().map(|m| m.name()).collect();
    assert_eq!(names, ["Writer"]);
}

#[tokio::test]
async fn input_that_is_not_json_or_not_an_object_is_a_validation_error() {
    let resolver = Resolver::new(configured_team);
    for (input, expected) in [
        (
            RawInput::Text("{not json".into()),
            "factory_input must be valid JSON",
        ),
        (
            RawInput::Text("[1, 2]".into()),
            "factory_input must be a JSON object, got list",
        ),
        (RawInput::Json(json!([1, 2])), "got list"),
        (RawInput::Json(json!("\"text\"")), "got string"),
    ] {
        match resolve(&resolver, input.clone(), &["teams:build"]).await {
            Err(FactoryError::Validation(errors)) => {
                assert!(
                    errors.detail().contains(expected),
                    "{input:?}: {}",
                    errors.detail()
                )
            }
            other => panic!(
                "{input:?}: expected a validation error, got {:?}",
                other.map(|t| t.id().to_owned())
            ),
        }
    }
}

#[tokio::test]
async fn a_garde_failure_reports_the_path_of_the_bad_field_in_nested_structs() {
    let resolver = Resolver::new(configured_team);
    let input =
        RawInput::Json(json!({"agents": [{"name": "Ok"}, {"name": "Bad", "model": "llama"}]}));
    let Err(FactoryError::Validation(errors)) = resolve(&resolver, input, &["teams:build"]).await
    else {
        panic!("expected a validation error");
    };
    let field = &errors.fields()[0];
    assert_eq!(
        field.loc,
        [
            PathSegment::Key("agents".into()),
            PathSegment::Index(1),
            PathSegment::Key("model".into())
        ]
    );
    assert_eq!(field.dotted_path(), "agents[1].model");
    assert!(
        errors.detail().contains("agents[1].model"),
        "{}",
        errors.detail()
    );

    let input = RawInput::Json(json!({"include_reviewer": "definitely"}));
    let Err(FactoryError::Validation(errors)) = resolve(&resolver, input, &["teams:build"]).await
    else {
        panic!("expected a validation error");
    };
    assert_eq!(
        errors.fields()[0].loc,
        [PathSegment::Key("include_reviewer".into())]
    );
}

#[tokio::test]
async fn a_missing_scope_is_refused_before_the_factory_runs() {
    let resolver = Resolver::new(configured_team);
    let error = resolve_as("unscoped", &resolver, RawInput::Absent, &["teams:read"])
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, FactoryError::Permission(m) if m.contains("'teams:build'")),
        "{error}"
    );
    assert_eq!(builds_for("unscoped"), 0, "the factory must not run");
    // The same caller with the scope builds: the count above could have moved.
    resolve_as("unscoped", &resolver, RawInput::Absent, &["teams:build"])
        .await
        .unwrap();
    assert_eq!(builds_for("unscoped"), 1);
}

#[tokio::test]
async fn a_factory_can_refuse_with_a_permission_error() {
    let resolver = Resolver::new(vip_team);
    let error = resolve(&resolver, RawInput::Absent, &[])
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, FactoryError::Permission(ref m) if m == "only VIP tenants may use this team")
    );
}

#[tokio::test]
async fn a_panicking_factory_becomes_an_internal_error_that_hides_its_message() {
    let resolver = Resolver::new(broken_team);
    let error = resolve(&resolver, RawInput::Absent, &[])
        .await
        .err()
        .unwrap();
    assert!(matches!(error, FactoryError::Internal(_)));
    let shown = format!("{error} {:?}", error.code());
    assert!(!shown.contains("s3cret"), "{shown}");
    assert_eq!(error.code(), "internal_error");
}

#[tokio::test]
async fn the_built_component_carries_the_factory_id() {
    let resolver = Resolver::new(configured_team);
    let team = resolve(&resolver, RawInput::Absent, &["teams:build"])
        .await
        .unwrap();
    assert_eq!(team.id(), "configured-team");

    // A static team goes through the same pipeline and keeps its own id.
    let prototype = Team::new("Static Team").with_members([Agent::new("A")]);
    let resolver = Resolver::new(prototype);
    assert!(!resolver.info().is_factory);
    let team = resolve(
        &resolver,
        RawInput::Text(r#"{"ignored": true}"#.into()),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(team.id(), "static-team");
    assert_eq!(team.members().len(), 1);
}

/// Calls of `discovered_team`, which only the discovery test registers.
static DISCOVERED_BUILDS: AtomicUsize = AtomicUsize::new(0);

#[team_factory(id = "discovered-team", input = Settings, scopes = ["teams:build"])]
fn discovered_team(_ctx: RequestContext<Settings>) -> Team {
    DISCOVERED_BUILDS.fetch_add(1, Ordering::SeqCst);
    Team::new("Discovered")
}

#[tokio::test]
async fn discovery_gives_the_input_schema_without_calling_the_factory() {
    let os = AgentOs::builder()
        .team(discovered_team)
        .team(vip_team)
        .build()
        .await
        .unwrap();
    let resolver = os.team("discovered-team").unwrap();
    let schema = resolver.input_schema().unwrap();
    assert_eq!(schema["properties"]["include_reviewer"]["type"], "boolean");
    assert!(schema["properties"]["agents"].is_object());
    assert!(os.team("vip-team").unwrap().input_schema().is_none());
    assert_eq!(resolver.info().scopes, ["teams:build"]);
    assert_eq!(
        DISCOVERED_BUILDS.load(Ordering::SeqCst),
        0,
        "discovery called the factory"
    );
}
