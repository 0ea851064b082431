//! What every handler shares: the components, the configuration, and the runs in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::JwtAuth;
use crate::agent::Agent;
use crate::resolve::Resolver;
use crate::run::RunOutput;
use crate::team::Team;

/// Settings of the HTTP server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The OS id reported by `/config`.
    pub os_id: String,
    /// A description reported by `/config`.
    pub description: Option<String>,
    /// How long a factory may take before the request answers 504.
    pub factory_timeout: Duration,
    /// The largest request body accepted (413 above it).
    pub body_limit: usize,
    /// On shutdown, how long in-flight runs may take to finish.
    pub shutdown_grace: Duration,
    /// How many finished runs are kept in memory for the run routes.
    pub retained_runs: usize,
    /// Whether `GET /playground` serves the browser page.
    pub playground: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            os_id: "agentos".to_owned(),
            description: None,
            factory_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            retained_runs: 10_000,
            playground: false,
        }
    }
}

/// The shared state behind an [`crate::AgentOs`].
pub(crate) struct OsState {
    pub(crate) teams: Vec<Resolver<Team>>,
    pub(crate) agents: Vec<Resolver<Agent>>,
    pub(crate) config: ServerConfig,
    /// JWT verification; `None` serves without authentication.
    pub(crate) auth: Option<std::sync::Arc<JwtAuth>>,
    pub(crate) runs: RunRegistry,
    /// Every spawned run, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Cancelled when the server begins to shut down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) started_at: String,
}

/// Runs in flight (cancellable) and the latest finished ones.
#[derive(Default)]
pub(crate) struct RunRegistry {
    active: Mutex<HashMap<String, CancellationToken>>,
    finished: Mutex<FinishedRuns>,
}

#[derive(Default)]
struct FinishedRuns {
    order: VecDeque<String>,
    by_id: HashMap<String, RunOutput>,
}

impl RunRegistry {
    pub(crate) fn start(&self, run_id: &str, token: CancellationToken) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_owned(), token);
    }

    /// Cancels a run in flight; false when no such run is running here.
    pub(crate) fn cancel(&self, run_id: &str) -> bool {
        let active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        match active.get(run_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn finish(&self, output: RunOutput, keep: usize) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&output.run_id);
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        finished.order.push_back(output.run_id.clone());
        finished.by_id.insert(output.run_id.clone(), output);
        while finished.order.len() > keep {
            if let Some(oldest) = finished.order.pop_front() {
                finished.by_id.remove(&oldest);
            }
        }
    }

    pub(crate) fn get(&self, run_id: &str) -> Option<RunOutput> {
        self.finished
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .get(run_id)
            .cloned()
    }

    pub(crate) fn in_session(&self, session_id: &str) -> Vec<RunOutput> {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        finished
            .order
            .iter()
            .filter_map(|id| finished.by_id.get(id))
            .filter(|run| run.session_id == session_id)
            .cloned()
            .collect()
    }

    pub(crate) fn is_active(&self, run_id: &str) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(run_id)
    }
}
