//! Daily usage figures, for agno's metrics page: each day's runs, sessions, users, tokens and
//! models, of the caller's own runs, or of every user's (or the one named) for an admin.

use super::{Caller, RunError, RunService};
use crate::store::DayFigures;

impl RunService {
    /// The figures of each day from `first_day` to `last_day` (days since the epoch) with
    /// runs the caller may count: their own, or, for an admin (or the anonymous caller of a
    /// server without authentication), every user's or `named`'s.
    pub(crate) async fn daily_figures(
        &self,
        caller: &Caller,
        first_day: i64,
        last_day: i64,
        named: Option<&str>,
    ) -> Result<Vec<DayFigures>, RunError> {
        let user = match caller.visible_owner() {
            None => named.filter(|user| !user.is_empty()),
            Some(Some(user)) => Some(user),
            // A caller without a user has no runs of their own to count.
            Some(None) => return Ok(Vec::new()),
        };
        Ok(self.store.daily_figures(first_day, last_day, user).await?)
    }
}
