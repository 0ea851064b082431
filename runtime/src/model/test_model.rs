//! The offline deterministic model.
//!
//! `TestModel` answers without a network: offered the delegation tool it delegates the task to
//! every member at once, offered other tools it calls each once with arguments made from the
//! tool's schema (a `task` or `memory` argument is the user's message, so a memory capture
//! remembers what the user said), and once every call has a result it answers from the results,
//! adding the user's memories its system prompt holds (`| remembered: ...`). The examples
//! run on it when no API key is set, and tests use it to exercise delegation and tools.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::{
    Model, ModelError, ModelRequest, ModelResponse, Role, ToolCall, ToolDefinition, Usage,
};

/// A deterministic, offline [`Model`]; see the module documentation.
///
/// ```
/// use agentos_runtime::model::{Message, Model, ModelRequest, TestModel};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let model = TestModel::new();
/// let request = ModelRequest::new(vec![Message::user("hello")], vec![]);
/// let answer = model.complete(request).await.unwrap();
/// assert_eq!(answer.content, "[test-model] reply to: hello");
/// # });
/// ```
#[derive(Debug)]
pub struct TestModel {
    id: String,
    calls: AtomicU64,
    latency: Option<Duration>,
}

impl TestModel {
    /// A test model reporting the id `test-model`.
    pub fn new() -> Self {
        Self::with_id("test-model")
    }

    /// A test model reporting `id` (say, the id of the real model it stands in for).
    pub fn with_id(id: impl Into<String>) -> Self {
        TestModel {
            id: id.into(),
            calls: AtomicU64::new(0),
            latency: None,
        }
    }

    /// Answers each call after `latency`, as a remote model would, without a network: runs
    /// then stay in flight (and their streams open) for as long as real ones do.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = (!latency.is_zero()).then_some(latency);
        self
    }

    /// The answer to one turn, computed from the conversation alone.
    pub fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let turn_start = request
            .messages
            .iter()
            .rposition(|m| m.role == Role::User)
            .unwrap_or(0);
        let turn = &request.messages[turn_start..];
        let user_message = turn.first().map(|m| m.content.as_str()).unwrap_or("");
        let already_called = turn.iter().any(|m| !m.tool_calls.is_empty());

        let tool_calls = if already_called {
            Vec::new()
        } else {
            request
                .tools
                .iter()
                .flat_map(|tool| calls_for(tool, user_message))
                .enumerate()
                .map(|(index, (name, arguments))| ToolCall {
                    id: format!("call_{call}_{index}"),
                    name,
                    arguments: arguments.to_string(),
                })
                .collect()
        };

        let content = if tool_calls.is_empty() {
            let mut content = format!("[{}] reply to: {user_message}", self.id);
            let results: Vec<&str> = turn
                .iter()
                .filter(|m| m.role == Role::Tool)
                .map(|m| m.content.as_str())
                .collect();
            if !results.is_empty() {
                let _ = write!(content, " | tool results: {}", results.join(" ; "));
            }
            let remembered = remembered(request);
            if !remembered.is_empty() {
                let _ = write!(content, " | remembered: {}", remembered.join(" ; "));
            }
            content
        } else {
            String::new()
        };

        let input_tokens = request
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum::<u64>();
        let output_tokens = estimate_tokens(&content) + tool_calls.len() as u64 * 8;
        ModelResponse {
            content,
            tool_calls,
            usage: Usage {
                input_tokens,
                output_tokens,
                total_tokens: input_tokens + output_tokens,
                ..Usage::default()
            },
            response_id: Some(format!("test_{call:06}")),
        }
    }
}

impl Default for TestModel {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for TestModel {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        "Test"
    }

    fn provider_label(&self) -> &str {
        "Test Model"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        match self.latency {
            None => Box::pin(std::future::ready(Ok(self.respond(&request)))),
            Some(latency) => Box::pin(async move {
                tokio::time::sleep(latency).await;
                Ok(self.respond(&request))
            }),
        }
    }
}

/// The user's memories the system prompt holds: the `- ` lines of the block the engine writes
/// (`run/prompt.rs`), so an answer shows what the model was told of the user.
fn remembered(request: &ModelRequest) -> Vec<&str> {
    let Some(system) = request.messages.first().filter(|m| m.role == Role::System) else {
        return Vec::new();
    };
    let Some((_, rest)) = system
        .content
        .split_once("<memories_from_previous_interactions>\n")
    else {
        return Vec::new();
    };
    let block = rest
        .split_once("</memories_from_previous_interactions>")
        .map_or(rest, |(block, _)| block);
    block
        .lines()
        .filter_map(|line| line.strip_prefix("- "))
        .collect()
}

/// The calls made to one tool: every member for the delegation tool, once for any other.
fn calls_for(tool: &ToolDefinition, task: &str) -> Vec<(String, Value)> {
    let properties = tool.parameters.get("properties");
    let member_ids: Vec<&str> = properties
        .and_then(|p| p.get("member_id"))
        .and_then(|m| m.get("enum"))
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !member_ids.is_empty() {
        return member_ids
            .into_iter()
            .map(|id| (tool.name.clone(), json!({ "member_id": id, "task": task })))
            .collect();
    }
    vec![(tool.name.clone(), schema_example(&tool.parameters, task))]
}

/// A value that fits `schema`: required properties only, the first enum value, `task` for a
/// property named `task` or `memory` (so a memory capture remembers what the user said). The test-support crate's provider mocks fill tool arguments the same
/// way, so a scripted test reads alike on the offline model and on a mock.
pub fn schema_example(schema: &Value, task: &str) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if required.contains(&name.as_str()) {
                        let value = if name == "task" || name == "memory" {
                            Value::String(task.to_owned())
                        } else {
                            schema_example(property, task)
                        };
                        object.insert(name.clone(), value);
                    }
                }
            }
            Value::Object(object)
        }
        "integer" => json!(
            schema
                .get("minimum")
                .and_then(Value::as_i64)
                .unwrap_or(1)
                .max(1)
        ),
        "number" => json!(
            schema
                .get("minimum")
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
                .max(1.0)
        ),
        "boolean" => json!(true),
        "array" => json!([]),
        "null" => Value::Null,
        _ => json!("example"),
    }
}

/// About four characters a token, as English text averages.
fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn delegate_tool(ids: &[&str]) -> ToolDefinition {
        ToolDefinition {
            name: "delegate_task_to_member".into(),
            description: String::new(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "member_id": {"type": "string", "enum": ids},
                    "task": {"type": "string"}
                },
                "required": ["member_id", "task"]
            }),
        }
    }

    #[test]
    fn delegates_to_every_member_then_answers_from_the_results() {
        let model = TestModel::new();
        let mut request = ModelRequest::new(
            vec![Message::system("lead"), Message::user("help me")],
            vec![delegate_tool(&["billing", "tech"])],
        );
        let first = model.respond(&request);
        let members: Vec<Value> = first
            .tool_calls
            .iter()
            .map(|c| serde_json::from_str::<Value>(&c.arguments).unwrap()["member_id"].clone())
            .collect();
        assert_eq!(members, [json!("billing"), json!("tech")]);

        let messages = std::sync::Arc::make_mut(&mut request.messages);
        messages.push(Message::assistant_tool_calls("", first.tool_calls.clone()));
        for call in &first.tool_calls {
            messages.push(Message::tool_result(
                &call.id,
                format!("answer of {}", call.id),
            ));
        }
        let second = model.respond(&request);
        assert!(second.tool_calls.is_empty());
        assert!(
            second.content.contains("tool results: answer of"),
            "{}",
            second.content
        );
    }

    #[test]
    fn fills_required_arguments_from_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "folder": {"type": "string"},
                "limit": {"type": "integer", "minimum": 5},
                "mode": {"enum": ["fast", "slow"]},
                "optional": {"type": "string"}
            },
            "required": ["folder", "limit", "mode"]
        });
        assert_eq!(
            schema_example(&schema, "t"),
            json!({"folder": "example", "limit": 5, "mode": "fast"})
        );
    }
}
