//! Routes for the operator: `GET /admin/store`, what the store holds. With auth on they
//! answer only a token with the admin scope.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::OsState;
use crate::store::{StoreStats, SweepReport};

/// `GET /admin/store`: counts of sessions, runs by status, event rows, idempotency keys; the
/// oldest and newest run; on SQLite the file, its log and its free pages; the retention in
/// force and what its last sweep did.
pub(crate) async fn store(State(state): State<Arc<OsState>>) -> Result<Json<Value>, ApiError> {
    let stats = state.runs.store().stats().await?;
    Ok(Json(store_json(&stats)))
}

fn store_json(stats: &StoreStats) -> Value {
    let time = |micros: Option<i64>| {
        micros.map(|m| {
            crate::time::rfc3339(std::time::Duration::from_micros(
                u64::try_from(m).unwrap_or(0),
            ))
        })
    };
    let by_status: serde_json::Map<String, Value> = stats
        .runs_by_status
        .iter()
        .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
        .collect();
    let total: u64 = stats.runs_by_status.iter().map(|(_, count)| count).sum();
    json!({
        "backend": stats.backend,
        "sessions": stats.sessions,
        "runs": {"total": total, "by_status": by_status},
        "event_rows": stats.event_rows,
        "idempotency_keys": stats.idempotency_keys,
        "token_usage_rows": stats.token_usage_rows,
        "oldest_run_at": time(stats.oldest_run_at),
        "newest_run_at": time(stats.newest_run_at),
        "sqlite": stats.sqlite.as_ref().map(|file| json!({
            "path": file.path,
            "file_bytes": file.file_bytes,
            "wal_bytes": file.wal_bytes,
            "page_size": file.page_size,
            "page_count": file.page_count,
            "freelist_pages": file.freelist_pages,
            "auto_vacuum": file.auto_vacuum,
            "wal_truncations": file.wal_truncations,
            "longest_wal_truncation_ms": file.longest_wal_truncation.as_secs_f64() * 1000.0,
        })),
        "retention": match &stats.retention {
            Some(retention) => json!({
                "enabled": true,
                "age_seconds": retention.age().as_secs_f64(),
                "sweep_every_seconds": retention.interval().as_secs_f64(),
                "last_sweep": stats.last_sweep.as_ref().map(|sweep| sweep_json(sweep, time)),
            }),
            None => json!({"enabled": false}),
        },
    })
}

fn sweep_json(sweep: &SweepReport, time: impl Fn(Option<i64>) -> Option<String>) -> Value {
    json!({
        "finished_at": time(Some(sweep.finished_at)),
        "took_ms": sweep.took.as_millis() as u64,
        "sessions": sweep.sessions,
        "runs": sweep.runs,
        "event_rows": sweep.event_rows,
        "idempotency_keys": sweep.idempotency_keys,
        "token_usage_rows": sweep.token_usage_rows,
        "pages_freed": sweep.pages_freed,
        "error": sweep.error,
    })
}
