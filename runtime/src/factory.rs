//! Factories: functions that build a component for each request.
//!
//! `#[team_factory]` and `#[agent_factory]` implement [`Factory`] for the annotated function;
//! a built [`Team`] or [`Agent`] implements it too, as a prototype that every request gets a copy
//! of. The server only ever sees factories, so static and per-request components go through the
//! same resolution pipeline (see [`crate::resolve`]).

use std::future::Future;

use serde_json::{Map, Value};

use crate::agent::Agent;
use crate::component::Component;
use crate::component::MultitaskStrategy;
use crate::context::RequestContext;
use crate::error::FactoryError;
use crate::team::Team;
use crate::workflow::Workflow;

/// What discovery says about a factory, fixed when it is registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FactoryInfo {
    /// The id it is served under (`/teams/{id}/runs`).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// What it builds, for people.
    pub description: Option<String>,
    /// Scopes the caller must hold before the factory runs.
    pub scopes: Vec<String>,
    /// True for a factory, false for a static prototype component.
    pub is_factory: bool,
    /// What a run does when its session is busy, unless the request says; the server's default
    /// when `None`.
    pub multitask: Option<MultitaskStrategy>,
}

impl FactoryInfo {
    /// A factory served under `id`.
    pub fn factory(id: impl Into<String>) -> Self {
        FactoryInfo {
            id: id.into(),
            name: None,
            description: None,
            scopes: Vec::new(),
            is_factory: true,
            multitask: None,
        }
    }

    /// A static component served under `id`.
    pub fn prototype(id: impl Into<String>) -> Self {
        FactoryInfo {
            is_factory: false,
            ..Self::factory(id)
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets what a run does when its session is busy.
    pub fn with_multitask(mut self, strategy: MultitaskStrategy) -> Self {
        self.multitask = Some(strategy);
        self
    }

    /// Sets the required scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// Builds a component for one request.
///
/// Implemented by `#[team_factory]` / `#[agent_factory]` functions and by static [`Team`]s and
/// [`Agent`]s. Call [`Factory::build`] directly in a unit test:
///
/// ```
/// use agentos_runtime::{Factory, RequestContext, Team};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let prototype = Team::new("Support Team");
/// let built = prototype.build(RequestContext::test(())).await.unwrap();
/// assert_eq!(built.id(), "support-team");
/// # });
/// ```
pub trait Factory: Send + Sync + 'static {
    /// The validated input the factory receives (`()` when it takes none).
    type Input: Send + 'static;
    /// What it builds: [`Team`] or [`Agent`].
    type Output: Component;

    /// Id, name, description, scopes.
    fn info(&self) -> FactoryInfo;

    /// JSON Schema of the input, or `None` when the factory takes none.
    fn input_schema(&self) -> Option<Value>;

    /// Deserializes and validates `factory_input` (already known to be a JSON object).
    fn parse_input(&self, input: Map<String, Value>) -> Result<Self::Input, FactoryError>;

    /// The component itself, when it is a static prototype that every request gets a copy
    /// of: discovery then describes it in full. A factory answers `None` (the default), and
    /// discovery describes it from its info alone, without calling it.
    fn prototype(&self) -> Option<&Self::Output> {
        None
    }

    /// Builds the component for one request.
    fn build(
        &self,
        ctx: RequestContext<Self::Input>,
    ) -> impl Future<Output = Result<Self::Output, FactoryError>> + Send;
}

/// A [`Factory`] that builds a [`Team`].
pub trait TeamFactory: Factory<Output = Team> {}
impl<F: Factory<Output = Team>> TeamFactory for F {}

/// A [`Factory`] that builds an [`Agent`].
pub trait AgentFactory: Factory<Output = Agent> {}
impl<F: Factory<Output = Agent>> AgentFactory for F {}

/// A [`Factory`] that builds a [`Workflow`].
pub trait WorkflowFactory: Factory<Output = Workflow> {}
impl<F: Factory<Output = Workflow>> WorkflowFactory for F {}

/// A static component is its own factory: each request gets a fresh copy of the prototype.
macro_rules! prototype_factory {
    ($component:ty) => {
        impl Factory for $component {
            type Input = ();
            type Output = $component;

            fn info(&self) -> FactoryInfo {
                let mut info = FactoryInfo::prototype(self.id()).with_name(self.name());
                info.description = self.description().map(str::to_owned);
                info.multitask = self.multitask_strategy();
                info
            }

            fn input_schema(&self) -> Option<Value> {
                None
            }

            fn parse_input(&self, _input: Map<String, Value>) -> Result<(), FactoryError> {
                Ok(())
            }

            fn prototype(&self) -> Option<&$component> {
                Some(self)
            }

            fn build(
                &self,
                _ctx: RequestContext<()>,
            ) -> impl Future<Output = Result<$component, FactoryError>> + Send {
                std::future::ready(Ok(self.clone()))
            }
        }
    };
}

prototype_factory!(Team);
prototype_factory!(Agent);
prototype_factory!(Workflow);
