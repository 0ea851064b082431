//! `update_user_memory`: the tool an agent with agentic memory is given, to remember, change
//! or forget what it knows of its user while the run goes on.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::agent::Agent;
use crate::memory::{Memory, MemoryCapture, MemoryEditor};
use crate::model::ModelHandle;
use crate::tool::{Tool, ToolDefinition, ToolError, ToolFunction};

/// The tool's name.
pub(crate) const UPDATE_USER_MEMORY: &str = "update_user_memory";

/// The memory tool for `agent`, when its memory is agentic and the run has a user to remember.
pub(super) fn memory_tool(agent: &Agent, editor: Option<&Arc<dyn MemoryEditor>>) -> Option<Tool> {
    let settings = agent.memory()?;
    if settings.capture() != MemoryCapture::Agentic {
        return None;
    }
    Some(Tool::new(UpdateUserMemory {
        editor: Arc::clone(editor?),
        agent_id: agent.id().to_owned(),
        settings: settings.clone(),
        model: agent.model().cloned(),
    }))
}

/// The tool of one agent's run: the agent's id, memory settings and model, for the edit.
struct UpdateUserMemory {
    editor: Arc<dyn MemoryEditor>,
    agent_id: String,
    settings: Memory,
    model: Option<ModelHandle>,
}

impl ToolFunction for UpdateUserMemory {
    fn definition(&self) -> ToolDefinition {
        ToolDefinition {
            name: UPDATE_USER_MEMORY.to_owned(),
            description: "Remember something about the user for later conversations, change \
                what you remember, or forget it. Describe the change in plain words."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "task": {
                        "type": "string",
                        "description": "What to remember, change or forget about the user."
                    }
                },
                "required": ["task"],
                "additionalProperties": false
            }),
        }
    }

    fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>> {
        let Some(task) = arguments.get("task").and_then(Value::as_str) else {
            return Box::pin(std::future::ready(Err(ToolError::InvalidArguments {
                tool: UPDATE_USER_MEMORY.to_owned(),
                message: "`task` must be a string".to_owned(),
            })));
        };
        let edit = self.editor.edit(
            task.to_owned(),
            &self.agent_id,
            &self.settings,
            self.model.as_ref(),
        );
        Box::pin(async move {
            edit.await.map_err(|message| ToolError::Failed {
                tool: UPDATE_USER_MEMORY.to_owned(),
                message,
            })
        })
    }
}
