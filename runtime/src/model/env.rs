//! Picking a model from the environment.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::spec::{ModelConfigError, ModelSpec, Provider, ProviderEnv};
use super::{ModelHandle, TestModel};

/// The model an example or a quick start should use, in this order:
///
/// 1. `AGENTOS_MODEL`, when set: a model string such as `anthropic:claude-sonnet-4-5` (see
///    [`from_str`](super::from_str)), so every example runs on any provider with no code
///    change;
/// 2. `default`, when it is itself a model string (`gemini:gemini-2.5-flash`);
/// 3. else `default` is an OpenAI model id: [`OpenAIResponses`](super::OpenAIResponses) when `OPENAI_API_KEY` or
///    `OPENAI_BASE_URL` is set, otherwise the offline [`TestModel`] (and a warning in the log
///    saying so, because its answers are canned).
///
/// A provider whose key is not set is an error naming the variable, returned when the
/// component is built: in a factory, `?` turns it into a 500 whose cause only the server log
/// sees. `AGENTOS_TEST_MODEL_LATENCY_MS` makes the TestModel take so long a call, as a remote
/// model would (the load generator uses it to hold thousands of streams open without a socket
/// per model call).
///
/// ```
/// use agentos_runtime::model::from_env;
///
/// let model = from_env("gpt-5.4").unwrap();
/// println!("answering with {} ({})", model.id(), model.provider());
/// ```
pub fn from_env(default: &str) -> Result<ModelHandle, ModelConfigError> {
    // Factories call this on every request: read the environment and log the choice once.
    let settings = Settings::get();
    if let Some(chosen) = &settings.chosen {
        return settings.build(chosen);
    }
    if let Ok(spec) = default.parse::<ModelSpec>() {
        return settings.build(&spec);
    }
    // A bare id (fine-tuned OpenAI ids hold colons too, but no provider before the first).
    if settings.use_openai {
        Ok(Arc::new(settings.env.openai(default)))
    } else {
        // Reports the id asked for, so run outputs read as they would against the real model.
        Ok(Arc::new(
            TestModel::with_id(default).with_latency(settings.latency),
        ))
    }
}

struct Settings {
    /// `AGENTOS_MODEL`, parsed.
    chosen: Option<ModelSpec>,
    env: ProviderEnv,
    /// Whether a bare id goes to OpenAI (a key or a base URL is set) or to the TestModel.
    use_openai: bool,
    latency: Duration,
}

impl Settings {
    fn get() -> &'static Settings {
        static SETTINGS: OnceLock<Settings> = OnceLock::new();
        SETTINGS.get_or_init(Settings::read)
    }

    fn read() -> Settings {
        let env = ProviderEnv::from_process();
        let chosen = std::env::var("AGENTOS_MODEL")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .and_then(|value| match value.parse::<ModelSpec>() {
                Ok(spec) => {
                    tracing::info!(model = %spec, "models from the environment follow AGENTOS_MODEL");
                    Some(spec)
                }
                Err(error) => {
                    // Not fatal here: the examples' own defaults still work, and the log says
                    // why the variable was not used.
                    tracing::error!(%error, "AGENTOS_MODEL is not a model string; ignoring it");
                    None
                }
            });
        let use_openai = env.has("OPENAI_API_KEY") || env.has("OPENAI_BASE_URL");
        if chosen.is_none() {
            if use_openai {
                tracing::info!("models from the environment use the OpenAI Responses API");
            } else {
                tracing::warn!(
                    "neither AGENTOS_MODEL, OPENAI_API_KEY nor OPENAI_BASE_URL is set: models \
                     from the environment answer with the offline TestModel"
                );
            }
        }
        let latency =
            Duration::from_millis(crate::env::number("AGENTOS_TEST_MODEL_LATENCY_MS").unwrap_or(0));
        Settings {
            chosen,
            env,
            use_openai,
            latency,
        }
    }

    fn build(&self, spec: &ModelSpec) -> Result<ModelHandle, ModelConfigError> {
        match spec.provider {
            Provider::Test => Ok(Arc::new(
                TestModel::with_id(spec.model.clone()).with_latency(self.latency),
            )),
            _ => self.env.build(spec),
        }
    }
}
