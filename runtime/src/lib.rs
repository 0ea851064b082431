//! The agentos runtime: factories and the components they build, the resolution pipeline,
//! models, tools, the HTTP server and storage.
//!
//! Applications depend on the `agentos` facade crate, which re-exports this one together with
//! the macros.
//!
//! # Layers
//!
//! The modules stand in layers, bottom first. A module imports from its own layer and the ones
//! below, never from one above, and no two files import each other, directly or through others;
//! a type two layers use lives in the lower one. The `agentos-layers` crate reads this list and
//! checks the code against it in CI.
//!
//! 1. Vocabulary (`meta`, `context`, `error`, `input`, `tool`, `toolset`, `component`, `status`,
//!    `time`, `env`, `tls`): ids, identity, errors, tools, component settings, run status, time.
//! 2. Outside services (`model`, `mcp_tools`): the model trait and its providers (OpenAI,
//!    OpenAI-compatible servers, Anthropic, Gemini), the model strings that choose among them,
//!    and the tools of MCP servers.
//! 3. Components (`memory`, `profile`, `agent`, `team`, `workflow`): what a factory builds, the
//!    profile agents and teams share, their memory settings, and workflows of their steps.
//! 4. Factories (`factory`, `resolve`): factories and the pipeline that calls them per request.
//! 5. Instruments (`metrics`, `otel`): Prometheus counters and trace export, which the engine
//!    and everything above it report to.
//! 6. Run engine (`run`): one run of an agent, a team or a workflow, its events, pauses and
//!    output.
//! 7. Store (`store`): sessions, runs, events and user memories in SQLite or PostgreSQL.
//! 8. Run service (`runs`): a run's life: ownership, idempotency, limits, streams, cancel, resume.
//! 9. Front doors (`server`): agno's HTTP API, and MCP at `/mcp` (the A2A and AG-UI doors will
//!    stand beside them).
//! 10. Builder (`os`): `AgentOs`, which puts the store, the service and the doors together.
//! 11. Facade (`private`): the paths generated code uses.

#![warn(missing_docs)]

mod agent;
mod component;
mod context;
mod env;
mod error;
mod factory;
mod input;
mod mcp_tools;
mod memory;
mod meta;
mod metrics;
pub mod model;
mod os;
#[cfg(feature = "otel")]
pub mod otel;
mod profile;
pub mod resolve;
pub mod run;
pub mod runs;
pub mod server;
mod status;
pub mod store;
mod team;
mod time;
pub mod tls;
mod tool;
mod toolset;
pub mod workflow;

#[doc(hidden)]
pub mod private;

pub use agent::Agent;
pub use component::{
    Component, ComponentKind, ComponentRef, HistorySettings, MultitaskStrategy, slugify,
};
pub use context::{RequestContext, RequestParts, Trusted};
pub use error::{BoxError, FactoryError, FieldError, PathSegment, ValidationErrors};
pub use factory::{AgentFactory, Factory, FactoryInfo, TeamFactory, WorkflowFactory};
pub use input::{MAX_INPUT_DEPTH, input_schema, parse_input};
pub use mcp_tools::{DEFAULT_MCP_TIMEOUT, McpTools};
pub use memory::{Memory, MemoryCapture, MemoryEditor, Recalled, SessionSummaries};
pub use meta::{Identity, new_id};
pub use model::{
    IntoModel, Message, Model, ModelError, ModelHandle, ModelRequest, ModelResponse, Role,
    ScriptedModel, TestModel, ToolCall, ToolDefinition, Usage,
};
pub use os::{AgentOs, AgentOsBuilder, BuildError, Registration, is_valid_id};
pub use resolve::{RawInput, Resolver};
pub use run::{RunEnv, RunEvent, RunMeta, RunOutput, RunRequest, RunStatus, run_agent, run_team};
pub use team::{Member, Team, TeamMode};
pub use tool::{IntoTool, PauseFor, Tool, ToolError, ToolFunction};
pub use toolset::{ConnectedTools, IntoTools, Tools, Toolset, ToolsetError};
