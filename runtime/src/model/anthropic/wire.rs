//! The Messages API's shapes: the request agentos sends, the answer and the stream events it
//! reads back, and how each maps onto agentos' messages, tool calls and usage.

use std::collections::{BTreeMap, VecDeque};

use eventsource_stream::Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::http::{ProviderError, StreamReader};
use crate::model::{
    Message, ModelError, ModelRequest, ModelResponse, ModelStreamItem, Role, ToolCall, Usage,
};

#[derive(Serialize)]
pub(super) struct MessagesRequest<'a> {
    pub(super) model: &'a str,
    pub(super) max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) system: Option<String>,
    pub(super) messages: Vec<Turn>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
}

/// One turn: the API wants user and assistant turns alternating, so consecutive messages of
/// one side (tool results, then the user's next words) share a turn.
#[derive(Serialize, Debug, PartialEq)]
pub(super) struct Turn {
    role: &'static str,
    content: Vec<Block>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: String,
    },
    /// Thinking and the server's own tools: kept out of agentos' answer.
    #[serde(other)]
    Other,
}

#[derive(Serialize)]
pub(super) struct Tool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a Value,
}

impl<'a> MessagesRequest<'a> {
    pub(super) fn new(model: &'a str, max_tokens: u32, request: &'a ModelRequest) -> Self {
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|message| message.role == Role::System)
            .map(|message| message.content.as_str())
            .collect();
        let tools = request
            .tools
            .iter()
            .map(|tool| Tool {
                name: &tool.name,
                description: &tool.description,
                input_schema: &tool.parameters,
            })
            .collect();
        MessagesRequest {
            model,
            max_tokens,
            system: (!system.is_empty()).then(|| system.join("\n\n")),
            messages: turns(&request.messages),
            tools,
            stream: false,
        }
    }
}

/// The conversation as alternating turns; the system prompt travels apart.
pub(super) fn turns(messages: &[Message]) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for message in messages {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => ("user", vec![text_block(&message.content)]),
            Role::Tool => (
                "user",
                vec![Block::ToolResult {
                    tool_use_id: message.tool_call_id.clone().unwrap_or_default(),
                    content: message.content.clone(),
                }],
            ),
            Role::Assistant => {
                let mut blocks = Vec::with_capacity(message.tool_calls.len() + 1);
                if !message.content.is_empty() {
                    blocks.push(text_block(&message.content));
                }
                blocks.extend(message.tool_calls.iter().map(|call| Block::ToolUse {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    input: tool_input(&call.arguments),
                }));
                ("assistant", blocks)
            }
        };
        match turns.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => turns.push(Turn {
                role,
                content: blocks,
            }),
        }
    }
    turns
}

fn text_block(text: &str) -> Block {
    Block::Text {
        // The API refuses empty text blocks.
        text: if text.is_empty() { " " } else { text }.to_string(),
    }
}

/// A call's arguments as the object the API wants back. Arguments the model wrote badly were
/// already answered with an error result; an empty object keeps the turn valid.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => Value::Object(Default::default()),
    }
}

#[derive(Deserialize)]
pub(super) struct MessagesResponse {
    id: String,
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize, Default, Clone, Copy)]
pub(super) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// agentos counts every prompt token as input, as OpenAI does; Anthropic reports the
    /// cached and cache-writing ones apart from `input_tokens`.
    fn usage(self) -> Usage {
        let cache_read = self.cache_read_input_tokens.unwrap_or(0);
        let cache_write = self.cache_creation_input_tokens.unwrap_or(0);
        let input = self.input_tokens + cache_read + cache_write;
        Usage {
            input_tokens: input,
            output_tokens: self.output_tokens,
            total_tokens: input + self.output_tokens,
            reasoning_tokens: 0,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
        }
    }

    /// Folds in a later report of the same message: the stream's counts are cumulative.
    fn update(&mut self, later: WireUsage) {
        if later.input_tokens > 0 {
            self.input_tokens = later.input_tokens;
        }
        self.output_tokens = later.output_tokens.max(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }
}

impl MessagesResponse {
    pub(super) fn into_response(self) -> Result<ModelResponse, ModelError> {
        note_stop(self.stop_reason.as_deref());
        let mut answer = ModelResponse {
            response_id: Some(self.id),
            usage: self.usage.usage(),
            ..ModelResponse::default()
        };
        for block in self.content {
            match block {
                Block::Text { text } => answer.content.push_str(&text),
                Block::ToolUse { id, name, input } => answer.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                }),
                Block::ToolResult { .. } | Block::Other => {}
            }
        }
        Ok(answer)
    }
}

/// Every stop reason ends the turn with what the model wrote; a refusal or a truncated
/// answer is worth a line in the log, since the text may stop mid-sentence.
fn note_stop(stop_reason: Option<&str>) {
    if let Some(reason @ ("max_tokens" | "refusal" | "model_context_window_exceeded")) = stop_reason
    {
        tracing::warn!(
            provider = "Anthropic",
            stop_reason = reason,
            "the answer stopped early"
        );
    }
}

/// `{"type": "error", "error": {"type": "overloaded_error", "message": "..."}}`
pub(super) fn read_error(body: &str) -> Option<ProviderError> {
    let body: Value = serde_json::from_str(body).ok()?;
    let error = body.get("error")?;
    Some(ProviderError {
        kind: error.get("type")?.as_str()?.to_string(),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// The stream's events, in the order the API sends them.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamEvent {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop {
        #[allow(dead_code)]
        index: usize,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: Value,
    },
}

#[derive(Deserialize)]
struct StartedMessage {
    id: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    /// Thinking and its signature: not part of the answer.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

/// Gathers a streamed message: text deltas go out as they come; tool calls are assembled
/// from their blocks' JSON pieces; usage is the last count the stream gave.
#[derive(Default)]
pub(super) struct MessageStream {
    id: Option<String>,
    content: String,
    calls: BTreeMap<usize, ToolCall>,
    usage: WireUsage,
    stop_reason: Option<String>,
}

impl StreamReader for MessageStream {
    fn read(
        &mut self,
        event: &Event,
        items: &mut VecDeque<ModelStreamItem>,
    ) -> Result<bool, ModelError> {
        let parsed: StreamEvent = serde_json::from_str(&event.data).map_err(|error| {
            ModelError::InvalidResponse(format!("unreadable `{}` event: {error}", event.event))
        })?;
        match parsed {
            StreamEvent::MessageStart { message } => {
                items.push_back(ModelStreamItem::ResponseId(message.id.clone()));
                self.id = Some(message.id);
                self.usage = message.usage;
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::ToolUse { id, name, .. } => {
                    // The input comes in `input_json_delta` pieces; the start holds `{}`.
                    self.calls.insert(
                        index,
                        ToolCall {
                            id,
                            name,
                            arguments: String::new(),
                        },
                    );
                }
                Block::Text { text } if !text.is_empty() => self.text(text, items),
                _ => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                Delta::Text { text } => self.text(text, items),
                Delta::InputJson { partial_json } => {
                    if let Some(call) = self.calls.get_mut(&index) {
                        call.arguments.push_str(&partial_json);
                    }
                }
                Delta::Other => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                self.stop_reason = delta.stop_reason.or(self.stop_reason.take());
                if let Some(usage) = usage {
                    self.usage.update(usage);
                }
            }
            StreamEvent::MessageStop => return Ok(true),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping => {}
            StreamEvent::Error { error } => {
                let kind = error
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string();
                let message = error.get("message").and_then(Value::as_str);
                tracing::warn!(provider = "Anthropic", kind, message, "the stream failed");
                let status = if kind == "overloaded_error" { 529 } else { 500 };
                return Err(ModelError::Status {
                    status,
                    message: kind,
                });
            }
        }
        Ok(false)
    }

    fn finish(self, complete: bool) -> Result<ModelResponse, ModelError> {
        if !complete {
            return Err(ModelError::Connection(
                "the stream ended before the message did".into(),
            ));
        }
        note_stop(self.stop_reason.as_deref());
        let tool_calls = self
            .calls
            .into_values()
            .map(|mut call| {
                // A call without arguments streams no JSON at all.
                if call.arguments.is_empty() {
                    call.arguments = "{}".into();
                }
                call
            })
            .collect();
        Ok(ModelResponse {
            content: self.content,
            tool_calls,
            usage: self.usage.usage(),
            response_id: self.id,
        })
    }
}

impl MessageStream {
    fn text(&mut self, text: String, items: &mut VecDeque<ModelStreamItem>) {
        if text.is_empty() {
            return;
        }
        self.content.push_str(&text);
        items.push_back(ModelStreamItem::Content(text));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tool_results_and_the_next_words_share_one_user_turn() {
        let call = ToolCall {
            id: "toolu_1".into(),
            name: "lookup".into(),
            arguments: r#"{"q":"x"}"#.into(),
        };
        let messages = vec![
            Message::system("be brief"),
            Message::user("find x"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool_result("toolu_1", "found"),
            Message::user("thanks"),
        ];
        let turns = serde_json::to_value(turns(&messages)).unwrap();
        assert_eq!(
            turns,
            json!([
                {"role": "user", "content": [{"type": "text", "text": "find x"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"},
                    {"type": "text", "text": "thanks"}]},
            ])
        );
    }

    #[test]
    fn badly_written_arguments_go_back_as_an_empty_object() {
        assert_eq!(tool_input("{not json"), json!({}));
        assert_eq!(tool_input("[1]"), json!({}));
        assert_eq!(tool_input(r#"{"a":1}"#), json!({"a": 1}));
    }

    #[test]
    fn usage_counts_cached_prompt_tokens_as_input() {
        let usage = WireUsage {
            input_tokens: 10,
            output_tokens: 4,
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
        }
        .usage();
        assert_eq!(usage.input_tokens, 1110);
        assert_eq!(usage.total_tokens, 1114);
        assert_eq!(usage.cache_read_tokens, 1000);
        assert_eq!(usage.cache_write_tokens, 100);
    }

    #[test]
    fn error_bodies_give_their_kind() {
        let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let error = read_error(body).unwrap();
        assert_eq!(error.kind, "overloaded_error");
        assert_eq!(error.message, "Overloaded");
        assert!(read_error("<html>bad gateway</html>").is_none());
    }
}
