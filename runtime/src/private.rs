//! Support for the code `#[team_factory]`, `#[agent_factory]` and `#[tool]` generate.
//! Not a public API: reached only through `agentos::__private`.

use std::future::Future;

pub use crate::component::MultitaskStrategy;
pub use crate::input::{input_schema, parse_input};
pub use crate::os::Discovered;
pub use crate::resolve::Resolver;
pub use futures_util::future::BoxFuture;
pub use inventory;
pub use serde_json::{Map, Value};

use crate::component::Component;
use crate::error::FactoryError;

/// Checks, at the user's `input = T` token, that `T` can be a factory input.
pub fn assert_factory_input<T>()
where
    T: serde::de::DeserializeOwned + garde::Validate + schemars::JsonSchema + Send + 'static,
    T::Context: Default,
{
}

/// Checks, at the user's function, that its future can move between threads.
pub fn assert_send<F: Future + Send>(future: F) -> F {
    future
}

/// What a factory function may return: the component itself, or a `Result` whose error
/// converts into [`FactoryError`].
#[diagnostic::on_unimplemented(
    message = "a factory must return `{C}` or `Result<{C}, E>` where `E: Into<FactoryError>`, not `{Self}`",
    label = "this return type is not accepted"
)]
pub trait IntoFactoryResult<C> {
    /// The uniform result.
    fn into_factory_result(self) -> Result<C, FactoryError>;
}

impl<C: Component> IntoFactoryResult<C> for C {
    fn into_factory_result(self) -> Result<C, FactoryError> {
        Ok(self)
    }
}

impl<C: Component, E: Into<FactoryError>> IntoFactoryResult<C> for Result<C, E> {
    fn into_factory_result(self) -> Result<C, FactoryError> {
        self.map_err(Into::into)
    }
}

/// Runs a sync factory on the blocking pool, so slow set-up does not stall the server's
/// threads. A panic becomes an internal error.
pub async fn run_blocking<C, R>(
    build: impl FnOnce() -> R + Send + 'static,
) -> Result<C, FactoryError>
where
    C: Component,
    R: IntoFactoryResult<C>,
{
    match tokio::task::spawn_blocking(move || build().into_factory_result()).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(crate::resolve::factory_panicked(error.into_panic())),
        Err(_) => Err(FactoryError::internal("blocking factory was cancelled")),
    }
}

/// The context parameter of a factory function: `RequestContext<I>`, where `I` is the
/// factory's input type. Implemented only for that, so any other parameter type is refused at
/// the user's parameter.
#[diagnostic::on_unimplemented(
    message = "the factory's parameter must be `RequestContext<{I}>`, not `{Self}`",
    label = "expected `RequestContext<{I}>`",
    note = "`input = T` makes the context `RequestContext<T>`; without `input` it is `RequestContext<()>` (or no parameter at all)"
)]
pub trait FactoryContext<I>: Sized {
    /// The context the runtime built.
    fn from_context(ctx: crate::context::RequestContext<I>) -> Self;
}

impl<I> FactoryContext<I> for crate::context::RequestContext<I> {
    fn from_context(ctx: crate::context::RequestContext<I>) -> Self {
        ctx
    }
}

/// Parses and describes a factory's input type `T`.
///
/// The generated code calls `(&InputOf::<T>::new()).parse(..)`. When `T` has the input traits
/// method resolution picks [`CheckedInput`]; when it lacks one it falls back to
/// [`UncheckedInput`], which compiles, so the only error the user sees is the one from
/// [`assert_factory_input`] at their `input = T` token.
pub struct InputOf<T>(std::marker::PhantomData<fn() -> T>);

impl<T> InputOf<T> {
    /// The dispatcher for `T`.
    pub fn new() -> Self {
        InputOf(std::marker::PhantomData)
    }
}

impl<T> Default for InputOf<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The real implementation, for a valid input type.
pub trait CheckedInput<T> {
    /// Deserializes and validates the input.
    fn parse(&self, input: Map<String, Value>) -> Result<T, FactoryError>;
    /// The input's JSON Schema.
    fn schema(&self) -> Value;
}

/// The input traits in one bound. Its `Context: Default` is a bound on an associated type of
/// a supertrait, so a type without `Validate` fails [`CheckedInput`]'s bound quietly instead of
/// reporting an unresolvable `T::Context`.
pub trait FactoryInput:
    serde::de::DeserializeOwned + garde::Validate<Context: Default> + schemars::JsonSchema
{
}

impl<T> FactoryInput for T
where
    T: serde::de::DeserializeOwned + garde::Validate + schemars::JsonSchema,
    T::Context: Default,
{
}

impl<T: FactoryInput> CheckedInput<T> for InputOf<T> {
    fn parse(&self, input: Map<String, Value>) -> Result<T, FactoryError> {
        parse_input::<T>(input)
    }

    fn schema(&self) -> Value {
        input_schema::<T>()
    }
}

/// The fallback for an invalid input type. Only reached in code that does not compile.
pub trait UncheckedInput<T> {
    /// Refuses.
    fn parse(&self, input: Map<String, Value>) -> Result<T, FactoryError>;
    /// Nothing.
    fn schema(&self) -> Value;
}

impl<T> UncheckedInput<T> for &InputOf<T> {
    fn parse(&self, _input: Map<String, Value>) -> Result<T, FactoryError> {
        Err(FactoryError::internal(
            "the factory's input type is not valid",
        ))
    }

    fn schema(&self) -> Value {
        Value::Null
    }
}

pub use crate::tool::ToolDefinition;
pub use crate::tool::{ToolError, ToolFunction};

/// The JSON Schema of a `#[tool]`'s generated arguments struct, without the struct's
/// internal name.
pub fn tool_parameters<A: schemars::JsonSchema>() -> Value {
    let mut schema = input_schema::<A>();
    if let Value::Object(object) = &mut schema {
        object.remove("title");
        object.remove("$schema");
    }
    schema
}

/// Deserializes a model's tool arguments. `null` counts as `{}`, since models send it for a
/// tool without parameters.
pub fn parse_tool_arguments<A: serde::de::DeserializeOwned>(
    tool: &str,
    arguments: Value,
) -> Result<A, ToolError> {
    let arguments = match arguments {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    serde_json::from_value(arguments).map_err(|error| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message: error.to_string(),
    })
}

/// The value a `#[tool]` function returned, on its way to the model as text.
///
/// The generated code calls `(&ToolOutput::new(value)).to_tool_result(name)`: method
/// resolution picks [`ToolResultOfResult`] for a `Result<T: Serialize, E: Display>` and
/// [`ToolResultOfValue`] for any other `T: Serialize`.
pub struct ToolOutput<R>(std::cell::Cell<Option<R>>);

impl<R> ToolOutput<R> {
    /// Wraps what the tool returned.
    pub fn new(value: R) -> Self {
        ToolOutput(std::cell::Cell::new(Some(value)))
    }

    fn take(&self) -> Option<R> {
        self.0.take()
    }
}

/// A successful value as text: a JSON string as itself, anything else as JSON.
fn tool_text<T: serde::Serialize>(tool: &str, value: &T) -> Result<String, ToolError> {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => Ok(text),
        Ok(other) => Ok(other.to_string()),
        Err(error) => Err(ToolError::Failed {
            tool: tool.to_owned(),
            message: format!("could not serialize the result: {error}"),
        }),
    }
}

fn spent(tool: &str) -> ToolError {
    ToolError::Failed {
        tool: tool.to_owned(),
        message: "the result was already taken".to_owned(),
    }
}

/// A tool that returns `Result<T, E>`: `Err` becomes [`ToolError::Failed`].
#[diagnostic::on_unimplemented(
    message = "a tool must return a `Serialize` value or `Result<T: Serialize, E: Display>`, not `{Self}`"
)]
pub trait ToolResultOfResult {
    /// The text for the model, or the failure.
    fn to_tool_result(&self, tool: &str) -> Result<String, ToolError>;
}

impl<T: serde::Serialize, E: std::fmt::Display> ToolResultOfResult for ToolOutput<Result<T, E>> {
    fn to_tool_result(&self, tool: &str) -> Result<String, ToolError> {
        match self.take() {
            Some(Ok(value)) => tool_text(tool, &value),
            Some(Err(error)) => Err(ToolError::Failed {
                tool: tool.to_owned(),
                message: error.to_string(),
            }),
            None => Err(spent(tool)),
        }
    }
}

/// A tool that returns a plain value.
pub trait ToolResultOfValue {
    /// The text for the model.
    fn to_tool_result(&self, tool: &str) -> Result<String, ToolError>;
}

impl<T: serde::Serialize> ToolResultOfValue for &ToolOutput<T> {
    fn to_tool_result(&self, tool: &str) -> Result<String, ToolError> {
        match self.take() {
            Some(value) => tool_text(tool, &value),
            None => Err(spent(tool)),
        }
    }
}
