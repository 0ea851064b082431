//! Toolsets: tools an agent only learns at the start of a run, from a source it connects to
//! first (an MCP server), and lets go of when the run ends.
//!
//! A [`Tool`] is known when the agent is built; a [`Toolset`] is asked for its tools when each
//! run of the agent starts, and what it connected is closed when that run ends, however it
//! ends. The engine treats the tools it lists like any other: same events, same metrics, same
//! pauses for a person.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::tool::{IntoTool, Tool};

/// A source of tools connected per run. `McpTools` is one.
pub trait Toolset: Send + Sync + 'static {
    /// How logs name it (an address or a command; never a header's value).
    fn describe(&self) -> String;

    /// Connects and lists the tools. An error leaves the run without these tools, and the
    /// log says why; the run goes on.
    fn connect(&self) -> BoxFuture<'static, Result<ConnectedTools, ToolsetError>>;
}

impl std::fmt::Debug for dyn Toolset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Toolset").field(&self.describe()).finish()
    }
}

/// Why a toolset could not give a run its tools.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{source_name}: {message}")]
pub struct ToolsetError {
    /// The toolset, as [`Toolset::describe`] names it.
    pub source_name: String,
    /// What went wrong.
    pub message: String,
}

/// The tools of a connected toolset, and how to let go of the connection.
pub struct ConnectedTools {
    tools: Vec<Tool>,
    close: Option<BoxFuture<'static, ()>>,
}

impl ConnectedTools {
    /// Tools that need nothing closed.
    pub fn new(tools: Vec<Tool>) -> Self {
        ConnectedTools { tools, close: None }
    }

    /// What to run when the run ends. Dropping the tools without [`close`](Self::close) drops
    /// this future instead, which must also let go of the connection.
    pub fn on_close(mut self, close: impl Future<Output = ()> + Send + 'static) -> Self {
        self.close = Some(Box::pin(close));
        self
    }

    /// The tools listed.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// Lets go of the connection.
    pub async fn close(self) {
        if let Some(close) = self.close {
            close.await;
        }
    }
}

impl std::fmt::Debug for ConnectedTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedTools")
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

/// What `Agent::with_tools` adds: tools known now, or a toolset connected per run.
#[derive(Clone)]
pub enum Tools {
    /// Tools known when the agent is built.
    Fixed(Vec<Tool>),
    /// A toolset asked for its tools at the start of each run.
    PerRun(Arc<dyn Toolset>),
}

/// Anything `Agent::with_tools` accepts: tools (`[lookup_order, cancel_order]`, a `Vec<Tool>`)
/// or a [`Toolset`] such as `McpTools`.
pub trait IntoTools {
    /// The tools, or the toolset.
    fn into_tools(self) -> Tools;
}

impl<I, T> IntoTools for I
where
    I: IntoIterator<Item = T>,
    T: IntoTool,
{
    fn into_tools(self) -> Tools {
        Tools::Fixed(self.into_iter().map(IntoTool::into_tool).collect())
    }
}
