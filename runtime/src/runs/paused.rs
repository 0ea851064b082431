//! Continuing a paused run: the person's answers, the component rebuilt through its factory
//! with the stored input, and the run going on from the turn it stopped in, as the same run.

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::launch::{Ended, Launch};
use super::start::{Answered, RunAnswer};
use super::stream::{RunEvents, live};
use super::{Caller, RunError, RunService, Runnable};
use crate::context::RequestParts;
use crate::resolve::RawInput;
use crate::run::{Decisions, EventLog, RunEnv, RunMeta, RunRequest, RunStatus};

/// What a caller sends to continue a paused run.
#[derive(Debug, Default)]
pub struct ContinueAsk {
    /// The person's answers to the calls the run waits on (partial answers are fine).
    pub decisions: Decisions,
    /// The run's session, as agno's clients send it; another session's run is not found.
    pub session_id: Option<String>,
    /// The request's headers, for the factory.
    pub headers: HeaderMap,
    /// Send events as they happen.
    pub stream: bool,
    /// Answer at once and go on in the background.
    pub background: bool,
}

impl RunService {
    /// Continues the paused run `run_id` of the component `C`/`id` for `caller`, who must be
    /// the run's owner.
    pub(crate) async fn continue_run<C: Runnable>(
        &self,
        id: &str,
        run_id: &str,
        caller: &Caller,
        ask: ContinueAsk,
    ) -> Result<Answered, RunError> {
        let resolver = self.resolver::<C>(id)?;
        if self.shutdown.is_cancelled() {
            return Err(RunError::ShuttingDown);
        }
        let slot = self.admit(caller).await?;
        // Only the user the run belongs to continues it: it acts with their identity.
        let run = self
            .store
            .run(run_id)
            .await?
            .filter(|run| {
                run.kind == C::KIND
                    && run.component_id == id
                    && caller.owns(run.user_id.as_deref())
                    && ask.session_id.as_ref().is_none_or(|s| *s == run.session_id)
            })
            .ok_or(RunError::RunNotFound)?;
        if run.status != RunStatus::Paused || run.parent_run_id.is_some() {
            return Err(RunError::NotPaused(run.status));
        }
        let suspended = run.paused.clone().ok_or(RunError::NotPaused(run.status))?;

        // The component the run paused in, built again from what was stored: the same
        // validated input, and the caller, who is the run's owner.
        let meta = RunMeta::resumed(&run.run_id, &run.session_id, caller.identity().clone());
        let parts = RequestParts::for_run(meta.clone(), &run.input)
            .headers(ask.headers)
            .verified(Arc::clone(caller.trusted()));
        let input = match &run.factory_input {
            Some(input) => RawInput::Json(input.clone()),
            None => RawInput::Absent,
        };
        let span = tracing::info_span!(
            "resolve",
            kind = %C::KIND,
            id,
            run_id = meta.run_id(),
            session_id = meta.session_id()
        );
        let timeout = self.factory_timeout;
        let (component, _) =
            tokio::time::timeout(timeout, resolver.resolve_keeping_input(input, parts))
                .instrument(span)
                .await
                .map_err(|_| RunError::FactoryTimeout(timeout.as_secs()))??;

        // One request continues a run: a second one sees it no longer paused.
        if !self.store.claim_paused(run_id).await? {
            let now = self
                .store
                .run(run_id)
                .await?
                .map_or(RunStatus::Running, |r| r.status);
            return Err(RunError::NotPaused(now));
        }

        let token = CancellationToken::new();
        // The continued run's events number on from the ones it sent before it paused.
        let log = match ask.stream || ask.background {
            true => Some(EventLog::starting_at(
                self.store.next_event_seq(run_id).await?,
            )),
            false => None,
        };
        let registered = self
            .registry
            .register(meta.run_id(), token.clone(), log.clone());
        let mut env = RunEnv::new()
            .with_cancel(token.clone())
            .streaming(ask.stream);
        if let Some(log) = &log {
            env = env.with_log(Arc::clone(log));
        }
        let launch = Launch {
            component,
            request: RunRequest {
                message: run.input.clone(),
                meta,
                history: Vec::new(),
            },
            env,
            registered,
            queued: false,
            continues: false,
            resume: Some((suspended, ask.decisions)),
            deferred_start: None,
            slot,
            memory_owner: caller.memory_owner(),
        };
        if ask.background && !ask.stream {
            self.spawn(launch);
            return Ok(Answered {
                answer: RunAnswer::Background {
                    run_id: run.run_id,
                    session_id: run.session_id,
                    status: RunStatus::Running,
                },
                replayed: false,
            });
        }
        if !ask.stream {
            return Ended::whole_answer(self.spawn(launch).await);
        }
        self.spawn(launch);
        let log = log.unwrap_or_default();
        let from = log.first_seq();
        Ok(Answered {
            answer: RunAnswer::Stream(RunEvents::new(live(&log, from), None)),
            replayed: false,
        })
    }
}

/// Reads agno's continue form field (`tools`, `requirements` or `step_requirements`): a JSON
/// array.
pub(crate) fn decisions_from_form(text: &str) -> Result<Decisions, RunError> {
    if text.trim().is_empty() {
        return Ok(Decisions::default());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(Decisions::from_agno(&items)),
        Ok(_) => Err(RunError::Invalid(
            "the tools, requirements or step_requirements field must be a JSON array".into(),
        )),
        Err(_) => Err(RunError::Invalid(
            "the tools, requirements or step_requirements field is not valid JSON".into(),
        )),
    }
}
