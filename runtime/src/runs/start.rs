//! Starting a run: from the caller's request to a whole output, an event stream, or a
//! background handle, with the run stored at both ends and its events as they happen (the
//! run's own task is in `launch.rs`).

use std::sync::Arc;

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::busy;
use super::launch::{Ended, Launch, Record};
use super::stream::{RunEvents, live};
use super::{Caller, RunError, RunService, Runnable, limits};
use crate::component::MultitaskStrategy;
use crate::context::RequestParts;
use crate::resolve::RawInput;
use crate::run::{EventLog, RunEnv, RunMeta, RunOutput, RunRequest, RunStatus};
use crate::store::{FreshRun, IdempotencyClaim, NewRun, StoreError, StoredKey};

/// What a caller asks to run.
#[derive(Debug, Default)]
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
    /// What to do when the session is busy; the component's choice when `None`.
    pub multitask: Option<MultitaskStrategy>,
    /// The client's `Idempotency-Key`: the same key and request give the same run.
    pub idempotency_key: Option<String>,
    /// Cancel the run when a streaming client goes away (never for background runs).
    pub cancel_on_disconnect: bool,
}

/// How a run answers.
#[derive(Debug)]
pub enum RunAnswer {
    /// The whole output, once the run's end is stored (an error or a cancellation included).
    Whole(Box<RunOutput>),
    /// The run's events as they happen.
    Stream(RunEvents),
    /// The run goes on in the background.
    Background {
        /// The run's id.
        run_id: String,
        /// Its session.
        session_id: String,
        /// Where it stands (`PENDING` when it waits its turn).
        status: RunStatus,
    },
}

/// An answer, and whether it is the answer of an earlier request with the same idempotency
/// key (a replay) rather than of a run this request started.
#[derive(Debug)]
pub struct Answered {
    /// The answer.
    pub answer: RunAnswer,
    /// The run was started by an earlier request with the same key.
    pub replayed: bool,
}

impl RunService {
    /// Starts a run of the component `C` with the id `id` for `caller`.
    pub(crate) async fn start<C: Runnable>(
        &self,
        id: &str,
        caller: &Caller,
        ask: RunAsk,
    ) -> Result<Answered, RunError> {
        let resolver = self.resolver::<C>(id)?;
        if self.shutdown.is_cancelled() {
            return Err(RunError::ShuttingDown);
        }

        // The edge: nothing the store could not hold goes further.
        let session_id = caller
            .session_claim()
            .map(str::to_owned)
            .or(ask.session_id.clone())
            .filter(|s| !s.is_empty());
        if let Some(session_id) = &session_id {
            limits::check_id("session_id", session_id)?;
        }
        if let Some(user_id) = caller.user_id() {
            limits::check_id("user_id", user_id)?;
        }
        if let Some(key) = &ask.idempotency_key {
            limits::check_id("Idempotency-Key", key)?;
        }
        limits::check_text("message", &ask.message)?;

        // Over a limit, nothing else happens: the user's state stays as it was.
        let slot = self.admit(caller).await?;

        // A key seen before answers with the run it started, without building anything.
        let fingerprint = ask.idempotency_key.as_ref().map(|_| fingerprint(&ask));
        if let (Some(key), Some(fingerprint)) = (&ask.idempotency_key, &fingerprint)
            && let Some(stored) = self
                .store
                .idempotency_key(caller.user_id(), C::KIND, id, key)
                .await?
        {
            return self.answer_again(stored, fingerprint, &ask).await;
        }

        // A session named by the client must be the caller's own, with this component. The
        // start write checks again, in one transaction with the insert.
        let continues = match &session_id {
            Some(session_id) => match self.store.session(session_id).await? {
                Some(session) if session.is_owned_by(C::KIND, id, caller.user_id()) => true,
                Some(_) => return Err(RunError::SessionNotFound),
                None => false,
            },
            None => false,
        };
        let strategy = ask
            .multitask
            .or(resolver.info().multitask)
            .unwrap_or(self.multitask);

        let new_session = session_id.is_none();
        let meta = RunMeta::new(session_id, caller.identity().clone());
        let parts = RequestParts::for_run(meta.clone(), &ask.message)
            .headers(ask.headers.clone())
            .verified(Arc::clone(caller.trusted()));
        let span = tracing::info_span!(
            "resolve",
            kind = %C::KIND,
            id,
            run_id = meta.run_id(),
            session_id = meta.session_id()
        );
        let timeout = self.factory_timeout;
        let (component, input) = tokio::time::timeout(
            timeout,
            resolver.resolve_keeping_input(ask.factory_input.clone(), parts),
        )
        .instrument(span)
        .await
        .map_err(|_| RunError::FactoryTimeout(timeout.as_secs()))??;
        let factory_input = resolver.info().is_factory.then_some(Value::Object(input));
        if let Some(input) = &factory_input {
            limits::check_json("factory_input", input)?;
        }

        if continues && strategy == MultitaskStrategy::Interrupt {
            busy::interrupt_session(&self.store, &self.registry, meta.session_id()).await?;
        }
        let queued = continues && strategy == MultitaskStrategy::Enqueue;
        let status = if queued {
            RunStatus::Pending
        } else {
            RunStatus::Running
        };
        // A whole run in a session made for it has nothing that could refuse its start, and
        // its ids reach no one before its end is stored: its start is written only if it goes
        // on a while, and its end stands without it. Any other run is stored as started before
        // it begins, as its ids may be out (a stream, a background handle, a key).
        let fresh = new_session && ask.idempotency_key.is_none() && !ask.stream && !ask.background;
        let deferred_start = if fresh {
            Some(self.store.defer_start(FreshRun {
                kind: C::KIND,
                component_id: id,
                meta: &meta,
                input: &ask.message,
                factory_input: factory_input.as_ref(),
            }))
        } else {
            let started = self
                .store
                .start_run(NewRun {
                    kind: C::KIND,
                    component_id: id,
                    meta: &meta,
                    input: &ask.message,
                    factory_input,
                    status,
                    reject_if_busy: strategy == MultitaskStrategy::Reject,
                    new_session,
                    idempotency: ask
                        .idempotency_key
                        .as_deref()
                        .zip(fingerprint.as_deref())
                        .map(|(key, fingerprint)| IdempotencyClaim { key, fingerprint }),
                })
                .await;
            match started {
                Ok(()) => {}
                // Another request with the same key got there first: its run is the answer.
                Err(StoreError::KeyTaken {
                    run_id,
                    same_request,
                }) => {
                    let stored = StoredKey {
                        run_id,
                        fingerprint: if same_request {
                            fingerprint.clone().unwrap_or_default()
                        } else {
                            String::new()
                        },
                    };
                    return self
                        .answer_again(stored, fingerprint.as_deref().unwrap_or_default(), &ask)
                        .await;
                }
                Err(StoreError::SessionBusy) => {
                    self.metrics.session_busy();
                    return Err(RunError::SessionBusy);
                }
                Err(other) => return Err(other.into()),
            }
            None
        };
        if let Some(counted) = self.metrics.component(C::KIND, id) {
            counted.started();
        }

        let token = CancellationToken::new();
        // Streamed and background runs keep their events, for the stream and for a client
        // that comes back for them.
        let log = (ask.stream || ask.background).then(EventLog::new);
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
                message: ask.message,
                meta,
                history: Vec::new(),
            },
            env,
            registered,
            queued,
            continues,
            resume: None,
            deferred_start,
            slot,
            memory_owner: caller.memory_owner(),
        };
        let request_meta = launch.request.meta.clone();
        if ask.background && !ask.stream {
            let answer = RunAnswer::Background {
                run_id: request_meta.run_id().to_owned(),
                session_id: request_meta.session_id().to_owned(),
                status,
            };
            self.spawn(launch);
            return Ok(Answered {
                answer,
                replayed: false,
            });
        }
        if !ask.stream {
            return Ended::whole_answer(self.spawn(launch).await);
        }
        self.spawn(launch);
        let log = log.unwrap_or_default();
        // A background stream goes on whoever listens.
        let cancel_on_drop =
            (ask.cancel_on_disconnect && !ask.background).then(|| token.drop_guard());
        Ok(Answered {
            answer: RunAnswer::Stream(RunEvents::new(live(&log, 0), cancel_on_drop)),
            replayed: false,
        })
    }

    /// The answer to a request whose idempotency key started a run before: that run, as the
    /// request asks for it (its stream from the first event, its whole output once it ends,
    /// or its handle). The same key with another request is refused.
    async fn answer_again(
        &self,
        stored: StoredKey,
        fingerprint: &str,
        ask: &RunAsk,
    ) -> Result<Answered, RunError> {
        if stored.fingerprint != fingerprint {
            return Err(RunError::KeyReused);
        }
        let run = self
            .store
            .run(&stored.run_id)
            .await?
            .ok_or(RunError::RunNotFound)?;
        let answer = if ask.stream {
            RunAnswer::Stream(self.follow(&run, None, false))
        } else if ask.background {
            RunAnswer::Background {
                run_id: run.run_id.clone(),
                session_id: run.session_id.clone(),
                status: run.status,
            }
        } else {
            let ended = self.wait_for_end(&run.run_id).await?;
            let output = ended.output.ok_or(RunError::RunNotFound)?;
            RunAnswer::Whole(Box::new(output))
        };
        Ok(Answered {
            answer,
            replayed: true,
        })
    }
}

impl Ended {
    /// The answer to a caller waiting for the whole output of the run's task: the output only
    /// once its end is stored.
    pub(super) fn whole_answer(
        ended: Result<Ended, tokio::task::JoinError>,
    ) -> Result<Answered, RunError> {
        match ended {
            Ok(Ended {
                output,
                record: Record::Stored,
            }) => Ok(Answered {
                answer: RunAnswer::Whole(Box::new(output)),
                replayed: false,
            }),
            Ok(Ended {
                output,
                record: Record::EndNotStored,
            }) => Err(RunError::NotRecorded(output.run_id)),
            Ok(Ended {
                record: Record::NotStarted(error),
                ..
            }) => Err(error.into()),
            Err(_) => Err(RunError::Interrupted),
        }
    }
}

/// A digest of the fields that make a run request what it is.
fn fingerprint(ask: &RunAsk) -> String {
    let factory_input = match &ask.factory_input {
        RawInput::Absent => String::new(),
        RawInput::Text(text) => text.clone(),
        RawInput::Json(value) => value.to_string(),
    };
    let fields = serde_json::json!([
        ask.message,
        ask.session_id,
        factory_input,
        ask.stream,
        ask.background,
        ask.multitask.map(MultitaskStrategy::as_str),
    ]);
    let digest = Sha256::digest(fields.to_string().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
