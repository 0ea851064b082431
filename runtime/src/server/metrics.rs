//! `GET /metrics` in both of its formats, agno's metrics refresh routes, and the middleware
//! that counts every HTTP answer by route template.
//!
//! `GET /metrics` answers agno's usage figures as JSON when the request prefers JSON (agno's
//! control plane, a browser's fetch), and the Prometheus exposition otherwise: Prometheus's
//! scraper asks for OpenMetrics or plain text and keeps getting text.

use std::sync::Arc;

use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use serde_json::Value;

use super::auth::AuthError;
use super::error::{ApiError, FieldProblem};
use super::state::OsState;
use super::wire;
use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::runs::Caller;
use crate::time::{days_of_date, now_unix};

/// The days agno's metrics page gets when it names no start: the last 30, today included.
const DEFAULT_DAYS: i64 = 30;

/// The query of agno's metrics routes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UsageQuery {
    starting_date: Option<String>,
    ending_date: Option<String>,
    /// The user whose figures an admin asks for; ignored for anyone else.
    user_id: Option<String>,
    /// `POST /metrics/refresh?background=true`: answer at once.
    #[serde(default)]
    background: bool,
}

/// `GET /metrics`: JSON for a request that prefers it, the exposition otherwise.
pub(crate) async fn metrics(
    State(state): State<Arc<OsState>>,
    headers: HeaderMap,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if !prefers_json(&headers) {
        return exposition(&state, &headers).into_response();
    }
    let answer = async {
        let Query(query) = query.map_err(|e| ApiError::BadBody(e.body_text()))?;
        let caller = usage_caller(&state, &headers, &query, "read")?;
        let figures = counted(&state, &caller, &query).await?;
        let owner = owner(&caller, &query);
        Ok::<_, Refused>(Json(wire::metrics_page(&figures, owner, now_unix())))
    };
    answer.await.into_response()
}

/// The figures of the days `query` asks for, as `caller` may see them.
async fn counted(
    state: &OsState,
    caller: &Caller,
    query: &UsageQuery,
) -> Result<Vec<crate::store::DayFigures>, ApiError> {
    let (first, last) = days(query)?;
    Ok(state
        .runs
        .daily_figures(caller, first, last, query.user_id.as_deref())
        .await?)
}

/// Why a usage route refused: the token, or the request.
pub(crate) enum Refused {
    Auth(AuthError),
    Api(ApiError),
}

impl From<AuthError> for Refused {
    fn from(error: AuthError) -> Self {
        Refused::Auth(error)
    }
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Refused::Api(error)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Auth(error) => error.into_response(),
            Refused::Api(error) => error.into_response(),
        }
    }
}

/// `POST /metrics/refresh`: agno recomputes its stored daily aggregates here; agentos counts
/// them from the runs on every read, so a refresh counts them once more and answers them
/// (with `background=true` there is nothing to do later: it answers 202 at once). Either way
/// the refresh is recorded
/// for `GET /metrics/refresh/status`.
pub(crate) async fn refresh(
    State(state): State<Arc<OsState>>,
    headers: HeaderMap,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refused> {
    let Query(query) = query.map_err(|e| ApiError::BadBody(e.body_text()))?;
    let caller = usage_caller(&state, &headers, &query, "write")?;
    let started = now_unix();
    if query.background {
        days(&query)?;
        state.usage_refresh.record(started, now_unix());
        let body = serde_json::json!({
            "status": "started",
            "message": "Metrics are counted from the stored runs on each read",
        });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let figures = counted(&state, &caller, &query).await?;
    state.usage_refresh.record(started, now_unix());
    let owner = owner(&caller, &query);
    Ok(Json(Value::Array(wire::day_metrics(&figures, owner, now_unix()))).into_response())
}

/// `GET /metrics/refresh/status`: the last refresh.
pub(crate) async fn refresh_status(
    State(state): State<Arc<OsState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refused> {
    usage_caller(&state, &headers, &UsageQuery::default(), "read")?;
    Ok(Json(wire::refresh_status(state.usage_refresh.last())))
}

/// The Prometheus exposition: its numbers span every tenant, so with authentication on it is
/// for admins only, even when routes do not check their scopes.
fn exposition(state: &OsState, headers: &HeaderMap) -> Result<Response, AuthError> {
    if let Some(auth) = &state.auth {
        let caller = auth.verify(headers)?;
        if !caller.is_admin() {
            return Err(AuthError::MissingScope(auth.admin_scope_name().to_owned()));
        }
    }
    let text = state.runs.metrics().encode();
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response())
}

/// Who asks for usage figures: the token's caller, holding `metrics:<action>` when routes
/// check their scopes; without authentication, whoever `user_id` names.
fn usage_caller(
    state: &OsState,
    headers: &HeaderMap,
    query: &UsageQuery,
    action: &str,
) -> Result<Caller, AuthError> {
    let Some(auth) = &state.auth else {
        return Ok(Caller::open(query.user_id.clone()));
    };
    let caller = auth.verify(headers)?;
    if auth.checks_route_scopes() && !caller.may_any("metrics", action) {
        return Err(AuthError::MissingScope(format!("metrics:{action}")));
    }
    Ok(caller)
}

/// The one user the figures are of, when they are of one.
fn owner<'a>(caller: &'a Caller, query: &'a UsageQuery) -> Option<&'a str> {
    match caller.visible_owner() {
        None => query.user_id.as_deref().filter(|user| !user.is_empty()),
        Some(user) => user,
    }
}

/// The days asked for: `starting_date` to `ending_date` (`YYYY-MM-DD`, both included), by
/// default the last 30 days to today.
fn days(query: &UsageQuery) -> Result<(i64, i64), ApiError> {
    let date = |name: &'static str, text: &Option<String>| -> Result<Option<i64>, ApiError> {
        let Some(text) = text.as_deref().filter(|text| !text.is_empty()) else {
            return Ok(None);
        };
        days_of_date(text).map(Some).ok_or_else(|| {
            ApiError::InvalidField(FieldProblem {
                loc: vec!["query".into(), name.into()],
                kind: "date_from_datetime_parsing",
                msg: "Input should be a valid date in the format YYYY-MM-DD".into(),
                input: Value::String(text.to_owned()),
            })
        })
    };
    let today = now_unix().div_euclid(86_400);
    let last = date("ending_date", &query.ending_date)?.unwrap_or(today);
    let first = date("starting_date", &query.starting_date)?.unwrap_or(last - (DEFAULT_DAYS - 1));
    if first > last {
        return Err(ApiError::BadBody(
            "starting_date must not be after ending_date".into(),
        ));
    }
    Ok((first, last))
}

/// Whether the request prefers JSON to text: `application/json` weighs more than
/// `text/plain` and OpenMetrics, or as much and comes first. `*/*` alone is text.
fn prefers_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    let (mut json, mut text) = (None::<(f32, usize)>, None::<(f32, usize)>);
    for (position, range) in accept.enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|param| param.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let best = match media.as_str() {
            "application/json" => &mut json,
            "text/plain" | "application/openmetrics-text" => &mut text,
            _ => continue,
        };
        if best.is_none_or(|(q, _)| weight > q) {
            *best = Some((weight, position));
        }
    }
    match (json, text) {
        (Some((q, _)), _) if q <= 0.0 => false,
        (Some(_), None) => true,
        (Some((jq, jp)), Some((tq, tp))) => jq > tq || (jq == tq && jp < tp),
        (None, _) => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn json_is_for_requests_that_prefer_it_and_prometheus_keeps_text() {
        for json in [
            "application/json",
            "application/json, text/plain, */*",
            "text/plain;q=0.5, application/json",
        ] {
            assert!(prefers_json(&accepting(json)), "{json}");
        }
        for text in [
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "text/plain;version=0.0.4",
            "*/*",
            "text/plain, application/json",
            "application/json;q=0",
        ] {
            assert!(!prefers_json(&accepting(text)), "{text}");
        }
        assert!(!prefers_json(&HeaderMap::new()), "no Accept is text");
    }
}
