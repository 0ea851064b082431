//! agentos serves teams of LLM agents that are built per request.
//!
//! A factory is an ordinary Rust function that receives the caller's [`RequestContext`]
//! (verified identity, validated input) and returns a [`Team`] or an [`Agent`]. The server
//! resolves the factory on every run, runs what it built, streams the events or returns the
//! run, and stores the session. The HTTP API is agno's AgentOS API.
//!
//! # 1. Write a factory
//!
//! The input type is checked by the compiler (`Deserialize + Validate + JsonSchema`), and
//! validated with garde before the factory runs; the caller sends it as `factory_input`.
//!
//! ```
//! use agentos::prelude::*;
//! use agentos::TestModel;
//!
//! #[derive(Deserialize, Validate, JsonSchema)]
//! struct TeamConfig {
//!     /// Adds a reviewer to the team.
//!     #[serde(default)]
//!     #[garde(skip)]
//!     include_reviewer: bool,
//! }
//!
//! #[team_factory(id = "research-team", input = TeamConfig, name = "Research")]
//! fn research_team(ctx: RequestContext<TeamConfig>) -> Team {
//!     let model = TestModel::with_id("gpt-5.4"); // `agentos::model::from_env` in an app
//!     let mut team = Team::new("Research")
//!         .with_model(model)
//!         .with_members([Agent::new("Researcher"), Agent::new("Writer")]);
//!     if ctx.input.include_reviewer {
//!         team = team.with_member(Agent::new("Reviewer"));
//!     }
//!     team
//! }
//!
//! // 2. A factory is a value you can call in a unit test.
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let ctx = RequestContext::test(TeamConfig { include_reviewer: true }).with_verified_user("ada");
//! let team = research_team.build(ctx).await.unwrap();
//! assert_eq!(team.members().len(), 3);
//! # });
//! ```
//!
//! # 3. Give agents tools
//!
//! `#[tool]` turns a typed function into a tool; its doc comments become the descriptions the
//! model reads, and its parameters the argument schema.
//!
//! ```
//! use agentos::prelude::*;
//! use agentos::ToolFunction;
//!
//! /// Looks an order up by number.
//! #[tool]
//! fn lookup_order(
//!     /// The order number.
//!     order: u32,
//! ) -> String {
//!     format!("order {order} shipped")
//! }
//!
//! let agent = Agent::new("Clerk").with_tool(lookup_order);
//! assert_eq!(lookup_order.definition().parameters["required"][0], "order");
//! # let _ = agent;
//! ```
//!
//! # 4. Decide from what was verified
//!
//! With `AgentOs::builder().auth(JwtAuth::...)`, the token's subject becomes
//! [`RequestContext::user_id`] (marked [`Identity::Verified`]) and its claims
//! [`RequestContext::trusted`]; nothing in the body can change them. A factory refuses with
//! [`FactoryError::Permission`] (403).
//!
//! ```
//! use agentos::prelude::*;
//!
//! #[team_factory(id = "admin-team", scopes = ["support:admin"])]
//! fn admin_team(ctx: RequestContext) -> Result<Team, FactoryError> {
//!     match ctx.trusted().claim_str("tier") {
//!         Some("enterprise") => Ok(Team::new("Admin")),
//!         _ => Err(FactoryError::permission("enterprise tenants only")),
//!     }
//! }
//! ```
//!
//! # 5. Serve
//!
//! ```no_run
//! # use agentos::prelude::*;
//! # #[team_factory(id = "research-team")]
//! # fn research_team() -> Team { Team::new("Research") }
//! use agentos::store::Db;
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     AgentOs::builder()
//!         .team(research_team)                 // or `.discover()` for every annotated factory
//!         .db(Db::from_env_or_sqlite("agentos.db"))
//!         .build()
//!         .await?
//!         .serve("127.0.0.1:7777")             // ctrl-c or SIGTERM shut down gracefully
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! `AgentOs::router()` gives the same API as an axum `Router`, to nest in your own app and
//! layer with tower middleware. `POST /teams/research-team/runs` with `message` (and
//! `factory_input`, `session_id`, `stream`) runs the team; see the README for every route.

#![warn(missing_docs)]

pub use agentos_runtime::{
    Agent, AgentFactory, AgentOs, AgentOsBuilder, BoxError, BuildError, Component, ComponentKind,
    ComponentRef, Factory, FactoryError, FactoryInfo, FieldError, HistorySettings, Identity,
    IntoModel, IntoTool, IntoTools, MAX_INPUT_DEPTH, McpTools, Member, Memory, MemoryCapture,
    Message, Model, ModelError, ModelHandle, ModelRequest, ModelResponse, PathSegment, PauseFor,
    RawInput, Recalled, Registration, RequestContext, RequestParts, Resolver, Role, RunEnv,
    RunEvent, RunMeta, RunOutput, RunRequest, RunStatus, ScriptedModel, SessionSummaries, Team,
    TeamFactory, TeamMode, TestModel, Tool, ToolCall, ToolDefinition, ToolError, ToolFunction,
    Toolset, ToolsetError, Trusted, Usage, ValidationErrors, WorkflowFactory, input_schema,
    is_valid_id, new_id, parse_input, run_agent, run_team, slugify,
};
pub use agentos_runtime::{model, run, runs, server, store, tls, workflow};

/// Traces out of the process (the `otel` feature): `agentos::otel::init()` in `main`.
#[cfg(feature = "otel")]
pub use agentos_runtime::otel;

/// Test support (the `testing` feature): in-process servers speaking the OpenAI, Anthropic and
/// Gemini wire protocols.
#[cfg(feature = "testing")]
pub use agentos_testing as testing;

#[cfg(feature = "macros")]
pub use agentos_macros::{agent_factory, team_factory, tool, workflow_factory};

/// Everything a factory author needs, in one `use`.
pub mod prelude {
    #[cfg(feature = "macros")]
    pub use agentos_macros::{agent_factory, team_factory, tool, workflow_factory};
    pub use agentos_runtime::workflow::{
        Condition, Loop, Parallel, Router, Step, StepError, StepInput, StepResult, Steps, Workflow,
    };
    pub use agentos_runtime::{
        Agent, AgentFactory, AgentOs, Factory, FactoryError, Identity, McpTools, Member, Memory,
        RequestContext, SessionSummaries, Team, TeamFactory, TeamMode, Trusted, WorkflowFactory,
    };
    pub use garde::Validate;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// Paths used by generated code. Not a public API; it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use agentos_runtime::private::*;
    pub use agentos_runtime::workflow::Workflow;
    pub use agentos_runtime::{
        Agent, Factory, FactoryError, FactoryInfo, PauseFor, Registration, RequestContext, Team,
    };
    pub use garde;
    pub use schemars;
    pub use serde;
    pub use serde_json;
}

/// With the `jemalloc` feature, every binary that links agentos allocates with jemalloc: the
/// server's many short allocations (requests, runs, JSON) cost a quarter less CPU a run than
/// with the system's malloc, whose arena locks and free-list merging showed in the profiles.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
