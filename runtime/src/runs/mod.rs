//! The run service: one owner for a run's life, between the HTTP layer and the engine and
//! store.
//!
//! ```text
//! server (extract, call, shape)  ->  RunService  ->  resolve -> run engine
//!                                        |                         |
//!                                        +------> store <----------+
//! ```
//!
//! Every route goes through it, so every route applies the same rules: a session belongs to
//! the user and the component it was created for, and a foreign session, run or history is
//! answered as if it did not exist; nothing the store cannot hold gets past the edge; a run is
//! stored when it starts and when it ends, however it ends (a panic included), and is
//! registered for cancellation exactly as long as its task lives.

mod busy;
mod caller;
mod capture;
mod error;
mod launch;
pub(crate) mod limits;
mod memories;
mod memory_editor;
mod memory_settings;
mod paused;
mod quota;
mod reads;
mod recall;
mod registry;
mod sessions;
mod start;
mod stream;
mod summarize;
mod usage;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::component::MultitaskStrategy;
pub use caller::Caller;
pub use error::{MemoryTextError, RunError};
pub use limits::MAX_ID_BYTES;
pub(crate) use memories::Page;
pub use memories::{MAX_MEMORY_CHARS, MAX_MEMORY_TOPICS, MemoryWrite};
pub use paused::ContinueAsk;
pub(crate) use paused::decisions_from_form;
pub use quota::UserLimits;
pub use reads::Cancelled;
pub(crate) use registry::RunRegistry;
pub use sessions::{SessionChange, SessionCreate};
pub use start::{Answered, RunAnswer, RunAsk};
pub use stream::{RunEvents, StreamItem};
pub(crate) use watch::watch_runs;

use crate::agent::Agent;
use crate::component::{Component, ComponentKind, HistorySettings};
use crate::memory::SessionSummaries;
use crate::metrics::Metrics;
use crate::model::ModelHandle;
use crate::resolve::Components;
use crate::resolve::Resolver;
use crate::run::{
    Decisions, Paused, RunEnv, RunOutput, RunRequest, continue_agent, continue_team,
    continue_workflow, failed_run, run_agent, run_team, run_workflow,
};
use crate::store::Store;
use crate::team::Team;
use crate::workflow::{Step, StepKind, Workflow};
use memory_settings::MemorySettings;

/// What the service needs of a component kind: where its resolvers are, and how to run it.
pub(crate) trait Runnable: Component {
    fn resolvers(components: &Components) -> &[Resolver<Self>];
    fn history(&self) -> HistorySettings;
    fn model(&self) -> Option<&ModelHandle>;
    /// Whether the component or a member, at any depth, has memory settings.
    fn uses_memory(&self) -> bool;
    /// The memory settings a run of it keeps its user's memories with, if any.
    fn memory_settings(&self) -> Option<MemorySettings<'_>>;
    fn session_summaries(&self) -> Option<&SessionSummaries>;
    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput>;
    /// Goes on from where a run of this component paused. `paused` was read as this kind's
    /// ([`Paused::read`]).
    fn resume<'a>(
        &'a self,
        request: &'a RunRequest,
        paused: Paused,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, RunOutput>;
}

/// A paused state of another kind than the component's, which the store never gives: the
/// run fails rather than starting again.
fn not_its_pause<'a, C: Runnable>(
    component: &C,
    request: &'a RunRequest,
    env: &'a RunEnv,
) -> BoxFuture<'a, RunOutput> {
    let output = failed_run(
        C::KIND,
        component.id(),
        component.name(),
        component.model(),
        request,
        env,
    );
    Box::pin(std::future::ready(output))
}

impl Runnable for Team {
    fn resolvers(components: &Components) -> &[Resolver<Self>] {
        &components.teams
    }

    fn history(&self) -> HistorySettings {
        Team::history(self)
    }

    fn model(&self) -> Option<&ModelHandle> {
        Team::model(self)
    }

    fn uses_memory(&self) -> bool {
        Team::uses_memory(self)
    }

    fn memory_settings(&self) -> Option<MemorySettings<'_>> {
        Some(MemorySettings {
            memory: Team::memory(self)?,
            model: Team::model(self),
            kind: ComponentKind::Team,
            id: self.id(),
        })
    }

    fn session_summaries(&self) -> Option<&SessionSummaries> {
        Team::session_summaries(self)
    }

    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput> {
        Box::pin(run_team(self, request, env))
    }

    fn resume<'a>(
        &'a self,
        request: &'a RunRequest,
        paused: Paused,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, RunOutput> {
        match paused {
            Paused::Turn(turn) => Box::pin(continue_team(self, request, *turn, decisions, env)),
            Paused::Workflow(_) => not_its_pause(self, request, env),
        }
    }
}

impl Runnable for Agent {
    fn resolvers(components: &Components) -> &[Resolver<Self>] {
        &components.agents
    }

    fn history(&self) -> HistorySettings {
        Agent::history(self)
    }

    fn model(&self) -> Option<&ModelHandle> {
        Agent::model(self)
    }

    fn uses_memory(&self) -> bool {
        self.memory().is_some()
    }

    fn memory_settings(&self) -> Option<MemorySettings<'_>> {
        Some(MemorySettings {
            memory: Agent::memory(self)?,
            model: Agent::model(self),
            kind: ComponentKind::Agent,
            id: self.id(),
        })
    }

    fn session_summaries(&self) -> Option<&SessionSummaries> {
        Agent::session_summaries(self)
    }

    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput> {
        Box::pin(run_agent(self, request, env))
    }

    fn resume<'a>(
        &'a self,
        request: &'a RunRequest,
        paused: Paused,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, RunOutput> {
        match paused {
            Paused::Turn(turn) => Box::pin(continue_agent(self, request, *turn, decisions, env)),
            Paused::Workflow(_) => not_its_pause(self, request, env),
        }
    }
}

impl Runnable for Workflow {
    fn resolvers(components: &Components) -> &[Resolver<Self>] {
        &components.workflows
    }

    /// A workflow's steps start from its message alone; they read no session history.
    fn history(&self) -> HistorySettings {
        HistorySettings::default()
    }

    fn model(&self) -> Option<&ModelHandle> {
        None
    }

    /// The user's memories are read for its steps' agents and teams that use them.
    fn uses_memory(&self) -> bool {
        Workflow::uses_memory(self)
    }

    /// A workflow has no memory settings of its own: once its run has ended, the first of
    /// its steps' agents and teams (depth first) that captures after its runs captures from
    /// the user's message, once, as that agent or team would after a run of its own. The
    /// steps' own runs capture nothing: they are given other steps' outputs, not the user's
    /// words.
    fn memory_settings(&self) -> Option<MemorySettings<'_>> {
        self.steps()
            .iter()
            .flat_map(Step::walk)
            .filter_map(|step| match step.kind() {
                StepKind::Agent(agent) => agent.memory_settings(),
                StepKind::Team(team) => team.memory_settings(),
                _ => None,
            })
            .find(MemorySettings::capture_after_run)
    }

    fn session_summaries(&self) -> Option<&SessionSummaries> {
        None
    }

    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput> {
        Box::pin(run_workflow(self, request, env))
    }

    fn resume<'a>(
        &'a self,
        request: &'a RunRequest,
        paused: Paused,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, RunOutput> {
        match paused {
            Paused::Workflow(progress) => {
                Box::pin(continue_workflow(self, request, *progress, decisions, env))
            }
            Paused::Turn(_) => not_its_pause(self, request, env),
        }
    }
}

/// The run service of one [`crate::AgentOs`].
pub(crate) struct RunService {
    components: Arc<Components>,
    store: Store,
    registry: Arc<RunRegistry>,
    /// Every run's task, so shutdown can wait for them.
    tracker: TaskTracker,
    /// Cancelled when the server begins to shut down: no new runs.
    shutdown: CancellationToken,
    /// When the shutdown began.
    shutdown_at: std::sync::OnceLock<tokio::time::Instant>,
    /// Cancelled when the shutdown's grace is over: runs still going are stopped and stored
    /// as interrupted.
    hard_stop: CancellationToken,
    factory_timeout: Duration,
    /// What a run does on a busy session when neither it nor its component says.
    multitask: MultitaskStrategy,
    /// How long a finished run's end is retried while the store is away.
    store_retry_window: Duration,
    /// Per-user limits and what each user has used of them.
    quotas: Arc<quota::Quotas>,
    /// The OS's metrics.
    metrics: Arc<Metrics>,
}

/// How a run service is set up.
pub(crate) struct RunSettings {
    pub(crate) factory_timeout: Duration,
    pub(crate) multitask: MultitaskStrategy,
    pub(crate) store_retry_window: Duration,
    pub(crate) limits: UserLimits,
    pub(crate) metrics: Arc<Metrics>,
}

impl RunService {
    pub(crate) fn new(components: Arc<Components>, store: Store, settings: RunSettings) -> Self {
        RunService {
            components,
            store,
            registry: Arc::default(),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            shutdown_at: std::sync::OnceLock::new(),
            hard_stop: CancellationToken::new(),
            factory_timeout: settings.factory_timeout,
            multitask: settings.multitask,
            store_retry_window: settings.store_retry_window,
            quotas: quota::Quotas::new(settings.limits),
            metrics: settings.metrics,
        }
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Lets a run of `caller` start under their limits; a refusal is counted.
    async fn admit(&self, caller: &Caller) -> Result<Option<quota::Slot>, RunError> {
        self.quotas
            .admit(caller.user_id(), &self.store)
            .await
            .inspect_err(|error| {
                if let RunError::LimitExceeded { limit, .. } = error {
                    self.metrics.limit_rejected(limit);
                }
            })
    }

    pub(crate) fn components(&self) -> &Components {
        &self.components
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn registry(&self) -> &Arc<RunRegistry> {
        &self.registry
    }

    /// Stops taking runs and returns what to wait on for the ones in flight.
    pub(crate) fn begin_shutdown(&self) -> &TaskTracker {
        self.shutdown_at.get_or_init(tokio::time::Instant::now);
        self.shutdown.cancel();
        self.tracker.close();
        &self.tracker
    }

    /// How long ago the shutdown began (nothing before it has).
    pub(crate) fn shutting_down_for(&self) -> Duration {
        self.shutdown_at
            .get()
            .map_or(Duration::ZERO, tokio::time::Instant::elapsed)
    }

    /// Stops every run in flight here; each stores its end as interrupted by the shutdown.
    /// Returns how many there were.
    pub(crate) fn interrupt_all(&self) -> usize {
        self.hard_stop.cancel();
        self.registry.cancel_all()
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    fn resolver<C: Runnable>(&self, id: &str) -> Result<&Resolver<C>, RunError> {
        C::resolvers(&self.components)
            .iter()
            .find(|r| r.info().id == id)
            .ok_or(RunError::UnknownComponent(C::KIND))
    }

    /// Whether a component of `kind` is served under `id`.
    pub(crate) fn serves(&self, kind: ComponentKind, id: &str) -> bool {
        match kind {
            ComponentKind::Team => self.resolver::<Team>(id).is_ok(),
            ComponentKind::Agent => self.resolver::<Agent>(id).is_ok(),
            ComponentKind::Workflow => self.resolver::<Workflow>(id).is_ok(),
        }
    }
}
