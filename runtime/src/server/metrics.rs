//! `GET /metrics` and the middleware that counts every HTTP answer by route template.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

use super::auth::{AuthError, JwtAuth};
use super::state::OsState;
use crate::metrics::{CONTENT_TYPE, Metrics};

/// The route: the exposition, for admins only when authentication is on. The numbers span
/// every tenant, so a token without the admin scope is refused even when routes do not check
/// their scopes.
pub(crate) fn route(state: &OsState) -> MethodRouter<Arc<OsState>> {
    let route = get(exposition);
    match &state.auth {
        Some(auth) => route.route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(auth),
            admin_only,
        )),
        None => route,
    }
}

async fn exposition(State(state): State<Arc<OsState>>) -> Response {
    let text = state.runs.metrics().encode();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}

async fn admin_only(
    State(auth): State<Arc<JwtAuth>>,
    request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let caller = auth.verify(request.headers())?;
    if !caller.is_admin() {
        return Err(AuthError::MissingScope(auth.admin_scope_name().to_owned()));
    }
    Ok(next.run(request).await)
}

/// Middleware: counts the answer under the matched route's template (`/teams/{id}/runs`),
/// never the raw path, so the number of series stays what the router defines.
pub(crate) async fn count_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.http_request(
        route.as_ref().map(MatchedPath::as_str),
        &method,
        response.status().as_u16(),
    );
    response
}
