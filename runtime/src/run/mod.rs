//! Running what a factory built: the agent loop, team delegation, events and outputs.

mod converse;
mod delegate;
mod engine;
mod event;
mod log;
mod meta;
mod output;
mod pause;
mod prompt;
mod tool_calls;

pub(crate) use engine::failed_run;
pub use engine::{
    EventSink, RunEnv, RunRequest, continue_agent, continue_team, run_agent, run_team,
};
pub use event::{EventName, EventUsage, RunEvent};
pub use log::EventLog;
pub use meta::RunMeta;
pub use output::{
    CalledFunction, MessageMetrics, MessageToolCall, MetricsDetails, ModelMetrics, RunInput,
    RunMessage, RunMetrics, RunOutput, RunStatus, ToolExecution, ToolMetrics,
};
pub use pause::{CallOutcome, Decision, Decisions, Requirement, Suspended, UserInputField};
pub(crate) use prompt::delegation_tool;

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds now, fractional, for tool timings.
pub(crate) fn now_unix_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
