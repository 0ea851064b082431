//! The Agent2Agent protocol's JSON (version 0.3, as agno serves it and as the protocol's SDK
//! clients read it): agent cards, tasks made of stored runs, and JSON-RPC answers.
//!
//! A task is a run: its id is the run's, its `contextId` the run's session, its state the
//! run's status, its history the message and the answer, and a completed run's answer is also
//! its `answer` artifact.

use serde_json::{Map, Value, json};

use crate::component::ComponentKind;
use crate::factory::FactoryInfo;
use crate::run::{RunOutput, RunStatus};
use crate::store::StoredRun;
use crate::time::rfc3339_of_unix;

/// The protocol version served.
pub(crate) const PROTOCOL_VERSION: &str = "0.3.0";

/// The extension a card declares when its component is a factory with input: the input's JSON
/// Schema, sent as `metadata.factory_input` of a message.
const FACTORY_INPUT_EXTENSION: &str = "https://agentos.dev/a2a/factory-input/v1";

/// A JSON-RPC error code of the protocol (or of JSON-RPC itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RpcCode {
    /// The body is not JSON.
    ParseError = -32700,
    /// The body is not a JSON-RPC request.
    InvalidRequest = -32600,
    /// No such method.
    MethodNotFound = -32601,
    /// The method's params are not what it takes.
    InvalidParams = -32602,
    /// The server could not do it.
    Internal = -32603,
    /// No task with that id (or none the caller may see).
    TaskNotFound = -32001,
    /// The task has ended.
    TaskNotCancelable = -32002,
}

/// A JSON-RPC answer carrying `result`.
pub(crate) fn rpc_result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// A JSON-RPC answer carrying an error; `data` holds the REST answer's body, when there is one.
pub(crate) fn rpc_error(id: &Value, code: RpcCode, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code as i32, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// The agent card of a component, reached at `url` (its JSON-RPC endpoint).
pub(crate) fn agent_card(
    kind: ComponentKind,
    info: &FactoryInfo,
    input_schema: Option<&Value>,
    url: &str,
) -> Value {
    let name = info.name.as_deref().unwrap_or(&info.id);
    let about = info
        .description
        .clone()
        .unwrap_or_else(|| format!("The {} {name}.", kind.as_str()));
    let mut skill = json!({
        "id": info.id,
        "name": name,
        "description": about,
        "tags": [kind.as_str(), "agentos"],
        "inputModes": ["text/plain", "application/json"],
        "outputModes": ["text/plain"],
    });
    let mut capabilities = json!({
        "streaming": true,
        "pushNotifications": false,
        "stateTransitionHistory": false,
    });
    if let Some(schema) = input_schema {
        skill["description"] = json!(format!(
            "{about} Send the factory's input as the message's metadata.factory_input."
        ));
        let required = schema
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|fields| !fields.is_empty());
        capabilities["extensions"] = json!([{
            "uri": FACTORY_INPUT_EXTENSION,
            "description": "The factory's input: a JSON object sent as metadata.factory_input, checked against this schema.",
            "required": required,
            "params": {"schema": schema},
        }]);
    }
    json!({
        "protocolVersion": PROTOCOL_VERSION,
        "name": name,
        "description": about,
        "url": url,
        "preferredTransport": "JSONRPC",
        "version": env!("CARGO_PKG_VERSION"),
        "capabilities": capabilities,
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain"],
        "skills": [skill],
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "security": [{"bearer": []}],
        "supportsAuthenticatedExtendedCard": false,
    })
}

/// The task state of a run's status.
fn state(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending => "submitted",
        RunStatus::Running => "working",
        RunStatus::Paused => "input-required",
        RunStatus::Completed => "completed",
        RunStatus::Cancelled => "canceled",
        RunStatus::Error => "failed",
    }
}

/// A message of the task `run_id` in `context_id`, from `role`, of one text part.
fn message(role: &str, text: &str, run_id: &str, context_id: &str, suffix: &str) -> Value {
    json!({
        "kind": "message",
        "messageId": format!("{run_id}-{suffix}"),
        "role": role,
        "parts": [{"kind": "text", "text": text}],
        "contextId": context_id,
        "taskId": run_id,
    })
}

/// The task of a run that has ended (or paused), from its output.
pub(crate) fn task(output: &RunOutput) -> Value {
    let (run_id, context_id) = (&output.run_id, &output.session_id);
    let state = state(output.status);
    let said = message(
        "user",
        &output.input.input_content,
        run_id,
        context_id,
        "input",
    );
    let answer = message("agent", &output.content, run_id, context_id, "answer");
    let mut status = json!({"state": state, "timestamp": rfc3339_of_unix(output.created_at)});
    if output.status != RunStatus::Completed {
        // Why it failed, or what it waits for, is said in the status.
        status["message"] = answer.clone();
    }
    let mut task = json!({
        "kind": "task",
        "id": run_id,
        "contextId": context_id,
        "status": status,
        "history": [said, answer],
        "metadata": metadata(output),
    });
    if output.status == RunStatus::Completed {
        task["artifacts"] = json!([{
            "artifactId": format!("{run_id}-answer"),
            "name": "answer",
            "parts": [{"kind": "text", "text": output.content}],
        }]);
    }
    task
}

/// What a task adds of agentos's own: which component ran it, for whom, and a paused run's
/// requirements.
fn metadata(output: &RunOutput) -> Value {
    let mut metadata = Map::new();
    let (id_key, _) = output.component.kind.id_and_name_keys();
    metadata.insert(id_key.into(), json!(output.component.id));
    if let Some(user) = &output.user_id {
        metadata.insert("userId".into(), json!(user));
    }
    if output.status == RunStatus::Paused {
        if let Some(requirements) = &output.step_requirements {
            metadata.insert("requirements".into(), json!(requirements));
        } else if let Some(requirements) = &output.requirements {
            metadata.insert("requirements".into(), json!(requirements));
        }
    }
    Value::Object(metadata)
}

/// The task of a stored run: its output once it has one, else what is known while it runs.
pub(crate) fn stored_task(run: &StoredRun) -> Value {
    if let Some(output) = &run.output {
        return task(output);
    }
    let said = message("user", &run.input, &run.run_id, &run.session_id, "input");
    json!({
        "kind": "task",
        "id": run.run_id,
        "contextId": run.session_id,
        "status": {"state": state(run.status), "timestamp": rfc3339_of_unix(run.updated_at / 1_000_000)},
        "history": [said],
    })
}

/// The task of a run started in the background.
pub(crate) fn started_task(run_id: &str, context_id: &str, status: RunStatus) -> Value {
    json!({
        "kind": "task",
        "id": run_id,
        "contextId": context_id,
        "status": {"state": state(status)},
    })
}

/// A task that failed before any run started (its input was refused): nothing is stored, so
/// it cannot be read back. `refusal` is the REST answer's body, field paths included.
pub(crate) fn refused_task(task_id: &str, context_id: &str, detail: &str, refusal: Value) -> Value {
    json!({
        "kind": "task",
        "id": task_id,
        "contextId": context_id,
        "status": {
            "state": "failed",
            "message": {
                "kind": "message",
                "messageId": format!("{task_id}-refusal"),
                "role": "agent",
                "parts": [
                    {"kind": "text", "text": detail},
                    {"kind": "data", "data": refusal},
                ],
                "contextId": context_id,
                "taskId": task_id,
            },
        },
    })
}

/// A task being cancelled: the run stops here or on the replica running it.
pub(crate) fn canceling_task(run: &StoredRun) -> Value {
    let mut task = stored_task(run);
    task["status"] = json!({"state": "canceled"});
    task
}

/// A run's events as `message/stream` sends them: the task once the run starts, its answer as
/// artifact updates while it streams, and a last status update (`final`) when it ends,
/// pauses or fails. The events of its members and steps are the run's own business.
pub(crate) struct TaskStream {
    /// The message, for the task's history.
    message: String,
    /// The run's id, once its first event names it.
    run_id: Option<String>,
    context_id: String,
    /// Whether part of the answer went out.
    streamed: bool,
}

impl TaskStream {
    pub(crate) fn new(message: String) -> Self {
        TaskStream {
            message,
            run_id: None,
            context_id: String::new(),
            streamed: false,
        }
    }

    /// What the run's event `event` (its JSON) becomes, if anything, and whether it was the
    /// last.
    pub(crate) fn next(&mut self, event: &Value) -> (Vec<Value>, bool) {
        let text = |key: &str| event.get(key).and_then(Value::as_str);
        if text("parent_run_id").is_some() {
            return (Vec::new(), false);
        }
        let name = text("event").unwrap_or_default();
        let content = text("content").unwrap_or_default();
        match name {
            "RunStarted" | "TeamRunStarted" | "WorkflowStarted" | "RunContinued"
            | "TeamRunContinued" => {
                let run_id = text("run_id").unwrap_or_default().to_owned();
                self.context_id = text("session_id").unwrap_or_default().to_owned();
                let said = message("user", &self.message, &run_id, &self.context_id, "input");
                let task = json!({
                    "kind": "task",
                    "id": run_id,
                    "contextId": self.context_id,
                    "status": {"state": "working"},
                    "history": [said],
                });
                self.run_id = Some(run_id);
                (vec![task], false)
            }
            "RunContent" | "TeamRunContent" if !content.is_empty() => {
                let update = self.artifact(content, self.streamed, false);
                self.streamed = true;
                (vec![update], false)
            }
            "RunCompleted" | "TeamRunCompleted" | "WorkflowCompleted" => {
                let mut out = Vec::new();
                // An answer that did not stream goes out whole.
                if !self.streamed {
                    out.push(self.artifact(content, false, true));
                }
                out.push(self.status("completed", None));
                (out, true)
            }
            "RunError" | "TeamRunError" | "WorkflowError" => {
                let said = text("error")
                    .filter(|_| content.is_empty())
                    .unwrap_or(content);
                (vec![self.status("failed", Some(said))], true)
            }
            "RunCancelled" | "TeamRunCancelled" | "WorkflowCancelled" => {
                (vec![self.status("canceled", Some(content))], true)
            }
            "RunPaused" | "TeamRunPaused" | "WorkflowPaused" => {
                let mut update = self.status("input-required", Some(content));
                let requirements = event
                    .get("step_requirements")
                    .or_else(|| event.get("requirements"));
                if let Some(requirements) = requirements {
                    update["metadata"] = json!({"requirements": requirements});
                }
                (vec![update], true)
            }
            _ => (Vec::new(), false),
        }
    }

    fn task_id(&self) -> &str {
        self.run_id.as_deref().unwrap_or_default()
    }

    fn artifact(&self, text: &str, append: bool, last_chunk: bool) -> Value {
        json!({
            "kind": "artifact-update",
            "taskId": self.task_id(),
            "contextId": self.context_id,
            "artifact": {
                "artifactId": format!("{}-answer", self.task_id()),
                "name": "answer",
                "parts": [{"kind": "text", "text": text}],
            },
            "append": append,
            "lastChunk": last_chunk,
        })
    }

    fn status(&self, state: &str, said: Option<&str>) -> Value {
        let mut status =
            json!({"state": state, "timestamp": rfc3339_of_unix(crate::time::now_unix())});
        if let Some(said) = said.filter(|said| !said.is_empty()) {
            status["message"] = message("agent", said, self.task_id(), &self.context_id, "status");
        }
        json!({
            "kind": "status-update",
            "taskId": self.task_id(),
            "contextId": self.context_id,
            "status": status,
            "final": true,
        })
    }
}
