//! What a run remembers of its user: their memories, read when the run starts for the
//! prompts of the components that use them.

use std::sync::Arc;

use crate::memory::Recalled;
use crate::store::{MemoryOwner, Store};

/// The most memories a run reads: more than any prompt holds by default, so each component's
/// own caps decide.
pub(super) const MAX_RECALLED: u64 = 100;

/// `owner`'s memories, newest first; `None` when the store is away (the run goes on without
/// them rather than failing, and its prompts then say nothing of memories).
pub(super) async fn recall(store: &Store, owner: &MemoryOwner) -> Option<Arc<[Recalled]>> {
    match store.recent_memories(owner, MAX_RECALLED).await {
        Ok(memories) => Some(
            memories
                .into_iter()
                .map(|memory| Recalled {
                    memory_id: memory.memory_id,
                    memory: memory.memory,
                })
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "could not read the user's memories");
            None
        }
    }
}
