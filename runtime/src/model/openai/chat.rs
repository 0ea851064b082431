//! Chat Completions, as served by OpenAI and by OpenAI-compatible servers.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionResponseStream,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionTools, CompletionUsage,
    CreateChatCompletionRequest, CreateChatCompletionResponse, FunctionCall, FunctionObject,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::Connection;
use crate::model::{
    Message, Model, ModelError, ModelRequest, ModelResponse, ModelStream, ModelStreamItem, Role,
    ToolCall, Usage,
};

/// A model behind a Chat Completions endpoint (`POST /chat/completions`): OpenAI, or any
/// OpenAI-compatible server (vLLM, Ollama, llama.cpp) through [`with_base_url`](Self::with_base_url).
///
/// The key and base URL default to `OPENAI_API_KEY` and `OPENAI_BASE_URL`. Creating a handle
/// is cheap: every handle shares the process's pooled HTTP client.
///
/// ```
/// use agentos_runtime::model::{Model, OpenAIChat};
///
/// let model = OpenAIChat::new("llama3.2").with_base_url("http://localhost:11434/v1");
/// assert_eq!(model.provider_label(), "OpenAI Chat");
/// ```
#[derive(Clone, Debug)]
pub struct OpenAIChat {
    id: String,
    connection: Connection,
}

impl OpenAIChat {
    /// The model `id` (such as `gpt-4o-mini`), with key and base URL from the environment.
    pub fn new(id: impl Into<String>) -> Self {
        OpenAIChat {
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

    /// Bounds each call (retries included; for a stream, the wait for each chunk).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.connection.timeout = timeout;
        self
    }

    /// How many times a 429, a 5xx or a failed connect is retried, with backoff (default 3).
    pub fn with_max_retries(mut self, retries: usize) -> Self {
        self.connection = self.connection.with_max_retries(retries);
        self
    }

    fn build_request(&self, request: ModelRequest, stream: bool) -> CreateChatCompletionRequest {
        let tools: Vec<ChatCompletionTools> = request
            .tools
            .iter()
            .map(|tool| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: tool.name.clone(),
                        description: Some(tool.description.clone()),
                        parameters: Some(tool.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect();
        CreateChatCompletionRequest {
            model: self.id.clone(),
            messages: request.messages.iter().map(chat_message).collect(),
            tools: (!tools.is_empty()).then_some(tools),
            stream: stream.then_some(true),
            // Without this a stream carries no token counts.
            stream_options: stream.then_some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        }
    }
}

/// One message in Chat Completions form: tool calls on the assistant message, results as
/// `tool` messages naming the call they answer.
fn chat_message(message: &Message) -> ChatCompletionRequestMessage {
    let content = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(content),
            name: None,
        }),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(content),
            name: None,
        }),
        Role::Assistant => {
            let tool_calls: Vec<ChatCompletionMessageToolCalls> = message
                .tool_calls
                .iter()
                .map(|call| {
                    ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                        id: call.id.clone(),
                        function: FunctionCall {
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        },
                    })
                })
                .collect();
            // A turn that only calls tools has no content; some servers refuse `""` there.
            let content = (!content.is_empty())
                .then_some(ChatCompletionRequestAssistantMessageContent::Text(content));
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                ..Default::default()
            })
        }
        Role::Tool => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(content),
            tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        }),
    }
}

fn usage(usage: Option<CompletionUsage>) -> Usage {
    let Some(usage) = usage else {
        return Usage::default();
    };
    Usage {
        input_tokens: u64::from(usage.prompt_tokens),
        output_tokens: u64::from(usage.completion_tokens),
        total_tokens: u64::from(usage.total_tokens),
        reasoning_tokens: usage
            .completion_tokens_details
            .and_then(|details| details.reasoning_tokens)
            .map(u64::from)
            .unwrap_or(0),
        cache_read_tokens: usage
            .prompt_tokens_details
            .and_then(|details| details.cached_tokens)
            .map(u64::from)
            .unwrap_or(0),
        cache_write_tokens: 0,
    }
}

fn model_response(response: CreateChatCompletionResponse) -> Result<ModelResponse, ModelError> {
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(ModelError::InvalidResponse(
            "the completion has no choices".into(),
        ));
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .filter_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(call) => Some(ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            }),
            // agentos only offers function tools, so a custom call cannot answer one.
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect();
    Ok(ModelResponse {
        content: choice.message.content.unwrap_or_default(),
        tool_calls,
        usage: usage(response.usage),
        response_id: Some(response.id),
    })
}

impl Model for OpenAIChat {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        "OpenAI"
    }

    fn provider_label(&self) -> &str {
        "OpenAI Chat"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let request = self.build_request(request, false);
            let client = &self.connection.client;
            let response = self.connection.call(client.chat().create(request)).await?;
            model_response(response)
        })
    }

    fn stream(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelStream, ModelError>> {
        Box::pin(async move {
            let request = self.build_request(request, true);
            let client = &self.connection.client;
            let chunks = self
                .connection
                .call(client.chat().create_stream(request))
                .await?;
            let state = StreamState {
                chunks,
                connection: self.connection.clone(),
                pending: VecDeque::new(),
                answer: ModelResponse::default(),
                calls: BTreeMap::new(),
                seen_chunk: false,
                finished: false,
            };
            Ok(Box::pin(futures_util::stream::unfold(state, next_item)) as ModelStream)
        })
    }
}

struct StreamState {
    chunks: ChatCompletionResponseStream,
    connection: Connection,
    pending: VecDeque<Result<ModelStreamItem, ModelError>>,
    /// Content, usage and id gathered so far.
    answer: ModelResponse,
    /// Tool calls by their index: the id and name come first, the arguments in pieces.
    calls: BTreeMap<u32, ToolCall>,
    /// An empty stream is a broken answer (a JSON body, say), not an empty reply.
    seen_chunk: bool,
    finished: bool,
}

/// The next item of the stream: text deltas as they come, then everything gathered once the
/// server says `[DONE]` (usage arrives in the last chunk, after the finish reason).
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
        let chunk = match tokio::time::timeout(state.connection.timeout, state.chunks.next()).await
        {
            Err(_) => {
                state.finished = true;
                return Some((Err(state.connection.timeout_error()), state));
            }
            Ok(Some(Err(error))) => {
                state.finished = true;
                let error = state.connection.map_error(error);
                return Some((Err(error), state));
            }
            Ok(None) if !state.seen_chunk => {
                state.finished = true;
                let error = ModelError::InvalidResponse("the stream carried no chunks".into());
                return Some((Err(error), state));
            }
            Ok(None) => {
                state.finished = true;
                let mut answer = std::mem::take(&mut state.answer);
                answer.tool_calls = std::mem::take(&mut state.calls).into_values().collect();
                return Some((Ok(ModelStreamItem::Done(answer)), state));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        state.seen_chunk = true;
        if state.answer.response_id.is_none() && !chunk.id.is_empty() {
            state.answer.response_id = Some(chunk.id.clone());
            state
                .pending
                .push_back(Ok(ModelStreamItem::ResponseId(chunk.id.clone())));
        }
        if chunk.usage.is_some() {
            state.answer.usage = usage(chunk.usage);
        }
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            if let Some(text) = choice.delta.content.filter(|text| !text.is_empty()) {
                state.answer.content.push_str(&text);
                state.pending.push_back(Ok(ModelStreamItem::Content(text)));
            }
            for piece in choice.delta.tool_calls.unwrap_or_default() {
                let call = state.calls.entry(piece.index).or_insert_with(|| ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                if let Some(id) = piece.id.filter(|id| !id.is_empty()) {
                    call.id = id;
                }
                if let Some(function) = piece.function {
                    if let Some(name) = function.name.filter(|name| !name.is_empty()) {
                        call.name = name;
                    }
                    if let Some(arguments) = function.arguments {
                        call.arguments.push_str(&arguments);
                    }
                }
            }
        }
    }
}
