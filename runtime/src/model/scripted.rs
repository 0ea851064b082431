//! A model that replays scripted turns, for tests that need exact tool calls and answers.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{Model, ModelError, ModelRequest, ModelResponse, ToolCall, Usage};

/// Answers each call with the next scripted turn and records every request it was sent.
///
/// ```
/// use agentos_runtime::model::{Model, ModelRequest, ScriptedModel};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let model = ScriptedModel::new()
///     .then_call("lookup", serde_json::json!({"id": 7}))
///     .then_answer("done");
/// let first = model.complete(ModelRequest::default()).await.unwrap();
/// assert_eq!(first.tool_calls[0].name, "lookup");
/// let second = model.complete(ModelRequest::default()).await.unwrap();
/// assert_eq!(second.content, "done");
/// assert_eq!(model.requests().len(), 2);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct ScriptedModel {
    turns: Mutex<VecDeque<Result<ModelResponse, ModelError>>>,
    requests: Mutex<Vec<ModelRequest>>,
    next_call: Mutex<u64>,
}

impl ScriptedModel {
    /// A model with no turns yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Next, answer with `content`.
    pub fn then_answer(self, content: impl Into<String>) -> Self {
        self.then(Ok(ModelResponse {
            content: content.into(),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
                total_tokens: 15,
                ..Usage::default()
            },
            ..ModelResponse::default()
        }))
    }

    /// Next, call one tool.
    pub fn then_call(self, tool: &str, arguments: Value) -> Self {
        self.then_calls([(tool, arguments)])
    }

    /// Next, call several tools in one turn (they run in parallel).
    pub fn then_calls<'a>(self, calls: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        let tool_calls = {
            let mut next = self.next_call.lock().unwrap_or_else(|e| e.into_inner());
            calls
                .into_iter()
                .map(|(name, arguments)| {
                    *next += 1;
                    ToolCall {
                        id: format!("scripted_call_{next}"),
                        name: name.to_owned(),
                        arguments: arguments.to_string(),
                    }
                })
                .collect()
        };
        self.then(Ok(ModelResponse {
            tool_calls,
            ..ModelResponse::default()
        }))
    }

    /// Next, fail with `error`.
    pub fn then_fail(self, error: ModelError) -> Self {
        self.then(Err(error))
    }

    /// Next, return `turn` as it is.
    pub fn then(self, turn: Result<ModelResponse, ModelError>) -> Self {
        self.turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(turn);
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Model for ScriptedModel {
    fn id(&self) -> &str {
        "scripted"
    }

    fn provider(&self) -> &str {
        "Scripted"
    }

    fn complete(&self, request: ModelRequest) -> BoxFuture<'_, Result<ModelResponse, ModelError>> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or_else(|| {
                Err(ModelError::InvalidResponse(
                    "the script has no turn left".into(),
                ))
            });
        Box::pin(std::future::ready(turn))
    }
}
