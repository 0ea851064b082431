//! Tools: typed Rust functions an agent's model can call.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool the model may call: its name, what it does, and the JSON Schema of its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// Why a tool call failed. The text goes back to the model as the tool's result, so the model
/// can correct its arguments or tell the user.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    /// The model's arguments were not valid JSON or did not fit the schema.
    #[error("invalid arguments for tool '{tool}': {message}")]
    InvalidArguments {
        /// The tool's name.
        tool: String,
        /// What was wrong.
        message: String,
    },
    /// The tool ran and failed.
    #[error("tool '{tool}' failed: {message}")]
    Failed {
        /// The tool's name.
        tool: String,
        /// The tool's own error message.
        message: String,
    },
}

/// What a person (or the client) must do before a tool call the model asked for can complete.
///
/// A tool without one runs as soon as the model calls it. `#[tool(requires_confirmation)]`,
/// `#[tool(requires_user_input = [...])]` and `#[tool(external_execution)]` declare one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PauseFor {
    /// A person approves or rejects the call as the model made it; the tool runs only if
    /// approved.
    Confirmation,
    /// A person supplies some of the arguments; the model supplies the others.
    UserInput {
        /// The arguments the person supplies, by their names in the tool's argument schema.
        fields: Vec<String>,
    },
    /// The tool is not run here: the client runs it and sends its result back.
    ExternalExecution,
}

/// A callable tool. `#[tool]` implements it for a function; implement it by hand for tools
/// whose schema is only known at run time.
pub trait ToolFunction: Send + Sync + 'static {
    /// Name, description and argument schema, as offered to the model.
    fn definition(&self) -> ToolDefinition;

    /// Runs the tool on the model's arguments (a JSON object) and returns its result text.
    fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>>;

    /// What a call must wait for before it completes; `None`, the default, for a tool that
    /// runs straight away.
    fn pause_for(&self) -> Option<PauseFor> {
        None
    }
}

/// A tool attached to an agent: its definition and what it pauses for, computed once, and the
/// function behind it.
#[derive(Clone)]
pub struct Tool {
    definition: Arc<ToolDefinition>,
    pause_for: Option<Arc<PauseFor>>,
    function: Arc<dyn ToolFunction>,
}

impl Tool {
    /// Wraps a tool function.
    pub fn new(function: impl ToolFunction) -> Self {
        Tool {
            definition: Arc::new(function.definition()),
            pause_for: function.pause_for().map(Arc::new),
            function: Arc::new(function),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// What the model is told about the tool.
    pub fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    /// What a call must wait for before it completes, if anything.
    pub fn pause_for(&self) -> Option<&PauseFor> {
        self.pause_for.as_deref()
    }

    /// Runs the tool.
    pub fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>> {
        self.function.call(arguments)
    }
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool").field("name", &self.name()).finish()
    }
}

/// Anything `.with_tool(...)` accepts: a `#[tool]` function, a [`ToolFunction`], or a [`Tool`].
pub trait IntoTool {
    /// The tool handle.
    fn into_tool(self) -> Tool;
}

impl<F: ToolFunction> IntoTool for F {
    fn into_tool(self) -> Tool {
        Tool::new(self)
    }
}

impl IntoTool for Tool {
    fn into_tool(self) -> Tool {
        self
    }
}
