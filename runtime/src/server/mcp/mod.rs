//! agentos over MCP: a streamable-HTTP MCP endpoint at `/mcp`, on the same router, port,
//! authentication and run service as the REST routes.
//!
//! Its tools are agno's (`get_agentos_config`, `run_agent`, `run_team`, `continue_run`,
//! `cancel_run`, `get_sessions`, `get_session_runs`), each checking the scope its REST route
//! needs, plus one tool per component (`run_team__support-team`) whose input schema holds the
//! factory's `factory_input` schema, so a typed factory is callable from any MCP client.
//! The caller is the one the token names; a `user_id` argument counts only when
//! authentication is off, as on REST.

mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::auth::{AuthError, JwtAuth};
use super::state::{McpConfig, OsState};
use crate::runs::Caller;

/// Where the endpoint is mounted.
pub(crate) const MCP_PATH: &str = "/mcp";

/// The `/mcp` route: rmcp's streamable-HTTP service behind the API's authentication.
pub(crate) fn router(state: Arc<OsState>, config: &McpConfig) -> Router {
    // The components are fixed once the OS is built: list their tools once, not per request.
    let handler = OsMcp {
        tools: tools::catalogue(&state).into(),
        state: Arc::clone(&state),
    };
    let shutdown = state.runs.shutdown_token().child_token();
    let service: StreamableHttpService<OsMcp, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Default::default(),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(config.allowed_hosts.clone())
            .with_cancellation_token(shutdown),
    );
    let router = Router::new().nest_service(MCP_PATH, service);
    match &state.auth {
        Some(auth) => router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(auth),
            authenticate,
        )),
        None => router,
    }
}

/// Middleware: every MCP request carries a valid token when authentication is on; each tool
/// then checks the scope its REST route needs.
async fn authenticate(
    State(auth): State<Arc<JwtAuth>>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let caller = auth.verify(request.headers())?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The MCP server of one OS: a handle on its state.
#[derive(Clone)]
struct OsMcp {
    state: Arc<OsState>,
    /// What `tools/list` answers.
    tools: Arc<[rmcp::model::Tool]>,
}

impl OsMcp {
    /// The HTTP request a call came in: its headers (for factories) and the verified caller.
    fn request_parts(context: &RequestContext<RoleServer>) -> Option<&http::request::Parts> {
        context.extensions.get::<http::request::Parts>()
    }
}

impl ServerHandler for OsMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                self.state.config.os_id.clone(),
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "agentos: run the agents and teams of this server (their factories build them for \
             you from factory_input), continue or cancel runs, and read your sessions.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = Self::request_parts(&context);
        let verified = parts.and_then(|parts| parts.extensions.get::<Caller>().cloned());
        let headers = parts.map(|parts| parts.headers.clone()).unwrap_or_default();
        let arguments = request.arguments.unwrap_or_default();
        let call = tools::Call {
            state: &self.state,
            verified,
            headers,
        };
        Ok(call.run(&request.name, arguments).await.into())
    }
}
