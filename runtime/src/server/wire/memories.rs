//! Memories in agno's shapes: `UserMemorySchema`, its paginated listing, and the per-user
//! statistics (`UserStatsSchema`).

use serde_json::{Value, json};

use super::fields::{page_meta, timestamp_seconds};
use crate::store::{StoredMemory, UserMemoryStats};

/// One memory, as agno's `UserMemorySchema`.
pub(crate) fn memory(memory: &StoredMemory) -> Value {
    json!({
        "memory_id": memory.memory_id,
        "memory": memory.memory,
        "topics": memory.topics,
        "agent_id": memory.agent_id,
        "team_id": memory.team_id,
        "user_id": memory.owner.user_id,
        "updated_at": timestamp_seconds(memory.updated_at),
    })
}

/// A page of memories: `{data, meta}`.
pub(crate) fn memory_page(
    memories: &[StoredMemory],
    total: u64,
    page: u64,
    limit: u64,
    search_time_ms: f64,
) -> Value {
    json!({
        "data": memories.iter().map(memory).collect::<Vec<_>>(),
        "meta": page_meta(page, limit, total, search_time_ms),
    })
}

/// A page of per-user memory statistics: `{data, meta}`.
pub(crate) fn user_stats_page(
    stats: &[UserMemoryStats],
    total: u64,
    page: u64,
    limit: u64,
    search_time_ms: f64,
) -> Value {
    json!({
        "data": stats
            .iter()
            .map(|user| json!({
                "user_id": user.user_id,
                "total_memories": user.total_memories,
                "last_memory_updated_at": timestamp_seconds(user.last_updated_at),
            }))
            .collect::<Vec<_>>(),
        "meta": page_meta(page, limit, total, search_time_ms),
    })
}
