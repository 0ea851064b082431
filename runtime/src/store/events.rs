//! A run's stored events. Each write of a run's events (every 100 ms while it runs, then with
//! its end) is one row holding them all, numbered from the row's `seq` to its `last_seq`: a
//! short run's whole stream is one row, written in the transaction of its end.
//!
//! The row's text has one line per event, `Name<TAB>json`: JSON text never holds a raw tab
//! or newline, so the lines split back exactly as the events were sent.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;

use super::entity::{event, run};
use super::error::StoreError;
use super::pool::Store;
use super::rows::StoredRun;
use super::rows::interrupted_output;
use super::statements::EventRow;
use super::writer::WriteOp;
use crate::run::{EventName, RunEvent};
use crate::time::now_micros;

/// One stored event of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its number in the run's stream, from 0.
    pub seq: u64,
    /// Its name.
    pub event: String,
    /// Its JSON, as it was sent.
    pub data: String,
}

/// The row of `events`, numbered from `first_seq`; none for no events.
pub(super) fn chunk_row(
    run_id: &str,
    first_seq: u64,
    events: &[Arc<RunEvent>],
    now: i64,
) -> Option<EventRow> {
    if events.is_empty() {
        return None;
    }
    let mut data = String::with_capacity(events.iter().map(|e| e.json().len() + 24).sum());
    for event in events {
        push_line(&mut data, event.event.as_str(), event.json());
    }
    Some(row(run_id, first_seq, events.len() as u64, data, now))
}

fn push_line(data: &mut String, name: &str, json: &str) {
    data.push_str(name);
    data.push('\t');
    data.push_str(json);
    data.push('\n');
}

fn row(run_id: &str, first_seq: u64, count: u64, data: String, now: i64) -> EventRow {
    EventRow {
        run_id: run_id.to_owned(),
        seq: first_seq as i64,
        last_seq: (first_seq + count - 1) as i64,
        data,
        created_at: now,
    }
}

/// The events of a row, in order.
fn events_of(row: &event::Model) -> impl Iterator<Item = StoredEvent> + '_ {
    row.data
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .enumerate()
        .map(|(offset, (name, json))| StoredEvent {
            seq: row.seq.max(0) as u64 + offset as u64,
            event: name.to_owned(),
            data: json.to_owned(),
        })
}

impl Store {
    /// Stores events of a run in flight, numbered from `first_seq`. Storing them twice is
    /// harmless.
    pub async fn append_events(
        &self,
        run_id: &str,
        first_seq: u64,
        events: &[Arc<RunEvent>],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.write_retrying_alone(|| {
            let rows = chunk_row(run_id, first_seq, events, now_micros());
            Ok(WriteOp::Events {
                rows: rows.into_iter().collect(),
            })
        })
        .await
    }

    /// A run's stored events after number `after` (all of them for `None`), in order.
    pub async fn events_after(
        &self,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut select = event::Entity::find().filter(event::Column::RunId.eq(run_id));
        if let Some(after) = after {
            select = select.filter(event::Column::LastSeq.gt(after as i64));
        }
        let rows = select
            .order_by_asc(event::Column::Seq)
            .all(&self.conn)
            .await?;
        Ok(rows
            .iter()
            .flat_map(events_of)
            .filter(|event| after.is_none_or(|after| event.seq > after))
            .collect())
    }

    /// The last stored event of `run_id`: for a run that has ended, the one that says how.
    pub async fn last_event(&self, run_id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let row = event::Entity::find()
            .filter(event::Column::RunId.eq(run_id))
            .order_by_desc(event::Column::LastSeq)
            .one(&self.conn)
            .await?;
        Ok(row.and_then(|row| events_of(&row).last()))
    }

    /// The number the next event of `run_id` gets: one past its last stored event.
    pub async fn next_event_seq(&self, run_id: &str) -> Result<u64, StoreError> {
        next_seq(&self.conn, run_id).await
    }

    /// The stored events of those of `run_ids` that streamed (or ran in the background), as
    /// agno's `events` lists, by run id.
    pub async fn run_events(
        &self,
        run_ids: &[String],
    ) -> Result<HashMap<String, Value>, StoreError> {
        if run_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = event::Entity::find()
            .filter(event::Column::RunId.is_in(run_ids.iter().cloned()))
            .order_by_asc(event::Column::RunId)
            .order_by_asc(event::Column::Seq)
            .all(&self.conn)
            .await?;
        let mut events: HashMap<String, Vec<Value>> = HashMap::new();
        for row in &rows {
            for event in events_of(row) {
                let data: Value = serde_json::from_str(&event.data).map_err(|e| {
                    StoreError::Corrupt(format!("an event of run {}: {e}", row.run_id))
                })?;
                events.entry(row.run_id.clone()).or_default().push(data);
            }
        }
        Ok(events
            .into_iter()
            .map(|(run_id, list)| (run_id, Value::Array(list)))
            .collect())
    }
}

/// The number the next event of `run_id` gets, as `db` sees it: one past its last stored event.
async fn next_seq(db: &impl ConnectionTrait, run_id: &str) -> Result<u64, StoreError> {
    let last = event::Entity::find()
        .select_only()
        .column(event::Column::LastSeq)
        .filter(event::Column::RunId.eq(run_id))
        .order_by_desc(event::Column::LastSeq)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    Ok(last.map_or(0, |last| last.max(0) as u64 + 1))
}

/// Appends the error event of an interrupted run, in `txn` (the one that marks the run), so a
/// client following its stream reads how it ended. It is numbered after the stored events and
/// after every id the run's process may have sent before it died, so it never takes an id a
/// client holds for another event.
pub(super) async fn append_interrupted_event(
    txn: &DatabaseTransaction,
    row: &StoredRun,
) -> Result<(), StoreError> {
    let promised: Option<i64> = run::Entity::find_by_id(row.run_id.as_str())
        .select_only()
        .column(run::Column::EventsPromised)
        .into_tuple()
        .one(txn)
        .await?;
    let promised = promised.map_or(0, |promised| promised.max(0) as u64);
    let seq = next_seq(txn, &row.run_id).await?.max(promised);
    let output = interrupted_output(row);
    let json = output
        .events
        .as_ref()
        .and_then(|events| events.first())
        .map(Value::to_string)
        .unwrap_or_else(|| "{}".to_owned());
    let name = EventName::run_error(row.kind);
    let mut data = String::new();
    push_line(&mut data, name.as_str(), &json);
    let rows = vec![self::row(&row.run_id, seq, 1, data, now_micros())];
    for statement in super::statements::events(txn.get_database_backend(), rows) {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}
