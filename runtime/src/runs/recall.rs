//! What a run remembers: its user's memories, read when the run starts for the prompts of the
//! components that use them, and its session's summary, for a component that keeps one.

use std::sync::Arc;

use super::Runnable;
use crate::memory::Recalled;
use crate::meta::RunMeta;
use crate::store::{MemoryOwner, Store, StoreError};

/// The most memories a run reads: more than any prompt holds by default, so each component's
/// own caps decide.
pub(super) const MAX_RECALLED: u64 = 100;

/// `owner`'s memories, newest first; `None` when the store is away (the run goes on without
/// them rather than failing, and its prompts then say nothing of memories).
pub(super) async fn recall(store: &Store, owner: &MemoryOwner) -> Option<Arc<[Recalled]>> {
    match read_memories(store, owner).await {
        Ok(memories) => Some(memories),
        Err(error) => {
            tracing::warn!(%error, "could not read the user's memories");
            None
        }
    }
}

/// `owner`'s memories, newest first, at most [`MAX_RECALLED`].
pub(super) async fn read_memories(
    store: &Store,
    owner: &MemoryOwner,
) -> Result<Arc<[Recalled]>, StoreError> {
    let memories = store.recent_memories(owner, MAX_RECALLED).await?;
    Ok(memories
        .into_iter()
        .map(|memory| Recalled {
            memory_id: memory.memory_id,
            memory: memory.memory,
        })
        .collect())
}

/// A session's summary as a run reads it.
pub(super) struct SessionSummary {
    pub(super) text: Arc<str>,
    /// How many of the latest runs are still read whole.
    pub(super) recent_runs: usize,
}

/// The summary of the run's session, when `component` reads summaries and the session has
/// one; `None` too when the store is away (the run then reads its history as it would).
pub(super) async fn session_summary<C: Runnable>(
    store: &Store,
    component: &C,
    meta: &RunMeta,
) -> Option<SessionSummary> {
    let settings = component
        .session_summaries()
        .filter(|s| s.adds_to_context())?;
    match store.session(meta.session_id()).await {
        Ok(session) => session?.summary.map(|summary| SessionSummary {
            text: Arc::from(summary.summary),
            recent_runs: settings.recent_runs(),
        }),
        Err(error) => {
            tracing::warn!(%error, "could not read the session's summary");
            None
        }
    }
}
