//! Google's Gemini API (`POST {base}/v1beta/models/{model}:generateContent`, and
//! `:streamGenerateContent?alt=sse` for streams), on the shared HTTP client.
//!
//! Written here rather than on a community crate, as the Anthropic adapter is: the request
//! and answer shapes in `wire`, the sending, retries and stream reading in `model::http`.

mod wire;

use futures_util::future::BoxFuture;

use super::http::{Endpoint, endpoint_methods, read_stream, shared_http_client};
use super::{Model, ModelError, ModelRequest, ModelResponse, ModelStream};
use wire::{ContentStream, GenerateRequest, GenerateResponse, read_error, whole_answer};

/// The base URL used when neither `GEMINI_BASE_URL` nor `with_base_url` says otherwise.
pub const GEMINI_API_BASE: &str = "https://generativelanguage.googleapis.com";

/// A Gemini model behind Google's Gemini API.
///
/// Text, the system instruction, function calling, streaming and usage (thinking and cached
/// tokens included) map onto agentos' messages and metrics. A 408, 429 or 5xx answer is
/// retried after the API's `retry-after`. Errors carry the status and Google's status name
/// (`RESOURCE_EXHAUSTED`), never its prose, which goes to the log.
///
/// Build one from the environment with [`crate::model::from_str`] (`gemini:gemini-2.5-flash`,
/// reading `GEMINI_API_KEY` and `GEMINI_BASE_URL`), or directly:
///
/// ```
/// use agentos_runtime::model::{Gemini, Model};
///
/// let model = Gemini::new("gemini-2.5-flash").with_api_key("AIza...");
/// assert_eq!(model.provider(), "Google");
/// ```
#[derive(Clone, Debug)]
pub struct Gemini {
    id: String,
    endpoint: Endpoint,
}

impl Gemini {
    /// The model `id` at [`GEMINI_API_BASE`], with no key yet.
    pub fn new(id: impl Into<String>) -> Self {
        Gemini {
            id: id.into(),
            endpoint: Endpoint::new("Google", GEMINI_API_BASE, None),
        }
    }

    endpoint_methods!("x-goog-api-key", "/v1beta");

    /// The request for `body` to `method` (`generateContent`, or
    /// `streamGenerateContent?alt=sse`), as each attempt sends it.
    fn post<'a>(
        &'a self,
        method: &str,
        body: &'a GenerateRequest<'_>,
    ) -> Result<impl Fn() -> reqwest::RequestBuilder + 'a, ModelError> {
        let Some(key) = self.endpoint.api_key.clone() else {
            return Err(ModelError::Config("GEMINI_API_KEY is not set".into()));
        };
        let url = format!(
            "{}/v1beta/models/{}:{method}",
            self.endpoint.base_url, self.id
        );
        let client = shared_http_client();
        Ok(move || client.post(&url).header("x-goog-api-key", &*key).json(body))
    }
}

impl Model for Gemini {
    fn id(&self) -> &str {
        &self.id
    }

    fn provider(&self) -> &str {
        "Google"
    }

    fn provider_label(&self) -> &str {
        "Gemini"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let body = GenerateRequest::new(&request);
            let post = self.post("generateContent", &body)?;
            let answer: GenerateResponse = self.endpoint.call_json(post, read_error).await?;
            whole_answer(answer)
        })
    }

    fn stream(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelStream, ModelError>> {
        Box::pin(async move {
            let body = GenerateRequest::new(&request);
            let post = self.post("streamGenerateContent?alt=sse", &body)?;
            let response = self.endpoint.call_stream(post, read_error).await?;
            Ok(read_stream(
                response,
                ContentStream::default(),
                &self.endpoint,
            ))
        })
    }
}
