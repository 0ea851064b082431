//! OpenAI models on async-openai: [`OpenAIResponses`] (the Responses API) and [`OpenAIChat`]
//! (Chat Completions, for any OpenAI-compatible server such as vLLM, Ollama or llama.cpp).
//!
//! Every handle, however many factories build, sends its requests through one pooled HTTP
//! client per process, so a server building a fresh team per request reuses warm connections
//! instead of paying a TLS handshake and a client construction each time.

mod chat;
mod responses;

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::ReqwestService;
use async_openai::middleware::retry::OpenAIRetryLayer;

use super::ModelError;
use super::http::{error_chain, map_reqwest_error, redact};

pub use chat::OpenAIChat;
pub use responses::OpenAIResponses;

pub use super::http::{DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, shared_http_client};

/// What both OpenAI models share: where to send requests, with which key, and how patiently.
#[derive(Clone)]
struct Connection {
    config: OpenAIConfig,
    /// Kept only to scrub it from error texts; never printed.
    api_key: Option<Arc<str>>,
    base_url: String,
    timeout: Duration,
    max_retries: usize,
    client: Client<OpenAIConfig>,
}

impl Connection {
    /// Key and base URL from `OPENAI_API_KEY` / `OPENAI_BASE_URL` when set.
    fn from_env() -> Self {
        let api_key = std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|key| !key.is_empty());
        let base_url = std::env::var("OPENAI_BASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| async_openai::config::OPENAI_API_BASE.to_string());
        let mut config = OpenAIConfig::new().with_api_base(base_url.clone());
        if let Some(key) = &api_key {
            config = config.with_api_key(key.clone());
        }
        let max_retries = DEFAULT_MAX_RETRIES;
        Connection {
            client: build_client(config.clone(), max_retries),
            config,
            api_key: api_key.map(Arc::from),
            base_url,
            timeout: DEFAULT_TIMEOUT,
            max_retries,
        }
    }

    fn with_api_key(mut self, key: impl Into<String>) -> Self {
        let key: String = key.into();
        self.config = self.config.with_api_key(key.clone());
        self.api_key = Some(Arc::from(key));
        self.rebuild()
    }

    fn with_base_url(mut self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.config = self
            .config
            .with_api_base(url.trim_end_matches('/').to_string());
        self.base_url = url;
        self.rebuild()
    }

    fn with_max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self.rebuild()
    }

    fn rebuild(mut self) -> Self {
        self.client = build_client(self.config.clone(), self.max_retries);
        self
    }

    /// Runs `call` within the timeout, mapping its failure to a [`ModelError`].
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, OpenAIError>>,
    ) -> Result<T, ModelError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.map_error(error)),
            Err(_) => Err(self.timeout_error()),
        }
    }

    fn timeout_error(&self) -> ModelError {
        // Rounded up so a sub-second bound does not read as "within 0 s".
        let seconds = self.timeout.as_secs() + u64::from(self.timeout.subsec_nanos() > 0);
        ModelError::Timeout { seconds }
    }

    fn map_error(&self, error: OpenAIError) -> ModelError {
        let error = match map_openai_error(error) {
            // reqwest does not know which bound ran out; this handle does.
            ModelError::Timeout { .. } => self.timeout_error(),
            other => other,
        };
        match &self.api_key {
            Some(key) => redact(error, key),
            None => error,
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is left out on purpose: handles end up in logs.
        f.debug_struct("Connection")
            .field("base_url", &self.base_url)
            .field("has_api_key", &self.api_key.is_some())
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// A thin async-openai client over the shared HTTP client: an `Arc` and a config, no pool.
fn build_client(config: OpenAIConfig, max_retries: usize) -> Client<OpenAIConfig> {
    let http = shared_http_client();
    let service = tower::ServiceBuilder::new()
        .layer(OpenAIRetryLayer::new(max_retries))
        .service(ReqwestService::new(http.clone()));
    Client::build(http, config).with_http_service(service)
}

/// Maps async-openai's error to ours, keeping the provider's own message.
fn map_openai_error(error: OpenAIError) -> ModelError {
    match error {
        OpenAIError::ApiError(api) => ModelError::Status {
            status: api.status_code.as_u16(),
            message: provider_message(&api.api_error.message),
        },
        OpenAIError::Reqwest(error) => map_reqwest_error(&error),
        OpenAIError::JSONDeserialize(error, _body) => {
            // The body is left out: it can be large, and it is the provider's, not ours.
            ModelError::InvalidResponse(error.to_string())
        }
        OpenAIError::StreamError(error) => match *error {
            StreamError::EventStream(message) => ModelError::Connection(message),
            StreamError::UnknownEvent(event) => {
                ModelError::InvalidResponse(format!("unexpected stream event `{}`", event.event))
            }
        },
        OpenAIError::InvalidArgument(message) => ModelError::Config(message),
        OpenAIError::Boxed(error) => ModelError::Connection(error_chain(error.as_ref())),
        other => ModelError::InvalidResponse(other.to_string()),
    }
}

/// async-openai passes a 5xx body through as raw text; OpenAI-style bodies hold the message in
/// `error.message`, which is what a reader wants.
fn provider_message(raw: &str) -> String {
    serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|body| {
            body.pointer("/error/message")
                .and_then(|message| message.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| raw.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_message_reads_openai_error_bodies() {
        let body = r#"{"error":{"message":"upstream broke","type":"server_error"}}"#;
        assert_eq!(provider_message(body), "upstream broke");
        assert_eq!(provider_message("plain text\n"), "plain text");
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        let mut connection = Connection::from_env();
        connection.timeout = Duration::from_millis(200);
        assert_eq!(
            connection.timeout_error(),
            ModelError::Timeout { seconds: 1 }
        );
    }
}
