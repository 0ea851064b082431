//! A run's events as a client reads them: live from this replica's log, or from the store
//! (following a run another replica is running), from any point on, each exactly once.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio_util::sync::DropGuard;

use super::{RunError, RunService};
use crate::run::{EventLog, RunEvent, RunStatus};
use crate::store::{Store, StoredEvent, StoredRun};

/// How often a stream that follows a run on another replica reads the store again.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// How long a follower waits for a missing event of a live run before going on without it.
/// A run's event writes commit independently (PostgreSQL commits batches concurrently), so a
/// later one can be visible before an earlier one; a write that never commits (the store
/// refused it) is the only reason to wait this long.
const GAP_PATIENCE: Duration = Duration::from_secs(30);

/// One frame of a run's stream.
#[derive(Clone, Debug)]
pub enum StreamItem {
    /// An event from this replica's log, with its number.
    Live {
        /// Its number in the run's stream, from 0.
        seq: u64,
        /// The event.
        event: Arc<RunEvent>,
    },
    /// An event read back from the store.
    Stored(StoredEvent),
    /// agno's notices on a resumed stream (`replay`, `catch_up`, `subscribed`): not events of
    /// the run, so they carry no number.
    Notice {
        /// The notice's name.
        name: &'static str,
        /// Its fields.
        data: Value,
    },
}

/// A run's stream. Dropping it (the client went away) cancels the run only when the request
/// asked for that.
pub struct RunEvents {
    items: BoxStream<'static, StreamItem>,
    _cancel_on_drop: Option<DropGuard>,
}

impl std::fmt::Debug for RunEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEvents").finish_non_exhaustive()
    }
}

impl RunEvents {
    pub(crate) fn new(
        items: impl Stream<Item = StreamItem> + Send + 'static,
        cancel_on_drop: Option<DropGuard>,
    ) -> Self {
        RunEvents {
            items: items.boxed(),
            _cancel_on_drop: cancel_on_drop,
        }
    }
}

impl Stream for RunEvents {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.as_mut().poll_next(cx)
    }
}

/// The events of `log` from number `from` on.
pub(crate) fn live(
    log: &Arc<EventLog>,
    from: u64,
) -> impl Stream<Item = StreamItem> + Send + use<> {
    log.subscribe(from)
        .map(|(seq, event)| StreamItem::Live { seq, event })
}

impl RunService {
    /// The events of `run` after number `after` (all of them for `None`), then its live ones
    /// until it ends, wherever it runs. With `notices`, agno's resume notices come first.
    pub(crate) fn follow(&self, run: &StoredRun, after: Option<u64>, notices: bool) -> RunEvents {
        let from = after.map_or(0, |after| after + 1);
        // A closed log belongs to a run whose end is stored: the store answers, and tells a
        // client that had every event how the run ended.
        if let Some(log) = self.registry.log(&run.run_id)
            && !log.is_closed()
        {
            let mut head = Vec::new();
            if notices {
                let current = log.next_seq();
                if current > from {
                    head.push(StreamItem::Notice {
                        name: "catch_up",
                        data: json!({
                            "event": "catch_up",
                            "run_id": run.run_id,
                            "status": "running",
                            "missed_events": current - from,
                            "current_event_count": current,
                        }),
                    });
                }
                head.push(StreamItem::Notice {
                    name: "subscribed",
                    data: json!({
                        "event": "subscribed",
                        "run_id": run.run_id,
                        "status": "running",
                        "current_event_count": current,
                    }),
                });
            }
            let items = futures_util::stream::iter(head).chain(live(&log, from));
            return RunEvents::new(items, None);
        }
        RunEvents::new(
            from_store(self.store.clone(), run.run_id.clone(), after, notices),
            None,
        )
    }

    /// Waits until `run_id` has ended and returns it as stored.
    pub(crate) async fn wait_for_end(&self, run_id: &str) -> Result<StoredRun, RunError> {
        loop {
            let run = self.store.run(run_id).await?.ok_or(RunError::RunNotFound)?;
            if run.status.is_finished() || run.status == RunStatus::Paused {
                return Ok(run);
            }
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }
}

struct Follower {
    store: Store,
    run_id: String,
    cursor: Option<u64>,
    notices: bool,
    first: bool,
    done: bool,
    ready: VecDeque<StreamItem>,
    /// Since when the next event is missing while later ones are stored.
    gap_since: Option<Instant>,
    /// Whether any event has been sent.
    sent: bool,
}

impl Follower {
    /// Of `events` (read after the cursor, in order), those to send now: while the run goes
    /// on, only those that follow the cursor without a gap, so an event whose write commits
    /// late is not skipped; once it has ended (its end commits after every earlier write),
    /// all of them, since a missing one will never come.
    fn in_order(&mut self, mut events: Vec<StoredEvent>, ended: bool) -> Vec<StoredEvent> {
        let mut expected = self.cursor.map_or(0, |cursor| cursor + 1);
        let contiguous = events
            .iter()
            .take_while(|event| {
                let next = event.seq == expected;
                expected += 1;
                next
            })
            .count();
        if ended || contiguous == events.len() {
            self.gap_since = None;
            return events;
        }
        let since = *self.gap_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= GAP_PATIENCE {
            tracing::warn!(
                run_id = %self.run_id,
                after = ?self.cursor,
                "a followed run's event never came; going on without it"
            );
            self.gap_since = None;
            return events;
        }
        events.truncate(contiguous);
        events
    }
}

/// The stored events of `run_id` after `after`, read again while the run goes on elsewhere.
/// The status is read before the events: once it says the run ended, the events read next are
/// complete, since a run's last events commit with its end.
fn from_store(
    store: Store,
    run_id: String,
    after: Option<u64>,
    notices: bool,
) -> impl Stream<Item = StreamItem> + Send {
    let follower = Follower {
        store,
        run_id,
        cursor: after,
        notices,
        first: true,
        done: false,
        ready: VecDeque::new(),
        gap_since: None,
        sent: false,
    };
    futures_util::stream::unfold(follower, |mut f| async move {
        loop {
            if let Some(item) = f.ready.pop_front() {
                return Some((item, f));
            }
            if f.done {
                return None;
            }
            if !f.first {
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
            let status = match f.store.run(&f.run_id).await {
                Ok(Some(run)) => run.status,
                Ok(None) => return None,
                Err(error) => {
                    tracing::warn!(%error, run_id = %f.run_id, "could not read a followed run");
                    f.first = false;
                    continue;
                }
            };
            let events = match f.store.events_after(&f.run_id, f.cursor).await {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(%error, run_id = %f.run_id, "could not read a run's events");
                    f.first = false;
                    continue;
                }
            };
            let ended = status.is_finished() || status == RunStatus::Paused;
            let events = f.in_order(events, ended);
            if f.first && f.notices {
                let notice = if ended {
                    StreamItem::Notice {
                        name: "replay",
                        data: json!({
                            "event": "replay",
                            "run_id": f.run_id,
                            "status": status,
                            "total_events": events.len(),
                        }),
                    }
                } else {
                    StreamItem::Notice {
                        name: "subscribed",
                        data: json!({
                            "event": "subscribed",
                            "run_id": f.run_id,
                            "status": "running",
                            "current_event_count": f.cursor.map_or(0, |c| c + 1) + events.len() as u64,
                        }),
                    }
                };
                f.ready.push_back(notice);
            }
            f.first = false;
            if let Some(last) = events.last() {
                f.cursor = Some(last.seq);
            }
            f.sent |= !events.is_empty();
            f.ready.extend(events.into_iter().map(StreamItem::Stored));
            f.done = ended;
            if ended && !f.sent && f.cursor.is_some() {
                // The client had every event, the last included: it reconnected because the
                // connection closed. It gets the event that says how the run ended again, so
                // it stops, instead of an empty stream it would reconnect to forever.
                match f.store.last_event(&f.run_id).await {
                    Ok(last) => f.ready.extend(last.map(StreamItem::Stored)),
                    Err(error) => {
                        tracing::warn!(%error, run_id = %f.run_id, "could not read a run's last event");
                    }
                }
            }
        }
    })
}
