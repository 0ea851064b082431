//! Whose memory settings a run keeps its user's memories with: the component's own, or for a
//! workflow one of its steps' agents' or teams'.

use crate::component::ComponentKind;
use crate::memory::{Memory, MemoryCapture};
use crate::model::ModelHandle;

/// The memory settings a run of a component keeps its user's memories with, and whose they
/// are: the component's own, or, for a workflow, those of the first of its agents and teams
/// that captures after its runs.
pub(crate) struct MemorySettings<'a> {
    pub(crate) memory: &'a Memory,
    /// The model of the component the settings belong to, when they name none.
    pub(crate) model: Option<&'a ModelHandle>,
    pub(crate) kind: ComponentKind,
    pub(crate) id: &'a str,
}

impl MemorySettings<'_> {
    /// Whether they capture after each run (a team leader, which has no tools of its own,
    /// captures so when agentic too).
    pub(crate) fn capture_after_run(&self) -> bool {
        match self.memory.capture() {
            MemoryCapture::AfterRun => true,
            MemoryCapture::Agentic => self.kind == ComponentKind::Team,
            MemoryCapture::Off => false,
        }
    }
}
