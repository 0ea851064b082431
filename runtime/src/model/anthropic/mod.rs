//! Anthropic's Messages API (`POST {base}/v1/messages`), on the shared HTTP client.
//!
//! There is no official Rust SDK and the community crates are young and divergent, so the
//! adapter is written here: the request and answer shapes in `wire`, the sending, retries
//! and stream reading in `model::http`.

mod wire;

use futures_util::future::BoxFuture;

use super::http::{Endpoint, endpoint_methods, read_stream, shared_http_client};
use super::{Model, ModelError, ModelRequest, ModelResponse, ModelStream};
use wire::{MessageStream, MessagesRequest, MessagesResponse, read_error};

/// The base URL used when neither `ANTHROPIC_BASE_URL` nor `with_base_url` says otherwise.
pub const ANTHROPIC_API_BASE: &str = "https://api.anthropic.com";

/// The API version agentos speaks (the `anthropic-version` header).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The answer length used unless a handle sets its own: the API requires one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// A Claude model behind Anthropic's Messages API.
///
/// Text, the system prompt, tool use and results, streaming and usage (cache tokens included)
/// map onto agentos' messages and metrics. A 408, 429, 529 or other 5xx answer is retried
/// after the API's `retry-after`. Errors carry the status and Anthropic's error type
/// (`overloaded_error`), never its prose, which goes to the log.
///
/// Build one from the environment with [`crate::model::from_str`]
/// (`anthropic:claude-sonnet-4-5`, reading `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL`), or
/// directly:
///
/// ```
/// use agentos_runtime::model::{Claude, Model};
///
/// let model = Claude::new("claude-sonnet-4-5").with_api_key("sk-ant-...");
/// assert_eq!(model.provider(), "Anthropic");
/// ```
#[derive(Clone, Debug)]
pub struct Claude {
    id: String,
    endpoint: Endpoint,
    max_tokens: u32,
}

impl Claude {
    /// The model `id` at [`ANTHROPIC_API_BASE`], with no key yet.
    pub fn new(id: impl Into<String>) -> Self {
        Claude {
            id: id.into(),
            endpoint: Endpoint::new("Anthropic", ANTHROPIC_API_BASE, None),
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }

    endpoint_methods!("x-api-key", "/v1");

    /// The longest answer, in tokens (default [`DEFAULT_MAX_TOKENS`]).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// The request for `body`, as each attempt sends it.
    fn post<'a>(
        &'a self,
        body: &'a MessagesRequest<'_>,
    ) -> Result<impl Fn() -> reqwest::RequestBuilder + 'a, ModelError> {
        let Some(key) = self.endpoint.api_key.clone() else {
            return Err(ModelError::Config("ANTHROPIC_API_KEY is not set".into()));
        };
        let url = format!("{}/v1/messages", self.endpoint.base_url);
        let client = shared_http_client();
        Ok(move || {
            client
                .post(&url)
                .header("x-api-key", &*key)
                .header("anthropic-version", ANTHROPIC_VERSION)
                .json(body)
        })
    }
}

impl Model for Claude {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        "Anthropic"
    }

    fn provider_label(&self) -> &str {
        "Claude"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let body = MessagesRequest::new(&self.id, self.max_tokens, &request);
            let answer: MessagesResponse = self
                .endpoint
                .call_json(self.post(&body)?, read_error)
                .await?;
            answer.into_response()
        })
    }

    fn stream(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelStream, ModelError>> {
        Box::pin(async move {
            let mut body = MessagesRequest::new(&self.id, self.max_tokens, &request);
            body.stream = true;
            let response = self
                .endpoint
                .call_stream(self.post(&body)?, read_error)
                .await?;
            Ok(read_stream(
                response,
                MessageStream::default(),
                &self.endpoint,
            ))
        })
    }
}
