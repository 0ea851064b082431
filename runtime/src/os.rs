//! `AgentOs`: the set of components a server serves, and how it is assembled.

use std::any::{TypeId, type_name};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::component::{Component, ComponentKind, MultitaskStrategy};
use crate::factory::{AgentFactory, Factory, TeamFactory, WorkflowFactory};
use crate::metrics::Metrics;
use crate::resolve::{Components, Resolver};
use crate::runs::{RunService, RunSettings, UserLimits, watch_runs};
use crate::server::{self, JwtAuth, OsState, ServerConfig};
use crate::store::{Db, Retention, Store, housekeeping};
use crate::team::Team;
use crate::workflow::Workflow;

/// Why [`AgentOsBuilder::build`] refused the configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Two components of one kind share an id; requests could not tell them apart.
    #[error("duplicate {kind} id '{id}': registered by both `{first}` and `{second}`", kind = .kind.as_str())]
    DuplicateId {
        /// Team or agent.
        kind: ComponentKind,
        /// The shared id.
        id: String,
        /// The Rust type of the first registration.
        first: &'static str,
        /// The Rust type of the second.
        second: &'static str,
    },
    /// The session store could not be opened.
    #[error("cannot open the session store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A factory id that cannot appear in a route.
    #[error("invalid {kind} id '{id}' from `{factory}`: use lowercase letters, digits, '-' and '_' (at most 64)", kind = .kind.as_str())]
    InvalidId {
        /// Team or agent.
        kind: ComponentKind,
        /// The id.
        id: String,
        /// The Rust type that declared it.
        factory: &'static str,
    },
    /// `AgentOsBuilder::agui` names a component the OS does not serve.
    #[error("the AG-UI component {kind} '{id}' is not served by this OS", kind = .kind.as_str())]
    UnknownAguiComponent {
        /// Team, agent or workflow.
        kind: ComponentKind,
        /// The id named.
        id: String,
    },
    /// Two steps of a workflow share a name: their outputs, kept by name, would clash.
    #[error("workflow '{workflow}' has two steps named '{step}': step names must be unique")]
    DuplicateStepName {
        /// The workflow's id.
        workflow: String,
        /// The name used twice.
        step: String,
    },
}

/// A factory found by [`AgentOsBuilder::discover`]. The factory macros submit one per
/// annotated function.
pub enum Discovered {
    /// A team factory.
    Team(fn() -> Registration<Team>),
    /// An agent factory.
    Agent(fn() -> Registration<Agent>),
    /// A workflow factory.
    Workflow(fn() -> Registration<Workflow>),
}

inventory::collect!(Discovered);

/// A factory with the Rust type it came from, so duplicates can be named and a factory
/// registered twice (explicitly and by discovery) counted once.
pub struct Registration<C: Component> {
    resolver: Resolver<C>,
    type_id: TypeId,
    type_name: &'static str,
}

impl<C: Component> Registration<C> {
    /// Registers `factory`.
    pub fn new<F: Factory<Output = C>>(factory: F) -> Self {
        Registration {
            resolver: Resolver::new(factory),
            type_id: TypeId::of::<F>(),
            type_name: type_name::<F>(),
        }
    }
}

/// Assembles an [`AgentOs`].
///
/// ```
/// use agentos_runtime::{Agent, AgentOs, Team};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let os = AgentOs::builder()
///     .team(Team::new("Support Team"))
///     .agent(Agent::new("Helper"))
///     .build()
///     .await
///     .unwrap();
/// assert!(os.team("support-team").is_some());
/// # });
/// ```
#[derive(Default)]
pub struct AgentOsBuilder {
    teams: Vec<Registration<Team>>,
    agents: Vec<Registration<Agent>>,
    workflows: Vec<Registration<Workflow>>,
    config: ServerConfig,
    auth: Option<JwtAuth>,
    db: Option<Db>,
    multitask: MultitaskStrategy,
    store_retry_window: Option<Duration>,
    limits: Option<UserLimits>,
    retention: Option<Retention>,
}

impl AgentOsBuilder {
    /// Serves a team factory, or a static [`Team`].
    pub fn team(mut self, factory: impl TeamFactory) -> Self {
        self.teams.push(Registration::new(factory));
        self
    }

    /// Serves an agent factory, or a static [`Agent`].
    pub fn agent(mut self, factory: impl AgentFactory) -> Self {
        self.agents.push(Registration::new(factory));
        self
    }

    /// Serves a workflow factory, or a static [`Workflow`].
    pub fn workflow(mut self, factory: impl WorkflowFactory) -> Self {
        self.workflows.push(Registration::new(factory));
        self
    }

    /// Adds every factory annotated with `#[team_factory]`, `#[agent_factory]` or
    /// `#[workflow_factory]` in the binary. Factories already added explicitly are not added twice.
    ///
    /// Registrations live in the crate that defines the factory; when that crate is linked
    /// but none of its items is used, the linker drops them. Keep such a crate with
    /// `use my_factories as _;`.
    pub fn discover(mut self) -> Self {
        for discovered in inventory::iter::<Discovered> {
            match discovered {
                Discovered::Team(make) => push_new(&mut self.teams, make()),
                Discovered::Agent(make) => push_new(&mut self.agents, make()),
                Discovered::Workflow(make) => push_new(&mut self.workflows, make()),
            }
        }
        self
    }

    /// Where sessions and runs are stored (default: in memory, kept for the process's life).
    pub fn db(mut self, db: Db) -> Self {
        self.db = Some(db);
        self
    }

    /// Verifies a JWT on every route but `/health` and `/openapi.json`.
    pub fn auth(mut self, auth: JwtAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Serves the playground page at `GET /playground` (off by default).
    pub fn playground(mut self, enabled: bool) -> Self {
        self.config.playground = enabled;
        self
    }

    /// Serves agentos over MCP at `/mcp` (streamable HTTP) on the same port, with the same
    /// authentication and scopes as the REST routes (off by default). Its `Host` check answers
    /// the loopback names only; [`mcp_config`](Self::mcp_config) lists a deployment's own.
    pub fn mcp(mut self, enabled: bool) -> Self {
        self.config.mcp = enabled.then(crate::server::McpConfig::default);
        self
    }

    /// Serves MCP at `/mcp` with these settings.
    pub fn mcp_config(mut self, config: crate::server::McpConfig) -> Self {
        self.config.mcp = Some(config);
        self
    }

    /// Serves the component `kind`/`id` at `POST /agui` as well, as agno's single-component
    /// AG-UI interface does (every component is at `/agui/{agents,teams,workflows}/{id}`).
    pub fn agui(mut self, kind: ComponentKind, id: impl Into<String>) -> Self {
        self.config.agui = Some((kind, id.into()));
        self
    }

    /// The OS id `/config` reports.
    pub fn os_id(mut self, id: impl Into<String>) -> Self {
        self.config.os_id = id.into();
        self
    }

    /// The name `/config` reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// The id `/config` and discovery give the session database (agno's `db_id`; default
    /// `agentos-db`).
    pub fn db_id(mut self, id: impl Into<String>) -> Self {
        self.config.db_id = id.into();
        self
    }

    /// The browser origins allowed to call the API (CORS), such as
    /// `https://app.example.com`; `*` allows any. Without this, `AGENTOS_CORS_ORIGINS`
    /// (comma-separated) decides, and without that, agno's control plane and
    /// `http://localhost:3000` are allowed, as agno allows them.
    pub fn cors_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.config.cors_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The description `/config` reports.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.config.description = Some(description.into());
        self
    }

    /// How long a factory may take before its request answers 504 (default 30 s).
    pub fn factory_timeout(mut self, timeout: Duration) -> Self {
        self.config.factory_timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes (default 2 MiB); larger answers 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long in-flight runs may take to finish once shutdown begins (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Connection timeouts (header read, idle keep-alive, body read) and the bound on open
    /// connections; each left unset is read from its `AGENTOS_*` variable, else defaults
    /// (see [`ConnectionLimits`](crate::server::ConnectionLimits)).
    pub fn connection_limits(mut self, limits: crate::server::ConnectionLimits) -> Self {
        self.config.connections = limits;
        self
    }

    /// What a run does when another run of its session is in progress, for components that
    /// do not say (default [`MultitaskStrategy::Allow`], as agno). A request's
    /// `multitask_strategy` field overrides both.
    pub fn multitask_strategy(mut self, strategy: MultitaskStrategy) -> Self {
        self.multitask = strategy;
        self
    }

    /// How long the end of a finished run is retried while the store is away (default 30 s).
    /// A whole answer past it is a 503 naming the run, never a COMPLETED the store lacks.
    pub fn store_retry_window(mut self, window: Duration) -> Self {
        self.store_retry_window = Some(window);
        self
    }

    /// Limits per user (runs a minute, runs at once, model tokens a day); over one, a run
    /// request answers 429 with `Retry-After`. Without this, the `AGENTOS_*_PER_USER`
    /// variables set them (see [`UserLimits::from_env`]).
    pub fn user_limits(mut self, limits: UserLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Deletes sessions not updated for longer than the retention's age, with their runs and
    /// events, in the background (off by default). Without this, `AGENTOS_RETENTION_DAYS`
    /// sets it (see [`Retention::from_env`]).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Checks the configuration and builds the OS.
    pub async fn build(self) -> Result<AgentOs, BuildError> {
        let teams = check_ids(self.teams)?;
        let agents = check_ids(self.agents)?;
        let workflows = check_ids(self.workflows)?;
        // A static workflow's steps are known now; a factory's are checked as it builds.
        for prototype in workflows.iter().filter_map(Resolver::prototype) {
            if let Some(step) = prototype.duplicate_step_name() {
                return Err(BuildError::DuplicateStepName {
                    workflow: prototype.id().to_owned(),
                    step: step.to_owned(),
                });
            }
        }
        let metrics = Arc::new(Metrics::new(
            teams.iter().map(|r| r.info().id.as_str()),
            agents.iter().map(|r| r.info().id.as_str()),
            workflows.iter().map(|r| r.info().id.as_str()),
        ));
        let store = Store::connect(&self.db.unwrap_or(Db::Memory))
            .await?
            .with_metrics(Arc::clone(metrics.store()));
        let retention = self.retention.or_else(Retention::from_env);
        if retention.is_some() {
            store.prepare_to_shrink(64 << 20).await?;
        }
        let components = Arc::new(Components {
            teams,
            agents,
            workflows,
        });
        if let Some((kind, id)) = &self.config.agui
            && !components
                .served(*kind)
                .iter()
                .any(|(info, _)| &info.id == id)
        {
            return Err(BuildError::UnknownAguiComponent {
                kind: *kind,
                id: id.clone(),
            });
        }
        let runs = RunService::new(
            components,
            store.clone(),
            RunSettings {
                factory_timeout: self.config.factory_timeout,
                multitask: self.multitask,
                store_retry_window: self.store_retry_window.unwrap_or(Duration::from_secs(30)),
                limits: self.limits.unwrap_or_else(UserLimits::from_env),
                metrics,
            },
        );
        // The watcher holds no handle to the OS: it stops when the last handle is dropped.
        let background = CancellationToken::new();
        tokio::spawn(watch_runs(
            store.clone(),
            Arc::clone(runs.registry()),
            background.clone(),
        ));
        tokio::spawn(housekeeping(
            store,
            retention,
            background.clone(),
            runs.shutdown_token().clone(),
        ));
        let state = OsState {
            runs,
            config: self.config,
            auth: self.auth.map(Arc::new),
            started_at: crate::time::now_rfc3339(),
            usage_refresh: Default::default(),
            _background: background.drop_guard(),
        };
        Ok(AgentOs {
            state: Arc::new(state),
        })
    }
}

fn push_new<C: Component>(registrations: &mut Vec<Registration<C>>, new: Registration<C>) {
    if !registrations.iter().any(|r| r.type_id == new.type_id) {
        registrations.push(new);
    }
}

fn check_ids<C: Component>(
    registrations: Vec<Registration<C>>,
) -> Result<Vec<Resolver<C>>, BuildError> {
    let mut seen: Vec<&Registration<C>> = Vec::with_capacity(registrations.len());
    for registration in &registrations {
        let id = &registration.resolver.info().id;
        if !is_valid_id(id) {
            return Err(BuildError::InvalidId {
                kind: C::KIND,
                id: id.clone(),
                factory: registration.type_name,
            });
        }
        if let Some(first) = seen.iter().find(|r| &r.resolver.info().id == id) {
            return Err(BuildError::DuplicateId {
                kind: C::KIND,
                id: id.clone(),
                first: first.type_name,
                second: registration.type_name,
            });
        }
        seen.push(registration);
    }
    Ok(registrations.into_iter().map(|r| r.resolver).collect())
}

/// The id rule of the factory macros, checked again for ids built at run time.
pub fn is_valid_id(id: &str) -> bool {
    agentos_core::check_id(id).is_ok()
}

/// The components a server serves, each behind its resolver, and the server around them.
///
/// `router()` gives an axum [`Router`] to nest in an application and layer with tower
/// middleware; `serve(addr)` runs it until ctrl-c or SIGTERM.
#[derive(Clone)]
pub struct AgentOs {
    state: Arc<OsState>,
}

impl AgentOs {
    /// Starts assembling an OS.
    pub fn builder() -> AgentOsBuilder {
        AgentOsBuilder::default()
    }

    /// The team (factory or static) served under `id`.
    pub fn team(&self, id: &str) -> Option<&Resolver<Team>> {
        self.teams().iter().find(|r| r.info().id == id)
    }

    /// The agent (factory or static) served under `id`.
    pub fn agent(&self, id: &str) -> Option<&Resolver<Agent>> {
        self.agents().iter().find(|r| r.info().id == id)
    }

    /// Every team, in registration order.
    pub fn teams(&self) -> &[Resolver<Team>] {
        &self.state.runs.components().teams
    }

    /// Every agent, in registration order.
    pub fn agents(&self) -> &[Resolver<Agent>] {
        &self.state.runs.components().agents
    }

    /// The workflow (factory or static) served under `id`.
    pub fn workflow(&self, id: &str) -> Option<&Resolver<Workflow>> {
        self.workflows().iter().find(|r| r.info().id == id)
    }

    /// Every workflow, in registration order.
    pub fn workflows(&self) -> &[Resolver<Workflow>] {
        &self.state.runs.components().workflows
    }

    /// The session store.
    pub fn store(&self) -> &Store {
        self.state.runs.store()
    }

    /// How many runs this process is running now.
    pub fn runs_in_flight(&self) -> usize {
        self.state.runs.registry().len()
    }

    /// The HTTP API as a router.
    pub fn router(&self) -> Router {
        server::router(Arc::clone(&self.state))
    }

    /// Serves the API on `addr` until ctrl-c or SIGTERM, then lets runs in flight finish
    /// within the grace period.
    pub async fn serve(self, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.serve_on(listener, std::future::pending()).await
    }

    /// Serves on a bound listener until `stop` resolves (or a shutdown signal arrives).
    pub async fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            log_listening(addr);
        }
        let router = self.router();
        server::serve_until(self.state, router, listener, stop).await
    }
}

fn log_listening(addr: SocketAddr) {
    tracing::info!(%addr, "agentos listening");
}
