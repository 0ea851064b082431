//! `RunEnv`: how a run is carried out (streamed or whole, where its events go, how it is
//! cancelled, where its model calls are counted, what it remembers of its user), shared by
//! every part of the engine.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event::RunEvent;
use super::log::EventLog;
use super::step_event::StepOf;
use crate::memory::{MemoryEditor, Recalled};
use crate::metrics::Metrics;

/// Where a run's events go, as they happen.
pub type EventSink = mpsc::UnboundedSender<Arc<RunEvent>>;

/// How a run is carried out: whether it streams, where its events go, how it is cancelled.
#[derive(Clone, Debug, Default)]
pub struct RunEnv {
    events: Option<EventSink>,
    log: Option<Arc<EventLog>>,
    pub(super) cancel: CancellationToken,
    pub(super) stream: bool,
    /// Where model calls are counted, for a run of a served component.
    metrics: Option<Arc<Metrics>>,
    /// The user's memories, newest first, for the prompts of components that use them;
    /// `None` when the run has no user whose memories were read.
    memories: Option<Arc<[Recalled]>>,
    /// What changes the user's memories mid-run, for agents with agentic memory.
    memory_editor: Option<Arc<dyn MemoryEditor>>,
    /// The session's summary, for a top-level component that reads it.
    session_summary: Option<Arc<str>>,
    /// For the run of a workflow's step: the step, which every event of the run names.
    step: Option<Arc<StepOf>>,
}

impl RunEnv {
    /// A run that answers whole and emits no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends every event to `sink`.
    pub fn with_events(mut self, sink: EventSink) -> Self {
        self.events = Some(sink);
        self
    }

    /// Keeps every event, numbered, in `log`.
    pub fn with_log(mut self, log: Arc<EventLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The log the run's events go to, if any.
    pub fn log(&self) -> Option<&Arc<EventLog>> {
        self.log.as_ref()
    }

    /// Streams model answers, emitting content pieces as they arrive.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Stops the run when `token` is cancelled; the run ends as `CANCELLED`.
    pub fn with_cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Counts the run's model calls in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub(super) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_deref()
    }

    /// Gives the run its user's memories, newest first: components with memory put them in
    /// their system prompts.
    pub fn with_memories(mut self, memories: Arc<[Recalled]>) -> Self {
        self.memories = Some(memories);
        self
    }

    /// The user's memories, when the run has them.
    pub fn memories(&self) -> Option<&[Recalled]> {
        self.memories.as_deref()
    }

    /// Lets agents with agentic memory change the user's memories through `editor`.
    pub fn with_memory_editor(mut self, editor: Arc<dyn MemoryEditor>) -> Self {
        self.memory_editor = Some(editor);
        self
    }

    pub(super) fn memory_editor(&self) -> Option<&Arc<dyn MemoryEditor>> {
        self.memory_editor.as_ref()
    }

    /// Gives the run its session's summary, which a top-level component keeping summaries
    /// reads in place of older history.
    pub fn with_session_summary(mut self, summary: Arc<str>) -> Self {
        self.session_summary = Some(summary);
        self
    }

    pub(super) fn session_summary(&self) -> Option<&str> {
        self.session_summary.as_deref()
    }

    /// The same environment for the run of the workflow step `step`.
    pub(super) fn in_step(&self, step: StepOf) -> RunEnv {
        RunEnv {
            step: Some(Arc::new(step)),
            ..self.clone()
        }
    }

    /// Whether this is the run of a workflow's step.
    pub(super) fn is_step(&self) -> bool {
        self.step.is_some()
    }

    /// The token that cancels this run.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Builds the event only when someone listens: a run without a sink pays nothing.
    pub(super) fn emit(&self, event: impl FnOnce() -> RunEvent) {
        if self.events.is_none() && self.log.is_none() {
            return;
        }
        let mut event = event();
        if let Some(step) = &self.step {
            event.in_step = Some(Arc::clone(step));
        }
        let event = Arc::new(event);
        if let Some(log) = &self.log {
            log.push(Arc::clone(&event));
        }
        if let Some(sink) = &self.events {
            // A closed sink means the listener went away; cancellation handles that.
            let _ = sink.send(event);
        }
    }
}
