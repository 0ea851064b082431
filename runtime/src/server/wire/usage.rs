//! agno's usage metrics JSON (`MetricsResponse` of `DayAggregatedMetrics`, and its refresh
//! answers), from the store's daily figures.

use serde_json::{Value, json};

use crate::store::DayFigures;
use crate::time::rfc3339_of_unix;

/// `GET /metrics` as JSON: one entry per day with runs, oldest first; `owner` is the one user
/// the figures are of, when they are of one.
pub(crate) fn metrics_page(days: &[DayFigures], owner: Option<&str>, now: i64) -> Value {
    json!({
        "metrics": day_metrics(days, owner, now),
        "updated_at": rfc3339_of_unix(now),
    })
}

/// Each day's `DayAggregatedMetrics`. Tokens are the ones agentos counts per run (prompt,
/// completion, both); the model counts are of runs that called each model.
pub(crate) fn day_metrics(days: &[DayFigures], owner: Option<&str>, now: i64) -> Vec<Value> {
    let stamp = rfc3339_of_unix(now);
    days.iter()
        .map(|day| {
            let date = rfc3339_of_unix(day.day.saturating_mul(86_400));
            let id = match owner {
                Some(owner) => format!("{}_{owner}_daily", &date[..10]),
                None => format!("{}_daily", &date[..10]),
            };
            let models: Vec<Value> = day
                .models
                .iter()
                .map(|((model, provider), count)| {
                    json!({"model_id": model, "model_provider": provider, "count": count})
                })
                .collect();
            json!({
                "id": id,
                "agent_runs_count": day.runs.agent,
                "agent_sessions_count": day.sessions.agent,
                "team_runs_count": day.runs.team,
                "team_sessions_count": day.sessions.team,
                "workflow_runs_count": day.runs.workflow,
                "workflow_sessions_count": day.sessions.workflow,
                "users_count": day.users,
                "token_metrics": {
                    "input_tokens": day.input_tokens,
                    "output_tokens": day.output_tokens,
                    "total_tokens": day.total_tokens,
                },
                "model_metrics": models,
                "date": date,
                "created_at": stamp,
                "updated_at": stamp,
            })
        })
        .collect()
}

/// `GET /metrics/refresh/status`: the last refresh, if any (`idle` before the first).
pub(crate) fn refresh_status(last: Option<(i64, i64)>) -> Value {
    match last {
        None => json!({"status": "idle", "started_at": null, "finished_at": null, "error": null}),
        Some((started, finished)) => json!({
            "status": "completed",
            "started_at": rfc3339_of_unix(started),
            "finished_at": rfc3339_of_unix(finished),
            "error": null,
        }),
    }
}
