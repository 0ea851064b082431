//! `Team`: a leader model and its members.

use crate::agent::Agent;
use crate::component::{Component, ComponentKind};
use crate::profile::{Profile, profile_methods};

/// How a team's leader uses its members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TeamMode {
    /// The leader delegates tasks to members as it sees fit, then answers from their results.
    #[default]
    Coordinate,
    /// The leader picks one member; that member's answer is the team's answer.
    Route,
    /// The leader sends one task to every member at once, then answers from all results.
    Broadcast,
}

/// A member of a team: an agent or a nested team.
///
/// Only built components can be members; a factory cannot, so a team is always complete when
/// its factory returns it.
#[derive(Clone, Debug)]
pub enum Member {
    /// An agent.
    Agent(Agent),
    /// A nested team.
    Team(Team),
}

impl Member {
    /// The member's id, used by the leader to delegate.
    pub fn id(&self) -> &str {
        match self {
            Member::Agent(agent) => agent.id(),
            Member::Team(team) => team.id(),
        }
    }

    /// The member's name.
    pub fn name(&self) -> &str {
        match self {
            Member::Agent(agent) => agent.name(),
            Member::Team(team) => team.name(),
        }
    }
}

impl From<Agent> for Member {
    fn from(agent: Agent) -> Self {
        Member::Agent(agent)
    }
}

impl From<Team> for Member {
    fn from(team: Team) -> Self {
        Member::Team(team)
    }
}

/// A team: a leader model that answers by delegating to its members.
///
/// ```
/// use agentos_runtime::{Agent, Team, TeamMode, TestModel};
///
/// let team = Team::new("Support Team")
///     .with_model(TestModel::new())
///     .with_members([Agent::new("Billing Agent"), Agent::new("Tech Support Agent")])
///     .with_mode(TeamMode::Coordinate);
/// assert_eq!(team.id(), "support-team");
/// assert_eq!(team.members().len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Team {
    profile: Profile,
    members: Vec<Member>,
    mode: TeamMode,
}

impl Team {
    /// A team named `name`, with the id `slug(name)` until [`Team::with_id`] sets another.
    pub fn new(name: impl Into<String>) -> Self {
        Team {
            profile: Profile::named(name.into()),
            members: Vec::new(),
            mode: TeamMode::default(),
        }
    }

    profile_methods!();

    /// Replaces the members.
    pub fn with_members<M: Into<Member>>(mut self, members: impl IntoIterator<Item = M>) -> Self {
        self.members = members.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one member.
    pub fn with_member(mut self, member: impl Into<Member>) -> Self {
        self.members.push(member.into());
        self
    }

    /// How the leader uses its members.
    pub fn with_mode(mut self, mode: TeamMode) -> Self {
        self.mode = mode;
        self
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether the team or any member, at any depth, remembers its users.
    pub fn uses_memory(&self) -> bool {
        self.memory().is_some()
            || self.members.iter().any(|member| match member {
                Member::Agent(agent) => agent.memory().is_some(),
                Member::Team(team) => team.uses_memory(),
            })
    }

    /// The mode.
    pub fn mode(&self) -> TeamMode {
        self.mode
    }
}

impl crate::component::sealed::Sealed for Team {}

impl Component for Team {
    const KIND: ComponentKind = ComponentKind::Team;

    fn id(&self) -> &str {
        &self.profile.id
    }

    fn name(&self) -> &str {
        &self.profile.name
    }

    fn set_id(&mut self, id: &str) {
        id.clone_into(&mut self.profile.id);
    }
}
