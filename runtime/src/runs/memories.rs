//! User memories through the run service: what the memory routes (and later the agents' memory
//! tools) may read and write for a caller. Every operation works in the caller's
//! [`MemoryScope`]: their own memories, or, for an admin, any user's of their namespace. A
//! memory outside it is answered as missing, and nothing is written.

use super::{Caller, MemoryTextError, RunError, RunService, limits};
use crate::store::{MemoryQuery, MemoryScope, NewMemory, StoredMemory, UserMemoryStats};

/// The most characters a memory may hold (agno's bound).
pub const MAX_MEMORY_CHARS: usize = 5_000;

/// The most topics a memory may carry.
pub const MAX_MEMORY_TOPICS: usize = 50;

/// A memory as a caller writes it (`POST /memories`, `PATCH /memories/{id}`).
#[derive(Clone, Debug, Default)]
pub struct MemoryWrite {
    /// What to remember.
    pub memory: String,
    /// Its topics; none when `None`.
    pub topics: Option<Vec<String>>,
    /// The user it is about, as the request names them: an admin's choice; a user's own
    /// memories are theirs whatever they name.
    pub user_id: Option<String>,
}

/// One page of a listing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Page {
    /// From 1.
    pub(crate) number: u64,
    /// Rows a page, at least 1.
    pub(crate) limit: u64,
}

impl Page {
    /// This page's rows of `all`, and how many there are in all.
    fn of<T>(self, all: Vec<T>) -> (Vec<T>, u64) {
        let total = all.len() as u64;
        let skip = (self.number.max(1) - 1).saturating_mul(self.limit);
        let rows = all
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .collect();
        (rows, total)
    }
}

fn scope(caller: &Caller, named: Option<&str>) -> Result<MemoryScope, RunError> {
    if let Some(user_id) = named {
        limits::check_id("user_id", user_id)?;
    }
    caller.memory_scope(named).ok_or(RunError::UserRequired)
}

/// Refuses a memory the store should not hold: empty or overlong text, NUL characters, too
/// many or unfit topics.
pub(super) fn check_memory(memory: &str, topics: Option<&[String]>) -> Result<(), RunError> {
    let chars = memory.chars().count();
    if chars == 0 {
        return Err(RunError::MemoryText(MemoryTextError::Empty));
    }
    if chars > MAX_MEMORY_CHARS {
        return Err(RunError::MemoryText(MemoryTextError::TooLong {
            max: MAX_MEMORY_CHARS,
        }));
    }
    limits::check_text("memory", memory)?;
    let topics = topics.unwrap_or_default();
    if topics.len() > MAX_MEMORY_TOPICS {
        return Err(RunError::Invalid(format!(
            "a memory has at most {MAX_MEMORY_TOPICS} topics"
        )));
    }
    topics
        .iter()
        .try_for_each(|topic| limits::check_id("topics", topic))
}

impl RunService {
    /// Writes a memory about one user: the caller, or the user an admin names. Refused with
    /// [`RunError::UserRequired`] when the request is about no one in particular.
    pub(crate) async fn create_memory(
        &self,
        caller: &Caller,
        write: MemoryWrite,
    ) -> Result<StoredMemory, RunError> {
        check_memory(&write.memory, write.topics.as_deref())?;
        let MemoryScope::User(owner) = scope(caller, write.user_id.as_deref())? else {
            return Err(RunError::UserRequired);
        };
        let new = NewMemory {
            memory: write.memory,
            topics: write.topics.unwrap_or_default(),
            ..NewMemory::default()
        };
        Ok(self.store.add_memory(&owner, new).await?)
    }

    /// One memory the caller reaches.
    pub(crate) async fn memory(
        &self,
        caller: &Caller,
        named: Option<&str>,
        memory_id: &str,
    ) -> Result<StoredMemory, RunError> {
        let scope = scope(caller, named)?;
        self.store
            .memory(scope, memory_id)
            .await?
            .ok_or(RunError::MemoryNotFound)
    }

    /// Replaces a memory's text and topics (none when the write has none), as agno's `PATCH`.
    pub(crate) async fn update_memory(
        &self,
        caller: &Caller,
        memory_id: &str,
        write: MemoryWrite,
    ) -> Result<StoredMemory, RunError> {
        check_memory(&write.memory, write.topics.as_deref())?;
        let scope = scope(caller, write.user_id.as_deref())?;
        let topics = write.topics.unwrap_or_default();
        self.store
            .update_memory(scope, memory_id, write.memory, Some(topics))
            .await?
            .ok_or(RunError::MemoryNotFound)
    }

    /// Deletes those of `memory_ids` the caller reaches; the others are left alone, unnamed.
    pub(crate) async fn delete_memories(
        &self,
        caller: &Caller,
        named: Option<&str>,
        memory_ids: &[String],
    ) -> Result<u64, RunError> {
        let scope = scope(caller, named)?;
        Ok(self.store.delete_memories(scope, memory_ids).await?)
    }

    /// A page of the memories the caller reaches that `query` keeps, and how many it keeps in
    /// all.
    pub(crate) async fn memory_page(
        &self,
        caller: &Caller,
        named: Option<&str>,
        query: &MemoryQuery,
        page: Page,
    ) -> Result<(Vec<StoredMemory>, u64), RunError> {
        let scope = scope(caller, named)?;
        Ok(page.of(self.store.list_memories(scope, query).await?))
    }

    /// The topics of the memories the caller reaches.
    pub(crate) async fn memory_topics(
        &self,
        caller: &Caller,
        named: Option<&str>,
    ) -> Result<Vec<String>, RunError> {
        let scope = scope(caller, named)?;
        Ok(self.store.memory_topics(scope).await?)
    }

    /// A page of per-user memory counts among the memories the caller reaches.
    pub(crate) async fn memory_user_stats(
        &self,
        caller: &Caller,
        named: Option<&str>,
        page: Page,
    ) -> Result<(Vec<UserMemoryStats>, u64), RunError> {
        let scope = scope(caller, named)?;
        Ok(page.of(self.store.memory_user_stats(scope).await?))
    }
}
