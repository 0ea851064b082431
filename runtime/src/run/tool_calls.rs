//! An agent's tool calls: its own tools, and the ones that wait for a person.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::Value;

use super::dispatch::{Dispatched, Dispatcher};
use super::env::RunEnv;
use super::output::CallOutcome;
use super::pause::{Decision, Decisions};
use super::transcript::UserInputField;
use crate::model::ToolCall;
use crate::tool::{PauseFor, Tool};

/// An agent's tool calls, over the tools of its run.
pub(super) struct AgentDispatcher<'a> {
    pub(super) tools: &'a [Tool],
}

impl Dispatcher for AgentDispatcher<'_> {
    fn dispatch<'a>(&'a self, call: &'a ToolCall, _env: &'a RunEnv) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            let tool = match self.tool(call) {
                Ok(tool) => tool,
                Err(message) => return Dispatched::error(message),
            };
            let arguments = match arguments(call) {
                Ok(arguments) => arguments,
                Err(message) => return Dispatched::error(message),
            };
            // A tool that waits for a person does not run now: the run pauses before it.
            if let Some(pause) = tool.pause_for() {
                let user_input = match pause {
                    PauseFor::UserInput { fields } => Some(UserInputField::from_schema(
                        &tool.definition().parameters,
                        fields,
                    )),
                    _ => None,
                };
                return Dispatched {
                    user_input,
                    ..Dispatched::still(CallOutcome::Waiting {
                        pause: pause.clone(),
                    })
                };
            }
            Dispatched::done(call_tool(tool, call, arguments).await)
        })
    }

    fn waits(&self, call: &ToolCall) -> bool {
        self.tool(call).is_ok_and(|tool| tool.pause_for().is_some())
    }

    fn resolve<'a>(
        &'a self,
        call: &'a ToolCall,
        waiting: CallOutcome,
        decisions: &'a Decisions,
        _env: &'a RunEnv,
    ) -> BoxFuture<'a, Dispatched> {
        Box::pin(async move {
            let CallOutcome::Waiting { pause } = &waiting else {
                return Dispatched::still(waiting);
            };
            let Some(decision) = decisions.get(&call.id) else {
                return Dispatched::still(waiting);
            };
            let tool = match self.tool(call) {
                Ok(tool) => tool,
                Err(message) => return Dispatched::error(message),
            };
            let mut arguments = match arguments(call) {
                Ok(arguments) => arguments,
                Err(message) => return Dispatched::error(message),
            };
            let mut filled = None;
            let result = match (pause, decision) {
                (
                    PauseFor::Confirmation,
                    Decision::Confirm {
                        confirmed: true, ..
                    },
                ) => call_tool(tool, call, arguments).await,
                (
                    PauseFor::Confirmation,
                    Decision::Confirm {
                        confirmed: false,
                        note,
                    },
                ) => Ok(match note {
                    Some(note) => format!(
                        "The person declined this call to '{}' and said: {note}",
                        call.name
                    ),
                    None => format!("The person declined this call to '{}'.", call.name),
                }),
                (PauseFor::UserInput { fields }, Decision::UserInput(values))
                    if fields.iter().all(|field| values.contains_key(field)) =>
                {
                    if let Value::Object(object) = &mut arguments {
                        for field in fields {
                            object.insert(field.clone(), values[field].clone());
                        }
                    }
                    filled = Some(arguments.clone());
                    call_tool(tool, call, arguments).await
                }
                (PauseFor::ExternalExecution, Decision::External(result)) => Ok(result.clone()),
                // An answer of the wrong kind, or user input still missing a field: the call
                // goes on waiting.
                _ => return Dispatched::still(waiting),
            };
            Dispatched {
                decided: Some(decision.clone()),
                arguments: filled,
                ..Dispatched::done(result)
            }
        })
    }
}

impl AgentDispatcher<'_> {
    fn tool(&self, call: &ToolCall) -> Result<&Tool, String> {
        self.tools
            .iter()
            .find(|t| t.name() == call.name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.tools.iter().map(|t| t.name()).collect();
                format!(
                    "there is no tool named '{}'; available tools: {}",
                    call.name,
                    names.join(", ")
                )
            })
    }
}

/// The call's arguments as JSON (an empty object for none).
fn arguments(call: &ToolCall) -> Result<Value, String> {
    if call.arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&call.arguments).map_err(|error| {
        format!(
            "the arguments for '{}' are not valid JSON: {error}",
            call.name
        )
    })
}

/// Runs a tool; a panic in it becomes an error the model reads.
async fn call_tool(tool: &Tool, call: &ToolCall, arguments: Value) -> Result<String, String> {
    match AssertUnwindSafe(tool.call(arguments)).catch_unwind().await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(_) => {
            tracing::error!(tool = %call.name, "tool panicked");
            Err(format!("tool '{}' failed unexpectedly", call.name))
        }
    }
}
