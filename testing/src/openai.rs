//! The reply in each API's shapes: Responses bodies and events, Chat Completions bodies and
//! chunks.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::conversation::Reply;

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// The reply in a few pieces, as a streaming model would send it.
pub(super) fn chunks(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    let size = words.len().div_ceil(4).max(1);
    words.chunks(size).map(|piece| piece.concat()).collect()
}

pub(super) fn responses_output(id: u64, reply: &Reply) -> Value {
    match reply {
        Reply::Text(text) => json!({
            "type": "message",
            "id": format!("msg_{id}"),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }),
        Reply::Call { name, arguments } => json!({
            "type": "function_call",
            "id": format!("fc_{id}"),
            "call_id": format!("call_{id}"),
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }),
    }
}

pub(super) fn responses_body(
    model: &str,
    id: u64,
    reply: &Reply,
    (input, output): (u64, u64),
) -> Value {
    json!({
        "id": format!("resp_{id}"),
        "object": "response",
        "created_at": now(),
        "status": "completed",
        "model": model,
        "output": [responses_output(id, reply)],
        "parallel_tool_calls": true,
        "usage": {
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output,
        },
    })
}

pub(super) fn responses_events(
    model: &str,
    id: u64,
    reply: &Reply,
    usage: (u64, u64),
) -> Vec<(Option<&'static str>, String)> {
    let done = responses_body(model, id, reply, usage);
    let mut created = done.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    let mut sequence = 0;
    let mut next = || {
        sequence += 1;
        sequence
    };
    let mut events = vec![(
        Some("response.created"),
        json!({"type": "response.created", "sequence_number": next(), "response": created})
            .to_string(),
    )];
    if let Reply::Text(text) = reply {
        for delta in chunks(text) {
            events.push((
                Some("response.output_text.delta"),
                json!({
                    "type": "response.output_text.delta",
                    "sequence_number": next(),
                    "item_id": format!("msg_{id}"),
                    "output_index": 0,
                    "content_index": 0,
                    "delta": delta,
                })
                .to_string(),
            ));
        }
    }
    events.push((
        Some("response.output_item.done"),
        json!({
            "type": "response.output_item.done",
            "sequence_number": next(),
            "output_index": 0,
            "item": responses_output(id, reply),
        })
        .to_string(),
    ));
    events.push((
        Some("response.completed"),
        json!({"type": "response.completed", "sequence_number": next(), "response": done})
            .to_string(),
    ));
    events
}

pub(super) fn chat_usage((input, output): (u64, u64)) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

pub(super) fn chat_body(model: &str, id: u64, reply: &Reply, usage: (u64, u64)) -> Value {
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Reply::Call { name, arguments } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{id}"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }],
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": format!("chatcmpl-{id}"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": chat_usage(usage),
    })
}

pub(super) fn chat_chunks(
    model: &str,
    id: u64,
    reply: &Reply,
    usage: Option<(u64, u64)>,
) -> Vec<(Option<&'static str>, String)> {
    let created = now();
    let chunk = |choices: Value, usage: Value| {
        (
            None,
            json!({
                "id": format!("chatcmpl-{id}"),
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
            })
            .to_string(),
        )
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
    let mut events = vec![chunk(
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        Value::Null,
    )];
    let finish = match reply {
        Reply::Text(text) => {
            for piece in chunks(text) {
                events.push(chunk(
                    delta(json!({"content": piece}), Value::Null),
                    Value::Null,
                ));
            }
            "stop"
        }
        Reply::Call { name, arguments } => {
            events.push(chunk(
                delta(
                    json!({"tool_calls": [{
                        "index": 0,
                        "id": format!("call_{id}"),
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    Value::Null,
                ),
                Value::Null,
            ));
            // Arguments in two pieces, as real servers split them.
            let middle = arguments.len() / 2;
            let split = (0..=middle)
                .rev()
                .find(|index| arguments.is_char_boundary(*index))
                .unwrap_or(0);
            for piece in [&arguments[..split], &arguments[split..]] {
                events.push(chunk(
                    delta(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        Value::Null,
                    ),
                    Value::Null,
                ));
            }
            "tool_calls"
        }
    };
    events.push(chunk(delta(json!({}), json!(finish)), Value::Null));
    if let Some(usage) = usage {
        events.push(chunk(json!([]), chat_usage(usage)));
    }
    events.push((None, "[DONE]".to_string()));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_rebuild_the_text() {
        let text = "[fake-openai model=m] reply to: hello there";
        assert!(chunks(text).len() > 1);
        assert_eq!(chunks(text).concat(), text);
    }
}
