//! Call records in the `calls` table: idempotent ingest from the dataplane, the filtered and paged
//! list, and loading one call for the detail view ([`detail`]).

pub mod detail;
pub mod query;

use cxb_model::{CallRecord, DisconnectedBy};
use sqlx::{AnyPool, Row};

pub use query::{CallFilter, CallPage, CallSummary, list};

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new row (the dataplane gets `201`).
    Created,
    /// A call with this session id is already stored (the dataplane gets `409` = delivered).
    Duplicate,
}

/// `completed` for an answered call that did not end in error, else `failed`.
pub fn status_of(record: &CallRecord) -> &'static str {
    if record.answered_at.is_some() && record.disconnected_by != DisconnectedBy::Error {
        "completed"
    } else {
        "failed"
    }
}

/// The API name of `disconnected_by` (`bot`, `RNR`, …).
pub fn disconnected_by_name(d: DisconnectedBy) -> String {
    match serde_json::to_value(d) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{d:?}"),
    }
}

/// The API name of a direction (`inbound`, `outbound`, `websocket`).
pub fn direction_name(d: cxb_model::CallDirection) -> &'static str {
    match d {
        cxb_model::CallDirection::Inbound => "inbound",
        cxb_model::CallDirection::Outbound => "outbound",
        cxb_model::CallDirection::Websocket => "websocket",
    }
}

/// Whether a record is a test call: `is_test` truthy in the call variables or CRM data.
pub fn is_test(record: &CallRecord) -> bool {
    [record.variables.get("is_test"), record.crm.get("is_test")]
        .into_iter()
        .flatten()
        .any(|v| match v {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
            serde_json::Value::String(s) => matches!(s.as_str(), "true" | "1" | "yes"),
            _ => false,
        })
}

/// Stores `record` unless a call with its session id exists (then nothing changes).
pub async fn ingest(db: &AnyPool, record: &CallRecord, now_ms: i64) -> Result<IngestOutcome, sqlx::Error> {
    let json = serde_json::to_string(record).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let done = sqlx::query(
        "INSERT INTO calls (session_id, bot_id, direction, status, disconnected_by, from_number, to_number, \
         started_at, started_at_ms, duration_seconds, is_test, record_json, analysis_json, qc_json, \
         integration_log_json, postcall_usage_json, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, '[]', NULL, $13) \
         ON CONFLICT (session_id) DO NOTHING",
    )
    .bind(&record.session_id)
    .bind(&record.bot_id)
    .bind(direction_name(record.direction))
    .bind(status_of(record))
    .bind(disconnected_by_name(record.disconnected_by))
    .bind(record.from_number.clone())
    .bind(record.to_number.clone())
    .bind(record.started_at.to_string())
    .bind(record.started_at.as_millisecond())
    .bind(i64::try_from(record.call_duration_seconds).unwrap_or(i64::MAX))
    .bind(i64::from(is_test(record)))
    .bind(json)
    .bind(now_ms)
    .execute(db)
    .await?;
    Ok(if done.rows_affected() == 0 {
        IngestOutcome::Duplicate
    } else {
        IngestOutcome::Created
    })
}

/// One stored call with what post-call processing added.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    /// The record as the dataplane sent it.
    pub record: CallRecord,
    /// `completed` or `failed`.
    pub status: String,
    /// Test call flag.
    pub is_test: bool,
    /// Post-call analysis (`analysis.*`), when it ran.
    pub analysis: Option<serde_json::Value>,
    /// Quality check (`qc.*`), when it ran.
    pub qc: Option<serde_json::Value>,
    /// Integration log kept on the row (`[]` until the CRM push runs).
    pub integration_log: serde_json::Value,
    /// Post-call LLM token usage (`{cached_read, cache_created, fresh, completion}`).
    pub postcall_usage: Option<serde_json::Value>,
    /// When control stored it, Unix ms.
    pub created_at_ms: i64,
}

fn parse_opt(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Loads call `session_id` (`None` when absent).
pub async fn get(db: &AnyPool, session_id: &str) -> Result<Option<StoredCall>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT record_json, status, is_test, analysis_json, qc_json, integration_log_json, postcall_usage_json, \
         created_at_ms FROM calls WHERE session_id = $1",
    )
    .bind(session_id)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let record: CallRecord = serde_json::from_str(&row.try_get::<String, _>("record_json")?)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Some(StoredCall {
        record,
        status: row.try_get("status")?,
        is_test: row.try_get::<i64, _>("is_test")? != 0,
        analysis: parse_opt(row.try_get("analysis_json")?),
        qc: parse_opt(row.try_get("qc_json")?),
        integration_log: parse_opt(row.try_get("integration_log_json")?).unwrap_or_else(|| serde_json::json!([])),
        postcall_usage: parse_opt(row.try_get("postcall_usage_json")?),
        created_at_ms: row.try_get("created_at_ms")?,
    }))
}

/// The call's entries in the `integration_log` table (oldest first); `None` when the table does
/// not exist (post-call migration absent) so the caller falls back to the row's copy.
pub async fn integration_log(db: &AnyPool, session_id: &str) -> Option<Vec<serde_json::Value>> {
    let rows = sqlx::query(
        "SELECT id, at_ms, kind, attempt, status, http_status, detail FROM integration_log \
         WHERE call_id = $1 ORDER BY at_ms, attempt, id",
    )
    .bind(session_id)
    .fetch_all(db)
    .await
    .ok()?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let at_ms: i64 = r.try_get("at_ms").ok()?;
        out.push(serde_json::json!({
            "id": r.try_get::<String, _>("id").ok()?,
            "at": jiff::Timestamp::from_millisecond(at_ms).map(|t| t.to_string()).unwrap_or_default(),
            "at_ms": at_ms,
            "kind": r.try_get::<String, _>("kind").ok()?,
            "attempt": r.try_get::<i64, _>("attempt").ok()?,
            "status": r.try_get::<String, _>("status").ok()?,
            "http_status": r.try_get::<Option<i64>, _>("http_status").ok()?,
            "detail": r.try_get::<String, _>("detail").ok()?,
        }));
    }
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests;
