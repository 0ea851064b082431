//! The runs this process is running, each with the token that cancels it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Runs in flight here. A run is registered for exactly as long as its [`Registered`] guard
/// lives, so no exit path (an answer, a cancel, a panic, an aborted task) leaves it behind.
#[derive(Debug, Default)]
pub(crate) struct RunRegistry {
    active: Mutex<HashMap<String, CancellationToken>>,
}

impl RunRegistry {
    /// Registers `run_id` with the token that cancels it, until the guard is dropped.
    pub(crate) fn register(self: &Arc<Self>, run_id: &str, token: CancellationToken) -> Registered {
        self.lock().insert(run_id.to_owned(), token);
        Registered {
            registry: Arc::clone(self),
            run_id: run_id.to_owned(),
        }
    }

    /// Cancels a run in flight here; false when this process is not running it.
    pub(crate) fn cancel(&self, run_id: &str) -> bool {
        match self.lock().get(run_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The ids of the runs in flight here.
    pub(crate) fn active_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// How many runs are in flight here.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a run registered; dropping it unregisters the run.
#[derive(Debug)]
pub(crate) struct Registered {
    registry: Arc<RunRegistry>,
    run_id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.run_id);
    }
}
