//! What the providers' HTTP clients share: one pooled client per process, calls bounded in
//! time and retried when the provider is overloaded, error texts without the key, and
//! server-sent events read into a [`ModelStream`].
//!
//! The OpenAI models go through async-openai, which has its own retries and stream reader;
//! Anthropic and Gemini have no well-kept Rust SDK, so their adapters use what is here.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::de::DeserializeOwned;

use super::{ModelError, ModelResponse, ModelStream, ModelStreamItem};

/// The per-call bound used unless a handle sets its own with `with_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Retries made on 408, 429, 5xx (Anthropic's 529 included) and failed connects unless a
/// handle sets its own.
pub const DEFAULT_MAX_RETRIES: usize = 3;

/// The longest wait between two attempts, whatever `retry-after` asks for: the call's own
/// timeout still bounds the whole.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// The process-wide pooled HTTP client every model handle shares.
///
/// Built on first use, after ring is installed as rustls's provider (reqwest is compiled
/// without one). Per-request bounds are applied by the model, not here, because handles with
/// different timeouts share this client.
pub fn shared_http_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::tls::install_crypto_provider();
            reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .build()
                // Building only fails when the TLS backend cannot initialise, which with a
                // provider installed above means a broken binary, not a runtime condition.
                .unwrap_or_else(|error| panic!("cannot build the shared HTTP client: {error}"))
        })
        .clone()
}

/// How one provider handle calls its API: where, with which key, how patiently.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The provider's name, for log lines.
    pub(crate) provider: &'static str,
    /// The base URL without a trailing slash.
    pub(crate) base_url: String,
    /// Kept to send and to scrub from error texts; never printed.
    pub(crate) api_key: Option<Arc<str>>,
    /// Bounds each call, retries included; for a stream, the wait for each event.
    pub(crate) timeout: Duration,
    /// Attempts after the first on a retryable failure.
    pub(crate) max_retries: usize,
}

/// What a provider's error body says: a stable kind (`overloaded_error`,
/// `RESOURCE_EXHAUSTED`) for callers, and its prose, which only the server log sees.
pub(crate) struct ProviderError {
    pub(crate) kind: String,
    pub(crate) message: String,
}

/// The builder methods over an [`Endpoint`], for the `impl` block of a model handle with an
/// `endpoint` field: the same key, base URL, timeout and retry setters on every provider's
/// handle, written once. `$key_header` and `$version` name the provider's header and path.
macro_rules! endpoint_methods {
    ($key_header:literal, $version:literal) => {
        #[doc = concat!("Sends this key as `", $key_header, "`.")]
        pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
            self.endpoint = self.endpoint.with_api_key(key.into());
            self
        }

        #[doc = concat!("Sends requests to this base URL (without `", $version, "`), such as a gateway or a mock.")]
        pub fn with_base_url(mut self, url: impl AsRef<str>) -> Self {
            self.endpoint.base_url = url.as_ref().trim_end_matches('/').to_string();
            self
        }

        /// Bounds each call (retries included; for a stream, the wait for each event).
        pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.endpoint.timeout = timeout;
            self
        }

        /// How many times an overloaded or failed call is tried again (default 3).
        pub fn with_max_retries(mut self, retries: usize) -> Self {
            self.endpoint.max_retries = retries;
            self
        }
    };
}

pub(crate) use endpoint_methods;

impl Endpoint {
    pub(crate) fn new(provider: &'static str, base_url: &str, api_key: Option<String>) -> Self {
        Endpoint {
            provider,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.filter(|key| !key.is_empty()).map(Arc::from),
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }

    /// Uses this key from now on (an empty one counts as none).
    pub(crate) fn with_api_key(mut self, key: String) -> Self {
        self.api_key = (!key.is_empty()).then(|| Arc::from(key));
        self
    }

    /// Sends the request `build` makes (once per attempt) and reads the successful answer's
    /// JSON body, all within the timeout.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        read_error: fn(&str) -> Option<ProviderError>,
    ) -> Result<T, ModelError> {
        let call = async {
            let response = self.attempts(build, read_error).await?;
            let body = response
                .bytes()
                .await
                .map_err(|error| map_reqwest_error(&error))?;
            serde_json::from_slice(&body).map_err(|error| {
                // The body is left out: it can be large, and it is the provider's.
                ModelError::InvalidResponse(format!("unreadable answer: {error}"))
            })
        };
        self.bounded(call).await
    }

    /// Sends the request `build` makes (once per attempt) and returns the successful response
    /// once its headers have arrived, for a stream to read.
    pub(crate) async fn call_stream(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        read_error: fn(&str) -> Option<ProviderError>,
    ) -> Result<reqwest::Response, ModelError> {
        self.bounded(self.attempts(build, read_error)).await
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, ModelError>>,
    ) -> Result<T, ModelError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|error| self.scrub(error)),
            Err(_) => Err(self.timeout_error()),
        }
    }

    /// A 408, 429 or 5xx answer and a failed connect are retried after the provider's
    /// `retry-after` (or `retry-after-ms`) when it sends one, else after a doubling backoff.
    /// Other statuses fail at once. `read_error` reads the provider's error body.
    async fn attempts(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        read_error: fn(&str) -> Option<ProviderError>,
    ) -> Result<reqwest::Response, ModelError> {
        let mut attempt = 0;
        loop {
            let (error, wait) = match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let wait = retry_after(response.headers());
                    let body = response.text().await.unwrap_or_default();
                    let error = self.status_error(status, &body, read_error);
                    if !retryable(status) {
                        return Err(error);
                    }
                    (error, wait)
                }
                Err(error) if error.is_connect() => (map_reqwest_error(&error), None),
                Err(error) => return Err(map_reqwest_error(&error)),
            };
            if attempt >= self.max_retries {
                return Err(error);
            }
            let backoff = Duration::from_millis(500 << attempt.min(4));
            tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_RETRY_WAIT)).await;
            attempt += 1;
        }
    }

    /// A provider's error answer as a [`ModelError`]: the status and the provider's kind of
    /// error. The provider's prose goes to the log only, since it can quote the request.
    fn status_error(
        &self,
        status: u16,
        body: &str,
        read_error: fn(&str) -> Option<ProviderError>,
    ) -> ModelError {
        let Some(ProviderError { kind, message }) = read_error(body) else {
            tracing::warn!(provider = self.provider, status, "model provider failed");
            return ModelError::Status {
                status,
                message: "the provider's error body was not readable".into(),
            };
        };
        let message = self.scrub_text(&message);
        tracing::warn!(
            provider = self.provider,
            status,
            kind,
            message,
            "model provider failed"
        );
        ModelError::Status {
            status,
            message: kind,
        }
    }

    pub(crate) fn timeout_error(&self) -> ModelError {
        // Rounded up so a sub-second bound does not read as "within 0 s".
        let seconds = self.timeout.as_secs() + u64::from(self.timeout.subsec_nanos() > 0);
        ModelError::Timeout { seconds }
    }

    pub(crate) fn scrub(&self, error: ModelError) -> ModelError {
        match &self.api_key {
            Some(key) => redact(error, key),
            None => error,
        }
    }

    fn scrub_text(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => text.replace(&**key, "[redacted]"),
            None => text.to_string(),
        }
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is left out on purpose: handles end up in logs.
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("has_api_key", &self.api_key.is_some())
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// The wait a provider asks for: `retry-after-ms` (milliseconds), else `retry-after` in
/// seconds. The HTTP-date form is not used by these providers and falls back to the backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite() && *value >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

pub(crate) fn map_reqwest_error(error: &reqwest::Error) -> ModelError {
    if error.is_timeout() {
        return ModelError::Timeout { seconds: 0 };
    }
    if let Some(status) = error.status() {
        return ModelError::Status {
            status: status.as_u16(),
            message: error_chain(error),
        };
    }
    if error.is_decode() {
        return ModelError::InvalidResponse(error_chain(error));
    }
    ModelError::Connection(error_chain(error))
}

/// The message of an error and of its sources, which is where hyper says what went wrong.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Removes the API key from an error's text, whatever echoed it (a proxy, a URL).
pub(crate) fn redact(error: ModelError, key: &str) -> ModelError {
    if key.is_empty() {
        return error;
    }
    let scrub = |text: String| text.replace(key, "[redacted]");
    match error {
        ModelError::Status { status, message } => ModelError::Status {
            status,
            message: scrub(message),
        },
        ModelError::Connection(message) => ModelError::Connection(scrub(message)),
        ModelError::InvalidResponse(message) => ModelError::InvalidResponse(scrub(message)),
        ModelError::Config(message) => ModelError::Config(scrub(message)),
        timeout @ ModelError::Timeout { .. } => timeout,
    }
}

/// A provider's stream protocol: what each server-sent event adds to the answer.
pub(crate) trait StreamReader: Send + 'static {
    /// Reads one event, queueing the items it yields. `Ok(true)` says the answer is complete.
    fn read(
        &mut self,
        event: &Event,
        items: &mut VecDeque<ModelStreamItem>,
    ) -> Result<bool, ModelError>;

    /// The whole answer, once the stream has ended; `complete` says whether `read` saw the
    /// answer's end or the connection simply closed.
    fn finish(self, complete: bool) -> Result<ModelResponse, ModelError>;
}

type Events = BoxStream<'static, Result<Event, EventStreamError<reqwest::Error>>>;

struct StreamState<R> {
    events: Events,
    /// Taken when the stream has ended, well or badly.
    reader: Option<R>,
    endpoint: Endpoint,
    pending: VecDeque<ModelStreamItem>,
    /// Sent once the items read before it have gone out.
    failure: Option<ModelError>,
}

impl<R> StreamState<R> {
    fn fail(&mut self, error: ModelError) {
        self.reader = None;
        self.failure = Some(self.endpoint.scrub(error));
    }
}

/// The response's server-sent events read by `reader`: its items as they come, then
/// [`ModelStreamItem::Done`] with the whole answer. Each wait for an event is bounded by the
/// endpoint's timeout.
pub(crate) fn read_stream<R: StreamReader>(
    response: reqwest::Response,
    reader: R,
    endpoint: &Endpoint,
) -> ModelStream {
    let state = StreamState {
        events: response.bytes_stream().eventsource().boxed(),
        reader: Some(reader),
        endpoint: endpoint.clone(),
        pending: VecDeque::new(),
        failure: None,
    };
    Box::pin(futures_util::stream::unfold(state, next_item))
}

async fn next_item<R: StreamReader>(
    mut state: StreamState<R>,
) -> Option<(Result<ModelStreamItem, ModelError>, StreamState<R>)> {
    loop {
        if let Some(item) = state.pending.pop_front() {
            return Some((Ok(item), state));
        }
        if let Some(error) = state.failure.take() {
            return Some((Err(error), state));
        }
        let reader = state.reader.as_mut()?;
        let complete = match tokio::time::timeout(state.endpoint.timeout, state.events.next()).await
        {
            Err(_) => {
                let error = state.endpoint.timeout_error();
                state.fail(error);
                continue;
            }
            Ok(Some(Err(EventStreamError::Transport(error)))) => {
                state.fail(map_reqwest_error(&error));
                continue;
            }
            Ok(Some(Err(error))) => {
                state.fail(ModelError::InvalidResponse(error.to_string()));
                continue;
            }
            Ok(Some(Ok(event))) => match reader.read(&event, &mut state.pending) {
                Ok(false) => continue,
                Ok(true) => true,
                Err(error) => {
                    state.fail(error);
                    continue;
                }
            },
            Ok(None) => false,
        };
        let reader = state.reader.take()?;
        match reader.finish(complete) {
            Ok(answer) => state.pending.push_back(ModelStreamItem::Done(answer)),
            Err(error) => state.fail(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_the_key_everywhere() {
        let error = ModelError::Status {
            status: 401,
            message: "bad key sk-secret-123".into(),
        };
        let redacted = redact(error, "sk-secret-123");
        assert!(!redacted.to_string().contains("sk-secret-123"));
        assert!(!format!("{redacted:?}").contains("sk-secret-123"));
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(150)));
        headers.remove("retry-after-ms");
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2026 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn overload_and_timeouts_are_retried_client_errors_are_not() {
        for status in [408, 429, 500, 503, 529] {
            assert!(retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!retryable(status), "{status}");
        }
    }

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        let mut endpoint = Endpoint::new("Test", "http://127.0.0.1:1/", None);
        endpoint.timeout = Duration::from_millis(200);
        assert_eq!(endpoint.timeout_error(), ModelError::Timeout { seconds: 1 });
        assert_eq!(endpoint.base_url, "http://127.0.0.1:1");
    }
}
