//! Session summaries: once a run's end is stored, a model call in the background rewrites the
//! session's summary from its previous one and its latest exchanges. Like a memory capture it
//! never delays the answer, its tokens are the run's, and a failure is logged and changes
//! nothing else.

use std::time::Duration;

use super::Runnable;
use super::capture::{CaptureError, late_usage};
use crate::component::ComponentKind;
use crate::model::{Message, ModelHandle, ModelRequest, Role};
use crate::run::RunRequest;
use crate::store::Store;

/// How long the summary's model call may take.
const SUMMARY_TIMEOUT: Duration = Duration::from_secs(120);

/// How many of the session's latest exchanges the summary is rewritten from (the previous
/// summary stands for the older ones).
const EXCHANGES: usize = 6;

/// A summary to write for a finished run's session.
pub(super) struct Summary {
    model: ModelHandle,
    session_id: String,
    run_id: String,
    kind: ComponentKind,
    component_id: String,
    user_id: Option<String>,
    counts_tokens: bool,
}

impl Summary {
    /// The summary a run of `component` asks for, when it keeps summaries and has a model.
    pub(super) fn after_run<C: Runnable>(
        component: &C,
        request: &RunRequest,
        counts_tokens: bool,
    ) -> Option<Summary> {
        let settings = component.session_summaries()?;
        Some(Summary {
            model: settings.model().or(component.model())?.clone(),
            session_id: request.meta.session_id().to_owned(),
            run_id: request.meta.run_id().to_owned(),
            kind: C::KIND,
            component_id: component.id().to_owned(),
            user_id: request.meta.user_id().map(str::to_owned),
            counts_tokens,
        })
    }

    /// Writes the summary; every failure is logged, none reaches the run.
    pub(super) async fn run(self, store: Store) {
        if let Err(error) = self.summarize(&store).await {
            tracing::error!(run_id = %self.run_id, %error, "session summary failed");
        }
    }

    async fn summarize(&self, store: &Store) -> Result<(), CaptureError> {
        let previous = store
            .session(&self.session_id)
            .await?
            .and_then(|session| session.summary);
        let exchanges = store
            .history(
                &self.session_id,
                self.kind,
                &self.component_id,
                self.user_id.as_deref(),
                EXCHANGES,
            )
            .await?;
        let mut conversation = String::new();
        if let Some(previous) = &previous {
            conversation.push_str(&format!("Summary so far: {}\n\n", previous.summary));
        }
        for message in &exchanges {
            let who = if message.role == Role::User {
                "User"
            } else {
                "Assistant"
            };
            conversation.push_str(&format!("{who}: {}\n", message.content));
        }
        let request = ModelRequest::new(
            vec![
                Message::system(
                    "Summarize the conversation below in a few sentences: who the user is, \
                     what they asked for and what was decided or remains open. Write only the \
                     summary."
                        .to_owned(),
                ),
                Message::user(conversation),
            ],
            Vec::new(),
        );
        let response = tokio::time::timeout(SUMMARY_TIMEOUT, self.model.complete(request))
            .await
            .map_err(|_| CaptureError::TimedOut)??;
        let summary = response.content.trim();
        if !summary.is_empty() {
            store
                .set_session_summary(&self.session_id, summary, &[])
                .await?;
        }
        let usage = late_usage(&self.model, response.usage, self.counts_tokens);
        store.add_run_usage(&self.run_id, usage).await?;
        Ok(())
    }
}
