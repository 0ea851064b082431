//! `Memory`: how an agent or a team uses what is remembered of its user across sessions, and
//! `Recalled`, one memory as a run sees it, and `MemoryEditor`, what changes them mid-run.
//!
//! A component opts in with `with_memory(..)`. Its user's memories (newest first, capped by
//! count and bytes) then go into its system prompt, a team member's included; with capture on,
//! a model call after the run's answer is stored writes what it learned of the user, off the
//! answer's latency.

use futures_util::future::BoxFuture;

use crate::model::{IntoModel, ModelHandle};

/// How new memories are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryCapture {
    /// None are made: the component reads its user's memories only.
    Off,
    /// After each run's answer is stored, one model call in the background reads the
    /// exchange and adds, changes or deletes memories.
    AfterRun,
    /// The model itself decides during the run, with the `update_user_memory` tool.
    Agentic,
}

/// A component's memory settings.
///
/// ```
/// use agentos_runtime::{Agent, Memory};
///
/// let agent = Agent::new("Concierge").with_memory(Memory::after_run().with_max_memories(10));
/// assert_eq!(agent.memory().unwrap().max_memories(), 10);
/// ```
#[derive(Clone, Debug)]
pub struct Memory {
    capture: MemoryCapture,
    add_to_context: bool,
    max_memories: usize,
    max_bytes: usize,
    model: Option<ModelHandle>,
    capture_instructions: Option<String>,
}

impl Memory {
    /// The most memories a prompt holds by default.
    pub const DEFAULT_MAX_MEMORIES: usize = 20;
    /// The most bytes of memories a prompt holds by default.
    pub const DEFAULT_MAX_BYTES: usize = 4_096;

    fn with_capture(capture: MemoryCapture) -> Self {
        Memory {
            capture,
            add_to_context: true,
            max_memories: Self::DEFAULT_MAX_MEMORIES,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            model: None,
            capture_instructions: None,
        }
    }

    /// Memories in the prompt, and new ones captured after each run.
    pub fn after_run() -> Self {
        Self::with_capture(MemoryCapture::AfterRun)
    }

    /// Memories in the prompt, and a tool the model calls to change them during the run.
    pub fn agentic() -> Self {
        Self::with_capture(MemoryCapture::Agentic)
    }

    /// Memories in the prompt; none made.
    pub fn read_only() -> Self {
        Self::with_capture(MemoryCapture::Off)
    }

    /// Whether the user's memories go into the system prompt (on by default).
    pub fn with_add_to_context(mut self, add: bool) -> Self {
        self.add_to_context = add;
        self
    }

    /// At most this many memories in the prompt, the most recently changed first.
    pub fn with_max_memories(mut self, count: usize) -> Self {
        self.max_memories = count;
        self
    }

    /// At most this many bytes of memories in the prompt; a memory that would pass it is
    /// left out, with every older one.
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The model that captures memories; by default the component's own.
    pub fn with_model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }

    /// What is worth remembering, in place of the default criteria.
    pub fn with_capture_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.capture_instructions = Some(instructions.into());
        self
    }

    /// How new memories are made.
    pub fn capture(&self) -> MemoryCapture {
        self.capture
    }

    /// Whether the user's memories go into the system prompt.
    pub fn adds_to_context(&self) -> bool {
        self.add_to_context
    }

    /// The most memories in the prompt.
    pub fn max_memories(&self) -> usize {
        self.max_memories
    }

    /// The most bytes of memories in the prompt.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The capture model, when it is not the component's.
    pub fn model(&self) -> Option<&ModelHandle> {
        self.model.as_ref()
    }

    /// The capture criteria, when they are not the default ones.
    pub fn capture_instructions(&self) -> Option<&str> {
        self.capture_instructions.as_deref()
    }

    /// The memories a prompt holds under these caps: the first ones of `recalled` (newest
    /// first) up to the count and the bytes.
    pub fn in_context<'a>(&self, recalled: &'a [Recalled]) -> &'a [Recalled] {
        let mut bytes = 0usize;
        let mut kept = 0;
        for memory in recalled.iter().take(self.max_memories) {
            bytes += memory.memory.len();
            if bytes > self.max_bytes {
                break;
            }
            kept += 1;
        }
        &recalled[..kept]
    }
}

/// A component's session summaries: after each run, a model call in the background rewrites
/// the session's summary, which agno's session JSON returns as `session_summary` and which
/// later runs of the session read in place of their older history.
///
/// ```
/// use agentos_runtime::{Agent, SessionSummaries};
///
/// let agent = Agent::new("Coach").with_session_summaries(SessionSummaries::new().with_recent_runs(1));
/// assert_eq!(agent.session_summaries().unwrap().recent_runs(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct SessionSummaries {
    model: Option<ModelHandle>,
    add_to_context: bool,
    recent_runs: usize,
}

impl Default for SessionSummaries {
    fn default() -> Self {
        SessionSummaries {
            model: None,
            add_to_context: true,
            recent_runs: 2,
        }
    }
}

impl SessionSummaries {
    /// Summaries made after each run and read by the session's later runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The model that writes summaries; by default the component's own.
    pub fn with_model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }

    /// Whether later runs of the session read the summary (on by default).
    pub fn with_add_to_context(mut self, add: bool) -> Self {
        self.add_to_context = add;
        self
    }

    /// Once a session has a summary, how many of its latest runs a run still reads whole
    /// (when it reads history at all); the summary stands for the older ones. 2 by default.
    pub fn with_recent_runs(mut self, runs: usize) -> Self {
        self.recent_runs = runs;
        self
    }

    /// The summary model, when it is not the component's.
    pub fn model(&self) -> Option<&ModelHandle> {
        self.model.as_ref()
    }

    /// Whether later runs read the summary.
    pub fn adds_to_context(&self) -> bool {
        self.add_to_context
    }

    /// How many latest runs a run reads whole once there is a summary.
    pub fn recent_runs(&self) -> usize {
        self.recent_runs
    }
}

/// Changes the user's memories during a run, for the `update_user_memory` tool of an agent
/// whose memory is agentic. The run service gives one to each run that has a user.
pub trait MemoryEditor: Send + Sync + std::fmt::Debug {
    /// Carries out `task` (what to remember, change or forget) for the agent `agent_id`, with
    /// its settings and, unless they name one, its model; answers what was done, or a message
    /// for the model when nothing could be.
    fn edit(
        &self,
        task: String,
        agent_id: &str,
        settings: &Memory,
        model: Option<&ModelHandle>,
    ) -> BoxFuture<'static, Result<String, String>>;
}

/// One of the user's memories as a run sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recalled {
    /// Its id, for a change or a deletion.
    pub memory_id: String,
    /// What is remembered.
    pub memory: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recalled(texts: &[&str]) -> Vec<Recalled> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| Recalled {
                memory_id: i.to_string(),
                memory: (*text).to_owned(),
            })
            .collect()
    }

    #[test]
    fn a_prompt_holds_the_newest_memories_within_both_caps() {
        let all = recalled(&["newest", "middle", "oldest"]);
        let by_count = Memory::read_only().with_max_memories(2);
        assert_eq!(by_count.in_context(&all), &all[..2]);
        // "newest" (6) + "middle" (6) pass 10 bytes: only the newest fits.
        let by_bytes = Memory::read_only().with_max_bytes(10);
        assert_eq!(by_bytes.in_context(&all), &all[..1]);
        let nothing = Memory::read_only().with_max_bytes(3);
        assert!(nothing.in_context(&all).is_empty());
        assert_eq!(Memory::read_only().in_context(&all), &all[..]);
    }
}
