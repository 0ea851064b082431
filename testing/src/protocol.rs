//! The wire protocols a mock speaks, as types: a test names the server it wants
//! ([`MockOpenAi`], [`MockAnthropic`], ...) and cannot ask one for a protocol it lacks.

use super::server::MockServer;

/// The wire protocol a [`MockServer`] speaks; one of [`OpenAi`], [`OpenAiCompatible`],
/// [`Anthropic`], [`Gemini`].
pub trait Protocol: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    const WIRE: Wire;
}

mod sealed {
    pub trait Sealed {}
}

#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    /// OpenAI's Chat Completions alone.
    OpenAiCompatible,
    Anthropic,
    Gemini,
}

/// OpenAI's Responses and Chat Completions APIs.
#[derive(Debug)]
pub struct OpenAi;
/// OpenAI's Chat Completions API alone, as Ollama, vLLM, LM Studio and llama.cpp's server
/// offer it.
#[derive(Debug)]
pub struct OpenAiCompatible;
/// Anthropic's Messages API.
#[derive(Debug)]
pub struct Anthropic;
/// Google's Gemini API.
#[derive(Debug)]
pub struct Gemini;

impl sealed::Sealed for OpenAi {}
impl sealed::Sealed for OpenAiCompatible {}
impl sealed::Sealed for Anthropic {}
impl sealed::Sealed for Gemini {}
impl Protocol for OpenAi {
    const WIRE: Wire = Wire::OpenAi;
}
impl Protocol for OpenAiCompatible {
    const WIRE: Wire = Wire::OpenAiCompatible;
}
impl Protocol for Anthropic {
    const WIRE: Wire = Wire::Anthropic;
}
impl Protocol for Gemini {
    const WIRE: Wire = Wire::Gemini;
}

/// An OpenAI-compatible server on `127.0.0.1:0` answering `POST /v1/responses` and
/// `POST /v1/chat/completions`, JSON or SSE (`stream: true`), with usage.
///
/// It behaves like the fake behind the recordings in `wire/`: when a request offers tools and
/// ends with a user message it calls the first tool once (for `delegate_task_to_member` it picks
/// the member named in the message), otherwise it answers
/// `[fake-openai model=M] reply to: <message>[ | tool results: ...]`.
///
/// ```
/// use agentos_runtime::model::{Message, Model, ModelRequest, OpenAIChat};
/// use agentos_testing::MockOpenAi;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mock = MockOpenAi::start().await;
/// let model = OpenAIChat::new("gpt-4o-mini").with_base_url(mock.base_url()).with_api_key("test");
/// let request = ModelRequest::new(vec![Message::user("hi")], vec![]);
/// let answer = model.complete(request).await.unwrap();
/// assert_eq!(answer.content, "[fake-openai model=gpt-4o-mini] reply to: hi");
/// assert_eq!(mock.requests(), 1);
/// # });
/// ```
pub type MockOpenAi = MockServer<OpenAi>;

/// A server on `127.0.0.1:0` answering only `POST /v1/chat/completions`, as the
/// OpenAI-compatible servers do (Ollama, vLLM, LM Studio, llama.cpp's server): the Responses
/// API answers 404. Otherwise it is [`MockOpenAi`].
pub type MockOpenAiCompatible = MockServer<OpenAiCompatible>;

/// A server on `127.0.0.1:0` speaking Anthropic's Messages API (`POST /v1/messages`, JSON or
/// its SSE events), with usage. It wants the `x-api-key` and `anthropic-version` headers, as
/// the API does, and answers as [`MockOpenAi`] does, as `fake-anthropic`.
///
/// ```
/// use agentos_runtime::model::{Claude, Message, Model, ModelRequest};
/// use agentos_testing::MockAnthropic;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mock = MockAnthropic::start().await;
/// let model = Claude::new("claude-sonnet-4-5").with_base_url(mock.base_url()).with_api_key("test");
/// let request = ModelRequest::new(vec![Message::user("hi")], vec![]);
/// let answer = model.complete(request).await.unwrap();
/// assert_eq!(answer.content, "[fake-anthropic model=claude-sonnet-4-5] reply to: hi");
/// # });
/// ```
pub type MockAnthropic = MockServer<Anthropic>;

/// A server on `127.0.0.1:0` speaking Google's Gemini API
/// (`POST /v1beta/models/{model}:generateContent`, and `:streamGenerateContent?alt=sse`), with
/// usage. It wants the `x-goog-api-key` header and answers as [`MockOpenAi`] does, as
/// `fake-gemini`.
///
/// ```
/// use agentos_runtime::model::{Gemini, Message, Model, ModelRequest};
/// use agentos_testing::MockGemini;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let mock = MockGemini::start().await;
/// let model = Gemini::new("gemini-2.5-flash").with_base_url(mock.base_url()).with_api_key("test");
/// let request = ModelRequest::new(vec![Message::user("hi")], vec![]);
/// let answer = model.complete(request).await.unwrap();
/// assert_eq!(answer.content, "[fake-gemini model=gemini-2.5-flash] reply to: hi");
/// # });
/// ```
pub type MockGemini = MockServer<Gemini>;
