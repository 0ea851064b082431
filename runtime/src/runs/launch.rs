//! A run's own task: it waits its turn when queued, loads its history, runs (a panic anywhere
//! inside ends it as an error), stores its events as they come and its end, and only then lets
//! its last event out. The run goes on if its client goes away.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::busy;
use super::capture::Capture;
use super::memory_editor::Editor;
use super::registry::Registered;
use super::summarize::Summary;
use super::{RunService, Runnable};
use crate::component::HistorySettings;
use crate::run::{
    Decisions, EventLog, Paused, RunEnv, RunEvent, RunMeta, RunOutput, RunRequest, RunStatus,
    failed_run,
};
use crate::store::{DeferredStart, Store, StoreError};

/// How often the events of a run in flight are handed to the store.
const STORE_EVENTS_EVERY: Duration = Duration::from_millis(100);

/// How long a whole run in a session made for it goes before its start is written. A shorter
/// run is written once, by its end; a longer one is then visible as running, and a crash
/// leaves it marked interrupted. The ids of such a run reach no one before its end, so in
/// that time only a crash could tell, and its caller is answered by a dropped connection.
const START_DEFERRED_FOR: Duration = STORE_EVENTS_EVERY;

impl RunService {
    /// Runs the component on a task of its own, so a client that goes away does not lose the
    /// run: waits its turn when queued, loads history, runs it (a panic anywhere inside ends it
    /// as an error), stores its events as they come and its end, then lets its last event out.
    pub(super) fn spawn<C: Runnable>(&self, launch: Launch<C>) -> tokio::task::JoinHandle<Ended> {
        let store = self.store.clone();
        let retry_window = self.store_retry_window;
        let hard_stop = self.hard_stop.clone();
        let counts_tokens = self.quotas.limits().daily_token_budget().is_some();
        let counted = self.metrics.component(C::KIND, launch.component.id());
        let span = tracing::info_span!(
            "run",
            kind = %C::KIND,
            id = launch.component.id(),
            run_id = launch.request.meta.run_id(),
            session_id = launch.request.meta.session_id(),
            model = launch.component.model().map(|model| model.id()),
        );
        let metrics = Arc::clone(&self.metrics);
        let tracker = self.tracker.clone();
        self.tracker.spawn(
            async move {
                let Launch {
                    component,
                    mut request,
                    mut env,
                    registered,
                    queued,
                    continues,
                    resume,
                    deferred_start,
                    slot,
                    memory_owner,
                } = launch;
                let _slot = slot;
                let _registered = registered;
                let meta = request.meta.clone();
                if queued {
                    busy::wait_turn(&store, meta.session_id(), meta.run_id(), env.cancel_token())
                        .await;
                    if let Err(error) = store.mark_running(meta.run_id()).await {
                        tracing::warn!(%error, "could not mark a queued run as running");
                    }
                }
                if continues {
                    let mut settings = component.history();
                    // A session with a summary: it stands for the older runs.
                    if let Some(summary) = super::recall::session_summary(&store, &component, &meta).await {
                        env = env.with_session_summary(summary.text);
                        settings.num_history_runs = settings.num_history_runs.min(summary.recent_runs);
                    }
                    if settings.add_history_to_context {
                        request.history =
                            load_history::<C>(&store, &meta, component.id(), settings).await;
                    }
                }
                // A run with a user, of a component that remembers: its user's memories for
                // the prompts, and the editor behind agentic memory tools.
                let mut recalled = None;
                let editor = match memory_owner.as_ref().filter(|_| component.uses_memory()) {
                    Some(owner) => {
                        if let Some(memories) = super::recall::recall(&store, owner).await {
                            recalled = Some(Arc::clone(&memories));
                            env = env.with_memories(memories);
                        }
                        let editor = Arc::new(Editor::new(store.clone(), owner.clone()));
                        env = env.with_memory_editor(editor.clone());
                        Some(editor)
                    }
                    None => None,
                };
                let env = env.with_metrics(metrics);
                let began = std::time::Instant::now();
                let run = run_storing_events(&component, &request, &env, &store, resume);
                let (mut output, start) = match &deferred_start {
                    None => (run.await, StartWrite::Stored),
                    Some(deferred) => {
                        match run_deferring_start(run, deferred, &store, env.cancel_token()).await {
                            Started::Unsent(output) => (output, StartWrite::Unsent),
                            Started::Committed(output) => (output, StartWrite::Stored),
                            Started::Unknown(output, commit) => {
                                (output, StartWrite::Pending(commit))
                            }
                            Started::Failed(output, error) => {
                                tracing::error!(%error, "the run's start could not be stored; the run was stopped");
                                if let Some(counted) = &counted {
                                    counted.finished(RunStatus::Error, began.elapsed(), None);
                                }
                                return Ended {
                                    output,
                                    record: Record::NotStarted(error),
                                };
                            }
                        }
                    }
                };
                let ran_for = began.elapsed();
                if let Some(editor) = &editor
                    && editor.charge(&mut output.metrics)
                {
                    // The memories the run read may have changed: a capture reads them again.
                    recalled = None;
                }
                // Stopped by the end of a shutdown's grace, not by anyone's cancel.
                let interrupted = hard_stop.is_cancelled() && output.status == RunStatus::Cancelled;
                if interrupted {
                    interrupt(&mut output);
                }
                let (first, tail) = match env.log() {
                    Some(log) => log.take_unstored(true),
                    None => (0, Vec::new()),
                };
                let tokens = counts_tokens
                    .then(|| (super::quota::today(), super::quota::tokens_of(&output)));
                let record = store_finished(
                    &store,
                    &mut output,
                    Finish {
                        first_seq: first,
                        events: &tail,
                        tokens,
                        started: deferred_start.as_ref(),
                        start,
                    },
                    retry_window,
                )
                .await;
                if let Some(counted) = &counted {
                    counted.finished(output.status, ran_for, output.metrics.time_to_first_token);
                }
                // Memories are captured once the run's end is stored, off the answer's path.
                if matches!(record, Record::Stored)
                    && output.status == RunStatus::Completed
                    && let Some(capture) = Capture::after_run(
                        &component,
                        memory_owner.as_ref(),
                        &request,
                        counts_tokens,
                        recalled,
                    )
                {
                    tracker.spawn(capture.run(store.clone()));
                }
                if matches!(record, Record::Stored)
                    && output.status == RunStatus::Completed
                    && let Some(summary) = Summary::after_run(&component, &request, counts_tokens)
                {
                    tracker.spawn(summary.run(store.clone()));
                }
                if let Some(log) = env.log() {
                    let instead = if !matches!(record, Record::Stored) {
                        Some(Arc::new(not_recorded_event(&output, &tail)))
                    } else if interrupted {
                        Some(Arc::new(interrupted_event(&output)))
                    } else {
                        None
                    };
                    log.release(instead);
                }
                Ended { output, record }
            }
            .instrument(span),
        )
    }
}

/// A run ready to go on its task.
pub(super) struct Launch<C> {
    pub(super) component: C,
    pub(super) request: RunRequest,
    pub(super) env: RunEnv,
    pub(super) registered: Registered,
    /// It waits for the earlier runs of its session first.
    pub(super) queued: bool,
    /// It continues a session, whose history it may read.
    pub(super) continues: bool,
    /// It is a paused run going on: the turn it stopped in, and the person's answers.
    pub(super) resume: Option<(Paused, Decisions)>,
    /// Its start, when that is not written before the run begins (see [`FreshRun`]).
    pub(super) deferred_start: Option<DeferredStart>,
    /// Its place among its user's runs in flight, when that is limited.
    pub(super) slot: Option<super::quota::Slot>,
    /// Whose memories it reads and writes: its caller's, when the caller is a user.
    pub(super) memory_owner: Option<crate::store::MemoryOwner>,
}

/// How a run's task ended: its output, and what the store kept of it.
pub(super) struct Ended {
    pub(super) output: RunOutput,
    pub(super) record: Record,
}

/// What the store kept of a run.
pub(super) enum Record {
    /// Its end.
    Stored,
    /// Not its end: the store stayed away longer than the end's retries.
    EndNotStored,
    /// Nothing: its deferred start could not be stored (the run was stopped then), or was
    /// never sent and its end failed at once. Answered as a run that could not start.
    NotStarted(StoreError),
}

/// The commit of a run's start, awaited by the run's end when the run ended first.
type StartWait<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// How a run whose start was deferred went, as far as its start is concerned.
enum Started<'a> {
    /// It ended before its start was sent: its end writes it.
    Unsent(RunOutput),
    /// It ended after its start committed.
    Committed(RunOutput),
    /// It ended while its start was committing.
    Unknown(RunOutput, StartWait<'a>),
    /// Its start could not be stored, so the run was stopped.
    Failed(RunOutput, StoreError),
}

/// Runs `run`, sending its start only once it has gone on for [`START_DEFERRED_FOR`], and
/// stopping it if that start cannot be stored.
async fn run_deferring_start<'a>(
    run: impl Future<Output = RunOutput>,
    deferred: &DeferredStart,
    store: &'a Store,
    cancel: &CancellationToken,
) -> Started<'a> {
    let mut run = std::pin::pin!(run);
    tokio::select! {
        output = &mut run => return Started::Unsent(output),
        () = tokio::time::sleep(START_DEFERRED_FOR) => {}
    }
    let mut commit: StartWait<'a> = match deferred.send(store).await {
        Ok(commit) => Box::pin(commit.wait(store)),
        Err(error) => {
            cancel.cancel();
            return Started::Failed(run.await, error);
        }
    };
    tokio::select! {
        output = &mut run => Started::Unknown(output, commit),
        started = &mut commit => match started {
            Ok(()) => Started::Committed(run.await),
            Err(error) => {
                cancel.cancel();
                Started::Failed(run.await, error)
            }
        },
    }
}

/// Runs the component, handing its events to the store every so often while it goes. A panic
/// anywhere inside the run becomes an error output.
async fn run_storing_events<C: Runnable>(
    component: &C,
    request: &RunRequest,
    env: &RunEnv,
    store: &Store,
    resume: Option<(Paused, Decisions)>,
) -> RunOutput {
    let run = match &resume {
        None => component.run(request, env),
        Some((paused, decisions)) => component.resume(request, paused.clone(), decisions, env),
    };
    let run = AssertUnwindSafe(run).catch_unwind();
    let ran = match env.log() {
        None => run.await,
        Some(log) => {
            let mut run = std::pin::pin!(run);
            let mut appends = JoinSet::new();
            let mut tick = tokio::time::interval(STORE_EVENTS_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let run_id = request.meta.run_id();
            let ran = loop {
                tokio::select! {
                    ran = &mut run => break ran,
                    _ = log.running_low() => ask_promise(&mut appends, store, log, run_id),
                    _ = tick.tick() => {
                        let (first, events) = log.take_unstored(false);
                        if !events.is_empty() {
                            let store = store.clone();
                            let log = Arc::clone(log);
                            let run_id = run_id.to_owned();
                            appends.spawn(async move {
                                match store.append_events(&run_id, first, &events).await {
                                    Ok(()) => log.stored_up_to(first + events.len() as u64),
                                    Err(error) => tracing::warn!(%error, run_id, "could not store events of a run in flight"),
                                }
                            });
                        }
                        // A promise refused (the start not yet committed) is asked again.
                        ask_promise(&mut appends, store, log, run_id);
                    }
                }
            };
            // Every earlier event is stored before the run's end, so a reader who sees the end
            // has every event before it.
            while appends.join_next().await.is_some() {}
            ran
        }
    };
    match ran {
        Ok(output) => output,
        Err(panic) => {
            tracing::error!(panic = %crate::error::panic_message(&*panic), "run panicked");
            failed_run(
                C::KIND,
                component.id(),
                component.name(),
                component.model(),
                request,
                env,
            )
        }
    }
}

/// Asks the store to promise more event ids of `run_id` when `log` runs low on them, in the
/// background: events wait in the log meanwhile, the run does not.
fn ask_promise(appends: &mut JoinSet<()>, store: &Store, log: &Arc<EventLog>, run_id: &str) {
    let Some(upto) = log.promise_wanted() else {
        return;
    };
    let store = store.clone();
    let log = Arc::clone(log);
    let run_id = run_id.to_owned();
    appends.spawn(async move {
        match store.promise_events(&run_id, upto).await {
            Ok(true) => log.promise_kept(Some(upto)),
            Ok(false) => log.promise_kept(None),
            Err(error) => {
                tracing::warn!(%error, run_id, "could not promise event ids of a run in flight");
                log.promise_kept(None);
            }
        }
    });
}

/// The session's earlier exchanges with this component and user; none when the store is away
/// (the run goes on without them rather than failing).
async fn load_history<C: Runnable>(
    store: &Store,
    meta: &RunMeta,
    component_id: &str,
    settings: HistorySettings,
) -> Vec<crate::model::Message> {
    match store
        .history(
            meta.session_id(),
            C::KIND,
            component_id,
            meta.user_id(),
            settings.num_history_runs,
        )
        .await
    {
        Ok(history) => history,
        Err(error) => {
            tracing::warn!(%error, "could not read the session's history");
            Vec::new()
        }
    }
}

/// What a run stopped by the end of a shutdown's grace says.
const INTERRUPTED: &str = "Run interrupted: the server shut down while it was running";

/// A run stopped by the end of a shutdown's grace ends as interrupted, as a run whose server
/// died does.
fn interrupt(output: &mut RunOutput) {
    output.status = RunStatus::Error;
    output.content = INTERRUPTED.to_owned();
    output.events = serde_json::to_value(interrupted_event(output))
        .ok()
        .map(|event| vec![event]);
}

/// The last event of a run stopped by the end of a shutdown's grace.
fn interrupted_event(output: &RunOutput) -> RunEvent {
    let name = crate::run::EventName::run_error(output.component.kind);
    let mut event = RunEvent::of_output(output, name);
    event.content = Some(INTERRUPTED.to_owned());
    event.error_type = Some("interrupted");
    event
}

/// The event that ends a stream whose run finished but could not be recorded.
fn not_recorded_event(output: &RunOutput, tail: &[Arc<RunEvent>]) -> RunEvent {
    let mut event = tail
        .last()
        .map(|last| (**last).clone())
        .unwrap_or_else(|| RunEvent::of_output(output, crate::run::EventName::RunError));
    event.event = crate::run::EventName::run_error(output.component.kind);
    event.content = Some(format!(
        "the run finished but could not be recorded; read it back later as run {}",
        output.run_id
    ));
    event.error_type = Some("not_recorded");
    event.metrics = None;
    event.member_responses = None;
    event
}

/// What a run's end writes besides its output.
struct Finish<'a> {
    /// The sequence number of the first event in `events`.
    first_seq: u64,
    /// The events not stored while it ran.
    events: &'a [Arc<RunEvent>],
    /// The day and the model tokens to count against its user.
    tokens: Option<(i64, u64)>,
    /// Its start, when that was not written before it began.
    started: Option<&'a DeferredStart>,
    /// Where its start stands.
    start: StartWrite<'a>,
}

/// Where a run's start stands when its end is written.
enum StartWrite<'a> {
    /// Committed, before the run began or while it ran.
    Stored,
    /// Never sent: the run ended before it was due, so only its end records it.
    Unsent,
    /// Sent, and the run ended before its commit was known.
    Pending(StartWait<'a>),
}

/// Stores a finished run, retrying while the database is away (for up to `window`): a run
/// that happened is not dropped because the store blinked.
///
/// A run whose start is unsent or still pending is recorded nowhere if its start and the first
/// try of its end both fail: it is answered as a run that could not start, as it would have
/// been had its start been written first, without the retries.
async fn store_finished(
    store: &Store,
    output: &mut RunOutput,
    mut finish: Finish<'_>,
    window: Duration,
) -> Record {
    let deadline = tokio::time::Instant::now() + window;
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let end = store.finish_run(
            output,
            finish.first_seq,
            finish.events,
            finish.tokens,
            finish.started,
        );
        let not_started = |error: StoreError, run_id: &str| {
            tracing::error!(%error, run_id, "neither the run's start nor its end could be stored");
            Record::NotStarted(error)
        };
        let written = match std::mem::replace(&mut finish.start, StartWrite::Stored) {
            StartWrite::Stored => end.await,
            StartWrite::Unsent => match end.await {
                Err(error) => return not_started(error, &output.run_id),
                written => written,
            },
            StartWrite::Pending(start) => match tokio::join!(end, start) {
                (Err(_), Err(error)) => return not_started(error, &output.run_id),
                (written, _) => written,
            },
        };
        match written {
            Ok(()) => return Record::Stored,
            Err(error) if tokio::time::Instant::now() + delay < deadline => {
                store.count_retry(crate::metrics::RetryReason::Unavailable);
                tracing::warn!(%error, attempt, run_id = %output.run_id, "storing the run failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                tracing::error!(%error, attempt, run_id = %output.run_id, "the run could not be stored");
                return Record::EndNotStored;
            }
        }
    }
}
