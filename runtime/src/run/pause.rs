//! Human in the loop: the answers a person sends back to a paused run, read from agno's
//! shapes. What the run waits for and keeps to go on is part of its output (`output.rs`).
//!
//! A run pauses when its model calls a tool that waits for a person ([`PauseFor`]). The turn
//! stops before that tool runs: the other calls of the turn run, and the conversation, the
//! calls and their outcomes so far are kept as a `Suspended` turn, stored with the run. A
//! team's run pauses when a member's does: the delegation waits on the member's own suspended
//! turn. Continuing resolves what the person answered and goes on from that turn.

use std::collections::HashMap;

use serde_json::{Map, Value};

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

    /// Reads agno's continue forms: a list of tool executions (`tools`, the agent route), of
    /// requirements (`requirements`, the team route) or of step requirements
    /// (`step_requirements`, the workflow route, each holding its agent's or team's
    /// requirements), keeping the answers they carry.
    pub fn from_agno(items: &[Value]) -> Decisions {
        let mut decisions = HashMap::new();
        Decisions::read_into(items, &mut decisions);
        Decisions(decisions)
    }

    fn read_into(items: &[Value], decisions: &mut HashMap<String, Decision>) {
        for item in items {
            if let Some(inner) = item.get("executor_requirements").and_then(Value::as_array) {
                Decisions::read_into(inner, decisions);
                continue;
            }
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
            json!({"step_id": "s", "requires_executor_input": true, "executor_requirements": [
                {"tool_execution": {"tool_call_id": "f"}, "confirmation": true}
            ]}),
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
        assert_eq!(
            decisions.get("f"),
            Some(&Decision::Confirm {
                confirmed: true,
                note: None
            }),
            "a workflow step's requirements are read inside it"
        );
    }
}
