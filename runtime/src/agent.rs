//! `Agent`: one model with a role, instructions and tools.

use crate::component::MultitaskStrategy;
use crate::component::{Component, ComponentKind, HistorySettings, slugify};
use crate::model::{IntoModel, ModelHandle};
use crate::tool::{IntoTool, Tool};

/// An agent: a model, what it is for, and the tools it may call.
///
/// Built with chained setters; every setter takes and returns the agent, so a factory can
/// build one in an expression.
///
/// ```
/// use agentos_runtime::{Agent, TestModel};
///
/// let agent = Agent::new("Billing Agent")
///     .with_role("Answers billing questions")
///     .with_model(TestModel::new())
///     .with_instructions(["Be brief."]);
/// assert_eq!(agent.id(), "billing-agent");
/// ```
#[derive(Clone, Debug)]
pub struct Agent {
    id: String,
    name: String,
    description: Option<String>,
    role: Option<String>,
    model: Option<ModelHandle>,
    instructions: Vec<String>,
    tools: Vec<Tool>,
    markdown: bool,
    history: HistorySettings,
    multitask: Option<MultitaskStrategy>,
}

impl Agent {
    /// An agent named `name`, with the id `slug(name)` until [`Agent::id`] sets another.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Agent {
            id: slugify(&name),
            name,
            description: None,
            role: None,
            model: None,
            instructions: Vec::new(),
            tools: Vec::new(),
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

    /// What the agent is for; it opens the system prompt and tells a team leader when to
    /// delegate to it.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// The model the agent talks to.
    pub fn with_model(mut self, model: impl IntoModel) -> Self {
        self.model = Some(model.into_model());
        self
    }

    /// Replaces the instructions.
    pub fn with_instructions<S: Into<String>>(
        mut self,
        instructions: impl IntoIterator<Item = S>,
    ) -> Self {
        self.instructions = instructions.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one instruction.
    pub fn with_instruction(mut self, instruction: impl Into<String>) -> Self {
        self.instructions.push(instruction.into());
        self
    }

    /// Adds a tool.
    pub fn with_tool(mut self, tool: impl IntoTool) -> Self {
        self.tools.push(tool.into_tool());
        self
    }

    /// Adds tools.
    pub fn with_tools<T: IntoTool>(mut self, tools: impl IntoIterator<Item = T>) -> Self {
        self.tools
            .extend(tools.into_iter().map(IntoTool::into_tool));
        self
    }

    /// Asks the model to format its answers as markdown.
    pub fn with_markdown(mut self, markdown: bool) -> Self {
        self.markdown = markdown;
        self
    }

    /// Adds the session's earlier runs to the model's context.
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

    /// The role, if set.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The model, if set.
    pub fn model(&self) -> Option<&ModelHandle> {
        self.model.as_ref()
    }

    /// The instructions.
    pub fn instructions(&self) -> &[String] {
        &self.instructions
    }

    /// The tools.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
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

impl crate::component::sealed::Sealed for Agent {}

impl Component for Agent {
    const KIND: ComponentKind = ComponentKind::Agent;

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
