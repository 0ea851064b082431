//! What agents and teams share: ids, history settings, and the marker trait for components.

/// How much of the session's earlier runs a component sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistorySettings {
    /// Whether earlier runs of the session are added to the model's context.
    pub add_history_to_context: bool,
    /// How many earlier runs, newest last.
    pub num_history_runs: usize,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            add_history_to_context: false,
            num_history_runs: 3,
        }
    }
}

// Kept in agentos-core, beside the id rule its output is meant to satisfy.
pub use agentos_core::slugify;

/// A component a factory can build and the server can serve: [`crate::Agent`] or
/// [`crate::Team`]. Sealed: nothing else is a component.
pub trait Component: Clone + Send + Sync + 'static + sealed::Sealed {
    /// `team` or `agent`, as used in routes and stored sessions.
    const KIND: ComponentKind;

    /// The id the component is served under.
    fn id(&self) -> &str;

    /// The display name.
    fn name(&self) -> &str;

    /// Replaces the id: a factory's component always carries the factory's id.
    fn set_id(&mut self, id: &str);
}

/// The two kinds of component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// A [`crate::Team`].
    Team,
    /// An [`crate::Agent`].
    Agent,
}

impl ComponentKind {
    /// `team` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Team => "team",
            ComponentKind::Agent => "agent",
        }
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Agent {}
    impl Sealed for crate::Team {}
}
