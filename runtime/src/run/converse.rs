//! The turn loop shared by agents and team leaders: model turns and tool calls until the model
//! answers, fails, the run is cancelled, or a call waits for a person (the run pauses, and
//! continues later from that very turn).

use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::Value;
use tracing::Instrument;

use super::dispatch::{Dispatched, Dispatcher};
use super::env::RunEnv;
use super::event::{EventName, EventSource, EventUsage, RunEvent};
use super::output::{CallOutcome, RunOutput, Suspended};
use super::pause::{Decision, Decisions};
use super::transcript::{
    MessageMetrics, RunMessage, RunMetrics, ToolExecution, ToolMetrics, UserInputField,
};
use crate::component::ComponentKind;
use crate::model::{
    Message, ModelError, ModelHandle, ModelRequest, ModelResponse, ModelStreamItem, Role, ToolCall,
    ToolDefinition,
};
use crate::time::{now_unix, now_unix_f64};
use crate::tool::PauseFor;

/// Model turns a single run may take before it is stopped: a model that keeps calling tools
/// must not loop forever.
const MAX_MODEL_TURNS: usize = 12;

/// How a conversation ended.
#[derive(Debug)]
pub(super) enum Ending {
    Completed,
    Failed {
        message: String,
        error_type: &'static str,
    },
    Cancelled,
    /// A call waits for a person; everything needed to go on is in the suspended turn.
    Paused(Box<Suspended>),
}

/// Everything a conversation produced, whatever its ending.
#[derive(Debug)]
pub(super) struct Conversation {
    pub(super) content: String,
    pub(super) tools: Vec<ToolExecution>,
    pub(super) members: Vec<RunOutput>,
    pub(super) metrics: RunMetrics,
    pub(super) response_id: Option<String>,
    /// What the run reports as its `messages`: no system prompt, no history.
    pub(super) transcript: Vec<RunMessage>,
    pub(super) ending: Ending,
}

impl Conversation {
    fn new() -> Self {
        Conversation {
            content: String::new(),
            tools: Vec::new(),
            members: Vec::new(),
            metrics: RunMetrics::default(),
            response_id: None,
            transcript: Vec::new(),
            ending: Ending::Completed,
        }
    }

    pub(super) fn failed(message: String, error_type: &'static str) -> Self {
        Conversation {
            ending: Ending::Failed {
                message,
                error_type,
            },
            ..Conversation::new()
        }
    }

    fn fail_with(mut self, error: &ModelError) -> Self {
        self.ending = Ending::Failed {
            message: error.to_string(),
            error_type: error.error_type(),
        };
        self
    }

    fn cancelled(mut self) -> Self {
        self.ending = Ending::Cancelled;
        self
    }
}

/// A suspended turn and the answers to go on with.
pub(super) struct Resume<'a> {
    pub(super) suspended: Suspended,
    pub(super) decisions: &'a Decisions,
}

/// Model turns and tool calls until the model answers, fails, the run is cancelled, or a call
/// waits for a person. With `resume`, the turn that waited is settled first.
pub(super) async fn converse(
    source: &EventSource,
    model: &ModelHandle,
    messages: Vec<Message>,
    tools: Arc<[ToolDefinition]>,
    dispatcher: &dyn Dispatcher,
    env: &RunEnv,
    resume: Option<Resume<'_>>,
) -> Conversation {
    let mut conversation = Conversation::new();
    // The conversation is shared with each model request instead of copied into it; a model
    // drops its request when it answers, so the next push does not copy either.
    let mut messages = Arc::new(messages);
    let mut turns = 0;
    match resume {
        Some(resume) => {
            let Suspended {
                messages: saved,
                calls,
                outcomes,
                tools: executions,
                members,
                metrics,
                transcript,
                turns: taken,
            } = resume.suspended;
            Arc::make_mut(&mut messages).extend(saved);
            conversation.tools = executions;
            conversation.members = members;
            conversation.metrics = metrics;
            conversation.transcript = transcript;
            turns = taken;
            let settling = calls
                .iter()
                .zip(outcomes)
                .map(|(call, outcome)| async move {
                    match outcome {
                        done @ CallOutcome::Done { .. } => (Dispatched::still(done), None),
                        waiting => {
                            let start = (now_unix_f64(), Instant::now());
                            let dispatched = dispatcher
                                .resolve(call, waiting, resume.decisions, env)
                                .await;
                            (dispatched, Some(start))
                        }
                    }
                });
            let results = tokio::select! {
                biased;
                _ = env.cancel.cancelled() => return conversation.cancelled(),
                results = join_all(settling) => results,
            };
            match settle(
                source,
                env,
                &mut conversation,
                &mut messages,
                &calls,
                results,
                turns,
            ) {
                Settled::GoOn => {}
                Settled::Paused(suspended) => {
                    conversation.ending = Ending::Paused(suspended);
                    return conversation;
                }
                Settled::Answered(answer) => {
                    env.emit(|| content_event(source, answer.clone()));
                    conversation.content = answer;
                    return conversation;
                }
            }
        }
        None => {
            if let Some(message) = messages.last() {
                conversation
                    .transcript
                    .push(RunMessage::user(message.content.clone()));
            }
        }
    }
    let counted = env
        .metrics()
        .map(|metrics| metrics.model(model.id(), model.provider()));
    while turns < MAX_MODEL_TURNS {
        turns += 1;
        if env.cancel.is_cancelled() {
            return conversation.cancelled();
        }
        env.emit(|| {
            source.model_event(
                EventName::TeamModelRequestStarted,
                EventName::ModelRequestStarted,
            )
        });
        let request = ModelRequest {
            messages: Arc::clone(&messages),
            tools: Arc::clone(&tools),
        };
        let turn_started = Instant::now();
        let turn = tokio::select! {
            biased;
            _ = env.cancel.cancelled() => return conversation.cancelled(),
            turn = model_turn(model, request, source, env).instrument(tracing::info_span!(
                "model_call",
                model = model.id(),
                provider = model.provider_label(),
                run_id = source.meta.run_id(),
                session_id = source.meta.session_id(),
            )) => turn,
        };
        let (response, time_to_first_token) = match turn {
            Ok(turn) => turn,
            Err(error) => {
                if let Some(counted) = &counted {
                    counted.failed(&error);
                }
                return conversation.fail_with(&error);
            }
        };
        if let Some(counted) = &counted {
            counted.answered(response.usage);
        }
        if conversation.metrics.time_to_first_token.is_none() {
            conversation.metrics.time_to_first_token = time_to_first_token;
        }
        conversation
            .metrics
            .add_usage(response.usage, model.id(), model.provider_label());
        if response.response_id.is_some() {
            conversation.response_id.clone_from(&response.response_id);
        }
        let mut said = RunMessage::assistant(&response.content, &response.tool_calls);
        said.provider_data = response
            .response_id
            .as_ref()
            .map(|id| serde_json::json!({ "response_id": id }));
        said.metrics = Some(MessageMetrics {
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            total_tokens: response.usage.total_tokens,
            time_to_first_token,
            duration: Some(turn_started.elapsed().as_secs_f64()),
        });
        conversation.transcript.push(said);
        env.emit(|| {
            let mut event = source.model_event(
                EventName::TeamModelRequestCompleted,
                EventName::ModelRequestCompleted,
            );
            event.usage = Some(EventUsage::new(response.usage, time_to_first_token));
            event
        });

        if response.tool_calls.is_empty() {
            conversation.content = response.content;
            return conversation;
        }

        let calls = response.tool_calls;
        Arc::make_mut(&mut messages).push(Message::assistant_tool_calls(
            response.content,
            calls.clone(),
        ));
        for call in &calls {
            let execution = started_execution(call);
            // A call that waits for a person starts when the person has answered.
            if !dispatcher.waits(call) {
                emit_started(source, env, &execution);
            }
            conversation.tools.push(execution);
        }
        let timed_calls = calls.iter().map(|call| async move {
            let start = (now_unix_f64(), Instant::now());
            let dispatched = dispatcher.dispatch(call, env).await;
            (dispatched, Some(start))
        });
        let results = tokio::select! {
            biased;
            _ = env.cancel.cancelled() => return conversation.cancelled(),
            results = join_all(timed_calls) => results,
        };
        match settle(
            source,
            env,
            &mut conversation,
            &mut messages,
            &calls,
            results,
            turns,
        ) {
            Settled::GoOn => {}
            Settled::Paused(suspended) => {
                conversation.ending = Ending::Paused(suspended);
                return conversation;
            }
            Settled::Answered(answer) => {
                env.emit(|| content_event(source, answer.clone()));
                conversation.content = answer;
                return conversation;
            }
        }
    }
    conversation.ending = Ending::Failed {
        message: format!("the model called tools for {MAX_MODEL_TURNS} turns without answering"),
        error_type: "tool_call_limit",
    };
    conversation
}

/// Where a turn's calls leave the conversation.
enum Settled {
    /// Every call has its result; the model answers next.
    GoOn,
    /// A call's result is the run's answer (a routed member's reply).
    Answered(String),
    /// A call waits for a person.
    Paused(Box<Suspended>),
}

/// Records what the turn's calls came to on their executions, with an event for each call
/// that finished; then either hands every result to the model or suspends the turn.
fn settle(
    source: &EventSource,
    env: &RunEnv,
    conversation: &mut Conversation,
    messages: &mut Arc<Vec<Message>>,
    calls: &[ToolCall],
    results: Vec<(Dispatched, Option<(f64, Instant)>)>,
    turns: usize,
) -> Settled {
    let mut outcomes = Vec::with_capacity(calls.len());
    for (call, (dispatched, started)) in calls.iter().zip(results) {
        let Some(execution) = conversation
            .tools
            .iter_mut()
            .rev()
            .find(|execution| execution.tool_call_id == call.id)
        else {
            outcomes.push(dispatched.outcome);
            continue;
        };
        if let Some(decision) = &dispatched.decided {
            record_decision(execution, decision);
            // The call that waited starts now, as agno reports it.
            emit_started(source, env, execution);
        }
        if let Some(arguments) = dispatched.arguments {
            execution.tool_args = arguments;
        }
        match &dispatched.outcome {
            CallOutcome::Done { result, .. } => {
                let Some((start_time, clock)) = started else {
                    outcomes.push(dispatched.outcome);
                    continue;
                };
                let duration = clock.elapsed().as_secs_f64();
                let (text, failed) = match result {
                    Ok(text) => (text, false),
                    Err(text) => (text, true),
                };
                // A call the person declined did not run: agno marks it as failed.
                let declined = matches!(
                    dispatched.decided,
                    Some(Decision::Confirm {
                        confirmed: false,
                        ..
                    })
                );
                execution.tool_call_error = Some(failed || declined);
                execution.result = Some(text.clone());
                execution.metrics = Some(ToolMetrics {
                    start_time,
                    end_time: start_time + duration,
                    duration,
                });
                if let Some(child) = dispatched.children.first() {
                    execution.child_run_id = Some(child.run_id.clone());
                }
                env.emit(|| {
                    let mut event = source.event(
                        EventName::TeamToolCallCompleted,
                        EventName::ToolCallCompleted,
                    );
                    event.content =
                        Some(format!("{}(...) completed in {duration:.4}s.", call.name));
                    event.tool = Some(execution.clone());
                    event
                });
                conversation.members.extend(dispatched.children);
            }
            CallOutcome::Waiting { pause } => {
                mark_waiting(execution, pause, dispatched.user_input);
            }
            CallOutcome::Member { run, .. } => {
                execution.child_run_id = Some(run.run_id.clone());
            }
        }
        outcomes.push(dispatched.outcome);
    }

    if outcomes
        .iter()
        .any(|outcome| !matches!(outcome, CallOutcome::Done { .. }))
    {
        // The conversation after the system prompt, which is built again on continue.
        let saved: Vec<Message> = messages
            .iter()
            .skip_while(|message| message.role == Role::System)
            .cloned()
            .collect();
        return Settled::Paused(Box::new(Suspended {
            messages: saved,
            calls: calls.to_vec(),
            outcomes,
            tools: conversation.tools.clone(),
            members: conversation.members.clone(),
            metrics: conversation.metrics.clone(),
            transcript: conversation.transcript.clone(),
            turns,
        }));
    }

    let mut answer = None;
    for (call, outcome) in calls.iter().zip(outcomes) {
        let CallOutcome::Done {
            result,
            is_final_answer,
        } = outcome
        else {
            continue;
        };
        let failed = result.is_err();
        let text = result.unwrap_or_else(|error| error);
        Arc::make_mut(messages).push(Message::tool_result(&call.id, text.clone()));
        conversation
            .transcript
            .push(RunMessage::tool_result(&call.id, text.clone()));
        if is_final_answer && !failed && answer.is_none() {
            answer = Some(text);
        }
    }
    match answer {
        Some(answer) => Settled::Answered(answer),
        None => Settled::GoOn,
    }
}

/// An execution that waits: agno's flags say for what.
fn mark_waiting(
    execution: &mut ToolExecution,
    pause: &PauseFor,
    fields: Option<Vec<UserInputField>>,
) {
    match pause {
        PauseFor::Confirmation => execution.requires_confirmation = Some(true),
        PauseFor::UserInput { .. } => {
            execution.requires_user_input = Some(true);
            execution.answered = Some(false);
            if fields.is_some() {
                execution.user_input_schema = fields;
            }
        }
        PauseFor::ExternalExecution => execution.external_execution_required = Some(true),
    }
}

/// What the person answered, kept on the execution as agno reports it.
/// The call no longer waits: its flag is cleared, as agno does.
fn record_decision(execution: &mut ToolExecution, decision: &Decision) {
    match decision {
        Decision::Confirm { confirmed, note } => {
            execution.requires_confirmation = Some(false);
            execution.confirmed = Some(*confirmed);
            execution.confirmation_note = match (confirmed, note) {
                (false, None) => Some("The person declined this call.".to_owned()),
                (_, note) => note.clone(),
            };
        }
        Decision::UserInput(values) => {
            execution.requires_user_input = Some(false);
            execution.answered = Some(true);
            for field in execution.user_input_schema.iter_mut().flatten() {
                if let Some(value) = values.get(&field.name) {
                    field.value = Some(value.clone());
                }
            }
        }
        Decision::External(_) => execution.external_execution_required = Some(false),
    }
}

fn emit_started(source: &EventSource, env: &RunEnv, execution: &ToolExecution) {
    env.emit(|| {
        let mut event = source.event(EventName::TeamToolCallStarted, EventName::ToolCallStarted);
        event.tool = Some(execution.clone());
        event
    });
}

pub(super) fn content_event(source: &EventSource, content: String) -> RunEvent {
    let mut event = source.event(EventName::TeamRunContent, EventName::RunContent);
    event.content = Some(content);
    event.content_type = Some("str");
    event.reasoning_content = Some("");
    if source.component.kind == ComponentKind::Agent {
        event.workflow_agent = Some(false);
    }
    event
}

/// One model call, streamed when the run streams. Returns the answer and the seconds until
/// its first piece (the whole answer, when not streamed).
async fn model_turn(
    model: &ModelHandle,
    request: ModelRequest,
    source: &EventSource,
    env: &RunEnv,
) -> Result<(ModelResponse, Option<f64>), ModelError> {
    let started = Instant::now();
    if !env.stream {
        // Answered whole, the first token arrives with the whole answer.
        return model
            .complete(request)
            .await
            .map(|response| (response, Some(started.elapsed().as_secs_f64())));
    }
    let mut first_piece = None;
    let mut stream = model.stream(request).await?;
    while let Some(item) = stream.next().await {
        match item? {
            ModelStreamItem::Content(piece) => {
                first_piece.get_or_insert_with(|| started.elapsed().as_secs_f64());
                env.emit(|| content_event(source, piece));
            }
            // An agent's streamed answer opens with an empty piece naming the provider's
            // response, as agno's member streams do; a leader's does not.
            ModelStreamItem::ResponseId(id) if source.component.kind == ComponentKind::Agent => {
                env.emit(|| {
                    let mut event = content_event(source, String::new());
                    event.model_provider_data = Some(serde_json::json!({ "response_id": id }));
                    event
                });
            }
            ModelStreamItem::ResponseId(_) => {}
            ModelStreamItem::Done(response) => return Ok((response, first_piece)),
        }
    }
    Err(ModelError::InvalidResponse(
        "the stream ended before the answer was complete".into(),
    ))
}

fn started_execution(call: &ToolCall) -> ToolExecution {
    ToolExecution {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        tool_args: serde_json::from_str(&call.arguments)
            .unwrap_or_else(|_| Value::String(call.arguments.clone())),
        created_at: now_unix(),
        ..ToolExecution::default()
    }
}
