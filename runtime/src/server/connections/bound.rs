//! The bound on open connections: the places they hold, the reserve kept for health checks,
//! and closing the connection idle the longest to make room for a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::activity::Activity;
use super::limits::{EVICTION_WAIT, Settings};

/// What one server's connections share.
pub(super) struct Shared {
    pub(super) settings: Settings,
    pub(super) router: Router,
    /// The time base of every connection's clock.
    pub(super) epoch: Instant,
    pub(super) ordinary: Arc<Semaphore>,
    pub(super) reserve: Arc<Semaphore>,
    pub(super) refusals: Arc<Semaphore>,
    /// The ordinary connections, so a new one can close the one idle the longest.
    pub(super) open: Mutex<HashMap<u64, Arc<Activity>>>,
    pub(super) next_id: AtomicU64,
    pub(super) closing: CancellationToken,
    /// When the bound was last reported, in ms since `epoch` (plus one; 0 = never).
    pub(super) last_full_warning: AtomicU64,
}

/// How a connection is served, and the place it holds until it closes.
pub(super) struct Place {
    /// Within the bound, as usual; else the bound is reached and it serves one request,
    /// health routes only.
    pub(super) ordinary: bool,
    pub(super) _permit: OwnedSemaphorePermit,
}

impl Place {
    pub(super) fn ordinary(permit: OwnedSemaphorePermit) -> Self {
        Place {
            ordinary: true,
            _permit: permit,
        }
    }
}

impl Shared {
    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn warn_full(&self) {
        let now = self.now_ms() + 1;
        let last = self.last_full_warning.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) > 30_000)
            && self
                .last_full_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                max_connections = self.settings.max_connections,
                "connection bound reached: new connections close idle ones, else answer health checks only"
            );
        }
    }

    /// The bound is reached: closes the connection idle the longest, if there is one, and
    /// waits briefly for its place; else serves health checks on a reserved place.
    pub(super) async fn make_room(&self, reserved: OwnedSemaphorePermit) -> Place {
        // A place may have come free since the accept.
        if let Ok(permit) = Arc::clone(&self.ordinary).try_acquire_owned() {
            return Place::ordinary(permit);
        }
        if self.evict_longest_idle()
            && let Ok(Ok(permit)) =
                tokio::time::timeout(EVICTION_WAIT, Arc::clone(&self.ordinary).acquire_owned())
                    .await
        {
            return Place::ordinary(permit);
        }
        Place {
            ordinary: false,
            _permit: reserved,
        }
    }

    pub(super) fn evict_longest_idle(&self) -> bool {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let longest = open
            .values()
            .filter(|activity| activity.evictable())
            .min_by_key(|activity| activity.idle_since.load(Ordering::Relaxed));
        match longest {
            Some(activity) => {
                activity.evict.store(true, Ordering::Release);
                activity.changed.notify_one();
                true
            }
            None => false,
        }
    }
}

/// An ordinary connection's entry among the open ones, removed when it closes.
pub(super) struct Registered {
    pub(super) shared: Arc<Shared>,
    pub(super) id: u64,
}

impl Registered {
    pub(super) fn new(shared: &Arc<Shared>, activity: &Arc<Activity>) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        shared
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(id, Arc::clone(activity));
        Registered {
            shared: Arc::clone(shared),
            id,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.id);
    }
}
