//! Support for the code `#[team_factory]`, `#[agent_factory]` and `#[tool]` generate.
//! Not a public API: reached only through `agentos::__private`.

use std::future::Future;

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
