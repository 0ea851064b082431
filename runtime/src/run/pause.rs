//! Human in the loop: what a paused run waits for, what is stored to continue it, and the
//! answers a person sends back.
//!
//! A run pauses when its model calls a tool that waits for a person ([`PauseFor`]). The turn
//! stops before that tool runs: the other calls of the turn run, and the conversation, the
//! calls and their outcomes so far are kept as a [`Suspended`] turn, stored with the run. A
//! team's run pauses when a member's does: the delegation waits on the member's own suspended
//! turn. Continuing resolves what the person answered and goes on from that turn.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::output::{RunMessage, RunMetrics, RunOutput, ToolExecution};
use crate::model::{Message, ToolCall};
use crate::tool::PauseFor;

/// A run stopped in the middle of a turn, waiting for a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Suspended {
    /// The conversation after the system prompt, up to and including the model's turn that
    /// called the tools.
    pub messages: Vec<Message>,
    /// That turn's calls, in order.
    pub calls: Vec<ToolCall>,
    /// What became of each call so far, in the same order.
    pub outcomes: Vec<CallOutcome>,
    /// The run's tool executions so far, this turn's included.
    pub tools: Vec<ToolExecution>,
    /// Member runs that have ended so far.
    pub members: Vec<RunOutput>,
    /// Tokens and timings so far.
    pub metrics: RunMetrics,
    /// What the run reports as its `messages` so far.
    pub transcript: Vec<RunMessage>,
    /// Model turns taken so far.
    pub turns: usize,
}

impl Suspended {
    /// The member runs that wait for a person, as the team's output lists them.
    pub fn waiting_members(&self) -> impl Iterator<Item = &RunOutput> {
        self.outcomes.iter().filter_map(|outcome| match outcome {
            CallOutcome::Member { run, .. } => Some(&**run),
            _ => None,
        })
    }

    /// Whether the call `tool_call_id` of the suspended turn still waits.
    pub fn waits_on(&self, tool_call_id: &str) -> bool {
        self.calls
            .iter()
            .zip(&self.outcomes)
            .any(|(call, outcome)| {
                call.id == tool_call_id && !matches!(outcome, CallOutcome::Done { .. })
            })
    }
}

/// What became of one tool call of a suspended turn.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallOutcome {
    /// It ran (or was answered): the text goes back to the model.
    Done {
        /// The tool's result, or why it failed.
        result: Result<String, String>,
        /// The result is the run's answer (a routed member's reply).
        #[serde(default)]
        is_final_answer: bool,
    },
    /// An agent's tool waits for a person.
    Waiting {
        /// What for.
        pause: PauseFor,
    },
    /// A delegation waits for a member run that paused.
    Member {
        /// The member's id in the team.
        member_id: String,
        /// The member's paused run, as the team's output shows it.
        run: Box<RunOutput>,
        /// What the member's run needs to go on.
        suspended: Box<Suspended>,
    },
}

/// A person's answer to one waiting tool call.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// A call that needed confirmation: run it, or send the rejection (and the note) to the
    /// model instead.
    Confirm {
        /// Whether the person allowed the call.
        confirmed: bool,
        /// What the person said about it.
        note: Option<String>,
    },
    /// The arguments the person fills in.
    UserInput(Map<String, Value>),
    /// The result of a tool the client ran itself.
    External(String),
}

/// The answers sent with a continue request, by tool call id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decisions(pub HashMap<String, Decision>);

impl Decisions {
    /// The answer to the call `tool_call_id`, if any.
    pub fn get(&self, tool_call_id: &str) -> Option<&Decision> {
        self.0.get(tool_call_id)
    }

    /// Reads agno's continue forms: a list of tool executions (`tools`, the agent route) or of
    /// requirements (`requirements`, the team route), keeping the answers they carry.
    pub fn from_agno(items: &[Value]) -> Decisions {
        let mut decisions = HashMap::new();
        for item in items {
            // A requirement wraps the tool execution; a tool execution is one.
            let tool = item.get("tool_execution").unwrap_or(item);
            let Some(call_id) = tool.get("tool_call_id").and_then(Value::as_str) else {
                continue;
            };
            let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
            let confirmed = item
                .get("confirmation")
                .and_then(Value::as_bool)
                .or_else(|| tool.get("confirmed").and_then(Value::as_bool));
            let external = text(item.get("external_execution_result")).or_else(|| {
                tool.get("external_execution_required")
                    .and_then(Value::as_bool)
                    .filter(|required| *required)
                    .and_then(|_| text(tool.get("result")))
            });
            let schema = item
                .get("user_input_schema")
                .or_else(|| tool.get("user_input_schema"))
                .and_then(Value::as_array);
            let values: Map<String, Value> = schema
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(|field| {
                            let name = field.get("name")?.as_str()?;
                            let value = field.get("value").filter(|v| !v.is_null())?;
                            Some((name.to_owned(), value.clone()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let decision = if let Some(confirmed) = confirmed {
                Decision::Confirm {
                    confirmed,
                    note: text(item.get("confirmation_note"))
                        .or_else(|| text(tool.get("confirmation_note"))),
                }
            } else if let Some(result) = external {
                Decision::External(result)
            } else if !values.is_empty() {
                Decision::UserInput(values)
            } else {
                continue;
            };
            decisions.insert(call_id.to_owned(), decision);
        }
        Decisions(decisions)
    }
}

/// What a paused run asks of a person, one per waiting call, in agno's shape (its clients send
/// them back to `POST /teams/{id}/runs/{run_id}/continue`). A member's names the member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requirement {
    /// The waiting call's id (also its tool execution's `tool_call_id`).
    pub id: String,
    /// When the run paused (RFC 3339).
    pub created_at: String,
    /// The call, with agno's flags saying what it waits for.
    pub tool_execution: ToolExecution,
    /// The person's confirmation, once given.
    pub confirmation: Option<bool>,
    /// What the person said with it.
    pub confirmation_note: Option<String>,
    /// For a user-input call: the fields to fill in.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_input_schema: Option<Vec<UserInputField>>,
    /// For an external call: the result, once sent.
    pub external_execution_result: Option<String>,
    /// For a member's call: the member.
    pub member_agent_id: Option<String>,
    /// For a member's call: the member's name.
    pub member_agent_name: Option<String>,
    /// For a member's call: the member's run.
    pub member_run_id: Option<String>,
}

impl Requirement {
    /// The requirements of a suspended turn, a waiting member's included; `member` is the
    /// member run that `suspended` belongs to, if it is a member's.
    pub fn of(suspended: &Suspended, member: Option<&RunOutput>) -> Vec<Requirement> {
        let mut requirements = Vec::new();
        for (call, outcome) in suspended.calls.iter().zip(&suspended.outcomes) {
            match outcome {
                CallOutcome::Done { .. } => {}
                CallOutcome::Waiting { .. } => {
                    let Some(execution) = suspended
                        .tools
                        .iter()
                        .rev()
                        .find(|tool| tool.tool_call_id == call.id)
                    else {
                        continue;
                    };
                    requirements.push(Requirement {
                        id: call.id.clone(),
                        created_at: crate::server::rfc3339_of_unix(execution.created_at),
                        user_input_schema: execution.user_input_schema.clone(),
                        tool_execution: execution.clone(),
                        confirmation: None,
                        confirmation_note: None,
                        external_execution_result: None,
                        member_agent_id: member.map(|m| m.component.id.to_string()),
                        member_agent_name: member.map(|m| m.component.name.to_string()),
                        member_run_id: member.map(|m| m.run_id.clone()),
                    });
                }
                CallOutcome::Member { run, suspended, .. } => {
                    requirements.extend(Requirement::of(suspended, Some(run)));
                }
            }
        }
        requirements
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
    fn agnos_tool_executions_and_requirements_become_decisions() {
        let items = [
            json!({"tool_call_id": "a", "requires_confirmation": true, "confirmed": true}),
            json!({"tool_execution": {"tool_call_id": "b"}, "confirmation": false, "confirmation_note": "too much"}),
            json!({"tool_call_id": "c", "external_execution_required": true, "result": "done"}),
            json!({"tool_call_id": "d", "user_input_schema": [{"name": "to", "value": "ada@example.com"}, {"name": "cc", "value": null}]}),
            json!({"tool_call_id": "e", "requires_confirmation": true}),
        ];
        let decisions = Decisions::from_agno(&items);
        assert_eq!(
            decisions.get("a"),
            Some(&Decision::Confirm {
                confirmed: true,
                note: None
            })
        );
        assert_eq!(
            decisions.get("b"),
            Some(&Decision::Confirm {
                confirmed: false,
                note: Some("too much".into())
            })
        );
        assert_eq!(decisions.get("c"), Some(&Decision::External("done".into())));
        let Some(Decision::UserInput(values)) = decisions.get("d") else {
            panic!("user input for d");
        };
        assert_eq!(values.len(), 1);
        assert_eq!(values["to"], "ada@example.com");
        assert_eq!(decisions.get("e"), None, "undecided stays undecided");
    }

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
