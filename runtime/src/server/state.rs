//! What every handler shares: the run service, the configuration, and authentication.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::DropGuard;

use super::auth::JwtAuth;
use crate::component::ComponentKind;
use crate::runs::RunService;

/// Settings of the HTTP server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The OS id reported by `/config`.
    pub os_id: String,
    /// A name reported by `/config`.
    pub name: Option<String>,
    /// A description reported by `/config`.
    pub description: Option<String>,
    /// The id `/config` and discovery give the session database (agno's `db_id`).
    pub db_id: String,
    /// Browser origins allowed to call the API (CORS); `None` reads `AGENTOS_CORS_ORIGINS`,
    /// else allows agno's own control plane, as agno does.
    pub cors_origins: Option<Vec<String>>,
    /// How long a factory may take before the request answers 504.
    pub factory_timeout: Duration,
    /// The largest request body accepted (413 above it).
    pub body_limit: usize,
    /// On shutdown, how long in-flight runs may take to finish.
    pub shutdown_grace: Duration,
    /// Whether `GET /playground` serves the browser page.
    pub playground: bool,
    /// Connection timeouts and the bound on open connections.
    pub connections: super::ConnectionLimits,
    /// The MCP endpoint at `/mcp`, when served.
    pub mcp: Option<McpConfig>,
    /// The component `POST /agui` serves, if any.
    pub agui: Option<(ComponentKind, String)>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            os_id: "agentos".to_owned(),
            name: None,
            description: None,
            db_id: "agentos-db".to_owned(),
            cors_origins: None,
            factory_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            playground: false,
            connections: super::ConnectionLimits::default(),
            mcp: None,
            agui: None,
        }
    }
}

/// Settings of the MCP endpoint.
#[derive(Clone, Debug)]
pub struct McpConfig {
    /// `Host` values the endpoint answers (DNS rebinding protection); empty answers any. By
    /// default the loopback names, so a public deployment lists its own host names.
    pub allowed_hosts: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            allowed_hosts: ["localhost", "127.0.0.1", "::1"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The shared state behind an [`crate::AgentOs`] and its routers.
pub(crate) struct OsState {
    /// The components, and everything about their runs.
    pub(crate) runs: RunService,
    pub(crate) config: ServerConfig,
    /// JWT verification; `None` serves without authentication.
    pub(crate) auth: Option<Arc<JwtAuth>>,
    pub(crate) started_at: String,
    /// The last refresh of agno's usage metrics.
    pub(crate) usage_refresh: UsageRefresh,
    /// Stops the background work (the run watcher) when the last handle to the OS is gone.
    pub(crate) _background: DropGuard,
}

/// When agno's usage metrics were last refreshed (`POST /metrics/refresh`): the Unix seconds
/// it started and finished.
#[derive(Debug, Default)]
pub(crate) struct UsageRefresh(std::sync::Mutex<Option<(i64, i64)>>);

impl UsageRefresh {
    pub(crate) fn record(&self, started: i64, finished: i64) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((started, finished));
    }

    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
