//! Run events as SSE frames, numbered so a dropped stream resumes from its last id.

use axum::response::sse::Event;

use crate::run::RunEvent;
use crate::runs::StreamItem;

/// One SSE frame of an event: `id:` its number, `event:` its name, `data:` its JSON with the
/// number again as agno's `event_index`.
pub fn event_frame(event: &RunEvent, seq: u64) -> Event {
    numbered_frame(event.event.as_str(), event.json(), seq)
}

pub(super) fn numbered_frame(name: &str, data: &str, seq: u64) -> Event {
    // The JSON is an object; the index goes first so the rest is sent as it was produced.
    let data = match data.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"event_index\":{seq}}}"),
        Some(rest) => format!("{{\"event_index\":{seq},{rest}"),
        None => data.to_owned(),
    };
    Event::default().event(name).id(seq.to_string()).data(data)
}

/// One SSE frame of a run's stream: a live or stored event, or one of agno's resume notices
/// (which carry no `id:`, so a reconnecting client's `Last-Event-ID` stays an event's).
pub(crate) fn stream_frame(item: &StreamItem) -> Event {
    match item {
        StreamItem::Live { seq, event } => event_frame(event, *seq),
        StreamItem::Stored(stored) => numbered_frame(&stored.event, &stored.data, stored.seq),
        StreamItem::Notice { name, data } => Event::default().event(*name).data(data.to_string()),
    }
}

/// A run's stream as another protocol's events (A2A's, AG-UI's): each event's JSON handed to
/// `next`, which answers what it becomes and whether it was the run's last; nothing follows
/// the last.
pub(crate) fn translated(
    events: crate::runs::RunEvents,
    mut next: impl FnMut(&serde_json::Value) -> (Vec<serde_json::Value>, bool) + Send + 'static,
) -> impl futures_util::Stream<Item = serde_json::Value> + Send + 'static {
    use futures_util::StreamExt;
    events
        .map(|item| match item {
            StreamItem::Live { event, .. } => serde_json::from_str(event.json()),
            StreamItem::Stored(stored) => serde_json::from_str(&stored.data),
            StreamItem::Notice { data, .. } => Ok(data),
        })
        .filter_map(|event| std::future::ready(event.ok()))
        .scan(false, move |ended, event| {
            if *ended {
                return std::future::ready(None);
            }
            let (out, last) = next(&event);
            *ended = last;
            std::future::ready(Some(out))
        })
        .flat_map(futures_util::stream::iter)
}
