//! The reply in the shapes of Anthropic's Messages API: a whole message, its stream of
//! events, and its error bodies.

use serde_json::{Value, json};

use super::conversation::Reply;
use super::openai::chunks;

/// The answer's content blocks and why it stopped.
fn content(id: u64, reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::Text(text) => (json!([{"type": "text", "text": text}]), "end_turn"),
        Reply::Call { name, arguments } => (
            json!([{
                "type": "tool_use",
                "id": format!("toolu_{id:08}"),
                "name": name,
                "input": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({})),
            }]),
            "tool_use",
        ),
    }
}

fn usage((input, output): (u64, u64)) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

pub(super) fn message_body(model: &str, id: u64, reply: &Reply, tokens: (u64, u64)) -> Value {
    let (content, stop_reason) = content(id, reply);
    json!({
        "id": format!("msg_{id:08}"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage(tokens),
    })
}

/// The stream: `message_start`, one content block (started, its deltas, stopped), then
/// `message_delta` with the stop reason and the output count, and `message_stop`.
pub(super) fn message_events(
    model: &str,
    id: u64,
    reply: &Reply,
    (input, output): (u64, u64),
) -> Vec<(Option<&'static str>, String)> {
    let event = |name: &'static str, data: Value| (Some(name), data.to_string());
    let (_, stop_reason) = content(id, reply);
    let mut started = message_body(model, id, reply, (input, 1));
    started["content"] = json!([]);
    started["stop_reason"] = Value::Null;
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": started}),
    )];
    let (block, deltas): (Value, Vec<Value>) = match reply {
        Reply::Text(text) => (
            json!({"type": "text", "text": ""}),
            chunks(text)
                .into_iter()
                .map(|piece| json!({"type": "text_delta", "text": piece}))
                .collect(),
        ),
        Reply::Call { name, arguments } => {
            // The input in two pieces of JSON text, as the API splits it.
            let middle = arguments.len() / 2;
            let split = (0..=middle)
                .rev()
                .find(|index| arguments.is_char_boundary(*index))
                .unwrap_or(0);
            (
                json!({"type": "tool_use", "id": format!("toolu_{id:08}"), "name": name, "input": {}}),
                [&arguments[..split], &arguments[split..]]
                    .into_iter()
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                    .collect(),
            )
        }
    };
    events.push(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": block}),
    ));
    events.push(event("ping", json!({"type": "ping"})));
    for delta in deltas {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output},
        }),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

/// Anthropic's error type for an HTTP status.
pub(super) fn error_kind(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

pub(super) fn error_body(status: u16, message: &str) -> Value {
    json!({
        "type": "error",
        "error": {"type": error_kind(status), "message": message},
    })
}
