//! Model strings: `provider:model` (`anthropic:claude-sonnet-4-5`, `gemini:gemini-2.5-flash`,
//! `openai:gpt-5.4`, `ollama:llama3.2`), parsed in one place and built into a model with the
//! keys and base URLs each provider's own SDK reads from the environment.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::{Claude, Gemini, ModelHandle, OpenAIChat, OpenAIResponses, TestModel};
use crate::error::FactoryError;

/// The providers a model string can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// `openai`: OpenAI's Responses API ([`OpenAIResponses`]).
    OpenAI,
    /// `openai-chat`: Chat Completions at `OPENAI_BASE_URL` ([`OpenAIChat`]), for
    /// OpenAI-compatible servers without the Responses API (vLLM, LM Studio, llama.cpp).
    OpenAIChat,
    /// `ollama`: a local Ollama through its OpenAI-compatible Chat API at `OLLAMA_HOST`.
    Ollama,
    /// `anthropic`: Anthropic's Messages API ([`Claude`]).
    Anthropic,
    /// `gemini` (or `google`): Google's Gemini API ([`Gemini`]).
    Gemini,
    /// `test`: the offline [`TestModel`].
    Test,
}

impl Provider {
    /// The prefixes a model string may start with, in the order errors list them.
    pub const NAMES: [&'static str; 6] = [
        "openai",
        "openai-chat",
        "ollama",
        "anthropic",
        "gemini",
        "test",
    ];

    fn from_name(name: &str) -> Option<Provider> {
        Some(match name.to_ascii_lowercase().as_str() {
            "openai" => Provider::OpenAI,
            "openai-chat" => Provider::OpenAIChat,
            "ollama" => Provider::Ollama,
            "anthropic" => Provider::Anthropic,
            "gemini" | "google" => Provider::Gemini,
            "test" => Provider::Test,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Provider::OpenAI => "openai",
            Provider::OpenAIChat => "openai-chat",
            Provider::Ollama => "ollama",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Test => "test",
        }
    }
}

/// A parsed model string: which provider, which of its models.
///
/// ```
/// use agentos_runtime::model::{ModelSpec, Provider};
///
/// let spec: ModelSpec = "anthropic:claude-sonnet-4-5".parse().unwrap();
/// assert_eq!(spec.provider, Provider::Anthropic);
/// assert_eq!(spec.model, "claude-sonnet-4-5");
/// assert!("claude-sonnet-4-5".parse::<ModelSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// The provider before the colon.
    pub provider: Provider,
    /// The provider's model id after it (which may itself hold colons, as `llama3.2:1b`).
    pub model: String,
}

impl FromStr for ModelSpec {
    type Err = ModelConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let Some((provider, model)) = text.split_once(':') else {
            return Err(ModelConfigError::NoProvider(text.to_string()));
        };
        let provider =
            Provider::from_name(provider).ok_or_else(|| ModelConfigError::UnknownProvider {
                provider: provider.to_string(),
            })?;
        let model = model.trim();
        if model.is_empty() {
            return Err(ModelConfigError::NoModel(text.to_string()));
        }
        Ok(ModelSpec {
            provider,
            model: model.to_string(),
        })
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider.name(), self.model)
    }
}

/// Why a model could not be built from a model string. The text names what to fix (the
/// variable to set); it never holds a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelConfigError {
    /// The string has no `provider:` prefix.
    #[error(
        "model string `{0}` names no provider: write it as provider:model, such as \
         anthropic:claude-sonnet-4-5 (providers: openai, openai-chat, ollama, anthropic, gemini, test)"
    )]
    NoProvider(String),
    /// The prefix is not a provider agentos knows.
    #[error(
        "unknown model provider `{provider}` (known: openai, openai-chat, ollama, anthropic, \
         gemini, test)"
    )]
    UnknownProvider {
        /// The prefix as written.
        provider: String,
    },
    /// Nothing follows the colon.
    #[error("model string `{0}` names no model after the provider")]
    NoModel(String),
    /// The provider needs an environment variable that is not set.
    #[error("{variable} is not set: the model `{model}` needs it")]
    MissingVariable {
        /// The variable to set, such as `ANTHROPIC_API_KEY`.
        variable: &'static str,
        /// The model string that needs it.
        model: String,
    },
}

/// A factory that picks its model from a string returns this error as a 500 whose cause,
/// naming the variable to set, stays in the server log.
impl From<ModelConfigError> for FactoryError {
    fn from(error: ModelConfigError) -> Self {
        FactoryError::internal(error)
    }
}

/// The environment variables models read, snapshotted: keys and base URLs per provider, under
/// the names the providers' own SDKs use.
///
/// [`ProviderEnv::from_process`] reads the process's environment; a test or a server that
/// keeps keys elsewhere (per tenant, say) builds one with [`ProviderEnv::set`].
///
/// ```
/// use agentos_runtime::model::ProviderEnv;
///
/// let env = ProviderEnv::empty().set("ANTHROPIC_API_KEY", "sk-ant-test");
/// let model = env.model("anthropic:claude-sonnet-4-5").unwrap();
/// assert_eq!(model.provider(), "Anthropic");
/// let missing = ProviderEnv::empty().model("gemini:gemini-2.5-flash").unwrap_err();
/// assert!(missing.to_string().contains("GEMINI_API_KEY"));
/// ```
#[derive(Clone, Default)]
pub struct ProviderEnv {
    vars: BTreeMap<&'static str, Arc<str>>,
}

impl ProviderEnv {
    /// Every variable a provider reads, and nothing else.
    pub const VARIABLES: [&'static str; 7] = [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "GEMINI_API_KEY",
        "GEMINI_BASE_URL",
        "OLLAMA_HOST",
    ];

    /// No variables set.
    pub fn empty() -> Self {
        ProviderEnv::default()
    }

    /// The process's values of [`VARIABLES`](Self::VARIABLES); empty values count as unset.
    pub fn from_process() -> Self {
        Self::VARIABLES
            .into_iter()
            .fold(ProviderEnv::empty(), |env, name| {
                match std::env::var(name) {
                    Ok(value) => env.set(name, value),
                    Err(_) => env,
                }
            })
    }

    /// Sets `name` (one of [`VARIABLES`](Self::VARIABLES); others are never read) to `value`.
    pub fn set(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value: String = value.into();
        if value.is_empty() {
            self.vars.remove(name);
        } else {
            self.vars.insert(name, Arc::from(value));
        }
        self
    }

    fn get(&self, name: &'static str) -> Option<&str> {
        self.vars.get(name).map(|value| &**value)
    }

    /// Whether `name` is set (to something not empty).
    pub(super) fn has(&self, name: &'static str) -> bool {
        self.vars.contains_key(name)
    }

    /// An OpenAI Responses model with this environment's key and base URL, whichever are set.
    pub(super) fn openai(&self, id: impl Into<String>) -> OpenAIResponses {
        let mut model = OpenAIResponses::new(id);
        if let Some(key) = self.get("OPENAI_API_KEY") {
            model = model.with_api_key(key);
        }
        if let Some(url) = self.get("OPENAI_BASE_URL") {
            model = model.with_base_url(url);
        }
        model
    }

    fn require(&self, name: &'static str, spec: &ModelSpec) -> Result<&str, ModelConfigError> {
        self.get(name)
            .ok_or_else(|| ModelConfigError::MissingVariable {
                variable: name,
                model: spec.to_string(),
            })
    }

    /// The model a model string names, with this environment's key and base URL.
    pub fn model(&self, spec: &str) -> Result<ModelHandle, ModelConfigError> {
        self.build(&spec.parse()?)
    }

    /// The model `spec` names, with this environment's key and base URL.
    pub fn build(&self, spec: &ModelSpec) -> Result<ModelHandle, ModelConfigError> {
        let id = spec.model.clone();
        Ok(match spec.provider {
            Provider::OpenAI => {
                // A base URL alone is enough: a gateway or a mock may not want a key.
                if !self.has("OPENAI_BASE_URL") {
                    self.require("OPENAI_API_KEY", spec)?;
                }
                Arc::new(self.openai(id))
            }
            Provider::OpenAIChat => {
                let url = self.require("OPENAI_BASE_URL", spec)?;
                let mut model = OpenAIChat::new(id).with_base_url(url);
                if let Some(key) = self.get("OPENAI_API_KEY") {
                    model = model.with_api_key(key);
                }
                Arc::new(model)
            }
            Provider::Ollama => {
                let host = self.get("OLLAMA_HOST").unwrap_or("http://localhost:11434");
                // Ollama's own variable is often a bare `host:port`.
                let host = if host.contains("://") {
                    host.trim_end_matches('/').to_string()
                } else {
                    format!("http://{}", host.trim_end_matches('/'))
                };
                // Ollama ignores the key, but OpenAI's clients must send one.
                Arc::new(
                    OpenAIChat::new(id)
                        .with_base_url(format!("{host}/v1"))
                        .with_api_key("ollama"),
                )
            }
            Provider::Anthropic => {
                let mut model =
                    Claude::new(id).with_api_key(self.require("ANTHROPIC_API_KEY", spec)?);
                if let Some(url) = self.get("ANTHROPIC_BASE_URL") {
                    model = model.with_base_url(url);
                }
                Arc::new(model)
            }
            Provider::Gemini => {
                let mut model = Gemini::new(id).with_api_key(self.require("GEMINI_API_KEY", spec)?);
                if let Some(url) = self.get("GEMINI_BASE_URL") {
                    model = model.with_base_url(url);
                }
                Arc::new(model)
            }
            Provider::Test => Arc::new(TestModel::with_id(id)),
        })
    }
}

impl fmt::Debug for ProviderEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: the values are keys.
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// The model a model string names (`anthropic:claude-sonnet-4-5`), with the key and base URL
/// of its provider from the process's environment. A factory can pick a provider per tenant
/// or per member from its input or the caller's claims:
///
/// ```
/// use agentos_runtime::model;
///
/// let model = model::from_str("test:any-model").unwrap();
/// assert_eq!(model.id(), "any-model");
/// assert!(model::from_str("mystery:model").is_err());
/// ```
pub fn from_str(spec: &str) -> Result<ModelHandle, ModelConfigError> {
    ProviderEnv::from_process().model(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_strings_parse_into_provider_and_model() {
        let spec: ModelSpec = "ollama:llama3.2:1b".parse().unwrap();
        assert_eq!(spec.provider, Provider::Ollama);
        assert_eq!(spec.model, "llama3.2:1b");
        assert_eq!(spec.to_string(), "ollama:llama3.2:1b");
        let google: ModelSpec = "Google:gemini-2.5-flash".parse().unwrap();
        assert_eq!(google.provider, Provider::Gemini);
        for name in Provider::NAMES {
            let spec: ModelSpec = format!("{name}:m").parse().unwrap();
            assert_eq!(spec.provider.name(), name);
        }
    }

    #[test]
    fn bad_model_strings_say_what_is_wrong() {
        let error = "gpt-5.4".parse::<ModelSpec>().unwrap_err();
        assert!(matches!(error, ModelConfigError::NoProvider(_)));
        assert!(error.to_string().contains("provider:model"));
        let error = "azure:gpt".parse::<ModelSpec>().unwrap_err();
        assert!(error.to_string().contains("`azure`"), "{error}");
        let error = "anthropic: ".parse::<ModelSpec>().unwrap_err();
        assert!(matches!(error, ModelConfigError::NoModel(_)));
    }

    #[test]
    fn a_missing_key_names_its_variable_and_no_value() {
        let env = ProviderEnv::empty().set("GEMINI_BASE_URL", "http://127.0.0.1:9");
        for (spec, variable) in [
            ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
            ("gemini:gemini-2.5-flash", "GEMINI_API_KEY"),
            ("openai:gpt-5.4", "OPENAI_API_KEY"),
            ("openai-chat:qwen", "OPENAI_BASE_URL"),
        ] {
            let error = env.model(spec).unwrap_err();
            assert_eq!(
                error,
                ModelConfigError::MissingVariable {
                    variable,
                    model: spec.to_string()
                }
            );
        }
    }

    #[test]
    fn providers_come_out_as_agno_names_them() {
        let env = ProviderEnv::empty()
            .set("ANTHROPIC_API_KEY", "a")
            .set("GEMINI_API_KEY", "g")
            .set("OPENAI_API_KEY", "o")
            .set("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
        let label = |spec: &str| {
            let model = env.model(spec).unwrap();
            (
                model.provider().to_string(),
                model.provider_label().to_string(),
            )
        };
        assert_eq!(label("anthropic:c"), ("Anthropic".into(), "Claude".into()));
        assert_eq!(label("gemini:g"), ("Google".into(), "Gemini".into()));
        assert_eq!(
            label("openai:o"),
            ("OpenAI".into(), "OpenAI Responses".into())
        );
        assert_eq!(
            label("openai-chat:o"),
            ("OpenAI".into(), "OpenAI Chat".into())
        );
        assert_eq!(
            label("ollama:llama3.2"),
            ("OpenAI".into(), "OpenAI Chat".into())
        );
        assert_eq!(label("test:t"), ("Test".into(), "Test Model".into()));
    }

    #[test]
    fn debug_shows_names_not_keys() {
        let env = ProviderEnv::empty().set("ANTHROPIC_API_KEY", "sk-ant-secret");
        let shown = format!("{env:?}");
        assert!(shown.contains("ANTHROPIC_API_KEY"));
        assert!(!shown.contains("sk-ant-secret"));
    }
}
