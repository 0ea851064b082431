//! The agentos runtime: factories and the components they build, the resolution pipeline,
//! models, tools, the HTTP server and storage.
//!
//! Applications depend on the `agentos` facade crate, which re-exports this one together with
//! the macros.

#![warn(missing_docs)]

mod agent;
mod component;
mod context;
mod env;
mod error;
mod factory;
mod input;
mod metrics;
pub mod model;
mod os;
#[cfg(feature = "otel")]
pub mod otel;
pub mod resolve;
pub mod run;
pub mod runs;
pub mod server;
pub mod store;
mod team;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
mod tool;

#[doc(hidden)]
pub mod private;

pub use agent::Agent;
pub use component::{Component, ComponentKind, ComponentRef, HistorySettings, slugify};
pub use context::{Identity, RequestContext, RequestParts, Trusted, new_id};
pub use error::{BoxError, FactoryError, FieldError, PathSegment, ValidationErrors};
pub use factory::{AgentFactory, Factory, FactoryInfo, TeamFactory};
pub use input::{MAX_INPUT_DEPTH, input_schema, parse_input};
pub use model::{
    IntoModel, Message, Model, ModelError, ModelHandle, ModelRequest, ModelResponse, Role,
    ScriptedModel, TestModel, ToolCall, ToolDefinition, Usage,
};
pub use os::{AgentOs, AgentOsBuilder, BuildError, Registration, is_valid_id};
pub use resolve::{RawInput, Resolver};
pub use run::{RunEnv, RunEvent, RunMeta, RunOutput, RunRequest, RunStatus, run_agent, run_team};
pub use team::{Member, Team, TeamMode};
pub use tool::{IntoTool, PauseFor, Tool, ToolError, ToolFunction};
