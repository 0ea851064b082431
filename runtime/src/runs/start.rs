//! Starting a run: from the caller's request to a whole output, an event stream, or a
//! background handle, with the run stored at both ends.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{FutureExt, Stream};
use http::HeaderMap;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::registry::Registered;
use super::{Caller, RunError, RunService, Runnable, limits};
use crate::context::RequestParts;
use crate::resolve::RawInput;
use crate::run::{RunEnv, RunEvent, RunMeta, RunOutput, RunRequest, failed_run};
use crate::store::{NewRun, Store};

/// What a caller asks to run.
#[derive(Debug)]
pub struct RunAsk {
    /// The message to answer.
    pub message: String,
    /// The session to continue; a new one when `None` (a token's session claim wins).
    pub session_id: Option<String>,
    /// The factory's input, as sent.
    pub factory_input: RawInput,
    /// The request's headers, for the factory.
    pub headers: HeaderMap,
    /// Send events as they happen instead of the whole output at the end.
    pub stream: bool,
    /// Answer at once and run on.
    pub background: bool,
}

/// How a run answers.
#[derive(Debug)]
pub enum RunAnswer {
    /// The whole output, once the run has ended (an error or a cancellation included).
    Whole(Box<RunOutput>),
    /// The run's events as they happen.
    Stream(RunEvents),
    /// The run goes on in the background.
    Background {
        /// The run's id.
        run_id: String,
        /// Its session.
        session_id: String,
    },
}

/// A streamed run's events. Dropping it (the client went away) cancels the run.
#[derive(Debug)]
pub struct RunEvents {
    events: mpsc::UnboundedReceiver<Arc<RunEvent>>,
    _cancel_on_drop: DropGuard,
}

impl Stream for RunEvents {
    type Item = Arc<RunEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl RunService {
    /// Starts a run of the component `C` with the id `id` for `caller`.
    pub(crate) async fn start<C: Runnable>(
        &self,
        id: &str,
        caller: &Caller,
        ask: RunAsk,
    ) -> Result<RunAnswer, RunError> {
        let resolver = self.resolver::<C>(id)?;
        if self.shutdown.is_cancelled() {
            return Err(RunError::ShuttingDown);
        }

        // The edge: nothing the store could not hold goes further.
        let session_id = caller
            .session_claim()
            .map(str::to_owned)
            .or(ask.session_id)
            .filter(|s| !s.is_empty());
        if let Some(session_id) = &session_id {
            limits::check_id("session_id", session_id)?;
        }
        if let Some(user_id) = caller.user_id() {
            limits::check_id("user_id", user_id)?;
        }
        limits::check_text("message", &ask.message)?;

        // A session named by the client must be the caller's own, with this component. The
        // start write checks again, in one transaction with the insert, for a session created
        // meanwhile by someone else.
        let continues = match &session_id {
            Some(session_id) => match self.store.session(session_id).await? {
                Some(session) if session.is_owned_by(C::KIND, id, caller.user_id()) => true,
                Some(_) => return Err(RunError::SessionNotFound),
                None => false,
            },
            None => false,
        };

        let meta = RunMeta::new(session_id, caller.identity().clone());
        let parts = RequestParts::for_run(meta.clone(), &ask.message)
            .headers(ask.headers)
            .verified(Arc::clone(caller.trusted()));
        let span = tracing::info_span!("resolve", kind = %C::KIND, id, run_id = meta.run_id());
        let timeout = self.factory_timeout;
        let (component, input) = tokio::time::timeout(
            timeout,
            resolver.resolve_keeping_input(ask.factory_input, parts),
        )
        .instrument(span)
        .await
        .map_err(|_| RunError::FactoryTimeout(timeout.as_secs()))??;
        let factory_input = resolver.info().is_factory.then_some(Value::Object(input));
        if let Some(input) = &factory_input {
            limits::check_json("factory_input", input)?;
        }

        let settings = component.history();
        let history = if continues && settings.add_history_to_context {
            self.store
                .history(
                    meta.session_id(),
                    C::KIND,
                    id,
                    meta.user_id(),
                    settings.num_history_runs,
                )
                .await?
        } else {
            Vec::new()
        };
        self.store
            .start_run(NewRun {
                kind: C::KIND,
                component_id: id,
                meta: &meta,
                input: &ask.message,
                factory_input,
            })
            .await?;

        let token = CancellationToken::new();
        let registered = self.registry.register(meta.run_id(), token.clone());
        let env = RunEnv::new().with_cancel(token.clone());
        let request = RunRequest {
            message: ask.message,
            meta,
            history,
        };
        if ask.background {
            let answer = RunAnswer::Background {
                run_id: request.meta.run_id().to_owned(),
                session_id: request.meta.session_id().to_owned(),
            };
            self.spawn(component, request, env, registered);
            return Ok(answer);
        }
        if !ask.stream {
            let task = self.spawn(component, request, env, registered);
            return match task.await {
                Ok(output) => Ok(RunAnswer::Whole(Box::new(output))),
                Err(_) => Err(RunError::Interrupted),
            };
        }
        let (sink, events) = mpsc::unbounded_channel();
        let env = env.with_events(sink).streaming(true).recording();
        self.spawn(component, request, env, registered);
        Ok(RunAnswer::Stream(RunEvents {
            events,
            _cancel_on_drop: token.drop_guard(),
        }))
    }

    /// Runs the component on a task of its own, so a client that goes away does not lose the
    /// run, and stores how it ended. A panic anywhere inside the run ends it as an error.
    fn spawn<C: Runnable>(
        &self,
        component: C,
        request: RunRequest,
        env: RunEnv,
        registered: Registered,
    ) -> tokio::task::JoinHandle<RunOutput> {
        let store = self.store.clone();
        let span = tracing::info_span!(
            "run",
            kind = %C::KIND,
            id = component.id(),
            run_id = request.meta.run_id()
        );
        self.tracker.spawn(
            async move {
                let _registered = registered;
                let ran = AssertUnwindSafe(component.run(&request, &env))
                    .catch_unwind()
                    .await;
                let output = match ran {
                    Ok(output) => output,
                    Err(panic) => {
                        tracing::error!(panic = %crate::error::panic_message(&*panic), "run panicked");
                        failed_run(
                            C::KIND,
                            component.id(),
                            component.name(),
                            component.model(),
                            &request,
                            &env,
                        )
                    }
                };
                let events = env.recorded();
                let events = (!events.is_empty()).then_some(events.as_slice());
                store_finished(&store, &output, events).await;
                output
            }
            .instrument(span),
        )
    }
}

/// Stores a finished run, retrying while the database is away: a run that happened is not
/// dropped because the store blinked.
async fn store_finished(store: &Store, output: &RunOutput, events: Option<&[Arc<RunEvent>]>) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=8 {
        match store.finish_run(output, events).await {
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
