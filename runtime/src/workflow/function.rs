//! Function steps: Rust functions, sync or async, over what the steps before them produced.
//!
//! A function takes a [`StepInput`] and returns anything that is [`IntoStepResult`]: text,
//! [`Json`] of a serializable value, a [`StepResult`] that may stop the workflow, or a
//! `Result` of any of these whose error fails the step. The compiler checks the signature; a
//! step that reads an earlier step's JSON names the type it expects
//! ([`StepInput::previous_json`]).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a step is given: the workflow's message, and the outputs of the steps that ran before
/// it, by name.
#[derive(Clone, Debug, Default)]
pub struct StepInput {
    message: Arc<str>,
    previous: Option<Arc<str>>,
    outputs: Arc<BTreeMap<String, Arc<str>>>,
}

impl StepInput {
    /// The input of a workflow's first step: its message alone.
    pub fn new(message: impl Into<Arc<str>>) -> Self {
        StepInput {
            message: message.into(),
            previous: None,
            outputs: Arc::default(),
        }
    }

    /// The same input after the step `name` answered `content`: that content is now the
    /// previous step's, and is kept under its name.
    pub fn after(&self, name: &str, content: impl Into<Arc<str>>) -> Self {
        let content = content.into();
        let mut outputs = (*self.outputs).clone();
        outputs.insert(name.to_owned(), Arc::clone(&content));
        StepInput {
            message: Arc::clone(&self.message),
            previous: Some(content),
            outputs: Arc::new(outputs),
        }
    }

    /// The same input, also knowing the outputs `other` knows (the branches of a parallel
    /// step, each of which began from this input).
    pub(crate) fn knowing(&self, other: &StepInput) -> Self {
        let mut outputs = (*self.outputs).clone();
        outputs.extend(
            other
                .outputs
                .iter()
                .map(|(name, content)| (name.clone(), Arc::clone(content))),
        );
        StepInput {
            message: Arc::clone(&self.message),
            previous: self.previous.clone(),
            outputs: Arc::new(outputs),
        }
    }

    /// The message the workflow was run with.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the step before this one produced; `None` for the first step.
    pub fn previous_content(&self) -> Option<&str> {
        self.previous.as_deref()
    }

    /// What the previous step produced, or the workflow's message for the first step.
    pub fn previous_or_message(&self) -> &str {
        self.previous.as_deref().unwrap_or(&self.message)
    }

    /// What the step named `name` produced, when it ran before this one.
    pub fn content_of(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).map(|content| &**content)
    }

    /// The previous step's content read as JSON of `T` (a step that returned [`Json`], or an
    /// agent asked to answer in JSON).
    pub fn previous_json<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        let content = self
            .previous
            .as_deref()
            .ok_or_else(|| StepError::new("there is no previous step to read"))?;
        serde_json::from_str(content)
            .map_err(|error| StepError::new(format!("the previous step's output: {error}")))
    }
}

/// How a step ended when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// What it produced.
    pub content: String,
    /// Whether the workflow ends after it (agno's `stop`).
    pub stop: bool,
}

impl StepResult {
    /// A result the workflow goes on from.
    pub fn new(content: impl Into<String>) -> Self {
        StepResult {
            content: content.into(),
            stop: false,
        }
    }

    /// A result that ends the workflow: the steps after it do not run.
    pub fn stop(content: impl Into<String>) -> Self {
        StepResult {
            content: content.into(),
            stop: true,
        }
    }
}

/// Why a step failed: its message becomes the step's `error` and the run's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StepError(String);

impl StepError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        StepError(message.into())
    }
}

/// A serializable value as a step's output: its JSON text becomes the step's content.
#[derive(Clone, Debug)]
pub struct Json<T>(pub T);

/// What a function step may return.
pub trait IntoStepResult {
    /// The step's result, or why it failed.
    fn into_step_result(self) -> Result<StepResult, StepError>;
}

impl IntoStepResult for StepResult {
    fn into_step_result(self) -> Result<StepResult, StepError> {
        Ok(self)
    }
}

impl IntoStepResult for String {
    fn into_step_result(self) -> Result<StepResult, StepError> {
        Ok(StepResult::new(self))
    }
}

impl IntoStepResult for &'static str {
    fn into_step_result(self) -> Result<StepResult, StepError> {
        Ok(StepResult::new(self))
    }
}

impl<T: Serialize> IntoStepResult for Json<T> {
    fn into_step_result(self) -> Result<StepResult, StepError> {
        serde_json::to_string(&self.0)
            .map(StepResult::new)
            .map_err(|error| StepError::new(format!("the step's output: {error}")))
    }
}

impl<T: IntoStepResult, E: Display> IntoStepResult for Result<T, E> {
    fn into_step_result(self) -> Result<StepResult, StepError> {
        self.map_err(|error| StepError::new(error.to_string()))?
            .into_step_result()
    }
}

/// A function step's body, called once per run of the step.
pub(crate) type StepFunction =
    Arc<dyn Fn(StepInput) -> BoxFuture<'static, Result<StepResult, StepError>> + Send + Sync>;

/// A Rust function that can be a step: `Fn(StepInput) -> R` or `Fn(StepInput) -> impl
/// Future<Output = R>`, with `R: IntoStepResult`. `Marker` tells the two apart; callers never
/// name it.
pub trait IntoStepFunction<Marker>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_step_function(self) -> StepFunction;
}

/// [`IntoStepFunction`]'s marker for plain functions.
#[doc(hidden)]
pub struct Blocking;

/// [`IntoStepFunction`]'s marker for async functions.
#[doc(hidden)]
pub struct Awaited;

impl<F, R> IntoStepFunction<(Blocking, R)> for F
where
    F: Fn(StepInput) -> R + Send + Sync + 'static,
    R: IntoStepResult,
{
    fn into_step_function(self) -> StepFunction {
        Arc::new(move |input| std::future::ready(self(input).into_step_result()).boxed())
    }
}

impl<F, Fut> IntoStepFunction<(Awaited, Fut)> for F
where
    F: Fn(StepInput) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoStepResult,
{
    fn into_step_function(self) -> StepFunction {
        Arc::new(move |input| self(input).map(IntoStepResult::into_step_result).boxed())
    }
}
