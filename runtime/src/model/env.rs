//! Picking a model from the environment.

use std::sync::Arc;

use super::{ModelHandle, OpenAIResponses, TestModel};

/// The model an example or a quick start should use: [`OpenAIResponses`] with model `id` when
/// `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set, otherwise the offline [`TestModel`] (and a
/// warning in the log saying so, because its answers are canned).
///
/// ```
/// use agentos_runtime::model::from_env;
///
/// let model = from_env("gpt-5.4");
/// println!("answering with {} ({})", model.id(), model.provider());
/// ```
pub fn from_env(id: &str) -> ModelHandle {
    let configured = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty());
    if configured("OPENAI_API_KEY") || configured("OPENAI_BASE_URL") {
        tracing::info!(model = id, "using the OpenAI Responses API");
        Arc::new(OpenAIResponses::new(id))
    } else {
        tracing::warn!(
            model = id,
            "neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: answering with the offline TestModel"
        );
        Arc::new(TestModel::new())
    }
}
