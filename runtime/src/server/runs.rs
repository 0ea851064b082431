//! `POST /{teams,agents}/{id}/runs`, cancel, and reading runs back.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::auth::Caller;
use super::body::RunBody;
use super::error::ApiError;
use super::state::OsState;
use crate::agent::Agent;
use crate::component::{Component, HistorySettings};
use crate::context::RequestParts;
use crate::resolve::Resolver;
use crate::run::{RunEnv, RunEvent, RunOutput, RunRequest, RunStatus, run_agent, run_team};
use crate::store::NewRun;
use crate::team::Team;

/// A component the server can run: looked up by id, run to an output.
pub(crate) trait Servable: Component {
    fn resolver<'a>(state: &'a OsState, id: &str) -> Option<&'a Resolver<Self>>;
    fn history(&self) -> HistorySettings;
    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput>;
}

impl Servable for Team {
    fn resolver<'a>(state: &'a OsState, id: &str) -> Option<&'a Resolver<Self>> {
        state.teams.iter().find(|r| r.info().id == id)
    }

    fn history(&self) -> HistorySettings {
        Team::history(self)
    }

    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput> {
        Box::pin(run_team(self, request, env))
    }
}

impl Servable for Agent {
    fn resolver<'a>(state: &'a OsState, id: &str) -> Option<&'a Resolver<Self>> {
        state.agents.iter().find(|r| r.info().id == id)
    }

    fn history(&self) -> HistorySettings {
        Agent::history(self)
    }

    fn run<'a>(&'a self, request: &'a RunRequest, env: &'a RunEnv) -> BoxFuture<'a, RunOutput> {
        Box::pin(run_agent(self, request, env))
    }
}

/// Resolves the component for this request and runs it: streamed, whole, or in the background.
pub(crate) async fn create_run<C: Servable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    caller: Option<Extension<Arc<Caller>>>,
    headers: HeaderMap,
    body: Result<RunBody, ApiError>,
) -> Result<Response, ApiError> {
    let resolver = C::resolver(&state, &id).ok_or(ApiError::NotFound(C::KIND))?;
    let body = body?;
    if state.shutdown.is_cancelled() {
        return Err(ApiError::ShuttingDown);
    }

    let parts = RequestParts::new(&body.message).headers(headers);
    let parts = match caller {
        // What the token says wins over the body: a verified subject and session cannot be
        // replaced by form fields.
        Some(Extension(caller)) => parts
            .session_id(caller.session_id.clone().or(body.session_id))
            .verified(caller.user_id.clone(), caller.trusted.clone()),
        None => parts
            .session_id(body.session_id)
            .asserted_user(body.user_id),
    };
    let mut request = RunRequest {
        message: body.message,
        run_id: parts.run_id().to_owned(),
        session_id: parts.session().to_owned(),
        user_id: parts.identity().user_id().map(str::to_owned),
        history: Vec::new(),
    };

    let timeout = state.config.factory_timeout;
    let span =
        tracing::info_span!("resolve", kind = C::KIND.as_str(), id = %id, run_id = %request.run_id);
    let (component, input) = match tokio::time::timeout(
        timeout,
        resolver.resolve_keeping_input(body.factory_input, parts),
    )
    .instrument(span)
    .await
    {
        Ok(result) => result?,
        Err(_) => return Err(ApiError::FactoryTimeout(timeout.as_secs())),
    };

    let history = component.history();
    if history.add_history_to_context {
        request.history = state
            .store
            .history(&request.session_id, &id, history.num_history_runs)
            .await?;
    }
    state
        .store
        .start_run(NewRun {
            kind: C::KIND,
            component_id: &id,
            run_id: &request.run_id,
            session_id: &request.session_id,
            user_id: request.user_id.as_deref(),
            input: &request.message,
            factory_input: resolver.info().is_factory.then_some(Value::Object(input)),
        })
        .await?;

    let token = CancellationToken::new();
    state.runs.start(&request.run_id, token.clone());
    let env = RunEnv::new().with_cancel(token.clone());

    if body.background {
        let answer = json!({
            "run_id": request.run_id,
            "session_id": request.session_id,
            "status": RunStatus::Running.as_str(),
        });
        spawn_run(&state, component, request, env);
        return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
    }

    if !body.stream {
        let finished = spawn_run(&state, component, request, env);
        return match finished.await {
            Ok(output) => Ok(Json(output).into_response()),
            Err(_) => Err(ApiError::Factory(crate::FactoryError::internal(
                "the run task failed",
            ))),
        };
    }

    let (sink, events) = mpsc::unbounded_channel();
    spawn_run(
        &state,
        component,
        request,
        env.with_events(sink).streaming(true).recording(),
    );
    let stream = EventStream {
        events,
        next_id: 0,
        // A client that goes away drops the stream, and with it this guard: the run stops.
        _cancel_on_drop: token.drop_guard(),
    };
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Runs the component on its own task, so a client that goes away does not lose the run, and
/// stores how it ended.
fn spawn_run<C: Servable>(
    state: &Arc<OsState>,
    component: C,
    request: RunRequest,
    env: RunEnv,
) -> tokio::task::JoinHandle<RunOutput> {
    let state = Arc::clone(state);
    let span = tracing::info_span!("run", kind = C::KIND.as_str(), id = %component.id(), run_id = %request.run_id);
    state.tracker.clone().spawn(
        async move {
            let output = component.run(&request, &env).await;
            let events = env.recorded();
            let events = (!events.is_empty()).then_some(events.as_slice());
            store_finished(&state, &output, events).await;
            state.runs.finish(&output.run_id);
            output
        }
        .instrument(span),
    )
}

/// Stores a finished run, retrying while the database is away: a run that happened is not
/// dropped because the store blinked.
async fn store_finished(state: &OsState, output: &RunOutput, events: Option<&[Arc<RunEvent>]>) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=8 {
        match state.store.finish_run(output, events).await {
            Ok(()) => return,
            Err(error) if attempt < 8 => {
                tracing::warn!(%error, attempt, run_id = %output.run_id, "storing the run failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(%error, run_id = %output.run_id, "the run could not be stored");
            }
        }
    }
}

/// SSE frames of a run's events: `id:` a sequence number, `event:` the name, `data:` the JSON.
struct EventStream {
    events: mpsc::UnboundedReceiver<Arc<RunEvent>>,
    next_id: u64,
    _cancel_on_drop: DropGuard,
}

impl Stream for EventStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.events.poll_recv(cx).map(|event| {
            event.map(|event| {
                let id = self.next_id;
                self.next_id += 1;
                Ok(encode_event(&event, id))
            })
        })
    }
}

/// One SSE frame for `event`.
pub fn encode_event(event: &RunEvent, id: u64) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Event::default()
        .event(event.event.as_str())
        .id(id.to_string())
        .data(data)
}

/// `POST /{teams,agents}/{id}/runs/{run_id}/cancel`: stops the run here, or asks the replica
/// running it to.
pub(crate) async fn cancel_run<C: Servable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    C::resolver(&state, &id).ok_or(ApiError::NotFound(C::KIND))?;
    if state.runs.cancel(&run_id) || state.store.request_cancel(&run_id).await? {
        return Ok(Json(json!({"run_id": run_id, "status": "CANCELLING"})).into_response());
    }
    match state.store.get_run(&run_id).await? {
        Some((row, _)) if row.component_id == id => {
            Ok(Json(json!({"run_id": run_id, "status": row.status})).into_response())
        }
        _ => Err(ApiError::RunNotFound),
    }
}

/// Query of `GET /{teams,agents}/{id}/runs`.
#[derive(Deserialize)]
pub(crate) struct RunsQuery {
    session_id: Option<String>,
}

/// `GET /{teams,agents}/{id}/runs?session_id=`: the component's runs in a session, oldest first.
pub(crate) async fn list_runs<C: Servable>(
    State(state): State<Arc<OsState>>,
    Path(id): Path<String>,
    caller: Option<Extension<Arc<Caller>>>,
    Query(query): Query<RunsQuery>,
) -> Result<Response, ApiError> {
    C::resolver(&state, &id).ok_or(ApiError::NotFound(C::KIND))?;
    let Some(session_id) = query.session_id else {
        return Err(ApiError::BadBody("session_id is required".into()));
    };
    if !super::sessions::may_see_session(&state, &caller, &session_id).await? {
        return Ok(Json(Vec::<Value>::new()).into_response());
    }
    let runs = state
        .store
        .component_runs(C::KIND, &id, &session_id)
        .await?;
    Ok(Json(runs).into_response())
}

/// `GET /{teams,agents}/{id}/runs/{run_id}`.
pub(crate) async fn get_run<C: Servable>(
    State(state): State<Arc<OsState>>,
    Path((id, run_id)): Path<(String, String)>,
    caller: Option<Extension<Arc<Caller>>>,
) -> Result<Response, ApiError> {
    C::resolver(&state, &id).ok_or(ApiError::NotFound(C::KIND))?;
    match state.store.get_run(&run_id).await? {
        Some((row, run))
            if row.component_id == id
                && super::sessions::may_see_run(&caller, row.user_id.as_deref()) =>
        {
            Ok(Json(run).into_response())
        }
        _ => Err(ApiError::RunNotFound),
    }
}
