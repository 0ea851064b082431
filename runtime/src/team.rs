//! `Team`: a leader model and its members.

use crate::agent::Agent;
use crate::component::MultitaskStrategy;
use crate::component::{Component, ComponentKind, HistorySettings, slugify};
use crate::model::{IntoModel, ModelHandle};

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
    id: String,
    name: String,
    description: Option<String>,
    model: Option<ModelHandle>,
    members: Vec<Member>,
    instructions: Vec<String>,
    mode: TeamMode,
    markdown: bool,
    history: HistorySettings,
    multitask: Option<MultitaskStrategy>,
}

impl Team {
    /// A team named `name`, with the id `slug(name)` until [`Team::with_id`] sets another.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Team {
            id: slugify(&name),
            name,
            description: None,
            model: None,
            members: Vec::new(),
            instructions: Vec::new(),
            mode: TeamMode::default(),
            markdown: false,
            history: HistorySettings::default(),
            multitask: None,
        }
    }

    /// Sets the id explicitly.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// A description shown in discovery.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The leader's model.
    pub fn with_model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }

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

    /// Replaces the leader's instructions.
    pub fn with_instructions<S: Into<String>>(
        mut self,
        instructions: impl IntoIterator<Item = S>,
    ) -> Self {
        self.instructions = instructions.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one instruction for the leader.
    pub fn with_instruction(mut self, instruction: impl Into<String>) -> Self {
        self.instructions.push(instruction.into());
        self
    }

    /// How the leader uses its members.
    pub fn with_mode(mut self, mode: TeamMode) -> Self {
        self.mode = mode;
        self
    }

    /// Asks the leader to format its answers as markdown.
    pub fn with_markdown(mut self, markdown: bool) -> Self {
        self.markdown = markdown;
        self
    }

    /// Adds the session's earlier runs to the leader's context.
    pub fn with_add_history_to_context(mut self, enabled: bool) -> Self {
        self.history.add_history_to_context = enabled;
        self
    }

    /// What a run does when another run of its session is in progress (see
    /// [`MultitaskStrategy`]); a request's `multitask_strategy` field overrides it.
    pub fn with_multitask_strategy(mut self, strategy: MultitaskStrategy) -> Self {
        self.multitask = Some(strategy);
        self
    }

    /// How many earlier runs to add when history is on.
    pub fn with_num_history_runs(mut self, runs: usize) -> Self {
        self.history.num_history_runs = runs;
        self
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if set.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The leader's model, if set.
    pub fn model(&self) -> Option<&ModelHandle> {
        self.model.as_ref()
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The leader's instructions.
    pub fn instructions(&self) -> &[String] {
        &self.instructions
    }

    /// The mode.
    pub fn mode(&self) -> TeamMode {
        self.mode
    }

    /// Whether answers are markdown.
    pub fn is_markdown(&self) -> bool {
        self.markdown
    }

    /// The history settings.
    pub fn history(&self) -> HistorySettings {
        self.history
    }

    /// What a run does when its session is busy, if the component says.
    pub fn multitask_strategy(&self) -> Option<MultitaskStrategy> {
        self.multitask
    }
}

impl crate::component::sealed::Sealed for Team {}

impl Component for Team {
    const KIND: ComponentKind = ComponentKind::Team;

    fn id(&self) -> &str {
        &self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_id(&mut self, id: &str) {
        id.clone_into(&mut self.id);
    }
}
