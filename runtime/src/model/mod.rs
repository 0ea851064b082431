//! The model interface agents and team leaders talk to, and its implementations.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Who wrote a message of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt.
    System,
    /// The user (or, for a member, the leader delegating to it).
    User,
    /// The model.
    Assistant,
    /// A tool result answering one tool call.
    Tool,
}

/// One message of the conversation sent to a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text (empty for an assistant turn that only calls tools).
    pub content: String,
    /// The tool calls of an assistant turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool result: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    /// An assistant message with text only.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// An assistant turn that calls tools.
    pub fn assistant_tool_calls(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    /// The result of the tool call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(tool_call_id.into()),
        }
    }

    fn text(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A call the model made to a tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call; the result answers it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the JSON text the model produced (it may be invalid).
    pub arguments: String,
}

/// Token counts of one or more model calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Reasoning tokens, where the provider reports them.
    pub reasoning_tokens: u64,
    /// Prompt tokens served from the provider's cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the provider's cache (Anthropic reports them).
    pub cache_write_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
    }
}

/// What is sent to a model for one turn.
///
/// The conversation and the tools are shared with the run, not copied into every turn: a
/// model reads them and drops the request when it has answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelRequest {
    /// The conversation so far, system prompt first.
    pub messages: Arc<Vec<Message>>,
    /// The tools the model may call this turn.
    pub tools: Arc<[ToolDefinition]>,
}

impl ModelRequest {
    /// A request of `messages` with `tools`.
    pub fn new(messages: Vec<Message>, tools: Vec<ToolDefinition>) -> Self {
        ModelRequest {
            messages: Arc::new(messages),
            tools: Arc::from(tools),
        }
    }
}

/// A model's whole answer to one turn.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelResponse {
    /// The text it wrote, if any.
    pub content: String,
    /// The tools it called, in order; they may run in parallel.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used by this call.
    pub usage: Usage,
    /// The provider's id of the response, where it gives one.
    pub response_id: Option<String>,
}

/// One item of a streamed answer: text as it arrives, then the whole answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelStreamItem {
    /// The provider's id of the response, as soon as the stream names it (before any text).
    ResponseId(String),
    /// A piece of text.
    Content(String),
    /// The end of the answer, with everything it contained (content included).
    Done(ModelResponse),
}

/// A streamed answer.
pub type ModelStream = BoxStream<'static, Result<ModelStreamItem, ModelError>>;

/// Why a model call failed. Its text says what the provider answered; it never holds a key.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// The provider answered with an error status.
    #[error("model provider answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
    },
    /// The provider did not answer in time.
    #[error("model provider did not answer within {seconds} s")]
    Timeout {
        /// The bound that ran out.
        seconds: u64,
    },
    /// The connection failed or was dropped.
    #[error("could not reach the model provider: {0}")]
    Connection(String),
    /// The provider answered something that is not a valid response.
    #[error("model provider sent an invalid response: {0}")]
    InvalidResponse(String),
    /// The model is not configured correctly.
    #[error("model is misconfigured: {0}")]
    Config(String),
}

impl ModelError {
    /// The `error_type` agno reports on a run error caused by the model.
    pub fn error_type(&self) -> &'static str {
        "model_provider_error"
    }
}

/// A chat model: takes the conversation and the tools, answers with text and tool calls.
///
/// Implementations are shared by every agent a factory builds, so a handle is cheap to clone
/// (`Arc<dyn Model>`) and must not hold per-request state.
pub trait Model: Send + Sync + 'static {
    /// The model id, such as `gpt-5.4`, reported in run outputs.
    fn id(&self) -> &str;

    /// The provider name reported as `model_provider` (`OpenAI`, `Anthropic`, `Google`,
    /// `Test`).
    fn provider(&self) -> &str;

    /// The longer provider label of metrics details (`OpenAI Responses`, `OpenAI Chat`,
    /// `Claude`, `Gemini`); without its spaces, the model's class name in agno's JSON.
    fn provider_label(&self) -> &str {
        self.provider()
    }

    /// One turn, answered whole.
    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>>;

    /// One turn, streamed. The default answers whole and streams that as one piece.
    fn stream(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelStream, ModelError>> {
        Box::pin(async move {
            let response = self.complete(request).await?;
            let mut items = Vec::with_capacity(2);
            if !response.content.is_empty() {
                items.push(Ok(ModelStreamItem::Content(response.content.clone())));
            }
            items.push(Ok(ModelStreamItem::Done(response)));
            Ok(Box::pin(futures_util::stream::iter(items)) as ModelStream)
        })
    }
}

/// A shared handle to a model.
pub type ModelHandle = Arc<dyn Model>;

/// Anything that can be given to `.with_model(...)` of an agent or team.
pub trait IntoModel {
    /// The shared handle.
    fn into_model(self) -> ModelHandle;
}

impl<M: Model> IntoModel for M {
    fn into_model(self) -> ModelHandle {
        Arc::new(self)
    }
}

impl IntoModel for ModelHandle {
    fn into_model(self) -> ModelHandle {
        self
    }
}

impl std::fmt::Debug for dyn Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("provider", &self.provider())
            .field("id", &self.id())
            .finish()
    }
}

pub mod anthropic;
pub mod env;
pub mod gemini;
pub(crate) mod http;
pub mod openai;
pub mod scripted;
pub mod spec;
pub mod test_model;

pub use crate::tool::ToolDefinition;
pub use anthropic::Claude;
pub use env::from_env;
pub use gemini::Gemini;
pub use http::shared_http_client;
pub use openai::{OpenAIChat, OpenAIResponses};
pub use scripted::ScriptedModel;
pub use spec::{ModelConfigError, ModelSpec, Provider, ProviderEnv, from_str};
pub use test_model::TestModel;
