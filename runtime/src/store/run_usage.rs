//! Model use added to a run after its end was stored: a memory capture runs once the answer
//! is out, and its tokens still belong to the run (its metrics) and to its user's day (the
//! token budget). The writer task adds them in the batches it commits anyway, so a capture
//! costs no transaction of its own ([`super::late_usage`]).

use super::error::StoreError;
use super::late_usage::LateUsageRow;
use super::pool::Store;
use super::writer::WriteOp;
use crate::model::Usage;

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
        self.write_retrying_alone(|| {
            Ok(WriteOp::AddUsage(LateUsageRow {
                run_id: run_id.to_owned(),
                usage: late.usage,
                model_id: late.model_id.to_owned(),
                provider: late.provider.to_owned(),
                day: late.day,
            }))
        })
        .await
    }
}
