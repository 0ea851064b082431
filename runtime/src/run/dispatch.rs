//! What the conversation loop asks of whoever carries out a run's tool calls: an agent's
//! tools (`tool_calls`) or a team leader's delegations (`delegate`).

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::env::RunEnv;
use super::output::{CallOutcome, RunOutput};
use super::pause::{Decision, Decisions};
use super::transcript::UserInputField;
use crate::model::ToolCall;

/// What one tool call came to.
pub(super) struct Dispatched {
    pub(super) outcome: CallOutcome,
    /// Member runs that ended during the call.
    pub(super) children: Vec<RunOutput>,
    /// For a call that waits for user input: the fields the person fills in.
    pub(super) user_input: Option<Vec<UserInputField>>,
    /// The person's answer that settled the call, recorded on its execution.
    pub(super) decided: Option<Decision>,
    /// The arguments the call ran with, when the person filled some in.
    pub(super) arguments: Option<Value>,
}

impl Dispatched {
    pub(super) fn done(result: Result<String, String>) -> Self {
        Dispatched {
            outcome: CallOutcome::Done {
                result,
                is_final_answer: false,
            },
            children: Vec::new(),
            user_input: None,
            decided: None,
            arguments: None,
        }
    }

    pub(super) fn error(message: String) -> Self {
        Self::done(Err(message))
    }

    /// A call that still waits, unchanged.
    pub(super) fn still(outcome: CallOutcome) -> Self {
        Dispatched {
            outcome,
            ..Self::done(Ok(String::new()))
        }
    }
}

/// Carries out the tool calls of one kind of run.
pub(super) trait Dispatcher: Sync {
    /// Runs a call the model just made.
    fn dispatch<'a>(&'a self, call: &'a ToolCall, env: &'a RunEnv) -> BoxFuture<'a, Dispatched>;

    /// Whether the call waits for a person before it runs.
    fn waits(&self, _call: &ToolCall) -> bool {
        false
    }

    /// Goes on with a call that waited, with what the person answered.
    fn resolve<'a>(
        &'a self,
        call: &'a ToolCall,
        waiting: CallOutcome,
        decisions: &'a Decisions,
        env: &'a RunEnv,
    ) -> BoxFuture<'a, Dispatched>;
}
