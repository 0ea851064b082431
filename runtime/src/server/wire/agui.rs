//! The Agent-User Interaction protocol's events (AG-UI, as CopilotKit and similar web UIs read
//! them), from a run's events: its text as one assistant message, its tool calls, its members'
//! and steps' runs as steps, and its end.

use serde_json::{Value, json};

/// A run's events as AG-UI events, for the thread `thread_id` and the client's run `run_id`.
pub(crate) struct AguiStream {
    thread_id: String,
    run_id: String,
    /// The assistant message being written, once its text began.
    message_id: Option<String>,
    /// How many assistant messages began (text after a tool call is a new one).
    messages: usize,
    /// Whether any of the answer went out.
    wrote: bool,
    /// The id of the run whose events these are, once its first event names it.
    root: Option<String>,
}

impl AguiStream {
    pub(crate) fn new(thread_id: String, run_id: String) -> Self {
        AguiStream {
            thread_id,
            run_id,
            message_id: None,
            messages: 0,
            wrote: false,
            root: None,
        }
    }

    /// `RUN_STARTED`, the stream's first event.
    pub(crate) fn started(&self) -> Value {
        json!({"type": "RUN_STARTED", "threadId": self.thread_id, "runId": self.run_id})
    }

    /// `RUN_ERROR` for a run that could not start, with what the REST answer said.
    pub(crate) fn refused(message: &str, code: &str) -> Value {
        json!({"type": "RUN_ERROR", "message": message, "code": code})
    }

    /// What the run's event `event` (its JSON) becomes, and whether it was the last.
    pub(crate) fn next(&mut self, event: &Value) -> (Vec<Value>, bool) {
        let text = |key: &str| event.get(key).and_then(Value::as_str);
        let name = text("event").unwrap_or_default();
        let run_id = text("run_id").unwrap_or_default();
        if self.root.is_none() && text("parent_run_id").is_none() {
            self.root = Some(run_id.to_owned());
        }
        let own = self.root.as_deref() == Some(run_id);
        if !own {
            // A member's or a step's run is a step of this one.
            let step = text("agent_name")
                .or_else(|| text("team_name"))
                .unwrap_or("member");
            return match name {
                "RunStarted" | "TeamRunStarted" => (vec![step_event("STEP_STARTED", step)], false),
                "RunCompleted" | "TeamRunCompleted" => {
                    (vec![step_event("STEP_FINISHED", step)], false)
                }
                _ => (Vec::new(), false),
            };
        }
        match name {
            "StepStarted" => (
                vec![step_event(
                    "STEP_STARTED",
                    text("step_name").unwrap_or("step"),
                )],
                false,
            ),
            "StepCompleted" => (
                vec![step_event(
                    "STEP_FINISHED",
                    text("step_name").unwrap_or("step"),
                )],
                false,
            ),
            "RunContent" | "TeamRunContent" => match text("content").filter(|c| !c.is_empty()) {
                Some(delta) => (self.write(delta), false),
                None => (Vec::new(), false),
            },
            "ToolCallStarted" | "TeamToolCallStarted" => (self.tool_started(event), false),
            "ToolCallCompleted" | "TeamToolCallCompleted" => (self.tool_completed(event), false),
            "RunCompleted" | "TeamRunCompleted" | "WorkflowCompleted" => {
                let mut out = Vec::new();
                // An answer that did not stream is written whole.
                if !self.wrote
                    && let Some(content) = text("content").filter(|c| !c.is_empty())
                {
                    out.extend(self.write(content));
                }
                out.extend(self.end_message());
                out.push(json!({"type": "RUN_FINISHED", "threadId": self.thread_id, "runId": self.run_id}));
                (out, true)
            }
            "RunPaused" | "TeamRunPaused" | "WorkflowPaused" => {
                let mut out = self.end_message();
                let requirements = event
                    .get("step_requirements")
                    .or_else(|| event.get("requirements"))
                    .cloned()
                    .unwrap_or(Value::Null);
                out.push(json!({
                    "type": "RUN_FINISHED",
                    "threadId": self.thread_id,
                    "runId": self.run_id,
                    "outcome": "interrupt",
                    "interrupt": {
                        "id": run_id,
                        "reason": text("content").unwrap_or("the run waits for a person"),
                        "payload": {"requirements": requirements},
                    },
                }));
                (out, true)
            }
            "RunError" | "TeamRunError" | "WorkflowError" => {
                let mut out = self.end_message();
                let said = text("content")
                    .or_else(|| text("error"))
                    .unwrap_or("the run failed");
                out.push(Self::refused(
                    said,
                    text("error_type").unwrap_or("run_error"),
                ));
                (out, true)
            }
            "RunCancelled" | "TeamRunCancelled" | "WorkflowCancelled" => {
                let mut out = self.end_message();
                out.push(Self::refused("the run was cancelled", "cancelled"));
                (out, true)
            }
            _ => (Vec::new(), false),
        }
    }

    /// A piece of the answer: the assistant message starts with the first.
    fn write(&mut self, delta: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let message_id = match &self.message_id {
            Some(id) => id.clone(),
            None => {
                self.messages += 1;
                let id = format!("{}-text-{}", self.run_id, self.messages);
                out.push(
                    json!({"type": "TEXT_MESSAGE_START", "messageId": id, "role": "assistant"}),
                );
                self.message_id = Some(id.clone());
                id
            }
        };
        out.push(json!({"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": delta}));
        self.wrote = true;
        out
    }

    fn end_message(&mut self) -> Vec<Value> {
        match self.message_id.take() {
            Some(id) => vec![json!({"type": "TEXT_MESSAGE_END", "messageId": id})],
            None => Vec::new(),
        }
    }

    fn tool_started(&mut self, event: &Value) -> Vec<Value> {
        let Some(tool) = event.get("tool") else {
            return Vec::new();
        };
        let call_id = tool.get("tool_call_id").cloned().unwrap_or(Value::Null);
        let arguments = tool
            .get("tool_args")
            .map(Value::to_string)
            .unwrap_or_default();
        // A call ends the text before it; text after it is a new message.
        let mut out = self.end_message();
        out.extend([
            json!({
                "type": "TOOL_CALL_START",
                "toolCallId": call_id,
                "toolCallName": tool.get("tool_name"),
                "parentMessageId": format!("{}-text-{}", self.run_id, self.messages.max(1)),
            }),
            json!({"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": arguments}),
            json!({"type": "TOOL_CALL_END", "toolCallId": call_id}),
        ]);
        out
    }

    fn tool_completed(&self, event: &Value) -> Vec<Value> {
        let Some(tool) = event.get("tool") else {
            return Vec::new();
        };
        let call_id = tool
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let result = match tool.get("result") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        vec![json!({
            "type": "TOOL_CALL_RESULT",
            "messageId": format!("{call_id}-result"),
            "toolCallId": call_id,
            "content": result,
            "role": "tool",
        })]
    }
}

fn step_event(kind: &str, name: &str) -> Value {
    json!({"type": kind, "stepName": name})
}
