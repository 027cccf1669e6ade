//! The integration log: one entry per CRM attempt, in the `integration_log` table and appended to
//! the call's `integration_log_json` (what the call detail shows).

use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};

use crate::db::new_id;

/// One logged integration attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// When, RFC 3339.
    pub at: String,
    /// `crm_push`.
    pub kind: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// `ok` or `error`.
    pub status: String,
    /// The HTTP status, when the server answered.
    pub http_status: Option<u16>,
    /// What happened, for a person (never contains the token).
    pub detail: String,
    /// Template variables of the key mapper that were unknown (rendered empty).
    #[serde(default)]
    pub unknown_variables: Vec<String>,
}

/// Appends `entry` to the table and to the call's `integration_log_json`.
pub async fn append(db: &AnyPool, call_id: &str, entry: &LogEntry) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO integration_log (id, call_id, at_ms, kind, attempt, status, http_status, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id("il_"))
    .bind(call_id)
    .bind(entry.at_ms)
    .bind(&entry.kind)
    .bind(i64::from(entry.attempt))
    .bind(&entry.status)
    .bind(entry.http_status.map(i64::from))
    .bind(&entry.detail)
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query("SELECT integration_log_json FROM calls WHERE session_id = $1")
        .bind(call_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = row {
        let text: Option<String> = row.try_get("integration_log_json")?;
        let mut list: Vec<serde_json::Value> = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        list.push(serde_json::to_value(entry).unwrap_or_default());
        sqlx::query("UPDATE calls SET integration_log_json = $2 WHERE session_id = $1")
            .bind(call_id)
            .bind(serde_json::Value::Array(list).to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// The logged attempts of a call, oldest first (from the table).
pub async fn entries(db: &AnyPool, call_id: &str) -> Result<Vec<LogEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at_ms, kind, attempt, status, http_status, detail FROM integration_log WHERE call_id = $1 \
         ORDER BY at_ms, attempt",
    )
    .bind(call_id)
    .fetch_all(db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let at_ms: i64 = r.try_get("at_ms")?;
        let attempt: i64 = r.try_get("attempt")?;
        let http: Option<i64> = r.try_get("http_status")?;
        out.push(LogEntry {
            at_ms,
            at: jiff::Timestamp::from_millisecond(at_ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            kind: r.try_get("kind")?,
            attempt: u32::try_from(attempt).unwrap_or(0),
            status: r.try_get("status")?,
            http_status: http.and_then(|h| u16::try_from(h).ok()),
            detail: r.try_get("detail")?,
            unknown_variables: Vec::new(),
        });
    }
    Ok(out)
}
