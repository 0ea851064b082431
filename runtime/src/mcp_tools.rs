//! Tools from MCP servers: a [`Toolset`] that connects to a server (streamable HTTP, or a
//! child process over stdio) when a run starts, offers its tools to the model with their own
//! JSON Schemas, calls them through the engine's ordinary tool path, and closes the connection
//! when the run ends.
//!
//! A factory builds one per request, so the headers can carry what the verified identity says
//! (`ctx.user_id()`, a tenant's own token), never what the request body says.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{Peer, RoleClient, RunningService, ServiceError};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::{
    StreamableHttpClientTransport, TokioChildProcess,
    streamable_http_client::StreamableHttpClientTransportConfig,
};
use rmcp::{ServiceExt, transport::ConfigureCommandExt};
use serde_json::Value;

use crate::model::shared_http_client;
use crate::tool::{PauseFor, Tool, ToolDefinition, ToolError, ToolFunction};
use crate::toolset::{ConnectedTools, IntoTools, Tools, Toolset, ToolsetError};

/// How long connecting, listing and each call may take, unless [`McpTools::with_timeout`] says.
pub const DEFAULT_MCP_TIMEOUT: Duration = Duration::from_secs(10);

/// The tools of one MCP server, for `Agent::with_tools`.
///
/// ```
/// use agentos_runtime::{Agent, McpTools};
///
/// let agent = Agent::new("Docs")
///     .with_tools(
///         McpTools::http("http://127.0.0.1:8000/mcp")
///             .with_header("X-User-Id", "user_42")
///             .with_prefix("docs_")
///             .requires_confirmation(["delete_*"]),
///     );
/// assert_eq!(agent.toolsets().len(), 1);
/// ```
#[derive(Clone)]
pub struct McpTools {
    server: Server,
    headers: HashMap<HeaderName, HeaderValue>,
    /// A header that could not be used, reported when connecting.
    invalid_header: Option<String>,
    include: Option<Vec<String>>,
    exclude: Vec<String>,
    prefix: String,
    timeout: Duration,
    confirm: Vec<String>,
}

#[derive(Clone)]
enum Server {
    Http {
        url: String,
    },
    Stdio {
        program: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
    },
}

impl McpTools {
    fn with_server(server: Server) -> Self {
        McpTools {
            server,
            headers: HashMap::new(),
            invalid_header: None,
            include: None,
            exclude: Vec::new(),
            prefix: String::new(),
            timeout: DEFAULT_MCP_TIMEOUT,
            confirm: Vec::new(),
        }
    }

    /// The server at `url`, over streamable HTTP.
    pub fn http(url: impl Into<String>) -> Self {
        Self::with_server(Server::Http { url: url.into() })
    }

    /// The server a child process runs, spoken to over its stdin and stdout. The process is
    /// started for each run and ended with it.
    pub fn stdio<S: Into<String>>(
        program: impl Into<String>,
        args: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::with_server(Server::Stdio {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        })
    }

    /// Sends this header with every HTTP request to the server (its value is never logged).
    /// A name or value HTTP cannot carry makes the connection fail, and the log says which.
    pub fn with_header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        match (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.as_ref()),
        ) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                self.headers.insert(name, value);
            }
            _ => self.invalid_header = Some(format!("the header '{name}' cannot be sent")),
        }
        self
    }

    /// Sends these headers with every HTTP request to the server.
    pub fn with_headers<N: AsRef<str>, V: AsRef<str>>(
        self,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        headers.into_iter().fold(self, |tools, (name, value)| {
            tools.with_header(name.as_ref(), value)
        })
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn with_bearer_token(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.with_header("authorization", value)
    }

    /// Sets an environment variable of the child process (stdio servers).
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Server::Stdio { env, .. } = &mut self.server {
            env.push((name.into(), value.into()));
        }
        self
    }

    /// Offers only these of the server's tools (by the server's names).
    pub fn include<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.include = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Leaves these of the server's tools out (by the server's names).
    pub fn exclude<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.exclude.extend(names.into_iter().map(Into::into));
        self
    }

    /// Puts `prefix` before every tool name the model sees, so two servers' tools of one name
    /// can sit on one agent.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bounds connecting, listing the tools, and each call (default
    /// [`DEFAULT_MCP_TIMEOUT`]). A call that takes longer is a tool error the model reads.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Pauses the run for a person's approval before a call to one of these tools (by the
    /// server's names; a trailing `*` matches any ending).
    pub fn requires_confirmation<S: Into<String>>(
        mut self,
        patterns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.confirm.extend(patterns.into_iter().map(Into::into));
        self
    }

    fn offers(&self, name: &str) -> bool {
        self.include
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
            && !self.exclude.iter().any(|n| n == name)
    }

    fn needs_confirmation(&self, name: &str) -> bool {
        self.confirm
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(start) => name.starts_with(start),
                None => pattern == name,
            })
    }

    fn error(&self, message: impl Into<String>) -> ToolsetError {
        ToolsetError {
            source_name: self.describe(),
            message: message.into(),
        }
    }

    async fn start(&self) -> Result<RunningService<RoleClient, ()>, ToolsetError> {
        if let Some(problem) = &self.invalid_header {
            return Err(self.error(problem.clone()));
        }
        let started = match &self.server {
            Server::Http { url } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                    .custom_headers(self.headers.clone());
                config.retry_config = Arc::new(stream_resumption());
                let transport =
                    StreamableHttpClientTransport::with_client(shared_http_client(), config);
                tokio::time::timeout(self.timeout, ().serve(transport)).await
            }
            Server::Stdio { program, args, env } => {
                let command = tokio::process::Command::new(program).configure(|command| {
                    command.args(args).envs(env.iter().map(|(k, v)| (k, v)));
                });
                let process = TokioChildProcess::new(command)
                    .map_err(|error| self.error(format!("cannot start the process: {error}")))?;
                tokio::time::timeout(self.timeout, ().serve(process)).await
            }
        };
        match started {
            Err(_) => Err(self.error(format!(
                "no answer to the MCP handshake within {:?}",
                self.timeout
            ))),
            Ok(Err(error)) => Err(self.error(format!("the MCP handshake failed: {error}"))),
            Ok(Ok(service)) => Ok(service),
        }
    }
}

/// How often a call's answer stream that broke is resumed before the call fails: a few quick
/// tries ride out a restart behind a load balancer; rmcp's default (forever) would hold a dead
/// server's calls until their timeout.
fn stream_resumption() -> ExponentialBackoff {
    let mut policy = ExponentialBackoff::default();
    policy.max_times = Some(3);
    policy.base_duration = Duration::from_millis(100);
    policy.max_delay = Some(Duration::from_millis(500));
    policy
}

impl std::fmt::Debug for McpTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header names only: their values are often tokens.
        f.debug_struct("McpTools")
            .field("server", &self.describe())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Toolset for McpTools {
    fn describe(&self) -> String {
        match &self.server {
            Server::Http { url } => format!("MCP server {url}"),
            Server::Stdio { program, .. } => format!("MCP server `{program}` (stdio)"),
        }
    }

    fn connect(&self) -> BoxFuture<'static, Result<ConnectedTools, ToolsetError>> {
        let this = self.clone();
        Box::pin(async move {
            let service = this.start().await?;
            let listed = match tokio::time::timeout(this.timeout, service.peer().list_all_tools())
                .await
            {
                Ok(Ok(listed)) => listed,
                Ok(Err(error)) => {
                    let _ = service.cancel().await;
                    return Err(this.error(format!("listing its tools failed: {error}")));
                }
                Err(_) => {
                    let _ = service.cancel().await;
                    return Err(this.error(format!("no list of tools within {:?}", this.timeout)));
                }
            };
            let server = Arc::<str>::from(this.describe());
            let tools = listed
                .into_iter()
                .filter(|tool| this.offers(&tool.name))
                .map(|tool| {
                    let remote = tool.name.to_string();
                    Tool::new(McpTool {
                        definition: ToolDefinition {
                            name: format!("{}{remote}", this.prefix),
                            description: tool
                                .description
                                .as_deref()
                                .or(tool.title.as_deref())
                                .unwrap_or_default()
                                .to_owned(),
                            parameters: Value::Object((*tool.input_schema).clone()),
                        },
                        pause: this
                            .needs_confirmation(&remote)
                            .then_some(PauseFor::Confirmation),
                        remote: remote.into(),
                        peer: service.peer().clone(),
                        server: server.clone(),
                        timeout: this.timeout,
                    })
                })
                .collect();
            Ok(ConnectedTools::new(tools).on_close(async move {
                // Ends the session (and a child process); the run is over either way.
                let _ = service.cancel().await;
            }))
        })
    }
}

impl IntoTools for McpTools {
    fn into_tools(self) -> Tools {
        Tools::PerRun(Arc::new(self))
    }
}

/// One tool of a connected MCP server.
struct McpTool {
    definition: ToolDefinition,
    pause: Option<PauseFor>,
    /// The server's name for it.
    remote: Cow<'static, str>,
    peer: Peer<RoleClient>,
    server: Arc<str>,
    timeout: Duration,
}

impl ToolFunction for McpTool {
    fn definition(&self) -> ToolDefinition {
        self.definition.clone()
    }

    fn pause_for(&self) -> Option<PauseFor> {
        self.pause.clone()
    }

    fn call(&self, arguments: Value) -> BoxFuture<'static, Result<String, ToolError>> {
        let peer = self.peer.clone();
        let remote = self.remote.clone();
        let name = self.definition.name.clone();
        let server = self.server.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let failed = |message: String| ToolError::Failed {
                tool: name.clone(),
                message,
            };
            let Value::Object(arguments) = arguments else {
                return Err(ToolError::InvalidArguments {
                    tool: name,
                    message: "the arguments must be a JSON object".to_owned(),
                });
            };
            let request = CallToolRequestParams::new(remote).with_arguments(arguments);
            match tokio::time::timeout(timeout, peer.call_tool(request)).await {
                Err(_) => Err(failed(format!(
                    "the MCP server did not answer within {timeout:?}"
                ))),
                Ok(Err(ServiceError::McpError(error))) => Err(failed(error.message.into_owned())),
                Ok(Err(error)) => {
                    // Transport detail stays in the log: it can name internal addresses.
                    tracing::warn!(%server, tool = %name, %error, "MCP tool call failed");
                    Err(failed("the MCP server is unavailable".to_owned()))
                }
                Ok(Ok(result)) => result_text(result).map_err(failed),
            }
        })
    }
}

/// The text a call's result gives the model: its text blocks, else its structured content;
/// an error result is the tool's error.
fn result_text(result: CallToolResult) -> Result<String, String> {
    let mut text: Vec<String> = result
        .content
        .iter()
        .filter_map(ContentBlock::as_text)
        .map(|block| block.text.clone())
        .collect();
    if text.is_empty()
        && let Some(structured) = &result.structured_content
    {
        text.push(structured.to_string());
    }
    let text = text.join("\n");
    if result.is_error == Some(true) {
        Err(text)
    } else {
        Ok(text)
    }
}
