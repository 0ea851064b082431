//! `Agent`: one model with a role, instructions and tools.

use crate::component::{Component, ComponentKind};
use crate::profile::{Profile, profile_methods};
use std::sync::Arc;

use crate::tool::{IntoTool, Tool};
use crate::toolset::{IntoTools, Tools, Toolset};

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
    profile: Profile,
    role: Option<String>,
    tools: Vec<Tool>,
    toolsets: Vec<Arc<dyn Toolset>>,
}

impl Agent {
    /// An agent named `name`, with the id `slug(name)` until [`Agent::with_id`] sets another.
    pub fn new(name: impl Into<String>) -> Self {
        Agent {
            profile: Profile::named(name.into()),
            role: None,
            tools: Vec::new(),
            toolsets: Vec::new(),
        }
    }

    profile_methods!();

    /// What the agent is for; it opens the system prompt and tells a team leader when to
    /// delegate to it.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Adds a tool.
    pub fn with_tool(mut self, tool: impl IntoTool) -> Self {
        self.tools.push(tool.into_tool());
        self
    }

    /// Adds tools: several at once (`[lookup_order, cancel_order]`), or a toolset whose
    /// tools are listed when each run starts (`McpTools::http(url)`).
    pub fn with_tools(mut self, tools: impl IntoTools) -> Self {
        match tools.into_tools() {
            Tools::Fixed(tools) => self.tools.extend(tools),
            Tools::PerRun(toolset) => self.toolsets.push(toolset),
        }
        self
    }

    /// The role, if set.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The tools known when the agent was built.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The toolsets connected at the start of each run.
    pub fn toolsets(&self) -> &[Arc<dyn Toolset>] {
        &self.toolsets
    }
}

impl crate::component::sealed::Sealed for Agent {}

impl Component for Agent {
    const KIND: ComponentKind = ComponentKind::Agent;

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
