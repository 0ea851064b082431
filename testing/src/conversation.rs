//! What the mock model answers, the same whichever API carried the request: the conversation
//! read from the request, and a deterministic reply (a tool call while a tool is unused, else
//! text naming the model and the last user message).

use serde_json::{Value, json};

/// The conversation of a request, the same whichever API carried it.
pub(super) struct Conversation {
    pub(super) model: String,
    pub(super) entries: Vec<Entry>,
    pub(super) tools: Vec<ToolSpec>,
}

pub(super) enum Entry {
    User(String),
    Other(String),
    ToolResult(String),
}

pub(super) struct ToolSpec {
    pub(super) name: String,
    pub(super) description: String,
    pub(super) parameters: Value,
}

/// What the fake model says.
pub(super) enum Reply {
    Text(String),
    Call { name: String, arguments: String },
}

impl Conversation {
    pub(super) fn from_responses(request: &Value) -> Self {
        let mut entries = Vec::new();
        if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
            entries.push(Entry::Other(instructions.to_string()));
        }
        match request.get("input") {
            Some(Value::String(text)) => entries.push(Entry::User(text.clone())),
            Some(Value::Array(items)) => {
                for item in items {
                    let kind = item
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("message");
                    match kind {
                        "function_call_output" => entries.push(Entry::ToolResult(text_of(
                            item.get("output").unwrap_or(&Value::Null),
                        ))),
                        "function_call" => entries.push(Entry::Other(
                            item.get("arguments")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        )),
                        _ => entries.push(message_entry(item)),
                    }
                }
            }
            _ => {}
        }
        let tools = tool_list(request, |tool| tool);
        Conversation {
            model: model_of(request),
            entries,
            tools,
        }
    }

    pub(super) fn from_chat(request: &Value) -> Self {
        let entries = request
            .get("messages")
            .and_then(Value::as_array)
            .map(|messages| {
                messages
                    .iter()
                    .map(|message| {
                        if message.get("role").and_then(Value::as_str) == Some("tool") {
                            Entry::ToolResult(text_of(
                                message.get("content").unwrap_or(&Value::Null),
                            ))
                        } else {
                            message_entry(message)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tools = tool_list(request, |tool| tool.get("function").unwrap_or(tool));
        Conversation {
            model: model_of(request),
            entries,
            tools,
        }
    }

    /// Anthropic's Messages API: a system prompt apart, content as a string or blocks, tool
    /// results as blocks of a user turn.
    pub(super) fn from_anthropic(request: &Value) -> Self {
        let mut entries = Vec::new();
        if let Some(system) = request.get("system") {
            entries.push(Entry::Other(text_of(system)));
        }
        for message in request
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let user = message.get("role").and_then(Value::as_str) == Some("user");
            match message.get("content") {
                Some(Value::Array(blocks)) => {
                    for block in blocks {
                        entries.push(match block.get("type").and_then(Value::as_str) {
                            Some("tool_result") => Entry::ToolResult(text_of(
                                block.get("content").unwrap_or(&Value::Null),
                            )),
                            Some("tool_use") => Entry::Other(
                                block.get("input").map(Value::to_string).unwrap_or_default(),
                            ),
                            _ => {
                                let text = text_of(&Value::Array(vec![block.clone()]));
                                if user {
                                    Entry::User(text)
                                } else {
                                    Entry::Other(text)
                                }
                            }
                        });
                    }
                }
                Some(content) if user => entries.push(Entry::User(text_of(content))),
                Some(content) => entries.push(Entry::Other(text_of(content))),
                None => {}
            }
        }
        Conversation {
            model: model_of(request),
            entries,
            tools: tool_specs(request.get("tools"), "input_schema"),
        }
    }

    /// Gemini's `generateContent`: `user` and `model` turns of parts, the model named in the
    /// path, the tools as function declarations.
    pub(super) fn from_gemini(request: &Value, model: &str) -> Self {
        let mut entries = Vec::new();
        if let Some(system) = request.pointer("/systemInstruction/parts") {
            entries.push(Entry::Other(text_of(system)));
        }
        for content in request
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let user = content.get("role").and_then(Value::as_str) != Some("model");
            for part in content
                .get("parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                entries.push(
                    if let Some(response) = part.pointer("/functionResponse/response") {
                        // agentos wraps a text result as {"result": text}.
                        Entry::ToolResult(match response.get("result") {
                            Some(Value::String(text)) => text.clone(),
                            _ => response.to_string(),
                        })
                    } else if let Some(call) = part.get("functionCall") {
                        Entry::Other(call.get("args").map(Value::to_string).unwrap_or_default())
                    } else {
                        let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                        if user {
                            Entry::User(text.to_string())
                        } else {
                            Entry::Other(text.to_string())
                        }
                    },
                );
            }
        }
        let declarations: Vec<Value> = request
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|tool| tool.get("functionDeclarations")?.as_array())
            .flatten()
            .map(|declaration| {
                // Either schema field; agentos sends the JSON Schema one.
                let mut declaration = declaration.clone();
                if let Some(schema) = declaration.get("parametersJsonSchema").cloned() {
                    declaration["parameters"] = schema;
                }
                declaration
            })
            .collect();
        Conversation {
            model: model.to_string(),
            entries,
            tools: tool_specs(Some(&Value::Array(declarations)), "parameters"),
        }
    }

    pub(super) fn last_user(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|entry| match entry {
            Entry::User(text) => Some(text.as_str()),
            _ => None,
        })
    }

    /// The reply of the fake `server` (`fake-openai`, `fake-anthropic`, `fake-gemini`).
    pub(super) fn reply(&self, server: &str) -> Reply {
        let user = self.last_user().unwrap_or_default();
        if let (Some(tool), Some(Entry::User(_))) = (self.tools.first(), self.entries.last()) {
            return Reply::Call {
                name: tool.name.clone(),
                arguments: tool_arguments(tool, user).to_string(),
            };
        }
        let start = self
            .entries
            .iter()
            .rposition(|entry| matches!(entry, Entry::User(_)))
            .unwrap_or(0);
        let results: Vec<&str> = self.entries[start..]
            .iter()
            .filter_map(|entry| match entry {
                Entry::ToolResult(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        let mut text = format!("[{server} model={}] reply to: {user}", self.model);
        if !results.is_empty() {
            text.push_str(" | tool results: ");
            text.push_str(&results.join("; "));
        }
        Reply::Text(text)
    }

    /// Whitespace-separated words stand in for tokens: deterministic and good enough to see
    /// usage move with the conversation.
    pub(super) fn usage(&self, reply: &Reply) -> (u64, u64) {
        let words = |text: &str| text.split_whitespace().count() as u64;
        let input = self
            .entries
            .iter()
            .map(|entry| match entry {
                Entry::User(text) | Entry::Other(text) | Entry::ToolResult(text) => words(text),
            })
            .sum::<u64>()
            .max(1);
        let output = match reply {
            Reply::Text(text) => words(text),
            Reply::Call { arguments, .. } => words(arguments),
        }
        .max(1);
        (input, output)
    }
}

pub(super) fn model_of(request: &Value) -> String {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}

pub(super) fn message_entry(message: &Value) -> Entry {
    let text = text_of(message.get("content").unwrap_or(&Value::Null));
    match message.get("role").and_then(Value::as_str) {
        Some("user") => Entry::User(text),
        _ => Entry::Other(text),
    }
}

/// The text of a content value: a string, or the `text` of each part of a list.
pub(super) fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

pub(super) fn tool_list(request: &Value, function: impl Fn(&Value) -> &Value) -> Vec<ToolSpec> {
    let tools: Vec<Value> = request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|tool| function(tool).clone())
        .collect();
    tool_specs(Some(&Value::Array(tools)), "parameters")
}

/// The tools of a list whose entries hold `name`, `description` and a schema under
/// `schema_key`.
fn tool_specs(tools: Option<&Value>, schema_key: &str) -> Vec<ToolSpec> {
    tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            Some(ToolSpec {
                name: tool.get("name")?.as_str()?.to_string(),
                description: tool
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                parameters: tool.get(schema_key).cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

pub(super) fn tool_arguments(tool: &ToolSpec, user: &str) -> Value {
    match tool.name.as_str() {
        "delegate_task_to_member" => json!({"member_id": pick_member(tool, user), "task": user}),
        "delegate_task_to_members" => json!({"task": user}),
        _ => agentos_runtime::model::test_model::schema_example(&tool.parameters, user),
    }
}

/// The member named in the message, else the first one the tool lists.
pub(super) fn pick_member(tool: &ToolSpec, user: &str) -> String {
    let member_schema = tool.parameters.pointer("/properties/member_id");
    let mut candidates: Vec<String> = member_schema
        .and_then(|schema| schema.get("enum"))
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if candidates.is_empty() {
        // Without an enum the ids are only in prose: take slug-like words such as
        // `billing-agent` from the descriptions.
        let prose = format!(
            "{} {}",
            tool.description,
            member_schema
                .and_then(|schema| schema.get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        candidates = prose
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|word| word.contains('-') && word.chars().any(|c| c.is_ascii_lowercase()))
            .map(str::to_string)
            .collect();
    }
    let message = user.to_lowercase();
    let named = candidates.iter().find(|id| {
        let id = id.to_lowercase();
        message.contains(&id)
            || id
                .split(['-', '_'])
                .next()
                .is_some_and(|head| head.len() > 2 && message.contains(head))
    });
    named
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| "member".to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, parameters: Value) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters,
        }
    }

    #[test]
    fn delegation_picks_the_member_named_in_the_message() {
        let delegate = tool(
            "delegate_task_to_member",
            json!({"properties": {"member_id": {"type": "string",
                "enum": ["billing-agent", "tech-support-agent"]}}}),
        );
        let args = tool_arguments(&delegate, "my router is broken, tech support please");
        assert_eq!(args["member_id"], "tech-support-agent");
        let args = tool_arguments(&delegate, "hello");
        assert_eq!(args["member_id"], "billing-agent");
        assert_eq!(args["task"], "hello");
    }

    #[test]
    fn schema_arguments_fill_required_properties_only() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric"],
        });
        assert_eq!(
            agentos_runtime::model::test_model::schema_example(&schema, "task"),
            json!({"city": "example", "days": 1, "metric": true})
        );
    }
}
