//! What every handler shares: the components, the configuration, and the runs in flight.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::JwtAuth;
use crate::agent::Agent;
use crate::resolve::Resolver;
use crate::store::Store;
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
    /// Sessions and runs.
    pub(crate) store: Store,
    /// Every spawned run, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Cancelled when the server begins to shut down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) started_at: String,
}

/// The runs this process is running, each with the token that cancels it.
#[derive(Default)]
pub(crate) struct RunRegistry {
    active: Mutex<HashMap<String, CancellationToken>>,
}

impl RunRegistry {
    pub(crate) fn start(&self, run_id: &str, token: CancellationToken) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_owned(), token);
    }

    pub(crate) fn finish(&self, run_id: &str) {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(run_id);
    }

    /// Cancels a run in flight here; false when this process is not running it.
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

    /// The ids of the runs in flight here.
    pub(crate) fn active_ids(&self) -> Vec<String> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

/// Keeps this process's runs in step with the store until shutdown: stops the runs another
/// replica was asked to cancel, renews their heartbeats, and marks runs whose process died as
/// interrupted.
pub(crate) async fn watch_runs(state: std::sync::Arc<OsState>) {
    const POLL: Duration = Duration::from_millis(200);
    const HEARTBEAT_EVERY: u32 = 50; // polls: every 10 s
    const SWEEP_EVERY: u32 = 150; // polls: every 30 s
    let mut tick: u32 = 0;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        tick = tick.wrapping_add(1);
        let active = state.runs.active_ids();
        if !active.is_empty() {
            match state.store.cancel_requested(&active).await {
                Ok(cancelled) => {
                    for run_id in cancelled {
                        state.runs.cancel(&run_id);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not read cancel requests"),
            }
            if tick.is_multiple_of(HEARTBEAT_EVERY)
                && let Err(error) = state.store.heartbeat(&active).await
            {
                tracing::warn!(%error, "could not renew run heartbeats");
            }
        }
        if tick.is_multiple_of(SWEEP_EVERY) {
            let stale_before =
                crate::store::now_micros() - crate::store::STALE_AFTER.as_micros() as i64;
            if let Err(error) = state.store.mark_interrupted(stale_before).await {
                tracing::warn!(%error, "could not sweep interrupted runs");
            }
        }
    }
}
