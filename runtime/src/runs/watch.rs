//! The watcher: keeps this process's runs in step with the store.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::registry::RunRegistry;
use crate::store::{STALE_AFTER, Store};
use crate::time::now_micros;

/// Until `stop` is cancelled: stops the runs another replica was asked to cancel, renews their
/// heartbeats, and marks runs whose process died as interrupted. (Expired idempotency keys
/// are the store's housekeeping.)
pub(crate) async fn watch_runs(store: Store, registry: Arc<RunRegistry>, stop: CancellationToken) {
    const POLL: Duration = Duration::from_millis(200);
    const HEARTBEAT_EVERY: u32 = 25; // polls: every 5 s
    const SWEEP_EVERY: u32 = 50; // polls: every 10 s
    let mut tick: u32 = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        tick = tick.wrapping_add(1);
        let active = registry.active_ids();
        if !active.is_empty() {
            match store.cancel_requested(&active).await {
                Ok(cancelled) => {
                    for run_id in cancelled {
                        registry.cancel(&run_id);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not read cancel requests"),
            }
            if tick.is_multiple_of(HEARTBEAT_EVERY)
                && let Err(error) = store.heartbeat(&active).await
            {
                tracing::warn!(%error, "could not renew run heartbeats");
            }
        }
        if tick.is_multiple_of(SWEEP_EVERY) {
            let stale_before = now_micros() - STALE_AFTER.as_micros() as i64;
            if let Err(error) = store.mark_interrupted(stale_before).await {
                tracing::warn!(%error, "could not sweep interrupted runs");
            }
        }
    }
}
