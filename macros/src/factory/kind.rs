//! Which factory attribute is being expanded, and the words its messages use for it.

/// Which attribute is expanded.
#[derive(Clone, Copy)]
pub enum Kind {
    Team,
    Agent,
    Workflow,
}

impl Kind {
    pub(super) fn attribute(self) -> &'static str {
        match self {
            Kind::Team => "team_factory",
            Kind::Agent => "agent_factory",
            Kind::Workflow => "workflow_factory",
        }
    }

    pub(super) fn noun(self) -> &'static str {
        match self {
            Kind::Team => "team",
            Kind::Agent => "agent",
            Kind::Workflow => "workflow",
        }
    }

    pub(super) fn component(self) -> &'static str {
        match self {
            Kind::Team => "Team",
            Kind::Agent => "Agent",
            Kind::Workflow => "Workflow",
        }
    }
}
