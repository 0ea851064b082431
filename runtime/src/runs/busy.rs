//! What happens to a second message on a busy session: the multitask strategy.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::registry::RunRegistry;
use crate::store::{Store, StoreError};

/// How often a queued run, or one waiting for interrupted runs to end, looks again. Polling
/// the store is what makes the order hold across replicas.
const POLL: Duration = Duration::from_millis(50);

/// How long an interrupting run waits for the runs it cancelled to end before it starts anyway.
const INTERRUPT_WAIT: Duration = Duration::from_secs(10);

/// Waits until no run of `session_id` queued before `run_id` is still in progress, or until
/// `cancel` fires. Store errors are waited out.
pub(crate) async fn wait_turn(
    store: &Store,
    session_id: &str,
    run_id: &str,
    cancel: &CancellationToken,
) {
    loop {
        match store.active_runs(session_id).await {
            Ok(active) => {
                // Oldest first: the runs before this one in the list are ahead of it.
                let ahead = active.iter().take_while(|run| run.run_id != run_id).count();
                if ahead == 0 {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, run_id, "could not read the session's queue"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Cancels every run of `session_id` in progress, here or on the replica running it, and
/// waits until they have been stored as ended.
pub(crate) async fn interrupt_session(
    store: &Store,
    registry: &RunRegistry,
    session_id: &str,
) -> Result<(), StoreError> {
    let active = store.active_runs(session_id).await?;
    if active.is_empty() {
        return Ok(());
    }
    for run in &active {
        if !registry.cancel(&run.run_id) {
            store.request_cancel(&run.run_id).await?;
        }
    }
    let deadline = tokio::time::Instant::now() + INTERRUPT_WAIT;
    while tokio::time::Instant::now() < deadline {
        if store.active_runs(session_id).await?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::warn!(
        session_id,
        "interrupted runs did not end in time; the new run starts anyway"
    );
    Ok(())
}
