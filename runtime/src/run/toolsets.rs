//! An agent's tools for one run: the ones it was built with, and the ones its toolsets list
//! when the run starts, connected for the run and closed when it ends.

use std::borrow::Cow;

use futures_util::future::join_all;

use crate::agent::Agent;
use crate::tool::Tool;
use crate::toolset::ConnectedTools;

/// The tools of one run of an agent: borrowed from the agent when it has no toolsets.
pub(super) struct RunTools<'a> {
    tools: Cow<'a, [Tool]>,
    connections: Vec<ConnectedTools>,
}

impl<'a> RunTools<'a> {
    /// Connects the agent's toolsets, all at once. One that cannot connect leaves its tools
    /// out of this run and says why in the log; the run goes on with the others.
    pub(super) async fn connect(agent: &'a Agent) -> RunTools<'a> {
        if agent.toolsets().is_empty() {
            return RunTools {
                tools: Cow::Borrowed(agent.tools()),
                connections: Vec::new(),
            };
        }
        let mut tools = agent.tools().to_vec();
        let attempts = join_all(agent.toolsets().iter().map(|toolset| toolset.connect())).await;
        let mut connections = Vec::with_capacity(attempts.len());
        for (toolset, attempt) in agent.toolsets().iter().zip(attempts) {
            match attempt {
                Ok(connected) => {
                    if connected.tools().is_empty() {
                        tracing::warn!(
                            toolset = %toolset.describe(),
                            agent = %agent.id(),
                            "the toolset lists no tools"
                        );
                    }
                    for tool in connected.tools() {
                        // Providers refuse two tools of one name: the first keeps it.
                        if tools.iter().any(|known| known.name() == tool.name()) {
                            tracing::warn!(
                                toolset = %toolset.describe(),
                                tool = %tool.name(),
                                "a tool of this name is already the agent's; this one is left out"
                            );
                        } else {
                            tools.push(tool.clone());
                        }
                    }
                    connections.push(connected);
                }
                Err(error) => tracing::warn!(
                    agent = %agent.id(),
                    %error,
                    "a toolset could not connect; the run goes on without its tools"
                ),
            }
        }
        RunTools {
            tools: Cow::Owned(tools),
            connections,
        }
    }

    /// Adds a tool the run itself provides, unless the agent has one of its name.
    pub(super) fn add(&mut self, tool: Tool) {
        if self.tools.iter().any(|known| known.name() == tool.name()) {
            tracing::warn!(tool = %tool.name(), "the agent has a tool of this name; the run's own is left out");
            return;
        }
        self.tools.to_mut().push(tool);
    }

    pub(super) fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Lets go of every connection.
    pub(super) async fn close(self) {
        join_all(self.connections.into_iter().map(ConnectedTools::close)).await;
    }
}
