//! Model use added to a run after its end was stored: a memory capture runs once the answer
//! is out, and its tokens still belong to the run (its metrics) and to its user's day (the
//! token budget).

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::entity::run;
use super::error::StoreError;
use super::pool::Store;
use super::writer::{add_token_usage, begin_write};
use crate::model::Usage;
use crate::run::RunMetrics;

/// A model call made for a run after its end.
#[derive(Clone, Debug)]
pub struct LateUsage<'a> {
    /// Its tokens.
    pub usage: Usage,
    /// The model's id.
    pub model_id: &'a str,
    /// The model's provider label, as the run's metrics name it.
    pub provider: &'a str,
    /// The day (Unix days) whose budget the tokens count against, when budgets are kept.
    pub day: Option<i64>,
}

impl Store {
    /// Adds `late` to the stored run `run_id`'s metrics (its own and those its output
    /// carries) and, with a day, to its user's tokens of that day. Nothing when the run is
    /// gone (deleted meanwhile).
    pub async fn add_run_usage(&self, run_id: &str, late: LateUsage<'_>) -> Result<(), StoreError> {
        let corrupt =
            |error: serde_json::Error| StoreError::Corrupt(format!("run metrics: {error}"));
        let txn = begin_write(&self.writer).await?;
        let Some(row) = run::Entity::find_by_id(run_id.to_owned()).one(&txn).await? else {
            return Ok(());
        };
        let mut metrics: RunMetrics = match row.metrics {
            Some(metrics) => serde_json::from_value(metrics).map_err(corrupt)?,
            None => RunMetrics::default(),
        };
        metrics.add_usage(late.usage, late.model_id, late.provider);
        let metrics = serde_json::to_value(&metrics).map_err(corrupt)?;
        let mut output = row.output;
        if let Some(Value::Object(fields)) = &mut output {
            fields.insert("metrics".to_owned(), metrics.clone());
        }
        run::Entity::update_many()
            .col_expr(run::Column::Metrics, Expr::value(metrics))
            .col_expr(run::Column::Output, Expr::value(output))
            .filter(run::Column::RunId.eq(run_id))
            .exec(&txn)
            .await?;
        if let Some(day) = late.day {
            let tokens = late.usage.total_tokens.min(i64::MAX as u64) as i64;
            let user = row.user_id.unwrap_or_default();
            add_token_usage(&txn, HashMap::from([((user, day), tokens)])).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
