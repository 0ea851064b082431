//! The HTTP server: agno's AgentOS API on axum.

mod a2a;
mod admin;
mod agui;
mod answers;
mod auth;
mod body;
mod connections;
mod cors;
mod discovery;
mod error;
mod mcp;
mod memories;
mod metrics;
mod openapi;
mod params;
mod playground;
mod runs;
mod sessions;
mod state;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{MethodRouter, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use auth::{AuthConfigError, AuthError, JwtAuth, TokenSource};
pub use body::RunBody;
pub use connections::{ConnectionLimits, MAX_HEADER_BYTES, MAX_HEADER_FIELDS};
pub use error::{ApiError, FieldProblem};
pub(crate) use state::OsState;
pub use state::{McpConfig, ServerConfig};
pub use wire::event_frame;

use crate::agent::Agent;
use crate::component::ComponentKind;
use crate::runs::Runnable;
use crate::team::Team;
use crate::workflow::Workflow;
use auth::RouteScope;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API's routes over `state`. Each route declares the scope it needs next to it; with
/// auth off the declarations are inert.
pub(crate) fn router(state: Arc<OsState>) -> Router {
    let openapi_json =
        axum::body::Bytes::from(serde_json::to_vec(&openapi::document(&state)).unwrap_or_default());
    let body_limit = state.config.body_limit;
    let cors_origins = cors::origins(state.config.cors_origins.as_deref());
    let auth = state.auth.clone();
    let guard = |route: MethodRouter<Arc<OsState>>, scope: RouteScope| match &auth {
        Some(auth) => route.route_layer(axum::middleware::from_fn_with_state(
            (Arc::clone(auth), scope),
            auth::authorize,
        )),
        None => route,
    };
    let admin_only = |route: MethodRouter<Arc<OsState>>| match &auth {
        Some(auth) => route.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(auth),
            auth::authorize_admin,
        )),
        None => route,
    };
    let (team, agent, workflow) = (
        ComponentKind::Team,
        ComponentKind::Agent,
        ComponentKind::Workflow,
    );
    let counted = Arc::clone(state.runs.metrics());
    let playground = if state.config.playground {
        Router::new().route("/playground", get(playground::page))
    } else {
        Router::new()
    };
    let mcp = match &state.config.mcp {
        Some(config) => mcp::router(Arc::clone(&state), config),
        None => Router::new(),
    };
    Router::new()
        .route("/health", get(discovery::health))
        .route("/ready", get(discovery::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/metrics/refresh", post(metrics::refresh))
        .route("/metrics/refresh/status", get(metrics::refresh_status))
        .route("/config", guard(get(discovery::config), RouteScope::new("system", "read")))
        .route("/teams", guard(get(discovery::list_components::<Team>), RouteScope::of(team, "read")))
        .route("/teams/{id}", guard(get(discovery::get_component::<Team>), RouteScope::of(team, "read")))
        .route("/teams/{id}/runs", guard(post(runs::create_run::<Team>), RouteScope::of(team, "run")))
        .route("/teams/{id}/runs", guard(get(runs::list_runs::<Team>), RouteScope::new("sessions", "read")))
        .route("/teams/{id}/runs/{run_id}", guard(get(runs::get_run::<Team>), RouteScope::new("sessions", "read")))
        .route("/teams/{id}/runs/{run_id}/cancel", guard(post(runs::cancel_run::<Team>), RouteScope::of(team, "run")))
        .route("/teams/{id}/runs/{run_id}/resume", guard(get(runs::resume_run::<Team>).post(runs::resume_run_form::<Team>), RouteScope::of(team, "run")))
        .route("/teams/{id}/runs/{run_id}/continue", guard(post(runs::continue_run::<Team>), RouteScope::of(team, "run")))
        .route("/agents", guard(get(discovery::list_components::<Agent>), RouteScope::of(agent, "read")))
        .route("/agents/{id}", guard(get(discovery::get_component::<Agent>), RouteScope::of(agent, "read")))
        .route("/agents/{id}/runs", guard(post(runs::create_run::<Agent>), RouteScope::of(agent, "run")))
        .route("/agents/{id}/runs", guard(get(runs::list_runs::<Agent>), RouteScope::new("sessions", "read")))
        .route("/agents/{id}/runs/{run_id}", guard(get(runs::get_run::<Agent>), RouteScope::new("sessions", "read")))
        .route("/agents/{id}/runs/{run_id}/cancel", guard(post(runs::cancel_run::<Agent>), RouteScope::of(agent, "run")))
        .route("/agents/{id}/runs/{run_id}/resume", guard(get(runs::resume_run::<Agent>).post(runs::resume_run_form::<Agent>), RouteScope::of(agent, "run")))
        .route("/agents/{id}/runs/{run_id}/continue", guard(post(runs::continue_run::<Agent>), RouteScope::of(agent, "run")))
        .route("/workflows", guard(get(discovery::list_components::<Workflow>), RouteScope::of(workflow, "read")))
        .route("/workflows/{id}", guard(get(discovery::get_component::<Workflow>), RouteScope::of(workflow, "read")))
        .route("/workflows/{id}/runs", guard(post(runs::create_run::<Workflow>), RouteScope::of(workflow, "run")))
        .route("/workflows/{id}/runs", guard(get(runs::list_runs::<Workflow>), RouteScope::new("sessions", "read")))
        .route("/workflows/{id}/runs/{run_id}", guard(get(runs::get_run::<Workflow>), RouteScope::new("sessions", "read")))
        .route("/workflows/{id}/runs/{run_id}/cancel", guard(post(runs::cancel_run::<Workflow>), RouteScope::of(workflow, "run")))
        .route("/workflows/{id}/runs/{run_id}/resume", guard(get(runs::resume_run::<Workflow>).post(runs::resume_run_form::<Workflow>), RouteScope::of(workflow, "run")))
        .route("/workflows/{id}/runs/{run_id}/continue", guard(post(runs::continue_run::<Workflow>), RouteScope::of(workflow, "run")))
        .merge(agui::single(&state, &guard))
        .route("/agui/agents/{id}", guard(post(agui::run::<Agent>), RouteScope::of(agent, "run")))
        .route("/agui/teams/{id}", guard(post(agui::run::<Team>), RouteScope::of(team, "run")))
        .route("/agui/workflows/{id}", guard(post(agui::run::<Workflow>), RouteScope::of(workflow, "run")))
        .merge(a2a_routes::<Team>(&guard))
        .merge(a2a_routes::<Agent>(&guard))
        .merge(a2a_routes::<Workflow>(&guard))
        .route("/sessions", guard(get(sessions::list_sessions), RouteScope::new("sessions", "read")))
        .route("/sessions/{session_id}", guard(get(sessions::get_session), RouteScope::new("sessions", "read")))
        .route("/sessions/{session_id}", guard(axum::routing::delete(sessions::delete_session), RouteScope::new("sessions", "delete")))
        .route("/sessions/{session_id}/runs", guard(get(sessions::session_runs), RouteScope::new("sessions", "read")))
        .route("/sessions/{session_id}/runs/{run_id}", guard(get(sessions::session_run), RouteScope::new("sessions", "read")))
        .route("/sessions", guard(post(sessions::create_session), RouteScope::new("sessions", "write")))
        .route("/sessions", guard(axum::routing::delete(sessions::delete_sessions), RouteScope::new("sessions", "delete")))
        .route("/sessions/{session_id}", guard(axum::routing::patch(sessions::update_session), RouteScope::new("sessions", "write")))
        .route("/sessions/{session_id}/rename", guard(post(sessions::rename_session), RouteScope::new("sessions", "write")))
        .route("/memories", guard(get(memories::list_memories), RouteScope::new("memories", "read")))
        .route("/memories", guard(post(memories::create_memory), RouteScope::new("memories", "write")))
        .route("/memories", guard(axum::routing::delete(memories::delete_memories), RouteScope::new("memories", "delete")))
        .route("/memories/{memory_id}", guard(get(memories::get_memory), RouteScope::new("memories", "read")))
        .route("/memories/{memory_id}", guard(axum::routing::patch(memories::update_memory), RouteScope::new("memories", "write")))
        .route("/memories/{memory_id}", guard(axum::routing::delete(memories::delete_memory), RouteScope::new("memories", "delete")))
        .route("/memory_topics", guard(get(memories::memory_topics), RouteScope::new("memories", "read")))
        .route("/user_memory_stats", guard(get(memories::user_memory_stats), RouteScope::new("memories", "read")))
        .route("/admin/store", admin_only(get(admin::store)))
        .with_state(state)
        .merge(unbuilt_features())
        .merge(playground)
        .merge(mcp)
        .route(
            "/openapi.json",
            get(move || {
                let body = openapi_json.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(body_limit, body::refuse_declared_oversize))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(answers::panicked))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id);
                #[cfg(feature = "otel")]
                crate::otel::follow_traceparent(&span, request.headers());
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // Every error answer from inside, the framework's own included, in the API's shape.
        .layer(axum::middleware::map_response(answers::explain))
        // Outermost, so preflights are answered before authentication and every answer,
        // a 401 included, carries the CORS headers and `vary: origin`.
        .layer(cors::layer(cors_origins))
        // A layer of the router, so it sees the matched route; around the rest, so every
        // answer is counted, a preflight or a 401 included.
        .layer(axum::middleware::from_fn_with_state(counted, metrics::count_requests))
}

/// The Agent2Agent routes of one component kind (`server/a2a.rs`), each behind the scope of
/// its REST counterpart.
fn a2a_routes<C: Runnable>(
    guard: &impl Fn(MethodRouter<Arc<OsState>>, RouteScope) -> MethodRouter<Arc<OsState>>,
) -> Router<Arc<OsState>> {
    let base = format!("/a2a/{}/{{id}}", C::KIND.plural());
    let run = || RouteScope::of(C::KIND, "run");
    Router::new()
        .route(
            &format!("{base}/.well-known/agent-card.json"),
            guard(get(a2a::agent_card::<C>), RouteScope::of(C::KIND, "read")),
        )
        .route(&base, guard(post(a2a::rpc::<C>), run()))
        .route(
            &format!("{base}/v1/message:send"),
            guard(a2a::at::<C>(a2a::Method::Send), run()),
        )
        .route(
            &format!("{base}/v1/message:stream"),
            guard(a2a::at::<C>(a2a::Method::Stream), run()),
        )
        .route(
            &format!("{base}/v1/tasks:get"),
            guard(a2a::at::<C>(a2a::Method::GetTask), run()),
        )
        .route(
            &format!("{base}/v1/tasks:cancel"),
            guard(a2a::at::<C>(a2a::Method::CancelTask), run()),
        )
}

/// The route prefixes of agno features agentos does not serve yet: each answers 503 with a
/// `detail` naming the feature, as agno answers for a feature that is not enabled, so a UI
/// shows "not enabled" instead of a broken page.
fn unbuilt_features() -> Router {
    let mut router = Router::new();
    for (feature, prefixes, _) in wire::UNBUILT_FEATURES {
        for prefix in *prefixes {
            let unavailable =
                axum::routing::any(move || async move { ApiError::FeatureUnavailable(feature) });
            router = router
                .route(&format!("/{prefix}"), unavailable.clone())
                .route(&format!("/{prefix}/{{*rest}}"), unavailable);
        }
    }
    router
}

/// Serves `router` on `listener` until ctrl-c or SIGTERM (or `stop` resolves), then stops
/// accepting and waits up to the grace period for in-flight runs.
pub(crate) async fn serve_until(
    state: Arc<OsState>,
    router: Router,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let signalled = Arc::clone(&state);
    let signal = async move {
        tokio::select! {
            _ = stop => {},
            _ = shutdown_signal() => {},
        }
        tracing::info!("shutting down: no new connections; waiting for runs in flight");
        signalled.runs.begin_shutdown();
    };
    // Connections get timeouts and a bound; see `connections`.
    let serving = connections::serve(listener, router, state.config.connections, signal);
    let mut serving = std::pin::pin!(serving);
    let grace = state.config.shutdown_grace;
    // The grace bounds every run, whatever holds it: a streamed or whole answer keeps its
    // connection (and so the server) open until its run ends.
    let deadline = async {
        state.runs.shutdown_token().cancelled().await;
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        served = &mut serving => Some(served),
        _ = deadline => None,
    };
    let in_flight = state.runs.begin_shutdown();
    match served {
        Some(served) => {
            // Connections are closed; background runs may still go on, within the grace.
            let left = grace.saturating_sub(state.runs.shutting_down_for());
            if tokio::time::timeout(left, in_flight.wait()).await.is_err() {
                stop_the_rest(&state).await;
            }
            served
        }
        None => {
            stop_the_rest(&state).await;
            tokio::time::timeout(Duration::from_secs(5), &mut serving)
                .await
                .unwrap_or(Ok(()))
        }
    }
}

/// The grace is over: runs still going end now, stored as interrupted by the shutdown.
async fn stop_the_rest(state: &OsState) {
    let running = state.runs.interrupt_all();
    tracing::warn!(
        runs = running,
        grace_s = state.config.shutdown_grace.as_secs(),
        "runs still in flight at the end of the grace period are stopped and stored interrupted"
    );
    let in_flight = state.runs.begin_shutdown();
    if tokio::time::timeout(Duration::from_secs(10), in_flight.wait())
        .await
        .is_err()
    {
        tracing::error!("stopped runs did not store their end in time; the next start sweeps them");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
