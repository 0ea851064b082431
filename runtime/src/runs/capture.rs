//! Memory capture: once a run's end is stored, one model call in the background reads what
//! the user said and adds, changes or deletes that user's memories. The answer never waits
//! for it; its tokens go into the run's stored metrics and its user's token budget; a capture
//! that fails is logged and leaves the run as it ended.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::memories::check_memory;
use super::memory_settings::MemorySettings;
use super::recall::read_memories;
use super::{Runnable, quota};
use crate::component::ComponentKind;
use crate::memory::Recalled;
use crate::model::{Message, ModelHandle, ModelRequest, ToolCall, ToolDefinition, Usage};
use crate::run::RunRequest;
use crate::store::{LateUsage, MemoryOwner, NewMemory, Store};

/// How long a capture's model call may take.
const CAPTURE_TIMEOUT: Duration = Duration::from_secs(120);

/// What is worth remembering, unless the component says otherwise.
const DEFAULT_CRITERIA: &str = "facts about the user that will help in later conversations: \
    their name, circumstances, preferences, plans, constraints, and anything they ask you to \
    remember. Not the question they are asking, nor small talk.";

/// One user's memories kept by one component: a model call reads a message and changes the
/// memories as it asks. After-run captures and the agentic tool both keep memories this way.
pub(super) struct Keeper {
    pub(super) owner: MemoryOwner,
    pub(super) model: ModelHandle,
    pub(super) criteria: Option<String>,
    pub(super) kind: ComponentKind,
    pub(super) component_id: String,
}

/// What one keeping did: the model call's tokens, and the changes, or why they stopped.
pub(super) struct Kept {
    pub(super) usage: Usage,
    pub(super) changes: Result<Changes, CaptureError>,
}

/// The changes a keeping made.
#[derive(Default)]
pub(super) struct Changes {
    pub(super) added: Vec<String>,
    pub(super) updated: Vec<String>,
    pub(super) deleted: usize,
}

impl Changes {
    /// What was done, for the model that asked.
    pub(super) fn describe(&self) -> String {
        if self.added.is_empty() && self.updated.is_empty() && self.deleted == 0 {
            return "Nothing changed in the user's memories.".to_owned();
        }
        let mut text = String::new();
        for memory in &self.added {
            text.push_str(&format!("Remembered: {memory}\n"));
        }
        for memory in &self.updated {
            text.push_str(&format!("Changed to: {memory}\n"));
        }
        if self.deleted > 0 {
            text.push_str(&format!("Forgot {} memories.\n", self.deleted));
        }
        text
    }
}

impl Keeper {
    /// The keeper of `settings` for `owner`, when they have a model.
    fn of(settings: &MemorySettings<'_>, owner: &MemoryOwner) -> Option<Keeper> {
        let memory = settings.memory;
        Some(Keeper {
            owner: owner.clone(),
            model: memory.model().or(settings.model)?.clone(),
            criteria: memory.capture_instructions().map(str::to_owned),
            kind: settings.kind,
            component_id: settings.id.to_owned(),
        })
    }

    /// One model call on `message` and the changes it asks for, shown `known` (the user's
    /// memories as they stand; read here when `None`); `Err` when the model could not be
    /// asked.
    pub(super) async fn keep(
        &self,
        store: &Store,
        message: &str,
        known: Option<Arc<[Recalled]>>,
    ) -> Result<Kept, CaptureError> {
        let known = match known {
            Some(known) => known,
            None => read_memories(store, &self.owner).await?,
        };
        let request = ModelRequest::new(
            vec![
                Message::system(self.prompt(&known)),
                Message::user(message.to_owned()),
            ],
            tools(),
        );
        let response = tokio::time::timeout(CAPTURE_TIMEOUT, self.model.complete(request))
            .await
            .map_err(|_| CaptureError::TimedOut)??;
        // Only the tool calls count: text the model writes is not an answer to anyone.
        let mut texts: Vec<String> = known.iter().map(|m| normalized(&m.memory)).collect();
        let mut changes = Changes::default();
        for call in &response.tool_calls {
            let applied = self
                .apply(store, call, message, &known, &mut texts, &mut changes)
                .await;
            if let Err(error) = applied {
                return Ok(Kept {
                    usage: response.usage,
                    changes: Err(error),
                });
            }
        }
        Ok(Kept {
            usage: response.usage,
            changes: Ok(changes),
        })
    }

    fn prompt(&self, known: &[Recalled]) -> String {
        let criteria = self.criteria.as_deref().unwrap_or(DEFAULT_CRITERIA);
        let mut prompt = format!(
            "You keep the long-term memories an assistant has of one user. Read the user's \
            message and decide whether it tells you something worth remembering: {criteria}\n\n\
            Call add_memory for something new, update_memory when a known memory has changed, \
            delete_memory when one is no longer true. Write each memory as one short sentence \
            about the user. Never add what is already known. If nothing is worth remembering, \
            call no tool. Do not answer the user.\n"
        );
        if known.is_empty() {
            prompt.push_str("\nNothing is known about the user yet.\n");
        } else {
            prompt.push_str("\nKnown memories (id: memory):\n");
            for memory in known {
                prompt.push_str(&format!("- {}: {}\n", memory.memory_id, memory.memory));
            }
        }
        prompt
    }

    async fn apply(
        &self,
        store: &Store,
        call: &ToolCall,
        message: &str,
        known: &[Recalled],
        texts: &mut Vec<String>,
        changes: &mut Changes,
    ) -> Result<(), CaptureError> {
        let is_known = |id: &str| known.iter().any(|m| m.memory_id == id);
        match parse(call) {
            Some(Change::Add { memory, topics }) => {
                if check_memory(&memory, topics.as_deref()).is_err()
                    || texts.contains(&normalized(&memory))
                {
                    return Ok(());
                }
                texts.push(normalized(&memory));
                // Only agents and teams have memory settings.
                let (agent_id, team_id) = match self.kind {
                    ComponentKind::Agent | ComponentKind::Workflow => {
                        (Some(self.component_id.clone()), None)
                    }
                    ComponentKind::Team => (None, Some(self.component_id.clone())),
                };
                let new = NewMemory {
                    memory: memory.clone(),
                    topics: topics.unwrap_or_default(),
                    input: Some(message.to_owned()),
                    agent_id,
                    team_id,
                };
                store.add_memory(&self.owner, new).await?;
                changes.added.push(memory);
            }
            Some(Change::Update {
                memory_id,
                memory,
                topics,
            }) if is_known(&memory_id) && check_memory(&memory, topics.as_deref()).is_ok() => {
                store
                    .update_memory(&self.owner, &memory_id, memory.clone(), topics)
                    .await?;
                changes.updated.push(memory);
            }
            Some(Change::Delete { memory_id }) if is_known(&memory_id) => {
                let deleted = store.delete_memories(&self.owner, &[memory_id]).await?;
                changes.deleted += deleted as usize;
            }
            // An unknown id, an unknown tool or arguments that do not parse change nothing.
            _ => {}
        }
        Ok(())
    }
}

/// A capture to make for a finished run.
pub(super) struct Capture {
    keeper: Keeper,
    message: String,
    run_id: String,
    counts_tokens: bool,
    /// The user's memories as the run read them, when they have not changed since.
    known: Option<Arc<[Recalled]>>,
}

impl Capture {
    /// The capture a run of `component` asks for: when its settings capture after each run,
    /// its caller is a user, and it has a model to capture with. `known` is the user's memories
    /// as the run read them, when nothing changed them during the run: the capture then needs
    /// no reading of its own.
    pub(super) fn after_run<C: Runnable>(
        component: &C,
        owner: Option<&MemoryOwner>,
        request: &RunRequest,
        counts_tokens: bool,
        known: Option<Arc<[Recalled]>>,
    ) -> Option<Capture> {
        let settings = component.memory_settings()?;
        if !settings.capture_after_run() {
            return None;
        }
        Some(Capture {
            keeper: Keeper::of(&settings, owner?)?,
            message: request.message.clone(),
            run_id: request.meta.run_id().to_owned(),
            counts_tokens,
            known,
        })
    }

    /// Makes the capture; every failure is logged, none reaches the run.
    pub(super) async fn run(self, store: Store) {
        if let Err(error) = self.capture(&store).await {
            tracing::error!(run_id = %self.run_id, %error, "memory capture failed");
        }
    }

    async fn capture(&self, store: &Store) -> Result<(), CaptureError> {
        let kept = self
            .keeper
            .keep(store, &self.message, self.known.clone())
            .await?;
        // The call's cost is the run's whatever came of it; written last, it marks the end.
        let usage = late_usage(&self.keeper.model, kept.usage, self.counts_tokens);
        store.add_run_usage(&self.run_id, usage).await?;
        kept.changes.map(drop)
    }
}

/// A memory's text as compared for duplicates.
fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A change a capture's model asks for.
enum Change {
    Add {
        memory: String,
        topics: Option<Vec<String>>,
    },
    Update {
        memory_id: String,
        memory: String,
        topics: Option<Vec<String>>,
    },
    Delete {
        memory_id: String,
    },
}

#[derive(Deserialize)]
struct AddArgs {
    memory: String,
    topics: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct UpdateArgs {
    memory_id: String,
    memory: String,
    topics: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct DeleteArgs {
    memory_id: String,
}

fn parse(call: &ToolCall) -> Option<Change> {
    let arguments = call.arguments.as_str();
    Some(match call.name.as_str() {
        ADD => {
            let args: AddArgs = serde_json::from_str(arguments).ok()?;
            Change::Add {
                memory: args.memory,
                topics: args.topics,
            }
        }
        UPDATE => {
            let args: UpdateArgs = serde_json::from_str(arguments).ok()?;
            Change::Update {
                memory_id: args.memory_id,
                memory: args.memory,
                topics: args.topics,
            }
        }
        DELETE => {
            let args: DeleteArgs = serde_json::from_str(arguments).ok()?;
            Change::Delete {
                memory_id: args.memory_id,
            }
        }
        _ => return None,
    })
}

const ADD: &str = "add_memory";
const UPDATE: &str = "update_memory";
const DELETE: &str = "delete_memory";

/// The tools a capture's model is offered.
fn tools() -> Vec<ToolDefinition> {
    let topics = json!({
        "type": "array",
        "items": {"type": "string"},
        "description": "A few one- or two-word topics, such as food or work."
    });
    let memory = json!({"type": "string", "description": "One short sentence about the user."});
    let memory_id = json!({"type": "string", "description": "The id of a known memory."});
    vec![
        ToolDefinition {
            name: ADD.to_owned(),
            description: "Remember something new about the user.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"memory": memory, "topics": topics},
                "required": ["memory"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: UPDATE.to_owned(),
            description: "Replace a known memory that has changed.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"memory_id": memory_id, "memory": memory, "topics": topics},
                "required": ["memory_id", "memory"],
                "additionalProperties": false
            }),
        },
        ToolDefinition {
            name: DELETE.to_owned(),
            description: "Forget a known memory that is no longer true.".to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"memory_id": memory_id},
                "required": ["memory_id"],
                "additionalProperties": false
            }),
        },
    ]
}

/// A model call made for a run after its end, as the store adds it to the run.
pub(super) fn late_usage(model: &ModelHandle, usage: Usage, counts_tokens: bool) -> LateUsage<'_> {
    LateUsage {
        usage,
        model_id: model.id(),
        provider: model.provider_label(),
        day: counts_tokens.then(quota::today),
    }
}

/// Why work done after a run (a capture, a summary) failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum CaptureError {
    #[error("the store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the model: {0}")]
    Model(#[from] crate::model::ModelError),
    #[error("the model did not answer in time")]
    TimedOut,
}
