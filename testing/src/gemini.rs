//! The reply in the shapes of Google's Gemini API: a whole `GenerateContentResponse`, the
//! partial ones of a stream, and its error bodies.

use serde_json::{Value, json};

use super::conversation::Reply;
use super::openai::chunks;

fn usage((input, output): (u64, u64)) -> Value {
    json!({
        "promptTokenCount": input,
        "candidatesTokenCount": output,
        "totalTokenCount": input + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": input}],
    })
}

fn response(model: &str, id: u64, parts: Value, finish: Option<&str>, usage: Value) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": format!("gemini-resp-{id}"),
    })
}

/// The reply's parts: text, or one function call (which, outside the Live API, has no id).
fn parts(reply: &Reply) -> Value {
    match reply {
        Reply::Text(text) => json!([{"text": text}]),
        Reply::Call { name, arguments } => json!([{"functionCall": {
            "name": name,
            "args": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({})),
        }}]),
    }
}

pub(super) fn generate_body(model: &str, id: u64, reply: &Reply, tokens: (u64, u64)) -> Value {
    response(model, id, parts(reply), Some("STOP"), usage(tokens))
}

/// The stream: text in pieces, each a partial response counting only the prompt so far; the
/// last one carries the finish reason and the whole usage. A call comes whole, in one piece.
pub(super) fn generate_chunks(
    model: &str,
    id: u64,
    reply: &Reply,
    tokens: (u64, u64),
) -> Vec<(Option<&'static str>, String)> {
    let pieces = match reply {
        Reply::Text(text) => chunks(text)
            .into_iter()
            .map(|piece| json!([{"text": piece}]))
            .collect(),
        Reply::Call { .. } => vec![parts(reply)],
    };
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(index, parts)| {
            let body = if index == last {
                response(model, id, parts, Some("STOP"), usage(tokens))
            } else {
                let prompt = json!({"promptTokenCount": tokens.0, "totalTokenCount": tokens.0});
                response(model, id, parts, None, prompt)
            };
            (None, body.to_string())
        })
        .collect()
}

/// Google's status name for an HTTP status.
pub(super) fn error_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

pub(super) fn error_body(status: u16, message: &str) -> Value {
    json!({"error": {"code": status, "message": message, "status": error_status(status)}})
}
