//! Fields several of agno's shapes share: times, id keys, a model's description.

use serde_json::{Value, json};

use crate::component::ComponentKind;
use crate::model::ModelHandle;

/// The RFC 3339 time of unix microseconds, to the second, as agno's stored rows give it.
pub(super) fn timestamp_seconds(micros: i64) -> String {
    let seconds = micros.max(0) as u64 / 1_000_000;
    let full = crate::time::rfc3339(std::time::Duration::from_secs(seconds));
    // `...:SS.000000Z` -> `...:SSZ`
    match full.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => full,
    }
}

/// The `meta` of one of agno's paginated listings.
pub(super) fn page_meta(page: u64, limit: u64, total: u64, search_time_ms: f64) -> Value {
    json!({
        "page": page,
        "limit": limit,
        "total_count": total,
        "total_pages": total.div_ceil(limit.max(1)),
        "search_time_ms": search_time_ms,
    })
}

/// agno's key for a component id: `team_id`, `agent_id` or `workflow_id`.
pub(super) fn id_key(kind: ComponentKind) -> &'static str {
    kind.id_and_name_keys().0
}

/// agno's model class name from agentos's provider label: `OpenAI Responses` ->
/// `OpenAIResponses`.
pub(super) fn model_class(label: &str) -> String {
    label.split_whitespace().collect()
}

/// A model as discovery describes it.
pub(super) fn model(model: Option<&ModelHandle>) -> Option<Value> {
    model.map(|m| {
        json!({
            "name": model_class(m.provider_label()),
            "model": m.id(),
            "provider": m.provider(),
        })
    })
}

/// Instructions as the component's author wrote them: one string, or a list.
pub(super) fn instructions(list: &[String]) -> Option<Value> {
    match list {
        [] => None,
        [one] => Some(json!(one)),
        many => Some(json!(many)),
    }
}
