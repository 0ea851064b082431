//! Running what a factory built: the agent loop, team delegation, events and outputs.

mod converse;
mod delegate;
mod dispatch;
mod engine;
mod env;
mod event;
mod log;
mod memory_tool;
mod output;
mod pause;
mod prompt;
mod step_event;
mod step_output;
mod tool_calls;
mod toolsets;
mod transcript;
mod workflow;

pub use crate::meta::RunMeta;
pub use crate::status::RunStatus;
pub(crate) use engine::failed_run;
pub use engine::{RunRequest, continue_agent, continue_team, run_agent, run_team};
pub use env::{EventSink, RunEnv};
pub use event::{EventName, EventUsage, RunEvent};
pub use log::EventLog;
pub(crate) use log::PROMISED_AT_START;
pub use output::{
    CallOutcome, Paused, Requirement, RunOutput, StepRequirement, Suspended, UnsetStepFields,
    WorkflowPause,
};
pub use pause::{Decision, Decisions};
pub(crate) use prompt::delegation_tool;
pub use step_event::{StepEvent, StepOf};
pub use step_output::{StepIndex, StepOutput};
pub use transcript::{
    CalledFunction, MessageMetrics, MessageToolCall, MetricsDetails, ModelMetrics, RunInput,
    RunMessage, RunMetrics, StepMetrics, ToolExecution, ToolMetrics, UserInputField,
};
pub use workflow::{continue_workflow, run_workflow};
