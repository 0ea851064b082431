//! An MCP server (rmcp's own) with order tools, in the test process over streamable HTTP or
//! as a child process over stdio, for the tests and examples of `McpTools`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// An MCP server on `127.0.0.1:0`, at `/mcp`, whose tools answer for the user its caller's
/// `X-User-Id` header names:
///
/// - `lookup_order {order_id}`: `order <id> of <user>: shipped`;
/// - `cancel_order {order_id}`: `order <id> of <user>: cancelled` (the one to ask a person about);
/// - `slow_lookup {seconds}`: answers `slow answer` after that long;
/// - `broken_lookup {}`: always a tool error, `the order database is down`.
///
/// It stops, closing its sessions and connections, when [`stop`](Self::stop)ped or dropped.
pub struct McpOrders {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl McpOrders {
    /// Binds `127.0.0.1:0` and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound, which leaves a test nothing to test.
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("the MCP server cannot bind 127.0.0.1:0: {error}"))
    }

    /// Binds `address` and starts serving.
    pub async fn start_on(address: impl tokio::net::ToSocketAddrs) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shutdown = CancellationToken::new();
        let orders = Orders::new(Some(seen.clone()));
        let service: StreamableHttpService<Orders, LocalSessionManager> =
            StreamableHttpService::new(
                move || Ok(orders.clone()),
                Default::default(),
                StreamableHttpServerConfig::default()
                    .with_cancellation_token(shutdown.child_token()),
            );
        let router = axum::Router::new().nest_service("/mcp", service);
        let task = tokio::spawn(serve_until_stopped(listener, router, shutdown.clone()));
        Ok(McpOrders {
            address,
            seen,
            shutdown,
            task,
        })
    }

    /// The URL to give `McpTools::http`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.address)
    }

    /// The `X-User-Id` of every tool call so far, in order (`anonymous` for none).
    pub fn users_seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops serving, as a server that dies does: its sessions end and nothing answers.
    pub fn stop(&self) {
        self.shutdown.cancel();
        self.task.abort();
    }
}

/// Serves `router` until `shutdown`, then drops every connection at once, mid-answer or not,
/// as a process that dies does (`axum::serve` would let them finish).
async fn serve_until_stopped(
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        // An answer goes out in small writes (headers, then SSE events): without this each
        // waits for the client's delayed ACK, some 40 ms a call.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

impl Drop for McpOrders {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for McpOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpOrders")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Serves the same tools over this process's stdin and stdout until the client leaves.
pub async fn serve_mcp_orders_on_stdio() -> std::io::Result<()> {
    let service = Orders::new(None)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    service.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

#[derive(Deserialize, JsonSchema)]
struct OrderRequest {
    /// The order's id, such as `A-1001`.
    order_id: String,
}

#[derive(Deserialize, JsonSchema)]
struct SlowRequest {
    /// How long to take, in seconds.
    seconds: f64,
}

#[derive(Clone)]
struct Orders {
    tool_router: ToolRouter<Self>,
    seen: Option<Arc<Mutex<Vec<String>>>>,
}

#[tool_router]
impl Orders {
    fn new(seen: Option<Arc<Mutex<Vec<String>>>>) -> Self {
        Orders {
            tool_router: Self::tool_router(),
            seen,
        }
    }

    /// The user the call's `X-User-Id` header names (`anonymous` over stdio or without one),
    /// noted for the test.
    fn caller(&self, context: &RequestContext<RoleServer>) -> String {
        let user = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.headers.get("x-user-id"))
            .and_then(|value| value.to_str().ok())
            .unwrap_or("anonymous")
            .to_owned();
        if let Some(seen) = &self.seen {
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(user.clone());
        }
        user
    }

    #[tool(description = "Looks up an order of the current user and says where it is.")]
    fn lookup_order(
        &self,
        Parameters(request): Parameters<OrderRequest>,
        context: RequestContext<RoleServer>,
    ) -> String {
        let user = self.caller(&context);
        format!("order {} of {user}: shipped", request.order_id)
    }

    #[tool(description = "Cancels an order of the current user.")]
    fn cancel_order(
        &self,
        Parameters(request): Parameters<OrderRequest>,
        context: RequestContext<RoleServer>,
    ) -> String {
        let user = self.caller(&context);
        format!("order {} of {user}: cancelled", request.order_id)
    }

    #[tool(description = "Looks up an order slowly.")]
    async fn slow_lookup(
        &self,
        Parameters(request): Parameters<SlowRequest>,
        context: RequestContext<RoleServer>,
    ) -> String {
        self.caller(&context);
        tokio::time::sleep(Duration::from_secs_f64(request.seconds.clamp(0.0, 60.0))).await;
        "slow answer".to_owned()
    }

    #[tool(description = "Looks up an order, and fails.")]
    fn broken_lookup(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        self.caller(&context);
        Ok(CallToolResult::error(vec![ContentBlock::text(
            "the order database is down",
        )]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Orders {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("Order tools for the agentos MCP tests and examples")
    }
}
