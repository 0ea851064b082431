//! `EventLog`: every event of one run, numbered in the order it happened, for the stream that
//! asked for them, for clients that reconnect, and for the store.
//!
//! The run's last event (its own `RunCompleted`, `RunError`, ...) is held back until the run
//! service has committed the run's end: a client never reads that a run completed before the
//! store says so.
//!
//! An event id a client has received names that event forever, on every replica, even if the
//! process dies before the event is stored. So ids reach clients only below a number the
//! store has promised (kept on the run's row): the error event of a run whose process died is
//! numbered from there, above any id sent. A fresh run's start promises
//! [`PROMISED_AT_START`]; past most of it the log asks for more ([`EventLog::promise_wanted`]),
//! and events wait for it. Events already stored, and every event once the run has ended,
//! need no promise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::Stream;
use tokio::sync::{Notify, watch};

use super::event::RunEvent;

/// The event ids a fresh run's start row promises.
pub(crate) const PROMISED_AT_START: u64 = 256;

/// The log asks for more ids when fewer than this many promised ones are left.
const PROMISE_LOW_WATER: u64 = PROMISED_AT_START / 2;

/// One run's events.
#[derive(Debug)]
pub struct EventLog {
    /// The number of the first event: a continued run numbers on from its earlier events.
    first: u64,
    state: Mutex<LogState>,
    /// How many events are visible; subscribers wait for it to change.
    visible: watch::Sender<usize>,
    /// Woken when the log runs low on promised ids.
    wants_promise: Notify,
}

#[derive(Debug, Default)]
struct LogState {
    events: Vec<Arc<RunEvent>>,
    /// The run's own terminal event, until the run's end is stored.
    held: Option<Arc<RunEvent>>,
    /// No event comes after the visible ones.
    closed: bool,
    /// How many events have been handed to the store.
    stored: usize,
    /// Events numbered below this may reach clients.
    promised: u64,
    /// A promise is being asked of the store.
    asking: bool,
}

impl LogState {
    /// How many events clients may read: those below the promise, or all once closed.
    fn visible(&self, first: u64) -> usize {
        if self.closed {
            return self.events.len();
        }
        let promised = usize::try_from(self.promised.saturating_sub(first)).unwrap_or(usize::MAX);
        self.events.len().min(promised)
    }
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::with_promise(0, PROMISED_AT_START)
    }
}

impl EventLog {
    /// A log with nothing in it, for a fresh run whose start promises [`PROMISED_AT_START`]
    /// ids.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A log whose first event is number `first` (a continued run numbers on from its earlier
    /// events), with no ids promised yet.
    pub fn starting_at(first: u64) -> Arc<Self> {
        Arc::new(EventLog::with_promise(first, first))
    }

    fn with_promise(first: u64, promised: u64) -> Self {
        EventLog {
            first,
            state: Mutex::new(LogState {
                promised,
                ..LogState::default()
            }),
            visible: watch::Sender::new(0),
            wants_promise: Notify::new(),
        }
    }

    /// The number of the log's first event.
    pub fn first_seq(&self) -> u64 {
        self.first
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event. The top-level run's terminal event is held until [`EventLog::release`].
    pub(crate) fn push(&self, event: Arc<RunEvent>) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if event.event.is_terminal() && event.parent_run_id.is_none() {
            state.held = Some(event);
            return;
        }
        state.events.push(event);
        let visible = state.visible(self.first);
        let low = !state.asking
            && state.promised < self.first + state.events.len() as u64 + PROMISE_LOW_WATER;
        drop(state);
        self.visible.send_replace(visible);
        if low {
            self.wants_promise.notify_one();
        }
    }

    /// Resolves when the log runs low on promised ids (at once if it did since the last call).
    pub(crate) async fn running_low(&self) {
        self.wants_promise.notified().await;
    }

    /// The number to ask the store to promise ids below, when the log is low on them and no
    /// one is asking already; the caller then reports with [`EventLog::promise_kept`].
    pub(crate) fn promise_wanted(&self) -> Option<u64> {
        let mut state = self.lock();
        let next = self.first + state.events.len() as u64;
        if state.closed || state.asking || state.promised >= next + PROMISE_LOW_WATER {
            return None;
        }
        state.asking = true;
        // Doubling with the run's length: a long stream asks rarely.
        Some(next + PROMISED_AT_START.max(state.events.len() as u64))
    }

    /// The store promised ids below `upto`; `None` when asking failed (or the run's row is
    /// not there yet). Events waiting for the promise become visible.
    pub(crate) fn promise_kept(&self, upto: Option<u64>) {
        let mut state = self.lock();
        if let Some(upto) = upto {
            state.promised = state.promised.max(upto);
        }
        state.asking = false;
        let visible = state.visible(self.first);
        drop(state);
        self.visible.send_replace(visible);
    }

    /// Ids below `upto` name stored events, which need no promise.
    pub(crate) fn stored_up_to(&self, upto: u64) {
        let mut state = self.lock();
        state.promised = state.promised.max(upto);
        let visible = state.visible(self.first);
        drop(state);
        self.visible.send_replace(visible);
    }

    /// Publishes the held terminal event (or `instead`, when the run's end could not be
    /// stored) and closes the log.
    pub(crate) fn release(&self, instead: Option<Arc<RunEvent>>) {
        let mut state = self.lock();
        if let Some(event) = instead.or_else(|| state.held.take()) {
            state.events.push(event);
        }
        state.closed = true;
        let len = state.events.len();
        drop(state);
        self.visible.send_replace(len);
    }

    /// The events not yet handed to the store, with the number of the first, and marks them
    /// handed. With `with_held`, the held terminal event comes last.
    pub(crate) fn take_unstored(&self, with_held: bool) -> (u64, Vec<Arc<RunEvent>>) {
        let mut state = self.lock();
        let first = state.stored;
        let mut events: Vec<Arc<RunEvent>> = state.events[first..].to_vec();
        if with_held && let Some(held) = &state.held {
            events.push(Arc::clone(held));
        }
        state.stored = first + events.len();
        (self.first + first as u64, events)
    }

    /// Every event so far, the held one included: what the run produced.
    pub fn all(&self) -> Vec<Arc<RunEvent>> {
        let state = self.lock();
        let mut events = state.events.clone();
        events.extend(state.held.clone());
        events
    }

    /// How many events are visible now.
    pub fn len(&self) -> usize {
        self.lock().visible(self.first)
    }

    /// The number the next visible event will have.
    pub fn next_seq(&self) -> u64 {
        self.first + self.len() as u64
    }

    /// Whether no event is visible yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the run has ended and every event is visible.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The events from number `from` on, as they become visible, each with its number; the
    /// stream ends when the log is closed and read to its end.
    pub fn subscribe(
        self: &Arc<Self>,
        from: u64,
    ) -> impl Stream<Item = (u64, Arc<RunEvent>)> + Send + use<> {
        let state = Subscriber {
            log: Arc::clone(self),
            changes: self.visible.subscribe(),
            next: from.saturating_sub(self.first) as usize,
            ready: VecDeque::new(),
        };
        futures_util::stream::unfold(state, |mut state| async move {
            loop {
                if let Some(item) = state.ready.pop_front() {
                    return Some((item, state));
                }
                let closed = {
                    let log = state.log.lock();
                    let first = state.log.first;
                    let visible = log.visible(first);
                    for (offset, event) in log.events[..visible].iter().enumerate().skip(state.next)
                    {
                        state
                            .ready
                            .push_back((first + offset as u64, Arc::clone(event)));
                    }
                    state.next = state.next.max(visible);
                    log.closed
                };
                if !state.ready.is_empty() {
                    continue;
                }
                if closed {
                    return None;
                }
                // Marks the current value seen, then waits for the next push.
                state.changes.borrow_and_update();
                {
                    let log = state.log.lock();
                    if log.visible(state.log.first) > state.next || log.closed {
                        continue;
                    }
                }
                if state.changes.changed().await.is_err() {
                    return None;
                }
            }
        })
    }
}

struct Subscriber {
    log: Arc<EventLog>,
    changes: watch::Receiver<usize>,
    next: usize,
    ready: VecDeque<(u64, Arc<RunEvent>)>,
}
