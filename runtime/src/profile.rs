//! What agents and teams share: a profile (id, name, description, model, instructions, how
//! answers are written, history, the multitask strategy and memory) and the builder methods and
//! accessors over it, written once for both.

use crate::component::{HistorySettings, MultitaskStrategy, slugify};
use crate::memory::{Memory, SessionSummaries};
use crate::model::ModelHandle;

/// The part of an agent or a team that the two have in common.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) model: Option<ModelHandle>,
    pub(crate) instructions: Vec<String>,
    pub(crate) markdown: bool,
    pub(crate) history: HistorySettings,
    pub(crate) multitask: Option<MultitaskStrategy>,
    pub(crate) memory: Option<Memory>,
    pub(crate) summaries: Option<SessionSummaries>,
}

impl Profile {
    /// A profile named `name`, with the id `slug(name)`.
    pub(crate) fn named(name: String) -> Self {
        Profile {
            id: slugify(&name),
            name,
            description: None,
            model: None,
            instructions: Vec::new(),
            markdown: false,
            history: HistorySettings::default(),
            multitask: None,
            memory: None,
            summaries: None,
        }
    }
}

/// The builder methods and accessors of a component's [`Profile`], for the `impl` block of a
/// type with a `profile` field: the same setters on `Agent` and `Team`, written once.
macro_rules! profile_methods {
    () => {
        /// Sets the id explicitly.
        pub fn with_id(mut self, id: impl Into<String>) -> Self {
            self.profile.id = id.into();
            self
        }

        /// A description shown in discovery.
        pub fn with_description(mut self, description: impl Into<String>) -> Self {
            self.profile.description = Some(description.into());
            self
        }

        /// The model it talks to (for a team, its leader's).
        pub fn with_model(mut self, model: impl $crate::model::IntoModel) -> Self {
            self.profile.model = Some(model.into_model());
            self
        }

        /// Replaces the instructions (for a team, its leader's).
        pub fn with_instructions<S: Into<String>>(
            mut self,
            instructions: impl IntoIterator<Item = S>,
        ) -> Self {
            self.profile.instructions = instructions.into_iter().map(Into::into).collect();
            self
        }

        /// Adds one instruction (for a team, to its leader's).
        pub fn with_instruction(mut self, instruction: impl Into<String>) -> Self {
            self.profile.instructions.push(instruction.into());
            self
        }

        /// Asks the model to format its answers as markdown.
        pub fn with_markdown(mut self, markdown: bool) -> Self {
            self.profile.markdown = markdown;
            self
        }

        /// Adds the session's earlier runs to the model's context.
        pub fn with_add_history_to_context(mut self, enabled: bool) -> Self {
            self.profile.history.add_history_to_context = enabled;
            self
        }

        /// How many earlier runs to add when history is on.
        pub fn with_num_history_runs(mut self, runs: usize) -> Self {
            self.profile.history.num_history_runs = runs;
            self
        }

        /// What a run does when another run of its session is in progress (see
        /// [`MultitaskStrategy`](crate::MultitaskStrategy)); a request's `multitask_strategy`
        /// field overrides it.
        pub fn with_multitask_strategy(
            mut self,
            strategy: $crate::component::MultitaskStrategy,
        ) -> Self {
            self.profile.multitask = Some(strategy);
            self
        }

        /// Remembers its users across sessions (see [`Memory`](crate::Memory)): their memories
        /// go into the system prompt, and new ones are captured as the settings say.
        pub fn with_memory(mut self, memory: $crate::memory::Memory) -> Self {
            self.profile.memory = Some(memory);
            self
        }

        /// The memory settings, if it remembers its users.
        pub fn memory(&self) -> Option<&$crate::memory::Memory> {
            self.profile.memory.as_ref()
        }

        /// Keeps a summary of each session it runs in (see
        /// [`SessionSummaries`](crate::SessionSummaries)).
        pub fn with_session_summaries(
            mut self,
            summaries: $crate::memory::SessionSummaries,
        ) -> Self {
            self.profile.summaries = Some(summaries);
            self
        }

        /// The session summary settings, if it keeps summaries.
        pub fn session_summaries(&self) -> Option<&$crate::memory::SessionSummaries> {
            self.profile.summaries.as_ref()
        }

        /// The id.
        pub fn id(&self) -> &str {
            &self.profile.id
        }

        /// The name.
        pub fn name(&self) -> &str {
            &self.profile.name
        }

        /// The description, if set.
        pub fn description(&self) -> Option<&str> {
            self.profile.description.as_deref()
        }

        /// The model, if set (for a team, its leader's).
        pub fn model(&self) -> Option<&$crate::model::ModelHandle> {
            self.profile.model.as_ref()
        }

        /// The instructions (for a team, its leader's).
        pub fn instructions(&self) -> &[String] {
            &self.profile.instructions
        }

        /// Whether answers are markdown.
        pub fn is_markdown(&self) -> bool {
            self.profile.markdown
        }

        /// The history settings.
        pub fn history(&self) -> $crate::component::HistorySettings {
            self.profile.history
        }

        /// What a run does when its session is busy, if the component says.
        pub fn multitask_strategy(&self) -> Option<$crate::component::MultitaskStrategy> {
            self.profile.multitask
        }
    };
}

pub(crate) use profile_methods;
