//! The writer's hot statements, written out instead of built per write.
//!
//! Every run writes its session, its row when it starts and its rows and events when it ends.
//! Built with sea-query, each of those writes cloned its values (whole JSON trees among them)
//! into the statement and dropped them again; the profile put that at a fifth of the server's
//! CPU. Here rows are plain values whose JSON is text serialized once, and they go in as
//! multi-row inserts of a few fixed sizes, so each statement text recurs and the driver keeps
//! it prepared.

use std::sync::LazyLock;

use sea_orm::{DatabaseBackend, Statement, Value};

use crate::component::ComponentKind;
use crate::run::RunStatus;

/// A run's row, as the writer stores it.
#[derive(Clone, Debug)]
pub(super) struct RunRow {
    pub(super) run_id: String,
    pub(super) session_id: String,
    pub(super) parent_run_id: Option<String>,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
    pub(super) user_id: Option<String>,
    pub(super) status: RunStatus,
    /// JSON text.
    pub(super) factory_input: Option<String>,
    pub(super) input: String,
    /// JSON text.
    pub(super) output: Option<String>,
    /// JSON text.
    pub(super) metrics: Option<String>,
    pub(super) owner: String,
    pub(super) heartbeat_at: i64,
    pub(super) paused_state: Option<String>,
    /// Event ids promised as the run starts (kept as they are by its end).
    pub(super) events_promised: i64,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
}

/// A session's row as its first run creates it (empty state and metadata).
#[derive(Clone, Debug)]
pub(super) struct SessionRow {
    pub(super) session_id: String,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
    pub(super) user_id: Option<String>,
    pub(super) session_name: Option<String>,
    pub(super) created_at: i64,
}

/// A row of a run's events: `data` holds events `seq..=last_seq`, a line each.
#[derive(Debug)]
pub(super) struct EventRow {
    pub(super) run_id: String,
    pub(super) seq: i64,
    pub(super) last_seq: i64,
    pub(super) data: String,
    pub(super) created_at: i64,
}

/// The row counts a statement is made for; a batch goes in as a few statements of these sizes.
const CHUNK_SIZES: [usize; 4] = [64, 16, 4, 1];

/// `rows` cut into chunks of the sizes in [`CHUNK_SIZES`], largest first.
fn chunks<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut rows = rows.into_iter().peekable();
    for size in CHUNK_SIZES {
        while rows.len() >= size {
            chunks.push(rows.by_ref().take(size).collect());
        }
    }
    debug_assert!(rows.peek().is_none());
    chunks
}

/// A statement being written: its text and its values, with the backend's placeholders.
struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// A statement whose text begins with `head`, its pieces one after another.
    fn new(backend: DatabaseBackend, head: &[&str]) -> Self {
        Sql {
            backend,
            text: head.concat(),
            values: Vec::new(),
        }
    }

    fn placeholder(&mut self) {
        match self.backend {
            DatabaseBackend::Postgres => {
                use std::fmt::Write as _;
                // Writing into the String itself cannot fail.
                let _ = write!(self.text, "${}", self.values.len());
            }
            _ => self.text.push('?'),
        }
    }

    /// A value, after a comma unless it opens a row.
    fn value(&mut self, value: impl Into<Value>) {
        if !self.text.ends_with('(') {
            self.text.push_str(", ");
        }
        self.values.push(value.into());
        self.placeholder();
    }

    /// JSON given as text: PostgreSQL parses it into its `json` column; SQLite keeps the text.
    fn json(&mut self, text: Option<String>) {
        if self.backend == DatabaseBackend::Postgres {
            self.text.push_str(", CAST(");
            self.values.push(text.into());
            self.placeholder();
            self.text.push_str(" AS json)");
        } else {
            self.value(text);
        }
    }

    /// A literal of SQL text in place of a value.
    fn literal(&mut self, sql: &str) {
        self.text.push_str(", ");
        self.text.push_str(sql);
    }

    fn open_row(&mut self, first: bool) {
        self.text.push_str(if first { "(" } else { ", (" });
    }

    fn close_row(&mut self) {
        self.text.push(')');
    }

    fn finish(mut self, tail: &str) -> Statement {
        self.text.push_str(tail);
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

const RUN_COLUMNS: &str = "run_id, session_id, parent_run_id, component_type, component_id, \
    user_id, status, factory_input, input, output, events, metrics, cancel_requested, owner, \
    heartbeat_at, paused_state, events_promised, created_at, updated_at";

/// A finished run's row replaces what its start wrote, in the columns a run's end changes.
const RUN_FINISHED: &str = " ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, \
    output = excluded.output, events = excluded.events, metrics = excluded.metrics, \
    paused_state = excluded.paused_state, updated_at = excluded.updated_at";

/// A deferred start that comes after its run's end (committed first by another writer)
/// leaves the end's row as it is.
const RUN_DEFERRED_STARTED: &str = " ON CONFLICT (run_id) DO NOTHING";

/// How a run's rows are written.
#[derive(Clone, Copy, Debug)]
pub(super) enum RunWrite {
    /// Inserted as it starts; a row already there is refused.
    Start,
    /// Inserted as it starts unless its end is there already.
    DeferredStart,
    /// Stored as it ended, over its start if that is there.
    End,
}

/// Writes the rows of runs as `how` says.
pub(super) fn runs(backend: DatabaseBackend, rows: Vec<RunRow>, how: RunWrite) -> Vec<Statement> {
    let tail = match how {
        RunWrite::Start => "",
        RunWrite::DeferredStart => RUN_DEFERRED_STARTED,
        RunWrite::End => RUN_FINISHED,
    };
    chunks(rows)
        .into_iter()
        .map(|chunk| {
            let mut sql = Sql::new(
                backend,
                &["INSERT INTO agentos_runs (", RUN_COLUMNS, ") VALUES "],
            );
            for (index, row) in chunk.into_iter().enumerate() {
                sql.open_row(index == 0);
                sql.value(row.run_id);
                sql.value(row.session_id);
                sql.value(row.parent_run_id);
                sql.value(row.kind.as_str());
                sql.value(row.component_id);
                sql.value(row.user_id);
                sql.value(row.status.as_str());
                sql.json(row.factory_input);
                sql.value(row.input);
                sql.json(row.output);
                sql.json(None);
                sql.json(row.metrics);
                sql.value(false);
                sql.value(row.owner);
                sql.value(row.heartbeat_at);
                sql.value(row.paused_state);
                sql.value(row.events_promised);
                sql.value(row.created_at);
                sql.value(row.updated_at);
                sql.close_row();
            }
            sql.finish(tail)
        })
        .collect()
}

const SESSION_INSERT: &str = "INSERT INTO agentos_sessions (session_id, session_type, \
    component_id, user_id, session_name, session_state, metadata, created_at, updated_at)";

/// A session's first run creates it; a later run of its owner marks it updated. Another
/// owner's run changes nothing here (and is refused by the writer).
const SESSION_TOUCHED: &str = " ON CONFLICT (session_id) DO UPDATE SET updated_at = \
    excluded.updated_at WHERE agentos_sessions.user_id IS NOT DISTINCT FROM excluded.user_id \
    AND agentos_sessions.session_type = excluded.session_type \
    AND agentos_sessions.component_id = excluded.component_id";

/// Creates the sessions of starting runs, or marks them updated.
pub(super) fn sessions(backend: DatabaseBackend, rows: Vec<SessionRow>) -> Vec<Statement> {
    let empty_object = match backend {
        DatabaseBackend::Postgres => "CAST('{}' AS json)",
        _ => "'{}'",
    };
    chunks(rows)
        .into_iter()
        .map(|chunk| {
            let mut sql = Sql::new(backend, &[SESSION_INSERT, " VALUES "]);
            for (index, row) in chunk.into_iter().enumerate() {
                sql.open_row(index == 0);
                sql.value(row.session_id);
                sql.value(row.kind.as_str());
                sql.value(row.component_id);
                sql.value(row.user_id);
                sql.value(row.session_name);
                sql.literal(empty_object);
                sql.literal(empty_object);
                sql.value(row.created_at);
                sql.value(row.created_at);
                sql.close_row();
            }
            sql.finish(SESSION_TOUCHED)
        })
        .collect()
}

const EVENT_INSERT: &str =
    "INSERT INTO agentos_run_events (run_id, seq, last_seq, data, created_at)";

/// Stores rows of events; a row stored before (a retried write) stays as it was.
pub(super) fn events(backend: DatabaseBackend, rows: Vec<EventRow>) -> Vec<Statement> {
    chunks(rows)
        .into_iter()
        .map(|chunk| {
            let mut sql = Sql::new(backend, &[EVENT_INSERT, " VALUES "]);
            for (index, row) in chunk.into_iter().enumerate() {
                sql.open_row(index == 0);
                sql.value(row.run_id);
                sql.value(row.seq);
                sql.value(row.last_seq);
                sql.value(row.data);
                sql.value(row.created_at);
                sql.close_row();
            }
            sql.finish(" ON CONFLICT (run_id, seq) DO NOTHING")
        })
        .collect()
}

/// Rows written as a JSON array of objects, one key per column, for PostgreSQL to read back
/// with `json_populate_recordset`: a whole table's rows in one value, whatever their number.
struct JsonRows {
    text: Vec<u8>,
    /// Whether the object being written has a key yet.
    keyed: bool,
}

impl JsonRows {
    fn new() -> Self {
        JsonRows {
            text: b"[".to_vec(),
            keyed: false,
        }
    }

    fn open(&mut self) {
        if self.text.len() > 1 {
            self.text.push(b',');
        }
        self.text.push(b'{');
        self.keyed = false;
    }

    fn key(&mut self, name: &str) {
        if self.keyed {
            self.text.push(b',');
        }
        self.keyed = true;
        self.text.push(b'"');
        self.text.extend_from_slice(name.as_bytes());
        self.text.extend_from_slice(b"\":");
    }

    fn string(&mut self, name: &str, value: Option<&str>) {
        self.key(name);
        match value {
            // Writing into a Vec cannot fail, and a &str always serializes.
            Some(value) => serde_json::to_writer(&mut self.text, value).unwrap_or_default(),
            None => self.text.extend_from_slice(b"null"),
        }
    }

    fn number(&mut self, name: &str, value: i64) {
        self.key(name);
        self.text.extend_from_slice(value.to_string().as_bytes());
    }

    /// A value that is JSON text already (serialized by serde_json), written as it is.
    fn json(&mut self, name: &str, value: Option<&str>) {
        self.key(name);
        self.text
            .extend_from_slice(value.unwrap_or("null").as_bytes());
    }

    fn close(&mut self) {
        self.text.push(b'}');
    }

    fn finish(mut self) -> String {
        self.text.push(b']');
        // Only whole UTF-8 strings and ASCII went in.
        String::from_utf8(self.text).unwrap_or_else(|_| "[]".to_owned())
    }
}

fn run_rows_json(rows: &[RunRow]) -> String {
    let mut json = JsonRows::new();
    for row in rows {
        json.open();
        json.string("run_id", Some(&row.run_id));
        json.string("session_id", Some(&row.session_id));
        json.string("parent_run_id", row.parent_run_id.as_deref());
        json.string("component_type", Some(row.kind.as_str()));
        json.string("component_id", Some(&row.component_id));
        json.string("user_id", row.user_id.as_deref());
        json.string("status", Some(row.status.as_str()));
        json.json("factory_input", row.factory_input.as_deref());
        json.string("input", Some(&row.input));
        json.json("output", row.output.as_deref());
        json.json("metrics", row.metrics.as_deref());
        json.string("owner", Some(&row.owner));
        json.number("heartbeat_at", row.heartbeat_at);
        json.string("paused_state", row.paused_state.as_deref());
        json.number("events_promised", row.events_promised);
        json.number("created_at", row.created_at);
        json.number("updated_at", row.updated_at);
        json.close();
    }
    json.finish()
}

/// The columns of [`RUN_COLUMNS`] read from a row of JSON: no events yet, no cancel asked for.
const RUN_VALUES: &str = "run_id, session_id, parent_run_id, component_type, component_id, \
    user_id, status, factory_input, input, output, NULL, metrics, false, owner, heartbeat_at, \
    paused_state, events_promised, created_at, updated_at";

/// The same, for a finished run whose output and metrics come beside its row of JSON, as
/// `output_text` and `metrics_text`.
const FINISHED_RUN_VALUES: &str = "run_id, session_id, parent_run_id, component_type, \
    component_id, user_id, status, factory_input, input, CAST(output_text AS json), NULL, \
    CAST(metrics_text AS json), false, owner, heartbeat_at, paused_state, events_promised, \
    created_at, updated_at";

/// The text of [`postgres_batch`], made once.
static POSTGRES_BATCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH sessions AS ({SESSION_INSERT} SELECT session_id, session_type, component_id, \
             user_id, session_name, CAST('{{}}' AS json), CAST('{{}}' AS json), created_at, \
             created_at FROM json_populate_recordset(NULL::agentos_sessions, CAST($1 AS json)) \
             {SESSION_TOUCHED}), \
             started AS (INSERT INTO agentos_runs ({RUN_COLUMNS}) SELECT {RUN_VALUES} FROM \
             json_populate_recordset(NULL::agentos_runs, CAST($2 AS json))), \
             deferred AS (INSERT INTO agentos_runs ({RUN_COLUMNS}) SELECT {RUN_VALUES} FROM \
             json_populate_recordset(NULL::agentos_runs, CAST($3 AS json)) \
             {RUN_DEFERRED_STARTED}), \
             events AS ({EVENT_INSERT} SELECT * FROM unnest(CAST($4 AS text[]), \
             CAST($5 AS bigint[]), CAST($6 AS bigint[]), CAST($7 AS text[]), \
             CAST($8 AS bigint[])) ON CONFLICT (run_id, seq) DO NOTHING) \
             INSERT INTO agentos_runs ({RUN_COLUMNS}) SELECT {FINISHED_RUN_VALUES} FROM \
             unnest(CAST($9 AS text[]), CAST($10 AS text[]), CAST($11 AS text[])) \
             AS finished(row_json, output_text, metrics_text) CROSS JOIN LATERAL \
             json_populate_recordset(NULL::agentos_runs, CAST(row_json AS json)) {RUN_FINISHED}"
    )
});

/// A batch of pure writes on PostgreSQL as one statement, so one round trip (and one commit,
/// the statement's own) instead of a transaction of several: the sessions created or touched,
/// the runs started, the events, and the runs finished. The text is always the same and stays
/// prepared. Small rows go as JSON, a table's rows in one value; large values (a finished
/// run's output and metrics, events) go as arrays of text beside them, so PostgreSQL reads each
/// once instead of parsing it inside the JSON and again as a value (a fifth of its time).
/// A statement is atomic, so a part that fails undoes the rest. No row may come twice
/// (`sessions` each once and in order, no run both started and finished): PostgreSQL refuses
/// a statement that writes one row twice.
pub(super) fn postgres_batch(
    sessions: Vec<SessionRow>,
    mut started: Vec<RunRow>,
    mut deferred: Vec<RunRow>,
    events: Vec<EventRow>,
    mut finished: Vec<RunRow>,
) -> Statement {
    // Concurrent batches take their rows' locks in one order, so none waits on another that
    // waits on it.
    started.sort_unstable_by(|a, b| a.run_id.cmp(&b.run_id));
    deferred.sort_unstable_by(|a, b| a.run_id.cmp(&b.run_id));
    finished.sort_unstable_by(|a, b| a.run_id.cmp(&b.run_id));
    let mut session_rows = JsonRows::new();
    for row in &sessions {
        session_rows.open();
        session_rows.string("session_id", Some(&row.session_id));
        session_rows.string("session_type", Some(row.kind.as_str()));
        session_rows.string("component_id", Some(&row.component_id));
        session_rows.string("user_id", row.user_id.as_deref());
        session_rows.string("session_name", row.session_name.as_deref());
        session_rows.number("created_at", row.created_at);
        session_rows.close();
    }
    let mut event_columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in events {
        event_columns.0.push(row.run_id);
        event_columns.1.push(row.seq);
        event_columns.2.push(row.last_seq);
        event_columns.3.push(row.data);
        event_columns.4.push(row.created_at);
    }
    let mut finished_rows = Vec::with_capacity(finished.len());
    let mut outputs = Vec::with_capacity(finished.len());
    let mut metrics = Vec::with_capacity(finished.len());
    for row in &mut finished {
        // A finished run always has both; JSON null stands in should one be missing.
        outputs.push(row.output.take().unwrap_or_else(|| "null".to_owned()));
        metrics.push(row.metrics.take().unwrap_or_else(|| "null".to_owned()));
        finished_rows.push(run_rows_json(std::slice::from_ref(row)));
    }
    let values: Vec<Value> = vec![
        session_rows.finish().into(),
        run_rows_json(&started).into(),
        run_rows_json(&deferred).into(),
        event_columns.0.into(),
        event_columns.1.into(),
        event_columns.2.into(),
        event_columns.3.into(),
        event_columns.4.into(),
        finished_rows.into(),
        outputs.into(),
        metrics.into(),
    ];
    Statement::from_sql_and_values(DatabaseBackend::Postgres, POSTGRES_BATCH.as_str(), values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_the_fixed_sizes() {
        let sizes = |n: usize| -> Vec<usize> {
            chunks((0..n).collect::<Vec<_>>())
                .iter()
                .map(Vec::len)
                .collect()
        };
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), vec![1]);
        assert_eq!(sizes(23), vec![16, 4, 1, 1, 1]);
        assert_eq!(sizes(130), vec![64, 64, 1, 1]);
        let all: Vec<usize> = chunks((0..200).collect()).into_iter().flatten().collect();
        assert_eq!(
            all,
            (0..200).collect::<Vec<_>>(),
            "every row once, in order"
        );
    }

    #[test]
    fn postgres_numbers_its_placeholders_and_casts_json() {
        let row = EventRow {
            run_id: "r".into(),
            seq: 0,
            last_seq: 1,
            data: "x".into(),
            created_at: 5,
        };
        let statement = events(DatabaseBackend::Postgres, vec![row]).remove(0);
        assert_eq!(
            statement.sql,
            "INSERT INTO agentos_run_events (run_id, seq, last_seq, data, created_at) VALUES \
             ($1, $2, $3, $4, $5) ON CONFLICT (run_id, seq) DO NOTHING"
        );
        let session = SessionRow {
            session_id: "s".into(),
            kind: ComponentKind::Team,
            component_id: "t".into(),
            user_id: None,
            session_name: None,
            created_at: 1,
        };
        let statement = sessions(DatabaseBackend::Sqlite, vec![session]).remove(0);
        assert!(
            statement
                .sql
                .contains("VALUES (?, ?, ?, ?, ?, '{}', '{}', ?, ?) ON CONFLICT"),
            "{}",
            statement.sql
        );
    }
}
