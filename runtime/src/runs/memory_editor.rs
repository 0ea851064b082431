//! The run service's [`MemoryEditor`]: what an agent's `update_user_memory` tool calls. It
//! keeps the run's user's memories as a capture does, inline, and keeps the tokens it used so
//! the run's end counts them in the run's metrics and its user's budget.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;

use super::capture::Keeper;
use crate::component::ComponentKind;
use crate::memory::{Memory, MemoryEditor};
use crate::model::{ModelHandle, Usage};
use crate::run::RunMetrics;
use crate::store::{MemoryOwner, Store};

/// Edits one user's memories for one run.
#[derive(Debug)]
pub(super) struct Editor {
    store: Store,
    owner: MemoryOwner,
    /// Each edit's tokens, with its model's id and provider label.
    used: Arc<Mutex<Vec<(Usage, String, String)>>>,
}

impl Editor {
    pub(super) fn new(store: Store, owner: MemoryOwner) -> Self {
        Editor {
            store,
            owner,
            used: Arc::default(),
        }
    }

    /// Adds the tokens of every edit so far to `metrics`; whether there was any (and so the
    /// user's memories may have changed).
    pub(super) fn charge(&self, metrics: &mut RunMetrics) -> bool {
        let used = std::mem::take(&mut *self.used.lock().unwrap_or_else(PoisonError::into_inner));
        let edited = !used.is_empty();
        for (usage, model, provider) in used {
            metrics.add_usage(usage, &model, &provider);
        }
        edited
    }
}

impl MemoryEditor for Editor {
    fn edit(
        &self,
        task: String,
        agent_id: &str,
        settings: &Memory,
        model: Option<&ModelHandle>,
    ) -> BoxFuture<'static, Result<String, String>> {
        let Some(model) = settings.model().or(model).cloned() else {
            return Box::pin(std::future::ready(Err(
                "there is no model to change memories with".to_owned(),
            )));
        };
        let keeper = Keeper {
            owner: self.owner.clone(),
            model,
            criteria: settings.capture_instructions().map(str::to_owned),
            kind: ComponentKind::Agent,
            component_id: agent_id.to_owned(),
        };
        let store = self.store.clone();
        let used = Arc::clone(&self.used);
        Box::pin(async move {
            let kept = keeper.keep(&store, &task, None).await.map_err(|error| {
                tracing::error!(%error, "update_user_memory failed");
                "the memories could not be changed now".to_owned()
            })?;
            used.lock().unwrap_or_else(PoisonError::into_inner).push((
                kept.usage,
                keeper.model.id().to_owned(),
                keeper.model.provider_label().to_owned(),
            ));
            match kept.changes {
                Ok(changes) => Ok(changes.describe()),
                Err(error) => {
                    tracing::error!(%error, "update_user_memory failed");
                    Err("the memories could not be changed now".to_owned())
                }
            }
        })
    }
}
