//! The resolution pipeline: from a request's raw `factory_input` to a built component.
//!
//! One path for every component, factory or static:
//! 1. parse `factory_input` (absent means `{}` so defaults apply; it must be a JSON object),
//! 2. deserialize and validate it (`Factory::parse_input`, garde for typed inputs),
//! 3. check the scopes the factory declared,
//! 4. call the factory, turning a panic into an internal error,
//! 5. post-resolve: the component carries the factory's id, and is refused (an internal
//!    error) if it is not sound, such as a workflow with two steps of one name.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::component::Component;
use crate::context::{RequestContext, RequestParts};
use crate::error::{FactoryError, ValidationErrors};
use crate::factory::{Factory, FactoryInfo};
use crate::input::{MAX_INPUT_DEPTH, text_nests_deeper_than, value_nests_deeper_than};

/// `factory_input` as the client sent it.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RawInput {
    /// Not sent: the factory gets `{}` so its defaults apply.
    #[default]
    Absent,
    /// A form field: JSON text.
    Text(String),
    /// A JSON body's field: already a JSON value (a string is parsed as JSON text).
    Json(Value),
}

impl RawInput {
    /// The input as a JSON object, or the 400 that explains why it is not one.
    pub fn into_object(self) -> Result<Map<String, Value>, FactoryError> {
        let too_deep = || {
            whole_input_error(format!(
                "factory_input must not nest deeper than {MAX_INPUT_DEPTH} levels"
            ))
        };
        let value = match self {
            RawInput::Absent => return Ok(Map::new()),
            RawInput::Text(text) if text.trim().is_empty() => return Ok(Map::new()),
            RawInput::Text(text) | RawInput::Json(Value::String(text)) => {
                if text_nests_deeper_than(text.as_bytes(), MAX_INPUT_DEPTH) {
                    return Err(too_deep());
                }
                serde_json::from_str(&text).map_err(|error| {
                    whole_input_error(format!("factory_input must be valid JSON: {error}"))
                })?
            }
            RawInput::Json(value) if value_nests_deeper_than(&value, MAX_INPUT_DEPTH) => {
                return Err(too_deep());
            }
            RawInput::Json(value) => value,
        };
        match value {
            Value::Object(object) => Ok(object),
            Value::Null => Ok(Map::new()),
            other => Err(whole_input_error(format!(
                "factory_input must be a JSON object, got {}",
                json_kind(&other)
            ))),
        }
    }
}

fn whole_input_error(detail: String) -> FactoryError {
    FactoryError::Validation(ValidationErrors::whole(detail))
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A registered factory with its type erased, ready to resolve requests.
///
/// Its [`FactoryInfo`] and input schema are computed once, at registration; resolving never
/// recomputes them.
pub struct Resolver<C: Component> {
    info: FactoryInfo,
    input_schema: Option<Value>,
    prototype: Option<C>,
    build: Arc<dyn ErasedFactory<C>>,
}

impl<C: Component> Clone for Resolver<C> {
    fn clone(&self) -> Self {
        Resolver {
            info: self.info.clone(),
            input_schema: self.input_schema.clone(),
            prototype: self.prototype.clone(),
            build: Arc::clone(&self.build),
        }
    }
}

impl<C: Component> std::fmt::Debug for Resolver<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("info", &self.info)
            .finish()
    }
}

impl<C: Component> Resolver<C> {
    /// Erases `factory`'s type.
    pub fn new<F: Factory<Output = C>>(factory: F) -> Self {
        Resolver {
            info: factory.info(),
            input_schema: factory.input_schema(),
            prototype: factory.prototype().cloned(),
            build: Arc::new(factory),
        }
    }

    /// Id, name, description, scopes.
    pub fn info(&self) -> &FactoryInfo {
        &self.info
    }

    /// The JSON Schema of the factory's input, if it takes one.
    pub fn input_schema(&self) -> Option<&Value> {
        self.input_schema.as_ref()
    }

    /// The static component served, when this is not a factory.
    pub fn prototype(&self) -> Option<&C> {
        self.prototype.as_ref()
    }

    /// Runs the whole pipeline for one request.
    pub async fn resolve(&self, input: RawInput, parts: RequestParts) -> Result<C, FactoryError> {
        self.resolve_keeping_input(input, parts)
            .await
            .map(|(component, _)| component)
    }

    /// Runs the pipeline and also returns the input object that passed validation, so the
    /// run can be stored with it and replayed.
    pub async fn resolve_keeping_input(
        &self,
        input: RawInput,
        parts: RequestParts,
    ) -> Result<(C, Map<String, Value>), FactoryError> {
        // A static component takes no input, so it ignores whatever `factory_input` says, as
        // agno does; only a factory's is parsed and kept.
        let (object, kept) = if self.info.is_factory {
            let object = input.into_object()?;
            (object.clone(), object)
        } else {
            (Map::new(), Map::new())
        };
        let missing = self
            .info
            .scopes
            .iter()
            .find(|scope| !parts.trusted().has_scope(scope));
        let mut component = self
            .build
            .parse_and_build(object, parts, missing.cloned())
            .await?;
        component.set_id(&self.info.id);
        if let Some(problem) = component.problem() {
            return Err(FactoryError::internal(problem));
        }
        Ok((component, kept))
    }
}

/// The typed part of resolution, behind a trait object so the server holds one type per kind.
trait ErasedFactory<C>: Send + Sync {
    fn parse_and_build(
        &self,
        input: Map<String, Value>,
        parts: RequestParts,
        missing_scope: Option<String>,
    ) -> BoxFuture<'_, Result<C, FactoryError>>;
}

impl<F: Factory> ErasedFactory<F::Output> for F {
    fn parse_and_build(
        &self,
        input: Map<String, Value>,
        parts: RequestParts,
        missing_scope: Option<String>,
    ) -> BoxFuture<'_, Result<F::Output, FactoryError>> {
        Box::pin(async move {
            // Validation comes before the scope check, as the contract orders them: a caller
            // learns about a malformed input even when it lacks the scope.
            let input = self.parse_input(input)?;
            if let Some(scope) = missing_scope {
                return Err(FactoryError::permission(format!(
                    "missing required scope '{scope}'"
                )));
            }
            let ctx = RequestContext::from_parts(input, parts);
            match AssertUnwindSafe(self.build(ctx)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(factory_panicked(panic)),
            }
        })
    }
}

/// A panic inside a factory: the message is logged, the client gets a plain internal error.
pub(crate) fn factory_panicked(panic: Box<dyn Any + Send>) -> FactoryError {
    tracing::error!(panic = %crate::error::panic_message(&*panic), "factory panicked");
    FactoryError::internal("factory panicked")
}

/// The components an OS serves, each behind its resolver, in registration order.
pub(crate) struct Components {
    pub(crate) teams: Vec<Resolver<crate::team::Team>>,
    pub(crate) agents: Vec<Resolver<crate::agent::Agent>>,
    pub(crate) workflows: Vec<Resolver<crate::workflow::Workflow>>,
}

impl Components {
    /// Each component of `kind`: what it is, and its factory's input schema.
    pub(crate) fn served(
        &self,
        kind: crate::component::ComponentKind,
    ) -> Vec<(&FactoryInfo, Option<&Value>)> {
        fn each<C: Component>(resolvers: &[Resolver<C>]) -> Vec<(&FactoryInfo, Option<&Value>)> {
            resolvers
                .iter()
                .map(|r| (r.info(), r.input_schema()))
                .collect()
        }
        match kind {
            crate::component::ComponentKind::Team => each(&self.teams),
            crate::component::ComponentKind::Agent => each(&self.agents),
            crate::component::ComponentKind::Workflow => each(&self.workflows),
        }
    }
}
