//! Daily figures of the stored runs, as agno's metrics page reads them: runs and sessions of
//! each kind, users, tokens and the models used, per UTC day, for every user or for one.
//! Counted by the database (top-level runs only: a team's members and a workflow's steps are
//! part of the run that made them), so no run is read into memory.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement, Value};

use super::Store;
use super::error::StoreError;
use crate::component::ComponentKind;

/// Microseconds in a day: `created_at / DAY` is the run's UTC day since the epoch.
const DAY: i64 = 86_400_000_000;

/// One UTC day's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// Days since 1970-01-01.
    pub day: i64,
    /// Top-level runs of agents, teams and workflows.
    pub runs: KindCounts,
    /// Sessions with at least one such run that day.
    pub sessions: KindCounts,
    /// Users with a run that day (runs without a user are not counted).
    pub users: u64,
    /// Prompt tokens of the day's runs.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Both.
    pub total_tokens: u64,
    /// Runs per model, by `(model id, provider)`.
    pub models: BTreeMap<(String, String), u64>,
}

/// A count for each kind of component.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Agents'.
    pub agent: u64,
    /// Teams'.
    pub team: u64,
    /// Workflows'.
    pub workflow: u64,
}

impl KindCounts {
    fn add(&mut self, kind: ComponentKind, count: u64) {
        match kind {
            ComponentKind::Agent => self.agent += count,
            ComponentKind::Team => self.team += count,
            ComponentKind::Workflow => self.workflow += count,
        }
    }
}

impl Store {
    /// The figures of each day from `first_day` to `last_day` (days since the epoch, both
    /// included) that has runs, oldest first; only `user`'s runs when given.
    pub async fn daily_figures(
        &self,
        first_day: i64,
        last_day: i64,
        user: Option<&str>,
    ) -> Result<Vec<DayFigures>, StoreError> {
        let backend = self.backend();
        let mut days: BTreeMap<i64, DayFigures> = BTreeMap::new();
        // Runs, sessions and users: top-level runs only.
        let top = filter(backend, user, Rows::TopLevel);
        let by_kind = format!(
            "SELECT r.created_at / {DAY} AS day, r.component_type AS kind, COUNT(*) AS runs, \
             COUNT(DISTINCT r.session_id) AS sessions FROM agentos_runs r{top} GROUP BY 1, 2"
        );
        for row in self.day_rows(&by_kind, first_day, last_day, user).await? {
            let kind: ComponentKind = row.try_get("", "kind")?;
            let (runs, sessions) = (count(&row, "runs")?, count(&row, "sessions")?);
            let figures = day(&mut days, &row)?;
            figures.runs.add(kind, runs);
            figures.sessions.add(kind, sessions);
        }
        let users = format!(
            "SELECT r.created_at / {DAY} AS day, COUNT(DISTINCT r.user_id) AS users \
             FROM agentos_runs r{top} GROUP BY 1"
        );
        for row in self.day_rows(&users, first_day, last_day, user).await? {
            let users = count(&row, "users")?;
            day(&mut days, &row)?.users = users;
        }
        // Tokens and models: every run that called a model, a team's members included, but
        // not a workflow's steps, whose figures the workflow's run already holds.
        let counted = filter(backend, user, Rows::Counted);
        let tokens = |field: &str| match backend {
            DatabaseBackend::Postgres => {
                // PostgreSQL sums BIGINTs as NUMERIC.
                format!("CAST(COALESCE(SUM(CAST(r.metrics->>'{field}' AS BIGINT)), 0) AS BIGINT)")
            }
            _ => format!("COALESCE(SUM(json_extract(r.metrics, '$.{field}')), 0)"),
        };
        let spent = format!(
            "SELECT r.created_at / {DAY} AS day, {} AS input_tokens, {} AS output_tokens, \
             {} AS total_tokens FROM agentos_runs r {JOIN_PARENT}{counted} GROUP BY 1",
            tokens("input_tokens"),
            tokens("output_tokens"),
            tokens("total_tokens"),
        );
        for row in self.day_rows(&spent, first_day, last_day, user).await? {
            let (input, output, total) = (
                count(&row, "input_tokens")?,
                count(&row, "output_tokens")?,
                count(&row, "total_tokens")?,
            );
            let figures = day(&mut days, &row)?;
            figures.input_tokens += input;
            figures.output_tokens += output;
            figures.total_tokens += total;
        }
        // Each model a run called, from its metrics' per-model details.
        let models = match backend {
            DatabaseBackend::Postgres => format!(
                "SELECT r.created_at / {DAY} AS day, m->>'id' AS model, \
                 m->>'provider' AS provider, COUNT(*) AS runs FROM agentos_runs r \
                 {JOIN_PARENT} CROSS JOIN json_array_elements(r.metrics->'details'->'model') AS m\
                 {counted} GROUP BY 1, 2, 3"
            ),
            _ => format!(
                "SELECT r.created_at / {DAY} AS day, json_extract(m.value, '$.id') AS model, \
                 json_extract(m.value, '$.provider') AS provider, COUNT(*) AS runs \
                 FROM agentos_runs r {JOIN_PARENT} \
                 CROSS JOIN json_each(r.metrics, '$.details.model') AS m{counted} GROUP BY 1, 2, 3"
            ),
        };
        for row in self.day_rows(&models, first_day, last_day, user).await? {
            let model: Option<String> = row.try_get("", "model")?;
            let provider: Option<String> = row.try_get("", "provider")?;
            let runs = count(&row, "runs")?;
            if let Some(model) = model {
                let key = (model, provider.unwrap_or_default());
                *day(&mut days, &row)?.models.entry(key).or_default() += runs;
            }
        }
        // Only days with runs: tokens of members alone never make a day.
        days.retain(|_, figures| figures.runs != KindCounts::default());
        Ok(days.into_values().collect())
    }

    async fn day_rows(
        &self,
        sql: &str,
        first_day: i64,
        last_day: i64,
        user: Option<&str>,
    ) -> Result<Vec<QueryResult>, StoreError> {
        let mut values: Vec<Value> = vec![
            first_day.saturating_mul(DAY).into(),
            last_day.saturating_add(1).saturating_mul(DAY).into(),
        ];
        if let Some(user) = user {
            values.push(user.into());
        }
        let statement = Statement::from_sql_and_values(self.backend(), sql, values);
        Ok(self.connection().query_all_raw(statement).await?)
    }
}

/// The run each run was made by, to leave a workflow's steps out.
const JOIN_PARENT: &str = "LEFT JOIN agentos_runs p ON p.run_id = r.parent_run_id";

/// Which runs a day query reads.
#[derive(Clone, Copy)]
enum Rows {
    /// The runs callers made.
    TopLevel,
    /// Those, and their members, but not a workflow's steps.
    Counted,
}

/// The `WHERE` of a day query: its runs between the two days, of the user if one.
fn filter(backend: DatabaseBackend, user: Option<&str>, rows: Rows) -> String {
    let (from, to, who) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?", "?", "?"),
    };
    let mut sql = format!(" WHERE r.created_at >= {from} AND r.created_at < {to}");
    if user.is_some() {
        sql.push_str(&format!(" AND r.user_id = {who}"));
    }
    sql.push_str(match rows {
        Rows::TopLevel => " AND r.parent_run_id IS NULL",
        Rows::Counted => " AND (p.run_id IS NULL OR p.component_type <> 'workflow')",
    });
    sql
}

/// The figures of the day `row` is about.
fn day<'d>(
    days: &'d mut BTreeMap<i64, DayFigures>,
    row: &QueryResult,
) -> Result<&'d mut DayFigures, StoreError> {
    let day: i64 = row.try_get("", "day")?;
    Ok(days.entry(day).or_insert_with(|| DayFigures {
        day,
        ..DayFigures::default()
    }))
}

/// A count column, read as whatever integer type the database gives it.
fn count(row: &QueryResult, column: &str) -> Result<u64, StoreError> {
    let value: i64 = match row.try_get::<i64>("", column) {
        Ok(value) => value,
        // SQLite sums JSON numbers as reals when any is one.
        Err(_) => row.try_get::<f64>("", column)? as i64,
    };
    Ok(u64::try_from(value).unwrap_or(0))
}
