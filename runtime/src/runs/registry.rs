//! The runs this process is running, each with the token that cancels it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::run::EventLog;

/// A run in flight here: the token that cancels it and, for a streamed or background run, the
/// log its events go to.
#[derive(Debug)]
struct Entry {
    cancel: CancellationToken,
    log: Option<Arc<EventLog>>,
}

/// Runs in flight here. A run is registered for exactly as long as its [`Registered`] guard
/// lives, so no exit path (an answer, a cancel, a panic, an aborted task) leaves it behind.
#[derive(Debug, Default)]
pub(crate) struct RunRegistry {
    active: Mutex<HashMap<String, Entry>>,
}

impl RunRegistry {
    /// Registers `run_id` with the token that cancels it and its event log, until the guard
    /// is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        run_id: &str,
        cancel: CancellationToken,
        log: Option<Arc<EventLog>>,
    ) -> Registered {
        self.lock().insert(run_id.to_owned(), Entry { cancel, log });
        Registered {
            registry: Arc::clone(self),
            run_id: run_id.to_owned(),
        }
    }

    /// Cancels a run in flight here; false when this process is not running it.
    pub(crate) fn cancel(&self, run_id: &str) -> bool {
        match self.lock().get(run_id) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancels every run in flight here; returns how many.
    pub(crate) fn cancel_all(&self) -> usize {
        let active = self.lock();
        for entry in active.values() {
            entry.cancel.cancel();
        }
        active.len()
    }

    /// The event log of a run in flight here.
    pub(crate) fn log(&self, run_id: &str) -> Option<Arc<EventLog>> {
        self.lock().get(run_id).and_then(|entry| entry.log.clone())
    }

    /// The ids of the runs in flight here.
    pub(crate) fn active_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// How many runs are in flight here.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
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
