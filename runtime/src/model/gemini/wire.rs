//! The Gemini API's `generateContent` shapes: the request agentos sends, the answer (whole or
//! as a stream of partial answers) it reads back, and how each maps onto agentos' messages,
//! tool calls and usage.

use std::collections::{HashMap, VecDeque};

use eventsource_stream::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::http::{ProviderError, StreamReader};
use crate::model::{
    Message, ModelError, ModelRequest, ModelResponse, ModelStreamItem, Role, ToolCall, Usage,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateRequest<'a> {
    contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Content>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tools<'a>>,
}

/// One turn: `user` or `model`. Consecutive messages of one side share a turn, so the
/// results of a turn's parallel calls answer it together.
#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
pub(super) struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// A thought summary, not part of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function_call: Option<FunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function_response: Option<FunctionResponse>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) struct FunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Value,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(super) struct FunctionResponse {
    name: String,
    response: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tools<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    description: &'a str,
    /// Full JSON Schema, as schemars writes it; the older `parameters` field takes only an
    /// OpenAPI subset.
    parameters_json_schema: &'a Value,
}

impl<'a> GenerateRequest<'a> {
    pub(super) fn new(request: &'a ModelRequest) -> Self {
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|message| message.role == Role::System)
            .map(|message| message.content.as_str())
            .collect();
        let declarations: Vec<FunctionDeclaration<'a>> = request
            .tools
            .iter()
            .map(|tool| FunctionDeclaration {
                name: &tool.name,
                description: &tool.description,
                parameters_json_schema: &tool.parameters,
            })
            .collect();
        GenerateRequest {
            contents: contents(&request.messages),
            system_instruction: (!system.is_empty()).then(|| Content {
                role: None,
                parts: vec![text_part(system.join("\n\n"))],
            }),
            tools: if declarations.is_empty() {
                Vec::new()
            } else {
                vec![Tools {
                    function_declarations: declarations,
                }]
            },
        }
    }
}

fn text_part(text: String) -> Part {
    Part {
        text: Some(text),
        ..Part::default()
    }
}

/// The conversation as `user` and `model` turns. A tool result names its function, which
/// agentos' messages know only through the call it answers.
pub(super) fn contents(messages: &[Message]) -> Vec<Content> {
    let names: HashMap<&str, &str> = messages
        .iter()
        .flat_map(|message| &message.tool_calls)
        .map(|call| (call.id.as_str(), call.name.as_str()))
        .collect();
    let mut contents: Vec<Content> = Vec::new();
    for message in messages {
        let (role, parts) = match message.role {
            Role::System => continue,
            Role::User => ("user", vec![text_part(message.content.clone())]),
            Role::Tool => {
                let call_id = message.tool_call_id.as_deref().unwrap_or_default();
                let part = Part {
                    function_response: Some(FunctionResponse {
                        name: names.get(call_id).copied().unwrap_or(call_id).to_string(),
                        response: tool_response(&message.content),
                    }),
                    ..Part::default()
                };
                ("user", vec![part])
            }
            Role::Assistant => {
                let mut parts = Vec::with_capacity(message.tool_calls.len() + 1);
                if !message.content.is_empty() {
                    parts.push(text_part(message.content.clone()));
                }
                parts.extend(message.tool_calls.iter().map(|call| {
                    Part {
                        function_call: Some(FunctionCall {
                            id: None,
                            name: call.name.clone(),
                            args: serde_json::from_str::<Value>(&call.arguments)
                                .ok()
                                .filter(Value::is_object)
                                .unwrap_or_else(|| json!({})),
                        }),
                        ..Part::default()
                    }
                }));
                ("model", parts)
            }
        };
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(role.to_string()),
                parts,
            }),
        }
    }
    contents
}

/// A tool's result as the object the API wants: a JSON object stays itself, anything else
/// goes under `result`.
fn tool_response(content: &str) -> Value {
    match serde_json::from_str::<Value>(content) {
        Ok(value @ Value::Object(_)) => value,
        _ => json!({"result": content}),
    }
}

/// A whole answer, or one piece of a streamed one.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    response_id: Option<String>,
    #[serde(default)]
    prompt_feedback: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Content,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    total_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
}

impl UsageMetadata {
    /// Thinking is output the caller pays for, so it counts as output and as reasoning.
    fn usage(self) -> Usage {
        let output = self.candidates_token_count + self.thoughts_token_count;
        Usage {
            input_tokens: self.prompt_token_count,
            output_tokens: output,
            total_tokens: self.total_token_count.max(self.prompt_token_count + output),
            reasoning_tokens: self.thoughts_token_count,
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
        }
    }
}

/// What an answer adds to the one being gathered: its text pieces and its calls.
#[derive(Default)]
pub(super) struct Gathered {
    id: Option<String>,
    content: String,
    calls: Vec<ToolCall>,
    usage: Option<UsageMetadata>,
    /// Whether any candidate came back: a blocked prompt has none.
    answered: bool,
    blocked: Option<String>,
}

impl Gathered {
    /// Adds `piece`, returning the text it carried (for a stream to pass on).
    fn add(&mut self, piece: GenerateResponse) -> Vec<String> {
        if self.id.is_none() {
            self.id = piece.response_id;
        }
        if piece.usage_metadata.is_some() {
            self.usage = piece.usage_metadata;
        }
        if let Some(reason) = piece
            .prompt_feedback
            .as_ref()
            .and_then(|feedback| feedback.get("blockReason"))
            .and_then(Value::as_str)
        {
            self.blocked = Some(reason.to_string());
        }
        let mut texts = Vec::new();
        let Some(candidate) = piece.candidates.into_iter().next() else {
            return texts;
        };
        self.answered = true;
        for part in candidate.content.parts {
            if let Some(call) = part.function_call {
                // Gemini gives calls ids only in some modes; agentos needs one per call.
                let id = call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("call_{}", uuid::Uuid::new_v4().simple()));
                self.calls.push(ToolCall {
                    id,
                    name: call.name,
                    arguments: call.args.to_string(),
                });
            } else if let Some(text) = part.text.filter(|text| !text.is_empty())
                && part.thought != Some(true)
            {
                self.content.push_str(&text);
                texts.push(text);
            }
        }
        if let Some(reason) = candidate.finish_reason.as_deref() {
            note_finish(reason);
        }
        texts
    }

    pub(super) fn finish(self) -> Result<ModelResponse, ModelError> {
        if !self.answered {
            if let Some(reason) = &self.blocked {
                tracing::warn!(provider = "Google", block_reason = reason, "prompt blocked");
                return Err(ModelError::InvalidResponse(format!(
                    "the provider blocked the prompt ({reason})"
                )));
            }
            return Err(ModelError::InvalidResponse(
                "the answer has no candidates".into(),
            ));
        }
        Ok(ModelResponse {
            content: self.content,
            tool_calls: self.calls,
            usage: self.usage.map(UsageMetadata::usage).unwrap_or_default(),
            response_id: self.id,
        })
    }
}

pub(super) fn whole_answer(response: GenerateResponse) -> Result<ModelResponse, ModelError> {
    let mut gathered = Gathered::default();
    gathered.add(response);
    gathered.finish()
}

/// Every finish reason ends the turn with what the model wrote; the ones that cut it short
/// are worth a line in the log.
fn note_finish(reason: &str) {
    if !matches!(reason, "STOP" | "FINISH_REASON_UNSPECIFIED") {
        tracing::warn!(
            provider = "Google",
            finish_reason = reason,
            "the answer stopped early"
        );
    }
}

/// `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED"}}`; some proxies
/// answer with a list of such objects.
pub(super) fn read_error(body: &str) -> Option<ProviderError> {
    let body: Value = serde_json::from_str(body).ok()?;
    let body = match &body {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let error = body.get("error")?;
    Some(ProviderError {
        kind: error.get("status")?.as_str()?.to_string(),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A `streamGenerateContent?alt=sse` stream: each event is a partial answer; the stream ends
/// when the server closes it.
#[derive(Default)]
pub(super) struct ContentStream {
    gathered: Gathered,
    announced: bool,
}

impl StreamReader for ContentStream {
    fn read(
        &mut self,
        event: &Event,
        items: &mut VecDeque<ModelStreamItem>,
    ) -> Result<bool, ModelError> {
        if let Some(error) = read_error(&event.data) {
            tracing::warn!(
                provider = "Google",
                kind = error.kind,
                message = error.message,
                "the stream failed"
            );
            return Err(ModelError::Status {
                status: 500,
                message: error.kind,
            });
        }
        let piece: GenerateResponse = serde_json::from_str(&event.data)
            .map_err(|error| ModelError::InvalidResponse(format!("unreadable chunk: {error}")))?;
        let texts = self.gathered.add(piece);
        if !self.announced
            && let Some(id) = &self.gathered.id
        {
            self.announced = true;
            items.push_back(ModelStreamItem::ResponseId(id.clone()));
        }
        items.extend(texts.into_iter().map(ModelStreamItem::Content));
        Ok(false)
    }

    fn finish(self, _complete: bool) -> Result<ModelResponse, ModelError> {
        self.gathered.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_name_their_function_and_share_one_turn() {
        let calls = vec![
            ToolCall {
                id: "c1".into(),
                name: "weather".into(),
                arguments: r#"{"city":"Oslo"}"#.into(),
            },
            ToolCall {
                id: "c2".into(),
                name: "time".into(),
                arguments: "{}".into(),
            },
        ];
        let messages = vec![
            Message::system("be brief"),
            Message::user("weather and time?"),
            Message::assistant_tool_calls("", calls),
            Message::tool_result("c1", r#"{"temp":3}"#),
            Message::tool_result("c2", "noon"),
        ];
        let request = ModelRequest::new(messages, vec![]);
        let body = serde_json::to_value(GenerateRequest::new(&request)).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "weather and time?"}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
                        {"functionCall": {"name": "time", "args": {}}}]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "weather", "response": {"temp": 3}}},
                        {"functionResponse": {"name": "time", "response": {"result": "noon"}}}]},
                ],
                "systemInstruction": {"parts": [{"text": "be brief"}]},
            })
        );
    }

    #[test]
    fn thoughts_stay_out_of_the_answer_and_count_as_reasoning() {
        let response: GenerateResponse = serde_json::from_value(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": true},
                {"text": "Hello"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 2,
                "thoughtsTokenCount": 5, "totalTokenCount": 14, "cachedContentTokenCount": 3},
            "responseId": "r1",
        }))
        .unwrap();
        let answer = whole_answer(response).unwrap();
        assert_eq!(answer.content, "Hello");
        assert_eq!(answer.usage.output_tokens, 7);
        assert_eq!(answer.usage.reasoning_tokens, 5);
        assert_eq!(answer.usage.total_tokens, 14);
        assert_eq!(answer.usage.cache_read_tokens, 3);
        assert_eq!(answer.response_id.as_deref(), Some("r1"));
    }

    #[test]
    fn a_blocked_prompt_is_an_error_not_an_empty_answer() {
        let response: GenerateResponse =
            serde_json::from_value(json!({"promptFeedback": {"blockReason": "SAFETY"}})).unwrap();
        let error = whole_answer(response).unwrap_err();
        assert!(error.to_string().contains("SAFETY"), "{error}");
    }

    #[test]
    fn error_bodies_give_their_status() {
        let body =
            r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(read_error(body).unwrap().kind, "RESOURCE_EXHAUSTED");
        let listed = format!("[{body}]");
        assert_eq!(read_error(&listed).unwrap().kind, "RESOURCE_EXHAUSTED");
        assert!(read_error("upstream connect error").is_none());
    }
}
