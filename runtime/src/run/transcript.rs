//! What a run's output records: its input, its messages, its tool executions (with the
//! fields a person fills in) and its metrics, in agno's shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Usage;

/// Tokens of one model within a run's metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// The model id.
    pub id: String,
    /// The provider label, such as `OpenAI Responses`.
    pub provider: String,
}

/// Per-model breakdown of a run's tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsDetails {
    /// One entry per model used.
    pub model: Vec<ModelMetrics>,
}

/// Tokens and timings of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Seconds until the first piece of the answer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_to_first_token: Option<f64>,
    /// Seconds the run took.
    pub duration: f64,
    /// Per-model tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub details: Option<MetricsDetails>,
    /// For a workflow's run: each agent or team step's metrics, by step name (agno's
    /// `WorkflowMetrics.steps`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steps: Option<std::collections::BTreeMap<String, StepMetrics>>,
}

/// One workflow step's metrics: the run of its agent or team.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// The step's name.
    pub step_name: String,
    /// `agent` or `team`.
    pub executor_type: String,
    /// The agent's or team's name.
    pub executor_name: String,
    /// Its run's metrics.
    pub metrics: Option<RunMetrics>,
}

impl RunMetrics {
    /// Adds a model call's tokens, under the model's entry in the details.
    pub(crate) fn add_usage(&mut self, usage: Usage, model_id: &str, provider: &str) {
        self.input_tokens += usage.input_tokens;
        self.output_tokens += usage.output_tokens;
        self.total_tokens += usage.total_tokens;
        let details = self.details.get_or_insert_with(MetricsDetails::default);
        match details
            .model
            .iter_mut()
            .find(|m| m.id == model_id && m.provider == provider)
        {
            Some(entry) => {
                entry.input_tokens += usage.input_tokens;
                entry.output_tokens += usage.output_tokens;
                entry.total_tokens += usage.total_tokens;
            }
            None => details.model.push(ModelMetrics {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                total_tokens: usage.total_tokens,
                id: model_id.to_owned(),
                provider: provider.to_owned(),
            }),
        }
    }
}

impl RunMetrics {
    /// Adds another run's tokens and time to these, model by model: a session's metrics are
    /// the sum of its runs'.
    pub fn absorb(&mut self, other: &RunMetrics) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.duration += other.duration;
        let Some(theirs) = &other.details else {
            return;
        };
        let details = self.details.get_or_insert_with(MetricsDetails::default);
        for model in &theirs.model {
            match details
                .model
                .iter_mut()
                .find(|m| m.id == model.id && m.provider == model.provider)
            {
                Some(entry) => {
                    entry.input_tokens += model.input_tokens;
                    entry.output_tokens += model.output_tokens;
                    entry.total_tokens += model.total_tokens;
                }
                None => details.model.push(model.clone()),
            }
        }
    }
}

/// Timing of one tool call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolMetrics {
    /// Unix seconds, fractional.
    pub start_time: f64,
    /// Unix seconds, fractional.
    pub end_time: f64,
    /// Seconds.
    pub duration: f64,
}

/// One tool call of a run, with its result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolExecution {
    /// The model's id for the call.
    pub tool_call_id: String,
    /// The tool's name.
    pub tool_name: String,
    /// The arguments (the raw text as a string when the model sent invalid JSON).
    pub tool_args: Value,
    /// Whether the call failed; `null` while it runs.
    pub tool_call_error: Option<bool>,
    /// The result sent back to the model; `null` while it runs.
    pub result: Option<String>,
    /// Timing; `null` while it runs.
    pub metrics: Option<ToolMetrics>,
    /// For a delegation: the member run it started.
    pub child_run_id: Option<String>,
    /// agno's flag; agentos always goes on after a tool call.
    pub stop_after_tool_call: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// The call waits for a person to confirm it.
    #[serde(default)]
    pub requires_confirmation: Option<bool>,
    /// The person's answer to a confirmation.
    #[serde(default)]
    pub confirmed: Option<bool>,
    /// What the person said with it.
    #[serde(default)]
    pub confirmation_note: Option<String>,
    /// Some arguments come from a person.
    #[serde(default)]
    pub requires_user_input: Option<bool>,
    /// The arguments the person fills in.
    #[serde(default)]
    pub user_input_schema: Option<Vec<UserInputField>>,
    /// Whether the person has filled them in.
    #[serde(default)]
    pub answered: Option<bool>,
    /// The client runs the tool and sends its result.
    #[serde(default)]
    pub external_execution_required: Option<bool>,
}

/// A tool call inside a message of the run's conversation, as OpenAI and agno spell it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageToolCall {
    /// The provider's id for the call.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called.
    pub function: CalledFunction,
}

/// The function of a [`MessageToolCall`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalledFunction {
    /// The tool's name.
    pub name: String,
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
}

/// Tokens and timing of the model call that wrote a message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageMetrics {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Seconds until the first piece of the answer, when streamed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_to_first_token: Option<f64>,
    /// Seconds the call took.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration: Option<f64>,
}

/// One message of a run's conversation as the run reports it (agno's `messages`): the user's
/// message, the model's turns and the tool results. System prompts are never among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMessage {
    /// A fresh id.
    pub id: String,
    /// Who wrote it.
    pub role: crate::model::Role,
    /// Its text; absent on a model turn that only calls tools.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<String>,
    /// For a tool result: the call it answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_call_id: Option<String>,
    /// The tool calls of a model turn.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tool_calls: Vec<MessageToolCall>,
    /// The provider's id of the model call that wrote it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provider_data: Option<Value>,
    /// Tokens of the model call that wrote it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metrics: Option<MessageMetrics>,
    /// Whether it came from an earlier run of the session.
    #[serde(default)]
    pub from_history: bool,
    /// agno's flag; always false.
    #[serde(default)]
    pub stop_after_tool_call: bool,
    /// Unix seconds.
    #[serde(default)]
    pub created_at: i64,
}

impl RunMessage {
    fn new(role: crate::model::Role, content: Option<String>) -> Self {
        RunMessage {
            id: crate::meta::new_id(),
            role,
            content,
            tool_call_id: None,
            tool_calls: Vec::new(),
            provider_data: None,
            metrics: None,
            from_history: false,
            stop_after_tool_call: false,
            created_at: crate::time::now_unix(),
        }
    }

    /// The user's (or the delegating leader's) message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(crate::model::Role::User, Some(content.into()))
    }

    /// A model turn: its text (if any) and its tool calls.
    pub fn assistant(content: &str, tool_calls: &[crate::model::ToolCall]) -> Self {
        let mut message = Self::new(
            crate::model::Role::Assistant,
            (!content.is_empty() || tool_calls.is_empty()).then(|| content.to_owned()),
        );
        message.tool_calls = tool_calls
            .iter()
            .map(|call| MessageToolCall {
                id: call.id.clone(),
                kind: "function".to_owned(),
                function: CalledFunction {
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            })
            .collect();
        message
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool_result(tool_call_id: &str, content: impl Into<String>) -> Self {
        let mut message = Self::new(crate::model::Role::Tool, Some(content.into()));
        message.tool_call_id = Some(tool_call_id.to_owned());
        message
    }
}

/// What the run was asked. agno writes an agent's or a team's as `{"input_content": ...}` and
/// a workflow's as the message itself; both are read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunInput {
    /// The message.
    pub input_content: String,
    /// Written as the bare message (a workflow's run).
    pub bare: bool,
}

impl RunInput {
    /// The input of an agent's or a team's run.
    pub fn new(message: impl Into<String>) -> Self {
        RunInput {
            input_content: message.into(),
            bare: false,
        }
    }

    /// The input of a workflow's run, written as the message alone.
    pub fn bare(message: impl Into<String>) -> Self {
        RunInput {
            input_content: message.into(),
            bare: true,
        }
    }
}

/// How agno writes a run's input, either way.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum InputShape<'a> {
    Bare(std::borrow::Cow<'a, str>),
    Fields {
        input_content: std::borrow::Cow<'a, str>,
    },
}

impl Serialize for RunInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::borrow::Cow::Borrowed(self.input_content.as_str());
        match self.bare {
            true => InputShape::Bare(text),
            false => InputShape::Fields {
                input_content: text,
            },
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RunInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match InputShape::deserialize(deserializer)? {
            InputShape::Bare(text) => RunInput::bare(text),
            InputShape::Fields { input_content } => RunInput::new(input_content),
        })
    }
}

/// One field a person fills in for a user-input tool, in agno's shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserInputField {
    /// The argument's name.
    pub name: String,
    /// Its type, as agno names them (`str`, `int`, `float`, `bool`, `list`, `dict`).
    pub field_type: String,
    /// What it is, from the tool's documentation.
    pub description: Option<String>,
    /// The person's value, once given.
    pub value: Option<Value>,
}

impl UserInputField {
    /// The fields `names` of a tool whose argument schema is `parameters`.
    pub fn from_schema(parameters: &Value, names: &[String]) -> Vec<UserInputField> {
        names
            .iter()
            .map(|name| {
                let property = parameters
                    .get("properties")
                    .and_then(|properties| properties.get(name));
                let json_type = property
                    .and_then(|p| p.get("type"))
                    .and_then(|t| match t {
                        Value::String(single) => Some(single.as_str()),
                        Value::Array(many) => {
                            many.iter().filter_map(Value::as_str).find(|t| *t != "null")
                        }
                        _ => None,
                    })
                    .unwrap_or("string");
                let field_type = match json_type {
                    "integer" => "int",
                    "number" => "float",
                    "boolean" => "bool",
                    "array" => "list",
                    "object" => "dict",
                    _ => "str",
                };
                UserInputField {
                    name: name.clone(),
                    field_type: field_type.to_owned(),
                    description: property
                        .and_then(|p| p.get("description"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    value: None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_input_fields_take_their_types_and_docs_from_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "amount": {"type": "integer", "description": "In cents."},
                "note": {"type": ["string", "null"]},
            }
        });
        let fields = UserInputField::from_schema(&schema, &["amount".into(), "note".into()]);
        assert_eq!(fields[0].field_type, "int");
        assert_eq!(fields[0].description.as_deref(), Some("In cents."));
        assert_eq!(fields[1].field_type, "str");
    }
}
