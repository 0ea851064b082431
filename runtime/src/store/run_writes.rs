//! A run's life in the store: its start (creating its session), its end, its pause and
//! continuation, cancel requests, heartbeats, and the end written for a run whose process died.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

use super::entity::{idempotency_key, run};
use super::error::StoreError;
use super::events::{self, append_interrupted_event};
use super::pool::Store;
use super::rows::{self, interrupted_output};
use super::statements::{RunRow, SessionRow};
use super::writer::{BusyCheck, KeyClaim, SessionOwner, WriteOp, begin_write};
use crate::component::ComponentKind;
use crate::meta::RunMeta;
use crate::run::{PROMISED_AT_START, RunEvent, RunOutput};
use crate::status::RunStatus;
use crate::time::now_micros;

/// A run about to start.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: &'a str,
    /// The run's ids; its session is created if new, and must otherwise belong to the same
    /// user and component.
    pub meta: &'a RunMeta,
    /// The message.
    pub input: &'a str,
    /// The validated `factory_input`, when the component is a factory.
    pub factory_input: Option<Value>,
    /// `Running`, or `Pending` for a run that waits its turn in a busy session.
    pub status: RunStatus,
    /// Refuse with [`StoreError::SessionBusy`] while another top-level run of the session is
    /// running or queued; checked in one transaction with the insert, across replicas.
    pub reject_if_busy: bool,
    /// The idempotency key the run claims: refused with [`StoreError::KeyTaken`] when another
    /// run holds it.
    pub idempotency: Option<IdempotencyClaim<'a>>,
    /// The server made the session's id for this run, so no one else can hold the session and
    /// its owner need not be read back; false for an id a client named.
    pub new_session: bool,
}

/// An `Idempotency-Key` and the digest of the request that sent it.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyClaim<'a> {
    /// The key as the client sent it.
    pub key: &'a str,
    /// A digest of the request's fields.
    pub fingerprint: &'a str,
}

/// The run an idempotency key created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// The digest of the request that claimed the key.
    pub fingerprint: String,
    /// The run it started.
    pub run_id: String,
}

/// A run in a session the server made for it, with no idempotency key: a start nothing but an
/// unreachable database can refuse.
#[derive(Clone, Copy, Debug)]
pub struct FreshRun<'a> {
    /// Team or agent.
    pub kind: ComponentKind,
    /// The component's id.
    pub component_id: &'a str,
    /// The run's ids (its session's id made by the server for it).
    pub meta: &'a RunMeta,
    /// The message.
    pub input: &'a str,
    /// The validated `factory_input`, when the component is a factory.
    pub factory_input: Option<&'a Value>,
}

/// The rows of a run's start, kept until the run has gone on long enough to send them, and
/// given to [`Store::finish_run`] so the end stands on its own.
#[derive(Debug)]
pub struct DeferredStart {
    pub(super) session: SessionRow,
    pub(super) run: RunRow,
}

/// How long a running run may go without a heartbeat before it counts as interrupted. The
/// watcher renews heartbeats every 5 s and sweeps every 10 s, so a run whose process died is
/// marked within 30 s.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(20);

/// How long an idempotency key is kept.
pub(crate) const KEYS_KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// Records a run as running, creating its session if it is new. Refused with
    /// [`StoreError::ForeignSession`], writing nothing, when the session exists and belongs to
    /// another user or component; the check and the write are one transaction.
    pub async fn start_run(&self, new: NewRun<'_>) -> Result<(), StoreError> {
        self.write_retrying_alone(|| {
            let meta = new.meta;
            let started = FreshRun {
                kind: new.kind,
                component_id: new.component_id,
                meta,
                input: new.input,
                factory_input: new.factory_input.as_ref(),
            };
            let (session, run) = self.started_rows(started, new.status, now_micros());
            let user_id = run.user_id.clone();
            let claim = new.idempotency.map(|claim| KeyClaim {
                owner: user_id.clone().unwrap_or_default(),
                kind: new.kind,
                component_id: new.component_id.to_owned(),
                key: claim.key.to_owned(),
                fingerprint: claim.fingerprint.to_owned(),
                run_id: meta.run_id().to_owned(),
                created_at: run.created_at,
            });
            Ok(WriteOp::StartRun {
                owner: SessionOwner {
                    new_session: new.new_session,
                    session_id: meta.session_id().to_owned(),
                    kind: new.kind,
                    component_id: new.component_id.to_owned(),
                    user_id,
                },
                busy: if new.reject_if_busy {
                    BusyCheck::RejectIfActive
                } else {
                    BusyCheck::None
                },
                claim,
                session: Box::new(session),
                run: Box::new(run),
                deferred: false,
            })
        })
        .await
    }

    /// The rows the start of `run` writes at `now`: its session's (created by its first run)
    /// and its own.
    pub(super) fn started_rows(
        &self,
        run: FreshRun<'_>,
        status: RunStatus,
        now: i64,
    ) -> (SessionRow, RunRow) {
        let FreshRun {
            kind,
            component_id,
            meta,
            input,
            factory_input,
        } = run;
        let user_id = meta.user_id().map(str::to_owned);
        let session = SessionRow {
            session_id: meta.session_id().to_owned(),
            kind,
            component_id: component_id.to_owned(),
            user_id: user_id.clone(),
            session_name: Some(session_name(input)),
            created_at: now,
        };
        let run = RunRow {
            run_id: meta.run_id().to_owned(),
            session_id: meta.session_id().to_owned(),
            parent_run_id: meta.parent_run_id().map(str::to_owned),
            kind,
            component_id: component_id.to_owned(),
            user_id,
            status,
            factory_input: factory_input.map(Value::to_string),
            input: input.to_owned(),
            output: None,
            metrics: None,
            owner: self.owner.to_string(),
            heartbeat_at: now,
            paused_state: None,
            // The run's event log lets this many ids out before it asks for more.
            events_promised: PROMISED_AT_START as i64,
            created_at: now,
            updated_at: now,
        };
        (session, run)
    }

    /// Records how a run ended, in one transaction: its output and metrics, a row for each
    /// member run, its last events (numbered from `first_seq`; the ones stored before stay), and
    /// with `tokens`, the model tokens it used added to its user's day.
    ///
    /// A team's members are stored as rows of their own and only their ids go with the team's
    /// output (which is why `output` is borrowed mutably: its members are set aside while it is
    /// serialized, and put back); reads put them back in place.
    ///
    /// With `started`, a start not waited for ([`Store::defer_start`]), the end also writes
    /// what that start would have, so it is whole whether or not the start was sent or
    /// committed.
    pub async fn finish_run(
        &self,
        output: &mut RunOutput,
        first_seq: u64,
        events: &[Arc<RunEvent>],
        tokens: Option<(i64, u64)>,
        started: Option<&DeferredStart>,
    ) -> Result<(), StoreError> {
        // PostgreSQL's text cannot hold NUL, and a model may still produce one.
        let scrub = self.backend() == DatabaseBackend::Postgres;
        self.write_retrying_alone(|| {
            let now = now_micros();
            let mut rows = Vec::new();
            finished_rows(output, scrub, now, &self.owner, &mut rows)?;
            if let (Some(started), Some(root)) = (started, rows.first_mut()) {
                root.factory_input.clone_from(&started.run.factory_input);
                root.created_at = started.run.created_at;
            }
            let events = events::chunk_row(&output.run_id, first_seq, events, now)
                .into_iter()
                .collect();
            let tokens = tokens.map(|(day, count)| {
                (
                    output.user_id.clone().unwrap_or_default(),
                    day,
                    count.min(i64::MAX as u64) as i64,
                )
            });
            Ok(WriteOp::FinishRun {
                session: started.map(|started| started.session.clone()),
                rows,
                events,
                tokens,
            })
        })
        .await
    }

    /// The run an idempotency key of `user_id` for a component started, if any.
    pub async fn idempotency_key(
        &self,
        user_id: Option<&str>,
        kind: ComponentKind,
        component_id: &str,
        key: &str,
    ) -> Result<Option<StoredKey>, StoreError> {
        let found = idempotency_key::Entity::find_by_id((
            user_id.unwrap_or_default().to_owned(),
            kind,
            component_id.to_owned(),
            key.to_owned(),
        ))
        .one(&self.conn)
        .await?;
        Ok(found.map(|row| StoredKey {
            fingerprint: row.fingerprint,
            run_id: row.run_id,
        }))
    }

    /// Takes a paused run to continue it: true when it was paused and is now this process's
    /// to run, false when it was not paused (or another request took it first).
    pub async fn claim_paused(&self, run_id: &str) -> Result<bool, StoreError> {
        let now = now_micros();
        let result = run::Entity::update_many()
            .col_expr(run::Column::Status, Expr::value(RunStatus::Running))
            .col_expr(run::Column::Owner, Expr::value(self.owner.to_string()))
            .col_expr(run::Column::HeartbeatAt, Expr::value(now))
            .col_expr(run::Column::CancelRequested, Expr::value(false))
            .col_expr(run::Column::UpdatedAt, Expr::value(now))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.eq(RunStatus::Paused))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Marks a queued run as running, its turn having come.
    pub async fn mark_running(&self, run_id: &str) -> Result<(), StoreError> {
        run::Entity::update_many()
            .col_expr(run::Column::Status, Expr::value(RunStatus::Running))
            .col_expr(run::Column::UpdatedAt, Expr::value(now_micros()))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.eq(RunStatus::Pending))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Asks whichever process runs (or queues) `run_id` to stop it. False when no such run
    /// is in progress.
    pub async fn request_cancel(&self, run_id: &str) -> Result<bool, StoreError> {
        let result = run::Entity::update_many()
            .col_expr(run::Column::CancelRequested, Expr::value(true))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .exec(&self.writer)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Tells other processes that `run_ids` are still alive here.
    pub async fn heartbeat(&self, run_ids: &[String]) -> Result<(), StoreError> {
        run::Entity::update_many()
            .col_expr(run::Column::HeartbeatAt, Expr::value(now_micros()))
            .filter(run::Column::RunId.is_in(run_ids.iter().cloned()))
            .exec(&self.writer)
            .await?;
        Ok(())
    }

    /// Promises that event ids of `run_id` below `upto` may reach clients: an error event the
    /// run gets if its process dies is numbered from there. False when the run's row is not
    /// there yet (its start has not committed), so nothing was promised.
    pub async fn promise_events(&self, run_id: &str, upto: u64) -> Result<bool, StoreError> {
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        let raised = run::Entity::update_many()
            .col_expr(run::Column::EventsPromised, Expr::value(upto))
            .filter(run::Column::RunId.eq(run_id))
            .filter(run::Column::EventsPromised.lt(upto))
            .exec(&self.writer)
            .await?;
        if raised.rows_affected > 0 {
            return Ok(true);
        }
        // Either promised as far already, or not there.
        Ok(run::Entity::find_by_id(run_id)
            .select_only()
            .column(run::Column::RunId)
            .into_tuple::<String>()
            .one(&self.writer)
            .await?
            .is_some())
    }

    /// Marks running runs whose heartbeat is older than `stale_before` (unix µs) as
    /// interrupted: their process stopped without finishing them.
    pub async fn mark_interrupted(&self, stale_before: i64) -> Result<u64, StoreError> {
        let stale = run::Entity::find()
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .filter(run::Column::HeartbeatAt.lt(stale_before))
            .all(&self.conn)
            .await?;
        let mut count = 0;
        for row in rows::runs(stale)? {
            let output = serde_json::to_value(interrupted_output(&row))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // The status and the error event commit together: a client following the run's
            // stream that reads the status ended finds the event that says how.
            let txn = begin_write(&self.writer).await?;
            let result = run::Entity::update_many()
                .col_expr(run::Column::Status, Expr::value(RunStatus::Error))
                .col_expr(run::Column::Output, Expr::value(output))
                .col_expr(run::Column::UpdatedAt, Expr::value(now_micros()))
                .filter(run::Column::RunId.eq(row.run_id.as_str()))
                .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
                .exec(&txn)
                .await?;
            if result.rows_affected > 0 {
                append_interrupted_event(&txn, &row).await?;
            }
            txn.commit().await?;
            count += result.rows_affected;
        }
        Ok(count)
    }
}

/// What a paused run stores to go on; nothing for a run that has not paused.
fn paused_state(run: &RunOutput) -> Result<Option<String>, StoreError> {
    run.paused
        .as_ref()
        .map(|paused| serde_json::to_string(paused).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

/// `value` as JSON text, serialized once; with `scrub`, NUL characters (which serde_json writes
/// as `\u0000`) are replaced, through a JSON tree only when there is one.
fn json_text(value: &impl serde::Serialize, scrub: bool) -> Result<String, StoreError> {
    let corrupt = |error: serde_json::Error| StoreError::Corrupt(error.to_string());
    let text = serde_json::to_string(value).map_err(corrupt)?;
    if scrub && text.contains("\\u0000") {
        let mut tree: Value = serde_json::from_str(&text).map_err(corrupt)?;
        scrub_nul(&mut tree);
        return Ok(tree.to_string());
    }
    Ok(text)
}

/// Replaces NUL characters in every string of `value`.
fn scrub_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => *text = text.replace('\0', "\u{fffd}"),
        Value::Array(items) => items.iter_mut().for_each(scrub_nul),
        Value::Object(fields) => fields.values_mut().for_each(scrub_nul),
        _ => {}
    }
}

/// A run's output as stored: a team's members (a workflow's step runs) are rows of their own,
/// so only their ids go with it, in order (an agent's run has none, and no `member_run_ids`
/// either).
#[derive(serde::Serialize)]
struct StoredOutput<'a> {
    #[serde(flatten)]
    run: &'a RunOutput,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_run_ids: Option<Vec<&'a str>>,
}

/// The rows of a finished run and of its members, depth first.
fn finished_rows(
    run: &mut RunOutput,
    scrub: bool,
    now: i64,
    owner: &str,
    into: &mut Vec<RunRow>,
) -> Result<(), StoreError> {
    let members = run.child_runs_mut().take();
    let stored = StoredOutput {
        run,
        member_run_ids: members
            .as_ref()
            .map(|members| members.iter().map(|m| m.run_id.as_str()).collect()),
    };
    let output = json_text(&stored, scrub);
    *run.child_runs_mut() = members;
    let input = if scrub {
        run.input.input_content.replace('\0', "\u{fffd}")
    } else {
        run.input.input_content.clone()
    };
    into.push(RunRow {
        run_id: run.run_id.clone(),
        session_id: run.session_id.clone(),
        parent_run_id: run.parent_run_id.clone(),
        kind: run.component.kind,
        component_id: run.component.id.to_string(),
        user_id: run.user_id.clone(),
        status: run.status,
        factory_input: None,
        input,
        output: Some(output?),
        metrics: Some(json_text(&run.metrics, scrub)?),
        owner: owner.to_owned(),
        heartbeat_at: now,
        paused_state: paused_state(run)?,
        // Every event of an ended run is stored: no promise is needed.
        events_promised: 0,
        created_at: now,
        updated_at: now,
    });
    for member in run.child_runs_mut().iter_mut().flatten() {
        finished_rows(member, scrub, now, owner, into)?;
    }
    Ok(())
}

/// A session is named after its first message, as agno does, cut to a readable length.
fn session_name(message: &str) -> String {
    const MAX_CHARS: usize = 120;
    match message.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}
