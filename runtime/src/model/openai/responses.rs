//! The OpenAI Responses API.

use std::collections::VecDeque;
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::responses::{
    CreateResponse, EasyInputContent, EasyInputMessage, FunctionCallOutput,
    FunctionCallOutputItemParam, FunctionTool, FunctionToolCall, InputItem, InputParam, Item,
    MessageType, OutputItem, OutputMessageContent, Response, ResponseStream, ResponseStreamEvent,
    Role as InputRole, Tool,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::Connection;
use crate::model::{
    Message, Model, ModelError, ModelRequest, ModelResponse, ModelStream, ModelStreamItem, Role,
    ToolCall, Usage,
};

/// A model served by OpenAI's Responses API (`POST /responses`).
///
/// The key and base URL default to `OPENAI_API_KEY` and `OPENAI_BASE_URL`. Creating a handle
/// is cheap: every handle shares the process's pooled HTTP client.
///
/// ```
/// use std::time::Duration;
/// use agentos_runtime::model::{Model, OpenAIResponses};
///
/// let model = OpenAIResponses::new("gpt-5.4").with_timeout(Duration::from_secs(30));
/// assert_eq!(model.provider_label(), "OpenAI Responses");
/// ```
#[derive(Clone, Debug)]
pub struct OpenAIResponses {
    id: String,
    connection: Connection,
}

impl OpenAIResponses {
    /// The model `id` (such as `gpt-5.4`), with key and base URL from the environment.
    pub fn new(id: impl Into<String>) -> Self {
        OpenAIResponses {
            id: id.into(),
            connection: Connection::from_env(),
        }
    }

    /// Uses this API key instead of `OPENAI_API_KEY`.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.connection = self.connection.with_api_key(key);
        self
    }

    /// Sends requests to this base URL (ending in `/v1`) instead of `OPENAI_BASE_URL`.
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.connection = self.connection.with_base_url(url);
        self
    }

    /// Bounds each call (retries included; for a stream, the wait for each event).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.connection.timeout = timeout;
        self
    }

    /// How many times a 429, a 5xx or a failed connect is retried, with backoff (default 3).
    pub fn with_max_retries(mut self, retries: usize) -> Self {
        self.connection = self.connection.with_max_retries(retries);
        self
    }

    fn build_request(&self, request: ModelRequest, stream: bool) -> CreateResponse {
        let tools: Vec<Tool> = request
            .tools
            .iter()
            .map(|tool| {
                Tool::Function(FunctionTool {
                    name: tool.name.clone(),
                    description: Some(tool.description.clone()),
                    parameters: Some(tool.parameters.clone()),
                    // Schemas from user types are not always strict-mode compatible.
                    strict: Some(false),
                    ..Default::default()
                })
            })
            .collect();
        CreateResponse {
            model: Some(self.id.clone()),
            input: InputParam::Items(input_items(&request.messages)),
            tools: (!tools.is_empty()).then_some(tools),
            stream: stream.then_some(true),
            // agentos keeps the conversation itself; nothing needs to live at the provider.
            store: Some(false),
            ..Default::default()
        }
    }
}

/// The conversation as Responses input items: messages as messages, tool calls as
/// `function_call` items and their results as `function_call_output` items.
fn input_items(messages: &[Message]) -> Vec<InputItem> {
    let mut items = Vec::with_capacity(messages.len());
    for message in messages {
        match message.role {
            Role::System | Role::User => {
                let role = if message.role == Role::System {
                    InputRole::System
                } else {
                    InputRole::User
                };
                items.push(easy_message(role, message.content.clone()));
            }
            Role::Assistant => {
                if !message.content.is_empty() {
                    items.push(easy_message(InputRole::Assistant, message.content.clone()));
                }
                for call in &message.tool_calls {
                    items.push(InputItem::Item(Item::FunctionCall(FunctionToolCall {
                        arguments: call.arguments.clone(),
                        call_id: call.id.clone(),
                        name: call.name.clone(),
                        ..Default::default()
                    })));
                }
            }
            Role::Tool => {
                items.push(InputItem::Item(Item::FunctionCallOutput(
                    FunctionCallOutputItemParam {
                        call_id: message.tool_call_id.clone(),
                        output: FunctionCallOutput::Text(message.content.clone()),
                        id: None,
                        status: None,
                        name: None,
                        namespace: None,
                        caller: None,
                    },
                )));
            }
        }
    }
    items
}

fn easy_message(role: InputRole, text: String) -> InputItem {
    InputItem::EasyMessage(EasyInputMessage {
        r#type: MessageType::Message,
        role,
        content: EasyInputContent::Text(text),
        phase: None,
    })
}

/// Text, tool calls, usage and id of a finished response.
fn model_response(response: Response) -> Result<ModelResponse, ModelError> {
    if let Some(error) = &response.error {
        return Err(ModelError::InvalidResponse(format!(
            "the response failed: {}",
            error.message
        )));
    }
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    for item in response.output {
        match item {
            OutputItem::Message(message) => {
                for part in message.content {
                    if let OutputMessageContent::OutputText(text) = part {
                        content.push_str(&text.text);
                    }
                }
            }
            OutputItem::FunctionCall(call) => tool_calls.push(ToolCall {
                id: call.call_id,
                name: call.name,
                arguments: call.arguments,
            }),
            // Reasoning and built-in tool items carry nothing agentos acts on.
            _ => {}
        }
    }
    let usage = response
        .usage
        .map(|usage| Usage {
            input_tokens: u64::from(usage.input_tokens),
            output_tokens: u64::from(usage.output_tokens),
            total_tokens: u64::from(usage.total_tokens),
            reasoning_tokens: u64::from(usage.output_tokens_details.reasoning_tokens),
            cache_read_tokens: u64::from(usage.input_tokens_details.cached_tokens),
            cache_write_tokens: 0,
        })
        .unwrap_or_default();
    Ok(ModelResponse {
        content,
        tool_calls,
        usage,
        response_id: Some(response.id),
    })
}

impl Model for OpenAIResponses {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        "OpenAI"
    }

    fn provider_label(&self) -> &str {
        "OpenAI Responses"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let request = self.build_request(request, false);
            let client = &self.connection.client;
            let response = self
                .connection
                .call(client.responses().create(request))
                .await?;
            model_response(response)
        })
    }

    fn stream(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelStream, ModelError>> {
        Box::pin(async move {
            let request = self.build_request(request, true);
            let client = &self.connection.client;
            let events = self
                .connection
                .call(client.responses().create_stream(request))
                .await?;
            let state = StreamState {
                events,
                connection: self.connection.clone(),
                pending: VecDeque::new(),
                finished: false,
            };
            Ok(Box::pin(futures_util::stream::unfold(state, next_item)) as ModelStream)
        })
    }
}

struct StreamState {
    events: ResponseStream,
    connection: Connection,
    pending: VecDeque<Result<ModelStreamItem, ModelError>>,
    finished: bool,
}

/// The next item of the stream: text deltas as they come, then the completed response.
async fn next_item(
    mut state: StreamState,
) -> Option<(Result<ModelStreamItem, ModelError>, StreamState)> {
    loop {
        if let Some(item) = state.pending.pop_front() {
            return Some((item, state));
        }
        if state.finished {
            return None;
        }
        let event = match tokio::time::timeout(state.connection.timeout, state.events.next()).await
        {
            Err(_) => Err(state.connection.timeout_error()),
            Ok(None) => Err(ModelError::InvalidResponse(
                "the stream ended before the response completed".into(),
            )),
            Ok(Some(Ok(event))) => Ok(event),
            Ok(Some(Err(error))) => match skippable(&error) {
                true => continue,
                false => Err(state.connection.map_error(error)),
            },
        };
        match event {
            Err(error) => {
                state.finished = true;
                state.pending.push_back(Err(error));
            }
            Ok(ResponseStreamEvent::ResponseCreated(created)) => {
                state
                    .pending
                    .push_back(Ok(ModelStreamItem::ResponseId(created.response.id)));
            }
            Ok(ResponseStreamEvent::ResponseOutputTextDelta(delta)) => {
                if !delta.delta.is_empty() {
                    state
                        .pending
                        .push_back(Ok(ModelStreamItem::Content(delta.delta)));
                }
            }
            Ok(ResponseStreamEvent::ResponseCompleted(done)) => {
                state.finished = true;
                state
                    .pending
                    .push_back(model_response(done.response).map(ModelStreamItem::Done));
            }
            // Cut short (say, by max_output_tokens): what arrived is still the answer.
            Ok(ResponseStreamEvent::ResponseIncomplete(done)) => {
                state.finished = true;
                state
                    .pending
                    .push_back(model_response(done.response).map(ModelStreamItem::Done));
            }
            Ok(ResponseStreamEvent::ResponseFailed(failed)) => {
                state.finished = true;
                let message = failed
                    .response
                    .error
                    .map(|error| error.message)
                    .unwrap_or_else(|| "the response failed".into());
                state
                    .pending
                    .push_back(Err(ModelError::InvalidResponse(message)));
            }
            Ok(ResponseStreamEvent::ResponseError(error)) => {
                state.finished = true;
                state
                    .pending
                    .push_back(Err(ModelError::InvalidResponse(error.message)));
            }
            Ok(_) => {}
        }
    }
}

const ESSENTIAL_EVENTS: [&str; 5] = [
    "response.output_text.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
];

/// An event async-openai could not type but that is well-formed JSON with a `type`: a newer
/// event kind than this build knows. Skipping it keeps streams working as the API grows; a
/// malformed event is still an error.
fn skippable(error: &OpenAIError) -> bool {
    let OpenAIError::JSONDeserialize(_, data) = error else {
        return false;
    };
    let known_shape = serde_json::from_str::<serde_json::Value>(data)
        .ok()
        .and_then(|event| {
            event
                .get("type")
                .and_then(|kind| kind.as_str())
                .map(str::to_string)
        });
    match known_shape {
        // The events agentos reads must parse; a failure there is a broken response.
        Some(kind) if ESSENTIAL_EVENTS.contains(&kind.as_str()) => false,
        Some(kind) => {
            tracing::debug!(event = %kind, "skipping a Responses stream event this build does not know");
            true
        }
        None => false,
    }
}
