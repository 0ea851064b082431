//! The writer's part of late usage ([`super::run_usage`]): each usage added to its run's
//! metrics and its user's day, in the transaction of the batch it came in. Only the metrics
//! column changes: reads take a run's metrics from it, not from the copy in its output, so the
//! output (the larger JSON) is neither read nor written again.

use std::collections::HashMap;

use sea_orm::prelude::Json;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;

use super::entity::run;
use crate::model::Usage;
use crate::run::RunMetrics;

/// A [`super::LateUsage`] on its way to the writer.
pub(super) struct LateUsageRow {
    pub(super) run_id: String,
    pub(super) usage: Usage,
    pub(super) model_id: String,
    pub(super) provider: String,
    pub(super) day: Option<i64>,
}

/// Adds each of `late` to its run within `txn`, reading the runs once, and each one's tokens to
/// `tokens` (`(user, day)` to count) when it has a day. A run whose stored metrics do not read
/// keeps them (logged): the other runs of the batch must not fail with it.
pub(super) async fn add_late_usage(
    txn: &DatabaseTransaction,
    late: Vec<LateUsageRow>,
    tokens: &mut HashMap<(String, i64), i64>,
) -> Result<(), DbErr> {
    if late.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = late.iter().map(|row| row.run_id.clone()).collect();
    let runs: HashMap<String, (Option<Json>, Option<String>)> = run::Entity::find()
        .select_only()
        .columns([
            run::Column::RunId,
            run::Column::Metrics,
            run::Column::UserId,
        ])
        .filter(run::Column::RunId.is_in(ids))
        .into_tuple::<(String, Option<Json>, Option<String>)>()
        .all(txn)
        .await?
        .into_iter()
        .map(|(id, metrics, user)| (id, (metrics, user)))
        .collect();
    let mut changed: HashMap<String, RunMetrics> = HashMap::new();
    for row in late {
        // A run deleted meanwhile has nothing to add to.
        let Some((metrics, user)) = runs.get(&row.run_id) else {
            continue;
        };
        if let Some(day) = row.day {
            let count = row.usage.total_tokens.min(i64::MAX as u64) as i64;
            *tokens
                .entry((user.clone().unwrap_or_default(), day))
                .or_insert(0) += count;
        }
        let mut current = match changed.remove(&row.run_id) {
            Some(current) => current,
            None => match metrics.as_ref().map(RunMetrics::deserialize).transpose() {
                Ok(current) => current.unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(run_id = %row.run_id, %error, "a run's stored metrics do not read; its late tokens go to its user's budget only");
                    continue;
                }
            },
        };
        current.add_usage(row.usage, &row.model_id, &row.provider);
        changed.insert(row.run_id, current);
    }
    for (run_id, metrics) in changed {
        let metrics = serde_json::to_value(&metrics)
            .map_err(|error| DbErr::Custom(format!("run metrics: {error}")))?;
        run::Entity::update_many()
            .col_expr(run::Column::Metrics, Expr::value(metrics))
            .filter(run::Column::RunId.eq(run_id))
            .exec(txn)
            .await?;
    }
    Ok(())
}
