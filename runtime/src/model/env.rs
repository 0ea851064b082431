//! Picking a model from the environment.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{ModelHandle, OpenAIResponses, TestModel};

/// The model an example or a quick start should use: [`OpenAIResponses`] with model `id` when
/// `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, otherwise the offline [`TestModel`] (and a
/// warning in the log saying so, because its answers are canned). `AGENTOS_TEST_MODEL_LATENCY_MS`
/// makes that TestModel take so long a call, as a remote model would (the load generator uses
/// it to hold thousands of streams open without a socket per model call).
///
/// ```
/// use agentos_runtime::model::from_env;
///
/// let model = from_env("gpt-5.4");
/// println!("answering with {} ({})", model.id(), model.provider());
/// ```
pub fn from_env(id: &str) -> ModelHandle {
    // Factories call this on every request: read the environment and log the choice once.
    static USE_OPENAI: OnceLock<bool> = OnceLock::new();
    let use_openai = *USE_OPENAI.get_or_init(|| {
        let configured = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty());
        let use_openai = configured("OPENAI_API_KEY") || configured("OPENAI_BASE_URL");
        if use_openai {
            tracing::info!("models from the environment use the OpenAI Responses API");
        } else {
            tracing::warn!(
                "neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: models from the environment \
                 answer with the offline TestModel"
            );
        }
        use_openai
    });
    static TEST_LATENCY: OnceLock<Duration> = OnceLock::new();
    if use_openai {
        Arc::new(OpenAIResponses::new(id))
    } else {
        let latency = *TEST_LATENCY.get_or_init(|| {
            Duration::from_millis(crate::env::number("AGENTOS_TEST_MODEL_LATENCY_MS").unwrap_or(0))
        });
        // Reports the id asked for, so run outputs read as they would against the real model.
        Arc::new(TestModel::with_id(id).with_latency(latency))
    }
}
