//! Runs read back: one run with its members, a session's or a component's runs, the history a
//! model continues, the runs still going in a session, cancel requests, and tokens used.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{self, run};
use super::error::StoreError;
use super::pool::Store;
use super::rows;
use super::rows::StoredRun;
use crate::component::ComponentKind;
use crate::model::Message;
use crate::status::RunStatus;

impl Store {
    /// The top-level runs of a session that are running or queued, oldest first.
    pub async fn active_runs(&self, session_id: &str) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ParentRunId.is_null())
            .filter(run::Column::Status.is_in([RunStatus::Running, RunStatus::Pending]))
            .order_by_asc(run::Column::CreatedAt)
            .order_by_asc(run::Column::RunId)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

    /// The last `limit` completed exchanges of a session with one component and one user,
    /// oldest first, as messages for a model's context.
    pub async fn history(
        &self,
        session_id: &str,
        kind: ComponentKind,
        component_id: &str,
        user_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let user = match user_id {
            Some(user) => run::Column::UserId.eq(user),
            None => run::Column::UserId.is_null(),
        };
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ComponentType.eq(kind))
            .filter(run::Column::ComponentId.eq(component_id))
            .filter(user)
            .filter(run::Column::ParentRunId.is_null())
            .filter(run::Column::Status.eq(RunStatus::Completed))
            .order_by_desc(run::Column::CreatedAt)
            .limit(limit as u64)
            .all(&self.conn)
            .await?;
        let mut messages = Vec::with_capacity(rows.len() * 2);
        for row in rows::runs(rows)?.into_iter().rev() {
            let answer = row.answer().unwrap_or_default().to_owned();
            messages.push(Message::user(row.input));
            messages.push(Message::assistant(answer));
        }
        Ok(messages)
    }

    /// One run, a member run included; a team's run comes with its members' outputs in
    /// `member_responses`, read from their rows.
    pub async fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let Some(row) = run::Entity::find_by_id(run_id.to_owned())
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let mut runs = [StoredRun::try_from(row)?];
        self.load_members(&mut runs).await?;
        let [run] = runs;
        Ok(Some(run))
    }

    /// Reads the members of the team runs among `runs` (and theirs) and puts them in place.
    async fn load_members(&self, runs: &mut [StoredRun]) -> Result<(), StoreError> {
        let mut levels: Vec<Vec<StoredRun>> = Vec::new();
        let mut wanted: Vec<String> = member_ids(runs.iter());
        // Level by level, down to the deepest members; a corrupt database could hold a cycle.
        while !wanted.is_empty() && levels.len() < MAX_TEAM_DEPTH {
            let mut level = Vec::with_capacity(wanted.len());
            for ids in wanted.chunks(IDS_PER_QUERY) {
                let rows = run::Entity::find()
                    .filter(run::Column::RunId.is_in(ids.iter().cloned()))
                    .all(&self.conn)
                    .await?;
                level.extend(rows::runs(rows)?);
            }
            wanted = member_ids(level.iter());
            levels.push(level);
        }
        let mut members = std::collections::HashMap::new();
        while let Some(mut level) = levels.pop() {
            rows::attach_members(&mut level, &members);
            members = level
                .into_iter()
                .filter_map(|run| Some((run.run_id, run.output?)))
                .collect();
        }
        rows::attach_members(runs, &members);
        Ok(())
    }

    /// Top-level runs of a component in a session, oldest first. Listed runs stand alone: a
    /// team's members are not read into its output (they are runs of their own, and
    /// [`Store::run`] reads one whole).
    pub async fn component_runs(
        &self,
        kind: ComponentKind,
        component_id: &str,
        session_id: &str,
    ) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .filter(run::Column::ComponentType.eq(kind))
            .filter(run::Column::ComponentId.eq(component_id))
            .filter(run::Column::ParentRunId.is_null())
            .order_by_asc(run::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

    /// Every run of a session, member runs included, oldest first; each stands alone, as in
    /// [`Store::component_runs`].
    pub async fn session_runs(&self, session_id: &str) -> Result<Vec<StoredRun>, StoreError> {
        let rows = run::Entity::find()
            .filter(run::Column::SessionId.eq(session_id))
            .order_by_asc(run::Column::CreatedAt)
            // A team's members are stored together, at one time; their ids (UUID v7, made as
            // each started) keep the order they ran in.
            .order_by_asc(run::Column::RunId)
            .all(&self.conn)
            .await?;
        rows::runs(rows)
    }

    /// Which of `run_ids` someone asked to cancel.
    pub async fn cancel_requested(&self, run_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = run::Entity::find()
            .select_only()
            .column(run::Column::RunId)
            .filter(run::Column::RunId.is_in(run_ids.iter().cloned()))
            .filter(run::Column::CancelRequested.eq(true))
            .into_tuple::<String>()
            .all(&self.conn)
            .await?;
        Ok(rows)
    }

    /// The model tokens `user`'s runs used on `day` (days since the Unix epoch, UTC).
    pub async fn tokens_used(&self, user: &str, day: i64) -> Result<u64, StoreError> {
        let used = entity::token_usage::Entity::find_by_id((user.to_owned(), day))
            .one(&self.conn)
            .await?;
        Ok(used.map_or(0, |row| row.tokens.max(0) as u64))
    }
}

/// How many levels of members a team's run is read back with: teams nest a few deep.
const MAX_TEAM_DEPTH: usize = 16;

/// Ids bound in one `IN (...)` list, well under either database's limit on parameters.
const IDS_PER_QUERY: usize = 500;

/// The ids of the members whose outputs `runs` lack.
fn member_ids<'a>(runs: impl Iterator<Item = &'a StoredRun>) -> Vec<String> {
    runs.filter(|run| run.output.is_some())
        .flat_map(|run| run.member_run_ids.iter().flatten().cloned())
        .collect()
}
