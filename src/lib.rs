//! agentos serves teams of LLM agents that are built per request.
//!
//! A factory is an ordinary Rust function that receives the caller's [`RequestContext`]
//! (verified identity, validated input) and returns a [`Team`] or an [`Agent`]. The server
//! resolves the factory on every run, runs what it built, and streams or returns the result.
//!
//! ```
//! use agentos::prelude::*;
//!
//! #[derive(Deserialize, Validate, JsonSchema)]
//! struct TeamConfig {
//!     #[serde(default)]
//!     #[garde(skip)]
//!     include_reviewer: bool,
//! }
//!
//! #[team_factory(id = "research-team", input = TeamConfig, name = "Research")]
//! fn research_team(ctx: RequestContext<TeamConfig>) -> Team {
//!     let mut team = Team::new("Research")
//!         .members([Agent::new("Researcher"), Agent::new("Writer")]);
//!     if ctx.input.include_reviewer {
//!         team = team.member(Agent::new("Reviewer"));
//!     }
//!     team
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let ctx = RequestContext::test(TeamConfig { include_reviewer: true });
//! let team = research_team.build(ctx).await.unwrap();
//! assert_eq!(team.get_members().len(), 3);
//! # });
//! ```

pub use agentos_runtime::*;

#[cfg(feature = "macros")]
pub use agentos_macros::{agent_factory, team_factory, tool};

/// Everything a factory author needs, in one `use`.
pub mod prelude {
    #[cfg(feature = "macros")]
    pub use agentos_macros::{agent_factory, team_factory, tool};
    pub use agentos_runtime::{
        Agent, AgentFactory, AgentOs, Factory, FactoryError, Identity, Member, RequestContext,
        Team, TeamFactory, TeamMode, Trusted,
    };
    pub use garde::Validate;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// Paths used by generated code. Not a public API; it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use agentos_runtime::private::*;
    pub use agentos_runtime::{
        Agent, Factory, FactoryError, FactoryInfo, Registration, RequestContext, Team,
    };
    pub use garde;
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
